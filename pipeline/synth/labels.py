"""The labels.jsonl line of one admission (schema in README.md)."""
from __future__ import annotations

from datetime import timedelta

from . import drg_coding
from .record import BuiltRecord


def _dt(t) -> str:
    return f"{t:%Y-%m-%d %H:%M}"


def label_of(rec: BuiltRecord, form_files: dict, scan_dpi: int | None = None) -> dict:
    p, s = rec.plan, rec.slot
    total = p.total_cost
    violations = []
    for v, evidence in zip(rec.violations, rec.evidence):
        item = {"type": v.type, "amount": v.resolve_amount(total), "detail": v.detail, "evidence": evidence,
                "charge_rows": sorted(c.row for c in v.charges + v.context_rows)}
        if v.type == "split_admission":
            item["related_admission_no"] = s.readmission["of"]
        if v.rule_class:
            item.update(rule_class=v.rule_class, kp_id=v.kp_id)
        violations.append(item)
    ref_pages = rec.layout.ref_pages
    label = {
        "admission_no": s.admission_no,
        "hospital_id": s.hospital.id,
        "hospital_name": s.hospital.name,
        "style": rec.style,
        "form_files": form_files,
        "scan_dpi": scan_dpi,
        "patient": {
            "name": s.person.name, "sex": s.person.sex, "age": p.age, "birth": f"{s.person.birth:%Y-%m-%d}",
            "id_number": None if s.id_missing else s.person.id_number,
            "patient_key_src": "name_sex_birth" if s.id_missing else "id",
        },
        "admit_at": _dt(s.admit_at),
        "discharge_at": _dt(s.discharge_at),
        "department": p.cond["dept"],
        "condition_id": p.cond["id"],
        "main_diagnosis": {"name": p.coded_main[0], "code": p.coded_main[1]},
        "true_main_diagnosis": {"name": p.main_dx[0], "code": p.main_dx[1]},
        "other_diagnoses": [{"name": n, "code": c} for n, c in p.coded_other],
        "procedures": drg_coding.label_procedures(p) + (
            [{"name": p.surgery.name, "code": p.surgery.code, "at": _dt(p.surgery.start),
              "anesthesia": p.surgery.anesthesia_label}] if p.surgery else []),
        "drg": p.drg,
        "total_cost": total,
        "charge_count": len(p.charges),
        "clean": not violations,
        "violations": violations,
        "readmission": ({"of": s.readmission["of"], "kind": s.readmission["kind"], "gap_days": s.readmission["gap_days"],
                         "same_hospital": s.readmission["prev_hospital_id"] == s.hospital.id} if s.readmission else None),
        "pages": [{"page": pg.number, "doc_type": pg.doc_type} for pg in rec.layout.pages],
        "sections": rec.layout.sections,
        "fields": {
            "admission_no": s.admission_no, "name": s.person.name, "sex": s.person.sex, "age": p.age,
            "department": p.cond["dept"], "bed": s.bed, "admit_at": _dt(s.admit_at), "discharge_at": _dt(s.discharge_at),
            "los_days": p.los, "main_diagnosis": p.coded_main[0], "main_diagnosis_code": p.coded_main[1],
            "discharge_mode": p.discharge_mode, "readmission_plan": p.readmission_plan,
        },
        "progress_notes": [{"at": _dt(n.at), "kind": n.kind, "role": n.role, "page": ref_pages[id(n)]} for n in p.notes],
        "absent_days": [f"{s.admit_at.date() + timedelta(days=d):%Y-%m-%d}" for d in p.absent_days],
        "insurance_type": p.insurance,
        "visit_type": p.visit_type,
        "knowledge_traps": [t.label() for t in p.knowledge_traps],
    }
    return label
