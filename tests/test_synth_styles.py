"""Hospital print styles of the generator (pipeline/synth/styles.py): the same records printed
another way, ground truth that still points at the drawn text, claims in the style's encoding.

Only the developed styles are generated here; the held-out one is measured by bench/flags.py."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from pipeline import claims, store
from pipeline.synth import generate, styles

DEVELOPED = styles.developed()


def _labels(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def styled(tmp_path_factory):
    out = tmp_path_factory.mktemp("styled")
    generate(out, records=12, hospitals=len(DEVELOPED), seed=5, forms=("text",), clean_share=0.2, workers=2,
             styles=DEVELOPED)
    return out, _labels(out)


def test_styles_file_names_a_held_out_style_apart_from_the_developed_ones():
    assert styles.heldout() in styles.load() and styles.heldout() not in DEVELOPED
    assert len(DEVELOPED) >= 5 and styles.DEFAULT in DEVELOPED
    with pytest.raises(ValueError):
        styles.get("no-such-style")


def test_the_standard_style_is_the_default_layout(tmp_path):
    a = generate(tmp_path / "a", records=3, hospitals=1, seed=3, forms=(), workers=1)
    b = generate(tmp_path / "b", records=3, hospitals=1, seed=3, forms=(), workers=1, styles=[styles.DEFAULT])
    assert (tmp_path / "a" / "labels.jsonl").read_bytes() == (tmp_path / "b" / "labels.jsonl").read_bytes()
    assert a["hospital_styles"] == b["hospital_styles"] == {"H01": styles.DEFAULT}


def test_each_hospital_prints_in_its_style_and_the_text_layer_is_the_truth(styled):
    import pdfplumber

    out, labels = styled
    seen = set()
    for lab in labels:
        if lab["style"] in seen:
            continue
        seen.add(lab["style"])
        with pdfplumber.open(out / lab["form_files"]["text"]) as pdf:
            for page, meta in list(zip(pdf.pages, lab["pages"]))[:6]:
                truth = (out / "truth" / lab["hospital_id"] / lab["admission_no"] / f"page-{meta['page']:03d}.txt")
                # pdfplumber gives the gap a full-width space leaves as an ASCII space
                want = truth.read_text(encoding="utf-8").rstrip("\n").replace("\u3000", " ")
                assert page.extract_text() == want, (lab["style"], meta)
    assert seen == set(DEVELOPED)


def _page(out, lab, n):
    return (out / "truth" / lab["hospital_id"] / lab["admission_no"] / f"page-{n:03d}.txt").read_text(encoding="utf-8")


def test_styles_differ_in_titles_labels_dates_and_forms(styled):
    out, labels = styled
    first = {lab["style"]: _page(out, lab, 1) + _page(out, lab, 2) for lab in labels}
    assert "入 院 记 录" in first["spaced"] and "性　别：" in first["spaced"]
    assert re.search(r"\d{4}年\d{2}月\d{2}日 \d{2}时\d{2}分", first["spaced"])
    assert re.search(r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}", first["dotted"]) and "性别:" in first["dotted"]
    assert re.search(r"[０-９]{4}/[０-９]{1,2}/[０-９]{1,2}", first["compact"]) and re.search(r"性别[男女]", first["compact"])
    assert re.search(r"性别 [男女] ", first["grid"])   # label and value in two cells
    assert "住院病案首页" in first["standard"] and "性别：" in first["standard"]


def test_clinical_content_and_ground_truth_do_not_depend_on_the_style(tmp_path):
    keys = ("admission_no", "patient", "admit_at", "discharge_at", "main_diagnosis", "violations", "total_cost",
            "charge_count", "clean", "readmission")
    base = {x["admission_no"]: x for x in _labels(generate_to(tmp_path / "std", (styles.DEFAULT,)))}
    for style in DEVELOPED[1:]:
        other = {x["admission_no"]: x for x in _labels(generate_to(tmp_path / style, (style,)))}
        assert other.keys() == base.keys()
        for no, lab in other.items():
            for k in keys:
                if k == "violations":   # the evidence text is printed in the style; the finding is the same
                    strip = lambda vs: [{a: b for a, b in v.items() if a != "evidence"} for v in vs]  # noqa: E731
                    assert strip(lab[k]) == strip(base[no][k]), (style, no)
                else:
                    assert lab[k] == base[no][k], (style, no, k)


def generate_to(out: Path, style: tuple[str, ...]) -> Path:
    generate(out, records=8, hospitals=2, seed=9, forms=(), workers=1, clean_share=0.1, styles=style)
    return out


def test_evidence_is_on_the_named_page_in_every_style(styled):
    out, labels = styled
    checked = 0
    for lab in labels:
        for v in lab["violations"]:
            for ev in v["evidence"]:
                assert ev["text"] in _page(out, lab, ev["page"]), (lab["style"], v["type"], ev)
                checked += 1
    assert checked >= 10


def test_claims_files_follow_the_style_and_import(styled, tmp_path):
    out, labels = styled
    db = store.connect(tmp_path / "c.db")
    by_hospital = {}
    for lab in labels:
        by_hospital.setdefault(lab["hospital_id"], []).append(lab)
    for hid, labs in by_hospital.items():
        path = out / "text" / hid / "claims.csv"
        style = styles.get(labs[0]["style"])
        raw = path.read_bytes()
        if style.claims_encoding == "gbk":
            raw.decode("gbk")
            assert not raw.startswith(b"\xef\xbb\xbf")
        store.insert_one(db, "hospitals", {"id": hid, "name": hid, "created_at": store.now()}, on_conflict="ignore")
        res = claims.import_claims(db, path, hid)
        assert res.state == "imported" and res.bad_rows == 0, (hid, res.reason, res.errors[:3])
        assert res.rows == sum(x["charge_count"] for x in labs)


def test_bill_item_names_follow_the_hospital(styled):
    out, labels = styled
    bills = {}
    for lab in labels:
        pages = [p["page"] for p in lab["pages"] if p["doc_type"] == "费用清单"]
        bills.setdefault(lab["style"], "")
        bills[lab["style"]] += "".join(_page(out, lab, n) for n in pages)
    assert "诊查费" in bills["grid"] and "住院诊查费" not in bills["grid"]   # the county's own names
    assert "住院诊查费" in bills["standard"]
    assert re.search(r"\(化学发光法\)|\(免疫比浊法\)", bills["grid"] + bills["compact"])


def test_same_seed_same_bytes_with_styles(tmp_path):
    def digest(folder):
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    for k in ("a", "b"):
        generate(tmp_path / k, records=4, hospitals=2, seed=21, forms=("text",), workers=1 if k == "a" else 2,
                 styles=("grid", "spaced"))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_corpus_narrative_is_read_in_place_or_left_out(shared_data):
    st = styles.get("spaced")
    import random

    found = styles.passage(st, "hpi", "I63.900", random.Random(1))
    assert found and "脑梗" in found[:60] and not re.search(r"\d+岁", found)
    assert styles.passage(st, "hpi", "Z51.102", random.Random(1)) is None   # no terms: generated text stays
