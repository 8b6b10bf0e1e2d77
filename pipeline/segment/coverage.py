"""What segmentation found, per hospital: in what share of its records each document type, each
section of the admission and discharge records and each key field was read (from its label, or
derived: sex and birth from the ID number, age from the birth date), and, where it was not, in
which record and on which pages it should have been, so one hospital whose 性别 is never read
stands out at once. Read from a segmented database; the reader is ``medreview profile check``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# Documents every inpatient record has (《病历书写基本规范》第十六条, DOMAIN.md §4.1).
EXPECTED_DOCUMENTS = ("住院病案首页", "入院记录", "首次病程记录", "出院记录", "长期医嘱单", "临时医嘱单", "费用清单")
# Sections of the admission and discharge records (DOMAIN.md §4.2, §4.3), by document.
EXPECTED_SECTIONS = {
    "入院记录": ("主诉", "现病史", "既往史", "体格检查", "初步诊断"),
    "出院记录": ("入院情况", "诊疗经过", "出院诊断", "出院医嘱"),
}
# Fields of the 病案首页 and banners the rules read.
EXPECTED_FIELDS = ("admission_no", "patient_name", "sex", "age", "birth", "id_number", "department",
                   "admit_at", "discharge_at", "los_days", "main_diagnosis", "discharge_mode")
FIELD_NAMES = {"admission_no": "住院号", "patient_name": "姓名", "sex": "性别", "age": "年龄", "birth": "出生日期",
               "id_number": "身份证号", "department": "科别", "admit_at": "入院时间", "discharge_at": "出院时间",
               "los_days": "住院天数", "main_diagnosis": "主要诊断", "discharge_mode": "离院方式"}
WHERE_FIELDS = "住院病案首页"
EXAMPLES = 3


@dataclass
class Item:
    """One document type, section or field of one hospital."""
    kind: str            # document | section | field
    name: str
    label: str           # as shown (中文)
    found: int = 0       # records where it was read
    derived: int = 0     # fields: records where it was not read but derived (ID number, birth date)
    missing: list[tuple[str, str]] = field(default_factory=list)   # (admission no. or file, pages)
    expected: bool = True  # False: a document only some stays have (手术记录), shown for completeness

    def share(self, n: int) -> float:
        return (self.found + self.derived) / n if n else 0.0


@dataclass
class HospitalCoverage:
    hospital_id: str
    name: str | None
    records: int = 0
    items: list[Item] = field(default_factory=list)


def _pages(lo, hi) -> str:
    if lo is None:
        return "无此文书"
    return f"第{lo}页" if lo == hi else f"第{lo}-{hi}页"


def collect(db, hospital_id: str | None = None) -> list[HospitalCoverage]:
    """Coverage of every hospital with segmented records (or of ``hospital_id`` only)."""
    where, args = "WHERE stage IN ('segmented', 'extracted', 'scored')", []
    if hospital_id is not None:
        where += " AND hospital_id = ?"
        args.append(hospital_id)
    records = db.execute(f"SELECT id, hospital_id, admission_no, source_path FROM records {where} ORDER BY id",
                         args).fetchall()
    by_h: dict[str, list] = defaultdict(list)
    for r in records:
        by_h[r[1]].append(r)
    docs = defaultdict(dict)   # record → doc type → (first page, last page)
    for rid, dt, lo, hi in db.execute("SELECT record_id, doc_type, page_start, page_end FROM documents ORDER BY record_id, doc_no"):
        span = docs[rid].get(dt)
        docs[rid][dt] = (lo, hi) if span is None else (min(span[0], lo), max(span[1], hi))
    secs = defaultdict(set)
    for rid, dt, name in db.execute("SELECT s.record_id, d.doc_type, s.name FROM sections s"
                                    " JOIN documents d ON d.id = s.document_id"):
        secs[rid].add((dt, name))
    flds = defaultdict(dict)
    for rid, name, source in db.execute("SELECT record_id, name, source FROM fields WHERE seq = 0"):
        flds[rid][name] = source
    names = dict(db.execute("SELECT id, name FROM hospitals").fetchall())
    out = []
    for hid in sorted(by_h, key=str):
        rows = by_h[hid]
        cov = HospitalCoverage(hid, names.get(hid), len(rows))
        items = {("document", d): Item("document", d, d) for d in EXPECTED_DOCUMENTS}
        for dt, ss in EXPECTED_SECTIONS.items():
            for s in ss:
                items[("section", f"{dt}/{s}")] = Item("section", f"{dt}/{s}", f"{dt}·{s}")
        for f in EXPECTED_FIELDS:
            items[("field", f)] = Item("field", f, FIELD_NAMES[f])
        seen_docs = set()
        for rid, _, adm, src in rows:
            who = adm or src.rsplit("/", 1)[-1]
            mine = docs.get(rid, {})
            seen_docs |= set(mine)
            for d in EXPECTED_DOCUMENTS:
                it = items[("document", d)]
                if d in mine:
                    it.found += 1
                else:
                    it.missing.append((who, "未识别出该文书"))
            for dt, ss in EXPECTED_SECTIONS.items():
                for s in ss:
                    it = items[("section", f"{dt}/{s}")]
                    if (dt, s) in secs.get(rid, ()):
                        it.found += 1
                    else:
                        it.missing.append((who, _pages(*mine.get(dt, (None, None)))))
            for f in EXPECTED_FIELDS:
                it = items[("field", f)]
                source = flds.get(rid, {}).get(f, "absent")
                if source is None:
                    it.found += 1
                elif source != "absent":
                    it.derived += 1
                else:
                    it.missing.append((who, _pages(*mine.get(WHERE_FIELDS, (None, None)))))
        other = sorted(seen_docs - set(EXPECTED_DOCUMENTS))
        for d in other:   # the hospital's other documents, for completeness
            it = Item("document", d, d, found=sum(1 for r in rows if d in docs.get(r[0], {})), expected=False)
            items[("document", d)] = it
        cov.items = list(items.values())
        out.append(cov)
    return out


def as_dict(cov: HospitalCoverage) -> dict:
    return {"hospital_id": cov.hospital_id, "name": cov.name, "records": cov.records,
            "items": [{"kind": i.kind, "name": i.name, "label": i.label, "found": i.found, "derived": i.derived,
                       "share": round(i.share(cov.records), 4), "expected": i.expected,
                       "missing": [list(m) for m in i.missing]}
                      for i in cov.items]}
