"""Normalization of DISEASE / OPERATION mentions to codes and standard names of a code table.

Retrieval: char 1–3-gram TF-IDF over the table's names (plus alias strings, when given), for the
whole mention and each of its parts → top-k candidates; with a training memory also the target
names of the nearest training texts (肺癌 → 肺恶性肿瘤 and 癌). Ranking over table-independent
features (FEATURES: similarity to the whole mention and to its parts, character coverage both
ways, longest common substring, containment, alias hit, target frequency, nearest-example votes):
- table only (the pipeline's setting on a user's table): a logistic model, weights in
  data/normalize_ranker.json;
- with a memory from CHIP-CDN train (aliases, target counts, nearest examples): two
  gradient-boosted stages, the second seeing the first's probabilities of the mention's other
  candidates (``StackedRanker``; trees as arrays in data/normalize_ranker_memory.npz).
Both are trained on the CHIP-CDN train split and reproduced by ``python bench/normalize.py
--retrain``. A compound mention (CHIP-CDN style "糖尿病反复低血糖;骨质疏松") may map to several
names: every candidate whose probability passes the tuned threshold is returned, at least the
best one. Abbreviations and synonyms (冠心病, Ca/CA → 癌, 2型DM) are expanded first from
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
MEMORY_RANKER_PATH = DATA / "normalize_ranker_memory.npz"
BUILTIN_TABLE = DATA / "icd_common.csv"
FEATURES = ["s_whole", "s_part", "cov_name", "cov_part", "substring", "inv_rank", "inv_rank_part", "alias", "log_prior",
            "len_name", "knn_max", "knn_vote", "knn_first", "n_parts", "best_whole_gap", "lcs_name", "lcs_part",
            "cov_name_part"]
KNN = 20   # training examples consulted per mention
# The CHIP-CDN (memory) ranker looks wider, candidates per lookup and nearest training examples,
# which scores higher on its dev part (docs/NER-EXPERIMENTS.md). The table-only ranker (the
# pipeline's) keeps k = 10: cheaper per entity.
MEMORY_K, MEMORY_KNN = 20, 40
# Both stages of the stacked ranker (chosen on the dev part of CHIP-CDN train).
GBM_PARAMS = {"max_iter": 600, "learning_rate": 0.05, "l2_regularization": 1.0}
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


@lru_cache(maxsize=2)
def _chinese_pattern(path: str | None = None) -> tuple[re.Pattern | None, dict[str, str]]:
    """One alternation of the Chinese abbreviations, longest first: at each position the longest
    key wins, scanning left to right."""
    _, chinese = load_abbreviations(path)
    if not chinese:
        return None, {}
    return re.compile("|".join(re.escape(k) for k, _ in chinese)), dict(chinese)


@lru_cache(maxsize=16384)   # mentions repeat, and features() and normalize() both expand
def expand(text: str) -> str:
    """The mention with abbreviations and synonyms replaced by standard wording."""
    latin, _ = load_abbreviations()
    for pat, repl in latin:
        text = pat.sub(repl, text)
    pattern, table = _chinese_pattern()
    return pattern.sub(lambda m: table[m.group()], text) if pattern else text


def _lcs(a: str, b: str) -> int:
    """Length of the longest common substring (grown one character at a time: a common
    substring of length k+1 contains one of length k, and names are short)."""
    k = 0
    while k < len(a) and any(a[i:i + k + 1] in b for i in range(len(a) - k)):
        k += 1
    return k


def split_parts(text: str) -> list[str]:
    return [p for p in _SPLIT.split(text) if p]


class CharIndex:
    """Char 1–3-gram TF-IDF (sublinear tf, l2) over a list of strings, queried one string at a
    time. Same numbers as scikit-learn's vectorizer + sparse product, without their per-call
    overhead (which was most of a lookup): the query's postings are summed with one bincount."""

    def __init__(self, strings: list[str]):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
        mat_t = vec.fit_transform(strings).T.tocsr()
        self.analyze = vec.build_analyzer()
        self.vocab = vec.vocabulary_
        self.idf = vec.idf_
        self.indptr, self.indices, self.data = mat_t.indptr, mat_t.indices, mat_t.data
        self.size = len(strings)

    def similarities(self, query: str) -> np.ndarray:
        weights = {}
        for gram, count in Counter(self.analyze(query)).items():
            f = self.vocab.get(gram)
            if f is not None:
                weights[f] = (1.0 + math.log(count)) * self.idf[f]
        if not weights:
            return np.zeros(self.size)
        norm = math.sqrt(sum(w * w for w in weights.values()))
        idx = [self.indices[self.indptr[f]:self.indptr[f + 1]] for f in weights]
        val = [self.data[self.indptr[f]:self.indptr[f + 1]] * (w / norm) for f, w in weights.items()]
        return np.bincount(np.concatenate(idx), weights=np.concatenate(val), minlength=self.size)


class Normalizer:
    """Candidate retrieval + ranking against one code table."""

    def __init__(self, table: CodeTable, aliases: dict[str, str] | None = None, prior: Counter | None = None,
                 ranker: dict | None = None, k: int = 10, examples: list[tuple[str, list[str]]] | None = None,
                 knn: int = KNN):
        self.table = table
        self.k = k
        self.knn = knn
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
        self.index = CharIndex(surfaces)
        self.name_chars = [set(n) for n in table.names]
        # Training examples (expanded text, target names): a mention like a training text tends
        # to share its targets, including ones its wording does not spell out (肺癌 → 癌).
        self.ex_targets = [[name_idx[n] for n in names if n in name_idx] for _, names in examples or []]
        self.ex_index = CharIndex([t for t, _ in examples]) if examples else None
        if ranker is None:
            ranker = default_ranker(memory=bool(aliases or examples))
        self.scorer = LogisticRanker(ranker) if isinstance(ranker, dict) else ranker

    def _retrieve(self, queries: list[str]) -> list[dict[int, float]]:
        out = []
        for row in map(self.index.similarities, queries):
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

    def _neighbours(self, q: str) -> tuple[dict[int, float], dict[int, float], dict[int, int]]:
        """Target name index → best similarity of a training example naming it; its share of the
        similarity mass of the ``knn`` nearest examples; the rank of the nearest example naming it."""
        best: dict[int, float] = {}
        vote: dict[int, float] = {}
        first: dict[int, int] = {}
        if self.ex_index is None:
            return best, vote, first
        row = self.ex_index.similarities(q)
        top = np.argpartition(-row, min(self.knn, len(row) - 1))[:self.knn]
        top = top[np.argsort(-row[top])]
        mass = float(row[top].sum()) or 1.0
        for rank, j in enumerate(top):
            for c in self.ex_targets[j]:
                best[c] = max(best.get(c, 0.0), float(row[j]))
                vote[c] = vote.get(c, 0.0) + float(row[j]) / mass
                first.setdefault(c, rank)
        return best, vote, first

    def features(self, text: str) -> tuple[list[int], np.ndarray]:
        """Candidate name indices for a mention and their feature matrix (FEATURES order)."""
        q = expand(text)
        parts = split_parts(q) or [q]
        if parts == [q]:   # one part (most mentions): the same lookup serves both
            whole = self._retrieve([q])[0]
            by_part = [whole]
        else:
            res = self._retrieve([q] + parts)
            whole, by_part = res[0], res[1:]
        knn_best, knn_vote, knn_first = self._neighbours(q)
        top_whole = max(whole.values(), default=0.0)
        cands = list(dict.fromkeys(list(whole) + [c for r in by_part for c in r] + list(knn_best)))
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
            lcs_q = _lcs(name, q)
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
                knn_best.get(c, 0.0),
                knn_vote.get(c, 0.0),
                1.0 / (1 + knn_first[c]) if c in knn_first else 0.0,
                min(len(parts), 10) / 10.0,
                top_whole - whole.get(c, 0.0),
                lcs_q / len(name),
                lcs_q / len(q) if parts == [q] else max(_lcs(name, p) / len(p) for p in parts),
                max(len(nc & pc) / len(nc) for pc in part_chars),
            ])
        return cands, np.array(rows, dtype=np.float32).reshape(-1, len(FEATURES))

    def _probs(self, cands: list[int], X: np.ndarray) -> np.ndarray:
        return self.scorer.probs([self.table.names[c] for c in cands], X)

    def normalize_all(self, text: str, threshold: float | None = None) -> list[Match]:
        """All standard names the mention maps to (probability ≥ threshold; at least the best)."""
        cands, X = self.features(text)
        if not cands:
            return []
        p = self._probs(cands, X)
        thr = self.scorer.threshold if threshold is None else threshold
        order = np.argsort(-p)
        keep = [i for i in order if p[i] >= thr] or [order[0]]
        return [Match(self.table.codes[cands[i]], self.table.names[cands[i]], round(float(p[i]), 4)) for i in keep]

    def normalize(self, text: str) -> Match | None:
        """The single best code for an entity mention (over the mention and its variants)."""
        best = None
        for q in [text] + variants(expand(text)):
            cands, X = self.features(q)
            if not cands:
                continue
            p = self._probs(cands, X)
            i = int(np.argmax(p))
            if best is None or p[i] > best.score:
                best = Match(self.table.codes[cands[i]], self.table.names[cands[i]], round(float(p[i]), 4))
        return best


class Forest:
    """A fitted scikit-learn HistGradientBoostingClassifier (binary) as plain arrays, so the
    shipped ranker is data (an .npz), not a pickle tied to one scikit-learn version. All trees are
    walked at once, one level per step."""

    FIELDS = ("feature", "threshold", "left", "right", "value", "missing_left")

    def __init__(self, arrays: dict):
        for f in self.FIELDS + ("roots",):
            setattr(self, f, np.asarray(arrays[f]))
        self.baseline = float(arrays["baseline"])
        self.depth = int(arrays["depth"])

    @classmethod
    def from_sklearn(cls, model) -> "Forest":
        parts = {f: [] for f in cls.FIELDS}
        roots, offset, depth = [], 0, 0
        for (pred,) in model._predictors:
            n = pred.nodes
            idx = np.arange(len(n)) + offset
            leaf = n["is_leaf"].astype(bool)
            parts["feature"].append(np.where(leaf, 0, n["feature_idx"]))
            parts["threshold"].append(n["num_threshold"])
            # A leaf points at itself, so walking further leaves it where it is.
            parts["left"].append(np.where(leaf, idx, n["left"] + offset))
            parts["right"].append(np.where(leaf, idx, n["right"] + offset))
            parts["value"].append(np.where(leaf, n["value"], 0.0))
            parts["missing_left"].append(n["missing_go_to_left"].astype(bool))
            roots.append(offset)
            offset += len(n)
            depth = max(depth, int(n["depth"].max()))
        arrays = {f: np.concatenate(v) for f, v in parts.items()}
        arrays.update(roots=np.array(roots), baseline=float(np.ravel(model._baseline_prediction)[0]), depth=depth)
        return cls(arrays)

    def to_arrays(self, prefix: str) -> dict:
        out = {f"{prefix}{f}": getattr(self, f) for f in self.FIELDS + ("roots",)}
        out.update({f"{prefix}baseline": np.array(self.baseline), f"{prefix}depth": np.array(self.depth)})
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        node = np.broadcast_to(self.roots, (len(X), len(self.roots)))
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return 1.0 / (1.0 + np.exp(-(self.baseline + self.value[node].sum(axis=1))))


def context_features(names: list[str], p: np.ndarray) -> np.ndarray:
    """Second-stage features of each candidate given the first stage's probabilities of all
    candidates of the mention: its share of the best, its rank, how many candidates are likely,
    and whether a likelier candidate contains it or is contained in it (支气管扩张症 inside
    支气管扩张症合并感染: gold names rarely keep both)."""
    if len(p) == 0:
        return np.zeros((0, len(CONTEXT_FEATURES)))
    best = float(p.max())
    second = float(np.sort(p)[-2]) if len(p) > 1 else 0.0
    rank = np.empty(len(p))
    rank[np.argsort(-p)] = np.arange(len(p))
    rows = []
    for i, n in enumerate(names):
        within = max((p[k] for k, o in enumerate(names) if k != i and n in o), default=0.0)
        contains = max((p[k] for k, o in enumerate(names) if k != i and o in n), default=0.0)
        rows.append([p[i], p[i] / best if best else 0.0, 1.0 / (1 + rank[i]), float((p > 0.3).sum()),
                     float((p > 0.1).sum()), within, contains, best, second])
    return np.array(rows, dtype=np.float64)


CONTEXT_FEATURES = ["p1", "p1_share", "p1_inv_rank", "n_above_03", "n_above_01", "p_within", "p_contains", "p_best",
                    "p_second"]


class StackedRanker:
    """Two gradient-boosted stages: candidate features → p1; candidate features + the mention's
    p1 context (``context_features``) → final probability."""

    def __init__(self, first: Forest, second: Forest, threshold: float, meta: dict | None = None):
        self.first, self.second, self.threshold = first, second, threshold
        self.meta = meta or {}

    def probs(self, names: list[str], X: np.ndarray) -> np.ndarray:
        p1 = self.first.predict(X.astype(np.float64))
        return self.second.predict(np.hstack([X.astype(np.float64), context_features(names, p1)]))

    def save(self, path: Path) -> None:
        meta = dict(self.meta, threshold=self.threshold, features=FEATURES, context_features=CONTEXT_FEATURES)
        np.savez_compressed(path, meta=np.array(json.dumps(meta, ensure_ascii=False)),
                            **self.first.to_arrays("first_"), **self.second.to_arrays("second_"))

    @classmethod
    def load(cls, path: Path) -> "StackedRanker":
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("features") != FEATURES:
                raise ValueError(f"{path}: ranker built for other features; retrain (python bench/normalize.py --retrain)")
            parts = {k: z[k] for k in z.files}
        first = Forest({k[len("first_"):]: v for k, v in parts.items() if k.startswith("first_")})
        second = Forest({k[len("second_"):]: v for k, v in parts.items() if k.startswith("second_")})
        return cls(first, second, float(meta["threshold"]), meta)


class LogisticRanker:
    """Weights of a logistic model over FEATURES (the table-only ranker: cheap per entity)."""

    def __init__(self, ranker: dict):
        self.w = np.array(ranker["weights"], dtype=np.float32)
        self.bias = float(ranker["bias"])
        self.threshold = float(ranker["threshold"])

    def probs(self, names: list[str], X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(X @ self.w + self.bias)))


def load_ranker(variant: str = "table_only", path: Path = RANKER_PATH) -> dict:
    if not path.is_file():
        # Untrained fallback: similarity only; train_ranker writes the real weights.
        weights = [0.0] * len(FEATURES)
        for f, w in (("s_whole", 4.0), ("s_part", 2.0), ("cov_name", 2.0), ("cov_part", 1.0), ("substring", 1.0)):
            weights[FEATURES.index(f)] = w
        return {"weights": weights, "bias": -5.0, "threshold": 0.5}
    ranker = json.loads(path.read_text(encoding="utf-8"))[variant]
    if ranker.get("features", FEATURES) != FEATURES:
        raise ValueError(f"{path}: ranker built for other features; retrain (python bench/normalize.py --retrain)")
    return ranker


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


def examples_from_cdn(items) -> list[tuple[str, list[str]]]:
    return [(expand(it.text), list(it.names)) for it in items]


def _ranker_rows(table: CodeTable, items, use_memory: bool, folds: int, k: int = 10,
                 knn: int = KNN) -> tuple[list, np.ndarray, np.ndarray]:
    """Per item (item, candidates, features) with gold 0/1 per candidate. With memory, each fold's
    items get features from a memory of the other folds only, so an item never sees its own gold."""
    out: list = []
    zero = {"weights": [0.0] * len(FEATURES), "bias": 0.0, "threshold": 0.5}
    chunks = [[x for i, x in enumerate(items) if i % folds == f] for f in range(folds)] if use_memory else [items]
    for f, fit_items in enumerate(chunks):
        if use_memory:
            mem = [x for i, x in enumerate(items) if i % folds != f]
            a, pr = memory_from_cdn(mem)
            norm = Normalizer(table, a, pr, ranker=zero, examples=examples_from_cdn(mem), k=k, knn=knn)
        else:
            norm = Normalizer(table, ranker=zero, k=k)
        out.extend((it, *norm.features(it.text)) for it in fit_items)
    X = np.vstack([x for _, _, x in out])
    y = np.array([float(table.names[c] in set(it.names)) for it, cands, _ in out for c in cands])
    return out, X, y


def _tune_threshold(norm: Normalizer, dev_items) -> tuple[float, float]:
    """(threshold, dev micro-F1) maximizing micro-F1 of the names kept."""
    from pipeline.nlp.evaluate import score_names

    scored = []
    for it in dev_items:
        cands, X = norm.features(it.text)
        scored.append((cands, norm._probs(cands, X) if cands else np.zeros(0)))
    best = (0.5, -1.0)
    for thr in np.arange(0.05, 0.8, 0.025):
        preds = []
        for cands, p in scored:
            order = np.argsort(-p)
            keep = [i for i in order if p[i] >= thr] or list(order[:1])
            preds.append([norm.table.names[cands[i]] for i in keep])
        f = score_names([it.names for it in dev_items], preds)["f1"]
        if f > best[1]:
            best = (round(float(thr), 3), round(f, 4))
    return best


def train_ranker(train_items, dev_items, table: CodeTable, use_memory: bool, seed: int = 0, k: int = 10,
                 knn: int = KNN):
    """Fit a ranker on train items and tune its threshold for micro-F1 on dev items.

    Table only: a logistic model (cheap per entity in the pipeline; returns its dict).
    With memory (aliases, target counts and nearest training examples from the train items):
    two gradient-boosted stages (``StackedRanker``); the second stage learns from out-of-fold
    first-stage probabilities, as it will see them on new mentions. ``k``, ``knn``: see Normalizer;
    the stacked ranker keeps them in its meta for ``cdn_normalizer``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    rows, X, y = _ranker_rows(table, train_items, use_memory, folds=5, k=k, knn=knn)
    aliases, prior = memory_from_cdn(train_items) if use_memory else ({}, Counter())
    examples = examples_from_cdn(train_items) if use_memory else None
    if not use_memory:
        clf = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(X, y)
        ranker = {"weights": clf.coef_[0].tolist(), "bias": float(clf.intercept_[0]), "threshold": 0.5,
                  "features": FEATURES, "use_memory": False}
        thr, f = _tune_threshold(Normalizer(table, ranker=ranker, k=k), dev_items)
        return dict(ranker, threshold=thr, dev_f1=f)

    def gbm():
        return HistGradientBoostingClassifier(**GBM_PARAMS, random_state=seed)

    groups = np.concatenate([np.full(len(cands), i) for i, (_, cands, _) in enumerate(rows)])
    p1 = cross_val_predict(gbm(), X, y, groups=groups, cv=GroupKFold(5), method="predict_proba")[:, 1]
    first = gbm().fit(X, y)
    ctx, i = [], 0
    for _, cands, _ in rows:
        ctx.append(context_features([table.names[c] for c in cands], p1[i:i + len(cands)]))
        i += len(cands)
    second = gbm().fit(np.hstack([X, np.vstack(ctx)]), y)
    ranker = StackedRanker(Forest.from_sklearn(first), Forest.from_sklearn(second), 0.5,
                           {"use_memory": True, "train_items": len(train_items), "seed": seed, "k": k, "knn": knn})
    thr, f = _tune_threshold(Normalizer(table, aliases, prior, ranker=ranker, examples=examples, k=k, knn=knn), dev_items)
    ranker.threshold = thr
    ranker.meta.update(dev_f1=f, threshold=thr)
    return ranker


def default_table(kind: str = "disease", data_dir: Path | None = None) -> CodeTable:
    """The national clinical table from the shared data when present, else the built-in one."""
    from pipeline.nlp.corpora import shared_data_dir

    d = Path(data_dir) if data_dir else shared_data_dir()
    name = "icd10_national_clinical_v1.1.csv" if kind == "disease" else "icd9cm3_procedures_national_clinical_v1.1.csv"
    if (d / "icd" / name).is_file():
        return CodeTable.from_csv(d / "icd" / name)
    return CodeTable.from_csv(BUILTIN_TABLE, kind=kind)


def fit_and_save(data_dir: Path | None = None, seed: int = 0, path: Path = RANKER_PATH,
                 memory_path: Path = MEMORY_RANKER_PATH) -> dict:
    """Train both rankers on the CHIP-CDN train split (85 % fit / 15 % threshold dev; the 20 %
    held-out part is untouched) against the Beijing v601 table, and save them. Returns their
    dev F1 and thresholds."""
    from pipeline.nlp import corpora

    d = Path(data_dir) if data_dir else corpora.shared_data_dir()
    train, _ = corpora.split_cdn(corpora.read_cdn(d / corpora.CDN_PATH))
    dev_keys = corpora.split_groups([str(i) for i in range(len(train))], seed=seed + 1, fraction=0.15)
    fit = [x for i, x in enumerate(train) if str(i) not in dev_keys]
    dev = [x for i, x in enumerate(train) if str(i) in dev_keys]
    table = CodeTable.from_csv(d / "icd" / "icd10_beijing_clinical_v601.csv")
    table_only = train_ranker(fit, dev, table, False, seed)
    path.write_text(json.dumps({"table_only": table_only}, indent=1), encoding="utf-8")
    memory = train_ranker(fit, dev, table, True, seed, k=MEMORY_K, knn=MEMORY_KNN)
    memory.save(memory_path)
    return {"table_only": {"dev_f1": table_only["dev_f1"], "threshold": table_only["threshold"]},
            "with_memory": {"dev_f1": memory.meta["dev_f1"], "threshold": memory.threshold}}


def default_ranker(memory: bool):
    """The shipped ranker: the stacked one when a memory is given and it was trained, else the
    table-only logistic one."""
    if memory and MEMORY_RANKER_PATH.is_file():
        return StackedRanker.load(MEMORY_RANKER_PATH)
    return load_ranker("table_only")


def cdn_normalizer(table: CodeTable, train_items=None) -> Normalizer:
    """The CHIP-CDN setting: memory (aliases, prior, nearest examples) from the given training items."""
    if train_items:
        aliases, prior = memory_from_cdn(train_items)
        ranker = default_ranker(memory=True)
        meta = getattr(ranker, "meta", {})   # the table-only fallback has none: the defaults
        return Normalizer(table, aliases, prior, ranker=ranker, examples=examples_from_cdn(train_items),
                          k=meta.get("k", 10), knn=meta.get("knn", KNN))
    return Normalizer(table, ranker=load_ranker("table_only"))


def evaluate_cdn(items, normalizer: Normalizer) -> dict:
    from pipeline.nlp.evaluate import score_names

    preds = [[m.name for m in normalizer.normalize_all(it.text)] for it in items]
    r = score_names([it.names for it in items], preds)
    r["items"] = len(items)
    return r
