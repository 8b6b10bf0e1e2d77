"""Reading order: table rows, two text columns, forms, tilted pages."""
import math
import random

from pipeline.record.page import Line
from pipeline.read import layout


def _cell(text, x, y, w=None, h=20.0, angle_deg=0.0):
    w = w if w is not None else 20.0 * len(text)
    a = math.radians(angle_deg)
    # Rotate the box about the page origin to simulate a tilted scan.
    pts = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    poly = [[px * math.cos(a) - py * math.sin(a), px * math.sin(a) + py * math.cos(a)] for px, py in pts]
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return Line(text=text, bbox=(min(xs), min(ys), max(xs), max(ys)), polygon=poly)


def test_table_reads_row_by_row_even_when_shuffled():
    header = ["项目", "结果", "单位", "参考范围"]
    rows = [["白细胞计数", "12.5", "10^9/L", "3.5-9.5"], ["血红蛋白", "98", "g/L", "130-175"],
            ["血小板", "210", "10^9/L", "125-350"]]
    xs = [50, 300, 450, 600]
    lines = [_cell(t, xs[c], 100 + r * 40) for r, row in enumerate([header] + rows) for c, t in enumerate(row)]
    random.Random(3).shuffle(lines)
    out = layout.order(lines)
    assert [ln.text for ln in out] == [t for row in [header] + rows for t in row]
    assert [ln.row_no for ln in out][:5] == [0, 0, 0, 0, 1]
    assert [ln.col_no for ln in out][:5] == [0, 1, 2, 3, 0]


def test_two_text_columns_are_not_interleaved():
    left = [f"左栏第{i}行患者自述反复咳嗽咳痰" for i in range(6)]
    right = [f"右栏第{i}行查体双肺呼吸音粗" for i in range(6)]
    lines = [_cell("出院记录", 300, 40)]
    lines += [_cell(t, 40, 100 + i * 30, w=400) for i, t in enumerate(left)]
    lines += [_cell(t, 520, 100 + i * 30, w=380) for i, t in enumerate(right)]
    lines.append(_cell("医师签名：王医生", 40, 400, w=860))
    out = [ln.text for ln in layout.order(lines)]
    assert out == ["出院记录"] + left + right + ["医师签名：王医生"]
    cols = {ln.text: ln.col_no for ln in layout.order(lines)}
    assert cols[left[0]] == 0 and cols[right[0]] == 1


def test_two_column_form_reads_across():
    pairs = [("姓名：张三", "性别：男"), ("年龄：45岁", "科别：内科"), ("床号：12", "住院号：A1")]
    lines = []
    for i, (a, b) in enumerate(pairs):
        lines += [_cell(a, 40, 100 + i * 30), _cell(b, 500, 100 + i * 30)]
    out = [ln.text for ln in layout.order(lines)]
    assert out == [t for p in pairs for t in p]


def test_order_sheet_time_column_reads_across():
    orders = [("2020-03-15 10:00", "0.9%氯化钠注射液100ml+哌拉西林他唑巴坦4.5g ivgtt q8h"),
              ("2020-03-15 10:05", "多索茶碱注射液0.2g ivgtt qd"), ("2020-03-15 10:06", "氨溴索注射液30mg iv bid"),
              ("2020-03-16 08:30", "甲泼尼龙琥珀酸钠40mg iv qd")]
    for time_w in (170, 240):  # also when the time column is about as wide as the orders
        lines = []
        for i, (t, o) in enumerate(orders):
            lines += [_cell(t, 40, 100 + i * 30, w=time_w), _cell(o, 300, 100 + i * 30, w=min(300, 14 * len(o)))]
        out = [ln.text for ln in layout.order(lines)]
        assert out == [x for pair in orders for x in pair]


def test_tilted_table_keeps_rows():
    rows = [["甲", "乙乙", "丙丙丙"], ["丁", "戊戊", "己己己"], ["庚", "辛辛", "壬壬壬"]]
    # 1.5° tilt: the right-most cell of a row sits lower than the next row's left cell would
    # if rows were separated by box tops alone.
    lines = [_cell(t, 50 + c * 400, 100 + r * 28, w=120, angle_deg=1.5)
             for r, row in enumerate(rows) for c, t in enumerate(row)]
    random.Random(1).shuffle(lines)
    out = [ln.text for ln in layout.order(lines)]
    assert out == [t for row in rows for t in row]
    assert abs(math.degrees(layout.residual_skew(lines)) - 1.5) < 0.01


def test_stacked_lines_in_one_column_are_separate_rows():
    lines = [_cell("第一行", 50, 100), _cell("第二行", 52, 118)]  # heavy overlap in y, same x
    out = layout.order(lines)
    assert [ln.text for ln in out] == ["第一行", "第二行"]
    assert out[0].row_no != out[1].row_no
