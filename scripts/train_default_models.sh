#!/usr/bin/env bash
# Regenerate the shipped default risk classifier (models/classifier/<version>/ + CURRENT).
#
#   bash scripts/train_default_models.sh [WORK_DIR]
#
# synth (fixed seed, text form, one hospital per developed print style: never the held-out one)
# → ingest → run (read, segment, extract, score by rules) →
# train classifier on the generator's ground truth → register + promote in models/ (the guard
# compares with the current version on the same held-out part; exit 1 if it refuses).
# Same seed, same records, same metrics; only the version's timestamp differs.
# Also, once: describes the shipped NER model (trained by `medreview train ner`, loaded from
# models/ner/) in the registry in place, with its held-out metrics from models/ner/train_info.json.
# The seed (4243) is not one used by bench/flags.py (4242 training, 2026 evaluation).
# Takes a few minutes on 2 cores; WORK_DIR (default /tmp/medreview-default-models) keeps the
# batch and database, so a second run reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

SEED=4243
RECORDS=200
HOSPITALS=5   # one per developed style (pipeline/synth/data/styles.yaml)
CLEAN_SHARE=0.6
WORK="${1:-/tmp/medreview-default-models}"
PY=.venv/bin/python
MEDREVIEW=("$PY" cli.py)

if [ ! -f models/ner/version.json ] && [ -f models/ner/train_info.json ]; then
    "$PY" - <<'EOF'
import json
from pathlib import Path

from pipeline import registry

info = json.loads(Path("models/ner/train_info.json").read_text(encoding="utf-8"))
held = info["metrics"]["heldout"]
micro = held["yidu-s4k"]["micro"]
metrics = {"f1": micro["f1"], "precision": micro["precision"], "recall": micro["recall"],
           "f1_ccks2017": held["ccks2017-cner"]["micro"]["f1"], "f1_ccks2018": held["ccks2018-cner"]["micro"]["f1"]}
card = registry.describe_in_place("ner", metrics=metrics, notes={
    "heldout": "20 % of Yidu-S4K and CCKS 2017 by document, seed 0 (models/ner/README.md)",
    "model_sha256": info["sha256"], "source": "models/ner/train_info.json"})
registry.promote("ner", card["version"])
EOF
fi

mkdir -p "$WORK"
if [ ! -f "$WORK/batch/labels.jsonl" ]; then
    "${MEDREVIEW[@]}" synth "$WORK/batch" --records "$RECORDS" --hospitals "$HOSPITALS" --seed "$SEED" \
        --forms text --clean-share "$CLEAN_SHARE" --workers 2 --styles developed
fi
# ingest exits 1 when some inputs were rejected: they are listed, training goes on without them
"${MEDREVIEW[@]}" ingest "$WORK/batch/text" --db "$WORK/audit.db" || [ $? -eq 1 ]
"${MEDREVIEW[@]}" run --db "$WORK/audit.db" --workers 2 || [ $? -eq 1 ]
"${MEDREVIEW[@]}" train classifier --db "$WORK/audit.db" --labels "$WORK/batch/labels.jsonl" --models-dir models
"${MEDREVIEW[@]}" models list classifier --models models
du -sh models/classifier
