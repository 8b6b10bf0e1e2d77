from pipeline.segment import config
from pipeline.segment.doctypes import split_documents
from pipeline.segment.sections import split_sections
from segment_helpers import page_lines

CFG = config.load()


def sections(pages):
    docs = split_documents(page_lines(pages), CFG.titles)
    return [(s.name, s.text) for d in docs for s in split_sections(d, CFG.sections, CFG.titles)]


def test_inline_own_line_split_and_numbered_headers():
    got = sections(["入院记录\n姓名：张三\n主诉：咳嗽3天\n现病\n史：患者3天前受凉，\n咳黄痰。\n"
                    "一、既往史：体健。\n体格检查\nT 36.5℃\n（二）初步诊断\n1.肺炎"])
    assert got == [("一般项目", "姓名：张三"), ("主诉", "咳嗽3天"), ("现病史", "患者3天前受凉，\n咳黄痰。"),
                   ("既往史", "体健。"), ("体格检查", "T 36.5℃"), ("初步诊断", "1.肺炎")]


def test_header_with_fullwidth_colon_and_spaces_inside():
    assert sections(["出院记录\n主 诉 ： 腹痛1天\n出院医嘱：随诊"]) == [("主诉", "腹痛1天"), ("出院医嘱", "随诊")]


def test_section_spans_pages_and_skips_page_numbers():
    got = sections(["入院记录\n现病史：第一行", "第 2 页\n第二行\n既往史：无"])
    assert ("现病史", "第一行\n第二行") in got


def test_header_word_inside_prose_is_not_a_header():
    got = sections(["出院记录\n诊疗经过：给予抗感染治疗，主诉症状缓解。"])
    assert got == [("诊疗经过", "给予抗感染治疗，主诉症状缓解。")]


def test_note_without_headers_is_one_body_section_and_forms_have_none():
    assert sections(["日常病程记录\n2020-03-06 09:30\n患者好转。\n继续治疗。"]) == [("正文", "患者好转。\n继续治疗。")]
    assert sections(["住院病案首页\n主诉：x"]) == []


def test_restricted_header_only_in_its_document_type():
    assert sections(["检查报告\n结论：未见异常"])[-1] == ("检查结论", "未见异常")
    assert sections(["出院记录\n结论：未见异常"]) == [("正文", "结论：未见异常")]


def test_sections_keep_line_links():
    docs = split_documents(page_lines(["入院记录\n主诉：咳嗽3天\n现病史：\n患者受凉。\n再咳。"]), CFG.titles)
    secs = split_sections(docs[0], CFG.sections, CFG.titles)
    assert [(s.name, [ln.id for ln, _ in s.parts]) for s in secs] == [("主诉", [2]), ("现病史", [4, 5])]
    assert secs[1].header_line.id == 3


def test_header_with_one_misread_character():
    assert sections(["出院记录\n出院医瞩：\n1.随诊\n入院清况：好"]) == [("出院医嘱", "1.随诊"), ("入院情况", "好")]
    # one edit from both 入院情况 and 出院情况: ambiguous, left as text
    assert sections(["出院记录\n诊疗经过：略\n人院情况：好"]) == [("诊疗经过", "略\n人院情况：好")]


def test_form_line_ends_a_short_section_but_vitals_stay_in_the_exam():
    got = sections(["手术记录\n手术名称：阑尾切除术\n手术医师：李四 助手：王五 麻醉方式：全麻\n手术经过：顺利"])
    assert got == [("手术名称", "阑尾切除术"), ("其他", "手术医师：李四 助手：王五 麻醉方式：全麻"), ("手术经过", "顺利")]
    from pipeline.segment.record import segment
    seg = segment(page_lines(["入院记录\n体格检查：\n体温：36.5℃ 脉搏：80次/分 呼吸：18次/分\n神志清。"]), CFG)
    assert [(s.name, s.text) for _, s in seg.sections] == [("体格检查", "体温：36.5℃ 脉搏：80次/分 呼吸：18次/分\n神志清。")]
    assert [v.value for v in seg.fields if v.name == "vital_P"] == ["80"]


def test_wrapped_line_that_resembles_a_header_is_not_one():
    got = sections(["首次病程记录\n拟诊讨论：需与肺结核鉴别，继续观察\n病情变化。\n诊疗计划：抗感染"])
    assert got == [("拟诊讨论", "需与肺结核鉴别，继续观察\n病情变化。"), ("诊疗计划", "抗感染")]
