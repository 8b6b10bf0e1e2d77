"""Annotation export: schema, round trip, content-hash versions, de-duplication, merge, masking."""
import json

import pytest

from pipeline import review, store
from pipeline.annotations import AnnotationError, export_decisions, load_decisions
from pipeline.annotations.export import decision_rows

T = "2026-11-20T08:00:00+00:00"


def _build(db_path, prefix="s"):
    d = store.connect(db_path)
    with store.transaction(d):
        store.insert_many(d, "hospitals", [{"id": "H1", "name": "青山县人民医院", "created_at": T}])
        store.insert_many(d, "records", [
            {"id": i, "sha256": f"{prefix}{i}", "source_path": f"/b/{i}.pdf", "kind": "pdf", "hospital_id": "H1",
             "admission_no": f"ZY{i}", "stage": "scored", "created_at": T, "updated_at": T} for i in (1, 2, 3)])
        store.insert_many(d, "fields", [{"record_id": 1, "name": "patient_name", "seq": 0, "value": "王小明"}])
        store.insert_many(d, "flags", [
            {"id": i, "record_id": r, "rule_id": rule, "rule_name": "规则", "key": "", "amount": amt,
             "catalogue_version": "v1", "evidence": json.dumps([{"page_no": 2, "line_id": 7, "text": "患者王小明收费"}],
                                                                ensure_ascii=False),
             "source": "system", "created_at": T}
            for i, r, rule, amt in [(1, 1, "R-A", 100.0), (2, 1, "R-B", 50.0), (3, 2, "R-A", 70.0), (4, 3, "R-C", 10.0)]])
    return d


@pytest.fixture
def db(db_path):
    d = _build(db_path)
    review.decide(d, "a", 1, "confirm", note="王小明 住院天数不符")
    review.decide(d, "a", 2, "reject", reason_code="charge_correct")
    review.decide(d, "b", 3, "change", amount=35.0)
    review.decide(d, "b", 4, "confirm")
    review.undo_last(d, "b", 3)   # flag 4's confirmation is undone -> pending, not exported
    return d


def test_rows_follow_current_review_state(db):
    rows = {r["flag_id"]: r for r in decision_rows(db)}
    assert set(rows) == {1, 2, 3}
    assert rows[1]["decision"] == "confirmed" and rows[2]["decision"] == "rejected"
    assert rows[2]["reason_code"] == "charge_correct"
    assert rows[3]["amount_flagged"] == 70.0 and rows[3]["amount_final"] == 35.0
    assert rows[1]["record_sha256"] == "s1" and rows[1]["reviewers"] == {"a": "confirmed"}
    assert "王小明" not in rows[1]["note"] and rows[1]["note"].startswith("王**")
    assert rows[1]["evidence"][0]["text"] == "患者王**收费" and rows[1]["evidence"][0]["page_no"] == 2


def test_round_trip_and_unchanged_export_is_same_version(db, tmp_path):
    out = tmp_path / "annotations"
    first = export_decisions(db, out)
    assert first["new"] and first["rows"] == 3 and first["added"] == 3
    assert first["path"].name == f"{first['version']}.jsonl"
    assert load_decisions(out) == decision_rows(db)      # annotations/ root resolves to the latest
    assert load_decisions(first["path"]) == decision_rows(db)
    again = export_decisions(db, out)
    assert not again["new"] and again["version"] == first["version"]
    assert len(list((out / "flag_decisions").glob("*.jsonl"))) == 1
    manifest = json.loads((out / "flag_decisions" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["latest"] == first["version"] and len(manifest["versions"]) == 1


def test_new_decision_makes_child_version(db, tmp_path):
    out = tmp_path / "annotations"
    first = export_decisions(db, out)
    review.decide(db, "b", 4, "reject", reason_code="rule_not_applicable")
    second = export_decisions(db, out)
    assert second["new"] and second["parent"] == first["version"]
    assert (second["added"], second["removed"], second["changed"], second["rows"]) == (1, 0, 0, 4)
    assert len(load_decisions(first["path"])) == 3       # old versions stay readable
    review.undo_last(db, "b", 3)
    third = export_decisions(db, out)
    assert (third["removed"], third["rows"]) == (1, 3)


def test_other_batches_are_carried_over_without_duplicates(db, tmp_path):
    out = tmp_path / "annotations"
    export_decisions(db, out)
    other = _build(tmp_path / "other.db", prefix="t")
    review.decide(other, "c", 1, "confirm")
    res = export_decisions(other, out)
    rows = load_decisions(out)
    assert res["rows"] == 4 and len({r["key"] for r in rows}) == 4
    assert sorted(r["record_sha256"] for r in rows) == ["s1", "s1", "s2", "t1"]
    assert export_decisions(db, out)["new"] is False     # re-exporting the first batch changes nothing


def test_no_mask_keeps_names(db, tmp_path):
    rows = decision_rows(db, mask=False)
    assert any("王小明" in (r["note"] or "") for r in rows)


def test_tampered_or_invalid_files_are_refused(db, tmp_path):
    out = tmp_path / "annotations"
    res = export_decisions(db, out)
    path = res["path"]
    lines = path.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[1])
    bad["decision"] = "maybe"
    path.write_text("\n".join([lines[0], json.dumps(bad), *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match="hash"):
        load_decisions(path)
    with pytest.raises(AnnotationError, match=rf"{path.name}:2: decision"):
        load_decisions(path, verify=False)


def test_nothing_decided_writes_no_version(db_path, tmp_path):
    d = _build(db_path)
    res = export_decisions(d, tmp_path / "annotations")
    assert not res["new"] and res["rows"] == 0
    assert not list((tmp_path / "annotations" / "flag_decisions").glob("*.jsonl"))
    with pytest.raises(AnnotationError, match="没有已导出的版本"):
        load_decisions(tmp_path / "annotations")


def test_cli_export(db, db_path, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "ann"
    res = CliRunner().invoke(app, ["annotations", "export", "--db", str(db_path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(load_decisions(out)) == 3
    res = CliRunner().invoke(app, ["annotations", "export", "--db", str(db_path), "--out", str(out)])
    assert res.exit_code == 0 and "unchanged" in res.output


def test_record_labels_from_export(db, tmp_path):
    from pipeline.annotations import labels_from

    res = export_decisions(db, tmp_path / "annotations")
    labels, version = labels_from(tmp_path / "annotations")
    # record s1: flag 1 confirmed + flag 2 rejected -> 1; s2: changed (confirmed) -> 1; s3 pending -> absent
    assert labels == {"s1": 1, "s2": 1} and version == res["version"]
    review.decide(db, "a", 1, "reject", reason_code="evidence_wrong")
    export_decisions(db, tmp_path / "annotations")
    assert labels_from(tmp_path / "annotations")[0] == {"s1": 0, "s2": 1}
