"""Held-out measurement of the NER model and its model card (models/ner/README.md)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from pipeline.nlp import corpora
from pipeline.nlp.components import with_encoder
from pipeline.nlp.evaluate import format_table, score_spans
from pipeline.nlp.tokenize import USERDICT_NAME, file_sha256

HELDOUT = ("yidu-s4k", "ccks2017-cner", "ccks2018-cner")


def measure(model_dir: Path, data_dir: Path | None = None) -> dict:
    """Strict scores on each corpus's held-out 20 %: the full pipeline (what the product runs)
    and each NER component alone; plus full-pipeline speed and model size."""
    from pipeline.nlp.pipeline import NlpPipeline

    nlp = NlpPipeline(model_dir)
    out: dict = {"heldout": {}, "component_only": {}}
    ner_names = [n for n in nlp.nlp.pipe_names if n.startswith("ner")]
    speed_texts = []
    for corpus in HELDOUT:
        try:
            _, held = corpora.load_split(corpus, data_dir)
        except corpora.CorpusError:
            continue
        texts = [d.text for d in held]
        gold = [d.entities for d in held]
        pred = nlp.extract_many([(t, None) for t in texts], normalize=False)
        out["heldout"][corpus] = score_spans(gold, [[(e.start, e.end, e.label) for e in p] for p in pred])
        out["heldout"][corpus]["documents"] = len(held)
        for name in ner_names:
            with nlp.nlp.select_pipes(enable=with_encoder(nlp.nlp.pipe_names, [name])):
                docs = nlp.nlp.pipe(texts, batch_size=32)
                p = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs]
            out["component_only"].setdefault(corpus, {})[name] = score_spans(gold, p)["micro"]
        if corpus == "yidu-s4k":
            speed_texts = texts
    if speed_texts:
        nlp2 = NlpPipeline(model_dir)
        nlp2.extract_many([(speed_texts[0][:200], "现病史")])  # load lazies (jieba, code tables)
        chars = sum(len(t) for t in speed_texts)
        # Per core: a second BLAS thread adds CPU time, not throughput per core.
        with threadpool_limits(limits=1, user_api="blas"):
            t = time.process_time()
            nlp2.extract_many([(x, "现病史") for x in speed_texts])
            cpu = time.process_time() - t
        out["speed"] = {"chars": chars, "cpu_s": round(cpu, 2), "chars_per_s_per_core": round(chars / cpu)}
    size = sum(f.stat().st_size for f in Path(model_dir).rglob("*") if f.is_file())
    out["size_mb"] = round(size / 1e6, 1)
    out["pipe_names"] = nlp.nlp.pipe_names
    return out


CARD = """# medreview NER model (`models/ner`)

spaCy `zh` pipeline built by the project (`spacy.blank("zh")` + our components, no pretrained
model, CPU only). Reproduce with `medreview train ner` (see pipeline/nlp/train.py).

## Components
{components}

{encoder}

Tokens are single characters (entity-boundary ceiling 100 %); jieba words from a medical user
dictionary (`tokenizer/{userdict}`, terms from the ICD tables) are per-character features only.
Entity-boundary alignment ceiling on the held-out parts (share of gold entities a word-level
tagger could get right at best):

{ceiling}

## Training data and terms of use
- Yidu-S4K (CCKS 2019 task 1) training set → component `ner`: DISEASE, OPERATION, ANATOMY, DRUG, IMAGING, LAB.
- CCKS 2017 task 2 training set → component `ner_ccks2017`: SYMPTOM, EXAM, TREATMENT, DISEASE, ANATOMY.
  At run time it adds SYMPTOM, EXAM and TREATMENT entities (pipeline/nlp/components.py). One that
  overlaps an entity of `ner` is kept beside it only if it wholly contains it and the pair is
  allowed (a SYMPTOM over an ANATOMY; an EXAM or TREATMENT over any label of `ner`, e.g. EXAM 腰椎CT
  over IMAGING 腰椎CT), else dropped; so DISEASE/ANATOMY follow the Yidu-S4K conventions.
- CCKS 2018 is not used for training (its labels conflict with both schemes; 220 of its docs are
  edited copies of Yidu-S4K docs); its held-out part, with copies of Yidu training docs removed,
  is a cross-corpus check only.
- Label mapping: `pipeline/nlp/data/label_map.yaml`.
- Split: 80/20 by document (CCKS 2017 by patient), seed {seed}; 10 % of the 80 % is the dev set
  for choosing the epoch; the 20 % held-out part was never used for tuning.
- **The CCKS corpora were released for evaluation and research only. This model is trained on
  them and inherits those terms: research/evaluation use; check with the data publishers before
  any other use.**

## Metrics (strict span+label micro-F1 on the held-out 20 %)
Full pipeline (all components; only labels the corpus annotates are scored):

{tables}

Each NER component alone (micro-F1) — the CCKS 2017 number of `ner_ccks2017` is the one to
compare with CCKS 2017 results; in the full pipeline DISEASE/ANATOMY follow Yidu-S4K's
conventions (e.g. Yidu marks the body part inside a symptom), which CCKS 2017 scores as errors:

{components_only}

Dictionary patterns from the ICD tables (DISEASE/OPERATION names) were measured with the Yidu-S4K
component on its dev set (`python bench/ner.py --dict`) and left out: they lowered F1 there.
Only rule patterns for labels no corpus annotates (NURSING_LEVEL, data/ner_patterns.yaml) are used.

Check any corpus in the same JSONL schema: `medreview nlp eval-ner FILE.jsonl [--component ner_ccks2017]`.
Same seed, same data and one thread per training process give the same model: training stops
after 4 epochs without dev improvement (the time budget is only a safety cap).

Speed (full pipeline incl. ConText + ICD coding, one core): {speed}.
Size: {size} MB. Training wall time: {train_s} s.

## Hashes
- model folder (all files except this card, train_info.json, model.sha256): `{sha}`
- user dictionary `{userdict}`: `{userdict_sha}`
"""


def write(out: Path, data_dir: Path, infos: list[dict], train_s: float, seed: int) -> dict:
    from pipeline.nlp.pipeline import sha256_dir
    from pipeline.nlp.tokenize import JiebaSegmenter, alignment_ceiling

    out = Path(out)
    sha = sha256_dir(out)
    (out / "model.sha256").write_text(f"{sha}  models/ner\n", encoding="utf-8")
    m = measure(out, data_dir)
    ud = out / "tokenizer" / USERDICT_NAME
    seg_plain, seg_dict = JiebaSegmenter(None), JiebaSegmenter(ud)
    ceil_rows = ["| corpus | char | jieba | jieba + medical dict |", "|---|---|---|---|"]
    for corpus in HELDOUT:
        try:
            _, held = corpora.load_split(corpus, data_dir)
        except corpora.CorpusError:
            continue
        c = [alignment_ceiling(held, f)["ceiling"] for f in (list, seg_plain.cut, seg_dict.cut)]
        ceil_rows.append(f"| {corpus} | " + " | ".join(f"{x:.3f}" for x in c) + " |")
    comps = "\n".join(f"- `{i['component']}`: {', '.join(i['corpora'])}, {i['train_docs']} train docs, "
                      f"{i['dev_docs']} dev docs, best dev F1 {i['best_dev_f1']:.4f} after "
                      f"{len(i['history'])} epochs" for i in infos)
    tables = "\n\n".join("```\n" + format_table(r, f"{c} ({r['documents']} docs)") + "\n```" for c, r in m["heldout"].items())
    comp_only = "\n".join(f"- {c}: " + ", ".join(f"`{n}` {v['f1']:.4f}" for n, v in d.items()) for c, d in m["component_only"].items())
    if infos and infos[0].get("encoder") == "shared":
        i0 = infos[0]
        encoder = (f"One `tok2vec` encoder (width {i0['width']}, depth {i0['depth']}, window {i0.get('window', 1)}: each "
                   f"character's vector sees {i0['depth'] * i0.get('window', 1)} characters either side; maxout pieces "
                   f"{i0.get('maxout', 3)}) is shared by the NER heads "
                   "through listeners and trained multi-task: a Yidu-S4K batch updates the encoder and `ner`, a CCKS 2017 "
                   "batch the encoder and `ner_ccks2017`, so neither head learns from the other corpus's missing labels "
                   "(pipeline/nlp/train_shared.py). The text is encoded once for both heads; the epoch is chosen by the "
                   "mean of the heads' dev F1.")
        pre = i0.get("pretrain")
        if pre:
            encoder += (f" Before that the encoder was pretrained for {pre['epochs']} epochs to restore masked characters "
                        f"(15 %) in {pre['chars']:,} characters of unlabeled text: the training parts without their dev "
                        "sets, CHIP-CDN training mentions and the ICD table names (pipeline/nlp/pretrain.py).")
    else:
        encoder = "Each NER head has its own encoder (`medreview train ner --separate-encoders`)."
    encoder += (" Each head tags every character O or B/I/L/U-<label> with one softmax over the encoder's vectors "
                "and decodes the tags with Viterbi over the valid tag sequences, adding the head's learned "
                "tag-to-tag transition weights (pipeline/nlp/biluo.py); training maximises the likelihood of the "
                "reference tags among the valid tag sequences, a linear-chain CRF (pipeline/nlp/crf.py).")
    sp = m.get("speed", {})
    card = CARD.format(components=comps, encoder=encoder, userdict=USERDICT_NAME, ceiling="\n".join(ceil_rows), seed=seed,
                       tables=tables, components_only=comp_only,
                       speed=f"{sp.get('chars_per_s_per_core', 0):,} chars/s (CPU time over {sp.get('chars', 0):,} chars of Yidu-S4K held-out text)",
                       size=m["size_mb"], train_s=round(train_s), sha=sha, userdict_sha=file_sha256(ud))
    (out / "README.md").write_text(card, encoding="utf-8")
    info = {"metrics": m, "components": infos, "sha256": sha, "train_s": round(train_s)}
    (out / "train_info.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return info
