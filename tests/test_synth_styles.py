"""Hospital print styles of the generator (pipeline/synth/styles.py): the same records printed
another way, ground truth that still points at the drawn text, claims in the style's encoding.

The developed styles are generated here for every check; the held-out ones only for the generator's
own invariants (ground truth, evidence pages, text layer, the knobs they use), never for what the
readers make of them: that is measured once, by bench/flags.py --styles."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from pipeline import claims, store
from pipeline.synth import catalog, generate, styles

DEVELOPED = styles.developed()


def _labels(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def styled(tmp_path_factory):
    out = tmp_path_factory.mktemp("styled")
    generate(out, records=12, hospitals=len(DEVELOPED), seed=5, forms=("text",), clean_share=0.2, workers=2,
             styles=DEVELOPED)
    return out, _labels(out)


HELDOUT = styles.heldout()


def test_styles_file_names_held_out_styles_apart_from_the_developed_ones():
    assert len(HELDOUT) >= 2 and set(HELDOUT) <= set(styles.load()) and set(HELDOUT).isdisjoint(DEVELOPED)
    assert set(DEVELOPED) | set(HELDOUT) == set(styles.load())
    assert len(DEVELOPED) >= 5 and styles.DEFAULT in DEVELOPED
    with pytest.raises(ValueError):
        styles.get("no-such-style")


def _styles_file(tmp_path, heldout_line: str) -> Path:
    text = re.sub(r"(?m)^heldout:.*$", heldout_line, styles.DATA.read_text(encoding="utf-8"), count=1)
    path = tmp_path / "styles.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_heldout_is_one_style_or_a_list_and_must_name_known_styles(tmp_path):
    assert styles.read(_styles_file(tmp_path, "heldout: ledger"))[1] == ("ledger",)
    loaded, held = styles.read(_styles_file(tmp_path, "heldout: [compact, ledger]"))
    assert held == ("compact", "ledger") and list(loaded) == list(styles.load())
    for bad in ("heldout: [ledger, nowhere]", "heldout: [standard]", "heldout: [ledger, ledger]", "heldout: []"):
        with pytest.raises(styles.StyleError):
            styles.read(_styles_file(tmp_path, bad))


def test_developed_batches_leave_out_every_held_out_style(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "dev"
    n = len(DEVELOPED) + 1
    result = CliRunner().invoke(app, ["synth", str(out), "--records", str(n), "--hospitals", str(n), "--forms", "",
                                      "--workers", "1", "--styles", "developed"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["hospital_styles"].values()) == set(DEVELOPED)
    assert {x["style"] for x in _labels(out)}.isdisjoint(HELDOUT)


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
    for style in DEVELOPED[1:] + HELDOUT:
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


@pytest.fixture(scope="module")
def held_batch(tmp_path_factory):
    """The held-out styles, for the generator's invariants only."""
    out = tmp_path_factory.mktemp("held")
    generate(out, records=10, hospitals=len(HELDOUT), seed=8, forms=("text",), clean_share=0.2, workers=2,
             styles=HELDOUT)
    return out, _labels(out)


def test_held_out_styles_keep_the_text_layer_and_the_evidence_true(held_batch):
    import pdfplumber

    out, labels = held_batch
    assert {lab["style"] for lab in labels} == set(HELDOUT)
    for lab in {lab["style"]: lab for lab in labels}.values():
        with pdfplumber.open(out / lab["form_files"]["text"]) as pdf:
            for page, meta in zip(pdf.pages, lab["pages"]):
                want = _page(out, lab, meta["page"]).rstrip("\n").replace("\u3000", " ")
                assert page.extract_text() == want, (lab["style"], meta)
    evidence = [(lab, ev) for lab in labels for v in lab["violations"] for ev in v["evidence"]]
    assert evidence and all(ev["text"] in _page(out, lab, ev["page"]) for lab, ev in evidence)


def _style_pages(out, labels, style, doc_type):
    return [_page(out, lab, p["page"]) for lab in labels if lab["style"] == style
            for p in lab["pages"] if p["doc_type"] == doc_type]


def test_forms_list_bill_date_and_spec_columns_own_local_names_and_bomless_utf8(held_batch):
    out, labels = held_batch
    # the knobs as county3 sets them: grid 首页 only, a bill by day with 规格, its own item names
    st = styles.get("county3")
    assert st.grid("住院病案首页") and not st.grid("入院记录") and not st.grid("出院记录")
    assert styles.get("ledger").grid("入院记录") and not styles.get(styles.DEFAULT).grid("住院病案首页")
    front = _style_pages(out, labels, "county3", "住院病案首页")[0]
    admission = _style_pages(out, labels, "county3", "入院记录")[0]
    assert re.search(r"(?m)^姓名 \S+ 性别 [男女] ", front) and re.search(r"(?m)^姓名： \S+ 性别： [男女] ", admission)
    bill = "".join(_style_pages(out, labels, "county3", "费用清单"))
    cols = [h for h, _ in st.spec["bill"]["columns"]]
    assert " ".join(cols) in bill
    assert re.search(r"(?m)^\d{4}-\d{1,2}-\d{1,2} \D", bill) and not re.search(r"(?m)^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}", bill)
    drugs = catalog.load().drugs
    assert any(f" {d['spec']} " in bill for d in drugs.values())
    assert "住院诊察费" in bill and "住院诊查费" not in bill and "诊查费" in bill   # own name; the category stays
    hid = next(lab["hospital_id"] for lab in labels if lab["style"] == "county3")
    raw = (out / "text" / hid / "claims.csv").read_bytes()
    assert st.claims_encoding == "utf-8" and not raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8").split("\r\n")[0] == ",".join(st.claims_header)
