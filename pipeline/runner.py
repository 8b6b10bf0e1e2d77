"""Batch runner: runs each stage over every record that is ready for it.

One writer: worker processes compute (``stage.work``) and stream picklable results back; the
main process writes them (``stage.save`` / ``stage.finish``), each in its own transaction, so a
kill at any point leaves the database consistent and the next run resumes where it stopped.
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

import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline import store

POLL_S = 0.2


@dataclass
class StageReport:
    stage: str
    done: int = 0
    failed: int = 0
    items: int = 0
    seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)


def _describe(exc: BaseException) -> str:
    # The reason is shown to users and stored; keep it to the exception, never record text.
    msg = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {msg}"[:1000]


def _worker_main(factory: Callable[[], Any], tasks: mp.Queue, results: mp.Queue, wid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    stage = factory()
    ctx: dict = {}
    while True:
        item = tasks.get()
        if item is None:
            return
        rid, task = item
        results.put(("start", wid, rid, None))
        try:
            for result in stage.work(task, ctx):
                results.put(("item", wid, rid, result))
            results.put(("done", wid, rid, None))
        except Exception as exc:  # a failing record must not stop the worker
            results.put(("error", wid, rid, _describe(exc)))


class _Worker:
    def __init__(self, ctx, factory, results, wid):
        self.tasks = ctx.Queue()
        self.proc = ctx.Process(target=_worker_main, args=(factory, self.tasks, results, wid), daemon=True)
        self.proc.start()
        self.started_at = time.monotonic()
        self.assigned: int | None = None

    def stop(self, kill: bool = False):
        if self.proc.is_alive():
            if kill:
                self.proc.kill()
            else:
                try:
                    self.tasks.put(None)
                except Exception:
                    pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)


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
    inline: bool = False,
) -> StageReport:
    """Run one stage over all records ready for it. ``inline`` runs in-process (tests, debugging)."""
    stage = stage_factory()
    records = store.records_ready_for(db, stage.name, retry_failed=retry_failed)
    report = StageReport(stage.name)
    t0 = time.monotonic()
    total = len(records)

    def tick():
        if progress:
            progress(stage.name, report.done + report.failed, total, report.items)

    def settle(record, kind, payload):
        try:
            _apply(db, stage, record, kind, payload)
        except store.StoreError:
            raise
        except Exception as exc:  # save/finish failed: fail the record, keep going
            kind, payload = "error", _describe(exc)
            _apply(db, stage, record, kind, payload)
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
        try:
            return stage.prepare(db, record), None
        except Exception as exc:
            return None, _describe(exc)

    tick()
    if inline or total == 0:
        ctx: dict = {}
        for record in records:
            task, err = prepared(record)
            if err:
                settle(record, "error", err)
                continue
            try:
                for result in stage.work(task, ctx):
                    if settle(record, "item", result) == "error":
                        break
                else:
                    settle(record, "done", None)
            except Exception as exc:
                settle(record, "error", _describe(exc))
    else:
        _run_pool(db, stage, stage_factory, records, workers, timeout, prepared, settle)
    if hasattr(stage, "after_batch"):
        stage.after_batch(db)
    report.seconds = time.monotonic() - t0
    return report


def _run_pool(db, stage, stage_factory, records, workers, timeout, prepared, settle):
    n = workers or os.cpu_count() or 1
    cap = getattr(stage, "max_workers", None)
    if cap:
        n = min(n, cap)
    n = max(1, min(n, len(records)))
    ctx = mp.get_context("spawn")  # no inherited sqlite handles or engine threads
    results = ctx.Queue()
    pool = {wid: _Worker(ctx, stage_factory, results, wid) for wid in range(n)}
    pending = list(reversed(records))
    by_id = {r["id"]: r for r in records}
    failed_items: set[int] = set()  # records failed mid-stream; ignore their later messages
    next_wid = n

    def assign(w: _Worker):
        while pending:
            record = pending.pop()
            task, err = prepared(record)
            if err:
                settle(record, "error", err)
                continue
            w.assigned = record["id"]
            w.started_at = time.monotonic()
            w.tasks.put((record["id"], task))
            return
        w.assigned = None

    def handle(kind, wid, rid, payload):
        w = pool.get(wid)
        if w is None:
            return  # from a worker already replaced
        record = by_id[rid]
        if kind == "start":
            w.started_at = time.monotonic()
        elif rid in failed_items:
            if kind in ("done", "error"):
                assign(w)
        elif kind == "item":
            if settle(record, "item", payload) == "error":
                failed_items.add(rid)
        else:
            settle(record, kind, payload)
            assign(w)

    def next_message(wait):
        try:
            return results.get(timeout=wait)
        except queue.Empty:
            return None

    try:
        for w in pool.values():
            assign(w)
        while any(w.assigned is not None for w in pool.values()):
            msg = next_message(POLL_S)
            if msg:
                handle(*msg)
            # Hung or dead workers: fail their record, replace the worker.
            for wid, w in list(pool.items()):
                if w.assigned is None:
                    continue
                dead = not w.proc.is_alive()
                hung = time.monotonic() - w.started_at > timeout
                if dead:
                    # Apply what it sent before dying; it may have finished its record.
                    while (msg := next_message(0.05)) is not None:
                        handle(*msg)
                    if w.assigned is None:
                        continue
                elif not hung:
                    continue
                record = by_id[w.assigned]
                reason = (f"工作进程异常退出 (worker died, exit code {w.proc.exitcode})" if dead
                          else f"记录处理超时 (timed out after {timeout:.0f}s)")
                w.stop(kill=True)
                if record["id"] not in failed_items:
                    settle(record, "error", reason)
                del pool[wid]
                replacement = _Worker(ctx, stage_factory, results, next_wid)
                pool[next_wid] = replacement
                next_wid += 1
                assign(replacement)
    finally:
        for w in pool.values():
            w.stop(kill=w.assigned is not None)
