"""Build the shipped national knowledge pack (pipeline/packs/data/national/) from the structured
两库 files in the shared data: pack.json, points.jsonl.gz and README.md, byte for byte the same
on every run over the same input.

    python scripts/build_national_pack.py [--data-dir ../shared/data] [--out pipeline/packs/data/national]
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.packs import io as pack_io  # noqa: E402
from pipeline.packs import store  # noqa: E402
from pipeline.packs.schema import PackError, validate  # noqa: E402

POINTS_FILE = "two-libraries/knowledge_points.jsonl"
CATALOGUE_FILE = "two-libraries/rule_catalog_88.json"
ORIGIN = {
    "publisher": "国家医疗保障局 (National Healthcare Security Administration, NHSA)",
    "publication": "医疗保障基金智能监管规则库、知识库 (2025年版) 与各批次知识点明细 (第一批至第十七批, 2026-01 更新)",
    "structured_by": {"repository": "rachelzzz1921/yingyan", "snapshot": "7a3774bc", "date": "2026-07-05",
                      "files": ["kb/two_libraries/all_records.json", "kb/two_libraries/rule_catalog_2025_88.json"],
                      "licence": "none in the repository; the facts are the bureau's own publications"},
}


def conditions_hook():
    """The restriction parser's entry point when ``pipeline.packs.indications`` exists (it turns a
    point's constraint into conditions), else None: the points keep ``conditions`` None."""
    if importlib.util.find_spec("pipeline.packs.indications") is None:
        return None
    from pipeline.packs import indications

    def conditions(point):
        r = indications.parse(point.constraint, item_name=point.item_name, rule_class=point.rule_class)
        return r.to_dict() if r is not None else None
    return conditions


def parse_summary(points) -> dict:
    """How the restriction parser read the points in force: its data file's version and hash, and
    per rule class the points parsed, those with conditions a check can judge, those parsed whole."""
    from pipeline.packs import indications
    by_class: dict = {}
    for p in points:
        if p.superseded_by or not isinstance(p.conditions, dict):
            continue
        c = p.conditions
        row = by_class.setdefault(p.rule_class, {"parsed": 0, "with_conditions": 0, "whole": 0})
        row["parsed"] += 1
        has = bool(c.get("alternatives") or c.get("common") or c.get("min_level") or c.get("inpatient"))
        row["with_conditions"] += has
        row["whole"] += has and not c.get("unparsed")
    data = indications.DATA_PATH
    return {"parser": "pipeline.packs.indications", "vocabulary": indications.vocabulary().version,
            "vocabulary_sha256": hashlib.sha256(data.read_bytes()).hexdigest(), "by_class": dict(sorted(by_class.items()))}


def rule_classes(catalogue: dict) -> dict:
    return {r["name"]: {"seq": r["seq"], "tier1": r["tier1"], "tier2": r["tier2"], "gz_code": r.get("gz_code_1_0"),
                        "has_kp_detail": bool(r.get("has_kp_detail")), "new_in_2025": bool(r.get("new_in_2025"))}
            for r in sorted(catalogue["rules"], key=lambda r: r["seq"])}


def normalize(raw_rows: list[tuple[int, dict]], classes: dict, where: str) -> tuple[list, dict, list[str]]:
    """Validated points, per-class notes (rows that explain a class and carry no code or
    constraint), and what normalization changed."""
    points, notes, changes = [], {}, Counter()
    for line, row in raw_rows:
        if not row.get("med_codes") and not row.get("constraint") and str(row.get("item_name") or "").startswith("说明"):
            notes.setdefault(row["rule_class"], []).append(row["item_name"].strip())
            changes["class notes moved to pack.json"] += 1
            continue
        meta = classes[row["rule_class"]]
        row = dict(row)
        for field, key in (("level1", "tier1"), ("level2", "tier2")):
            if not row.get(field):
                row[field] = meta[key]
                changes[f"{field} filled from the rule catalogue"] += 1
        points.append(validate(row, f"{where}:{line}", classes))
    return points, notes, [f"{k}: {v}" for k, v in sorted(changes.items())]


def build(data_dir: Path, out: Path) -> dict:
    src, cat_path = data_dir / POINTS_FILE, data_dir / CATALOGUE_FILE
    catalogue = json.loads(cat_path.read_text(encoding="utf-8"))
    classes = rule_classes(catalogue)
    raw = [(i, json.loads(line)) for i, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    points, notes, changes = normalize(raw, classes, POINTS_FILE)
    points, errors, external = pack_io.resolve_supersedes(points, {p.kp_id: p.kp_id for p in points})
    if errors or external:
        raise PackError("; ".join(errors + [f"supersedes {t}: 不在本包中" for t in external]))
    hook = conditions_hook()
    if hook is not None:
        points = [dataclasses.replace(p, conditions=hook(p)) for p in points]
    live = Counter(p.rule_class for p in points if not p.superseded_by)
    history = Counter(p.rule_class for p in points if p.superseded_by)
    for name, meta in classes.items():
        meta.update(points=live.get(name, 0), superseded=history.get(name, 0))
        if name in notes:
            meta["notes"] = notes[name]
    digest = store.content_hash(points, classes)
    created = catalogue["meta"]["extracted_at"]        # the snapshot's date: the same on every rebuild
    version = f"{created.replace('-', '')}T000000Z-{digest[:6]}"
    origin = dict(ORIGIN, inputs={name: hashlib.sha256(p.read_bytes()).hexdigest()
                                  for name, p in ((POINTS_FILE, src), (CATALOGUE_FILE, cat_path))},
                  normalization=changes, conditions=parse_summary(points) if hook else None)
    meta = store.pack_meta(store.NATIONAL, version, digest, f"{created}T00:00:00+00:00", points, origin, classes)
    store.write_pack(out, meta, points)
    (out / "README.md").write_text(readme(meta), encoding="utf-8")
    return meta


def conditions_text(c: dict | None) -> str:
    if not c:
        return "not parsed (None)."
    rows = "\n".join(f"  | {rc} | {r['parsed']} | {r['with_conditions']} | {r['whole']} |" for rc, r in c["by_class"].items())
    return f"""the restriction text of the classes below turned into conditions by
  `{c['parser']}` (vocabulary `pipeline/packs/data/indications.yaml` version {c['vocabulary']},
  sha256 `{c['vocabulary_sha256'][:16]}…`); a point's `unparsed` parts are shown to the auditor.

  | rule class | points | with conditions | parsed whole |
  |---|---|---|---|
{rows}
"""


def readme(meta: dict) -> str:
    c = meta["counts"]
    classes = "\n".join(f"| {name} | {m['tier1']} | {m['gz_code'] or '-'} | {m['points']} | {m['superseded']} |"
                        for name, m in meta["rule_classes"].items() if m["points"] or m["superseded"])
    batches = "\n".join(f"| {b['batch_tag']} | {b['published_at'] or '未注明'} | {b['points']} | {b['announcement_url'] or '-'} |"
                        for b in meta["batches"])
    notes = "\n".join(f"- {name}: {n}" for name, m in meta["rule_classes"].items() for n in m.get("notes", []))
    o = meta["origin"]["structured_by"]
    return f"""# 国家知识包 (national knowledge pack)

Generated by `scripts/build_national_pack.py`; do not edit by hand.

Version `{meta['version']}`, content hash `{meta['content_hash'][:16]}…`: {c['points']} knowledge
points, {c['in_force']} in force and {c['superseded']} superseded (kept as history with
`superseded_by`).

## Origin

The facts are the publications of the 国家医疗保障局 (NHSA): the 2025 edition of the
智能监管规则库、知识库 (88 rule classes) and the per-batch knowledge-point attachments (第一批 …
第十七批 and the 2026-01 update). They were structured into JSON by the public GitHub project
`{o['repository']}` (snapshot `{o['snapshot']}`, {o['date']}; files {', '.join(f'`{f}`' for f in o['files'])});
that repository carries no licence file. Each point keeps its source: the announcement address
(where the batch named one), the attachment file and its row. Cite the announcement in anything a
user reads. The attachment names are kept as published: in 第十一批 the two file names are swapped
relative to their contents (the 116 points whose text says "单独使用时…" belong to
中药饮片单方使用不予支付, as their GZ code says).

## Batches

| batch | published | points | announcement |
|---|---|---|---|
{batches}

Batches 1–8 carry no publication date in the source files.

## Rule classes

| rule class | tier | GZ code (1.0) | in force | superseded |
|---|---|---|---|---|
{classes}

All 88 rule classes of the 2025 edition are in `pack.json` (`rule_classes`: tier, GZ code,
`has_kp_detail`, `new_in_2025`), with or without points. Class notes:
{notes}

## Normalization

- Codes: NFKC, no spaces, upper case, duplicates within a point dropped; every code is a national
  family code (西药 X+22, 中成药 Z+19, 中药饮片 T+9 digits, service items 15 digits).
- `med_code` and `med_code_count` (derived from `med_codes`) are not stored.
- `level1` / `level2` filled from the rule catalogue's tier where the source left them empty (the
  classes new in 2025); `gz_code` stays empty for those classes, which have no 1.0 code.
- Rows that explain a class and carry no code or constraint become that class's `notes`.
- `supersedes` resolved: the superseding point is in force, the replaced one kept as history.
- `conditions`: {conditions_text(meta['origin']['conditions'])}
- Points stored in a fixed order (rule class, codes, kp_id), gzip without time stamp: the same input gives the same bytes.

Applied steps: {'; '.join(meta['origin']['normalization']) or 'none'}.

## Rebuild

    python scripts/build_national_pack.py --data-dir ../shared/data

The input files' sha256 are in `pack.json` (`origin.inputs`).
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="the shared data folder")
    ap.add_argument("--out", type=Path, default=store.NATIONAL_DIR, help="output folder")
    args = ap.parse_args(argv)
    meta = build(args.data_dir, args.out)
    print(f"wrote {args.out}: national@{meta['version']}, {meta['counts']['in_force']} points in force,"
          f" {meta['counts']['superseded']} superseded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
