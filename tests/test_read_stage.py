"""ReadStage through the batch runner: mixed inputs, resume after a crash, OCR cache, bad inputs."""
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from pipeline import store
from pipeline.pageimages import page_image, pages_dir
from pipeline.read.stage import ReadStage
from pipeline.run import run_stage
from test_read_fixtures import add_record, draw_page, needs_font, scan_pdf, text_pdf

pytestmark = needs_font


def _stage(**kw):
    return lambda: ReadStage(engine="fake", **kw)


def _run(db, factory):
    return run_stage(db, factory, executor="inline")


def _engines(ctx):
    return [v for k, v in ctx.items() if k[0] == "read.engine"]


def _pages(db, rid):
    return list(db.query("SELECT * FROM pages WHERE record_id = ? ORDER BY page_no", [rid]))


def _lines(db, page_id):
    return [r["text"] for r in db.query("SELECT text FROM lines WHERE page_id = ? ORDER BY line_no", [page_id])]


def _folder(tmp_path, name, texts):
    """Page images page-1, page-2, page-10 … each with a sidecar .txt the fake engine reads."""
    d = tmp_path / name
    d.mkdir()
    for n, text in texts.items():
        draw_page([[(40, text)]], size=(600, 200)).save(d / f"page-{n}.png")
        (d / f"page-{n}.txt").write_text(text, encoding="utf-8")
    return d


def test_mixed_records_are_read_into_pages_and_lines(tmp_path, db_path):
    db = store.connect(db_path)
    tpdf = text_pdf(tmp_path / "text.pdf", [[[(60, "入院记录")], [(60, "主诉：咳嗽3天。")]], [[(60, "出院记录")]]])
    spdf = scan_pdf(tmp_path / "scan.pdf", [draw_page([[(40, "首次病程记录")], [(40, "病例特点")]]),
                                            Image.new("L", (600, 800), 255)])
    folder = _folder(tmp_path, "adm", {10: "第十页", 2: "第二页", 1: "第一页"})
    tiff = tmp_path / "multi.tif"
    frames = [draw_page([[(40, "医嘱单")]], size=(500, 200)), draw_page([[(40, "费用清单")]], size=(500, 200))]
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    ids = {k: add_record(db, p, kind) for k, p, kind in
           [("text", tpdf, "pdf"), ("scan", spdf, "pdf"), ("folder", folder, "image-folder"), ("tiff", tiff, "image")]}

    report = _run(db, _stage())
    assert (report.done, report.failed, report.items) == (4, 0, 9)

    text_pages = _pages(db, ids["text"])
    assert [(p["text_source"], p["unit"], p["image_path"]) for p in text_pages] == [("pdf-text", "pt", None)] * 2
    assert _lines(db, text_pages[0]["id"]) == ["入院记录", "主诉：咳嗽3天。"]
    assert text_pages[0]["text"] == "入院记录\n主诉：咳嗽3天。"

    scan_pages = _pages(db, ids["scan"])
    assert [p["text_source"] for p in scan_pages] == ["ocr", "empty"]
    assert scan_pages[0]["unit"] == "px" and scan_pages[0]["dpi"] == 150  # the embedded scan's own dpi
    assert len(_lines(db, scan_pages[0]["id"])) == 2 and _lines(db, scan_pages[1]["id"]) == []

    folder_pages = _pages(db, ids["folder"])
    assert [p["text"] for p in folder_pages] == ["第一页", "第二页", "第十页"]  # natural sort
    assert folder_pages[2]["source_ref"].endswith("page-10.png")
    assert [p["source_ref"].rsplit("#", 1)[-1] for p in _pages(db, ids["tiff"])][1] == "1"

    for p in scan_pages + folder_pages:
        stored = pages_dir(db_path) / p["image_path"]
        assert stored.is_file()
        img, scale = page_image(db, db_path, p["id"])
        assert (img.width, img.height) == (p["width"], p["height"]) and scale == 1.0
    # Boxes are in stored-image pixels: every OCR line lies inside its page.
    for row in db.query("SELECT l.*, p.width, p.height FROM lines l JOIN pages p ON p.id = l.page_id WHERE p.unit = 'px'"):
        assert 0 <= row["x0"] < row["x1"] <= row["width"] and 0 <= row["y0"] < row["y1"] <= row["height"]
    assert {r["stage"] for r in db.query("SELECT stage FROM records")} == {"read"}
    assert db.execute("SELECT n_pages FROM records WHERE id = ?", (ids["folder"],)).fetchone()[0] == 3


def test_rotated_and_skewed_scan_is_stored_upright(tmp_path, db_path):
    db = store.connect(db_path)
    page = draw_page([[(40, f"第{i}行文字内容示例，患者自述反复咳嗽咳痰三天")] for i in range(6)], size=(700, 420), pitch=40)
    d = tmp_path / "rot"
    d.mkdir()
    page.rotate(1.5, expand=True, fillcolor=255).rotate(90, expand=True).save(d / "page-1.png")
    rid = add_record(db, d, "image-folder")
    _run(db, _stage())
    (p,) = _pages(db, rid)
    assert p["rotation"] in (90, 270)  # the fake engine cannot tell these apart; rapidocr can
    assert abs(abs(p["skew"]) - 1.5) < 0.3
    assert p["width"] > p["height"]  # landscape again, as drawn
    boxes = list(db.query("SELECT * FROM lines WHERE page_id = ?", [p["id"]]))
    assert len(boxes) == 6 and all(b["x1"] - b["x0"] > 5 * (b["y1"] - b["y0"]) for b in boxes)


def test_resume_after_a_crash_between_pages(tmp_path, db_path):
    db = store.connect(db_path)
    folder = _folder(tmp_path, "adm", {i: f"第{i}页" for i in range(1, 5)})
    rid = add_record(db, folder, "image-folder")
    stage = ReadStage(engine="fake")
    record = dict(db.execute("SELECT * FROM records WHERE id = ?", (rid,)).fetchone() and
                  next(db.query("SELECT * FROM records WHERE id = ?", [rid])))
    ctx: dict = {}
    results = stage.work(stage.prepare(db, record), ctx)
    for _ in range(2):  # two pages saved, then the process dies
        with store.transaction(db):
            stage.save(db, record, next(results))
    results.close()
    first_ids = [p["id"] for p in _pages(db, rid)]
    assert len(first_ids) == 2
    with pytest.raises(Exception, match="2 of 4"):
        with store.transaction(db):
            stage.finish(db, record)

    task = stage.prepare(db, record)
    assert task["done"] == [1, 2]
    ctx2: dict = {}
    again = list(stage.work(task, ctx2))
    assert [r.page.page_no for r in again] == [3, 4]
    (engine,) = _engines(ctx2)
    assert engine.calls == 2  # pages 1–2 were not OCR'd again

    report = _run(db, _stage())
    assert (report.done, report.failed) == (1, 0)
    pages = _pages(db, rid)
    assert [p["text"] for p in pages] == ["第1页", "第2页", "第3页", "第4页"]
    assert [p["id"] for p in pages[:2]] == first_ids


def test_ocr_cache_skips_engine_for_known_pixels(tmp_path, db_path):
    db = store.connect(db_path)
    a = _folder(tmp_path, "a", {1: "同一页"})
    stage = ReadStage(engine="fake")
    rid_a = add_record(db, a, "image-folder")
    _run(db, lambda: stage)
    assert db.execute("SELECT COUNT(*) FROM ocr_cache").fetchone()[0] == 1
    # The same pixels in another record (a re-scan saved twice): served from the cache.
    b = tmp_path / "b"
    b.mkdir()
    (b / "p1.png").write_bytes((a / "page-1.png").read_bytes())
    rid_b = add_record(db, b, "image-folder")
    ctx: dict = {}
    record = next(db.query("SELECT * FROM records WHERE id = ?", [rid_b]))
    (res,) = list(stage.work(stage.prepare(db, record), ctx))
    assert _engines(ctx) == []  # cached pixels: the engine was not even loaded
    assert res.cache is None and res.page.text == _pages(db, rid_a)[0]["text"] == "同一页"


def _png_header(w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def _encrypted_pdf(path):
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), encrypt=StandardEncryption("secret", ownerPassword="owner"))
    c.drawString(100, 700, "hello")
    c.showPage()
    c.save()
    return path


def test_bad_inputs_fail_with_reasons_and_the_batch_goes_on(tmp_path, db_path):
    db = store.connect(db_path)
    good = text_pdf(tmp_path / "good.pdf", [[[(60, "出院记录")]]])
    raw = good.read_bytes()
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    (tmp_path / "truncated.pdf").write_bytes(raw[: len(raw) // 3])
    (tmp_path / "empty.pdf").write_bytes(b"")
    huge = text_pdf(tmp_path / "huge.pdf", [[[(60, "x")]]], size=(20000, 20000))
    (tmp_path / "bomb.png").write_bytes(_png_header(100_000, 100_000))
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10)
    buf = io.BytesIO()
    draw_page([[(40, "半张图")]]).save(buf, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:600])
    (tmp_path / "nopages").mkdir()
    many = text_pdf(tmp_path / "many.pdf", [[[(60, f"第{i}页")]] for i in range(4)])
    cases = {
        "good.pdf": (good, "pdf", None),
        "corrupt.pdf": (tmp_path / "corrupt.pdf", "pdf", "corrupt"),
        "truncated.pdf": (tmp_path / "truncated.pdf", "pdf", "corrupt"),
        "empty.pdf": (tmp_path / "empty.pdf", "pdf", "empty file"),
        "encrypted.pdf": (_encrypted_pdf(tmp_path / "encrypted.pdf"), "pdf", "encrypted"),
        "huge.pdf": (huge, "pdf", "absurd"),
        "bomb.png": (tmp_path / "bomb.png", "image", "absurd"),
        "junk.jpg": (tmp_path / "junk.jpg", "image", "unreadable image"),
        "cut.jpg": (tmp_path / "cut.jpg", "image", "truncated or corrupt"),
        "nopages": (tmp_path / "nopages", "image-folder", "no page images"),
        "many.pdf": (many, "pdf", "page count 4 > limit 3"),
        "missing.pdf": (tmp_path / "missing.pdf", "pdf", "file not found"),
    }
    ids = {name: add_record(db, p, kind) for name, (p, kind, _) in cases.items()}
    report = _run(db, _stage(max_pages=3))
    assert report.done == 1 and report.failed == len(cases) - 1
    for name, (_, _, reason) in cases.items():
        rec = next(db.query("SELECT * FROM records WHERE id = ?", [ids[name]]))
        if reason is None:
            assert rec["stage"] == "read" and rec["status"] == "ok"
        else:
            assert rec["status"] == "failed" and rec["error_stage"] == "read", name
            assert reason in rec["error"], (name, rec["error"])
            assert Path(cases[name][0]).name in rec["error"] or name in ("huge.pdf", "truncated.pdf")


def test_worker_processes_read_records(tmp_path, db_path):
    """The real process pool: tasks and page results cross process boundaries (pickling)."""
    import functools

    db = store.connect(db_path)
    ids = [add_record(db, _folder(tmp_path, f"adm{i}", {1: f"记录{i}第一页", 2: f"记录{i}第二页"}), "image-folder")
           for i in range(2)]
    factory = functools.partial(ReadStage, db_path=str(db_path), engine="fake")
    report = run_stage(db, factory, workers=2, executor="local")
    assert (report.done, report.failed, report.items) == (2, 0, 4)
    for i, rid in enumerate(ids):
        assert [p["text"] for p in _pages(db, rid)] == [f"记录{i}第一页", f"记录{i}第二页"]
