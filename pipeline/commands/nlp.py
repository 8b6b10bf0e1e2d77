"""`medreview nlp eval-ner | eval-normalize`: measure the NLP models on any corpus."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.commands import EXIT_OK, console, err, error
from pipeline.nlp import corpora
from pipeline.nlp.evaluate import format_table


def eval_ner(path: Path, as_json: bool, model: Path | None = None, component: str | None = None) -> int:
    from pipeline.nlp.measure import evaluate_file
    from pipeline.nlp.pipeline import ModelMissing

    try:
        result = evaluate_file(path, model, component=component)
    except (corpora.CorpusError, ModelMissing, ValueError) as exc:
        return error(exc)
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        console.print(format_table(result, f"{path} ({result['documents']} docs, model {result['model']}, "
                                           f"components: {result['component']})"), markup=False)
        for e in result["skipped_rows"]:
            err.print(f"skipped: {e}", markup=False)
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
        return error(exc)
    result = evaluate_cdn(items, cdn_normalizer(code_table, train_items))
    result.update({"file": str(path), "table": str(table), "train": str(train) if train else None})
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        console.print(f"{path}: {result['items']} items, table {table}", markup=False)
        console.print(f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  F1 {result['f1']:.4f}")
    return EXIT_OK
