"""Segmentation accuracy on the sample generator's ground truth.

Usage: python bench/segment.py [OUT] [--records N] [--form noisy|text|both|scan] [--limit N] [--seed S] [--errors]
                               [--styles developed|heldout|all|NAME,NAME]

OUT is the generator's output folder (OUT/truth/<H>/<adm>/page-NNN.txt, OUT/text/<H>/<adm>.pdf,
OUT/labels.jsonl); without it, --records admissions are generated in memory with pipeline.synth
(same plan → pages → labels code). Forms:
  noisy  lines built from the exact page texts with OCR-like noise (full-width digits and
         colons, a dropped space between date and time '2020-03-0509:30' and between form
         fields '姓名：蔡勇性别：男', ℃ → °C, a swapped character in some short lines), one
         line per text line, no geometry;
  text   the PDF text layer read by the reading stage's own code (pdfminer characters + layout order).
  scan   the PDF rendered at 200 dpi and read by the reading stage's OCR (rapidocr); slow
         (~3 s/page), so run it on a few records; the noisy form stands in for it at scale.

--styles prints every measure per hospital print style (pipeline/synth/data/styles.yaml; in memory:
one hospital per style); `heldout` is the styles kept out of development (styles.yaml's `heldout` list).

Prints, per form: document-type accuracy (pages), section boundary precision/recall/F1
((page, section name, first body characters) triples), progress-note time accuracy, and
field accuracy per field.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from pipeline.segment import config
from pipeline.segment.doctypes import edit_distance
from pipeline.segment.model import SLine, squash
from pipeline.segment.record import segment

_FW = {c: chr(ord(c) + 0xFEE0) for c in "0123456789"}
_SWAPS = {"录": "彔", "页": "贞", "嘱": "瞩", "程": "稈", "单": "荜"}


def noisy(text: str, rng: random.Random) -> str:
    """One line with the OCR errors seen on scans (../shared/OCR-NOTES.md)."""
    if rng.random() < 0.3:
        text = "".join(_FW.get(c, c) if rng.random() < 0.5 else c for c in text)
    if rng.random() < 0.5:
        text = text.replace("：", ":") if rng.random() < 0.5 else text.replace(":", "：")
    text = re.sub(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2})", lambda m: m.group(1) + m.group(2) if rng.random() < 0.3 else m.group(0), text)
    if rng.random() < 0.3:  # OCR drops the gap between form fields: '姓名：蔡勇性别：男'
        text = re.sub(r"(?<=\S) +(?=[\u4e00-\u9fff]{2,6}[:：])", "", text)
    text = text.replace("℃", "°C") if rng.random() < 0.5 else text
    if len(text) <= 12 and rng.random() < 0.2:  # titles are short lines
        for a, b in _SWAPS.items():
            if a in text:
                text = text.replace(a, b, 1)
                break
    return text


def lines_from_pdf_bytes(data: bytes) -> list[SLine]:
    """The PDF's text layer as the reading stage reads it (its character reader + layout order)."""
    import tempfile

    from pipeline.read import textlayer
    from pipeline.read.config import ReadConfig
    from pipeline.read.page import text_layer_lines

    out, lid, cfg = [], 1, ReadConfig()
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(data)
        tmp.flush()
        with textlayer.PdfTextReader(tmp.name) as reader:
            p = 0
            while True:
                try:
                    pc = reader.page(p)
                except StopIteration:
                    break
                p += 1
                for n, ln in enumerate(text_layer_lines(pc, cfg) or []):
                    out.append(SLine(lid, p, p, n, ln.text, *ln.bbox, ln.row_no, ln.col_no, pc.width))
                    lid += 1
    return out


def lines_from_ocr(data: bytes, engine) -> list[SLine]:
    """The PDF rendered to 200 dpi page images and read by the reading stage's OCR path
    (a clean render: real OCR errors, no scanner blur or skew)."""
    import pypdfium2

    from pipeline.read import raster
    from pipeline.read.config import ReadConfig
    from pipeline.read.page import ocr_image

    out, lid, cfg = [], 1, ReadConfig()
    doc = pypdfium2.PdfDocument(data)
    try:
        for p in range(len(doc)):
            gray = raster.render(doc[p], cfg.dpi, cfg)
            for n, ln in enumerate(ocr_image(gray, engine, cfg).lines):
                out.append(SLine(lid, p + 1, p + 1, n, ln.text, *ln.bbox, ln.row_no, ln.col_no, float(gray.shape[1])))
                lid += 1
    finally:
        doc.close()
    return out


def lines_from_pages(pages: list[list[str]], rng: random.Random) -> list[SLine]:
    out, lid = [], 1
    for p, texts in enumerate(pages, 1):
        for n, t in enumerate(texts):
            if t.strip():
                out.append(SLine(lid, p, p, n, noisy(t, rng)))
                lid += 1
    return out


# --- ground truth ------------------------------------------------------------------------------

def synth_records(n: int, seed: int, styles: tuple[str, ...] = ()):
    """(label, page texts, pdf bytes) for n generated admissions, built in memory; with ``styles``
    one hospital per style."""
    from pipeline.synth import catalog, cohort
    from pipeline.synth.labels import label_of
    from pipeline.synth.record import build_record
    from pipeline.synth.render_pdf import render_pdf

    cat = catalog.load()
    hosps, slots = cohort.plan_batch(cat, records=n, hospitals=len(styles) or 3, seed=seed, clean_share=0.5, rates=None)
    style_of = {h.id: styles[i] for i, h in enumerate(hosps)} if styles else {}
    for slot in slots[:n]:
        rec = build_record(slot, cat, seed, style_of.get(slot.hospital.id))
        pages = rec.layout.pages
        p = rec.plan
        label = label_of(rec, {})
        # table truth straight from the plan the documents were written from
        label["_tables"] = {
            "labs": sorted((r.name, r.value) for rep in p.labs for panel in rep.panels for r in panel.rows),
            "orders": sorted(("long" if o.kind == "long" else "temporary", f"{o.start:%Y-%m-%d %H:%M}", o.text)
                             for o in p.orders),
            "temps": sum(len(v.temps) for v in p.vitals),
            "lab panels": sorted(panel.title for rep in p.labs for panel in rep.panels),
        }
        yield label, [pg.lines for pg in pages], (lambda pages=pages: render_pdf(pages, "bench"))


def out_records(out: Path, limit: int | None):
    """Records of a generator output folder (labels.jsonl + truth page texts)."""
    with open(out / "labels.jsonl", encoding="utf-8") as fh:
        for k, row in enumerate(fh):
            if limit is not None and k >= limit:
                return
            label = json.loads(row)
            folder = out / "truth" / label["hospital_id"] / label["admission_no"]
            pages = [p.read_text(encoding="utf-8").split("\n") for p in sorted(folder.glob("page-*.txt"))]
            pdf = out / "text" / label["hospital_id"] / f"{label['admission_no']}.pdf"
            yield label, pages, (lambda pdf=pdf: pdf.read_bytes())


# --- scoring ------------------------------------------------------------------------------------

FIELD_MAP = {"name": "patient_name", "main_diagnosis_code": ("main_diagnosis", "code")}


class Score:
    def __init__(self):
        self.pages = [0, 0]
        self.sec = [0, 0, 0]  # tp, predicted, expected
        self.notes = [0, 0, 0]
        self.untimed = 0  # progress-note documents without a date-time (a title split from its note)
        self.fields = defaultdict(lambda: [0, 0])
        self.bill = [0, 0]
        self.tables = defaultdict(lambda: [0, 0, 0])  # exact rows: matched, predicted, expected
        self.seconds = 0.0
        self.errors: list[str] = []

    def add(self, label: dict, seg, canon: dict[str, str]):
        first_doc = {}
        for d in seg.documents:
            for ln in d.lines:
                first_doc.setdefault(ln.page_no, d)
        for p in label["pages"]:
            got = first_doc.get(p["page"])
            ok = got is not None and got.group == p["doc_type"]
            self.pages[0] += ok
            self.pages[1] += 1
            if not ok:
                self.errors.append(f"page {label['admission_no']}#{p['page']}: {p['doc_type']} → {got.group if got else None}")
        want = {(s["page"], canon.get(s["name"], s["name"]), squash(s["text"] or "")[:10]) for s in label["sections"]}
        generic = {config.load().sections.preamble, config.load().sections.body, config.load().sections.other}
        have = set()
        labelled = {s["document"] for s in label["sections"]}  # the generator marks sections only there
        for i, s in seg.sections:
            if s.name in generic or seg.documents[i].group not in labelled:
                continue
            page = (s.header_line or s.anchor).page_no
            have.add((page, s.name, squash(s.text)[:10]))
        # A boundary is found when page and section name agree and the body starts the same
        # (up to two misread characters in its first ten: OCR noise is not a boundary error).
        left = set(have)
        hit = set()
        for w in sorted(want):
            m = next((h for h in sorted(left) if h[:2] == w[:2] and edit_distance(h[2], w[2], 2) <= 2), None)
            if m is not None:
                left.discard(m)
                hit.add(w)
        self.sec[0] += len(hit)
        self.sec[1] += len(have)
        self.sec[2] += len(want)
        for miss in sorted(want - hit)[:3]:
            self.errors.append(f"section missed {label['admission_no']}: {miss}")
        for extra in sorted(left)[:3]:
            self.errors.append(f"section extra {label['admission_no']}: {extra}")
        want_notes = sorted(n["at"] for n in label["progress_notes"])
        types = {"首次病程记录", "日常病程记录", "上级医师查房记录", "术后首次病程记录"}
        have_notes = sorted(d.at for d in seg.documents if d.doc_type in types and d.at)
        untimed = [d for d in seg.documents if d.doc_type in types and not d.at]
        self.untimed += len(untimed)
        for d in untimed[:2]:
            self.errors.append(f"note without time {label['admission_no']}#{d.lines[0].page_no}: {d.doc_type}")
        common = sum(min(want_notes.count(a), have_notes.count(a)) for a in set(want_notes))
        self.notes[0] += common
        self.notes[1] += len(have_notes)
        self.notes[2] += len(want_notes)
        got = {(v.name, v.seq): v for v in seg.fields}
        for name, expected in label["fields"].items():
            target = FIELD_MAP.get(name, name)
            fname, attr = (target, "value") if isinstance(target, str) else target
            v = got.get((fname, 0))
            value = getattr(v, attr) if v else None
            ok = value is not None and str(value) == str(expected)
            self.fields[name][0] += ok
            self.fields[name][1] += 1
            if not ok:
                self.errors.append(f"field {label['admission_no']}: {name} {expected!r} → {value!r}")
        self.bill[0] += len(seg.bill) == label["charge_count"] and \
            abs(sum(b["amount"] for b in seg.bill) - label["total_cost"]) < 0.01
        self.bill[1] += 1
        truth = label.get("_tables")
        if truth:
            for key, have in (("labs", sorted((x["item"], x["value"]) for x in seg.labs)),
                              ("lab panels", sorted(v.value for v in seg.fields if v.name == "lab_panel")),
                              ("orders", sorted((x["kind"], x["start_at"], x["content"]) for x in seg.orders))):
                common = sum(min(truth[key].count(t), have.count(t)) for t in set(truth[key]))
                self.tables[key][0] += common
                self.tables[key][1] += len(have)
                self.tables[key][2] += len(truth[key])
                for miss in sorted(set(truth[key]) - set(have))[:2]:
                    self.errors.append(f"{key} missed {label['admission_no']}: {miss}")
            temps = sum(1 for v in seg.fields if v.name == "vital_T" and v.line.page_no in
                        {d.lines[0].page_no for d in seg.documents if d.doc_type == "体温单"})
            self.tables["temperature readings"][0] += min(temps, truth["temps"])
            self.tables["temperature readings"][1] += temps
            self.tables["temperature readings"][2] += truth["temps"]


def pct(a, b):
    return f"{100.0 * a / b:6.2f}%" if b else "   n/a"


def report(name: str, s: Score, n: int):
    p = s.sec[0] / s.sec[1] if s.sec[1] else 0.0
    r = s.sec[0] / s.sec[2] if s.sec[2] else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    print(f"\n## form: {name}  ({n} records, {s.pages[1]} pages, {s.seconds:.2f} s segmentation, "
          f"{1000 * s.seconds / max(1, s.pages[1]):.1f} ms/page)")
    print(f"{'metric':34} {'value':>8}   detail")
    print(f"{'document type (pages)':34} {pct(*s.pages)}   {s.pages[0]}/{s.pages[1]}")
    print(f"{'section boundary precision':34} {100 * p:7.2f}%   {s.sec[0]}/{s.sec[1]}")
    print(f"{'section boundary recall':34} {100 * r:7.2f}%   {s.sec[0]}/{s.sec[2]}")
    print(f"{'section boundary F1':34} {100 * f1:7.2f}%   (documents the generator labels sections in)")
    print(f"{'progress-note times (recall)':34} {pct(s.notes[0], s.notes[2])}   {s.notes[0]}/{s.notes[2]} "
          f"(predicted {s.notes[1]})")
    print(f"{'progress-note documents w/o time':34} {s.untimed:>8}   (should be 0)")
    print(f"{'bill lines: count and total exact':34} {pct(*s.bill)}   {s.bill[0]}/{s.bill[1]} records")
    for key, (ok, got, want) in s.tables.items():
        print(f"{'table ' + key + ' (recall)':34} {pct(ok, want)}   {ok}/{want} (predicted {got}, exact rows)")
    for name_, (ok, total) in sorted(s.fields.items()):
        print(f"{'field ' + name_:34} {pct(ok, total)}   {ok}/{total}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", help="generator output folder; omitted: generate --records in memory")
    ap.add_argument("--records", type=int, default=30, help="records to generate in memory (no OUT)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--form", choices=["noisy", "text", "both", "scan"], default="both",
                    help="scan: OCR of 200 dpi renders (about 3 s/page; use a few --records)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--errors", action="store_true", help="print the first mismatches")
    ap.add_argument("--styles", default=None,
                    help="per print style: developed | heldout | all | comma-separated names (in memory)")
    args = ap.parse_args(argv)
    styles = _styles(args.styles)
    cfg = config.load()
    canon = {syn.replace(" ", ""): d.name for d in cfg.sections.defs for syn in d.synonyms}
    source = (out_records(Path(args.out), args.limit) if args.out else synth_records(args.records, args.seed, styles))
    forms = ["noisy", "text"] if args.form == "both" else [args.form]
    scores: dict[tuple[str, str], Score] = defaultdict(Score)
    counts: dict[str, int] = defaultdict(int)
    rng = random.Random(args.seed)
    engine = None
    n = 0
    for label, pages, pdf in source:
        n += 1
        style = label.get("style", "standard") if styles or args.styles else ""
        counts[style] += 1
        for form in forms:
            if form == "noisy":
                lines = lines_from_pages(pages, rng)
            elif form == "text":
                lines = lines_from_pdf_bytes(pdf())
            else:
                if engine is None:
                    from pipeline.read import engines
                    engine = engines.create(engines.DEFAULT, threads=2)
                lines = lines_from_ocr(pdf(), engine)
            t0 = time.perf_counter()
            seg = segment(lines, cfg)
            scores[(form, style)].seconds += time.perf_counter() - t0
            scores[(form, style)].add(label, seg, canon)
    print(f"# segmentation bench — {'generated in memory, seed ' + str(args.seed) if not args.out else args.out}")
    print("noisy = exact page texts + OCR-like noise (stands in for scans); text = PDF text layer "
          "read by pipeline.read (text layer + layout)")
    for (form, style), score in sorted(scores.items()):
        report(f"{form}, style {style}" if style else form, score, counts[style] if style else n)
        if args.errors:
            for e in score.errors[:40]:
                print("   ", e)
    return 0


def _styles(choice: str | None) -> tuple[str, ...]:
    if not choice:
        return ()
    from pipeline.synth import styles

    if choice == "developed":
        return styles.developed()
    if choice == "heldout":
        return styles.heldout()
    if choice == "all":
        return tuple(styles.load())
    return tuple(x.strip() for x in choice.split(",") if x.strip())


if __name__ == "__main__":
    sys.exit(main())
