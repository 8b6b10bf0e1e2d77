"""The reading stage: every page of a record → ordered lines of text with geometry.

Modules: ``config`` (settings and guards), ``textlayer`` (pdfplumber text layers), ``raster``
(page images from PDFs, image files and page-image folders), ``preprocess`` (orientation, skew,
contrast), ``engines`` (OCR engine registry), ``coverage`` (re-reads text the engine skipped),
``layout`` (reading order), ``page`` (one page end to end), ``timing`` (seconds per step of a
page), ``stage`` (``ReadStage``).
"""
