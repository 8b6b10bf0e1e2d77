"""Sex, age and birth cross-checked with the ID number (pipeline/segment/identity.py), and field
labels printed the ways county hospitals print them."""
from __future__ import annotations

import datetime as dt

import pytest

from pipeline import store
from pipeline.segment import config, identity
from pipeline.segment.record import segment
from pipeline.synth.people import id_check_digit
from tests.segment_helpers import load_record, page_lines


def _id(birth: str, seq: str) -> str:
    first17 = f"361127{birth}{seq}"
    return first17 + id_check_digit(first17)


MAN = _id("19720812", "369")     # 17th digit 9: 男
WOMAN = _id("19860212", "002")   # 17th digit 2: 女


def test_parse_id_checks_the_check_character_birth_and_sex_digit():
    got = identity.parse_id(MAN)
    assert got.sex == "男" and got.birth == dt.date(1972, 8, 12)
    assert identity.parse_id(WOMAN).sex == "女"
    assert identity.parse_id(MAN[:-1] + ("0" if MAN[-1] != "0" else "1")) is None   # wrong check character
    assert identity.parse_id("３６１１２７" + MAN[6:]) is not None                     # full-width digits
    assert identity.parse_id("361127720812369").birth == dt.date(1972, 8, 12)       # 15 digits (before 1999)
    assert identity.parse_id("36112719721312369X") is None                          # no such month


def _front(lines: str) -> list:
    return page_lines(["住院病案首页\n" + lines + "\n入院时间：2024-03-08 08:00 出院时间：2024-03-12 09:00"])


def _values(seg) -> dict:
    return {v.name: (v.value, v.source) for v in seg.fields if v.seq == 0}


def test_sex_and_age_come_from_the_id_number_when_their_labels_are_not_read():
    seg = segment(_front(f"姓名：张三 身份证号：{MAN}"), config.load())
    got = _values(seg)
    assert got["sex"] == ("男", "id_number") and got["age"] == ("51", "id_number")
    assert got["birth"] == ("1972-08-12", "id_number") and not seg.issues


def test_a_disagreement_with_the_id_number_is_recorded_and_the_written_value_kept():
    seg = segment(_front(f"姓名：张三 性别：女 年龄：30岁 身份证号：{MAN}"), config.load())
    assert _values(seg)["sex"] == ("女", None)
    kinds = {k: d for k, d in seg.issues}
    assert kinds["identity_sex_mismatch"] == {"written": "女", "id_number": "男"}
    assert kinds["identity_age_mismatch"]["written"] == 30


def test_an_unlabelled_id_number_on_the_front_page_is_used():
    seg = segment(_front(f"姓名 张三\n{WOMAN}"), config.load())
    got = _values(seg)
    assert got["id_number"] == (WOMAN, "text") and got["sex"] == ("女", "id_number")


@pytest.mark.parametrize("line", [
    "性　别：男 年　龄：45岁",          # full-width spaces inside two-character labels
    "性 别: 男 年 龄: 45",             # ASCII spaces, ASCII colon, no unit
    "性别男 年龄45岁",                 # no separator at all
    "性别 男 年龄 45",                  # grid: label and value cells
])
def test_labels_with_spaces_colons_or_none(line):
    got = _values(segment(_front("姓名：张三 " + line), config.load()))
    assert got["sex"] == ("男", None) and got["age"] == ("45", None)


def test_a_label_the_reading_split_over_two_cells(db_path):
    """A full-width space prints a gap the text layer reads as two cells: '性' | '别：男'."""
    db = store.connect(db_path)
    cells = [{"text": "住院病案首页", "x0": 250, "x1": 350, "row_no": 0},
             {"text": "姓", "x0": 50, "x1": 60, "row_no": 1}, {"text": "名：张三 性", "x0": 75, "x1": 140, "row_no": 1},
             {"text": "别：男 年", "x0": 155, "x1": 200, "row_no": 1}, {"text": "龄：45岁", "x0": 215, "x1": 260, "row_no": 1},
             {"text": "入院时间：2024-03-08 08:00", "x0": 50, "x1": 250, "row_no": 2}]
    load_record(db, [cells])
    from pipeline.run import RunOptions, run_batch

    run_batch(db, ["segment"], RunOptions(workers=1, executor="inline"))
    rec = next(db.query("SELECT sex, age, sex_source FROM records"))
    assert (rec["sex"], rec["age"], rec["sex_source"]) == ("男", 45, "written")


def test_segment_stage_records_where_sex_came_from(db_path):
    db = store.connect(db_path)
    load_record(db, [f"住院病案首页\n姓名：张三 身份证号：{WOMAN}\n入院时间：2024-03-08 08:00"])
    from pipeline.run import RunOptions, run_batch

    run_batch(db, ["segment"], RunOptions(workers=1, executor="inline"))
    rec = next(db.query("SELECT sex, age, sex_source, age_source FROM records"))
    assert (rec["sex"], rec["sex_source"], rec["age_source"]) == ("女", "id_number", "id_number")
    assert rec["age"] == 38
