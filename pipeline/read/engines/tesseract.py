"""Tesseract 5 (Debian ``tesseract-ocr`` + ``tesseract-ocr-chi-sim``) through its TSV output."""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess

import cv2
import numpy as np

from pipeline.record.page import Line

LANG = "chi_sim"
# chi_sim puts a space around every character group; drop those between CJK characters and
# next to punctuation, keep the ones between CJK and digits or Latin words.
_CJK = r"\u3000-\u9fff\uff00-\uffef"
_PUNCT = r":;,.!?()/%\[\]"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}]) +(?=[{_CJK}{_PUNCT}])|(?<=[{_CJK}{_PUNCT}]) +(?=[{_CJK}])")


def check() -> tuple[bool, str]:
    exe = shutil.which("tesseract")
    if not exe:
        return False, "tesseract 未安装 (apt-get install tesseract-ocr tesseract-ocr-chi-sim)"
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"tesseract --list-langs failed: {exc}"
    if LANG not in out.stdout.split():
        return False, f"tesseract 缺少 {LANG} 语言包 (apt-get install tesseract-ocr-chi-sim)"
    return True, f"{exe} with {LANG}"


def version(**_options) -> str:
    out = subprocess.run([shutil.which("tesseract") or "tesseract", "--version"], capture_output=True, text=True)
    return out.stdout.split("\n")[0].replace("tesseract ", "").strip() + f"/{LANG}"


class TesseractEngine:
    name = "tesseract"

    def __init__(self, threads: int = 1, **_options):
        ok, detail = check()
        if not ok:
            from pipeline.read.engines.base import EngineUnavailable

            raise EngineUnavailable(detail)
        self._exe = shutil.which("tesseract")
        self.version = version()
        # Its OpenMP threads fight each other on small machines and make it several times slower.
        self._env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def recognize(self, image: np.ndarray, source: str | None = None, clock=None) -> list[Line]:
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise ValueError("cannot encode page image for tesseract")
        proc = subprocess.run(
            [self._exe, "stdin", "stdout", "-l", LANG, "--psm", "3", "tsv"],
            input=png.tobytes(), capture_output=True, env=self._env, timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed (exit {proc.returncode})")
        rows = csv.DictReader(io.StringIO(proc.stdout.decode("utf-8", "replace")), delimiter="\t",
                              quoting=csv.QUOTE_NONE)
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            if r.get("level") == "5" and (r.get("text") or "").strip():
                key = (r["page_num"], r["block_num"], r["par_num"], r["line_num"])
                groups.setdefault(key, []).append(r)
        lines = []
        for words in groups.values():
            x0 = min(int(w["left"]) for w in words)
            y0 = min(int(w["top"]) for w in words)
            x1 = max(int(w["left"]) + int(w["width"]) for w in words)
            y1 = max(int(w["top"]) + int(w["height"]) for w in words)
            text = _CJK_GAP.sub("", " ".join(w["text"].strip() for w in words))
            conf = sum(max(float(w["conf"]), 0.0) for w in words) / len(words) / 100.0
            lines.append(Line(text=text, bbox=(x0, y0, x1, y1), confidence=conf))
        return lines

    def upside_down_fraction(self) -> float | None:
        return None
