"""Measuring the NLP pipeline on a corpus file (`medreview nlp eval-ner`)."""
from __future__ import annotations

from pathlib import Path

from pipeline.nlp import corpora
from pipeline.nlp.components import with_encoder
from pipeline.nlp.evaluate import score_spans
from pipeline.nlp.labels import corpus_from_path
from pipeline.nlp.pipeline import NlpPipeline


def evaluate_file(path: Path, model: Path | None = None, corpus: str | None = None,
                  component: str | None = None) -> dict:
    """Strict P/R/F1 of the model on a NER JSONL file (labels mapped through label_map.yaml);
    ``component``: run only that NER component (plus the tokenizer) instead of the full pipeline."""
    corpus = corpus or corpus_from_path(path)
    errors: list[str] = []
    docs = corpora.read_ner_jsonl(path, corpus, errors)
    nlp = NlpPipeline(model)
    if component and component not in nlp.nlp.pipe_names:
        raise ValueError(f"no component '{component}' in the model; it has {', '.join(nlp.nlp.pipe_names)}")
    enable = with_encoder(nlp.nlp.pipe_names, [component]) if component else nlp.nlp.pipe_names
    with nlp.nlp.select_pipes(enable=enable):
        preds = nlp.extract_many([(d.text, None) for d in docs], normalize=False)
    result = score_spans([d.entities for d in docs], [[(e.start, e.end, e.label) for e in p] for p in preds])
    result.update({"file": str(path), "documents": len(docs), "skipped_rows": errors, "model": nlp.version,
                   "component": component or "all"})
    return result
