"""Hospital print styles (``data/styles.yaml``): one record printed the way another hospital's
HIS prints it.

``apply`` rewrites a written record (``content.Record``) before pagination: document titles,
labels and their separators, dates, units, key-value lines as label/value cells, the bill's
columns and item names, and (``narrative: corpus``) the 现病史 and 诊疗经过 from the real corpora
in ../shared/data when they are there. Evidence text goes through the same functions
(``Style.evidence``), so it stays an exact substring of a drawn line. The plan, the violations
and the labels never depend on the style, and nothing here draws from the record's RNG.
"""
from __future__ import annotations

import functools
import json
import os
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from . import catalog
from .content import Doc, Record, Table, Text
from .layout import text_width

DATA = Path(__file__).parent / "data" / "styles.yaml"
DEFAULT = "standard"
# at: date and time of the charge; date: its day only; spec: a drug's 规格 (blank for services)
SOURCES = ("row", "at", "date", "code", "name", "spec", "category", "unit", "qty", "price", "amount")
# width in pt of a bill column by what it shows (the standard layout's widths)
SOURCE_WIDTH = {"row": 22, "at": 82, "date": 50, "code": 68, "name": 140, "spec": 56, "category": 44, "unit": 28,
                "qty": 24, "price": 42, "amount": 46}
BILL_WIDTH = 495.0
# Documents whose key-value lines a grid style prints as label/value cells.
FORM_DOCS = ("住院病案首页", "入院记录", "出院记录")
CLAIMS_FIELDS = 10
CLAIMS_ENCODINGS = ("utf-8-sig", "utf-8", "gbk")  # utf-8: without a byte-order mark
_FW = str.maketrans("0123456789", "０１２３４５６７８９")
_DT = re.compile(r"(?<![\d.])(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?(?!\d)")
# a label: two or more CJK characters and a full-width colon, at the start or after a space
_LABEL = re.compile(r"(?:^|(?<=\s))([\u4e00-\u9fff]{2,12})：")
_LOS = re.compile(r"实际住院(\d+)天")
_AGE = re.compile(r"(年龄：\d+)岁")
_VITAL_UNITS = re.compile(r"(?<=\d)(?:℃|次/分|mmHg)")
_METHOD = re.compile(r"[(（][^)）]*法[)）]")
_SENTENCE_END = "。！？"


class StyleError(ValueError):
    """styles.yaml does not follow its schema."""


def _fail(where: str, msg: str):
    raise StyleError(f"styles.yaml: {where}: {msg}")


@dataclass(frozen=True)
class Style:
    id: str
    spec: dict
    local_names: tuple = ()
    methods: tuple = ()
    corpus_terms: dict = field(default_factory=dict)
    corpus_exclude: tuple = ()

    # -- options ---------------------------------------------------------------------------------
    def grid(self, doc_type: str) -> bool:
        """Whether this document's key-value lines print as label/value cells."""
        forms = self.spec["forms"]
        return doc_type in FORM_DOCS and (forms == "grid" or (isinstance(forms, list) and doc_type in forms))

    @property
    def corpus(self) -> bool:
        return self.spec["narrative"] == "corpus"

    @property
    def claims_encoding(self) -> str:
        return self.spec["claims"]["encoding"]

    @property
    def claims_header(self) -> list[str]:
        return list(self.spec["claims"]["header"])

    # -- pieces ------------------------------------------------------------------------------------
    def date(self, m: re.Match) -> str:
        y, mo, d, hh, mm, ss = m.groups()
        dates = self.spec["dates"]
        vals = {"Y": y, "m": mo, "d": d, "n": str(int(mo)), "j": str(int(d)), "H": hh or "", "M": mm or "",
                "G": str(int(hh)) if hh else "", "S": ss or ""}
        if hh is None:
            out = dates["date"].format(**vals)
        else:
            fmt = dates["datetime"]
            if ss:
                fmt = fmt.replace("{M}分", "{M}分{S}秒") if "{M}分" in fmt else fmt.replace("{M}", "{M}:{S}")
            out = fmt.format(**vals)
        return out.translate(_FW) if dates["fullwidth"] else out

    def label(self, name: str, *, section: bool = False, cell: bool = False) -> str:
        labels = self.spec["labels"]
        printed = labels["names"].get(name, name)
        if len(printed) == 2 and labels["pad"]:
            printed = printed[0] + labels["pad"] + printed[1]
        if cell:
            return printed
        sep = labels["sep"]
        if section and not sep.strip():
            sep = "："  # a section header always has its colon; only field labels drop it
        return printed + sep

    def title(self, doc_type: str, hospital: str) -> str:
        t = self.spec["titles"]
        printed = t["names"].get(doc_type, doc_type)
        if t["spacing"]:
            printed = t["spacing"].join(printed)
        if t["prefix"] == "inline":
            return hospital + printed
        if t["prefix"] == "above":
            return hospital + "\n" + printed
        return printed

    def values(self, text: str) -> str:
        """Dates and units of a text, labels left alone."""
        if "实际住院" in self.spec["labels"]["names"]:
            text = _LOS.sub(lambda m: f"实际住院：{m.group(1)}天", text)
        if not self.spec["units"]:
            text = _AGE.sub(r"\1", text)
            text = _VITAL_UNITS.sub("", text)
            text = re.sub(r"((?:住院天数|实际住院)：\d+)天", r"\1", text)
        return _DT.sub(self.date, text)

    def text(self, text: str) -> str:
        """A line of prose or a key-value line printed in this style."""
        return _LABEL.sub(lambda m: self.label(m.group(1)), self.values(text))

    def pairs(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        """(text before the first label, [(label, value)]) of a key-value line."""
        hits = list(_LABEL.finditer(text))
        if not hits:
            return text, []
        out = []
        for k, m in enumerate(hits):
            end = hits[k + 1].start() if k + 1 < len(hits) else len(text)
            out.append((m.group(1), text[m.end():end].strip()))
        return text[:hits[0].start()].strip(), out

    def cells(self, text: str) -> list[str]:
        """A key-value line as grid cells: [prefix], label, value, label, value …"""
        prefix, pairs = self.pairs(self.values(text))
        out = [prefix] if prefix else []
        for lab, value in pairs:
            out += [self.label(lab, cell=True), value]
        return out

    def evidence(self, text: str, doc_type: str) -> str:
        """Evidence text as drawn in this style (a key-value line's cells joined by one space)."""
        if self.grid(doc_type) and self.pairs(self.values(text))[1]:
            return " ".join(c for c in self.cells(text) if c)
        return self.text(text)

    def item_name(self, name: str) -> str:
        bill = self.spec["bill"]
        if bill["naming"] == "local":
            for rx, rep in bill.get("local_names") or self.local_names:
                name = re.sub(rx, rep, name)
        if bill["methods"] and not _METHOD.search(name):
            method = next((m for kw, m in self.methods if kw in name), None)
            if method:
                name = f"{name}({method})"
        return name


def _check_spec(sid: str, spec) -> dict:
    where = f"styles.{sid}"
    if not isinstance(spec, dict):
        _fail(where, "must be a mapping")
    keys = {"desc", "titles", "labels", "dates", "units", "forms", "bill", "claims", "narrative"}
    if set(spec) != keys:
        _fail(where, f"needs exactly the keys {sorted(keys)}")
    t, lab, d, bill, claims = spec["titles"], spec["labels"], spec["dates"], spec["bill"], spec["claims"]
    if not isinstance(t, dict) or t.get("prefix") not in ("none", "inline", "above") or not isinstance(t.get("names"), dict):
        _fail(f"{where}.titles", "needs spacing, prefix none|inline|above and names")
    if not isinstance(lab, dict) or not isinstance(lab.get("names"), dict) or not isinstance(lab.get("sep"), str):
        _fail(f"{where}.labels", "needs pad, sep and names")
    for k in ("datetime", "date"):
        try:
            (d[k]).format(Y="2024", m="01", d="02", n="1", j="2", H="03", M="04", G="3", S="05")
        except (KeyError, IndexError, TypeError) as exc:
            _fail(f"{where}.dates.{k}", f"bad format ({exc})")
    forms = spec["forms"]
    if not (forms in ("text", "grid") or (isinstance(forms, list) and forms and set(forms) <= set(FORM_DOCS))):
        _fail(f"{where}.forms", f"must be text|grid or a list of the documents printed as grids, of {FORM_DOCS}")
    if spec["narrative"] not in ("generated", "corpus"):
        _fail(where, "narrative must be generated|corpus")
    cols = bill.get("columns")
    if not cols or any(len(c) != 2 or c[1] not in SOURCES for c in cols) or bill.get("naming") not in ("national", "local"):
        _fail(f"{where}.bill", f"columns are [header, source] with source in {SOURCES}; naming national|local")
    if "local_names" in bill:
        try:
            bill["local_names"] = tuple((re.compile(rx), rep) for rx, rep in bill["local_names"])
        except (re.error, TypeError, ValueError) as exc:
            _fail(f"{where}.bill.local_names", f"a list of [regex, replacement] ({exc})")
    if claims.get("encoding") not in CLAIMS_ENCODINGS or len(claims.get("header") or []) != CLAIMS_FIELDS:
        _fail(f"{where}.claims", f"encoding {'|'.join(CLAIMS_ENCODINGS)} and {CLAIMS_FIELDS} header names")
    return spec


def read(path: Path) -> tuple[dict[str, Style], tuple[str, ...]]:
    """(styles by id in file order, held-out style ids in listed order) of a styles file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("styles"), dict):
        _fail("top level", "version 1 with a styles mapping")
    if DEFAULT not in data["styles"]:
        _fail("styles", f"a {DEFAULT!r} style must exist")
    held = data.get("heldout")
    held = tuple(held) if isinstance(held, list) else (held,)
    if not held or any(h not in data["styles"] for h in held) or DEFAULT in held or len(set(held)) < len(held):
        _fail("heldout", f"must name a style or list styles, each once, other than {DEFAULT!r}")
    local = tuple((re.compile(rx), rep) for rx, rep in data.get("local_names") or [])
    methods = tuple((kw, m) for kw, m in data.get("methods") or [])
    terms = {str(k): tuple(v) for k, v in (data.get("corpus_terms") or {}).items()}
    exclude = tuple(data.get("corpus_exclude") or ())
    return ({sid: Style(sid, _check_spec(sid, spec), local, methods, terms, exclude)
             for sid, spec in data["styles"].items()}, held)


@functools.cache
def _data() -> tuple[dict[str, Style], tuple[str, ...]]:
    return read(DATA)


def load() -> dict[str, Style]:
    return _data()[0]


def get(name: str | None) -> Style:
    styles = load()
    if (name or DEFAULT) not in styles:
        raise ValueError(f"unknown style {name!r}; choose from {sorted(styles)}")
    return styles[name or DEFAULT]


def heldout() -> tuple[str, ...]:
    """The styles kept out of development, in listed order (the last is the newest blind one)."""
    return _data()[1]


def developed() -> tuple[str, ...]:
    """The styles development may look at, in file order."""
    return tuple(s for s in load() if s not in heldout())


# -- narrative from the real corpora ---------------------------------------------------------------

def shared_data() -> Path:
    return Path(os.environ.get("MEDREVIEW_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")


@functools.cache
def _corpus() -> dict[str, list[str]]:
    """现病史-like passages (CCKS 2018, Yidu-S4K) and 诊疗经过 passages (CCKS 2017); empty when the
    corpora are absent. Read in place, never copied."""
    root = shared_data()
    out: dict[str, list[str]] = {"hpi": [], "course": []}
    for rel, kind in (("ccks2018-cner/train.jsonl", "hpi"), ("yidu-s4k/train.jsonl", "hpi"),
                      ("ccks2017-cner/train.jsonl", "course")):
        path = root / rel
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                if kind == "course" and "诊疗经过" not in doc.get("id", ""):
                    continue
                text = re.sub(r"\s+", "", doc.get("text", ""))
                if 40 <= len(text):
                    out[kind].append(text)
    return out


def _clip(text: str, limit: int = 360) -> str:
    if len(text) <= limit:
        return text
    cut = max(text.rfind(ch, 0, limit) for ch in _SENTENCE_END)
    return text[:cut + 1] if cut > 40 else text[:limit] + "。"


_AGE_OR_SEX = re.compile(r"\d+\s*(?:岁|月龄)|[男女]性|患儿|孕")
TERM_WITHIN = 60  # a passage is about the disease when one of its terms comes this early
_SECOND_ITEM = re.compile(r"[2２]\s*[、.．]")


def passage(style: Style, kind: str, code: str, rng: random.Random) -> str | None:
    """A corpus passage about the condition coded ``code``: one of its ICD-10 category's
    ``corpus_terms`` among the passage's first characters, no word of another major disease
    (``corpus_exclude``) and no age or sex of its own patient; None without one."""
    terms = style.corpus_terms.get(code[:3]) or ()
    if not terms:
        return None
    banned = [w for w in style.corpus_exclude if not any(w in t for t in terms)]

    def fits(p: str) -> bool:
        first = min((p.find(t) for t in terms if t in p), default=-1)
        second = _SECOND_ITEM.search(p)  # a list of diagnoses: the disease must be the first
        limit = min(TERM_WITHIN, second.start() if second else TERM_WITHIN)
        return 0 <= first < limit and not any(w in p for w in banned) and not _AGE_OR_SEX.search(p)

    pool = [p for p in _corpus()[kind] if fits(p)]
    return _clip(rng.choice(sorted(pool))) if pool else None


# -- the record --------------------------------------------------------------------------------------

def _grid_table(style: Style, text: str) -> Table:
    cells = style.cells(text)
    natural = [max(30.0, text_width(c, 8.0) + 8) for c in cells]
    scale = min(1.0, BILL_WIDTH / sum(natural))
    return Table([("", w * scale) for w in natural], [cells], [None], header=False)


def _bill_table(style: Style, table: Table) -> Table:
    cols = style.spec["bill"]["columns"]
    widths = [SOURCE_WIDTH[src] for _, src in cols]
    scale = min(1.0, BILL_WIDTH / sum(widths))
    drugs = catalog.load().drugs
    rows = []
    for c in table.refs:
        value = {"row": str(c.row), "at": style.values(f"{c.at:%Y-%m-%d %H:%M:%S}"),
                 "date": style.values(f"{c.at:%Y-%m-%d}"), "code": c.code, "name": style.item_name(c.name),
                 "spec": drugs.get(c.item, {}).get("spec", ""), "category": c.category, "unit": c.unit,
                 "qty": str(c.qty), "price": f"{c.price:.2f}", "amount": f"{c.amount:.2f}"}
        rows.append([value[src] for _, src in cols])
    return Table([(h, w * scale) for (h, _), w in zip(cols, widths)], rows, list(table.refs))


def _narrative(style: Style, block: Text, kind: str, code: str, rng: random.Random) -> Text:
    """The section's first generated sentence (after the readmission sentence, which is evidence)
    followed by a corpus passage about the same disease."""
    found = passage(style, kind, code, rng)
    body = block.section_text or ""
    if not found or not block.text.endswith(body):
        return block
    sentences = re.split(r"(?<=[。！？])", body)
    keep = 2 if any(k and body.startswith(k) for k in block.keep) else 1
    new = "".join(sentences[:keep]) + found
    return replace(block, text=block.text[:len(block.text) - len(body)] + new, section_text=new)


def apply(record: Record, style: Style, *, hospital: str, code: str, rng: random.Random) -> Record:
    """``record`` printed in ``style``; ``code`` is the condition's ICD-10 code (corpus choice)."""
    docs = []
    line_of = {k: style.text(v) for k, v in record.line_of.items()}
    for doc in record.docs:
        blocks = []
        for b in doc.blocks:
            if isinstance(b, Table):
                if doc.title == "费用清单" and b.refs and all(r is not None for r in b.refs):
                    t = _bill_table(style, b)
                else:
                    t = Table([(style.text(h), w) for h, w in b.columns],
                              [[style.text(c) for c in row] for row in b.rows], list(b.refs), header=b.header)
                for cells, ref in zip(t.rows, t.refs):
                    if ref is not None:
                        line_of[id(ref)] = " ".join(c for c in cells if c)
                blocks.append(t)
                continue
            if b.section and style.corpus and b.section in ("现病史", "诊疗经过"):
                b = _narrative(style, b, "hpi" if b.section == "现病史" else "course", code, rng)
            if b.section:
                body = b.section_text or ""
                inline = bool(body) and b.text.endswith(body)  # "主诉：…" (else the body follows as lines)
                header = b.text[:len(b.text) - len(body)] if inline else b.text
                if header.endswith("："):
                    header = style.label(header[:-1], section=True)
                else:
                    header = style.text(header)
                blocks.append(replace(b, text=header + (style.text(body) if inline else ""), section_text=style.text(body),
                                      keep=tuple(style.text(k) for k in b.keep)))
                continue
            if style.grid(doc.title) and b.ref is None and style.pairs(style.values(b.text))[1]:
                blocks.append(_grid_table(style, b.text))
                continue
            nb = replace(b, text=style.text(b.text), keep=tuple(style.text(k) for k in b.keep))
            if b.ref is not None:
                line_of[id(b.ref)] = nb.text
            blocks.append(nb)
        docs.append(Doc(doc.title, blocks, printed=style.title(doc.title, hospital)))
    return Record(docs, style.text(record.header), line_of)
