"""Where a stored line lies in a section's text, so spans found in the text (entities, a
reviewer's selection) point back to their line and page."""
from __future__ import annotations

import re
from bisect import bisect_right

_HEADER = re.compile(r"^[^：:，。]{1,12}[：:]\s*")


def line_offsets(section_text: str, lines: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """(char offset in section text, line id) for each line found in order in the section text.

    sections.text is its lines joined with newlines, possibly without a header line; lines that
    cannot be found (edited by segmentation) are skipped, so a span maps to the nearest line before it.
    """
    out, pos = [], 0
    for line_id, text in lines:
        t = text.strip()
        if not t:
            continue
        i = section_text.find(t, pos)
        if i < 0 and _HEADER.match(t):  # "主诉：腹痛3天": the header was cut off this line
            t = _HEADER.sub("", t, count=1)
            i = section_text.find(t, pos) if t else -1
        if i < 0:  # e.g. a header-only line, not in the section text
            continue
        out.append((i, line_id))
        pos = i + len(t)
    if not out and lines:  # text rewritten by segmentation: the section's first line is the best link
        out.append((0, lines[0][0]))
    return out


def line_for(offsets: list[tuple[int, int]], start: int) -> int | None:
    if not offsets:
        return None
    k = bisect_right([o for o, _ in offsets], start) - 1
    return offsets[max(k, 0)][1]
