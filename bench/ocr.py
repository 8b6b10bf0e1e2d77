"""Reading-stage benchmark: today's OCR path against the configured one, side by side on the
same pages in one run, with seconds per page per step, CER and key fields per page kind, the
projected county time, and text-layer pages per second.

Usage: python bench/ocr.py [--pages 3] [--repeats 1] [--ladder] [--try NAME:KEY=VAL,...] [--nodes 10]
       [--text-only]

Page kinds: clean (generator text PDF rendered at 200 dpi), noisy (the same at 300 dpi with 1.5°
skew, blur, salt noise and JPEG q35), 100-dpi (rendered at 100 dpi), scan (the generator's own
scans: paper tone, lighting, skew, blur, stamps, 150–300 dpi) and clinical (passages of real
inpatient records from ../shared/data/yidu-s4k drawn on A4 at 200 dpi and aged like the
generator's scans; skipped when the corpus is absent). Records come from a seed the reading code
was not tuned on (--seed).

Each page goes through ``ReadStage.work`` (decode, hash, orientation and deskew, OCR, coverage
check, reading order, page image) once per variant, the variants alternating page by page, and
each result is saved into a scratch database (the store step). "today" is rapidocr's own call on
onnxruntime with every line through the angle classifier; "new" is ReadConfig's defaults;
--ladder adds one variant per change in between. CPU seconds are the process's (one runtime
thread, as ``ReadConfig.ocr_threads``): on a shared machine they move much less than wall
seconds, and the county projection runs one such worker per core.
CER = Levenshtein distance / truth length on whitespace-free, NFKC-normalized text. Key fields:
dates and times, numbers with units, admission numbers and diagnosis phrases of the truth, each
found verbatim (normalized) in the page read.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
COUNTY_PAGES = 20_000 * 30
TODAY = dict(ocr_backend="onnxruntime", ocr_pipeline="library", angle_check="always", rec_pack=False, rec_batch=6,
             det_text_px=0)
LADDER = {  # each step adds one change to the one before
    "+openvino": dict(TODAY, ocr_backend="openvino"),
    "+staged": dict(TODAY, ocr_backend="openvino", ocr_pipeline="staged"),
    "+det-text": dict(TODAY, ocr_backend="openvino", ocr_pipeline="staged", det_text_px=14),
    "+angle-doubt": dict(TODAY, ocr_backend="openvino", ocr_pipeline="staged", det_text_px=14, angle_check="doubt"),
}
STEPS = ("image", "deskew", "detection", "angle", "crops", "recognition", "ocr", "coverage", "layout",
         "page-image", "store")


# ---------------------------------------------------------------------------------------------
# Metrics


def normalize(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def levenshtein(a: str, b: str) -> int:
    if not a or not b:
        return len(a) + len(b)
    bv = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(b) + 1)
    prev = idx.copy()
    for i, ch in enumerate(a, 1):
        cost = (bv != ord(ch)).astype(np.int64)
        tmp = np.empty_like(prev)
        tmp[0] = i
        tmp[1:] = np.minimum(prev[1:] + 1, prev[:-1] + cost)
        prev = np.minimum.accumulate(tmp - idx) + idx  # insertions along the row
    return int(prev[-1])


def cer(hyp: str, ref: str) -> float:
    ref, hyp = normalize(ref), normalize(hyp)
    return levenshtein(hyp, ref) / max(1, len(ref))


_KEY = [
    re.compile(r"\d{4}-\d{2}-\d{2}(?: ?\d{2}:\d{2})?"),                       # dates and times
    re.compile(r"\d+(?:\.\d+)?(?:mg|g|ml|mL|mmol/L|μmol/L|umol/L|g/L|mg/L|U/L|pg/mL|ng/mL|mmHg|次/分|℃|%|×10\^\d+/L|10\^\d+/L)"),
    re.compile(r"ZY\d{9}"),                                                    # admission numbers
    re.compile(r"(?<=诊断[：:])[^，。；\s]{2,20}"),                               # diagnosis phrases
]


def key_fields(truth: str) -> list[str]:
    text = unicodedata.normalize("NFKC", truth)
    return [normalize(m.group(0)) for rx in _KEY for m in rx.finditer(text)]


def fields_found(hyp: str, fields: list[str]) -> int:
    h = normalize(hyp)
    return sum(1 for f in fields if f in h)


# ---------------------------------------------------------------------------------------------
# Pages


def _spread(items: list, n: int) -> list:
    """n items evenly spaced over the list: different document types, not n cover pages."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


def _render(pdf_path: Path, index: int, dpi: int) -> np.ndarray:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return np.asarray(pdf[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L"))
    finally:
        pdf.close()


def _noisy(gray: np.ndarray, rng) -> np.ndarray:
    h, w = gray.shape
    g = cv2.warpAffine(gray, cv2.getRotationMatrix2D((w / 2, h / 2), 1.5, 1.0), (w, h), borderValue=255)
    g = cv2.GaussianBlur(g, (3, 3), 0.8)
    salt = rng.random(g.shape)
    g[salt < 0.001] = 0
    g[salt > 0.999] = 255
    return cv2.imdecode(cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, 35])[1], cv2.IMREAD_GRAYSCALE)


def clinical_pages(n: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """Passages of real records (yidu-s4k) drawn on A4 at 200 dpi and aged like a scan."""
    from PIL import Image, ImageDraw, ImageFont

    from pipeline.synth.render_scan import degrade

    shared = Path(os.environ.get("MEDREVIEW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    corpus = shared / "yidu-s4k" / "train.jsonl"
    if not corpus.is_file():
        return []
    docs = [json.loads(ln)["text"] for ln in corpus.open(encoding="utf-8")]
    rng = np.random.default_rng(seed)
    font = ImageFont.truetype(FONT, 29, index=0)  # 10.5 pt at 200 dpi
    out = []
    for k in rng.choice(len(docs), size=n, replace=False):
        text = re.sub(r"\s+", "", docs[int(k)])[:1200]
        lines = [text[i:i + 44] for i in range(0, len(text), 44)][:45]
        img = Image.new("L", (1654, 2339), 255)
        draw = ImageDraw.Draw(img)
        for j, ln in enumerate(lines):
            draw.text((165, 200 + j * 46), ln, fill=0, font=font)
        aged = degrade(np.asarray(img), rng, 200, None)
        out.append((np.asarray(aged.convert("L")), "\n".join(lines)))
    return out


def gather(work: Path, n_pages: int, seed: int) -> dict[str, list[tuple[np.ndarray, str]]]:
    from pipeline.synth import generate

    out = work / "synth"
    generate(out, records=max(2, n_pages), hospitals=1, seed=seed, forms=("text", "scan"), workers=1)
    text_pages = []
    for pdf in sorted((out / "text").rglob("*.pdf")):
        truth_dir = out / "truth" / pdf.parent.name / pdf.stem
        text_pages += [(pdf, i, t) for i, t in enumerate(sorted(truth_dir.glob("page-*.txt")))]
    rng = np.random.default_rng(seed)
    kinds: dict[str, list] = {"clean": [], "noisy": [], "100-dpi": [], "scan": []}
    for pdf, i, t in _spread(text_pages, n_pages):
        truth = t.read_text(encoding="utf-8")
        kinds["clean"].append((_render(pdf, i, 200), truth))
        kinds["noisy"].append((_noisy(_render(pdf, i, 300), rng), truth))
        kinds["100-dpi"].append((_render(pdf, i, 100), truth))
    scans = []
    for img in sorted((out / "scan").rglob("page-*")):
        t = out / "truth" / img.parent.parent.name / img.parent.name / (img.stem + ".txt")
        if t.is_file():
            scans.append((img, t))
    kinds["scan"] = [(cv2.imread(str(img), cv2.IMREAD_GRAYSCALE), t.read_text(encoding="utf-8"))
                     for img, t in _spread(scans, n_pages)]
    kinds["clinical"] = clinical_pages(n_pages, seed)
    return {k: v for k, v in kinds.items() if v}


# ---------------------------------------------------------------------------------------------
# Measurements


def compare(kinds: dict, variants: dict[str, dict], work: Path, repeats: int) -> dict:
    """Every page through every variant, alternating; per variant and page kind: per-page step
    seconds (wall, CPU), CER and key fields."""
    from pipeline import store
    from pipeline.read.stage import ReadStage

    db_path = work / "scratch.db"
    db = store.connect(db_path)
    stages, ctxs, tasks, records = {}, {}, {}, {}
    for name, opts in variants.items():
        stages[name] = ReadStage(db_path=db_path, engine="rapidocr", **opts)
        ctxs[name] = {}
    folders = {}
    for kind, pages in kinds.items():
        folders[kind] = work / "pages" / kind
        folders[kind].mkdir(parents=True)
        for i, (img, _) in enumerate(pages):
            cv2.imwrite(str(folders[kind] / f"page-{i + 1:03d}.png"), img)
    load = {}
    for name, st in stages.items():  # load and warm every engine before any page is timed
        t = time.perf_counter()
        st._engine(ctxs[name])
        load[name] = time.perf_counter() - t
    rows: dict = {name: {} for name in variants}
    for kind, pages in kinds.items():
        for name in variants:
            with store.transaction(db):
                rid = store.insert_one(db, "records", {"sha256": f"bench-{kind}-{name}", "source_path": str(folders[kind]),
                                                       "kind": "image-folder", "created_at": store.now(), "updated_at": store.now()})
            records[name] = next(db.query("SELECT * FROM records WHERE id = ?", [rid]))
            rows[name][kind] = []
        for rep in range(repeats):
            its = {name: st.work({**st.prepare(db, records[name]), "done": []}, ctxs[name]) for name, st in stages.items()}
            for i in range(len(pages)):
                for name in (list(variants) if (i + rep) % 2 == 0 else list(variants)[::-1]):
                    res = next(its[name])
                    t, c = time.perf_counter(), time.process_time()
                    with store.transaction(db):
                        stages[name].save(db, records[name], res)
                    steps = dict(res.timings)
                    steps["store"] = (time.perf_counter() - t, time.process_time() - c)
                    if rep == 0:
                        fields = key_fields(pages[i][1])
                        rows[name][kind].append({"steps": [steps], "cer": cer(res.page.text, pages[i][1]),
                                                 "fields": len(fields), "found": fields_found(res.page.text, fields)})
                    else:
                        rows[name][kind][i]["steps"].append(steps)
    return {"rows": rows, "load": load}


def _median_steps(page: dict) -> dict[str, tuple[float, float]]:
    """Per step, the median over the repeats of (wall, CPU)."""
    names = {k for s in page["steps"] for k in s}
    return {k: (statistics.median(s.get(k, (0, 0))[0] for s in page["steps"]),
                statistics.median(s.get(k, (0, 0))[1] for s in page["steps"])) for k in names}


def report(result: dict, nodes: int) -> None:
    rows = result["rows"]
    names = list(rows)
    base = names[0]
    print("\n## per page kind: CPU s/page (median over pages), wall s/page, CER, key fields")
    print(f"{'kind':<10}{'variant':<14}{'pages':>6}{'CPU s':>8}{'wall s':>8}{'CPU ×':>7}{'CER':>9}{'Δ CER pt':>9}{'fields':>12}")
    totals = {n: [] for n in names}
    for kind in rows[base]:
        base_cpu = [sum(c for _, c in _median_steps(p).values()) for p in rows[base][kind]]
        base_cer = float(np.mean([p["cer"] for p in rows[base][kind]]))
        for n in names:
            pages = rows[n][kind]
            cpu = [sum(c for _, c in _median_steps(p).values()) for p in pages]
            wall = [sum(w for w, _ in _median_steps(p).values()) for p in pages]
            totals[n] += cpu
            ratio = sum(base_cpu) / max(sum(cpu), 1e-9)
            c = float(np.mean([p["cer"] for p in pages]))
            f, ft = sum(p["found"] for p in pages), sum(p["fields"] for p in pages)
            print(f"{kind:<10}{n:<14}{len(pages):>6}{statistics.median(cpu):>8.2f}{statistics.median(wall):>8.2f}"
                  f"{ratio:>7.2f}{c:>9.3%}{(c - base_cer) * 100:>+9.2f}{f:>6}/{ft:<5}")
    print("\n## all pages: seconds per page per step (mean over pages of the median over repeats) and share")
    header = "".join(f"{n + ' CPU':>16}{'share':>7}" for n in names)
    print(f"{'step':<14}{header}")
    means = {}
    for n in names:
        pages = [p for kind in rows[n] for p in rows[n][kind]]
        steps = [_median_steps(p) for p in pages]
        means[n] = {k: float(np.mean([s.get(k, (0, 0))[1] for s in steps])) for k in {k for s in steps for k in s}}
    for step in [s for s in STEPS if any(s in means[n] for n in names)] + sorted({k for n in names for k in means[n]} - set(STEPS)):
        cells = ""
        for n in names:
            v, tot = means[n].get(step, 0.0), sum(means[n].values())
            cells += f"{v:>16.3f}{v / tot:>7.1%}"
        print(f"{step:<14}{cells}")
    print(f"{'all':<14}" + "".join(f"{sum(means[n].values()):>16.3f}{1:>7.0%}" for n in names))
    print(f"engine load + warm-up (s): " + ", ".join(f"{n} {s:.1f}" for n, s in result["load"].items()))
    print(f"\n## county: {COUNTY_PAGES:,} scanned pages, one single-threaded OCR worker per core (CPU s/page ÷ cores)")
    for n in names:
        cpu = float(np.mean(totals[n]))
        days = COUNTY_PAGES * cpu / 2 / 86400
        print(f"{n:<14} {cpu:6.2f} CPU s/page = {cpu / 2:5.2f} s/page on 2 cores: {days:6.1f} days on one 2-core machine, "
              f"{days / nodes:5.1f} days on {nodes} such Ray nodes ({days / nodes * 24:6.1f} h)")
    print(f"CPU ratio {base} / {names[-1]} over all pages: {sum(totals[base]) / sum(totals[names[-1]]):.2f}×")


TEXT_READERS = ("pdfminer", "pdfium")  # ReadConfig.text_reader: today's first


def text_layer_speed(pdfs: list[Path], min_pages: int = 100) -> dict[str, tuple[int, float, float]]:
    """Per text reader, (pages, wall seconds, CPU seconds) of the stage on text-layer PDFs,
    the readers alternating file by file, repeated to ``min_pages`` each."""
    from pipeline.read.stage import ReadStage

    stages = {r: ReadStage(engine="rapidocr", text_reader=r) for r in TEXT_READERS}  # OCR never loaded
    out = {r: [0, 0.0, 0.0] for r in TEXT_READERS}
    with tempfile.TemporaryDirectory() as d:
        while min(v[0] for v in out.values()) < min_pages:
            for k, p in enumerate(pdfs):
                task = {"record_id": 1, "source_path": str(p), "kind": "pdf", "done": [], "db_path": None, "pages_dir": d}
                for r in (TEXT_READERS if k % 2 == 0 else TEXT_READERS[::-1]):
                    wall, cpu = time.perf_counter(), time.process_time()
                    n = sum(res.page.text_source == "pdf-text" for res in stages[r].work(task, {}))
                    out[r][0] += n
                    out[r][1] += time.perf_counter() - wall
                    out[r][2] += time.process_time() - cpu
            if min(v[0] for v in out.values()) == 0:
                break
    return {r: tuple(v) for r, v in out.items()}


def print_text_layer_speed(speeds: dict[str, tuple[int, float, float]]) -> None:
    base = TEXT_READERS[0]
    print("text layer (read stage on the generator's text PDFs, one core, readers alternating):")
    for r, (n, wall, cpu) in speeds.items():
        print(f"  {r:<9} {n} pages, {n / cpu:7.1f} pages per CPU-second, {n / wall:7.1f} pages/s wall, "
              f"×{(speeds[base][2] / speeds[base][0]) / (cpu / n):.2f} against {base}")


def parse_try(spec: str) -> tuple[str, dict]:
    """``name:rec_batch=32,angle_check=always`` → (name, ReadConfig fields; values parsed as YAML)."""
    import yaml

    name, _, fields = spec.partition(":")
    if not name or not fields:
        raise SystemExit(f"--try wants NAME:KEY=VAL,..., got {spec!r}")
    return name, {k.strip(): yaml.safe_load(v) for k, v in (f.split("=", 1) for f in fields.split(","))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=3, help="pages per page kind")
    ap.add_argument("--repeats", type=int, default=1, help="times each page is read by each variant")
    ap.add_argument("--seed", type=int, default=2027, help="generator seed (not one the code was tuned on)")
    ap.add_argument("--ladder", action="store_true", help="also one variant per change between today and new")
    ap.add_argument("--try", dest="tries", action="append", default=[], metavar="NAME:KEY=VAL,...",
                    help="an extra variant: ReadConfig's defaults with these fields changed (repeatable)")
    ap.add_argument("--nodes", type=int, default=10, help="Ray nodes for the projection")
    ap.add_argument("--text-only", action="store_true", help="measure text-layer speed only")
    ap.add_argument("--text-pages", type=int, default=100, help="text-layer pages per reader (at least)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kinds = gather(work, args.pages, args.seed)
        print_text_layer_speed(text_layer_speed(sorted((work / "synth" / "text").rglob("*.pdf")),
                                                args.text_pages))
        if args.text_only:
            return
        variants = {"today": TODAY, **(LADDER if args.ladder else {}), **dict(map(parse_try, args.tries)), "new": {}}
        print("pages per kind: " + ", ".join(f"{k} {len(v)}" for k, v in kinds.items()), flush=True)
        report(compare(kinds, variants, work, args.repeats), args.nodes)


if __name__ == "__main__":
    sys.exit(main())
