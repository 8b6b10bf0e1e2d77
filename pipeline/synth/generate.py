"""Top-level entry: generate a sample batch (records, scans, claims, labels) into a folder."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import multiprocessing
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

from . import catalog, cohort, styles as styles_mod
from .claims import ClaimsWriter, claim_rows
from .kinds import TYPES
from .labels import label_of
from .record import build_record
from .render_pdf import render_pdf
from .render_scan import choose_dpi, image_pdf, scan_pages

GENERATOR_VERSION = "1.1"  # 1.1: national 两库 cases, 险种类型 and 医疗类别 in the claims
FORMS = ("text", "scan")
SCAN_FORMATS = ("jpg", "png", "pdf")
STAMPED_DOCS = ("住院病案首页", "出院记录", "费用清单")

log = logging.getLogger(__name__)


class _Tally:
    """Manifest counts, accumulated one label at a time."""

    def __init__(self):
        self.records = self.clean = self.pages = self.charge_rows = 0
        self.per_hospital: Counter = Counter()
        self.readmissions: Counter = Counter()
        self.injected: Counter = Counter()
        self.amounts: Counter = Counter()
        self.rule_classes: Counter = Counter()
        self.traps: Counter = Counter()

    def add(self, label: dict) -> None:
        self.records += 1
        self.clean += label["clean"]
        self.pages += len(label["pages"])
        self.charge_rows += label["charge_count"]
        self.per_hospital[label["hospital_id"]] += 1
        if label["readmission"]:
            self.readmissions[label["readmission"]["kind"]] += 1
        for v in label["violations"]:
            self.injected[v["type"]] += 1
            self.amounts[v["type"]] += v["amount"]
            if v.get("rule_class"):
                self.rule_classes[v["rule_class"]] += 1
        self.traps.update(t["rule_class"] for t in label["knowledge_traps"])


def _scan_seed(seed: int, index: int) -> int:
    return random.Random(f"medreview-synth:{seed}:scan:{index}").getrandbits(63)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _one(args) -> tuple[int, dict, list[list[str]]]:
    """Build, render and write one admission; returns its label and claim rows (worker process)."""
    slot, out_dir, seed, forms, scan_format, style = args
    cat = catalog.load()
    rec = build_record(slot, cat, seed, style)
    hid, no = slot.hospital.id, slot.admission_no
    form_files = {}
    if forms:
        truth_dir = out_dir / "truth" / hid / no
        for page in rec.layout.pages:
            _write(truth_dir / f"page-{page.number:03d}.txt", (page.text + "\n").encode("utf-8"))
    pdf = None
    if "text" in forms or "scan" in forms:
        pdf = render_pdf(rec.layout.pages, no)
    if "text" in forms:
        rel = f"text/{hid}/{no}.pdf"
        _write(out_dir / rel, pdf)
        form_files["text"] = rel
    dpi = None
    if "scan" in forms:
        rng = random.Random(_scan_seed(seed, slot.index))
        dpi = choose_dpi(rng)
        stamp_pages = {p.number for p in rec.layout.pages if p.doc_type in STAMPED_DOCS and rng.random() < 0.3}
        images = scan_pages(pdf, seed=_scan_seed(seed, slot.index), dpi=dpi, fmt=scan_format,
                            stamp_text=slot.hospital.name, stamp_pages=stamp_pages)
        if scan_format == "pdf":
            rel = f"scan/{hid}/{no}.pdf"
            _write(out_dir / rel, image_pdf(images, no))
        else:
            rel = f"scan/{hid}/{no}"
            for i, data in enumerate(images, 1):
                _write(out_dir / rel / f"page-{i:03d}.{scan_format}", data)
        form_files["scan"] = rel
    return slot.index, label_of(rec, form_files, scan_dpi=dpi), claim_rows(rec.plan)


def generate(out_dir, *, records: int = 12, hospitals: int = 2, seed: int = 0, forms=("text", "scan"),
             scan_format: str = "jpg", clean_share: float = 0.75, rates: dict | None = None, workers: int | None = None,
             styles: tuple[str, ...] | list[str] | None = None) -> dict:
    """Write a synthetic batch to out_dir and return the manifest (summary) dict.

    forms=() writes labels.jsonl, claims and manifest only (no truth pages, PDFs or scans): fast, for
    tests and label statistics. `rates` are relative weights of violation types among the records
    that get a violation (default: all 1.0; 0 disables a type). `styles`: print styles
    (data/styles.yaml), hospital i printing in styles[i % len(styles)] (default: the standard one).
    """
    forms = tuple(forms)
    if unknown := set(forms) - set(FORMS):
        raise ValueError(f"unknown forms {sorted(unknown)}; choose from {FORMS}")
    if scan_format not in SCAN_FORMATS:
        raise ValueError(f"scan_format must be one of {SCAN_FORMATS}")
    if records < 1 or hospitals < 1:
        raise ValueError("records and hospitals must be at least 1")
    if not 0.0 <= clean_share <= 1.0:
        raise ValueError("clean_share must be between 0 and 1")
    styles = tuple(styles or (styles_mod.DEFAULT,))
    for name in styles:
        styles_mod.get(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cat = catalog.load()
    hosps, slots = cohort.plan_batch(cat, records=records, hospitals=hospitals, seed=seed, clean_share=clean_share, rates=rates)
    style_of = {h.id: styles[i % len(styles)] for i, h in enumerate(hosps)}
    jobs = [(s, out_dir, seed, forms, scan_format, style_of[s.hospital.id]) for s in slots]
    workers = workers or os.cpu_count() or 1
    targets = [f for f in ("text", "scan") if f in forms] or ["text"]
    tally = _Tally()
    # streamed in slot order (imap keeps order), so memory stays flat for 10,000-record batches
    with contextlib.ExitStack() as stack:
        labels_fh = stack.enter_context((out_dir / "labels.jsonl").open("w", encoding="utf-8"))
        claims = {h.id: stack.enter_context(ClaimsWriter(out_dir / targets[0] / h.id / "claims.csv",
                                                         styles_mod.get(style_of[h.id])))
                  for h in hosps}
        if workers <= 1 or len(slots) < 4:
            results = map(_one, jobs)
        else:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(min(workers, len(slots))))
            results = pool.imap(_one, jobs, chunksize=1)
        for _, label, rows in results:
            labels_fh.write(json.dumps(label, ensure_ascii=False, sort_keys=True) + "\n")
            claims[label["hospital_id"]].write(rows)
            tally.add(label)
    for form in targets[1:]:
        for h in hosps:
            (out_dir / form / h.id).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_dir / targets[0] / h.id / "claims.csv", out_dir / form / h.id / "claims.csv")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "level"])
    for h in hosps:
        w.writerow([h.id, h.name, h.level])
    # Beside the batch root and in each form folder, so that ingesting OUT/text or OUT/scan as a
    # batch also finds the hospitals' names and levels (限医疗机构级别 rules need the level).
    for folder in [out_dir] + [out_dir / form for form in targets if (out_dir / form).is_dir()]:
        (folder / "hospitals.csv").write_text(buf.getvalue(), encoding="utf-8")
    manifest = {
        "generator": "medreview synth",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "params": {"records": records, "hospitals": hospitals, "forms": list(forms), "scan_format": scan_format,
                   "clean_share": clean_share, "rates": rates or {}, "styles": list(styles)},
        "hospital_styles": style_of,
        "counts": {
            "records": tally.records,
            "clean": tally.clean,
            "with_violations": tally.records - tally.clean,
            "pages": tally.pages,
            "charge_rows": tally.charge_rows,
            "per_hospital": {h.id: tally.per_hospital[h.id] for h in hosps},
            "readmissions": dict(sorted(tally.readmissions.items())),
        },
        "injected": {t: tally.injected[t] for t in TYPES},
        "injected_amount": {t: round(tally.amounts[t], 2) for t in TYPES},
        "injected_rule_class": dict(sorted(tally.rule_classes.items())),
        "traps_rule_class": dict(sorted(tally.traps.items())),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("synth: %d records, %d pages in %.1fs", tally.records, tally.pages, time.monotonic() - started)
    return manifest
