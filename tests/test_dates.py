import datetime as dt

import pytest

from pipeline.dates import parse_datetime, normalize_text


@pytest.mark.parametrize("text, expected", [
    ("2020-03-05", dt.datetime(2020, 3, 5)),
    ("2020年3月5日", dt.datetime(2020, 3, 5)),
    ("2020.3.5 14:30", dt.datetime(2020, 3, 5, 14, 30)),
    ("2020/03/05 08:05:09", dt.datetime(2020, 3, 5, 8, 5, 9)),
    ("２０２０－０３－０５　１４：３０", dt.datetime(2020, 3, 5, 14, 30)),  # full-width
    ("2020-03-0509:30", dt.datetime(2020, 3, 5, 9, 30)),  # OCR dropped the space
    ("2024-08-10.22:37", dt.datetime(2024, 8, 10, 22, 37)),  # OCR read the space as a dot
    ("2024-08-10,22:37 出院", dt.datetime(2024, 8, 10, 22, 37)),
    ("入院时间：2020年03月05日 14时30分", dt.datetime(2020, 3, 5, 14, 30)),
    ("20200305", dt.datetime(2020, 3, 5)),
])
def test_supported_forms(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2020-13-05", "2020-02-30", "12:30"])
def test_rejects_non_dates(text):
    assert parse_datetime(text) is None


def test_normalize_units_and_width():
    assert normalize_text("体温３６.５°C") == "体温36.5℃"
