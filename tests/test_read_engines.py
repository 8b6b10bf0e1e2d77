"""Engine registry, `doctor` report, the fake engine's sidecars, and tesseract when installed."""
import json

import numpy as np
import pytest

from pipeline.read import engines
from pipeline.read.engines.base import EngineUnavailable
from pipeline.read.stage import ReadStage
from test_read_fixtures import draw_page, needs_font


def test_available_reports_every_engine_with_a_reason():
    report = {e["name"]: e for e in engines.available()}
    assert set(report) == {"rapidocr", "paddleocr", "tesseract", "fake"}
    assert all(isinstance(e["available"], bool) and e["detail"] for e in report.values())
    assert report["fake"]["available"]


def test_paddleocr_says_which_dirs_to_configure(monkeypatch, tmp_path):
    from pipeline.read.engines import paddle

    monkeypatch.delenv("MEDREVIEW_PADDLE_DET_DIR", raising=False)
    monkeypatch.delenv("MEDREVIEW_PADDLE_REC_DIR", raising=False)
    ok, detail = paddle.check()
    assert not ok
    if "paddleocr" in detail and "未安装" in detail:
        assert ".[paddle]" in detail  # the extra is not installed here
    else:
        assert "MEDREVIEW_PADDLE_DET_DIR" in detail and "MEDREVIEW_PADDLE_REC_DIR" in detail
    with pytest.raises(EngineUnavailable):
        engines.create("paddleocr")


def test_unknown_engine_and_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown OCR engine"):
        engines.create("abbyy")
    with pytest.raises(ValueError, match="unknown OCR engine"):
        ReadStage(engine="abbyy")
    with pytest.raises(ValueError, match="dpi"):
        ReadStage(engine="fake", dpi=5000)
    with pytest.raises(TypeError, match="unknown read options"):
        ReadStage(engine="fake", dpii=200)
    # The runner's config names and None (option not given) are accepted.
    stage = ReadStage(ocr_engine="fake", dpi=None, engine=None)
    assert stage.cfg.engine == "fake" and stage.cfg.dpi == 200


def test_ocr_workers_are_capped_to_cores_per_threads(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert ReadStage(engine="rapidocr").max_workers == 8  # one single-threaded OCR worker per core
    assert ReadStage(engine="rapidocr", ocr_threads=4).max_workers == 2
    assert ReadStage(engine="fake").max_workers is None


@needs_font
def test_fake_engine_reads_sidecars(tmp_path):
    img = np.asarray(draw_page([[(40, "第一行")], [(40, "第二行文字")]], size=(500, 200)))
    src = tmp_path / "p.png"
    eng = engines.create("fake")
    assert [ln.text for ln in eng.recognize(img)] == ["L1", "L2"]
    src.with_suffix(".txt").write_text("第一行\n第二行文字\n", encoding="utf-8")
    lines = eng.recognize(img, str(src))
    assert [ln.text for ln in lines] == ["第一行", "第二行文字"]
    assert lines[0].bbox[3] < lines[1].bbox[1]
    (tmp_path / "p.png.ocr.json").write_text(json.dumps([{"text": "甲", "bbox": [1, 2, 3, 4]}]), encoding="utf-8")
    (only,) = eng.recognize(img, str(src))
    assert (only.text, only.bbox) == ("甲", (1, 2, 3, 4))
    assert eng.calls == 3


tesseract_ok = next(e for e in engines.available() if e["name"] == "tesseract")["available"]


@needs_font
@pytest.mark.skipif(not tesseract_ok, reason="tesseract-ocr with chi_sim not installed")
def test_tesseract_reads_a_small_page():
    img = np.asarray(draw_page([[(40, "主诉：反复咳嗽咳痰3天。")], [(40, "体温 38.5 脉搏 96次/分")]], size=(720, 200)))
    eng = engines.create("tesseract")
    lines = eng.recognize(img)
    assert len(lines) == 2 and lines[0].bbox[3] <= lines[1].bbox[1] + 5
    assert "".join(lines[0].text.split()).replace(":", "：") == "主诉：反复咳嗽咳痰3天。"
    assert all(0 <= ln.confidence <= 1 for ln in lines)


def test_versions_are_known_without_loading_models():
    assert engines.version("fake") == engines.create("fake").version
    if next(e for e in engines.available() if e["name"] == "rapidocr")["available"]:
        from importlib.metadata import version

        assert engines.version("rapidocr") == f"{version('rapidocr')}/PP-OCRv6-small"


def test_unknown_ocr_settings_are_refused():
    for bad in (dict(ocr_backend="tensorrt"), dict(ocr_pipeline="fast"), dict(angle_check="never"), dict(rec_batch=0)):
        with pytest.raises(ValueError):
            ReadStage(engine="rapidocr", **bad)
