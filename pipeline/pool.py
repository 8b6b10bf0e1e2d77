"""Local executor: a pool of worker processes streaming results back to the single writer.

Each worker runs ``stage.work`` and puts every result on a queue as soon as it is made, so a
record's finished pages are saved even if a later page fails or the run is killed. The parent
watches each worker: when a record makes no progress (no result) for the timeout, or when the
process dies, the worker is killed, its record failed with a reason, and a fresh worker takes
the next record.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from typing import Any, Callable

from pipeline.runner import describe

POLL_S = 0.2
STARTUP_GRACE_S = 300  # a worker that has not begun its record by then is stuck


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the runner dies (kill -9 leaves no orphans,
    even one stuck inside a record)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the queue time-out check below still ends idle workers


def _worker_main(factory: Callable[[], Any], tasks: mp.Queue, results: mp.Queue, wid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    _die_with_parent()
    stage = factory()
    ctx: dict = {}
    parent = os.getppid()
    while True:
        try:
            item = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the runner was killed (kill -9): do not linger
                return
            continue
        if item is None:
            return
        rid, task = item
        results.put(("start", wid, rid, None))
        try:
            for result in stage.work(task, ctx):
                results.put(("item", wid, rid, result))
            results.put(("done", wid, rid, None))
        except Exception as exc:  # a failing record must not stop the worker
            results.put(("error", wid, rid, describe(exc)))


class _Worker:
    def __init__(self, ctx, factory, results, wid):
        self.tasks = ctx.Queue()
        self.proc = ctx.Process(target=_worker_main, args=(factory, self.tasks, results, wid), daemon=True)
        self.proc.start()
        self.assigned: int | None = None
        self.assigned_at = time.monotonic()
        self.started_at: float | None = None  # set when the worker reports it began the record

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



def execute(stage, stage_factory, records, *, workers, timeout, prepared, settle):
    """Run ``records`` through ``stage`` on a pool of worker processes (see module doc)."""
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
            w.assigned_at, w.started_at = time.monotonic(), None
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
            w.started_at = time.monotonic()  # progress: the timeout measures time without any result
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
                # The per-record clock starts when the worker begins the record, so a slow
                # worker start-up (imports, model loading) is not charged to the record.
                if w.started_at is not None:
                    hung = time.monotonic() - w.started_at > timeout
                else:
                    hung = time.monotonic() - w.assigned_at > timeout + STARTUP_GRACE_S
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
