"""Build a record's pages and lines in a temp database without OCR (segmentation tests)."""
from __future__ import annotations

from pipeline import store
from pipeline.segment.model import SLine


def page_lines(pages: list[str]) -> list[SLine]:
    """Pages of text (one line per text line, no geometry) as segmentation input."""
    out, lid = [], 1
    for p, text in enumerate(pages, 1):
        for n, t in enumerate(text.strip("\n").split("\n")):
            out.append(SLine(lid, 100 + p, p, n, t))
            lid += 1
    return out


def load_record(db, pages: list, *, hospital_id: str = "H01", name: str = "r1.pdf") -> int:
    """Insert a record at stage 'read' with its pages. A page is a text (one line per text
    line) or a list of cell dicts {text, x0, x1, row_no} for table pages."""
    now = store.now()
    with store.transaction(db):
        store.insert_one(db, "hospitals", {"id": hospital_id, "name": hospital_id, "created_at": now},
                         on_conflict="ignore")
        rid = store.insert_one(db, "records", {
            "sha256": f"sha-{hospital_id}-{name}", "source_path": f"/batch/{hospital_id}/{name}",
            "kind": "pdf", "hospital_id": hospital_id, "stage": "read", "created_at": now,
            "updated_at": now})
        for p, page in enumerate(pages, 1):
            pid = store.insert_one(db, "pages", {"record_id": rid, "page_no": p, "source_ref": f"pdf:{p - 1}",
                                                 "width": 600, "height": 800, "unit": "pt",
                                                 "text_source": "pdf-text", "created_at": now})
            cells = ([{"text": t} for t in page.strip("\n").split("\n")] if isinstance(page, str) else page)
            store.insert_many(db, "lines", [
                {"page_id": pid, "line_no": n, "text": c["text"], "x0": c.get("x0"), "x1": c.get("x1"),
                 "y0": c.get("y0"), "y1": c.get("y1"), "row_no": c.get("row_no"), "col_no": None,
                 "confidence": 1.0} for n, c in enumerate(cells)])
    return rid
