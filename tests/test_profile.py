"""Per-hospital profiles (pipeline/segment/profiles.py) and `medreview profile check | show`."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import cli
from pipeline import store
from pipeline.run import RunOptions, run_batch
from pipeline.segment import config, coverage, profiles
from pipeline.segment.config import SegmentDataError
from tests.segment_helpers import load_record

FRONT = ("住院病案首页\n住院编号：ZY0009 姓名：张三 性别：男 年龄：60岁\n"
         "入院时间：2024-03-08 08:00 出院时间：2024-03-12 09:00\n主要诊断：肺炎 J18.900")
PROFILE = "version: 1\nname: 白河镇中心卫生院\nlabels: {admission_no: [住院编号]}\ncolumns: {bill: {date: [计费时刻]}}\n"


def _segmented(db_path, profiles_dir=None):
    db = store.connect(db_path)
    load_record(db, [FRONT], hospital_id="H03")
    opts = {"segment": {"profiles": str(profiles_dir)}} if profiles_dir else {}
    run_batch(db, ["segment"], RunOptions(workers=1, executor="inline", stage_options=opts))
    return db


def test_coverage_shows_a_field_never_read_and_where_it_should_be(db_path):
    db = _segmented(db_path)
    (cov,) = coverage.collect(db)
    items = {(i.kind, i.name): i for i in cov.items}
    adm = items[("field", "admission_no")]
    assert adm.found == 0 and adm.missing == [("r1.pdf", "第1页")]
    assert items[("field", "sex")].found == 1 and items[("document", "入院记录")].found == 0


def test_a_profile_adds_the_hospitals_own_label_without_code(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "H03.yaml").write_text(PROFILE, encoding="utf-8")
    db = _segmented(tmp_path / "a.db", folder)
    assert next(db.query("SELECT admission_no FROM records"))["admission_no"] == "ZY0009"
    prof = profiles.find("H03", config.load(), folder)
    assert prof.name == "白河镇中心卫生院" and prof.labels["admission_no"] == ("住院编号",)
    # another hospital is not touched by it
    assert profiles.find("H01", config.load(), folder) is None


@pytest.mark.parametrize("text, where", [
    ("version: 1\nlabels: {gender: [性 别]}\n", "labels.gender"),
    ("version: 1\ntitles: {出院小结: [出院小结单]}\n", "titles.出院小结"),
    ("version: 1\ncolumns: {bill: {when: [计费时刻]}}\n", "columns.bill.when"),
    ("version: 2\n", "version"),
])
def test_a_bad_profile_names_the_file_and_key(tmp_path, text, where):
    path = tmp_path / "H09.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SegmentDataError) as exc:
        profiles.parse(path, config.load())
    assert "H09.yaml" in str(exc.value) and where in str(exc.value)


def test_profile_check_and_show_commands(tmp_path):
    db_path = tmp_path / "a.db"
    _segmented(db_path)
    runner = CliRunner()
    res = runner.invoke(cli.app, ["profile", "check", str(db_path), "--json"])
    assert res.exit_code == 0, res.output
    (h,) = json.loads(res.output)
    adm = next(i for i in h["items"] if i["name"] == "admission_no")
    assert h["hospital_id"] == "H03" and adm["share"] == 0.0 and adm["missing"] == [["r1.pdf", "第1页"]]
    res = runner.invoke(cli.app, ["profile", "check", str(db_path), "--profiles", str(tmp_path / "none")])
    assert res.exit_code == 1 and "住院号" in res.output
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "H03.yaml").write_text(PROFILE, encoding="utf-8")
    res = runner.invoke(cli.app, ["profile", "show", "H03", "--profiles", str(folder), "--db", str(db_path)])
    assert res.exit_code == 0 and "住院编号" in res.output and "计费时刻" in res.output
    res = runner.invoke(cli.app, ["profile", "show", "H01", "--profiles", str(folder)])
    assert res.exit_code == 0 and "没有医院档案" in res.output
    (folder / "H04.yaml").write_text("version: 1\nlabels: {gender: [x]}\n", encoding="utf-8")
    res = runner.invoke(cli.app, ["profile", "check", str(db_path), "--profiles", str(folder)])
    assert res.exit_code == 2 and "H04.yaml" in res.output
