"""What the `medreview train ner` and `medreview nlp ...` commands do (cli.py only parses)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.nlp import corpora
from pipeline.nlp.components import with_encoder
from pipeline.nlp.evaluate import format_table, score_spans

EXIT_OK, EXIT_USAGE = 0, 2


def _err(msg: str) -> int:
    print(f"错误: {msg}", file=sys.stderr)
    return EXIT_USAGE


def train_ner(data_dir: Path | None, out: Path, seed: int, time_budget_s: float, max_epochs: int, workers: int,
              shared: bool = True, pretrain_epochs: int | None = None) -> int:
    from pipeline.nlp.train import train_ner as _train

    d = Path(data_dir) if data_dir else corpora.shared_data_dir()
    missing = [c for c, rel in corpora.CORPORA.items() if c != "ccks2018-cner" and not (d / rel).is_file()]
    if missing:
        return _err(f"{d}: corpora not found: {', '.join(missing)} (use --data-dir or MEDREVIEW_SHARED_DATA)")
    extra = {} if pretrain_epochs is None else {"pretrain_epochs": pretrain_epochs}
    card = _train(d, out, seed=seed, time_budget_s=time_budget_s, max_epochs=max_epochs, workers=workers, shared=shared,
                  **extra)
    print(json.dumps(card["metrics"], ensure_ascii=False, indent=1))
    print(f"model saved to {out}")
    return EXIT_OK


def eval_ner_file(path: Path, model: Path | None = None, corpus: str | None = None, component: str | None = None) -> dict:
    """Strict P/R/F1 of the model on a NER JSONL file (labels mapped through label_map.yaml);
    ``component``: run only that NER component (plus the tokenizer) instead of the full pipeline."""
    from pipeline.nlp.labels import corpus_from_path
    from pipeline.nlp.pipeline import NlpPipeline

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


def eval_ner(path: Path, as_json: bool, model: Path | None = None, component: str | None = None) -> int:
    from pipeline.nlp.pipeline import ModelMissing

    try:
        result = eval_ner_file(path, model, component=component)
    except (corpora.CorpusError, ModelMissing, ValueError) as exc:
        return _err(str(exc))
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(format_table(result, f"{path} ({result['documents']} docs, model {result['model']}, components: {result['component']})"))
        for e in result["skipped_rows"]:
            print(f"skipped: {e}", file=sys.stderr)
    return EXIT_OK


def eval_normalize(path: Path, as_json: bool, table: Path | None = None, train: Path | None = None) -> int:
    from pipeline.nlp.normalize import CodeTable, CodeTableError, cdn_normalizer, evaluate_cdn

    try:
        items = corpora.read_cdn(path)
        train_items = corpora.read_cdn(train) if train else None
        if table is None:
            table = corpora.shared_data_dir() / "icd" / "icd10_beijing_clinical_v601.csv"
        code_table = CodeTable.from_csv(table)
    except (corpora.CorpusError, CodeTableError) as exc:
        return _err(str(exc))
    result = evaluate_cdn(items, cdn_normalizer(code_table, train_items))
    result.update({"file": str(path), "table": str(table), "train": str(train) if train else None})
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(f"{path}: {result['items']} items, table {table}")
        print(f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  F1 {result['f1']:.4f}")
    return EXIT_OK
