"""Orientation, skew, contrast and the coverage check on drawn pages (no OCR engine needed)."""
import numpy as np
import pytest

from pipeline.record.page import Line
from pipeline.read import coverage, preprocess
from pipeline.read.engines.fake import FakeEngine, ink_line_boxes
from test_read_fixtures import draw_page, ink_rows, needs_font

pytestmark = needs_font

ROWS = [[(40, "入院记录 姓名：张三 性别：男 年龄：45岁")], [(40, "主诉：反复咳嗽咳痰3天，发热1天。")],
        [(40, "现病史：患者3天前受凉后出现咳嗽，咳黄痰。")], [(40, "体温 38.5℃ 脉搏 96次/分 血压 130/80mmHg")],
        [(40, "初步诊断：社区获得性肺炎")]]


@pytest.fixture(scope="module")
def page():
    return np.asarray(draw_page(ROWS, size=(900, 260), pitch=34))


@pytest.mark.parametrize("tilt", [2.0, -1.5, 4.0])
def test_skew_is_measured_and_corrected(page, tilt):
    tilted = preprocess.deskew(page, tilt)
    quarter, skew = preprocess.analyse(tilted)
    assert quarter == 0
    assert abs(skew + tilt) < 0.25
    fixed = preprocess.deskew(tilted, skew)
    # Upright again: the five text rows are separate ink bands once more.
    assert ink_rows(fixed) == ink_rows(page) == 5
    assert ink_rows(tilted) < 5


@pytest.mark.parametrize("turn", [90, 270])
def test_quarter_turned_page_is_detected(page, turn):
    turned = preprocess.rotate_quarter(preprocess.deskew(page, 1.0), turn)
    quarter, skew = preprocess.analyse(turned)
    assert quarter == 90
    upright_or_flipped = preprocess.deskew(preprocess.rotate_quarter(turned, quarter), skew)
    assert ink_rows(upright_or_flipped) == 5


def test_blank_page_has_no_ink_and_no_orientation():
    blank = np.full((500, 400), 250, np.uint8)
    rng = np.random.default_rng(0)
    blank[rng.integers(0, 500, 20), rng.integers(0, 400, 20)] = 0  # scanner specks
    assert not coverage.has_ink(blank)
    assert preprocess.analyse(blank) == (0, 0.0)


def test_faint_scan_is_stretched(page):
    faint = (150 + page.astype(np.float32) * 0.3).astype(np.uint8)  # ink 150, paper ~226
    out = preprocess.normalize_contrast(faint)
    assert out.min() < 20 and out.max() > 235
    assert preprocess.normalize_contrast(page) is page  # full-range pages are left alone


def test_apply_replays_rotation_and_skew_exactly(page):
    a = preprocess.apply(preprocess.rotate_quarter(page, 90), 270, 1.3, True)
    b = preprocess.apply(preprocess.rotate_quarter(page, 90), 270, 1.3, True)
    assert a.shape == b.shape and np.array_equal(a, b)
    assert a.shape[1] > a.shape[0]  # landscape page turned back to its drawn orientation


def test_coverage_recovers_a_line_the_engine_dropped(page):
    boxes = ink_line_boxes(page)
    assert len(boxes) == 5
    # An engine that silently lost the fourth line (the dosing-abbreviation failure mode).
    lines = [Line(text=f"t{i}", bbox=tuple(map(float, b))) for i, b in enumerate(boxes) if i != 3]
    assert len(coverage.uncovered_bands(page, lines)) == 1
    engine = FakeEngine()
    out, cov = coverage.recover(page, lines, engine)
    assert cov.bands == 1 and cov.missing == 0 and cov.recovered >= 1
    added = [ln for ln in out if ln.text not in {"t0", "t1", "t2", "t4"}]
    assert len(added) == cov.recovered
    # The re-read text sits where the lost line was, in page coordinates.
    bx0, by0, bx1, by1 = boxes[3]
    assert abs(min(a.bbox[0] for a in added) - bx0) <= 2 and abs(max(a.bbox[2] for a in added) - bx1) <= 2
    assert all(by0 - 2 <= a.bbox[1] and a.bbox[3] <= by1 + 2 for a in added)


def test_coverage_ignores_table_rules_and_noise(page):
    ruled = page.copy()
    ruled[250, 20:880] = 0          # a table rule below the text
    ruled[20:255, 20] = 0           # and a vertical one
    rng = np.random.default_rng(1)
    ruled[rng.integers(0, 260, 300), rng.integers(0, 900, 300)] = 0  # salt noise
    lines = [Line(text="x", bbox=tuple(map(float, b))) for b in ink_line_boxes(page)]
    assert coverage.uncovered_bands(ruled, lines) == []


@pytest.fixture(scope="module")
def sparse_shaded_page():
    """A report page with four short left-aligned lines at the top and lighting that darkens towards
    one corner, as on phone photos and cheap scanners (a real failure: skew read as -10.5°)."""
    rows = [[(60, "检查报告")], [(60, "检查项目：常规心电图检查")], [(60, "检查时间：2024-09-07 16:54")],
            [(60, "检查所见及诊断：窦性心动过速。")]]
    page = np.asarray(draw_page(rows, size=(700, 990), font_size=18, top=60, pitch=30)).astype(np.float32)
    yy, xx = np.mgrid[0:990, 0:700]
    light = 1.0 - 0.4 * np.clip((xx / 700 + yy / 990) - 0.6, 0, None)  # a dark wedge bottom right
    return (page * light).astype(np.uint8)


def test_sparse_page_with_uneven_lighting_keeps_its_orientation(sparse_shaded_page):
    quarter, skew = preprocess.analyse(sparse_shaded_page)
    assert quarter == 0
    assert abs(skew) < 0.5


@pytest.mark.parametrize("turn", [90, 270])
def test_sparse_shaded_page_turned_is_detected(sparse_shaded_page, turn):
    quarter, skew = preprocess.analyse(preprocess.rotate_quarter(sparse_shaded_page, turn))
    assert quarter == 90
    assert abs(skew) < 0.5


def test_deskew_keeps_the_frame_unless_ink_would_be_cut(page):
    framed = np.full((600, 1100), 255, np.uint8)
    framed[170:430, 100:1000] = page  # wide margins: the turned corners are paper
    assert preprocess.deskew(framed, 3.0).shape == framed.shape
    # text to the edges: the canvas grows as far as the turned ink needs, and no ink is lost
    ys, xs = np.nonzero(page < 128)
    tight = page[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    turned = preprocess.deskew(tight, 3.0)
    assert turned.shape[0] > tight.shape[0]
    assert (turned < 128).sum() == pytest.approx((tight < 128).sum(), rel=0.05)


@needs_font
def test_text_height_is_the_line_height_of_the_page():
    from pipeline.read.preprocess import text_height

    rows = [[(40, "主诉：反复咳嗽咳痰3天，发热1天。")]] * 8 + [[(40, "白细胞"), (400, "12.5"), (600, "10^9/L")]] * 4
    for size in (20, 40):
        page = np.asarray(draw_page(rows, size=(1400, 1400), font_size=size, pitch=int(size * 2.2)))
        assert 0.7 * size <= text_height(page) <= 1.3 * size
    assert text_height(np.full((800, 600), 250, np.uint8)) is None
