"""Build the shipped CHS-DRG 1.1 scheme (pipeline/drg/schemes/chs-drg-1.1/) from the shared data
folder: a normalized copy of grouping.json and the tables, gzip without time stamps (the same input
gives the same bytes), scheme.json (name, origin, licence, counts, file hashes), LICENSE and README;
and the example region's parameters (pipeline/drg/regions/example.yaml, made-up weights).

    python scripts/build_drg_scheme.py [--data-dir ../shared/data] [--out pipeline/drg/schemes/chs-drg-1.1]
                                       [--region-out pipeline/drg/regions/example.yaml]

Normalization (nothing that changes a grouping result):
- each MDC's ``main_diagnosis_list`` is dropped after checking it equals the list its entry
  condition uses (the README calls it informative only);
- ``results`` is added: the statuses of a grouped and of an ambiguous case, which the source
  README defines in prose;
- or_procedures.tsv keeps one row per code (its 83 duplicated rows are identical);
- ``tables`` names the gzip files; every table keeps its rows and columns otherwise.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "chs-drg-1.1"
SOURCE_DIR = "chs-drg-1.1"
LICENCE_TEXT = Path("/usr/share/common-licenses/Apache-2.0")
RESULTS = {"grouped": {"status": "分组成功"},
           "ambiguous": {"status": "歧义病案", "adrg": "QY"}}


def _gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as fh:
        fh.write(data)
    return buf.getvalue()


def _entry_list(cond: dict) -> list | None:
    if "main_diagnosis_in" in cond:
        return cond["main_diagnosis_in"]
    for c in cond.get("all", []):
        if "main_diagnosis_in" in c:
            return c["main_diagnosis_in"]
    return None


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    rows = [ln.split("\t") for ln in lines[1:]]
    for i, r in enumerate(rows, 2):
        if len(r) != len(header):
            raise SystemExit(f"{path}:{i}: {len(r)} columns, header has {len(header)}")
    return header, rows


def _tsv(header: list[str], rows: list[list[str]]) -> bytes:
    return ("\n".join("\t".join(r) for r in [header] + rows) + "\n").encode("utf-8")


def build(src: Path, out: Path) -> dict:
    grouping = json.loads((src / "grouping.json").read_text(encoding="utf-8"))
    files: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    notes = []
    tables = {}
    for name, fname in grouping["tables"].items():
        header, rows = _rows(src / fname)
        if name == "or_procedures":
            seen: dict[str, list[str]] = {}
            kept = []
            for r in rows:
                if r[0] in seen:
                    if seen[r[0]] != r:
                        raise SystemExit(f"{fname}: code {r[0]} listed twice with different rows")
                    continue
                seen[r[0]] = r
                kept.append(r)
            if len(kept) != len(rows):
                notes.append(f"{fname}: {len(rows) - len(kept)} identical duplicate rows dropped")
            rows = kept
        gz_name = fname + ".gz"
        files[gz_name] = _gz(_tsv(header, rows))
        tables[name] = gz_name
        counts[name] = len(rows)
    for m in grouping["mdcs"]:
        listed = m.pop("main_diagnosis_list", None)
        if listed is not None and listed and listed != _entry_list(m["entry_condition"]):
            raise SystemExit(f"{m['mdc']}: main_diagnosis_list differs from its entry condition's list")
    notes.append("mdcs[].main_diagnosis_list dropped (equal to the entry condition's list)")
    grouping["tables"] = tables
    grouping["results"] = RESULTS
    notes.append("results added: the grouped and ambiguous statuses the source README defines")
    files["grouping.json.gz"] = _gz(json.dumps(grouping, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    header, rows = _rows_csv(src / "sample_cases.csv")
    files["sample_cases.csv.gz"] = _gz(_csv(header, rows))
    counts["sample_cases"] = len(rows)
    counts.update(mdcs=len(grouping["mdcs"]), adrgs=sum(len(m["adrgs"]) for m in grouping["mdcs"]),
                  drgs=sum(len(a["drgs"]) for m in grouping["mdcs"] for a in m["adrgs"]))
    source_hash = hashlib.sha256()
    for f in sorted(p.name for p in src.iterdir() if p.is_file()):
        source_hash.update(f.encode() + b"\0" + (src / f).read_bytes())
    content = hashlib.sha256(b"".join(n.encode() + b"\0" + files[n] for n in sorted(files))).hexdigest()
    meta = {
        "name": NAME,
        "title": "CHS-DRG 1.1 标准版 (国家医疗保障疾病诊断相关分组)",
        "scheme": grouping["scheme"],
        "version": f"1.1+{content[:8]}",
        "publisher": "国家医疗保障局 (National Healthcare Security Administration)",
        "origin": {**grouping["source"], "converted_by": "medreview shared data chs-drg-1.1 (rule files parsed into grouping.json)",
                   "source_sha256": source_hash.hexdigest()},
        "licence": "Apache-2.0",
        "counts": counts,
        "normalization": notes,
        "files": {n: hashlib.sha256(files[n]).hexdigest() for n in sorted(files)},
        "content_hash": content,
    }
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for n, data in files.items():
        (out / n).write_bytes(data)
    (out / "scheme.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / "LICENSE").write_bytes(LICENCE_TEXT.read_bytes())
    (out / "README.md").write_text(readme(meta), encoding="utf-8")
    return meta


def _rows_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def readme(meta: dict) -> str:
    o, c = meta["origin"], meta["counts"]
    notes = "\n".join(f"- {n}" for n in meta["normalization"])
    return f"""# CHS-DRG 1.1 标准版 grouping scheme (`{meta['name']}`)

Generated by `scripts/build_drg_scheme.py`; do not edit by hand. Version `{meta['version']}`
(content hash `{meta['content_hash'][:16]}…`).

## Origin and licence

CHS-DRG 1.1 标准版 is published by the {meta['publisher']}. These files are derived from
OpenDRG's Python grouper, `{o['repository']}` at commit `{o['commit']}`, path
`{o['path']}` only, licensed {meta['licence']} (the full text is in `LICENSE` beside this file).
The rule files of that path were parsed (not executed) into `grouping.json` and its `.dat` tables
copied into TSV ({o['converted_by']}); this folder is a normalized copy of that conversion
(sha256 of the source folder `{o['source_sha256'][:16]}…`). Changes: see below. The files fall
under the same licence.

## Contents

{c['mdcs']} MDCs, {c['adrgs']} ADRGs, {c['drgs']} DRGs. Tables (rows): mcc {c['mcc']}, cc {c['cc']},
cce {c['cce']}, drg_names {c['drg_names']}, or_procedures {c['or_procedures']}, diagnoses (ICD-10
医保版) {c['diagnoses']}, procedures (ICD-9-CM-3 医保版) {c['procedures']}, diagnosis_map
{c['diagnosis_map']}, procedure_map {c['procedure_map']}; `sample_cases.csv.gz`: {c['sample_cases']}
cases with the reference grouper's output (`expected_status, expected_mdc, expected_adrg,
expected_drg`). The schema the engine interprets is described in `pipeline/drg/README.md`.

## Normalization

{notes}
"""


# The example region's made-up weights: a base per kind of ADRG (its second letter: A–J surgery in
# the operating room, K–Q other procedures, R–Z medical; MDCA the pre-MDC transplants and
# ventilation), a factor per DRG suffix (1 伴MCC, 3 伴CC, 5 不伴, 9 不分级) and a spread per ADRG
# drawn from its code's hash, so suffixes keep their order within an ADRG.
EXAMPLE_BASE = {"MDCA": 6.0, "surgical": 1.6, "procedure": 1.0, "medical": 0.75}
EXAMPLE_SUFFIX = {"1": 1.6, "3": 1.2, "5": 1.0, "9": 1.25}
EXAMPLE_RATE = 9000


def example_region(grouping: dict) -> str:
    lines = []
    for m in grouping["mdcs"]:
        for a in m["adrgs"]:
            letter = a["adrg"][1]
            kind = "MDCA" if m["mdc"] == "MDCA" else ("surgical" if "A" <= letter <= "J" else
                                                     "procedure" if "K" <= letter <= "Q" else "medical")
            spread = 0.8 + 0.45 * int(hashlib.sha256(a["adrg"].encode()).hexdigest()[:4], 16) / 0xFFFF
            for d in a["drgs"]:
                w = EXAMPLE_BASE[kind] * EXAMPLE_SUFFIX.get(d["drg"][-1], 1.0) * spread
                lines.append(f"  {d['drg']}: {w:.4f}")
    return f"""# 示例地区 DRG 付费参数 — EXAMPLE ONLY. These are NOT any region's published weights or rate.
# Generated by scripts/build_drg_scheme.py from a formula (base per ADRG kind × DRG suffix factor ×
# a per-ADRG spread from its code's hash); use them to see how the product computes amounts, and
# replace them with the 统筹区's published 相对权重 and 费率 (a file with the same keys,
# `medreview drg group --region FILE`, or the DRG rules' `region` parameter).
region: 示例统筹区 (示例参数, 非真实地区)
example: true
version: "2026.12-example"
scheme: chs-drg-1.1
rate: {{value: {EXAMPLE_RATE}, unit: 元/权重, source: "示例值 (EXAMPLE): 县域 DRG 费率常见量级, 非任何地区公布的费率"}}
weights_source: "示例值 (EXAMPLE): 基础权重 {EXAMPLE_BASE} × 后缀系数 {EXAMPLE_SUFFIX} × ADRG 离散系数 0.80–1.25"
weights:
""" + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "pipeline" / "drg" / "schemes" / NAME)
    ap.add_argument("--region-out", type=Path, default=REPO / "pipeline" / "drg" / "regions" / "example.yaml")
    args = ap.parse_args(argv)
    src = args.data_dir / SOURCE_DIR
    if not (src / "grouping.json").is_file():
        print(f"{src}: no grouping.json", file=sys.stderr)
        return 2
    meta = build(src, args.out)
    args.region_out.parent.mkdir(parents=True, exist_ok=True)
    args.region_out.write_text(example_region(json.loads((src / "grouping.json").read_text(encoding="utf-8"))),
                               encoding="utf-8")
    print(f"{args.out}: {meta['version']} ({', '.join(f'{k} {v}' for k, v in meta['counts'].items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
