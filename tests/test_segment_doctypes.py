import pytest

from pipeline.segment import config
from pipeline.segment.doctypes import TitleMatcher, document_time, split_documents
from segment_helpers import page_lines

CFG = config.load()
ALL_TYPES = ["住院病案首页", "入院记录", "再次入院记录", "24小时内入出院记录", "24小时内入院死亡记录",
             "首次病程记录", "日常病程记录", "上级医师查房记录", "会诊记录", "手术记录", "麻醉记录",
             "术后首次病程记录", "出院记录", "死亡记录", "长期医嘱单", "临时医嘱单", "体温单", "护理记录",
             "检验报告", "检查报告", "知情同意书", "费用清单"]


def types(pages):
    return [d.doc_type for d in split_documents(page_lines(pages), CFG.titles)]


def test_every_architecture_type_is_configured():
    assert set(ALL_TYPES) == set(CFG.titles.doc_types)


@pytest.mark.parametrize("doc_type", ALL_TYPES)
def test_each_type_by_its_title_with_hospital_name_above(doc_type):
    title = CFG.titles.doc_types[doc_type].titles[0]
    assert types([f"某某县人民医院\n{title}\n患者一般情况良好。"]) == [doc_type]


@pytest.mark.parametrize("line, expected", [
    ("住院病案首贞", "住院病案首页"),      # OCR swapped one character
    ("出 院 记 录", "出院记录"),           # spaced-out title
    ("再次入院记录", "再次入院记录"),      # not 入院记录
    ("24小时内入出院记录", "24小时内入出院记录"),
    ("２４小时内入出院记录", "24小时内入出院记录"),  # full-width digits
    ("术后首次病程记录", "术后首次病程记录"),
    ("XX县人民医院检验报告单", "检验报告"),
    ("临时医瞩单", "临时医嘱单"),
])
def test_title_matching_tolerates_ocr_noise(line, expected):
    m = TitleMatcher(CFG.titles).match(line)
    assert m is not None and m.doc_type == expected


@pytest.mark.parametrize("line", ["患者于今日行手术，术后安返病房，详见手术记录及麻醉记录单所示内容。",
                                  "主诉：咳嗽3天", "体温 36.5"])
def test_prose_is_not_a_title(line):
    assert TitleMatcher(CFG.titles).match(line) is None


def test_fuzzy_title_only_near_top_of_page():
    pages = ["入院记录\n" + "\n".join(f"第{i}行内容" for i in range(8)) + "\n出院记彔\n尾行"]
    assert types(pages) == ["入院记录"]  # a fuzzy hit mid-page is not trusted
    pages = ["入院记录\n主诉：咳嗽", "出院记彔\n入院情况：咳嗽"]
    assert types(pages) == ["入院记录", "出院记录"]


def test_missing_title_typed_by_content():
    pages = ["项目编码 项目名称 数量 单价 金额\n2020-03-05 001 床位费 1 35 35"]
    assert types(pages) == ["费用清单"]
    pages = ["入院记录\n主诉：咳嗽", "检验项目 结果 单位 参考范围\n白细胞 12 10^9/L 3.5-9.5\n标本：血 送检医师：王"]
    assert types(pages) == ["入院记录", "检验报告"]


def test_page_without_title_continues_previous_document():
    docs = split_documents(page_lines(["出院记录\n入院情况：咳嗽", "诊疗经过：抗感染\n出院情况：好转"]), CFG.titles)
    assert [d.doc_type for d in docs] == ["出院记录"]
    assert {ln.page_no for ln in docs[0].lines} == {1, 2}


def test_two_notes_on_one_page_and_a_note_spanning_pages():
    pages = [
        "首次病程记录\n2020-03-05 16:00\n病例特点：咳嗽。\n"
        "2020-03-06 09:30 日常病程记录\n患者好转。\n"
        "2020年3月7日10时05分\n赵主治医师查房记录\n同意诊断。\n",
        "继续观察。\n2020-03-08 08:00\n患者无不适。",
    ]
    docs = split_documents(page_lines(pages), CFG.titles)
    got = [(d.doc_type, document_time(d, CFG.titles)) for d in docs]
    assert got == [("首次病程记录", "2020-03-05 16:00"), ("日常病程记录", "2020-03-06 09:30"),
                   ("上级医师查房记录", "2020-03-07 10:05"), ("日常病程记录", "2020-03-08 08:00")]
    assert len(docs) == 4
    # the note of 3月7日 spans onto page 2
    assert [ln.raw for ln in docs[2].lines][-1] == "继续观察。"


def test_generic_progress_title_joins_the_first_note():
    docs = split_documents(page_lines(["病程记录\n2020-03-05 16:00 首次病程记录\n病例特点：咳嗽。"]), CFG.titles)
    assert [d.doc_type for d in docs] == ["首次病程记录"]
    assert len(docs[0].lines) == 3


def test_dated_lab_line_inside_a_note_does_not_split_it():
    docs = split_documents(page_lines(["日常病程记录\n2020-03-06 09:30\n2020-03-05 血常规示白细胞升高，考虑细菌感染可能大。"]), CFG.titles)
    assert len(docs) == 1


def test_table_header_cell_naming_a_document_is_not_a_title():
    from pipeline.segment.model import SLine
    cells = [("长期医嘱单", 258, 338, 0), ("开始时间", 52, 84, 1), ("长期医嘱内容", 124, 172, 1), ("医师", 334, 350, 1),
             ("2024-01-20 09:19", 52, 115, 2), ("II级护理", 124, 156, 2), ("唐凯", 334, 350, 2)]
    lines = [SLine(i, 1, 1, i, t, x0, 10.0 * r, x1, 10.0 * r + 8, r, None, 595.0) for i, (t, x0, x1, r) in enumerate(cells, 1)]
    assert [d.doc_type for d in split_documents(lines, CFG.titles)] == ["长期医嘱单"]
    assert TitleMatcher(CFG.titles).match("开始时间 长期医嘱内容 医师 停止时间 医师") is None


def test_note_start_with_date_and_time_run_together():
    docs = split_documents(page_lines(["日常病程记录\n2020-03-0609:30\n好转。\n2020-03-0710:05\n出院。"]), CFG.titles)
    assert [document_time(d, CFG.titles) for d in docs] == ["2020-03-06 09:30", "2020-03-07 10:05"]


BANNER = "青山县人民医院 姓名：蔡勇 住院号：ZY012400001 科别：骨科 床号：11"


@pytest.mark.parametrize("title, first, want", [
    ("首次病程记录", "2024-07-31 20:24", "首次病程记录"),
    ("上级医师查房记录", "2024-08-02 09:44 副主任医师蒋霞查房记录", "上级医师查房记录"),
    ("日常病程记录", "2024-08-03 08:45 病程记录", "日常病程记录"),
])
def test_patient_banner_under_a_note_title_keeps_the_note_whole(title, first, want):
    # The generator's pages (and many hospital templates) print the banner between the title
    # and the note's date line: that must not split the note into a title-only document.
    pages = [f"{title}\n{BANNER}\n{first}\n病例特点：患者男，42岁。\n医师签名：陈志强\n"
             "2024-08-04 08:23 病程记录\n患者好转。"]
    docs = split_documents(page_lines(pages), CFG.titles)
    got = [(d.doc_type, document_time(d, CFG.titles)) for d in docs]
    assert got == [(want, first[:16]), ("日常病程记录", "2024-08-04 08:23")]
    assert [ln.raw for ln in docs[0].lines][:3] == [title, BANNER, first]


def test_a_title_printed_with_wide_gaps_and_a_grid_record_time():
    """'出　院　小　结' read as one cell per character; '记录时间' in its own grid cell beside its value."""
    from pipeline.segment import config
    from pipeline.segment.model import SLine
    from pipeline.segment.record import segment

    rows = [[("青山县人民医院", 250)], [("出", 200), ("院", 230), ("小", 260), ("结", 290)],
            [("出院诊断：", 50)], [("1.不稳定型心绞痛", 50)],
            [("记录时间", 50), ("2024年10月25日 4:31", 120), ("医师签名", 260), ("陈伟", 330)]]
    lines, lid = [], 0
    for r, cells in enumerate(rows):
        for text, x in cells:
            lid += 1
            lines.append(SLine(lid, 1, 1, lid, text, x, r * 20, x + 14 * len(text), r * 20 + 12, r, None, 600))
    seg = segment(lines, config.load())
    doc = next(d for d in seg.documents if d.doc_type == "出院记录")
    assert doc.at == "2024-10-25 04:31" and "出" in doc.title and "结" in doc.title
    assert [v.value for v in seg.fields if v.name == "discharge_diagnosis"] == ["不稳定型心绞痛"]
