"""Local executor: a pool of worker processes streaming results back to the single writer.

Each worker runs ``stage.work`` and sends every result on its own pipe as soon as it is made, so a
record's finished pages are saved even if a later page fails or the run is killed. One pipe per
worker, written synchronously, because a worker killed mid-write (OOM killer, a crash in native
code) must not break the others: with one shared ``multiprocessing.Queue`` a worker that dies
while its feeder thread holds the queue's write lock blocks every other worker for good. The parent
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
from multiprocessing.connection import wait
from typing import Any, Callable

from threadpoolctl import threadpool_limits

from pipeline.run.failures import describe

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


def _worker_main(factory: Callable[[], Any], tasks: mp.Queue, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    _die_with_parent()
    # The pool is the parallelism: a BLAS using every core in every worker would oversubscribe.
    threadpool_limits(limits=1, user_api="blas")
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
        results.send(("start", rid, None))
        try:
            for result in stage.work(task, ctx):
                results.send(("item", rid, result))  # pickles here: an unpicklable result fails the record
            results.send(("done", rid, None))
        except Exception as exc:  # a failing record must not stop the worker
            results.send(("error", rid, describe(exc)))


class _Worker:
    def __init__(self, ctx, factory):
        self.tasks = ctx.Queue()
        self.results, sender = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker_main, args=(factory, self.tasks, sender), daemon=True)
        self.proc.start()
        sender.close()  # only the worker holds the sending end, so its exit reads as end of file
        self.closed = False  # its pipe reached end of file (or broke): it exited or is past use
        self.unreadable: str | None = None  # why a message from it could not be read, if so
        self.assigned: int | None = None
        self.assigned_at = time.monotonic()
        self.started_at: float | None = None  # set when the worker reports it began the record

    def receive(self):
        """The next message, or None once the pipe is at end of file or unreadable."""
        try:
            return self.results.recv()
        except (EOFError, OSError):
            self.closed = True
        except Exception as exc:  # a message that cannot be unpickled here: stop trusting the stream
            self.closed = True
            self.unreadable = describe(exc)
        return None

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
        self.results.close()


def execute(stage, stage_factory, records, *, workers, timeout, prepared, settle, address=None):
    """Run ``records`` through ``stage`` on a pool of worker processes (see module doc)."""
    n = workers or os.cpu_count() or 1
    cap = getattr(stage, "max_workers", None)
    if cap:
        n = min(n, cap)
    n = max(1, min(n, len(records)))
    ctx = mp.get_context("spawn")  # no inherited sqlite handles or engine threads
    pool = {wid: _Worker(ctx, stage_factory) for wid in range(n)}
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

    def handle(w: _Worker, kind, rid, payload, reassign=True):
        """Apply one message; ``reassign`` False for a dead worker, which gets no next record."""
        record = by_id[rid]
        if kind == "start":
            w.started_at = time.monotonic()
            return
        if kind == "item":
            w.started_at = time.monotonic()  # progress: the timeout measures time without any result
            if rid not in failed_items and settle(record, "item", payload) == "error":
                failed_items.add(rid)
            return
        if rid not in failed_items:
            settle(record, kind, payload)
        if reassign:
            assign(w)
        else:
            w.assigned = None

    try:
        for w in pool.values():
            assign(w)
        while any(w.assigned is not None for w in pool.values()):
            busy = {w.results: w for w in pool.values() if w.assigned is not None and not w.closed}
            for conn in wait(list(busy), timeout=POLL_S):
                w = busy[conn]
                if (msg := w.receive()) is not None:
                    handle(w, *msg)
            # Hung or dead workers: fail their record, replace the worker.
            for wid, w in list(pool.items()):
                if w.assigned is None:
                    continue
                dead = w.closed or not w.proc.is_alive()
                if dead:
                    # Apply what it sent before dying; it may have finished its record.
                    while not w.closed and w.results.poll():
                        if (msg := w.receive()) is not None:
                            handle(w, *msg, reassign=False)
                    w.proc.join(timeout=1)  # end of file can come a moment before the exit: keep its code
                else:
                    # The per-record clock starts when the worker begins the record, so a slow
                    # worker start-up (imports, model loading) is not charged to the record.
                    if w.started_at is not None:
                        hung = time.monotonic() - w.started_at > timeout
                    else:
                        hung = time.monotonic() - w.assigned_at > timeout + STARTUP_GRACE_S
                    if not hung:
                        continue
                w.stop(kill=True)
                rid = w.assigned
                if rid is not None and rid not in failed_items:
                    if not dead:
                        reason = f"记录处理超时 (timed out after {timeout:.0f}s)"
                    elif w.unreadable:
                        reason = f"工作进程结果无法读取 (unreadable result: {w.unreadable})"
                    else:
                        reason = f"工作进程异常退出 (worker died, exit code {w.proc.exitcode})"
                    settle(by_id[rid], "error", reason)
                del pool[wid]
                if pending:
                    replacement = _Worker(ctx, stage_factory)
                    pool[next_wid] = replacement
                    next_wid += 1
                    assign(replacement)
    finally:
        for w in pool.values():
            w.stop(kill=w.assigned is not None)
