"""Compare two batch databases row for row: did a change alter what the pipeline writes?

    python bench/dbdump.py BEFORE.db AFTER.db        # per-table rows and digests, then differences
    python bench/dbdump.py A.db --json A.json        # one database's rows, for a later comparison

Run both batches with ``--workers 1`` so row ids are assigned in the same order. Columns that differ
between two runs of the same batch are replaced: clock times, the per-database patient-key salt
(and the keys made with it, numbered by first appearance), and the run bookkeeping tables.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sqlite3
import sys
from pathlib import Path

SKIPPED_TABLES = {"runs", "_migrations", "sessions", "login_audit", "ocr_cache"}
TIME_COLUMN = re.compile(r"(_at|^at)$")


def dump(path: Path) -> dict[str, list[dict]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out: dict[str, list[dict]] = {}
    keys: dict[str, str] = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if table in SKIPPED_TABLES or table.startswith("sqlite_"):
            continue
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        rows = []
        for row in conn.execute(f"SELECT * FROM [{table}] ORDER BY rowid"):
            d = dict(zip(cols, row))
            for c in cols:
                if TIME_COLUMN.search(c) and table != "fields" and d[c] is not None:
                    d[c] = "<time>"
                if c == "patient_key" and d[c] is not None:
                    d[c] = keys.setdefault(d[c], f"<patient {len(keys)}>")
            if table == "settings":
                d["value"] = "<value>"
            rows.append(d)
        out[table] = rows
    return out


def digest(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def differences(a: dict, b: dict, limit: int = 5) -> list[str]:
    """Human-readable differences: tables only on one side, row counts, and the first differing
    columns of each table."""
    out = []
    for table in sorted(set(a) | set(b)):
        if table not in a or table not in b:
            out.append(f"{table}: only in {'after' if table not in a else 'before'}")
            continue
        ra, rb = a[table], b[table]
        if len(ra) != len(rb):
            out.append(f"{table}: {len(ra)} rows before, {len(rb)} after")
        shown = 0
        for i, (x, y) in enumerate(zip(ra, rb)):
            cols = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            if cols and shown < limit:
                out.append(f"{table} row {i + 1}: " + "; ".join(f"{c}: {x.get(c)!r} → {y.get(c)!r}"[:300] for c in cols))
                shown += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path, nargs="?")
    ap.add_argument("--json", type=Path, help="write the first database's rows as JSON")
    args = ap.parse_args(argv)
    a = dump(args.before)
    if args.json:
        args.json.write_text(json.dumps(a, ensure_ascii=False, sort_keys=True, default=repr), encoding="utf-8")
    b = dump(args.after) if args.after else None
    print(f"{'table':<22}{'rows':>9}{'digest':>20}" + (f"{'rows after':>12}{'digest after':>20}" if b else ""))
    for table in sorted(set(a) | set(b or {})):
        ra = a.get(table, [])
        line = f"{table:<22}{len(ra):>9}{digest(ra):>20}"
        if b is not None:
            rb = b.get(table, [])
            line += f"{len(rb):>12}{digest(rb):>20}" + ("" if ra == rb else "  differs")
        print(line)
    if b is None:
        return 0
    diff = differences(a, b)
    print("\nidentical" if not diff else "\n" + "\n".join(diff))
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
