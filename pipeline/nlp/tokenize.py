"""Tokenizers for the zh pipeline: one token per character, with word-level features from jieba.

Entity boundaries in Chinese clinical text often fall inside jieba words (e.g. 右肺|上叶 vs
右肺上叶癌), so tokens are characters (a boundary ceiling of 100 %), and the jieba segmentation,
run with a medical user dictionary built from the ICD tables, is kept as per-token features:
``norm_`` = the character bigram starting here, ``lemma_`` = the jieba word containing the
character, ``tag_`` = the character's position in that word (B/I/E/S). ``alignment_ceiling``
measures both choices on a corpus.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import re
from pathlib import Path

import jieba
import numpy
import spacy
from spacy.attrs import LEMMA, NORM, TAG
from spacy.tokens import Doc
from spacy.util import ensure_path

jieba.setLogLevel(logging.WARNING)

USERDICT_NAME = "medical_userdict.txt"
_TERM_OK = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9\-]{2,12}$")
_TERM_CLEAN = re.compile(r"[（(][^）)]*[）)]")


def build_userdict(icd_dir: str | Path | None, extra_terms: list[str] = (), out: str | Path | None = None) -> list[str]:
    """Medical terms for jieba: ICD disease/procedure names (short, unpunctuated) + extra terms."""
    terms: set[str] = set(t for t in extra_terms if _TERM_OK.match(t))
    if icd_dir and Path(icd_dir).is_dir():
        for path in sorted(Path(icd_dir).glob("*.csv")):
            with open(path, encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    name = _TERM_CLEAN.sub("", (row.get("name") or row.get("disease") or "").strip())
                    if _TERM_OK.match(name):
                        terms.add(name)
    words = sorted(terms)
    if out:
        Path(out).write_text("".join(f"{w} 10 n\n" for w in words), encoding="utf-8")
    return words


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class JiebaSegmenter:
    """A private jieba instance (the global one is shared with other code) with our user dict."""

    def __init__(self, userdict: str | Path | None = None):
        self.tk = jieba.Tokenizer()
        self.userdict = Path(userdict) if userdict else None
        if self.userdict and self.userdict.is_file():
            self.tk.load_userdict(str(self.userdict))

    def cut(self, text: str) -> list[str]:
        return self.tk.lcut(text, HMM=True)


class CharTokenizer:
    """One token per character with jieba word features (see module doc)."""

    def __init__(self, vocab, userdict: str | Path | None = None):
        self.vocab = vocab
        self.userdict_text = ""
        self._seg = None
        if userdict and Path(userdict).is_file():
            self.userdict_text = Path(userdict).read_text(encoding="utf-8")
            self._userdict_path = Path(userdict)
        else:
            self._userdict_path = None

    @property
    def segmenter(self) -> JiebaSegmenter:
        if self._seg is None:
            self._seg = JiebaSegmenter(self._userdict_path)
        return self._seg

    def __call__(self, text: str) -> Doc:
        chars = list(text)
        doc = Doc(self.vocab, words=chars, spaces=[False] * len(chars))
        add = self.vocab.strings.add
        s, b, i, e = add("S"), add("B"), add("I"), add("E")
        words, tags = [], []
        for w in self.segmenter.cut(text):
            n = len(w)
            words += [add(w)] * n
            tags += [s] if n == 1 else [b] + [i] * (n - 2) + [e]
        # One array write instead of per-Token setters: creating Token objects is a noticeable
        # share of the pipeline's time.
        arr = numpy.empty((len(chars), 3), dtype="uint64")
        arr[:, 0] = [add(text[k : k + 2]) for k in range(len(chars))]
        arr[:, 1] = words
        arr[:, 2] = tags
        doc.from_array([NORM, LEMMA, TAG], arr)
        return doc

    def pipe(self, texts, batch_size=1000):
        for t in texts:
            yield self(t)

    # Serialization: the user dict travels inside the model folder.
    def to_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / USERDICT_NAME).write_text(self.userdict_text, encoding="utf-8")

    def from_disk(self, path, *, exclude=tuple()):
        path = ensure_path(path)
        f = path / USERDICT_NAME
        if f.is_file():
            self.userdict_text = f.read_text(encoding="utf-8")
            self._userdict_path = f
            self._seg = None
        return self

    def to_bytes(self, *, exclude=tuple()):
        return self.userdict_text.encode("utf-8")

    def from_bytes(self, data, *, exclude=tuple()):
        self.userdict_text = data.decode("utf-8")
        return self


@spacy.registry.tokenizers("medreview.char_tokenizer.v1")
def create_char_tokenizer():
    def make(nlp):
        return CharTokenizer(nlp.vocab)

    return make


def alignment_ceiling(docs, segment) -> dict:
    """Share of gold entities whose both ends fall on token boundaries of ``segment(text)``:
    the best strict recall any tagger over those tokens could reach."""
    total = aligned = 0
    for d in docs:
        bounds, pos = {0}, 0
        for w in segment(d.text):
            pos += len(w)
            bounds.add(pos)
        for s, e, _ in d.entities:
            total += 1
            aligned += s in bounds and e in bounds
    return {"entities": total, "aligned": aligned, "ceiling": aligned / total if total else 0.0}
