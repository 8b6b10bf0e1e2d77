"""rapidocr 3.x with the PP-OCRv6 small models shipped inside its wheel (never a downloaded model)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.record.page import Line
from pipeline.read.engines.base import EngineUnavailable, line_from_polygon

# Only these files ship in the rapidocr 3.10 wheel; any other model version is fetched from the
# network at first use, which must never happen (see shared OCR-NOTES).
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
PINNED_VERSION = "3.10.0"


def _model_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


def check() -> tuple[bool, str]:
    try:
        from rapidocr._version import version
    except ImportError:
        return False, "rapidocr 未安装 (pip install rapidocr==3.10.0 onnxruntime)"
    missing = [f for f in MODEL_FILES.values() if not (_model_dir() / f).is_file()]
    if missing:
        return False, f"rapidocr {version}: shipped models missing: {', '.join(missing)}"
    note = "" if version == PINNED_VERSION else f" (tested with {PINNED_VERSION})"
    return True, f"rapidocr {version}{note}, models {', '.join(MODEL_FILES.values())} in {_model_dir()}"


def version(**_options) -> str:
    from rapidocr._version import version as v

    return f"{v}/PP-OCRv6-small"


class RapidEngine:
    name = "rapidocr"

    def __init__(self, threads: int = 2, **_options):
        ok, detail = check()
        if not ok:
            raise EngineUnavailable(detail)
        from rapidocr import RapidOCR

        models = _model_dir()
        params = {
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": int(threads),
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        for task, fname in MODEL_FILES.items():
            params[f"{task}.model_path"] = str(models / fname)

        class _Capturing(RapidOCR):
            # The final output drops the angle classifier's labels; keep them to tell an
            # upside-down page from an upright one.
            def run_ocr_steps(inner, img, op_record):
                det, cls, rec, crops = super().run_ocr_steps(img, op_record)
                inner.last_cls = getattr(cls, "cls_res", None)
                return det, cls, rec, crops

        self._ocr = _Capturing(params=params)
        self._ocr.last_cls = None
        self.version = version()
        self._warm()

    def _warm(self) -> None:
        # The first call after loading is much slower; pay it before the first real page.
        img = np.full((64, 320, 3), 255, np.uint8)
        import cv2

        cv2.putText(img, "warm 123", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
        self._ocr(img)

    def recognize(self, image: np.ndarray, source: str | None = None) -> list[Line]:
        if image.ndim == 2:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        self._ocr.last_cls = None
        # rapidocr keeps per-call switches as settings: always pass them all.
        out = self._ocr(image, use_det=True, use_cls=True, use_rec=True)
        if out is None or getattr(out, "boxes", None) is None or not getattr(out, "txts", None):
            return []
        return [
            line_from_polygon(t, box, s)
            for box, t, s in zip(out.boxes, out.txts, out.scores)
            if t and t.strip()
        ]

    def recognize_line(self, image: np.ndarray) -> tuple[str, float]:
        """Text of an image holding one upright line (no detection: a thin crop upscaled for the
        detector would cost more than the whole page). No direction classifier either: the page is
        already upright, and on a long thin crop squeezed to its input it calls many lines upside
        down (a 2,000-px line came back as '/：m' instead of its 60 characters)."""
        if image.ndim == 2:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        out = self._ocr(image, use_det=False, use_cls=False, use_rec=True)
        txts = getattr(out, "txts", None)
        if not txts:
            return "", 0.0
        return str(txts[0]), float(out.scores[0])

    def upside_down_fraction(self) -> float | None:
        labels = self._ocr.last_cls
        if not labels:
            return None
        flipped = sum(1 for lab, score in labels if str(lab) == "180" and score >= 0.9)
        return flipped / len(labels)
