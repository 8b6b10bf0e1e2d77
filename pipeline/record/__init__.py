"""The record model: one record's content as plain dataclasses, at the two moments it is exchanged.

``page``: a page as the reading stage produces it, before it is stored (lines with text, box,
confidence, reading order). ``view``: the stored record as every later consumer reads it (rules,
scoring, review): fields, documents, sections, labs, orders, charges, entities and lines, each
with the ids its ``Evidence`` points at. ``lines``: where a stored line lies in a section's text.

Segmentation sits between the two and keeps working structures of its own
(``pipeline/segment/model.py``): lines with their normalized text for matching titles and labels,
and documents and sections that hold those lines before any of them has a row id. They never
leave the stage; what it writes is read back as a ``view``.
"""
