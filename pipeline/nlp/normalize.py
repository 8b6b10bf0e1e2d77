"""Normalization of DISEASE / OPERATION mentions to codes and standard names of a code table.

Retrieval: char 1–3-gram TF-IDF over the table's names (plus alias strings, when given) →
top-k candidates. Ranking: a logistic model over a few table-independent features (similarity to
the whole mention and to its parts, character coverage both ways, containment, alias hit, how
often the name was a target in training), trained on the CHIP-CDN train split
(``train_ranker``; weights in data/normalize_ranker.json). A compound mention (CHIP-CDN style
"糖尿病反复低血糖;骨质疏松") may map to several names: every candidate whose probability
passes the tuned threshold is returned, at least the best one.
Abbreviations and synonyms (冠心病, Ca/CA → 癌, 2型DM) are expanded first from
data/abbreviations.yaml.
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

DATA = Path(__file__).parent / "data"
ABBREV_PATH = DATA / "abbreviations.yaml"
RANKER_PATH = DATA / "normalize_ranker.json"
BUILTIN_TABLE = DATA / "icd_common.csv"
FEATURES = ["s_whole", "s_part", "cov_name", "cov_part", "substring", "inv_rank", "inv_rank_part", "alias", "log_prior", "len_name"]
_SPLIT = re.compile(r"[;；,，、。.\s/]+|(?<=[\u4e00-\u9fff])(?:伴|并|及|合并)(?=[\u4e00-\u9fff])")


class CodeTableError(ValueError):
    """A code table that cannot be read (wrong columns, empty)."""


@dataclass
class Match:
    code: str
    name: str
    score: float


@dataclass
class CodeTable:
    codes: list[str]
    names: list[str]
    source: str

    @classmethod
    def from_csv(cls, path: str | Path, kind: str | None = None) -> "CodeTable":
        """Read a table with a code column and a name column (``name`` or ``disease``); rows
        with an empty code or name are skipped. ``kind`` filters a ``kind`` column if present."""
        path = Path(path)
        if not path.is_file():
            raise CodeTableError(f"{path}: code table not found")
        codes, names, seen = [], [], set()
        with open(path, encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            name_col = next((c for c in ("name", "disease", "名称") if c in cols), None)
            code_col = next((c for c in ("code", "编码", "代码") if c in cols), None)
            if not name_col or not code_col:
                raise CodeTableError(f"{path}: needs a code column and a name column, has {cols}")
            for row in reader:
                if kind and row.get("kind") and row["kind"] != kind:
                    continue
                code, name = (row[code_col] or "").strip(), (row[name_col] or "").strip()
                if code and name and name not in seen:
                    seen.add(name)
                    codes.append(code)
                    names.append(name)
        if not names:
            raise CodeTableError(f"{path}: no rows")
        return cls(codes, names, str(path))


@lru_cache(maxsize=2)
def _abbrev_data(path: str | None = None) -> dict:
    return yaml.safe_load(Path(path or ABBREV_PATH).read_text(encoding="utf-8"))


def variants(text: str) -> list[str]:
    """Alternative wordings of an (expanded) mention from the ``variants`` table."""
    out = []
    for k, v in (_abbrev_data().get("variants") or {}).items():
        if k in text and v not in text:
            out.append(text.replace(k, v))
    return out


@lru_cache(maxsize=2)
def load_abbreviations(path: str | None = None) -> tuple[list[tuple[re.Pattern, str]], list[tuple[str, str]]]:
    data = _abbrev_data(path)
    latin = [(re.compile(rf"(?<![A-Za-z]){re.escape(k)}(?![A-Za-z])"), v) for k, v in sorted((data.get("latin") or {}).items(), key=lambda kv: -len(kv[0]))]
    chinese = sorted((data.get("chinese") or {}).items(), key=lambda kv: -len(kv[0]))
    return latin, chinese


def expand(text: str) -> str:
    """The mention with abbreviations and synonyms replaced by standard wording."""
    latin, chinese = load_abbreviations()
    for pat, repl in latin:
        text = pat.sub(repl, text)
    out, i = [], 0
    while i < len(text):
        for k, v in chinese:
            if text.startswith(k, i):
                out.append(v)
                i += len(k)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_parts(text: str) -> list[str]:
    return [p for p in _SPLIT.split(text) if p]


class Normalizer:
    """Candidate retrieval + ranking against one code table."""

    def __init__(self, table: CodeTable, aliases: dict[str, str] | None = None, prior: Counter | None = None,
                 ranker: dict | None = None, k: int = 10):
        self.table = table
        self.k = k
        name_idx = {n: i for i, n in enumerate(table.names)}
        self.alias_of: dict[str, int] = {}
        surfaces, owners = list(table.names), list(range(len(table.names)))
        for alias, name in (aliases or {}).items():
            if name in name_idx:
                self.alias_of[alias] = name_idx[name]
                surfaces.append(alias)
                owners.append(name_idx[name])
        self.owners = np.array(owners)
        self.prior = np.zeros(len(table.names))
        for name, c in (prior or {}).items():
            if name in name_idx:
                self.prior[name_idx[name]] = math.log1p(c)
        self.vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
        # Stored transposed once: converting per query dominated the lookup time.
        self.mat_t = self.vec.fit_transform(surfaces).T.tocsr()
        self.name_chars = [set(n) for n in table.names]
        self.ranker = ranker if ranker is not None else load_ranker("with_memory" if aliases else "table_only")

    def _retrieve(self, queries: list[str]) -> list[dict[int, float]]:
        sims = (self.vec.transform(queries) @ self.mat_t).toarray()
        out = []
        for row in sims:
            top = np.argpartition(-row, min(self.k * 3, len(row) - 1))[: self.k * 3]
            best: dict[int, float] = {}
            for j in top[np.argsort(-row[top])]:
                o = int(self.owners[j])
                if o not in best:
                    best[o] = float(row[j])
                if len(best) >= self.k:
                    break
            out.append(best)
        return out

    def features(self, text: str) -> tuple[list[int], np.ndarray]:
        """Candidate name indices for a mention and their feature matrix (FEATURES order)."""
        q = expand(text)
        parts = split_parts(q) or [q]
        res = self._retrieve([q] + parts)
        whole, by_part = res[0], res[1:]
        cands = list(dict.fromkeys(list(whole) + [c for r in by_part for c in r]))
        rank = {c: i for i, c in enumerate(whole)}
        part_rank: dict[int, int] = {}
        for r in by_part:
            for i, c in enumerate(r):
                part_rank[c] = min(part_rank.get(c, i), i)
        q_chars = set(q)
        part_chars = [set(p) for p in parts]
        alias_hits = {self.alias_of[s] for s in [q, text] + parts if s in self.alias_of}
        rows = []
        for c in cands:
            name = self.table.names[c]
            nc = self.name_chars[c]
            rows.append([
                whole.get(c, 0.0),
                max(r.get(c, 0.0) for r in by_part),
                len(nc & q_chars) / len(nc),
                max(len(nc & pc) / len(pc) for pc in part_chars),
                float(name in q),
                1.0 / (1 + rank[c]) if c in rank else 0.0,
                1.0 / (1 + part_rank[c]) if c in part_rank else 0.0,
                float(c in alias_hits),
                self.prior[c],
                min(len(name), 20) / 20.0,
            ])
        return cands, np.array(rows, dtype=np.float32).reshape(-1, len(FEATURES))

    def _probs(self, X: np.ndarray) -> np.ndarray:
        w = np.array(self.ranker["weights"], dtype=np.float32)
        return 1.0 / (1.0 + np.exp(-(X @ w + self.ranker["bias"])))

    def normalize_all(self, text: str) -> list[Match]:
        """All standard names the mention maps to (probability ≥ threshold; at least the best)."""
        cands, X = self.features(text)
        if not cands:
            return []
        p = self._probs(X)
        order = np.argsort(-p)
        keep = [i for i in order if p[i] >= self.ranker["threshold"]] or [order[0]]
        return [Match(self.table.codes[cands[i]], self.table.names[cands[i]], round(float(p[i]), 4)) for i in keep]

    def normalize(self, text: str) -> Match | None:
        """The single best code for an entity mention (over the mention and its variants)."""
        best = None
        for q in [text] + variants(expand(text)):
            cands, X = self.features(q)
            if not cands:
                continue
            p = self._probs(X)
            i = int(np.argmax(p))
            if best is None or p[i] > best.score:
                best = Match(self.table.codes[cands[i]], self.table.names[cands[i]], round(float(p[i]), 4))
        return best


def load_ranker(variant: str = "table_only", path: Path = RANKER_PATH) -> dict:
    if not path.is_file():
        # Untrained fallback: similarity only; train_ranker writes the real weights.
        return {"weights": [4.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], "bias": -5.0, "threshold": 0.5}
    return json.loads(path.read_text(encoding="utf-8"))[variant]


def memory_from_cdn(items) -> tuple[dict[str, str], Counter]:
    """Aliases and target-name counts from training items. A text with one target name is an
    alias of it; in a compound text each part whose characters mostly lie in one target name
    (≥ 60 %, the best such name) becomes an alias of that name."""
    aliases, prior = {}, Counter()
    for it in items:
        prior.update(it.names)
        if len(it.names) == 1:
            aliases[expand(it.text)] = it.names[0]
            aliases.setdefault(it.text, it.names[0])
            continue
        for part in split_parts(expand(it.text)):
            pc = set(part)
            best = max(it.names, key=lambda n: len(pc & set(n)) / len(pc))
            if len(pc & set(best)) / len(pc) >= 0.6 and len(part) >= 2:
                aliases.setdefault(part, best)
    return aliases, prior


def train_ranker(train_items, dev_items, table: CodeTable, use_memory: bool, seed: int = 0) -> dict:
    """Fit the logistic ranker on train items and tune the threshold for micro-F1 on dev items.
    Memory features (aliases, prior) come from the train items only."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.nlp.evaluate import score_names

    aliases, prior = memory_from_cdn(train_items) if use_memory else ({}, Counter())
    # Aliases of an item must not feature its own gold: build per-fold memory (2 folds).
    half = len(train_items) // 2
    folds = [(train_items[:half], train_items[half:]), (train_items[half:], train_items[:half])]
    Xs, ys = [], []
    for mem_items, fit_items in folds:
        a, pr = memory_from_cdn(mem_items) if use_memory else ({}, Counter())
        norm = Normalizer(table, a, pr, ranker={"weights": [0.0] * len(FEATURES), "bias": 0.0, "threshold": 0.5})
        for it in fit_items:
            cands, X = norm.features(it.text)
            gold = set(it.names)
            Xs.append(X)
            ys.extend(float(table.names[c] in gold) for c in cands)
    X, y = np.vstack(Xs), np.array(ys)
    clf = LogisticRegression(C=1.0, max_iter=500, random_state=seed).fit(X, y)
    ranker = {"weights": clf.coef_[0].tolist(), "bias": float(clf.intercept_[0]), "threshold": 0.5,
              "features": FEATURES, "use_memory": use_memory}
    norm = Normalizer(table, aliases, prior, ranker=ranker)
    scored = [(it, norm.features(it.text)) for it in dev_items]
    best = (0.0, 0.5)
    for thr in np.arange(0.05, 0.8, 0.025):
        preds = []
        for it, (cands, Xd) in scored:
            if not cands:
                preds.append([])
                continue
            p = norm._probs(Xd)
            order = np.argsort(-p)
            keep = [i for i in order if p[i] >= thr] or [order[0]]
            preds.append([table.names[cands[i]] for i in keep])
        f = score_names([it.names for it in dev_items], preds)["f1"]
        if f > best[0]:
            best = (f, float(thr))
    ranker["threshold"] = round(best[1], 2)
    ranker["dev_f1"] = round(best[0], 4)
    return ranker


def default_table(kind: str = "disease", data_dir: Path | None = None) -> CodeTable:
    """The national clinical table from the shared data when present, else the built-in one."""
    from pipeline.nlp.corpora import shared_data_dir

    d = Path(data_dir) if data_dir else shared_data_dir()
    name = "icd10_national_clinical_v1.1.csv" if kind == "disease" else "icd9cm3_procedures_national_clinical_v1.1.csv"
    if (d / "icd" / name).is_file():
        return CodeTable.from_csv(d / "icd" / name)
    return CodeTable.from_csv(BUILTIN_TABLE, kind=kind)


def fit_and_save(data_dir: Path | None = None, seed: int = 0, path: Path = RANKER_PATH) -> dict:
    """Train both ranker variants on the CHIP-CDN train split (85 % fit / 15 % threshold dev;
    the 20 % held-out part is untouched) against the Beijing v601 table, and save them."""
    from pipeline.nlp import corpora

    d = Path(data_dir) if data_dir else corpora.shared_data_dir()
    train, _ = corpora.split_cdn(corpora.read_cdn(d / corpora.CDN_PATH))
    dev_keys = corpora.split_groups([str(i) for i in range(len(train))], seed=seed + 1, fraction=0.15)
    fit = [x for i, x in enumerate(train) if str(i) not in dev_keys]
    dev = [x for i, x in enumerate(train) if str(i) in dev_keys]
    table = CodeTable.from_csv(d / "icd" / "icd10_beijing_clinical_v601.csv")
    out = {("with_memory" if m else "table_only"): train_ranker(fit, dev, table, m, seed) for m in (False, True)}
    path.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def cdn_normalizer(table: CodeTable, train_items=None) -> Normalizer:
    """The CHIP-CDN setting: memory (aliases, prior) from the given training items."""
    if train_items:
        aliases, prior = memory_from_cdn(train_items)
        return Normalizer(table, aliases, prior, ranker=load_ranker("with_memory"))
    return Normalizer(table, ranker=load_ranker("table_only"))


def evaluate_cdn(items, normalizer: Normalizer) -> dict:
    from pipeline.nlp.evaluate import score_names

    preds = [[m.name for m in normalizer.normalize_all(it.text)] for it in items]
    r = score_names([it.names for it in items], preds)
    r["items"] = len(items)
    return r
