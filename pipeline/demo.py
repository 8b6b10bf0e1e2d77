"""The demo: the whole loop on the built-in sample batch (`medreview demo` prints it).

generate → ingest → ``run_batch`` (read, segment, extract, score) → [simulated reviewer
decisions → annotations export → retrain the classifier into the demo's own registry] → report.
Re-running it reuses what is already there (every step is idempotent).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import ingest, status, store
from pipeline.run import RunOptions, RunReport, run_batch

DEMO_SEED = 20241123
DEMO_HOSPITALS = 2
DEMO_CLEAN_SHARE = 0.5  # more violations than a real batch, so the demo shows each kind of flag
FORMS = ("text", "scan")


@dataclass
class DemoResult:
    db_path: Path
    generated: bool
    ingest: ingest.IngestSummary
    run: RunReport
    simulated: int = 0                   # decisions made by the simulated reviewer
    annotations: dict | None = None      # export_decisions' result
    retrained: dict | None = None        # train_classifier's result, or {"error": why not}
    report: dict = field(default_factory=dict)   # write_report's paths


def _truth(db, labels_path: Path) -> dict[int, set[str]]:
    """record id → violation types, joining the generator's labels on (hospital, admission no.)."""
    ids = {(r[0], r[1]): r[2] for r in db.execute("SELECT hospital_id, admission_no, id FROM records")}
    truth = {}
    for line in labels_path.read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        rid = ids.get((label["hospital_id"], label["admission_no"]))
        if rid is not None:
            truth[rid] = {v["type"] for v in label["violations"]}
    return truth


def _simulate_reviews(db, labels_path: Path, n: int, annotations_dir: Path) -> tuple[int, dict]:
    from pipeline.annotations.export import export_decisions
    from pipeline.annotations.simulate import simulate_reviewer
    from pipeline.rules import ruleset

    rule_types = {r.id: r.violation_type for r in ruleset.load_catalogue().rules}
    made = simulate_reviewer(db, _truth(db, labels_path), rule_types, n, user="demo-reviewer")
    return made, export_decisions(db, annotations_dir, mask=True)


def run_demo(out: Path, *, records: int = 20, form: str = "text", simulate_reviews: int = 0,
             on_plan=None, progress_factory=None) -> DemoResult:
    """Run the demo into ``out`` (batch/, audit.db, report/, and with ``simulate_reviews``
    annotations/ and the demo's own models/: the shipped models/ stay untouched).

    ``on_plan(pages)`` is told, before reading starts, how many pages are left to read;
    ``progress_factory(item_totals)``, when given, is a context manager yielding ``run_batch``'s
    progress callback; it is given the pages to read, so the caller can show progress per page."""
    from pipeline import report, synth

    if form not in FORMS:
        raise ValueError(f"--form must be text or scan, not {form!r}")
    out = Path(out)
    batch = out / "batch"
    db_path = out / "audit.db"
    generated = not (batch / "manifest.json").exists()
    if generated:
        synth.generate(batch, records=records, hospitals=DEMO_HOSPITALS, seed=DEMO_SEED, forms=(form,),
                       clean_share=DEMO_CLEAN_SHARE)
    db = store.connect(db_path)
    summary = ingest.ingest(db, batch / form)
    pages = status.pages_to_read(db)
    if on_plan:
        on_plan(pages)
    if progress_factory is None:
        ran = run_batch(db, options=RunOptions())
    else:
        with progress_factory({"read": pages}) as on_progress:
            ran = run_batch(db, options=RunOptions(), progress=on_progress)
    result = DemoResult(db_path, generated, summary, ran)
    if simulate_reviews:
        from pipeline.models.registry import RegistryError
        from pipeline.score.train import TrainError, train_classifier

        result.simulated, result.annotations = _simulate_reviews(db, batch / "labels.jsonl", simulate_reviews,
                                                                 out / "annotations")
        try:   # the generator's labels with the reviewers' decisions winning
            result.retrained = train_classifier(db_path, batch / "labels.jsonl", out / "models",
                                                annotations=out / "annotations")
        except (TrainError, RegistryError, ValueError) as exc:   # too few labels in a small demo
            result.retrained = {"error": str(exc)}
    result.report = report.write_report(db, out / "report")
    return result
