import pytest

from pipeline.segment import config
from pipeline.segment.fields import normalize
from pipeline.segment.record import segment
from pipeline.segment.tables import align, token_kind
from segment_helpers import page_lines

CFG = config.load()

FRONT = """XX县人民医院
住院病案首页
住院号：ZY2020001  姓名：张三  性别：男  年龄：65岁
出生日期：1955-02-01  身份证号：110101195502010012
入院科别：呼吸内科  床号：12
入院时间：2020年03月05日 14时30分  出院时间：2020.3.12 9:00
主要诊断：社区获得性肺炎 J18.900
其他诊断：高血压病3级 I10.x00
手术及操作编码  手术及操作日期  手术及操作名称  术者  麻醉方式
96.04  2020-03-06  气管插管术  李四  全麻
离院方式：医嘱离院"""


def values(pages):
    seg = segment(page_lines(pages), CFG)
    return seg, {(v.name, v.seq): v for v in seg.fields}


def test_front_page_fields():
    seg, f = values([FRONT])
    got = {k[0]: f[k].value for k in f if k[1] == 0}
    assert got["admission_no"] == "ZY2020001" and got["patient_name"] == "张三"
    assert got["sex"] == "男" and got["age"] == "65" and got["birth"] == "1955-02-01"
    assert got["department"] == "呼吸内科" and got["bed"] == "12"
    assert got["admit_at"] == "2020-03-05 14:30" and got["discharge_at"] == "2020-03-12 09:00"
    assert got["los_days"] == "7"  # computed from the dates when not written
    assert got["discharge_mode"] == "医嘱离院"
    assert (f[("main_diagnosis", 0)].value, f[("main_diagnosis", 0)].code) == ("社区获得性肺炎", "J18.900")
    assert (f[("other_diagnosis", 0)].value, f[("other_diagnosis", 0)].code) == ("高血压病3级", "I10.x00")
    p = f[("procedure", 0)]
    assert (p.value, p.code, p.at) == ("气管插管术", "96.04", "2020-03-06")
    assert f[("admission_no", 0)].line.raw.startswith("住院号")  # evidence line


def test_icd10_chapter_letter_read_as_a_digit_is_restored():
    # OCR reads I63.900 as 163.900 and I10.x05 as 110.x05; procedure codes (96.04) stay digits
    page = FRONT.replace("J18.900", "163.900").replace("I10.x00", "110.x05")
    _, f = values([page])
    assert (f[("main_diagnosis", 0)].value, f[("main_diagnosis", 0)].code) == ("社区获得性肺炎", "I63.900")
    assert f[("other_diagnosis", 0)].code == "I10.x05"
    assert f[("procedure", 0)].code == "96.04"


def test_banner_fields_fall_back_when_front_page_missing():
    _, f = values(["入院记录\n姓名：李梅 性别：女 年龄：3月 科别：儿科 住院号：A-77\n主诉：发热"])
    assert f[("sex", 0)].value == "女" and f[("age", 0)].value == "0" and f[("admission_no", 0)].value == "A-77"


@pytest.mark.parametrize("raw", ["2020-03-05 14:30", "2020年3月5日14时30分", "2020.3.5 14:30",
                                 "２０２０－０３－０５　１４：３０", "2020-03-0514:30", "2020/03/05 14:30:00"])
def test_datetime_values_in_every_form(raw):
    assert normalize("datetime", raw) == "2020-03-05 14:30"


def test_vitals_from_exam_text_and_temperature_chart():
    pages = ["入院记录\n入院时间：2020-03-05 14:30\n体格检查：T 36.5°C，P：88次/分，R 20次/分，BP 140 / 90mmHg，体重62.5kg\n初步诊断：肺炎",
             "体温单\n日期 时间 体温 脉搏 呼吸 血压\n2020-03-06 08:00 38.2 96 22 130/85\n03-07 08:00 37.0 80 18 120/80"]
    _, f = values(pages)
    assert [f[(n, 0)].value for n in ("vital_T", "vital_P", "vital_R", "vital_BP", "vital_weight")] == \
        ["36.5", "88", "20", "140/90", "62.5"]
    assert (f[("vital_T", 1)].value, f[("vital_T", 1)].at) == ("38.2", "2020-03-06 08:00")
    assert (f[("vital_BP", 2)].value, f[("vital_BP", 2)].at) == ("120/80", "2020-03-07 08:00")


def test_diagnosis_lists_from_sections():
    _, f = values(["入院记录\n初步诊断：\n1.社区获得性肺炎 2.高血压病3级\n医师签名：王五",
                   "出院记录\n出院诊断：1、社区获得性肺炎（J18.900）\n2、高血压病"])
    assert [f[("admission_diagnosis", i)].value for i in (0, 1)] == ["社区获得性肺炎", "高血压病3级"]
    assert ("admission_diagnosis", 2) not in f
    assert f[("discharge_diagnosis", 0)].code == "J18.900"
    assert f[("discharge_diagnosis", 1)].value == "高血压病"


def test_orders_labs_bill_one_line_per_row():
    pages = ["长期医嘱单\n起始日期 起始时间 医嘱内容 停止日期 停止时间 医师签名\n"
             "2020-03-05 14:40 Ⅰ级护理 2020-03-12 09:00 王五\n"
             "03-05 14:40 0.9%氯化钠注射液 100ml 静滴 bid 03-10 08:00 王五",
             "临时医嘱单\n日期 时间 医嘱内容 执行时间\n2020-03-05 15:00 血常规 15:10",
             "检验报告单\n报告日期：2020-03-06 10:00\n项目 结果 单位 参考范围\n白细胞计数 12.5 ↑ 10^9/L 3.5-9.5\n审核者：赵",
             "住院费用清单\n费用日期 项目编码 项目名称 费用类别 数量 单价 金额\n"
             "2020-03-05 001109000010000 普通病房床位费 床位费 7 35.00 245.00\n合计 245.00"]
    seg, f = values(pages)
    o = seg.orders
    assert [(x["kind"], x["content"], x["start_at"], x["stop_at"]) for x in o] == [
        ("long", "Ⅰ级护理", "2020-03-05 14:40", "2020-03-12 09:00"),
        ("long", "0.9%氯化钠注射液 100ml 静滴 bid", "2020-03-05 14:40", "2020-03-10 08:00"),
        ("temporary", "血常规", "2020-03-05 15:00", None)]
    assert (o[1]["dose"], o[1]["route"], o[1]["frequency"]) == ("100ml", "静滴", "bid")
    assert f[("nursing_level", 0)].value == "一级护理"
    assert [(x["item"], x["value"], x["flag"], x["unit"], x["ref_range"], x["at"]) for x in seg.labs] == [
        ("白细胞计数", "12.5", "↑", "10^9/L", "3.5-9.5", "2020-03-06 10:00")]
    assert [(b["item_code"], b["item_name"], b["category"], b["qty"], b["unit_price"], b["amount"], b["at"])
            for b in seg.bill] == [("001109000010000", "普通病房床位费", "床位费", 7.0, 35.0, 245.0, "2020-03-05")]


def test_token_kinds_and_alignment():
    assert [token_kind(t) for t in ["2020-03-05", "14:30", "35.00", "001109000010000", "↑", "3.5-9.5", "mmol/L", "床位费"]] == \
        ["date", "time", "number", "code", "flag", "range", "unit", "text"]
    cols = CFG.fields.tables["labs"].columns
    got = align(["白细胞", "计数", "12.5", "10^9/L", "3.5-9.5"], tuple(c for c in cols if c.name in ("item", "value", "unit", "ref_range")))
    assert got == {"item": [0, 1], "value": [2], "unit": [3], "ref_range": [4]}


def test_temperature_chart_as_a_grid_of_days():
    pages = ["入院记录\n入院时间：2020-03-05 14:30",
             "体温单\n日期 2020-03-05 03-06 03-07\n住院天数 1 2 3\n"
             "体温 36.8 38.5 37.2 37.0 36.6 36.5\n脉搏 80 96 78\n血压 120/80 130/85 118/76"]
    _, f = values(pages)
    temps = [(f[("vital_T", i)].value, f[("vital_T", i)].at) for i in range(6)]
    assert temps[1] == ("38.5", "2020-03-05") and temps[2] == ("37.2", "2020-03-06") and temps[5][1] == "2020-03-07"
    assert (f[("vital_P", 1)].value, f[("vital_P", 1)].at) == ("96", "2020-03-06")
    assert f[("vital_BP", 2)].value == "118/76"


def test_values_keep_the_hospital_spelling_but_ascii_digits():
    from pipeline.segment.model import SLine, as_written
    line = SLine(1, 1, 1, 0, "１.Ⅱ级护理，社区获得性肺炎（重症）")
    assert as_written(line, "II级护理") == "Ⅱ级护理"
    assert as_written(line, "社区获得性肺炎(重症)") == "社区获得性肺炎（重症）"
    assert as_written(line, "1.II级护理") == "1.Ⅱ级护理"


def test_cells_map_to_columns_by_position_and_unread_columns_are_dropped():
    from pipeline.segment.model import SLine
    head = [("日期", 52, 68), ("住院日数", 108, 140), ("术后日数", 148, 180), ("体温(℃)", 188, 220),
            ("脉搏", 268, 284), ("呼吸", 300, 316), ("血压", 332, 348)]
    row = [("2024-01-23", 52, 93), ("4", 108, 113), ("36.8/37.1", 188, 230), ("77", 268, 277),
           ("19", 300, 309), ("119/70", 332, 357)]  # 术后日数 empty: only geometry can tell
    cells = [("体温单", 270, 320, 0)] + [(t, a, b, 1) for t, a, b in head] + [(t, a, b, 2) for t, a, b in row]
    lines = [SLine(i, 1, 1, i, t, x0, 10.0 * r, x1, 10.0 * r + 8, r, None, 595.0) for i, (t, x0, x1, r) in enumerate(cells, 1)]
    seg = segment(lines, CFG)
    got = [(v.name, v.value, v.at) for v in seg.fields if v.name.startswith("vital")]
    assert got == [("vital_T", "36.8", "2024-01-23"), ("vital_T", "37.1", "2024-01-23"), ("vital_P", "77", "2024-01-23"),
                   ("vital_R", "19", "2024-01-23"), ("vital_BP", "119/70", "2024-01-23")]
    assert all(v.line.text in ("36.8/37.1", "77", "19", "119/70") for v in seg.fields if v.name.startswith("vital"))


def test_fields_run_together_by_ocr():
    _, f = values(["住院病案首页\n姓名：蔡勇性别：男出生日期：1982-03-02\n入院科别：骨科床号：11 出院科别：骨科"])
    assert (f[("patient_name", 0)].value, f[("sex", 0)].value, f[("birth", 0)].value) == ("蔡勇", "男", "1982-03-02")
    assert (f[("department", 0)].value, f[("bed", 0)].value) == ("骨科", "11")


@pytest.mark.parametrize("text, year, expected", [
    ("记录于2020年3月5日14时30分", None, "2020-03-05 14:30"),
    ("3月6日 9:30 查房", 2020, "2020-03-06 09:30"),
    ("03-07 08:00", 2020, "2020-03-07 08:00"),
    ("03-07 08:00", None, None),          # no year known: not guessed
    ("血压 130/85mmHg", 2020, None),      # not a date
])
def test_find_datetime_with_and_without_year(text, year, expected):
    from pipeline.dates import find_datetime
    got = find_datetime(text, year=year)
    assert (got[0].strftime("%Y-%m-%d %H:%M") if got else None) == expected


def _cells(rows):
    from pipeline.segment.model import SLine
    return [SLine(i, 1, 1, i, t, x0, 10.0 * r, x1, 10.0 * r + 8, r, None, 595.0)
            for i, (t, x0, x1, r) in enumerate(rows, 1)]


def test_order_start_time_merged_into_the_content_cell_is_split_back():
    # OCR reads the start time and the content beside it as one box spanning both columns.
    lines = _cells([("长期医嘱单", 258, 338, 0), ("开始时间", 52, 84, 1), ("长期医嘱内容", 124, 172, 1),
                    ("医师", 334, 350, 1), ("停止时间", 380, 420, 1),
                    ("2024-08-31 10:57 I级护理", 52, 190, 2), ("唐凯", 334, 350, 2),
                    ("2024-08-30 09:10", 52, 115, 3), ("头孢曲松钠 2g ivgtt qd", 124, 230, 3), ("唐凯", 334, 350, 3)])
    seg = segment(lines, CFG)
    assert [(o["start_at"], o["content"]) for o in seg.orders] == [
        ("2024-08-31 10:57", "I级护理"), ("2024-08-30 09:10", "头孢曲松钠 2g ivgtt qd")]
    assert seg.orders[0]["line"].id == 6


def test_order_row_read_as_one_line_with_start_and_content_in_one_chunk():
    pages = ["临时医嘱单\n下达时间  临时医嘱内容  医师  执行时间\n"
             "2024-08-31 10:57 血常规  唐凯  2024-08-31 11:20"]
    seg, _ = values(pages)
    assert [(o["start_at"], o["content"]) for o in seg.orders] == [("2024-08-31 10:57", "血常规")]


def test_order_route_and_dose_found_where_ocr_dropped_the_spaces():
    pages = ["长期医嘱单\n开始时间  长期医嘱内容  医师\n"
             "2024-08-31 10:57 氟比洛芬酯注射液50mgiv bid  唐凯\n"
             "2024-08-31 10:57 注射用头孢唑林钠2givgtt bid  唐凯\n"
             "2024-08-31 10:58 0.9%氯化钠注射液250ml ivgttqd  唐凯\n"
             "2024-08-31 10:58 测T、P、R、BPqd  唐凯"]
    seg, _ = values(pages)
    assert [(o["dose"], o["route"], o["frequency"]) for o in seg.orders] == [
        ("50mg", "iv", "bid"), ("2g", "ivgtt", "bid"), ("250ml", "ivgtt", "qd"), (None, None, None)]
    # what the record says is kept as written
    assert seg.orders[0]["content"] == "氟比洛芬酯注射液50mgiv bid"


def test_order_header_with_one_character_misread_is_still_the_header():
    pages = ["长期医嘱单\n开始时间  长期医喝内容  医师  停止时间\n"
             "2024-10-12 13:16  盐酸乌拉地尔注射液 50mg ivgtt qd  于敏  2024-10-15 08:56"]
    seg, _ = values(pages)
    assert [(o["content"], o["stop_at"]) for o in seg.orders] == [("盐酸乌拉地尔注射液 50mg ivgtt qd", "2024-10-15 08:56")]


def test_tested_item_of_each_lab_report_is_a_field_with_its_time_and_line():
    pages = ["检验报告单\n标本：静脉血 采样时间：2024-08-31 07:10 报告时间：2024-08-31 09:30\n"
             "检验项目：血常规\n项目 缩写 结果 提示 单位 参考区间\n白细胞计数 WBC 12.5 ↑ 10^9/L 3.5-9.5\n"
             "检验项目：C反应蛋白\n项目 缩写 结果 提示 单位 参考区间\nC反应蛋白 CRP 25 ↑ mg/L 0-10\n检验者：赵 审核者：钱",
             # a header cell named 检验项目 (no colon) is a column, not a tested item
             "检验报告单\n报告时间：2024-09-01 09:00\n检验项目 结果 单位 参考范围\n血糖 5.1 mmol/L 3.9-6.1",
             "日常病程记录\n2024-09-01 10:00\n检验项目：血常规，结果见检验单。"]
    seg, f = values(pages)
    panels = [(v.seq, v.value, v.at, v.line.raw) for v in seg.fields if v.name == "lab_panel"]
    assert panels == [(0, "血常规", "2024-08-31 09:30", "检验项目：血常规"),
                      (1, "C反应蛋白", "2024-08-31 09:30", "检验项目：C反应蛋白")]
    assert [x["item"] for x in seg.labs] == ["白细胞计数", "C反应蛋白", "血糖"]


def test_the_procedure_table_ends_where_the_front_page_goes_on():
    """Cost lines below the table ("麻醉费 50.00 … 中成药费 0.00" read across a grid's cells) are no
    operation, though 50.00 looks like an ICD-9-CM-3 code."""
    front = FRONT.replace("离院方式：医嘱离院", "离院方式：医嘱离院\n住院费用（元）：总费用：1364.90\n"
                          "50.00  2020-03-06  中成药费 0.00  李四  全麻")
    _, f = values([front])
    procs = [f[k] for k in f if k[0] == "procedure"]
    assert [(p.value, p.code) for p in procs] == [("气管插管术", "96.04")]
    _, f = values([FRONT.replace("离院方式：医嘱离院", "93.9001  2020-03-07  无创呼吸机辅助通气  李四  无\n离院方式：医嘱离院")])
    assert [f[k].code for k in f if k[0] == "procedure"] == ["96.04", "93.9001"]   # consecutive rows all read
