"""Environment checks for `medreview doctor`: what is installed, what is missing, how to fix it."""
from __future__ import annotations

import importlib
import importlib.metadata as md
import shutil
import subprocess
from pathlib import Path

CJK_FONTS = [
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
]
REPO = Path(__file__).resolve().parent.parent


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _check(name, ok, detail, optional=False):
    return {"name": name, "ok": bool(ok), "detail": detail, "optional": optional}


def run_checks() -> list[dict]:
    checks = []
    fonts = [str(p) for p in CJK_FONTS if p.exists()]
    checks.append(_check("CJK TrueType font", fonts, ", ".join(fonts) or
                         "missing: apt-get install fonts-wqy-microhei (needed to render sample records)"))
    for dist in ("spacy", "jieba", "scikit-learn", "pdfplumber", "pypdfium2", "sqlite-utils", "onnxruntime"):
        v = _version(dist)
        checks.append(_check(dist, v, v or f"missing: pip install {dist}"))
    v = _version("rapidocr")
    models = []
    if v:
        pkg = Path(importlib.import_module("rapidocr").__file__).parent / "models"
        models = sorted(p.name for p in pkg.glob("*.onnx"))
    shipped = v == "3.10.0" and {"PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"} <= set(models)
    checks.append(_check("rapidocr (default OCR)", shipped,
                         f"{v}, models in wheel: {', '.join(models)}" if v else "missing: pip install rapidocr==3.10.0"))
    try:
        from pipeline.read import engines
    except ImportError:
        engines = None
    if engines is not None and hasattr(engines, "available"):
        for e in engines.available():
            checks.append(_check(f"OCR engine {e['name']}", e["available"], e["detail"], optional=e["name"] != "rapidocr"))
    else:
        tess = shutil.which("tesseract")
        langs = ""
        if tess:
            out = subprocess.run([tess, "--list-langs"], capture_output=True, text=True, timeout=20)
            langs = out.stdout
        checks.append(_check("tesseract + chi_sim", tess and "chi_sim" in langs,
                             "found" if tess and "chi_sim" in langs else
                             "optional: apt-get install tesseract-ocr tesseract-ocr-chi-sim", optional=True))
    ner = REPO / "models" / "ner"
    checks.append(_check("NER model (models/ner)", (ner / "model").exists() or (ner / "meta.json").exists(),
                         str(ner) if ner.exists() else "missing: run `medreview train ner`", optional=True))
    ray = _version("ray")
    checks.append(_check("ray (distributed extra)", ray, ray or "optional: pip install '.[distributed]'", optional=True))
    chromium = shutil.which("chromium")
    pw = _version("playwright")
    checks.append(_check("chromium + playwright (browser tests)", chromium and pw,
                         f"{chromium}, playwright {pw}" if chromium and pw else
                         "optional: apt-get install chromium; pip install playwright", optional=True))
    return checks
