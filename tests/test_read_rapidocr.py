"""The default engine for real, on one small folder (~10 s): a page turned by 90° and slightly
skewed and a page upside down come back upright with their text in reading order, and a line
the engine's result lacks is found by the coverage check and read again."""
import numpy as np
import pytest

from pipeline import store
from pipeline.read import coverage, engines
from pipeline.read.stage import ReadStage
from test_read_fixtures import add_record, draw_page, needs_font

LINES = ["入院记录", "主诉：反复咳嗽咳痰3天，发热1天。", "现病史：患者3天前受凉后出现咳嗽。", "初步诊断：社区获得性肺炎"]

rapidocr_ok = next(e for e in engines.available() if e["name"] == "rapidocr")["available"]


TODAY = dict(ocr_backend="onnxruntime", ocr_pipeline="library", angle_check="always", rec_pack=False,
             rec_batch=6, det_text_px=0)
needs_rapidocr = pytest.mark.skipif(not rapidocr_ok, reason="rapidocr with its shipped models is not installed")


@needs_font
@needs_rapidocr
@pytest.mark.parametrize("settings", [{}, TODAY], ids=["configured", "library-onnxruntime"])
def test_turned_and_upside_down_pages_are_read_upright(tmp_path, db_path, settings):
    page = draw_page([[(40, t)] for t in LINES], size=(720, 300), font_size=28, pitch=50)
    d = tmp_path / "adm"
    d.mkdir()
    # Page 1 lies on its side (turned counter-clockwise) and tilted; page 2 is upside down.
    page.rotate(1.2, expand=True, fillcolor=255).rotate(90, expand=True).save(d / "page-1.png")
    page.rotate(180).save(d / "page-2.png")
    db = store.connect(db_path)
    rid = add_record(db, d, "image-folder")
    record = next(db.query("SELECT * FROM records WHERE id = ?", [rid]))
    stage = ReadStage(engine="rapidocr", **settings)
    ctx: dict = {}
    for result in stage.work(stage.prepare(db, record), ctx):
        with store.transaction(db):
            stage.save(db, record, result)
    with store.transaction(db):
        stage.finish(db, record)
    pages = list(db.query("SELECT * FROM pages WHERE record_id = ? ORDER BY page_no", [rid]))
    assert [p["rotation"] for p in pages] == [90, 180]
    assert abs(pages[0]["skew"] + 1.2) < 0.3
    for p in pages:
        texts = [r["text"] for r in db.query("SELECT text FROM lines WHERE page_id = ? ORDER BY line_no", [p["id"]])]
        assert [t.replace(" ", "") for t in texts] == LINES, texts
        assert p["engine"] == "rapidocr" and p["mean_confidence"] > 0.8

    # Coverage check with the real engine: drop the third line from its own result.
    (engine,) = [v for k, v in ctx.items() if k[0] == "read.engine"]
    upright = np.asarray(page)
    lines = engine.recognize(upright)
    kept = [ln for ln in lines if ln.text.replace(" ", "") != LINES[2]]
    assert len(kept) == len(LINES) - 1
    out, cov = coverage.recover(upright, kept, engine)
    assert (cov.bands, cov.recovered, cov.missing) == (1, 1, 0)
    assert [ln.text.replace(" ", "") for ln in out if ln not in kept] == [LINES[2]]


@needs_font
@needs_rapidocr
def test_short_cells_read_the_same_packed_into_shared_rows():
    """A lab table's short cells share recognition rows with ``rec_pack``: same text, fewer rows."""
    rows = [[(40, name), (330, value), (520, unit), (700, ref)] for name, value, unit, ref in [
        ("白细胞计数", "12.5", "10^9/L", "3.5-9.5"), ("血红蛋白", "138", "g/L", "130-175"),
        ("C反应蛋白", "56.2", "mg/L", "0-10"), ("血钾", "3.42", "mmol/L", "3.5-5.3")]]
    page = np.asarray(draw_page(rows, size=(900, 300), font_size=26, pitch=56))
    read = {}
    for pack in (False, True):
        engine = engines.create("rapidocr", threads=1, **{**ReadStage(engine="rapidocr").cfg.engine_settings(), "rec_pack": pack})
        read[pack] = sorted(ln.text.replace(" ", "") for ln in engine.recognize(page))
    assert read[True] == read[False]
    assert len(read[True]) == 16 and "56.2" in read[True] and "mmol/L" in read[True]


def test_batches_cover_every_crop_once_with_less_padding_than_fixed_sixes():
    from pipeline.read.engines.rapid import plan_batches

    ratios = sorted([6.7] * 30 + [9.0, 12.0, 30.0, 31.0, 45.0] + [7.0] * 4)
    batches = plan_batches(ratios, 16)
    assert [i for b in batches for i in b] == list(range(len(ratios)))
    assert all(1 <= len(b) <= 16 for b in batches)

    def cost(bs):
        return sum(4.0 + len(b) * ratios[b[-1]] for b in bs)

    fixed = [range(i, min(i + 6, len(ratios))) for i in range(0, len(ratios), 6)]
    assert cost(batches) < cost(fixed)
