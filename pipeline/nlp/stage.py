"""The "extracted" stage: sections → entities (label, span, attributes, code) with line/page links."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from pipeline import store
from pipeline.record.lines import line_for, line_offsets
from pipeline.run.options import parse_options

@dataclass(frozen=True)
class ExtractOptions:
    model_dir: str | None = None   # spaCy model folder (default: $MEDREVIEW_NER_MODEL, the promoted or shipped model)


class ExtractStage:
    name = "extracted"

    def __init__(self, db_path=None, **options):
        self.options = parse_options(ExtractOptions, "extract", options)
        self.model_dir = self.options.model_dir

    def prepare(self, db, record: dict) -> dict:
        rid = record["id"]
        sections = []
        for s in db.execute(
            "SELECT id, name, text, page_id, line_start, line_end FROM sections WHERE record_id = ? ORDER BY seq", [rid]
        ).fetchall():
            sid, name, text, page_id, l0, l1 = s
            lines = []
            if l0 is not None and l1 is not None:
                lines = [tuple(r) for r in db.execute(
                    "SELECT id, text, page_id FROM lines WHERE id BETWEEN ? AND ? ORDER BY id", [l0, l1]).fetchall()]
            sections.append({"id": sid, "name": name, "text": text or "", "page_id": page_id, "lines": lines})
        return {"record_id": rid, "sections": sections, "model_dir": self.model_dir}

    def work(self, task: dict, ctx: dict) -> Iterator[dict]:
        from pipeline.nlp.pipeline import NlpPipeline

        key = ("nlp", task["model_dir"])
        if key not in ctx:
            ctx[key] = NlpPipeline(task["model_dir"])
        nlp = ctx[key]
        secs = task["sections"]
        results = nlp.extract_many([(s["text"], s["name"]) for s in secs])
        rows, seq = [], 0
        for s, ents in zip(secs, results):
            offsets = line_offsets(s["text"], [(l[0], l[1]) for l in s["lines"]])
            page_of = {l[0]: l[2] for l in s["lines"]}
            for e in ents:
                line_id = line_for(offsets, e.start)
                rows.append({
                    "record_id": task["record_id"], "section_id": s["id"], "seq": seq, "label": e.label,
                    "text": e.text, "start": e.start, "end": e.end, "negated": int(e.negated),
                    "uncertain": int(e.uncertain), "historical": int(e.historical), "family": int(e.family),
                    "code": e.code, "code_name": e.code_name, "code_score": e.code_score,
                    "page_id": page_of.get(line_id, s["page_id"]), "line_id": line_id, "model_version": nlp.version,
                })
                seq += 1
        yield {"record_id": task["record_id"], "rows": rows}

    def save(self, db, record: dict, result: dict) -> None:
        # Derived rows: replace the record's entities wholesale so a re-run is idempotent.
        db.execute("DELETE FROM entities WHERE record_id = ?", [record["id"]])
        store.insert_many(db, "entities", result["rows"])

    def finish(self, db, record: dict) -> None:
        """Nothing to add after the entities; the runner sets the stage."""
