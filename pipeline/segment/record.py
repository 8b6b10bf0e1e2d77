"""One record end to end without the database: lines → documents, sections, fields, tables."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.dates import find_datetime
from pipeline.segment import fields as F
from pipeline.segment import identity, tables
from pipeline.segment.config import Config
from pipeline.segment.doctypes import document_time, split_documents
from pipeline.segment.model import Document, Section, SLine, Value, rows_of, squash
from pipeline.segment.sections import HeaderMatcher, split_sections


@dataclass
class Segmented:
    documents: list[Document]
    sections: list[tuple[int, Section]]          # (document index, section)
    fields: list[Value]
    labs: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    bill: list[dict] = field(default_factory=list)
    issues: list[tuple[str, dict]] = field(default_factory=list)   # (kind, detail): identity disagreements

    def field(self, name: str, seq: int = 0) -> Value | None:
        return next((v for v in self.fields if v.name == name and v.seq == seq), None)


def _banner_ids(doc: Document, scanner: F.LabelScanner) -> set[int]:
    """Patient banner rows (three or more labelled fields in one row): fields, not prose."""
    out = set()
    for row in rows_of(doc.lines):
        if len({p[0] for p in scanner.pairs(row)}) >= 3:
            out |= {c.id for c in row.cells}
    return out


def _year(lines: list[SLine]) -> int | None:
    """The year most dates of the record are in, for dates written without one."""
    years: dict[int, int] = {}
    for ln in lines[:400]:
        got = find_datetime(ln.text)
        if got:
            years[got[0].year] = years.get(got[0].year, 0) + 1
    return max(years, key=years.get) if years else None


_ENGINES: dict[int, tuple] = {}  # per configuration: matchers whose regexes compile once


def segment(lines: list[SLine], cfg: Config) -> Segmented:
    """Segment one record's lines (reading order, page by page)."""
    key = id(cfg)
    _cache = _ENGINES
    if key not in _cache:
        inline = frozenset(squash(lab) for v in cfg.fields.vitals.values() for lab in v.labels)
        _cache[key] = (F.LabelScanner(cfg.fields), HeaderMatcher(cfg.sections), inline)
    scanner, headers, inline = _cache[key]
    year = _year(lines)
    docs = split_documents(lines, cfg.titles)
    for doc in docs:
        doc.at = document_time(doc, cfg.titles, year)
    sections: list[tuple[int, Section]] = []
    for i, doc in enumerate(docs):
        for sec in split_sections(doc, cfg.sections, cfg.titles, _banner_ids(doc, scanner), headers, inline):
            sections.append((i, sec))
    doc_secs = [(docs[i], s) for i, s in sections]
    tdefs = cfg.fields.tables
    order_rows, lab_rows, bill_rows = [], [], []
    for doc in docs:
        if doc.doc_type in tdefs["orders"].doc_types:
            kind = "temporary" if "临时" in doc.doc_type else "long"
            order_rows += tables.orders(doc.lines, kind, tdefs["orders"], cfg.fields.routes,
                                        cfg.fields.frequencies, year)
        elif doc.doc_type in tdefs["labs"].doc_types:
            lab_rows += tables.labs(doc.lines, tdefs["labs"], doc.at)
        elif doc.doc_type in tdefs["bill"].doc_types:
            bill_rows += tables.bill_lines(doc.lines, tdefs["bill"], year)
    values = F.key_values(docs, cfg.fields, scanner)
    values += F.diagnoses(docs, cfg.fields)
    values += F.procedures(docs, cfg.fields)
    values += F.diagnosis_lists(doc_secs, cfg.fields)
    values += F.vitals(doc_secs, docs, cfg.fields, year)
    values += F.nursing_level(order_rows)
    have = {v.name for v in values}
    if "los_days" not in have:
        admit = next((v for v in values if v.name == "admit_at"), None)
        out = next((v for v in values if v.name == "discharge_at"), None)
        if admit and out:  # 住院天数 = 出院日期 − 入院日期, at least 1 (DOMAIN.md §4.6)
            days = max(1, (find_datetime(out.value)[0].date() - find_datetime(admit.value)[0].date()).days)
            values.append(Value("los_days", str(days), "", out.line))
    derived, issues = identity.reconcile(values, docs)
    values += derived
    return Segmented(docs, sections, values, lab_rows, order_rows, bill_rows, issues)
