"""``SegmentStage``: the runner's ``segment`` stage (completes ``segmented``).

prepare reads the record's pages and lines; work segments them (no database); save replaces
the record's documents, sections, fields, labs, orders and bill lines; finish copies the key
fields to ``records``, computes the patient key and links the claims CSV rows.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline import store
from pipeline.run.options import parse_options
from pipeline.segment import claims_link, config, patient, profiles
from pipeline.segment.model import SLine
from pipeline.segment.record import segment


@dataclass(frozen=True)
class SegmentOptions:
    data_dir: str | None = None   # folder of doc_titles/sections/fields YAML (default: the packaged one)
    profiles: str | None = None   # folder of per-hospital profiles (default: $MEDREVIEW_PROFILES or profiles/)


class SegmentStage:
    name = "segmented"

    def __init__(self, db_path=None, **options):
        self.db_path = db_path
        self.options = parse_options(SegmentOptions, "segment", options)
        self.data_dir = self.options.data_dir

    def check(self) -> None:
        """The segmentation data and every hospital profile load now, so a bad file is a usage
        error naming the file and key before any record is segmented."""
        cfg = config.load(self.data_dir)
        folder = profiles.root(self.options.profiles)
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            profiles.parse(path, cfg)

    def prepare(self, db, record: dict) -> dict:
        rows = db.execute(
            "SELECT l.id, l.page_id, p.page_no, l.line_no, l.text, l.x0, l.y0, l.x1, l.y1,"
            " l.row_no, l.col_no, p.width FROM lines l JOIN pages p ON p.id = l.page_id"
            " WHERE p.record_id = ? ORDER BY p.page_no, l.line_no", (record["id"],)).fetchall()
        return {"record_id": record["id"], "lines": rows, "hospital_id": record.get("hospital_id")}

    def work(self, task: dict, ctx: dict):
        if "config" not in ctx:
            ctx["config"] = config.load(self.data_dir)
            ctx["by_hospital"] = {}
        hid = task.get("hospital_id")
        if hid not in ctx["by_hospital"]:
            # a hospital's own spellings (profiles.py) added to the packaged data
            ctx["by_hospital"][hid] = profiles.apply(
                ctx["config"], profiles.find(hid, ctx["config"], self.options.profiles))
        lines = [SLine(*r) for r in task["lines"]]
        yield to_rows(segment(lines, ctx["by_hospital"][hid]))

    def save(self, db, record: dict, result: dict) -> None:
        rid = record["id"]
        # Entities point at sections; a re-segmented record is re-extracted from scratch.
        db.execute("DELETE FROM entities WHERE record_id = ?", (rid,))
        for table in ("sections", "documents", "fields", "labs", "orders"):
            db.execute(f"DELETE FROM {table} WHERE record_id = ?", (rid,))
        db.execute("DELETE FROM charge_mismatches WHERE record_id = ?", (rid,))
        db.execute("DELETE FROM charges WHERE record_id = ? AND source = 'bill'", (rid,))
        doc_ids = []
        for doc in result["documents"]:
            doc_ids.append(store.insert_one(db, "documents", {"record_id": rid, **doc}))
        store.insert_many(db, "sections", [
            {"record_id": rid, "document_id": doc_ids[s.pop("doc")], **s} for s in result["sections"]])
        for table in ("fields", "labs", "orders"):
            store.insert_many(db, table, [{"record_id": rid, **r} for r in result[table]])
        adm = claims_link.norm_admission_no(next(
            (f["value"] for f in result["fields"] if f["name"] == "admission_no"), None))
        store.insert_many(db, "charges", [
            {"record_id": rid, "source": "bill", "hospital_id": record.get("hospital_id"),
             "admission_no": adm, **r} for r in result["bill"]])
        db.execute("DELETE FROM segment_issues WHERE record_id = ? AND kind LIKE 'identity_%'", (rid,))
        store.insert_many(db, "segment_issues", [
            {"record_id": rid, "kind": kind, "detail": detail, "created_at": store.now()}
            for kind, detail in result.get("issues", [])])

    def finish(self, db, record: dict) -> None:
        rid = record["id"]
        rows = list(db.query("SELECT name, value, source FROM fields WHERE record_id = ? AND seq = 0", [rid]))
        f = {r["name"]: r["value"] for r in rows}
        src = {r["name"]: r["source"] or "written" for r in rows}
        adm = claims_link.norm_admission_no(f.get("admission_no"))
        key = patient.patient_key(patient.salt(db), f.get("id_number"), f.get("patient_name"),
                                  f.get("sex"), f.get("birth"))
        age = f.get("age")
        db.execute(
            "UPDATE records SET admission_no = ?, patient_key = ?, sex = ?, age = ?, department = ?,"
            " admit_at = ?, discharge_at = ?, sex_source = ?, age_source = ?, updated_at = ? WHERE id = ?",
            (adm, key, f.get("sex"), int(age) if age else None, f.get("department"),
             f.get("admit_at"), f.get("discharge_at"), src.get("sex") if f.get("sex") else None,
             src.get("age") if age else None, store.now(), rid))
        claims_link.link(db, rid, record.get("hospital_id"), adm)


def to_rows(seg) -> dict:
    """The segmentation as plain table rows (picklable, line ids as evidence)."""
    docs = []
    for i, d in enumerate(seg.documents):
        ids = [ln.id for ln in d.lines]
        docs.append({"doc_no": i, "doc_type": d.doc_type, "title": d.title, "at": d.at,
                     "page_start": d.lines[0].page_no, "page_end": d.lines[-1].page_no,
                     "line_start": min(ids), "line_end": max(ids), "confidence": d.confidence})
    sections = []
    for seq, (i, s) in enumerate(seg.sections):
        ids = [ln.id for ln, _ in s.parts] or [s.header_line.id]
        sections.append({"doc": i, "seq": seq, "name": s.name, "header": s.header, "text": s.text,
                         "page_id": s.anchor.page_id, "line_start": ids[0], "line_end": ids[-1]})
    fields = [{"name": v.name, "seq": v.seq, "value": v.value, "raw": v.raw, "code": v.code,
               "at": v.at, "page_id": v.line.page_id, "line_id": v.line.id, "source": v.source} for v in seg.fields]

    def evidence(rows):
        return [{**{k: v for k, v in r.items() if k != "line"}, "page_id": r["line"].page_id,
                 "line_id": r["line"].id} for r in rows]

    labs = [{"seq": n, **r} for n, r in enumerate(evidence(seg.labs))]
    orders = [{"seq": n, **r} for n, r in enumerate(evidence(seg.orders))]
    bill = [{"seq": n, **r} for n, r in enumerate(evidence(seg.bill), 1)]
    return {"documents": docs, "sections": sections, "fields": fields, "labs": labs,
            "orders": orders, "bill": bill, "issues": list(seg.issues)}
