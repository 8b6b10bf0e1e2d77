"""A stored record as plain dataclasses: what the rules, the score stage and review read.

Every item keeps the ids of its line and page, so whatever a rule finds can point at its
``Evidence`` (text, page, box). Checks are pure functions of a RecordView and their parameters,
so tests build views by hand; the score stage builds them from the store (``load``) in the main
process and ships them, picklable, to a worker.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from pipeline.dates import parse_datetime


@dataclass
class Evidence:
    document: str | None
    section: str | None
    text: str
    page_no: int | None
    page_id: int | None
    line_id: int | None
    bbox: list[float] | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Line:
    id: int
    page_id: int
    page_no: int
    text: str
    bbox: list[float] | None = None


@dataclass
class Field:
    name: str
    value: str | None
    seq: int = 0
    raw: str | None = None
    code: str | None = None
    at: str | None = None
    page_id: int | None = None
    line_id: int | None = None
    source: str | None = None   # None: read from its label; id_number / birth / text: derived (m0170)


@dataclass
class Document:
    id: int
    doc_type: str
    at: str | None = None
    title: str | None = None
    page_start: int | None = None
    page_end: int | None = None
    line_start: int | None = None
    line_end: int | None = None


@dataclass
class Section:
    id: int
    name: str
    text: str
    document_id: int | None = None
    page_id: int | None = None
    line_start: int | None = None
    line_end: int | None = None


@dataclass
class Lab:
    id: int
    item: str
    value: str | None = None
    unit: str | None = None
    flag: str | None = None
    ref_range: str | None = None
    at: str | None = None
    page_id: int | None = None
    line_id: int | None = None

    def number(self) -> float | None:
        try:
            return float(str(self.value).strip().lstrip("<>≤≥").strip())
        except (TypeError, ValueError):
            return None


@dataclass
class Order:
    id: int
    kind: str                     # long | temporary
    content: str
    start_at: str | None = None
    stop_at: str | None = None
    dose: str | None = None
    route: str | None = None
    frequency: str | None = None
    qty: float | None = None
    page_id: int | None = None
    line_id: int | None = None


@dataclass
class Charge:
    id: int
    source: str                   # bill | claims
    item_name: str
    amount: float
    seq: int = 0
    at: str | None = None
    item_code: str | None = None
    category: str | None = None
    qty: float | None = None
    unit_price: float | None = None
    page_id: int | None = None
    line_id: int | None = None

    def day(self) -> dt.date | None:
        d = parse_datetime(self.at) if self.at else None
        return d.date() if d else None


@dataclass
class Entity:
    id: int
    label: str
    text: str
    section_id: int | None = None
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    family: bool = False
    code: str | None = None
    page_id: int | None = None
    line_id: int | None = None


@dataclass
class RecordView:
    record_id: int
    hospital_id: str | None = None
    hospital_level: str | None = None
    patient_key: str | None = None
    sex: str | None = None
    age: int | None = None
    department: str | None = None
    admit_at: str | None = None
    discharge_at: str | None = None
    insurance_type: str | None = None   # 职工 / 居民 / 工伤 / 生育 … from the claims export; None: unknown
    visit_type: str | None = None       # 住院 / 门诊 / 急诊 … from the claims export; None: not given
    fields: list[Field] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    labs: list[Lab] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    lines: dict[int, Line] = field(default_factory=dict)

    # --- fields -------------------------------------------------------------------------
    def field(self, name: str) -> Field | None:
        found = self.fields_named(name)
        return found[0] if found else None

    def fields_named(self, name: str) -> list[Field]:
        return sorted((f for f in self.fields if f.name == name), key=lambda f: f.seq)

    def value(self, name: str) -> str | None:
        f = self.field(name)
        return f.value if f else None

    # --- time -----------------------------------------------------------------------------
    @property
    def admit(self) -> dt.datetime | None:
        return parse_datetime(self.admit_at or self.value("admit_at") or "")

    @property
    def discharge(self) -> dt.datetime | None:
        return parse_datetime(self.discharge_at or self.value("discharge_at") or "")

    def los_days(self) -> int | None:
        a, d = self.admit, self.discharge
        if a and d:
            return max(1, (d.date() - a.date()).days)
        v = self.value("los_days")
        return int(v) if v and str(v).isdigit() else None

    # --- charges --------------------------------------------------------------------------
    def billed(self) -> list[Charge]:
        """The charge lines the fund pays: the claims export when the record has one (it is what
        was settled), else the 费用清单 pages."""
        claims = [c for c in self.charges if c.source == "claims"]
        return claims or [c for c in self.charges if c.source == "bill"]

    def total_cost(self) -> float:
        billed = self.billed()
        if billed:
            return round(sum(c.amount or 0.0 for c in billed), 2)
        v = self.value("total_cost")
        try:
            return float(v) if v else 0.0
        except ValueError:
            return 0.0

    def bill_line_for(self, charge: Charge) -> Charge | None:
        """The 费用清单 line showing the same charge as a claims row (for evidence on a page);
        identical claims rows get distinct bill lines while there are enough."""
        if charge.source == "bill":
            return charge
        return self._bill_pairs().get(charge.id)

    def _bill_pairs(self) -> dict:
        """Claims row id → its bill line: of the same day, the same code and quantity, else the
        same code, else the same name; a line already given to another row only when none is left."""
        cached = self.__dict__.get("_pairs")
        if cached is not None and cached[0] == len(self.charges):  # tests add charges to a view
            return cached[1]
        by_day: dict = {}
        for b in self.charges:
            if b.source == "bill" and b.page_id is not None:
                by_day.setdefault(b.day(), []).append(b)
        tests = (lambda c, b: c.item_code and b.item_code == c.item_code and b.qty == c.qty,
                 lambda c, b: c.item_code and b.item_code == c.item_code,
                 lambda c, b: b.item_name == c.item_name)
        pairs, used = {}, set()
        for c in self.charges:
            if c.source == "bill":
                continue
            same_day = by_day.get(c.day(), [])
            for test in tests:
                fits = [b for b in same_day if test(c, b)]
                if fits:
                    b = next((b for b in fits if b.id not in used), fits[0])
                    pairs[c.id] = b
                    used.add(b.id)
                    break
        self.__dict__["_pairs"] = (len(self.charges), pairs)
        return pairs

    # --- documents and text ---------------------------------------------------------------
    def documents_of(self, *types: str) -> list[Document]:
        return sorted((d for d in self.documents if d.doc_type in types), key=lambda d: (d.at or "", d.id))

    def document(self, document_id: int | None) -> Document | None:
        return next((d for d in self.documents if d.id == document_id), None)

    def document_at_line(self, line_id: int | None, page_id: int | None = None) -> Document | None:
        if line_id is not None:
            for d in self.documents:
                if d.line_start is not None and d.line_end is not None and d.line_start <= line_id <= d.line_end:
                    return d
        if page_id is not None and page_id in self.lines_page_no():
            page_no = self.lines_page_no()[page_id]
            for d in self.documents:
                if d.page_start is not None and d.page_end is not None and d.page_start <= page_no <= d.page_end:
                    return d
        return None

    def lines_page_no(self) -> dict[int, int]:
        return {ln.page_id: ln.page_no for ln in self.lines.values()}

    # --- evidence -------------------------------------------------------------------------
    def evidence(self, *, line_id: int | None = None, page_id: int | None = None, text: str | None = None,
                 document: str | None = None, section: str | None = None) -> Evidence:
        """An evidence item for a line of the record: its text, page and bbox as stored."""
        line = self.lines.get(line_id) if line_id is not None else None
        if line is not None:
            page_id = line.page_id
        doc = document
        if doc is None:
            d = self.document_at_line(line_id, page_id)
            doc = d.doc_type if d else None
        page_no = line.page_no if line else self.lines_page_no().get(page_id) if page_id else None
        return Evidence(
            document=doc,
            section=section,
            text=(line.text if line else (text or "")),
            page_no=page_no,
            page_id=page_id,
            line_id=line_id if line else None,
            bbox=line.bbox if line else None,
        )

    def charge_evidence(self, charge: Charge) -> Evidence:
        shown = self.bill_line_for(charge)
        if shown is not None and shown.line_id is not None:
            return self.evidence(line_id=shown.line_id, document="费用清单")
        text = f"{charge.at or ''} {charge.item_name} ×{_num(charge.qty)} {_num(charge.amount)}元".strip()
        return Evidence(document="费用清单" if charge.source == "bill" else "医保结算明细", section=None,
                        text=text, page_no=None, page_id=None, line_id=None, bbox=None)

    def field_evidence(self, f: Field) -> Evidence:
        if f.line_id is not None and f.line_id in self.lines:
            return self.evidence(line_id=f.line_id)
        return self.evidence(page_id=f.page_id, text=f.raw or f.value or "", document="住院病案首页")


def _num(x) -> str:
    if x is None:
        return ""
    return f"{x:g}" if isinstance(x, float) else str(x)


# ----------------------------------------------------------------------------------------------
# Loading from the store.

_COLUMNS = {
    "fields": (Field, "name, value, seq, raw, code, at, page_id, line_id, source", "name, seq"),
    "documents": (Document, "id, doc_type, at, title, page_start, page_end, line_start, line_end", "doc_no"),
    "sections": (Section, "id, name, text, document_id, page_id, line_start, line_end", "seq"),
    "labs": (Lab, "id, item, value, unit, flag, ref_range, at, page_id, line_id", "seq"),
    "orders": (Order, "id, kind, content, start_at, stop_at, dose, route, frequency, qty, page_id, line_id", "seq"),
    "charges": (Charge, "id, source, item_name, amount, seq, at, item_code, category, qty, unit_price, page_id, line_id",
                "source, seq"),
    "entities": (Entity, "id, label, text, section_id, negated, uncertain, historical, family, code, page_id, line_id",
                 "seq"),
}


def load(db, record_id: int) -> RecordView:
    """Read one record's view from the store (main process)."""
    rec = db.execute(
        "SELECT r.id, r.hospital_id, h.level, r.patient_key, r.sex, r.age, r.department, r.admit_at,"
        " r.discharge_at, r.insurance_type, r.visit_type"
        " FROM records r LEFT JOIN hospitals h ON h.id = r.hospital_id WHERE r.id = ?",
        (record_id,),
    ).fetchone()
    if rec is None:
        raise KeyError(f"record {record_id} not found")
    view = RecordView(*rec)
    for table, (cls, cols, order) in _COLUMNS.items():
        rows = db.execute(f"SELECT {cols} FROM {table} WHERE record_id = ? ORDER BY {order}", (record_id,)).fetchall()
        items = []
        for row in rows:
            obj = cls(*row)
            if cls is Charge:
                obj.item_name = obj.item_name or ""
                obj.amount = float(obj.amount or 0.0)
            if cls is Entity:
                for flag in ("negated", "uncertain", "historical", "family"):
                    setattr(obj, flag, bool(getattr(obj, flag)))
            items.append(obj)
        setattr(view, table, items)
    for lid, pid, pno, text, x0, y0, x1, y1 in db.execute(
        "SELECT l.id, l.page_id, p.page_no, l.text, l.x0, l.y0, l.x1, l.y1 FROM lines l"
        " JOIN pages p ON p.id = l.page_id WHERE p.record_id = ?",
        (record_id,),
    ):
        bbox = [x0, y0, x1, y1] if x0 is not None else None
        view.lines[lid] = Line(lid, pid, pno, text, bbox)
    return view
