"""PaddleOCR 3.x from local model directories only (the ``paddle`` extra); it never downloads.

Set MEDREVIEW_PADDLE_DET_DIR and MEDREVIEW_PADDLE_REC_DIR to directories that each hold an
``inference.yml`` plus Paddle weights or ``inference.onnx``; the model names are read from the
``inference.yml`` files (override with MEDREVIEW_PADDLE_DET_NAME / _REC_NAME).
"""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import numpy as np

from pipeline.record.page import Line
from pipeline.read.engines.base import EngineUnavailable, line_from_polygon

ENV_DIRS = {"det": "MEDREVIEW_PADDLE_DET_DIR", "rec": "MEDREVIEW_PADDLE_REC_DIR"}


def _model_name(model_dir: Path, kind: str) -> str | None:
    env = os.environ.get(f"MEDREVIEW_PADDLE_{kind.upper()}_NAME")
    if env:
        return env
    yml = model_dir / "inference.yml"
    m = re.search(r"model_name:\s*([\w.\-]+)", yml.read_text(encoding="utf-8", errors="replace"))
    return m.group(1) if m else None


def _dirs(options: dict) -> dict[str, Path | None]:
    out = {}
    for kind, env in ENV_DIRS.items():
        val = options.get(f"{kind}_dir") or os.environ.get(env)
        out[kind] = Path(val) if val else None
    return out


def check(options: dict | None = None) -> tuple[bool, str]:
    missing = [m for m in ("paddleocr", "paddle") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"未安装 {', '.join(missing)} (pip install -e '.[paddle]')"
    problems = []
    for kind, d in _dirs(options or {}).items():
        if d is None:
            problems.append(f"set {ENV_DIRS[kind]}")
        elif not (d / "inference.yml").is_file():
            problems.append(f"{ENV_DIRS[kind]}={d} has no inference.yml")
    if problems:
        return False, "本地模型目录未配置 (local model dirs missing): " + "; ".join(problems)
    return True, "paddleocr with local models: " + ", ".join(str(d) for d in _dirs(options or {}).values())


def version(**options) -> str:
    import paddleocr

    names = {k: _model_name(d, k) for k, d in _dirs(options).items() if d is not None}
    return f"{paddleocr.__version__}/{names.get('det')}+{names.get('rec')}"


class PaddleEngine:
    name = "paddleocr"

    def __init__(self, threads: int = 2, **options):
        ok, detail = check(options)
        if not ok:
            raise EngineUnavailable(detail)
        # Never let PaddleX reach for a model hoster.
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        from paddleocr import PaddleOCR

        dirs = _dirs(options)
        names = {k: _model_name(d, k) for k, d in dirs.items()}
        kwargs = dict(
            text_detection_model_dir=str(dirs["det"]),
            text_recognition_model_dir=str(dirs["rec"]),
            text_detection_model_name=names["det"],
            text_recognition_model_name=names["rec"],
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            enable_mkldnn=False,  # paddlepaddle 3.3 CPU prediction fails with oneDNN on
            cpu_threads=int(threads),
        )
        if options.get("engine") == "onnxruntime":
            kwargs["engine"] = "onnxruntime"
        self._ocr = PaddleOCR(**kwargs)
        self.version = version(**options)

    def recognize(self, image: np.ndarray, source: str | None = None, clock=None) -> list[Line]:
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        lines = []
        for res in self._ocr.predict(image):
            data = res.json.get("res", res.json) if hasattr(res, "json") else res
            for text, score, poly in zip(data["rec_texts"], data["rec_scores"], data["rec_polys"]):
                if text and text.strip():
                    lines.append(line_from_polygon(text, np.asarray(poly).tolist(), score))
        return lines

    def upside_down_fraction(self) -> float | None:
        return None
