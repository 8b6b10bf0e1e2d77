"""rapidocr 3.x with the PP-OCRv6 small models shipped inside its wheel (never a downloaded model).

Two ways through the same models (``ReadConfig.ocr_pipeline``):

- ``library``: rapidocr's own call: the page shrunk to at most 2,000 px a side for detection and
  every line through the angle classifier.
- ``staged``: detection, angle classification and recognition driven one by one: detection at
  the resolution that brings the page's text to ``det_text_px`` pixels high (never more pixels
  than the library's), crops cut from the full-resolution page, the angle classifier on a
  sample of lines and on all of them only when the sample disagrees, short crops sharing a
  recognition row (``rec_pack``), the page's lines in batches cut to the least padding, and
  each stage with its own thread count.

Either runs on onnxruntime or OpenVINO (``ocr_backend``); both load the same ONNX files.
"""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import cv2
import numpy as np

from pipeline.record.page import Line
from pipeline.read import preprocess
from pipeline.read.engines.base import EngineUnavailable, line_from_polygon
from pipeline.read.timing import StageClock

# Only these files ship in the rapidocr 3.10 wheel; any other model version is fetched from the
# network at first use, which must never happen (see shared OCR-NOTES).
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
PINNED_VERSION = "3.10.0"
BACKENDS = ("onnxruntime", "openvino")
PIPELINES = ("library", "staged")
ANGLE_CHECKS = ("always", "doubt")

# The library's detection size: the page's longer side at most 2,000 px, its shorter side at
# least 736 px, both multiples of 32.
LIBRARY_MAX_SIDE = 2000
LIBRARY_MIN_SIDE = 736
MIN_DET_SIDE = 320  # below this the detector loses whole lines on small pages
# Lines the angle classifier sees first. Long lines are squeezed into its 48×192 input and
# misread as upside down; lines of two to four times their height fit it unsqueezed.
ANGLE_SAMPLE = 6
ANGLE_FIT_RATIO = 4.0
# Recognition: a crop is padded to at least this width : height, and one more call costs about
# as much as this many line heights of width (measured with either runtime, one thread).
REC_GAP = 1.0  # blank between crops sharing a row, in line heights
REC_ALONE_RATIO = 1.5  # crops narrower than this (width : height) are read alone
REC_CALL_COST = 4.0


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
    runtimes = ", ".join(b for b in BACKENDS if importlib.util.find_spec(b) is not None) or "none"
    return True, (f"rapidocr {version}{note}, models {', '.join(MODEL_FILES.values())} in {_model_dir()}; "
                  f"runtimes: {runtimes}")


def version(*, backend: str = "onnxruntime", pipeline: str = "library", det_text_px: int = 0,
            angle_check: str = "always", rec_pack: bool = False, **_options) -> str:
    """Models, runtime and every setting that changes what is read (the OCR cache key)."""
    from rapidocr._version import version as v

    out = f"{v}/PP-OCRv6-small"
    if backend != "onnxruntime":
        out += f"/{backend}"
    if pipeline == "staged":
        out += f"/staged-det{det_text_px or 'lib'}-angle-{angle_check}" + ("-pack" if rec_pack else "")
    return out


class RapidEngine:
    name = "rapidocr"

    def __init__(self, threads: int = 1, *, backend: str = "onnxruntime", pipeline: str = "library",
                 det_text_px: int = 0, angle_check: str = "always", rec_batch: int = 6,
                 rec_pack: bool = False, det_threads: int = 0, rec_threads: int = 0, **_options):
        ok, detail = check()
        if not ok:
            raise EngineUnavailable(detail)
        if backend not in BACKENDS:
            raise ValueError(f"unknown OCR backend {backend!r}; choose from {', '.join(BACKENDS)}")
        if importlib.util.find_spec(backend) is None:
            raise EngineUnavailable(f"{backend} 未安装 (pip install {backend})")
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown OCR pipeline {pipeline!r}; choose from {', '.join(PIPELINES)}")
        if angle_check not in ANGLE_CHECKS:
            raise ValueError(f"unknown angle check {angle_check!r}; choose from {', '.join(ANGLE_CHECKS)}")
        from rapidocr import EngineType, RapidOCR

        params = {"Global.log_level": "warning", "Rec.rec_batch_num": int(rec_batch)}
        for task, fname in MODEL_FILES.items():
            params[f"{task}.model_path"] = str(_model_dir() / fname)
            params[f"{task}.engine_type"] = EngineType(backend)
        self._backend = backend
        self._staged = pipeline == "staged"
        self._det_text_px = int(det_text_px)
        self._angle_check = angle_check
        self._rec_batch = int(rec_batch)
        self._rec_pack = bool(rec_pack)
        self._last_labels: list[tuple[str, float]] | None = None
        self._clock = StageClock()  # the current library call's

        engine = self

        class _Capturing(RapidOCR):
            # The final output drops the angle classifier's labels; keep them to tell an
            # upside-down page from an upright one. Each step is timed on the call's clock.
            def run_ocr_steps(self, img, op_record):
                det, cls, rec, crops = super().run_ocr_steps(img, op_record)
                engine._last_labels = getattr(cls, "cls_res", None)
                return det, cls, rec, crops

            def detect_and_crop(self, img, op_record):
                with engine._clock("detection"):
                    return super().detect_and_crop(img, op_record)

            def cls_and_rotate(self, img):
                with engine._clock("angle"):
                    return super().cls_and_rotate(img)

            def recognize_txt(self, img):
                with engine._clock("recognition"):
                    return super().recognize_txt(img)

        self._lib = _Capturing(params=params)
        threads = int(threads)
        self._det = self._load(self._lib.cfg.Det, det_threads or threads, "ch_ppocr_det", "TextDetector")
        self._cls = self._load(self._lib.cfg.Cls, threads, "ch_ppocr_cls", "TextClassifier")
        self._rec = self._load(self._lib.cfg.Rec, rec_threads or threads, "ch_ppocr_rec", "TextRecognizer")
        # The library's own call uses these same sessions.
        self._lib.text_det, self._lib.text_cls, self._lib.text_rec = self._det, self._cls, self._rec
        self.version = version(backend=backend, pipeline=pipeline, det_text_px=det_text_px,
                               angle_check=angle_check, rec_pack=rec_pack)
        self._warm()

    def _load(self, task_cfg, threads: int, module: str, cls_name: str):
        import importlib

        cfg = copy.deepcopy(task_cfg)
        engine_cfg = copy.deepcopy(self._lib.cfg.EngineConfig[self._backend])
        if self._backend == "onnxruntime":
            engine_cfg.intra_op_num_threads = threads
            engine_cfg.inter_op_num_threads = 1
        else:
            engine_cfg.inference_num_threads = threads
        cfg.engine_cfg = engine_cfg
        cfg.model_root_dir = self._lib.cfg.Global.model_root_dir
        cfg.font_path = None
        return getattr(importlib.import_module(f"rapidocr.{module}"), cls_name)(cfg)

    def _warm(self) -> None:
        # The first call after loading is much slower; pay it before the first real page.
        img = np.full((96, 480), 255, np.uint8)
        cv2.putText(img, "warm 123", (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
        self.recognize(img)

    # -- pages --------------------------------------------------------------------------------

    def recognize(self, image: np.ndarray, source: str | None = None, clock: StageClock | None = None) -> list[Line]:
        clock = clock or StageClock()
        self._last_labels = None
        if not self._staged:
            bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            self._clock = clock
            # rapidocr keeps per-call switches as settings: always pass them all.
            out = self._lib(bgr, use_det=True, use_cls=True, use_rec=True)
            if out is None or getattr(out, "boxes", None) is None or not getattr(out, "txts", None):
                return []
            return [line_from_polygon(t, box, s) for box, t, s in zip(out.boxes, out.txts, out.scores) if t and t.strip()]

        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        with clock("detection"):
            boxes = self._detect(gray)
        if not len(boxes):
            return []
        with clock("crops"):
            crops = [_crop(gray, box) for box in boxes]
        with clock("angle"):
            crops = self._upright(crops)
        with clock("recognition"):
            texts = self._read(crops)
        score_min = self._lib.cfg.Global.text_score
        return [line_from_polygon(t, box.tolist(), s) for box, (t, s) in zip(boxes, texts)
                if t and t.strip() and s >= score_min]

    def _det_size(self, gray: np.ndarray) -> tuple[int, int]:
        """(width, height) detection runs at."""
        h, w = gray.shape[:2]
        scale = min(1.0, LIBRARY_MAX_SIDE / max(h, w))
        if min(h, w) * scale < LIBRARY_MIN_SIDE:
            scale = LIBRARY_MIN_SIDE / min(h, w)
        if self._det_text_px:
            text_h = preprocess.text_height(gray)
            if text_h:
                floor = MIN_DET_SIDE / min(h, w)
                scale = min(scale, max(floor, self._det_text_px / text_h))
        return max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32)

    def _detect(self, gray: np.ndarray) -> np.ndarray:
        det = self._det
        h, w = gray.shape[:2]
        # Very wide, short images (a cropped line) are padded to a shape the detector handles, as
        # the library does.
        min_h, ratio = self._lib.cfg.Global.min_height, self._lib.cfg.Global.width_height_ratio
        pad = 0
        if h <= min_h or w / h > ratio:
            pad = int(abs(max(int(w / ratio), min_h) * 2 - h) / 2)
            gray = cv2.copyMakeBorder(gray, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=0)
            h += 2 * pad
        dw, dh = self._det_size(gray)
        small = cv2.resize(gray, (dw, dh)).astype(np.float32)
        mean = np.asarray(det.mean, np.float32).reshape(3, 1, 1)
        std = np.asarray(det.std, np.float32).reshape(3, 1, 1)
        x = ((small[None] * np.float32(1 / 255.0) - mean) / std)[None].astype(np.float32)
        preds = det.session(np.ascontiguousarray(x))
        boxes, _ = det.postprocess_op(preds, (h, w))
        if len(boxes) < 1:
            return np.zeros((0, 4, 2), np.float32)
        boxes = det.sorted_boxes(boxes).astype(np.float32)
        if pad:
            boxes[:, :, 1] = np.clip(boxes[:, :, 1] - pad, 0, h - 2 * pad)
        return boxes

    def _upright(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Crops turned upright; the classifier's labels kept for ``upside_down_fraction``."""
        cls = self._cls
        if self._angle_check == "always":
            res = cls(crops)
            self._last_labels = list(res.cls_res)
            return res.img_list
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        fit = sorted(range(len(crops)), key=lambda i: (ratios[i] > ANGLE_FIT_RATIO, -min(ratios[i], ANGLE_FIT_RATIO)))
        sample = fit[:ANGLE_SAMPLE]
        res = cls([crops[i] for i in sample])
        labels = list(res.cls_res)
        sure = [score >= cls.cls_thresh for _, score in labels]
        flipped = [str(lab) == "180" and ok for (lab, _), ok in zip(labels, sure)]
        if all(sure) and not any(flipped):
            self._last_labels = labels
            return crops
        if all(flipped):
            self._last_labels = labels
            return [cv2.rotate(c, cv2.ROTATE_180) for c in crops]
        res = cls(crops)
        self._last_labels = list(res.cls_res)
        return res.img_list

    def _read(self, crops: list[np.ndarray], pack: bool = True) -> list[tuple[str, float]]:
        """Text and score per crop.

        The model reads a crop padded to at least 320 px (the library's floor; short crops read
        worse with less), so most of a table's cost is padding. With ``rec_pack`` short crops
        share such a row, side by side with a blank gap, and each one's text is decoded from its
        own span of the output; crops of one or two characters stay alone (next to other text
        the model guesses their case: "Cl" became "CI", "s" "S"). Rows and long crops are
        sorted by width and cut into batches that balance the padding each batch adds (every
        row is padded to the batch's widest) against the cost of one more call."""
        rec = self._rec
        _, img_h, img_w = rec.rec_image_shape
        floor = img_w / img_h
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        # rows: (width ratio, [(crop index, start, end)]), positions in line heights
        rows: list[tuple[float, list[tuple[int, float, float]]]] = []
        short = sorted((i for i in range(len(crops)) if ratios[i] < floor), key=lambda i: -ratios[i])
        shared = [i for i in short if pack and self._rec_pack and ratios[i] >= REC_ALONE_RATIO]
        alone = set(short) - set(shared)
        rows += [(floor, [(i, 0.0, ratios[i])]) for i in short if i in alone]
        open_rows: list[list] = []  # first fit, widest first
        for i in shared:
            for row in open_rows:
                if row[0] + REC_GAP + ratios[i] <= floor:
                    start = row[0] + REC_GAP
                    row[1].append((i, start, start + ratios[i]))
                    row[0] = start + ratios[i]
                    break
            else:
                open_rows.append([ratios[i], [(i, 0.0, ratios[i])]])
        rows += [(floor, segs) for _, segs in open_rows]
        rows += [(ratios[i], [(i, 0.0, ratios[i])]) for i in range(len(crops)) if ratios[i] >= floor]
        rows.sort(key=lambda r: r[0])
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch in plan_batches([r[0] for r in rows], self._rec_batch):
            widest = rows[batch[-1]][0]
            width = int(img_h * widest)
            x = np.zeros((len(batch), 3, img_h, width), np.float32)
            for b, k in enumerate(batch):
                for i, s0, s1 in rows[k][1]:
                    x0 = int(round(s0 * img_h))
                    w = max(1, min(width - x0, int(np.ceil(img_h * (s1 - s0)))))
                    x[b, :, :, x0:x0 + w] = _normalized(_bgr(crops[i]), w, img_h)
            preds = rec.session(x)
            steps = preds.shape[1]
            for b, k in enumerate(batch):
                segs = rows[k][1]
                if len(segs) == 1:
                    (i, _, _), = segs
                    (text, score), = rec.postprocess_op(preds[b:b + 1], False)[0]
                    out[i] = (str(text), float(score))
                    continue
                for i, s0, s1 in segs:
                    t0 = int(np.floor(s0 / widest * steps))
                    t1 = int(np.ceil(s1 / widest * steps))
                    (text, score), = rec.postprocess_op(preds[b:b + 1, t0:t1], False)[0]
                    out[i] = (str(text), float(score))
        return out

    # -- single lines ---------------------------------------------------------------------------

    def recognize_lines(self, images: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text of images each holding one upright line, in one batched call (no detection: a thin
        crop upscaled for the detector would cost more than the whole page). No direction
        classifier either: the page is already upright, and on a long thin crop squeezed to its
        input it calls many lines upside down."""
        if not images:
            return []
        # Alone in their rows: these are the doubtful bands (scribbles, stamps) that a
        # neighbour's context would talk into text.
        return self._read(images, pack=False)

    def upside_down_fraction(self) -> float | None:
        labels = self._last_labels
        if not labels:
            return None
        flipped = sum(1 for lab, score in labels if str(lab) == "180" and score >= 0.9)
        return flipped / len(labels)


def plan_batches(ratios: list[float], max_batch: int) -> list[range]:
    """Cut ascending widths into consecutive batches of at most ``max_batch`` with the least
    padded width plus per-call cost (dynamic programming over the cut points)."""
    n = len(ratios)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - max_batch), j):
            cost = best[i] + REC_CALL_COST + (j - i) * ratios[j - 1]
            if cost < best[j]:
                best[j], cut[j] = cost, i
    out, j = [], n
    while j > 0:
        out.append(range(cut[j], j))
        j = cut[j]
    return out[::-1]


def _normalized(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """A crop as the recognizer takes it (the library's scaling): (3, height, width) in [-1, 1]."""
    x = cv2.resize(img, (width, height)).astype(np.float32).transpose(2, 0, 1)
    return x * np.float32(2 / 255.0) - np.float32(1.0)


def _bgr(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def _crop(gray: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The line inside ``box`` straightened (as the library cuts it), turned upright when it
    stands much taller than wide, in the three channels the models take."""
    w = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    h = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(box.astype(np.float32), dst)
    out = cv2.warpPerspective(gray, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if out.shape[0] >= 1.5 * out.shape[1]:
        out = np.rot90(out)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
