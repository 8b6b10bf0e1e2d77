"""Reading order: lines grouped into rows, rows read left to right, and text columns read one
after the other.

Tables (医嘱单, 检验报告, 费用清单) give one box per cell: cells whose boxes share a band of
height form a row and come out left to right, so a table reads row by row. A vertical gutter
that runs through several consecutive rows splits them into text columns only when both sides
look like running text (one longish, mostly Chinese line per row on each side, columns of
comparable width); otherwise the rows are a table or a form and are read across.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import median

from pipeline.record.page import Line

MIN_COLUMN_ROWS = 3
MIN_COLUMN_TEXT_CHARS = 8   # tables and key–value forms have shorter cells
MIN_COLUMN_CJK_SHARE = 0.5
MAX_MULTI_CELL_ROWS = 0.2   # share of rows allowed more than one line on one side of a gutter
MIN_COLUMN_WIDTH_RATIO = 0.6  # narrower : wider text column


@dataclass
class _Item:
    line: Line
    x0: float
    x1: float
    cy: float
    h: float


def residual_skew(lines: list[Line]) -> float:
    """Median text-line angle (radians) from the engine's polygons; 0 without polygons."""
    angles = []
    for ln in lines:
        p = ln.polygon
        if not p or len(p) != 4:
            continue
        (x0, y0), (x1, y1) = p[0], p[1]
        (x3, y3), (x2, y2) = p[3], p[2]
        if abs(x1 - x0) < 3 * abs(y3 - y0) or x1 <= x0:
            continue  # short boxes give noisy angles
        angles.append(math.atan2(y1 - y0, x1 - x0))
        angles.append(math.atan2(y2 - y3, x2 - x3))
    return median(angles) if len(angles) >= 4 else 0.0


def _items(lines: list[Line]) -> list[_Item]:
    a = residual_skew(lines)
    cos, sin = math.cos(a), math.sin(a)
    out = []
    for ln in lines:
        x0, y0, x1, y1 = ln.bbox
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # Undo the residual skew on the centre so rows on a tilted page stay rows.
        rx, ry = cx * cos + cy * sin, -cx * sin + cy * cos
        w, h = x1 - x0, max(y1 - y0, 1e-6)
        out.append(_Item(ln, rx - w / 2, rx + w / 2, ry, h))
    return out


def _rows(items: list[_Item]) -> list[list[_Item]]:
    rows: list[list[_Item]] = []
    bands: list[tuple[float, float]] = []  # (centre, height) of each row
    for it in sorted(items, key=lambda i: (i.cy, i.x0)):
        placed = False
        for k in range(len(rows) - 1, max(-1, len(rows) - 3), -1):
            cy, h = bands[k]
            overlap = min(cy + h / 2, it.cy + it.h / 2) - max(cy - h / 2, it.cy - it.h / 2)
            side_by_side = all(it.x0 >= o.x1 - 0.2 * it.h or it.x1 <= o.x0 + 0.2 * it.h for o in rows[k])
            if overlap >= 0.5 * min(h, it.h) and side_by_side:
                rows[k].append(it)
                n = len(rows[k])
                bands[k] = (cy + (it.cy - cy) / n, median(i.h for i in rows[k]))
                placed = True
                break
        if not placed:
            rows.append([it])
            bands.append((it.cy, it.h))
    order = sorted(range(len(rows)), key=lambda k: bands[k][0])
    return [sorted(rows[k], key=lambda i: i.x0) for k in order]


def _free(row: list[_Item], left: float, right: float) -> list[tuple[float, float]]:
    """Horizontal intervals inside [left, right] that no line of the row covers."""
    out, x = [], left
    for it in sorted(row, key=lambda i: i.x0):
        if it.x0 > x:
            out.append((x, it.x0))
        x = max(x, it.x1)
    if x < right:
        out.append((x, right))
    return out


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]], min_w: float):
    out = []
    for s0, e0 in a:
        for s1, e1 in b:
            s, e = max(s0, s1), min(e0, e1)
            if e - s >= min_w:
                out.append((s, e))
    return out


def _is_text_columns(rows: list[list[_Item]], gutter: tuple[float, float]) -> bool:
    g0, g1 = gutter
    left = [[i for i in r if i.x1 <= g0] for r in rows]
    right = [[i for i in r if i.x0 >= g1] for r in rows]
    if sum(map(len, left)) < 2 or sum(map(len, right)) < 2:
        return False
    multi = sum(1 for lr in left + right if len(lr) > 1)
    if multi > MAX_MULTI_CELL_ROWS * len(rows):
        return False
    # Text columns are of comparable width; a narrow column beside a wide one is a table
    # (医嘱单: time | order), which must read across.
    lw = max(i.x1 for r in left for i in r) - min(i.x0 for r in left for i in r)
    rw = max(i.x1 for r in right for i in r) - min(i.x0 for r in right for i in r)
    if min(lw, rw) < MIN_COLUMN_WIDTH_RATIO * max(lw, rw):
        return False
    for side in (left, right):
        texts = [i.line.text for r in side for i in r]
        if median(len(t) for t in texts) < MIN_COLUMN_TEXT_CHARS:
            return False
        # Running Chinese text; a column of times, doses or lab values is part of a table.
        joined = "".join(texts)
        if sum(1 for ch in joined if "\u4e00" <= ch <= "\u9fff") < MIN_COLUMN_CJK_SHARE * len(joined):
            return False
    return True


def _column_zone(rows: list[list[_Item]], start: int, left: float, right: float, min_gap: float):
    """The longest run of rows from ``start`` sharing an interior gutter: (end, gutter) or None."""
    def interior(intervals):
        return [(s, e) for s, e in intervals if s > left and e < right and e - s >= min_gap]

    gutters = interior(_free(rows[start], left, right))
    end = start + 1
    while gutters and end < len(rows):
        nxt = _intersect(gutters, _free(rows[end], left, right), min_gap)
        if not nxt:
            break
        gutters, end = nxt, end + 1
    if not gutters or end - start < MIN_COLUMN_ROWS:
        return None
    widest = max(gutters, key=lambda g: g[1] - g[0])
    return end, widest


def order(lines: list[Line]) -> list[Line]:
    """Lines in reading order, each a copy with ``row_no`` and ``col_no`` set.

    ``row_no`` counts visual rows down the page (a text column's lines each get their own);
    ``col_no`` is the line's left-to-right place in its row, or its text column's index.
    """
    if not lines:
        return []
    items = _items(lines)
    rows = _rows(items)
    left = min(i.x0 for i in items)
    right = max(i.x1 for i in items)
    min_gap = max(0.5 * median(i.h for i in items), 0.01 * (right - left))
    out: list[Line] = []
    row_no = 0
    r = 0
    while r < len(rows):
        zone = _column_zone(rows, r, left, right, min_gap)
        if zone and _is_text_columns(rows[r:zone[0]], zone[1]):
            end, (g0, g1) = zone
            for col, keep in enumerate((lambda i: i.x1 <= g0, lambda i: i.x0 >= g1)):
                for row in rows[r:end]:
                    for it in (i for i in row if keep(i)):
                        out.append(replace(it.line, row_no=row_no, col_no=col))
                        row_no += 1
            r = end
            continue
        # A rejected zone is a table or form as a whole: a run of its rows must not be
        # taken for text columns on the next attempt.
        end = zone[0] if zone else r + 1
        for row in rows[r:end]:
            for col, it in enumerate(row):
                out.append(replace(it.line, row_no=row_no, col_no=col))
            row_no += 1
        r = end
    return out
