"""Structured fields: key–value labels (病案首页 and banners), diagnoses with codes, procedures,
diagnosis lists of 初步诊断/出院诊断, vitals from 体格检查 text and 体温单 rows, nursing level.

Labels, vitals and value types come from ``fields.yaml``; names follow docs/ARCHITECTURE.md.
"""
from __future__ import annotations

import re

from pipeline.dates import find_datetime, normalize_text
from pipeline.segment.config import Fields
from pipeline.segment.doctypes import edit_distance
from pipeline.segment.model import Document, Row, Section, SLine, Value, as_written, rows_of, squash
from pipeline.segment import tables

_SEP = r"\s*[:：]\s*"
_ITEM_SPLIT = re.compile(r"(?:^|\s+|(?<=[，,；;。]))(?:\d{1,2}\s*[.、．)）]|[①-⑳]|[（(]\d{1,2}[)）])\s*")
_SIGNATURE = re.compile(r"(?:医师|医生|签名|签字|记录者)")
_NURSING = re.compile(r"(特级|(?:[一二三1-3]|I{1,3})级)护理")  # text is NFKC: Ⅰ → I
_LEVELS = {"1": "一", "2": "二", "3": "三", "I": "一", "II": "二", "III": "三"}


# An unknown label ('病 房：', '电 话：') ends the value before it.
_OTHER_LABEL = re.compile(r"\s(?:[\u4e00-\u9fff]\s?){2,8}[:：]")


class LabelScanner:
    """Finds 'label：value' pairs in rows, the row's cells read as one text: a label the reading
    split over two cells ('性' | '别：男' where a full-width space printed a wide gap), a label cell
    followed by its value cell (grids) and a label glued to its value ('性别男', forms printed
    without colons) all read."""

    def __init__(self, cfg: Fields):
        self.cfg = cfg
        labels = [(lab, f.name) for f in cfg.fields.values() for lab in f.labels]
        labels += [(lab, "diagnosis") for lab in cfg.diagnoses]
        labels.sort(key=lambda p: -len(p[0]))
        self.by_label = {squash(lab): name for lab, name in labels}
        alt = "|".join(r"\s*".join(re.escape(ch) for ch in lab if not ch.isspace()) for lab, _ in labels)
        # A label followed by a colon counts anywhere (OCR drops the spaces between fields:
        # '姓名：蔡勇性别：男'); without a colon it must start a word, and then a value may follow
        # it directly ('年龄45岁', '性别男').
        self.rx = re.compile(r"(?:(" + alt + r")" + _SEP + r"|(?<![\u4e00-\u9fffA-Za-z])(" + alt + r")(?:\s+|$|(?=\S)))")

    def pairs(self, row: Row) -> list[tuple[str, str, str, SLine]]:
        """(field name, label, raw value, line) for each labelled value in the row."""
        texts = [c.text for c in row.cells]
        starts, pos = [], 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + 1
        text = " ".join(texts)

        def cell_at(offset: int) -> SLine:
            k = max(i for i, st in enumerate(starts) if st <= offset)
            return row.cells[k]

        out = []
        hits = list(self.rx.finditer(text))
        for k, m in enumerate(hits):
            end = hits[k + 1].start() if k + 1 < len(hits) else len(text)
            raw = text[m.end():end]
            other = _OTHER_LABEL.search(raw)
            if other:
                raw = raw[:other.start()]
            value = raw.strip()
            label = m.group(1) or m.group(2)
            name = self.by_label.get(squash(label))
            if not name:
                continue
            at = m.end() + (len(raw) - len(raw.lstrip()))
            out.append((name, label, value, cell_at(at) if value else cell_at(m.start())))
        return out


def normalize(ftype: str, raw: str) -> str | None:
    """Value of a field as stored in ``fields.value`` (see docs/ARCHITECTURE.md)."""
    s = raw.strip().strip("，,；;。")
    if not s:
        return None
    if ftype == "sex":
        m = re.search(r"[男女]", s)
        return m.group(0) if m else None
    if ftype in ("int", "days"):
        m = re.search(r"\d+", s)
        if not m:
            return None
        if ftype == "int" and re.match(r"^\d+\s*(?:个月|月|天|日)", s):
            return "0"  # infants: age in months or days is under one year
        return m.group(0)
    if ftype == "money":
        v = tables.to_float(s)
        return None if v is None else f"{v:.2f}"
    if ftype in ("date", "datetime"):
        got = find_datetime(s)
        if not got:
            return None
        d = got[0]
        if ftype == "date":
            return d.strftime("%Y-%m-%d")
        return d.strftime("%Y-%m-%d %H:%M")
    if ftype == "code":
        return s.split()[0].upper()
    return re.split(r"\s{2,}", s)[0].strip()


def _first_word(value: str) -> str:
    return value.split()[0] if value.split() else value


def key_values(docs: list[Document], cfg: Fields, scanner: LabelScanner) -> list[Value]:
    """One value per labelled field, from the most preferred document type that has it; for an
    ``each`` field every value written as 'label：value' in its document types, in reading order,
    at the document's time (the tested item of each 检验报告)."""
    found: dict[str, list[tuple[str, Value]]] = {}
    out = []
    for doc in docs:
        for row in rows_of(doc.lines):
            for name, label, raw, line in scanner.pairs(row):
                f = cfg.fields.get(name)
                if f is None:
                    continue
                value = normalize(f.type, raw)
                if value is None:
                    continue
                if f.type == "text":
                    if f.one_word:
                        value = _first_word(value)
                    value = _in_vocab(as_written(line, value), f.vocab)
                if f.each:
                    # Without its colon (or a value glued to it) the label is a table header cell
                    # ('检验项目 结果 单位').
                    if doc.doc_type in f.doc_types and re.search(re.escape(label) + r"(?:" + _SEP + r"|(?=\S))", line.text):
                        seq = sum(1 for v in out if v.name == name)
                        out.append(Value(name, value, raw.strip(), line, seq, at=doc.at))
                    continue
                found.setdefault(name, []).append((doc.doc_type, Value(name, value, raw.strip(), line)))
    for name, cands in found.items():
        prefs = cfg.fields[name].doc_types

        def rank(item, prefs=prefs):
            dt = item[0]
            return prefs.index(dt) if dt in prefs else (prefs.index("*") if "*" in prefs else len(prefs))

        ok = [c for c in cands if c[0] in prefs or "*" in prefs]
        if ok:
            out.append(min(ok, key=rank)[1])
    return out


def _in_vocab(value: str, vocab: tuple[str, ...]) -> str:
    """The vocabulary entry a value is, allowing one misread character ('医瞩离院')."""
    if not vocab or value in vocab:
        return value
    near = [v for v in vocab if len(v) >= 3 and edit_distance(value, v, 1) <= 1]
    return near[0] if len(near) == 1 else value


def _code_split(text: str, cfg: Fields) -> tuple[str, str | None]:
    m = cfg.icd10.search(text)
    if not m:
        return text.strip(" ：:，,"), None
    name = (text[: m.start()] + " " + text[m.end():]).strip(" ：:，,")
    code = m.group(0)
    if code[0].isdigit():
        if code[0] not in cfg.icd10_ocr_letters:
            return text.strip(" ：:，,"), None
        code = cfg.icd10_ocr_letters[code[0]] + code[1:]
    return re.split(r"\s{2,}|\s+(?=[有无临床不情况]{1,4}$)", name)[0].strip(), code


def diagnoses(docs: list[Document], cfg: Fields) -> list[Value]:
    """主要诊断 / 其他诊断 of the 病案首页 with ICD-10 codes, in label or table form."""
    out: list[Value] = []
    labels = sorted(cfg.diagnoses, key=len, reverse=True)
    rx = re.compile(r"(" + "|".join(re.escape(x) for x in labels) + r")\s*[:：]?\s*")
    dtab = cfg.tables.get("diagnoses")
    for doc in docs:
        if doc.doc_type != "住院病案首页":
            continue
        in_table = False
        for row in rows_of(doc.lines):
            text = row.text
            if dtab is not None and tables.match_header(row, dtab) is not None:
                in_table = True
                continue
            hits = list(rx.finditer(text))
            if not hits and in_table:
                name, code = _code_split(text, cfg)
                if code and name:
                    line = next((c for c in row.cells if name[:4] in c.text), row.first)
                    out.append(Value("other_diagnosis", as_written(line, name), text.strip(), line, code=code))
                elif not code:
                    in_table = False
                continue
            for k, m in enumerate(hits):
                end = hits[k + 1].start() if k + 1 < len(hits) else len(text)
                seg = text[m.end():end]
                name, code = _code_split(seg, cfg)
                if not name:
                    continue
                line = next((c for c in row.cells if name[:4] in c.text), row.first)
                out.append(Value(cfg.diagnoses[m.group(1)], as_written(line, name), seg.strip(), line, code=code))
    return _numbered(out)


def procedures(docs: list[Document], cfg: Fields) -> list[Value]:
    tdef = cfg.tables.get("procedures")
    out = []
    if tdef is None:
        return out
    for doc in docs:
        if doc.doc_type not in tdef.doc_types:
            continue
        read = 0
        for v, first, row_line in tables.read_table(doc.lines, tdef):
            code_m = cfg.icd9.search(v.get("code") or "")
            name = (v.get("name") or "").strip()
            if not code_m or not name:
                if read and not code_m:
                    break   # the table has ended (离院方式 …): a grid's 费用 cells below ("麻醉费 50.00") are no operation
                continue
            read += 1
            got = find_datetime(v.get("date") or "")
            out.append(Value("procedure", name, name, first.get("name", row_line), code=code_m.group(0),
                             at=got[0].strftime("%Y-%m-%d") if got else None))
    return _numbered(out)


def diagnosis_lists(sections: list[tuple[Document, Section]], cfg: Fields) -> list[Value]:
    """admission_diagnosis (初步诊断/入院诊断) and discharge_diagnosis (出院诊断) items."""
    targets = {"初步诊断": "admission_diagnosis", "入院诊断": "admission_diagnosis",
               "出院诊断": "discharge_diagnosis"}
    out: list[Value] = []
    source: dict[str, int] = {}  # the first section per list is the reference (入院记录, 出院记录)
    for doc, sec in sections:
        name = targets.get(sec.name)
        if name is None or doc.doc_type == "住院病案首页" or source.setdefault(name, id(sec)) != id(sec):
            continue
        for line, text in sec.parts:
            if _SIGNATURE.search(text) or (find_datetime(text) and len(squash(text)) < 16):
                continue
            for item in _ITEM_SPLIT.split(text):
                item = item.strip(" ，,；;。")
                if len(squash(item)) < 2:
                    continue
                dx, code = _code_split(item, cfg)
                out.append(Value(name, as_written(line, dx), item, line, code=code))
    return _numbered(out)


def vitals(sections: list[tuple[Document, Section]], docs: list[Document], cfg: Fields,
           year: int | None) -> list[Value]:
    """Vital signs from 体格检查 sections (at = the document time) and 体温单 table rows."""
    out: list[Value] = []
    rxs = {}
    for v in cfg.vitals.values():
        alt = "|".join(re.escape(x) for x in sorted(v.labels, key=len, reverse=True))
        rxs[v.name] = re.compile(r"(?<![A-Za-z\u4e00-\u9fff])(?:" + alt + r")\s*[:：]?\s*(" + v.value + r")\s*" + v.unit)
    for doc, sec in sections:
        if sec.name != "体格检查":
            continue
        tail = ""
        for line, text in sec.parts:
            # the previous line's end is context: 'HR' wrapped as 'H' | 'R 82次/分' is no 呼吸
            t = normalize_text(text)
            ctx = tail + t
            for name, rx in rxs.items():
                for m in rx.finditer(ctx):
                    if m.start() >= len(tail):
                        out.append(Value(name, re.sub(r"\s+", "", m.group(1)), m.group(0).strip(), line, at=doc.at))
            tail = t[-1:]
    tdef = cfg.tables.get("vitals")
    for doc in docs:
        if tdef is None or doc.doc_type not in tdef.doc_types:
            continue
        grid = _chart_grid(doc, cfg, tdef, year)
        if grid:
            out += grid
            continue
        for v, first, row_line in tables.read_table(doc.lines, tdef):
            at = tables.combine_at(v.get("date"), v.get("time"), year=year)
            for name in cfg.vitals:
                raw = v.get(name) or ""
                # several readings a day share one cell ("36.5/37.2/36.8")
                for m in re.finditer(cfg.vitals[name].value, raw):
                    out.append(Value(name, re.sub(r"\s+", "", m.group(0)), raw, first.get(name, row_line), at=at))
    return _numbered(out)


def _chart_grid(doc: Document, cfg: Fields, tdef, year: int | None) -> list[Value]:
    """体温单 drawn as a grid: a 日期 row with one column per day, then one row per vital sign
    (several temperature readings a day split that day's column evenly)."""
    out: list[Value] = []
    dates: list[str] = []
    date_names = {squash(n) for c in tdef.columns if c.name == "date" for n in c.names}
    row_names = {squash(n): c.name for c in tdef.columns if c.name in cfg.vitals for n in c.names}
    for row in rows_of(doc.lines):
        cells = tables.cells_of(row)
        if not cells:
            continue
        label = squash(cells[0].text)
        if label in date_names and len(cells) > 2:
            found = [tables.combine_at(c.text, year=year) for c in cells[1:]]
            if sum(f is not None for f in found) >= 2:
                dates = [f or "" for f in found]
            continue
        name = row_names.get(label)
        if not dates or name is None:
            continue
        vals = cells[1:]
        per_day = max(1, len(vals) // len(dates)) if len(vals) % len(dates) == 0 else 1
        for k, cell in enumerate(vals):
            m = re.search(cfg.vitals[name].value, cell.text)
            day = k // per_day
            if m and day < len(dates):
                out.append(Value(name, re.sub(r"\s+", "", m.group(0)), cell.text, cell.line, at=dates[day] or None))
    return out


def nursing_level(order_rows: list[dict]) -> list[Value]:
    for o in order_rows:
        if o["kind"] != "long":
            continue
        m = _NURSING.search(normalize_text(o["content"]))
        if m:
            level = m.group(1)
            level = "特级" if level == "特级" else _LEVELS.get(level[:-1], level[:-1]) + "级"
            return [Value("nursing_level", level + "护理", m.group(0), o["line"], at=o["start_at"])]
    return []


def _numbered(values: list[Value]) -> list[Value]:
    seqs: dict[str, int] = {}
    for v in values:
        v.seq = seqs.get(v.name, 0)
        seqs[v.name] = v.seq + 1
    return values
