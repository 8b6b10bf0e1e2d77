"""Settings of the reading stage, with the guards that reject absurd inputs."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline.run.options import parse_options

# Bumped when preprocessing or layout changes what an OCR result means, so cached results
# from an older version are not reused.
PIPELINE_VERSION = "read-3"


class ReadError(ValueError):
    """An input that cannot be read; the message names the problem (shown to the user)."""


@dataclass(frozen=True)
class ReadConfig:
    engine: str = "rapidocr"
    dpi: int = 200                    # rasterization dpi for PDF pages without a usable text layer
    # onnxruntime intra-op threads per OCR worker. One single-threaded worker per core reads scans
    # as fast as fewer workers with more threads, and text layers (no OCR) faster. Each OCR worker
    # holds its own model in memory (bench/ocr.py prints the peak RSS).
    ocr_threads: int = 1
    max_workers: int | None = None    # cap on OCR worker processes (None: cores // ocr_threads)
    # Guards against PDF bombs and absurd images.
    max_pages: int = 2000
    max_page_side_pt: float = 5000.0  # ~1.76 m; A0 is 3370 pt
    max_page_pixels: int = 80_000_000
    max_file_bytes: int = 2_000_000_000
    # Text layers: pdfium (its text page; pages it may misread go to pdfminer with the fast
    # tokenizer) | pdfminer (pdfminer.six alone). The same lines either way (textlayer.py).
    text_reader: str = "pdfium"
    # Text-layer decision.
    min_text_chars: int = 10          # fewer characters on a page with a big image → OCR
    min_good_char_ratio: float = 0.8  # below: garbage text layer (unmapped CID fonts, PUA) → OCR
    # Preprocessing.
    detect_orientation: bool = True
    deskew: bool = True
    min_skew_deg: float = 0.2         # smaller skews are left alone (rotation blurs)
    max_skew_deg: float = 10.0
    normalize_contrast: bool = True
    coverage_check: bool = True
    # Stored page images.
    image_format: str = "jpg"         # jpg | png
    jpeg_quality: int = 85
    # rapidocr inference (see engines/rapid.py; bench/ocr.py measures each setting against the
    # library's own call on the same pages). The shipped ONNX models either way.
    ocr_backend: str = "openvino"     # onnxruntime | openvino
    ocr_pipeline: str = "staged"      # library (rapidocr's own call) | staged
    det_text_px: int = 0              # text height detection runs at (staged; 0: the library's size)
    angle_check: str = "doubt"        # always: every line | doubt: a sample, all lines if it disagrees
    rec_pack: bool = True             # short crops share a recognition row (staged)
    rec_batch: int = 32               # most rows per recognition call
    det_threads: int = 0              # per-stage runtime threads (0: ocr_threads)
    rec_threads: int = 0
    # Engine-specific options (model dirs for paddleocr, sidecar behaviour for fake, ...).
    engine_options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_kwargs(cls, **kwargs) -> "ReadConfig":
        if isinstance(kwargs.get("engine_options"), dict):
            kwargs = dict(kwargs, engine_options=tuple(sorted(kwargs["engine_options"].items())))
        cfg = parse_options(cls, "read", kwargs)
        if cfg.dpi < 50 or cfg.dpi > 600:
            raise ValueError(f"dpi must be between 50 and 600, got {cfg.dpi}")
        if cfg.ocr_backend not in ("onnxruntime", "openvino"):
            raise ValueError(f"ocr_backend must be onnxruntime or openvino, got {cfg.ocr_backend!r}")
        if cfg.ocr_pipeline not in ("library", "staged"):
            raise ValueError(f"ocr_pipeline must be library or staged, got {cfg.ocr_pipeline!r}")
        if cfg.text_reader not in ("pdfium", "pdfminer"):
            raise ValueError(f"text_reader must be pdfium or pdfminer, got {cfg.text_reader!r}")
        if cfg.angle_check not in ("always", "doubt"):
            raise ValueError(f"angle_check must be always or doubt, got {cfg.angle_check!r}")
        if not 0 <= cfg.det_text_px <= 200 or not 1 <= cfg.rec_batch <= 256:
            raise ValueError("det_text_px must be 0–200 and rec_batch 1–256")
        if cfg.image_format not in ("jpg", "png"):
            raise ValueError(f"image_format must be jpg or png, got {cfg.image_format!r}")
        return cfg

    def as_dict(self) -> dict:
        return asdict(self)

    def engine_settings(self) -> dict:
        """What the OCR engine is built with (engines ignore what does not apply to them)."""
        return {"backend": self.ocr_backend, "pipeline": self.ocr_pipeline, "det_text_px": self.det_text_px,
                "angle_check": self.angle_check, "rec_pack": self.rec_pack, "rec_batch": self.rec_batch,
                "det_threads": self.det_threads, "rec_threads": self.rec_threads, **dict(self.engine_options)}
