"""Text layer vs OCR decision, and text-layer lines (exact text, table rows in order)."""
import pdfplumber
import pytest

from pipeline.read import page as pagemod, textlayer
from pipeline.read.config import ReadConfig
from test_read_fixtures import draw_page, needs_font, scan_pdf, text_pdf

pytestmark = needs_font

TABLE = [["项目", "结果", "单位", "参考范围"], ["白细胞计数", "12.5", "10^9/L", "3.5-9.5"],
         ["血红蛋白", "98", "g/L", "130-175"], ["C反应蛋白", "56.2", "mg/L", "0-10"]]
CFG = ReadConfig()


def _chars(path, index=0):
    with textlayer.PdfTextReader(path) as reader:
        return reader.page(index)


def _fake(texts, images=()):
    return textlayer.PageChars(595, 842, [textlayer.Char(t, 0, 0, 1, 1) for t in texts], list(images))


def test_text_layer_page_is_used_with_exact_text_and_table_rows(tmp_path):
    rows = [[(60, "检验报告单")], [(60, "姓名：张三    性别：男    住院号：A123")]]
    rows += [[(60 + 120 * c, cell) for c, cell in enumerate(r)] for r in TABLE]
    pc = _chars(text_pdf(tmp_path / "t.pdf", [rows]))
    d = textlayer.decide(pc)
    assert d.use_text and d.reason == "text" and d.good_ratio == 1.0
    lines = pagemod.text_layer_lines(pc, CFG)
    texts = [ln.text for ln in lines]
    # Spaced-out form fields become separate lines; table cells come out row by row.
    assert texts == ["检验报告单", "姓名：张三", "性别：男", "住院号：A123"] + [c for r in TABLE for c in r]
    first_row = [ln for ln in lines if ln.text in TABLE[1]]
    assert len({ln.row_no for ln in first_row}) == 1 and [ln.col_no for ln in first_row] == [0, 1, 2, 3]
    x0, y0, x1, y1 = lines[0].bbox
    # PDF points, top-left origin: the first row is drawn 60 pt below the top, at x = 60.
    assert 59 <= x0 <= 61 and 45 < y0 < 60 < y1 < 65


def test_same_characters_as_pdfplumber_including_later_font_subsets(tmp_path):
    # More than 256 distinct glyphs: reportlab splits the font into subsets; "℃" lands in the
    # second one (where pypdfium2's text extraction loses it).
    many = "".join(chr(0x4E00 + 7 * i) for i in range(300))
    rows = [[(60, many[i:i + 40])] for i in range(0, 300, 40)] + [[(60, "T:37.7℃ 体温38.5℃ Ⅲ度 μmol/L ≥5")]]
    path = text_pdf(tmp_path / "subsets.pdf", [rows, [[(60, "第二页")]]])
    with textlayer.PdfTextReader(path) as reader:
        pages = [reader.page(0), reader.page(1)]
    with pdfplumber.open(path) as doc:
        for pc, pl in zip(pages, doc.pages):
            assert [c.text for c in pc.chars] == [c["text"] for c in pl.chars]
            for mine, theirs in zip(pc.chars, pl.chars):
                assert abs(mine.x0 - theirs["x0"]) < 0.01 and abs(mine.top - theirs["top"]) < 0.01
    assert textlayer.lines(pages[0])[-1].text == "T:37.7℃ 体温38.5℃ Ⅲ度 μmol/L ≥5"


def test_pages_are_read_in_order_and_can_be_skipped(tmp_path):
    path = text_pdf(tmp_path / "p.pdf", [[[(60, f"第{i}页")]] for i in range(1, 5)])
    with textlayer.PdfTextReader(path) as reader:
        got = [textlayer.lines(reader.page(i))[0].text for i in (1, 3)]  # resume skips pages 1 and 3
        with pytest.raises(ValueError):
            reader.page(0)
    assert got == ["第2页", "第4页"]


def test_words_with_single_spaces_stay_one_line(tmp_path):
    pc = _chars(text_pdf(tmp_path / "s.pdf", [[[(60, "长期医嘱 阿莫西林 0.5g po tid")]]]))
    assert [ln.text for ln in textlayer.lines(pc)] == ["长期医嘱 阿莫西林 0.5g po tid"]


def test_image_only_page_goes_to_ocr(tmp_path):
    pc = _chars(scan_pdf(tmp_path / "scan.pdf", [draw_page([[(40, "出院记录")]])]))
    assert len(pc.images) == 1
    d = textlayer.decide(pc)
    assert not d.use_text and d.reason == "no-text"


def test_garbage_text_layer_goes_to_ocr():
    cid = ["(cid:%d)" % i for i in range(40)]
    assert textlayer.decide(_fake(cid)).reason == "garbage"
    pua = [chr(0xE000 + i) for i in range(30)] + list("入院记录")
    d = textlayer.decide(_fake(pua))
    assert not d.use_text and d.reason == "garbage" and d.good_ratio < 0.2
    ok = list("主诉：发热3天，体温38.5℃，WBC 12.5×10^9/L，μmol/L，Ⅲ度")
    assert textlayer.decide(_fake(ok)).use_text


def test_few_characters_on_a_full_page_scan_go_to_ocr():
    scan = (0, 0, 595, 842)
    assert textlayer.decide(_fake(list("第1页"), images=[scan])).reason == "scan-with-few-chars"
    # The same few characters on a page without a scan are a (short) text page.
    assert textlayer.decide(_fake(list("第1页"))).use_text


def test_vertical_text_goes_to_ocr():
    chars = [textlayer.Char(ch, 100, 50 + 12 * i, 111, 61 + 12 * i) for i, ch in enumerate("患者因反复咳嗽咳痰十年加重伴气促三天入院治疗")]
    pc = textlayer.PageChars(595, 842, chars)
    assert textlayer.decide(pc).use_text
    assert pagemod.text_layer_lines(pc, CFG) is None


def test_rotated_page_goes_to_ocr(tmp_path):
    from reportlab.pdfgen import canvas

    text_pdf(tmp_path / "unused.pdf", [[[(60, "x")]]])  # registers the font
    c = canvas.Canvas(str(tmp_path / "rot.pdf"), pagesize=(595, 842))
    c.setPageRotation(90)
    c.setFont("WQY", 12)
    c.drawString(60, 780, "费用清单 床位费 护理费")
    c.showPage()
    c.save()
    d = textlayer.decide(_chars(tmp_path / "rot.pdf"))
    assert not d.use_text and d.reason == "rotated-page"
