"""``run_batch``: the library entry point that runs stages over a batch database.

The CLI (`medreview run`), the demo, the benchmarks and the tests all call it; it prints nothing.
It mirrors the model registry into the batch, validates every stage's options before any record is
touched, rewinds scored records for a re-score, records the run in ``runs`` (with its final status
and coverage counts, whatever happens), and runs each stage with ``run_stage``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from pipeline import status, store
from pipeline.models import registry
from pipeline.run import executors
from pipeline.run import stages as stage_registry
from pipeline.run.runner import StageReport, run_stage


class RunError(ValueError):
    """A run that cannot start (unknown stage or option, unusable region file); nothing was touched."""


@dataclass
class RunOptions:
    workers: int = 0                  # worker processes (0: one per core)
    timeout: float = 600.0            # seconds a record may go without progress before it is failed as hung
    retry_failed: bool = False
    rescore: bool = False             # send scored records back to the score stage first
    executor: str = "local"           # local | inline | ray
    address: str | None = None        # Ray cluster address
    # stage name → its options (``ReadConfig`` fields for read, ``ScoreOptions`` for score, ...)
    stage_options: dict[str, dict] = field(default_factory=dict)


@dataclass
class RunReport:
    run_id: int
    status: str                       # done | failed | interrupted
    stages: list[StageReport] = field(default_factory=list)
    counts: dict = field(default_factory=dict)   # ``status.collect`` after the run
    rescored: int = 0                 # records rewound for --rescore
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.stages)


Progress = Callable[[str, int, int, int], None]   # (stage, records done, records total, items)


def _factories(db, names: Sequence[str], options: RunOptions) -> dict[str, Callable]:
    """Build each stage once here, so an unknown option or a bad region file is an error now."""
    db_path = _db_path(db)
    unknown = set(options.stage_options) - set(stage_registry.ORDER)
    if unknown:
        raise RunError(f"options for unknown stage(s): {', '.join(sorted(unknown))}")
    out = {}
    for name in names:
        factory = stage_registry.factory(name, db_path=db_path, **options.stage_options.get(name, {}))
        try:
            stage = factory()
            check = getattr(stage, "check", None)
            if check is not None:
                check()
        except (TypeError, ValueError, OSError) as exc:
            raise RunError(str(exc)) from exc
        out[name] = factory
    return out


def _params(names: Sequence[str], options: RunOptions) -> dict:
    """What the ``runs`` row keeps of the options: the run's own, and every stage option by name."""
    out = {k: v for k, v in asdict(options).items() if k != "stage_options"}
    for opts in options.stage_options.values():
        out.update({k: v if v is None or isinstance(v, (str, int, float, bool)) else str(v) for k, v in opts.items()})
    return dict(out, stages=list(names))


def _db_path(db) -> str:
    row = next((r for r in db.execute("PRAGMA database_list") if r[1] == "main"), None)
    return str(Path(row[2]).resolve()) if row and row[2] else ""


def run_batch(db, stages: Sequence[str] = stage_registry.ORDER, options: RunOptions | None = None,
              progress: Progress | None = None) -> RunReport:
    """Run ``stages`` (names of ``pipeline.run.stages.ORDER``) over every record ready for them.

    Raises RunError before touching any record when a stage, an option or a region file is
    unusable, StageUnavailable when a stage's code cannot be imported; KeyboardInterrupt and
    StoreError propagate after the run's row records how it ended. Re-running resumes."""
    options = options or RunOptions()
    try:
        names = stage_registry.parse(",".join(stages))
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    if options.rescore and "score" not in names:
        raise RunError("--rescore 需要包含 score 阶段 (--rescore needs the score stage)")
    try:
        executors.get(options.executor)
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    warnings = []
    try:   # the batch records which model versions exist and which is promoted when it is scored
        registry.sync_db(db)
    except registry.RegistryError as exc:
        warnings.append(f"模型登记不可读 model registry unreadable: {exc}")
    factories = _factories(db, names, options)
    rescored = store.rewind(db, "scored", "extracted") if options.rescore else 0
    run_id = store.insert_one(db, "runs", {
        "command": "run", "params": _params(names, options), "started_at": store.now(), "status": "running"})
    report = RunReport(run_id, "running", rescored=rescored, warnings=warnings)
    try:
        for name in names:
            report.stages.append(run_stage(
                db, factories[name], workers=options.workers, timeout=options.timeout,
                retry_failed=options.retry_failed, progress=progress, executor=options.executor,
                address=options.address))
        report.status = "done"
    except KeyboardInterrupt:
        report.status = "interrupted"
        raise
    except BaseException:
        report.status = "failed"
        raise
    finally:
        report.counts = status.collect(db)
        db.execute("UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE id = ?",
                   (store.now(), report.status, store.dumps(report.counts), run_id))
    return report
