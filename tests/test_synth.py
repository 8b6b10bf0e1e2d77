"""Sample batch generator (pipeline/synth): contract, ground truth, determinism, rendering."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline.synth import catalog, generate
from pipeline.synth.claims import HEADER
from pipeline.synth.kinds import TYPES
from pipeline.synth.people import id_number_valid

DT = "%Y-%m-%d %H:%M"


def _labels(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


def _claims(out: Path, form: str = "text") -> dict[str, list[dict]]:
    by_adm: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((out / form).glob("*/claims.csv")):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), f"{path} has no UTF-8 BOM"
        reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
        assert next(reader) == HEADER
        for row in reader:
            rec = dict(zip(HEADER, row))
            by_adm[rec["住院号"]].append(rec)
    return by_adm


def _truth(out: Path, label: dict, page: int) -> str:
    return (out / "truth" / label["hospital_id"] / label["admission_no"] / f"page-{page:03d}.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def labels_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth200")
    manifest = generate(out, records=200, hospitals=3, seed=0, forms=(), workers=2)
    return out, manifest, _labels(out), _claims(out)


@pytest.fixture(scope="module")
def text_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthtext")
    generate(out, records=10, hospitals=2, seed=7, forms=("text",), clean_share=0.2, workers=2)
    return out, _labels(out), _claims(out)


# -- data ----------------------------------------------------------------------------------------

def test_catalogue_has_enough_conditions_across_departments():
    cat = catalog.load()
    assert len(cat.conditions) >= 40
    depts = {c["dept"] for c in cat.conditions}
    for dept in ("呼吸内科", "心血管内科", "神经内科", "消化内科", "普外科", "骨科", "妇产科", "儿科"):
        assert dept in depts
    for c in cat.conditions:
        assert re.fullmatch(r"[A-Z]\d\d\.[0-9x]\d\d(x\d{3})?", c["code"]), c["id"]
        assert c["los"][0] <= c["los"][1] and c["cost"][0] < c["cost"][1]


@pytest.mark.data
def test_diagnosis_and_procedure_codes_exist_in_national_tables(shared_data):
    icd10 = {row["code"]: row["name"] for row in csv.DictReader((shared_data / "icd/icd10_national_clinical_v1.1.csv").open(encoding="utf-8"))}
    icd9 = {row["code"]: row["name"] for row in csv.DictReader((shared_data / "icd/icd9cm3_procedures_national_clinical_v1.1.csv").open(encoding="utf-8"))}
    cat = catalog.load()
    codes = [(c["code"], c["name"]) for c in cat.conditions]
    codes += [(c["upcode"]["code"], c["upcode"]["name"]) for c in cat.conditions if c.get("upcode")]
    codes += [(d["code"], d["name"]) for c in cat.conditions for d in c["other_dx"]]
    codes += [(m["code"], m["name"]) for m in cat.comorbidities.values()]
    for code, name in codes:
        assert icd10.get(code) == name, (code, name, icd10.get(code))
    for c in cat.conditions:
        if c.get("surgery"):
            assert icd9.get(str(c["surgery"]["code"])) == c["surgery"]["name"], c["id"]


# -- labels-only batch of 200 --------------------------------------------------------------------

def test_every_violation_type_injected_in_200_records(labels_batch):
    out, manifest, labels, _ = labels_batch
    seen = {v["type"] for lab in labels for v in lab["violations"]}
    assert seen == set(TYPES)
    assert all(manifest["injected"][t] > 0 for t in TYPES)
    clean = sum(lab["clean"] for lab in labels) / len(labels)
    assert 0.6 <= clean <= 0.9
    assert len({lab["admission_no"] for lab in labels}) == len(labels)
    assert (out / "manifest.json").is_file() and (out / "hospitals.csv").read_text(encoding="utf-8").startswith("id,name,level")


def test_patients_and_fields_are_consistent(labels_batch):
    _, _, labels, _ = labels_batch
    for lab in labels:
        pat, fields = lab["patient"], lab["fields"]
        if pat["patient_key_src"] == "id":
            assert id_number_valid(pat["id_number"])
            assert pat["id_number"][6:14] == pat["birth"].replace("-", "")
            assert int(pat["id_number"][16]) % 2 == (1 if pat["sex"] == "男" else 0)
        admit, discharge = datetime.strptime(lab["admit_at"], DT), datetime.strptime(lab["discharge_at"], DT)
        assert fields["los_days"] == (discharge.date() - admit.date()).days >= 2
        assert 12 <= len(lab["pages"]) <= 30
        assert fields["main_diagnosis_code"] == lab["main_diagnosis"]["code"]


def test_claims_sum_to_total_cost_and_amounts_follow_definitions(labels_batch):
    _, _, labels, claims = labels_batch
    for lab in labels:
        rows = claims[lab["admission_no"]]
        assert len(rows) == lab["charge_count"]
        total = sum(Decimal(r["金额"]) for r in rows)
        assert total == Decimal(f"{lab['total_cost']:.2f}")
        for r in rows:
            assert Decimal(r["金额"]) == (Decimal(r["数量"]) * Decimal(r["单价"])).quantize(Decimal("0.01"))
        for v in lab["violations"]:
            charged = sum(Decimal(rows[i - 1]["金额"]) for i in v["charge_rows"])
            if v["type"] in ("low_standard_admission", "split_admission"):
                assert v["amount"] == lab["total_cost"]
            elif v["type"] == "upcoding":   # the DRG weight difference × rate (tests/test_synth_drg.py)
                assert v["amount"] == lab["drg"]["amount"]
            elif v["type"] == "doc_timeliness":
                assert v["amount"] == 0
            elif v["type"] in ("bed_hanging", "over_examination", "drug_restriction"):
                assert Decimal(f"{v['amount']:.2f}") == charged > 0
            elif v["type"] == "duplicate_charge":
                original, added = (rows[i - 1] for i in v["charge_rows"])
                assert original["费用发生时间"][:10] == added["费用发生时间"][:10]
                assert Decimal(added["金额"]) == Decimal(f"{v['amount']:.2f}") > 0
            else:  # excess / substitution: part of the billed line
                assert 0 < Decimal(f"{v['amount']:.2f}") <= charged


def test_split_admissions_and_legitimate_readmissions(labels_batch):
    _, _, labels, _ = labels_batch
    by_no = {lab["admission_no"]: lab for lab in labels}
    kinds = set()
    for lab in labels:
        r = lab["readmission"]
        if not r:
            continue
        kinds.add(r["kind"])
        prev = by_no[r["of"]]
        assert prev["patient"] == {**lab["patient"], "age": prev["patient"]["age"]}
        gap = (datetime.strptime(lab["admit_at"], DT).date() - datetime.strptime(prev["discharge_at"], DT).date()).days
        split = [v for v in lab["violations"] if v["type"] == "split_admission"]
        same_category = lab["main_diagnosis"]["code"][:3] == prev["main_diagnosis"]["code"][:3]
        if r["kind"] == "split":
            assert split and split[0]["related_admission_no"] == prev["admission_no"]
            assert 0 < gap <= 15 and same_category
        else:
            assert not split
            if r["kind"] == "planned_chemo":
                assert gap <= 15 and same_category and prev["fields"]["readmission_plan"].startswith("有")
            elif r["kind"] == "late":
                assert gap > 15 and same_category
            else:
                assert gap <= 15 and not same_category
    assert {"split", "late"} <= kinds


def test_clean_records_break_no_billing_or_timeliness_rule(labels_batch):
    cat = catalog.load()
    caps = {it["code"]: it["daily_cap"] for it in cat.items.values() if it.get("daily_cap")}
    pairs = [(cat.items[p["a"]]["code"], cat.items[p["b"]]["code"]) for p in cat.exclusive_pairs]
    _, _, labels, claims = labels_batch
    for lab in (x for x in labels if x["clean"]):
        rows = claims[lab["admission_no"]]
        per_day = defaultdict(lambda: defaultdict(int))
        seen = set()
        for r in rows:
            key = (r["费用发生时间"], r["医保项目编码"], r["数量"])
            assert key not in seen, f"duplicate line in clean record {lab['admission_no']}"
            seen.add(key)
            per_day[r["费用发生时间"][:10]][r["医保项目编码"]] += int(r["数量"])
        for day, items in per_day.items():
            for code, qty in items.items():
                assert qty <= caps.get(code, qty), (lab["admission_no"], day, code)
            for a, b in pairs:
                assert not (a in items and b in items), (lab["admission_no"], day)
        admit = datetime.strptime(lab["admit_at"], DT)
        first = next(n for n in lab["progress_notes"] if n["kind"] == "首次病程记录")
        assert (datetime.strptime(first["at"], DT) - admit).total_seconds() <= 8 * 3600


# -- rendered text form --------------------------------------------------------------------------

def test_text_pdfs_have_a_text_layer_equal_to_truth(text_batch):
    import pdfplumber

    out, labels, _ = text_batch
    for lab in labels[:3]:  # pdfplumber reads ~10 table-dense pages/s: a sample keeps the suite fast
        pdf_path = out / lab["form_files"]["text"]
        with pdfplumber.open(pdf_path) as pdf:
            assert len(pdf.pages) == len(lab["pages"])
            for page, meta in zip(pdf.pages, lab["pages"]):
                truth = _truth(out, lab, meta["page"])
                assert page.extract_text() == truth.rstrip("\n")


def test_documents_start_on_their_own_page_with_title(text_batch):
    out, labels, _ = text_batch
    for lab in labels:
        previous = None
        for meta in lab["pages"]:
            lines = _truth(out, lab, meta["page"]).splitlines()
            if meta["doc_type"] != previous or lines[0] == meta["doc_type"]:
                assert lines[0] == meta["doc_type"]
                assert lab["admission_no"] in lines[1]
            else:
                assert lab["admission_no"] in lines[0]  # continuation page: header line first
            previous = meta["doc_type"]
        assert lab["pages"][0]["doc_type"] == "住院病案首页"
        assert lab["pages"][-1]["doc_type"] == "费用清单"


def test_evidence_is_on_the_named_page_in_truth_and_pdf(text_batch):
    import pdfplumber

    out, labels, _ = text_batch
    checked = 0
    for lab in (x for x in labels if not x["clean"]):
        with pdfplumber.open(out / lab["form_files"]["text"]) as pdf:
            for v in lab["violations"]:
                assert v["evidence"], v["type"]
                for ev in v["evidence"]:
                    assert lab["pages"][ev["page"] - 1]["doc_type"] == ev["document"]
                    assert ev["text"] in _truth(out, lab, ev["page"])
                    assert ev["text"] in pdf.pages[ev["page"] - 1].extract_text()
                    checked += 1
    assert checked >= 10


def test_sections_and_progress_notes_point_at_their_pages(text_batch):
    out, labels, _ = text_batch
    for lab in labels:
        names = {s["name"] for s in lab["sections"]}
        assert {"主诉", "现病史", "既往史", "体格检查", "初步诊断", "病例特点", "诊疗计划", "出院诊断"} <= names
        for s in lab["sections"]:
            assert f"{s['name']}：" in _truth(out, lab, s["page"])
        for note in lab["progress_notes"]:
            assert note["at"] in _truth(out, lab, note["page"])
            assert lab["pages"][note["page"] - 1]["doc_type"] in ("首次病程记录", "日常病程记录", "上级医师查房记录")


def test_text_claims_match_labels(text_batch):
    _, labels, claims = text_batch
    for lab in labels:
        assert sum(Decimal(r["金额"]) for r in claims[lab["admission_no"]]) == Decimal(f"{lab['total_cost']:.2f}")


# -- determinism, scans, arguments ---------------------------------------------------------------

def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = _digest(_gen(tmp_path / "a", seed=11, workers=1))
    b = _digest(_gen(tmp_path / "b", seed=11, workers=2))
    c = _digest(_gen(tmp_path / "c", seed=12, workers=1))
    assert a == b
    pdfs = [k for k in a if k.endswith(".pdf")]
    assert pdfs and all(a[k] != c.get(k) for k in pdfs)


def _gen(out: Path, *, seed: int, workers: int) -> Path:
    generate(out, records=4, hospitals=2, seed=seed, forms=("text",), workers=workers)
    return out


def test_scan_pages_are_images_at_the_stated_dpi(tmp_path):
    from PIL import Image

    generate(tmp_path, records=1, hospitals=1, seed=3, forms=("scan",), scan_format="jpg", workers=1)
    lab = _labels(tmp_path)[0]
    dpi = lab["scan_dpi"]
    assert 150 <= dpi <= 300
    pages = sorted((tmp_path / lab["form_files"]["scan"]).glob("page-*.jpg"))
    assert len(pages) == len(lab["pages"])
    for path in pages:
        with Image.open(path) as im:
            assert im.format == "JPEG"
            assert round(im.info["dpi"][0]) == dpi
            assert abs(im.width - 8.27 * dpi) < 3 and abs(im.height - 11.69 * dpi) < 3
    truth = tmp_path / "truth" / lab["hospital_id"] / lab["admission_no"]
    assert len(list(truth.glob("page-*.txt"))) == len(pages)
    assert (tmp_path / "scan" / lab["hospital_id"] / "claims.csv").is_file()


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, records=2, forms=("fax",))
    with pytest.raises(ValueError):
        generate(tmp_path, records=2, forms=(), rates={"no_such_type": 1.0})
    with pytest.raises(ValueError):
        generate(tmp_path, records=2, forms=(), scan_format="tiff")


def test_rates_can_disable_and_focus_types(tmp_path):
    generate(tmp_path, records=60, hospitals=1, seed=4, forms=(), clean_share=0.0,
             rates={t: (1.0 if t == "duplicate_charge" else 0.0) for t in TYPES}, workers=1)
    types = {v["type"] for lab in _labels(tmp_path) for v in lab["violations"]}
    assert types == {"duplicate_charge"}


def test_cli_synth_writes_a_batch(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["synth", str(tmp_path / "b"), "--records", "3", "--hospitals", "1", "--forms", ""])
    assert result.exit_code == 0, result.output
    assert len(_labels(tmp_path / "b")) == 3
    bad = CliRunner().invoke(app, ["synth", str(tmp_path / "c"), "--scan-format", "gif"])
    assert bad.exit_code == 2


def test_clean_plans_respect_drug_restrictions_and_daily_care():
    """Exclusions the rules must not flag: restricted drugs only within their limits, no idle days."""
    from pipeline.synth import cohort
    from pipeline.synth.record import build_record

    cat = catalog.load()
    _, slots = cohort.plan_batch(cat, records=150, hospitals=2, seed=5, clean_share=1.0, rates=None)
    for slot in slots:
        plan = build_record(slot, cat, 5).plan
        used = set(plan.drugs_used)
        diets = {o.text for o in plan.orders if o.kind == "long"}
        if "omeprazole_iv" in used:
            assert "禁食" in diets, slot.condition_id
        if "albumin" in used:
            assert float(plan.values["ALB"]) < 30
        if used & {"tamsulosin", "finasteride"}:
            assert slot.person.sex == "男"
        if "progesterone" in used:
            assert slot.person.sex == "女"
        if "levofloxacin" in used:
            assert plan.age >= 18
        noted = {n.day for n in plan.notes} | {v.day for v in plan.vitals if v.temps}
        for day in range(plan.los - 2):
            assert noted & {day, day + 1, day + 2}, (slot.condition_id, day)


def test_excess_charge_in_a_course_without_drugs_or_hourly_services():
    """Seed 4242 draws 超标准收费 for a 脂肪瘤 stay (no drug orders, no hourly services): the
    injector bills a per-day service above its daily cap instead of crashing."""
    from pipeline.synth import cohort
    from pipeline.synth.record import build_record

    cat = catalog.load()
    _, slots = cohort.plan_batch(cat, records=200, hospitals=3, seed=4242, clean_share=0.6, rates=None)
    slot = next(s for s in slots if "excess_charge" in s.violations
                and not cat.conditions_by_id[s.condition_id]["drugs"])
    rec = build_record(slot, cat, 4242)
    v = next(v for v in rec.violations if v.type == "excess_charge")
    c = v.charges[0]
    cap = cat.items[c.item]["daily_cap"]
    same_day = sum(x.qty for x in rec.plan.charges if x.item == c.item and x.day == c.day)
    assert same_day > cap and c.qty > cap
    assert v.resolve_amount(rec.plan.total_cost) == round((c.qty - cap) * c.price, 2) > 0
    again = build_record(slot, cat, 4242)  # deterministic for the seed
    assert [x.detail for x in again.violations] == [x.detail for x in rec.violations]
