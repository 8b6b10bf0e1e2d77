"""The pdfium text reader gives pdfminer's characters and lines; the content-stream tokenizer gives
pdfminer's objects; pages pdfium may misread are restored or go to pdfminer."""
import pypdfium2 as pdfium
import pytest

from pipeline import store
from pipeline.read import contentstream, page as pagemod, textlayer
from pipeline.read.config import ReadConfig, ReadError
from pipeline.read.stage import ReadStage
from test_read_fixtures import FONT, add_record, needs_font, text_pdf

pytestmark = needs_font
CFG = ReadConfig()


def _all_pages(path, reader_name):
    pdf = pdfium.PdfDocument(str(path))
    try:
        with textlayer.open_reader(path, pdf, reader_name) as reader:
            return [reader.page(i) for i in range(len(pdf))]
    finally:
        pdf.close()


def _lines(pc):
    return [(ln.text, ln.row_no, ln.col_no) for ln in pagemod.text_layer_lines(pc, CFG) or []]


def _canvas(path):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "WQY" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("WQY", str(FONT), subfontIndex=0))
    return canvas.Canvas(str(path), pagesize=(595, 842))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Text PDFs of the generator: every print style, two hospitals' worth of documents."""
    from pipeline.synth import generate, styles

    out = tmp_path_factory.mktemp("synth")
    generate(out, records=3, hospitals=3, seed=91, forms=("text",), workers=1,
             styles=tuple(styles.load())[:3])
    return sorted((out / "text").rglob("*.pdf"))


def test_pdfium_reader_gives_pdfminers_characters_and_lines_on_generated_records(generated):
    pages = restored = 0
    for path in generated:
        for mine, theirs in zip(_all_pages(path, "pdfium"), _all_pages(path, "pdfminer")):
            pages += 1
            restored += mine.reader == "pdfium" and "℃" in "".join(c.text for c in theirs.chars)
            assert [c.text for c in mine.chars] == [c.text for c in theirs.chars]
            for a, b in zip(mine.chars, theirs.chars):
                assert abs(a.x0 - b.x0) < 0.5 and abs(a.top - b.top) < 0.5 and abs(a.bottom - b.bottom) < 0.5
            assert _lines(mine) == _lines(theirs)
            assert len(mine.images) == len(theirs.images)
    assert pages >= 20
    assert restored > 0  # pages whose lone "℃" pdfium drops were among them


def test_fast_tokens_give_pdfminers_exact_characters(generated):
    for path in generated[:2]:
        with textlayer.PdfTextReader(path) as slow, textlayer.PdfTextReader(path, fast_tokens=True) as fast:
            for i in range(len(pdfium.PdfDocument(str(path)))):
                a, b = slow.page(i), fast.page(i)
                assert [(c.text, c.x0, c.top, c.x1, c.bottom) for c in a.chars] == \
                       [(c.text, c.x0, c.top, c.x1, c.bottom) for c in b.chars]


def test_lone_glyph_without_outline_is_restored_from_the_content_stream(tmp_path):
    # WenQuanYi draws "℃" with an empty glyph: alone in its text object, pdfium's text page leaves
    # the object out (a generated space in its place).
    path = tmp_path / "celsius.pdf"
    from reportlab.pdfbase.pdfmetrics import stringWidth

    c = _canvas(path)
    c.setFont("WQY", 10)
    x = 60.0
    for piece in ("体温(", "℃", ")38.5"):  # three text objects, one after the other
        c.drawString(x, 700, piece)
        x += stringWidth(piece, "WQY", 10)
    c.showPage()
    c.save()
    pdf = pdfium.PdfDocument(str(path))
    raw, dropped = textlayer._pdfium_chars(pdf[0])
    assert dropped is not None and "℃" not in "".join(ch.text for ch in raw.chars)
    mine, theirs = _all_pages(path, "pdfium")[0], _all_pages(path, "pdfminer")[0]
    assert mine.reader == "pdfium"
    assert [ch.text for ch in mine.chars] == [ch.text for ch in theirs.chars]
    assert [ln.text for ln in textlayer.lines(mine)] == [ln.text for ln in textlayer.lines(theirs)] == ["体温(℃)38.5"]


def test_dropped_object_the_walk_cannot_place_goes_to_pdfminer(tmp_path):
    path = tmp_path / "raised.pdf"
    c = _canvas(path)
    c.setFont("WQY", 10)
    c.drawString(60, 700, "体温")
    t = c.beginText(80, 700)
    t.setFont("WQY", 10)
    t.setRise(2)  # a raised text object: its origin in pdfium already includes the rise
    t.textOut("℃")
    c.drawText(t)
    c.showPage()
    c.save()
    mine, theirs = _all_pages(path, "pdfium")[0], _all_pages(path, "pdfminer")[0]
    assert mine.reader == "pdfminer"
    assert [ch.text for ch in mine.chars] == [ch.text for ch in theirs.chars] and "℃" in [ch.text for ch in mine.chars]


def _raw_pdf(content: bytes, font: bytes) -> bytes:
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Resources << /Font << /F1 5 0 R >> >>"
            b" /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream", font]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


def test_unmapped_glyph_sends_the_page_to_pdfminer(tmp_path):
    # Codes 65 and 66 name glyphs no Unicode table knows: pdfium reports a map error.
    font = (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding"
            b" /Differences [65 /gx12 66 /gy34] >> >>")
    path = tmp_path / "unmapped.pdf"
    path.write_bytes(_raw_pdf(b"BT /F1 12 Tf 20 100 Td (ABAB CD hello world) Tj ET", font))
    mine, theirs = _all_pages(path, "pdfium")[0], _all_pages(path, "pdfminer")[0]
    assert mine.reader == "pdfminer"
    assert [(ch.text, ch.x0, ch.top) for ch in mine.chars] == [(ch.text, ch.x0, ch.top) for ch in theirs.chars]


def test_tokenizer_gives_pdfminers_objects():
    from pdfminer.pdfinterp import PDFContentParser
    from pdfminer.pdftypes import PDFStream
    from pdfminer.psparser import PSEOF

    data = (b"q 1 0 0 1 72.5 -.5 cm BT /F1#2042 12 Tf [(a\\(b\\)c) -250 <48 656C6C6f7> (x\\101\\nq\\\ny)] TJ "
            b"(nested (parens) ok) Tj % a comment\n 1. +.5 -3 T* 0 Tw 0 0 Td (q) ' 1 2 (w) \" "
            b"/Span << /MCID 3 /Alt (z) /K [1 2] >> BDC EMC true false ET Q\n")

    theirs, parser = [], PDFContentParser([PDFStream({}, data)])
    while True:
        try:
            theirs.append(parser.nextobject()[1])
        except PSEOF:
            break
    assert contentstream.objects(data) == theirs
    for bad in (b"[1 2 (a) Tj\n", b"BI /W 1 /H 1 ID \x00 EI\n", b"{ 1 } Tj\n", b"<< /A >>\n"):
        with pytest.raises(contentstream.Unsupported):
            contentstream.objects(bad)


def test_reader_choice_is_configuration_and_bad_input_is_a_clear_error(tmp_path, db_path):
    with pytest.raises(ValueError, match="text_reader"):
        ReadConfig.from_kwargs(text_reader="pdfplumber")
    with pytest.raises(ValueError, match="unknown text reader"):
        textlayer.open_reader(tmp_path / "x.pdf", None, "pdfplumber")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really a pdf\n")
    db = store.connect(db_path)
    rid = add_record(db, bad, "pdf")
    stage = ReadStage(db_path=db_path, engine="fake")
    task = stage.prepare(db, next(db.query("SELECT * FROM records WHERE id = ?", [rid])))
    with pytest.raises(ReadError, match="bad.pdf"):
        list(stage.work(task, {}))


def test_stage_records_which_reader_read_the_page(tmp_path, db_path):
    path = text_pdf(tmp_path / "t.pdf", [[[(60, "入院记录 体温36.5")]]])
    db = store.connect(db_path)
    rid = add_record(db, path, "pdf")
    for reader, engine in (("pdfium", "pdfium"), ("pdfminer", "pdfminer")):
        stage = ReadStage(db_path=db_path, engine="fake", text_reader=reader)
        task = stage.prepare(db, next(db.query("SELECT * FROM records WHERE id = ?", [rid])))
        res = list(stage.work({**task, "done": []}, {}))
        assert [r.page.engine for r in res] == [engine]
        assert [ln.text for ln in res[0].page.lines] == ["入院记录 体温36.5"]
