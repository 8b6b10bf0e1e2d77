"""`medreview profile check | show`: what segmentation reads of each hospital's records, and the
hospital's own spellings (pipeline/segment/profiles.py)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.table import Table

from pipeline import ingest as ingest_mod
from pipeline.commands import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, console, error, open_db, open_existing
from pipeline.run import RunError, RunOptions, StageUnavailable, run_batch
from pipeline.segment import config, coverage, profiles
from pipeline.segment.config import SegmentDataError

KIND_LABELS = {"document": "文书", "section": "章节", "field": "字段"}


def _segmented_db(target: Path, profiles_dir: Path | None, workers: int):
    """A database to read coverage from: ``target`` itself, or a batch folder ingested, read and
    segmented into a temporary one."""
    if not target.is_dir():
        return open_existing(target)
    tmp = Path(tempfile.mkdtemp(prefix="medreview-profile-")) / "profile.db"
    db = open_db(tmp)
    if db is None:
        return None
    console.print(f"读取并切分批次 reading and segmenting {target} → {tmp}")
    ingest_mod.ingest(db, target)
    opts = {"segment": {"profiles": str(profiles_dir)}} if profiles_dir else {}
    run_batch(db, ["read", "segment"], RunOptions(workers=workers, stage_options=opts))
    return db


def _table(cov: coverage.HospitalCoverage, min_share: float, examples: int) -> tuple[Table, int]:
    n = cov.records
    t = Table(title=f"{cov.hospital_id} {cov.name or ''}: {n} 份病历 records")
    for col, just in (("类别", "left"), ("项目 item", "left"), ("读到 read", "right"), ("推出 derived", "right"),
                      ("占比 share", "right"), ("未读到 not found (record: pages)", "left")):
        t.add_column(col, justify=just)
    low = 0
    for it in cov.items:
        share = it.share(n)
        bad = it.expected and share < min_share
        low += bad
        where = "; ".join(f"{who}: {pages}" for who, pages in it.missing[:examples])
        if len(it.missing) > examples:
            where += f" … 共{len(it.missing)}份"
        style = "red" if bad else ""
        t.add_row(KIND_LABELS[it.kind], it.label, str(it.found), str(it.derived) if it.kind == "field" else "",
                  f"[{style}]{share:.0%}[/{style}]" if style else f"{share:.0%}", where)
    return t, low


def check(target: Path, *, profiles_dir: Path | None = None, hospital: str | None = None, min_share: float = 0.9,
          examples: int = coverage.EXAMPLES, workers: int = 0, as_json: bool = False) -> int:
    try:
        if profiles_dir is not None:
            base = config.load()
            for path in sorted(Path(profiles_dir).glob("*.yaml")):
                profiles.parse(path, base)
        db = _segmented_db(Path(target), profiles_dir, workers)
    except (SegmentDataError, RunError, StageUnavailable, FileNotFoundError, PermissionError) as exc:
        return error(exc)
    if db is None:
        return EXIT_USAGE
    found = coverage.collect(db, hospital)
    if not found:
        return error(f"{target}: 没有已切分的病历 (no segmented records; run `medreview run --stages read,segment` first)")
    if as_json:
        print(json.dumps([coverage.as_dict(c) for c in found], ensure_ascii=False, indent=2))
        return EXIT_OK
    low = 0
    for cov in found:
        table, n_low = _table(cov, min_share, examples)
        console.print(table)
        low += n_low
    if low:
        console.print(f"[yellow]{low} 项低于 {min_share:.0%}[/yellow] items below {min_share:.0%}: add the hospital's "
                      f"spellings to {profiles.root(profiles_dir)}/<医院>.yaml (`medreview profile show <医院>`)")
        return EXIT_PARTIAL
    return EXIT_OK


def show(hospital: str, *, profiles_dir: Path | None = None, db_path: Path | None = None) -> int:
    try:
        prof = profiles.find(hospital, config.load(), profiles_dir)
    except SegmentDataError as exc:
        return error(exc)
    folder = profiles.root(profiles_dir)
    if prof is None:
        console.print(f"{hospital}: 没有医院档案 (no profile at {folder / (hospital + '.yaml')}); "
                      "只用内置的标签、标题、章节与列名 (packaged spellings only). 新建示例 example:")
        console.print("version: 1\nname: 某县人民医院\nlabels: {sex: [性 别]}\ntitles: {出院记录: [出院小结单]}\n"
                      "sections: {现病史: [病史摘要]}\ncolumns: {bill: {date: [计费日期]}}")
    else:
        console.print(f"{hospital} {prof.name or ''}: {prof.path} (digest {prof.digest})")
        for what, entries in (("字段标签 labels", prof.labels), ("文书标题 titles", prof.titles),
                              ("章节 sections", prof.sections)):
            for k, v in entries.items():
                console.print(f"  {what} {k}: {', '.join(v)}")
        for table, cols in prof.columns.items():
            for k, v in cols.items():
                console.print(f"  表格列 columns {table}.{k}: {', '.join(v)}")
        if prof.banner_labels:
            console.print(f"  眉栏标签 banner labels: {', '.join(prof.banner_labels)}")
    if db_path is not None:
        db = open_existing(db_path)
        if db is None:
            return EXIT_USAGE
        for cov in coverage.collect(db, hospital):
            console.print(_table(cov, 0.9, coverage.EXAMPLES)[0])
    return EXIT_OK
