"""The CJK TrueType font used for generated PDFs and stamps.

A TrueType (glyf) font is required: pdfplumber reads 0 characters from PDFs embedding CFF/OTF CJK
fonts (../shared/OCR-NOTES.md). Override the path with MEDREVIEW_CJK_FONT.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

FONT_NAME = "WQYMicroHei"
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def font_path() -> Path:
    env = os.environ.get("MEDREVIEW_CJK_FONT")
    for cand in ([env] if env else []) + list(CANDIDATES):
        if cand and Path(cand).is_file():
            return Path(cand)
    raise FileNotFoundError(
        "no TrueType CJK font found (install Debian package fonts-wqy-microhei, or set MEDREVIEW_CJK_FONT)")


@functools.cache
def register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_path()), subfontIndex=0))
    return FONT_NAME
