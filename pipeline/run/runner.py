"""Batch runner: runs each stage over every record that is ready for it.

One writer: workers (an executor of ``pipeline/run/executors.py``: this process, a local process
pool, or Ray actors) compute (``stage.work``) and send picklable results back; the main
process writes them (``stage.save`` / ``stage.finish``), each in its own transaction, so a kill at
any point leaves the database consistent and the next run resumes where it stopped.
A record whose work raises, hangs past the timeout, or kills its worker is failed with a reason
and the batch goes on.

Stage protocol (duck-typed):
    name: str                                  # a value of store.STAGES (not "ingested")
    max_workers: int | None                    # optional cap (e.g. one OCR process on 2 cores)
    prepare(db, record) -> task                # main process, reads the store
    work(task, ctx) -> Iterator[result]        # worker process, no database access
    save(db, record, result) -> None           # main process, inside a transaction
    finish(db, record) -> None                 # main process, inside the final transaction
    after_batch(db) -> None                    # optional, cross-record work
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline import store
from pipeline.run import executors
from pipeline.run.failures import describe


@dataclass
class StageReport:
    stage: str
    done: int = 0
    failed: int = 0
    items: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # largest of this process and its finished workers
    # time the one writer spent on the database (preparing tasks, saving results): its busy share
    # of ``seconds`` says how many more workers it could serve before it becomes the bottleneck
    store_seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)


def _apply(db, stage, record, kind: str, payload) -> None:
    rid = record["id"]
    if kind == "item":
        with store.transaction(db):
            stage.save(db, record, payload)
    elif kind == "done":
        with store.transaction(db):
            stage.finish(db, record)
            store.set_stage(db, rid, stage.name)
    elif kind == "error":
        with store.transaction(db):
            store.fail_record(db, rid, stage.name, payload)


def run_stage(
    db,
    stage_factory: Callable[[], Any],
    *,
    workers: int = 0,
    timeout: float = 600.0,
    retry_failed: bool = False,
    progress: Callable[[str, int, int, int], None] | None = None,
    executor: str = "local",
    address: str | None = None,
) -> StageReport:
    """Run one stage over all records ready for it.

    executor: "local" (process pool, default), "inline" (in this process: tests, debugging) or
    "ray" (Ray tasks on a local or remote cluster at ``address``; the `distributed` extra).
    """
    executors.get(executor)   # an unknown executor is an error before any record is touched
    stage = stage_factory()
    records = store.records_ready_for(db, stage.name, retry_failed=retry_failed)
    report = StageReport(stage.name)
    t0 = time.monotonic()
    total = len(records)

    def tick():
        if progress:
            progress(stage.name, report.done + report.failed, total, report.items)

    def settle(record, kind, payload):
        t = time.monotonic()
        try:
            _apply(db, stage, record, kind, payload)
        except store.StoreError:
            raise
        except Exception as exc:  # save/finish failed: fail the record, keep going
            kind, payload = "error", describe(exc)
            _apply(db, stage, record, kind, payload)
        report.store_seconds += time.monotonic() - t
        if kind == "item":
            report.items += 1
        elif kind == "done":
            report.done += 1
        else:
            report.failed += 1
            report.failures.append((record["id"], payload))
        tick()
        return kind

    def prepared(record):
        t = time.monotonic()
        try:
            return stage.prepare(db, record), None
        except Exception as exc:
            return None, describe(exc)
        finally:
            report.store_seconds += time.monotonic() - t

    tick()
    if total:
        run = executors.get(executor)
        run(stage, stage_factory, records, workers=workers, timeout=timeout, prepared=prepared, settle=settle,
            address=address)
    if hasattr(stage, "after_batch"):
        stage.after_batch(db)
    report.seconds = time.monotonic() - t0
    report.peak_rss_mb = peak_rss_mb()
    return report


def peak_rss_mb() -> float:
    """Peak resident memory of this process or any of its finished child processes (MiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # Linux reports KiB
