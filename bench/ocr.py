"""Reading-stage benchmark: OCR accuracy (CER) and speed per engine and scan condition, the
stage's overhead over calling the engine directly, and text-layer pages per second.

Usage: python bench/ocr.py [--records 3] [--pages 3] [--engines rapidocr,tesseract] [--builtin] [--text-only]

Pages come from the sample generator (``pipeline.synth.generate``): its text-layer PDFs are
rendered into scan conditions (clean 300 dpi, clean 150 dpi, noisy 300 dpi = 1.5° skew + blur +
salt noise + JPEG q35) and its own scans are used as they are, each with its exact ground truth.
``--builtin`` (or a missing generator) uses three built-in record pages instead.
CER = Levenshtein distance / truth length on whitespace-free, NFKC-normalized text.
"direct" = engine.recognize on the raw image, lines in the engine's order; "stage" = ReadStage
on the same images (load, hash, orientation/skew, contrast, OCR, coverage check, reading order,
page-image write). Wall seconds depend on what else runs on the machine; CPU seconds (all threads
of the process) much less, so the overhead is computed on those. Each engine runs in its own
process so peak RSS is its own.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import cv2
import numpy as np

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


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


# ---------------------------------------------------------------------------------------------
# Inputs


def builtin_pdf(path: Path) -> Path:
    """Three record pages (~1,000 characters each): notes, an 11×5 lab table, an order sheet."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("WQY", FONT, subfontIndex=0))
    note = ("患者男性，58岁，因“反复咳嗽咳痰10年，加重伴气促3天”入院。患者10年前受凉后出现咳嗽、咳白色黏痰，"
            "冬春季节加重，每年持续3个月以上。3天前再次受凉后咳嗽加剧，咳黄色脓痰，伴活动后气促，夜间不能平卧。"
            "门诊查血常规示白细胞12.5×10^9/L，中性粒细胞百分比85.2%，C反应蛋白56.2mg/L，以“慢性阻塞性肺疾病急性加重”收入院。")
    pages = [
        [("入院记录", 16)] + [(f"{k}：{v}", 10.5) for k, v in [
            ("姓名", "张某某    性别：男    年龄：58岁    住院号：2020031501"),
            ("入院时间", "2020-03-15 09:30    记录时间：2020-03-15 11:20"),
            ("主诉", "反复咳嗽咳痰10年，加重伴气促3天。")]]
        + [(note[i:i + 40], 10.5) for i in range(0, len(note), 40)] * 3
        + [("体格检查：T 38.5℃  P 96次/分  R 24次/分  BP 135/85mmHg  SpO2 91%", 10.5),
           ("初步诊断：1.慢性阻塞性肺疾病急性加重  2.Ⅱ型呼吸衰竭  3.高血压病2级", 10.5)],
        [("检验报告单", 16), ("项目                    结果        单位          参考范围      提示", 10.5)]
        + [(f"{n:<12}{v:>10}    {u:<10}    {r:<12}  {f}", 10.5) for n, v, u, r, f in [
            ("白细胞计数", "12.5", "10^9/L", "3.5-9.5", "↑"), ("中性粒细胞百分比", "85.2", "%", "40-75", "↑"),
            ("淋巴细胞百分比", "9.1", "%", "20-50", "↓"), ("红细胞计数", "4.52", "10^12/L", "4.3-5.8", ""),
            ("血红蛋白", "138", "g/L", "130-175", ""), ("血小板计数", "215", "10^9/L", "125-350", ""),
            ("C反应蛋白", "56.2", "mg/L", "0-10", "↑"), ("降钙素原", "0.35", "ng/mL", "0-0.05", "↑"),
            ("肌酐", "86", "μmol/L", "57-111", ""), ("NT-proBNP", "1250", "pg/mL", "0-125", "↑"),
            ("血钾", "3.42", "mmol/L", "3.5-5.3", "↓")]] + [(note[i:i + 40], 10.5) for i in range(0, len(note), 40)] * 2,
        [("长期医嘱单", 16)] + [(t, 10.5) for t in [
            "2020-03-15 10:00  内科护理常规", "2020-03-15 10:00  二级护理", "2020-03-15 10:00  低盐低脂饮食",
            "2020-03-15 10:05  0.9%氯化钠注射液 100ml + 注射用哌拉西林他唑巴坦 4.5g ivgtt q8h",
            "2020-03-15 10:05  多索茶碱注射液 0.2g ivgtt qd", "2020-03-15 10:06  氨溴索注射液 30mg iv bid",
            "2020-03-15 10:06  苯磺酸氨氯地平片 5mg po qd", "2020-03-16 08:30  甲泼尼龙琥珀酸钠 40mg iv qd",
            "2020-03-16 08:31  布地奈德混悬液 2mg 雾化吸入 bid", "2020-03-17 09:00  停 甲泼尼龙琥珀酸钠"]]
        + [(note[i:i + 40], 10.5) for i in range(0, len(note), 40)] * 3,
    ]
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    for rows in pages:
        y = 790
        for text, size in rows:
            c.setFont("WQY", size)
            c.drawString(60, y, text)
            y -= size * 1.75
        c.showPage()
    c.save()
    return path


def gather(args, work: Path) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """(text PDFs to render, generator scan pages with their truth files)."""
    scans: list[tuple[Path, Path]] = []
    try:
        if args.builtin:
            raise ImportError
        from pipeline.synth import generate
    except ImportError:
        print("(sample generator not available: built-in pages)")
        return [builtin_pdf(work / "builtin.pdf")], scans
    out = work / "synth"
    generate(out, records=args.records, hospitals=1, seed=7, forms=("text", "scan"), workers=1)
    pdfs = sorted((out / "text").rglob("*.pdf"))
    for folder in sorted(p for p in (out / "scan").rglob("*") if p.is_dir() and any(p.glob("page-*")))[: args.records]:
        truth_dir = out / "truth" / folder.relative_to(out / "scan")
        for img in sorted(folder.glob("page-*")):
            t = truth_dir / (img.stem + ".txt")
            if t.is_file():
                scans.append((img, t))
    return pdfs, scans


def _spread(items: list, n: int) -> list:
    """n items evenly spaced over the list: different document types, not n cover pages."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


def conditions(pdfs: list[Path], scans, n_pages: int) -> dict[str, list[tuple[np.ndarray, str]]]:
    import pdfplumber
    import pypdfium2 as pdfium

    rng = np.random.default_rng(0)
    out: dict[str, list] = {"clean-300": [], "clean-150": [], "noisy-300": []}
    pages = []
    for path in pdfs:
        pdf = pdfium.PdfDocument(str(path))
        pages += [(path, i) for i in range(len(pdf))]
        pdf.close()
    for path, i in _spread(pages, n_pages):
        pdf = pdfium.PdfDocument(str(path))
        truth_file = path.parent.parent.parent / "truth" / path.parent.name / path.stem / f"page-{i + 1:03d}.txt"
        if truth_file.is_file():
            truth = truth_file.read_text(encoding="utf-8")
        else:
            with pdfplumber.open(str(path)) as pl:
                truth = "\n".join(ln["text"] for ln in pl.pages[i].extract_text_lines())
        for name, dpi in (("clean-300", 300), ("clean-150", 150)):
            out[name].append((np.asarray(pdf[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")), truth))
        pdf.close()
        g = out["clean-300"][-1][0]
        h, w = g.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.5, 1.0)
        g = cv2.warpAffine(g, m, (w, h), borderValue=255)
        g = cv2.GaussianBlur(g, (3, 3), 0.8)
        salt = rng.random(g.shape)
        g[salt < 0.001] = 0
        g[salt > 0.999] = 255
        g = cv2.imdecode(cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, 35])[1], cv2.IMREAD_GRAYSCALE)
        out["noisy-300"].append((g, truth))
    if scans:
        out["generator-scan"] = [(cv2.imread(str(img), cv2.IMREAD_GRAYSCALE), t.read_text(encoding="utf-8"))
                                 for img, t in _spread(scans, n_pages)]
    return out


# ---------------------------------------------------------------------------------------------
# Measurements


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its finished children (tesseract)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _engine_run(name: str, conds: dict, work: str, q) -> None:
    from pipeline.read import engines
    from pipeline.read.stage import ReadStage

    t = time.perf_counter()
    engine = engines.create(name, threads=2)
    load_s = time.perf_counter() - t
    rows = []
    for cond, pages in conds.items():
        folder = Path(work) / f"{name}-{cond}"
        folder.mkdir(parents=True)
        direct_s, direct_cpu, direct_cer = [], [], []
        for i, (img, truth) in enumerate(pages):
            cv2.imwrite(str(folder / f"page-{i + 1:03d}.png"), img)
            t, c = time.perf_counter(), _cpu()
            lines = engine.recognize(img)
            direct_s.append(time.perf_counter() - t)
            direct_cpu.append(_cpu() - c)
            direct_cer.append(cer("\n".join(ln.text for ln in lines), truth))
        stage = ReadStage(engine=name)
        ctx = {("read.engine", name, stage.cfg.ocr_threads, ()): engine}  # the same warm engine
        task = {"record_id": 1, "source_path": str(folder), "kind": "image-folder", "done": [],
                "db_path": None, "pages_dir": str(folder / "out")}
        stage_s, stage_cpu, stage_cer = [], [], []
        it = stage.work(task, ctx)
        for i in range(len(pages)):
            t, c = time.perf_counter(), _cpu()
            res = next(it)
            stage_s.append(time.perf_counter() - t)
            stage_cpu.append(_cpu() - c)
            stage_cer.append(cer(res.page.text, pages[i][1]))
        rows.append((cond, len(pages), float(np.mean(direct_cer)), float(np.mean(stage_cer)),
                     float(np.mean(direct_s)), float(np.mean(stage_s)),
                     float(np.mean(direct_cpu)), float(np.mean(stage_cpu))))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q.put((name, load_s, rss_mb, rows))


def text_layer_speed(pdfs: list[Path], min_pages: int = 100) -> tuple[int, float, float]:
    """(pages, wall seconds, CPU seconds) for the stage on text-layer PDFs, repeated to ``min_pages``.
    CPU seconds give pages/s per core even when other jobs share the machine."""
    from pipeline.read.stage import ReadStage

    stage = ReadStage(engine="rapidocr")  # never loaded: text-layer pages need no OCR
    n, wall, cpu = 0, time.perf_counter(), _cpu()
    with tempfile.TemporaryDirectory() as d:
        while n < min_pages:
            for p in pdfs:
                task = {"record_id": 1, "source_path": str(p), "kind": "pdf", "done": [], "db_path": None, "pages_dir": d}
                for res in stage.work(task, {}):
                    n += res.page.text_source == "pdf-text"
            if n == 0:
                break
    return n, time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=3, help="sample records to generate")
    ap.add_argument("--pages", type=int, default=3, help="pages per scan condition")
    ap.add_argument("--engines", default="", help="comma-separated engines (default: every available one)")
    ap.add_argument("--builtin", action="store_true", help="use the built-in pages, not the generator")
    ap.add_argument("--text-only", action="store_true", help="measure text-layer speed only")
    args = ap.parse_args()
    from pipeline.read import engines

    names = [e["name"] for e in engines.available() if e["available"] and e["name"] != "fake"]
    if args.engines:
        names = [n for n in args.engines.split(",") if n in names]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pdfs, scans = gather(args, work)
        n, wall, cpu = text_layer_speed(pdfs)
        print(f"text layer: {n} pages, {n / cpu:.1f} pages per CPU-second (one core), {n / wall:.1f} pages/s wall")
        if args.text_only:
            return
        conds = conditions(pdfs, scans, args.pages)
        print(f"{'engine':<10}{'condition':<16}{'pages':>6}{'CER direct':>12}{'CER stage':>11}"
              f"{'s/page dir':>11}{'s/page stage':>13}{'CPU-s dir':>10}{'CPU-s stage':>12}{'CPU overhead':>13}")
        ctx = mp.get_context("spawn")
        for name in names:
            q = ctx.Queue()
            p = ctx.Process(target=_engine_run, args=(name, conds, str(work), q))
            p.start()
            name, load_s, rss, rows = q.get()
            p.join()
            for cond, k, cd, cs, sd, ss, cpd, cps in rows:
                print(f"{name:<10}{cond:<16}{k:>6}{cd:>11.2%}{cs:>11.2%}{sd:>11.2f}{ss:>13.2f}"
                      f"{cpd:>10.2f}{cps:>12.2f}{(cps - cpd) / cpd:>13.1%}", flush=True)
            print(f"{name:<10}load+warm-up {load_s:.1f} s, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
