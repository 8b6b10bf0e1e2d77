"""Group a CSV of cases (the reference's columns) into an output CSV, one row per input row: a row
that cannot be read, lacks a sex or has a code outside the scheme's tables gets a status and its
reason, and the file goes on."""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.drg import case as case_mod
from pipeline.drg.engine import Grouper

OUTPUT_COLUMNS = ("Index", "status", "mdc", "adrg", "drg", "drg_name", "trace")
BAD_ROW = "输入行格式错误"


class InputError(Exception):
    """The file cannot be read as cases at all (missing, not UTF-8, required columns absent)."""


@dataclass
class Summary:
    rows: int = 0
    by_status: Counter = field(default_factory=Counter)


def group_file(src: Path, out: Path, grouper: Grouper, progress=None) -> Summary:
    """Read ``src``, write ``out``; ``progress(n)`` after every 1,000 rows."""
    try:
        # undecodable bytes become U+FFFD: such a row then fails the code check instead of the file
        fh = open(src, encoding="utf-8-sig", errors="replace", newline="")
    except OSError as exc:
        raise InputError(f"{src}: 无法读取 ({exc.strerror or exc})") from None
    summary = Summary()
    with fh, open(out, "w", encoding="utf-8", newline="") as oh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise InputError(f"{src}: 表头无法读取 ({exc})") from None
        if not header:
            raise InputError(f"{src}: 空文件")
        header = [h.strip() for h in header]
        missing = [c for c in case_mod.COLUMNS if c not in header]
        if missing:
            raise InputError(f"{src}: 缺少列 {', '.join(missing)} (需要 {','.join(case_mod.COLUMNS)})")
        writer = csv.writer(oh, lineterminator="\n")
        writer.writerow(OUTPUT_COLUMNS)
        line = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line = reader.line_num
                _bad(writer, summary, "", f"{src.name}:{line}: 无法解析 ({exc})")
                continue
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                index = cells[header.index("Index")] if header.index("Index") < len(cells) else ""
                _bad(writer, summary, index, f"{src.name}:{line}: {len(cells)} 列, 表头 {len(header)} 列")
                continue
            res = grouper.group(case_mod.from_row(dict(zip(header, cells))))
            writer.writerow([res.index, res.status, res.mdc, res.adrg, res.drg, res.drg_name, res.trace_text()])
            summary.rows += 1
            summary.by_status[res.status] += 1
            if progress and summary.rows % 1000 == 0:
                progress(summary.rows)
    return summary


def _bad(writer, summary: Summary, index: str, reason: str) -> None:
    writer.writerow([index, BAD_ROW, "0000", "00", "0000", "", reason])
    summary.rows += 1
    summary.by_status[BAD_ROW] += 1
