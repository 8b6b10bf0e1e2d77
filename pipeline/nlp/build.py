"""How the NER pipelines are put together: the blank zh pipeline, the shared encoder's shape and
config, the rule entity_ruler, and the saved model's meta. Every trainer (train.py,
train_shared.py, pretrain.py) builds on these, so they live below all of them."""
from __future__ import annotations

from pathlib import Path

import spacy
import yaml

from pipeline.nlp.tokenize import CharTokenizer

PATTERNS_PATH = Path(__file__).parent / "data" / "ner_patterns.yaml"
MODEL_VERSION = "0.1.0"

# The encoder's shape. Each CNN layer sees ``window`` characters either side, so a character's
# vector depends on window × depth characters each way: 2 × 3 = 6 reaches into long Yidu-S4K
# entities (胃体胃窦交界前壁早期管状腺癌), and two maxout pieces keep the cost per character low.
# The other shapes tried are in docs/NER-EXPERIMENTS.md.
WIDTH, DEPTH, WINDOW, MAXOUT = 96, 3, 2, 2


def encoder_config(width: int = WIDTH, depth: int = DEPTH, rows: int = 8000, window: int = WINDOW,
                   maxout: int = MAXOUT) -> dict:
    """CNN tok2vec embedding the character (LOWER), the bigram (NORM), the jieba word (LEMMA), the
    position in the word (TAG) and the SHAPE; the NER heads (biluo.py) read it."""
    return {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": width,
            "attrs": ["LOWER", "NORM", "LEMMA", "TAG", "SHAPE"],
            "rows": [rows // 2, rows, rows, 16, 64],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": width,
            "depth": depth,
            "window_size": window,
            "maxout_pieces": maxout,
        },
    }


def blank_nlp(userdict: Path | None) -> spacy.Language:
    """A blank zh pipeline with the character tokenizer (jieba word features from ``userdict``)."""
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "medreview.char_tokenizer.v1"}}})
    nlp.tokenizer = CharTokenizer(nlp.vocab, userdict)
    return nlp


def load_patterns(path: Path = PATTERNS_PATH) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    pats = []
    for label, terms in data["patterns"].items():
        for t in terms:
            pats.append({"label": label, "pattern": [{"ORTH": ch} for ch in t]})
    return pats


def add_ruler(nlp: spacy.Language, **where) -> None:
    """The entity_ruler with the rule patterns (labels no corpus annotates)."""
    nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None, "validate": True}, **where).add_patterns(load_patterns())


def save_pipeline(nlp: spacy.Language, out: Path) -> None:
    nlp.meta.update({"name": "medreview_ner_zh", "version": MODEL_VERSION, "license": "research/evaluation only (CCKS corpora terms)",
                     "description": "Chinese clinical NER for medreview; see README.md (model card)"})
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
