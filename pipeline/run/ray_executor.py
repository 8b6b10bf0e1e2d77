"""Ray executor: the same stage protocol on Ray actors, locally or on a cluster (`distributed` extra).

Each actor builds the stage once and keeps its per-worker context (loaded models) across records.
An actor returns a record's results together (with the error, if any, after the results it made),
and the driver — the single writer — saves them. A record past the timeout has its actor killed
and replaced; an actor that dies fails only its record.
Cluster use: every node needs this project installed (same version) and read access to the
record files at the same paths; the database stays on the driver.
"""
from __future__ import annotations

import os
import sys
import time

from pipeline.run.failures import describe

POLL_S = 0.2


def _actor_class(ray):
    @ray.remote(max_restarts=0, max_task_retries=0)
    class StageActor:
        def __init__(self, factory):
            self.stage = factory()
            self.ctx: dict = {}

        def ready(self):
            return True

        def run(self, task):
            results = []
            try:
                for result in self.stage.work(task, self.ctx):
                    results.append(result)
            except Exception as exc:  # keep what was made before the failure
                return results, describe(exc)
            return results, None

    return StageActor


def execute(stage, stage_factory, records, *, workers, timeout, prepared, settle, address=None):
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("the Ray executor needs the `distributed` extra: pip install '.[distributed]'") from exc
    n = workers or os.cpu_count() or 1
    cap = getattr(stage, "max_workers", None)
    if cap:
        n = min(n, cap)
    n = max(1, min(n, len(records)))
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
        if address:
            ray.init(address=address, **kwargs)
        else:
            # Local workers see the driver's import path (tests, source checkouts).
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
            ray.init(num_cpus=n, runtime_env=env, **kwargs)
    StageActor = _actor_class(ray)
    pending = list(reversed(records))
    starting: dict = {}  # actor -> ref of its ready() call, until the actor is up

    def new_actor():
        actor = StageActor.remote(stage_factory)
        starting[actor] = actor.ready.remote()
        return actor

    idle = [new_actor() for _ in range(n)]
    running: dict = {}  # ObjectRef -> (actor, record, started)

    def dispatch():
        while idle and pending:
            record = pending.pop()
            task, err = prepared(record)
            if err:
                settle(record, "error", err)
                continue
            actor = idle.pop()
            running[actor.run.remote(task)] = (actor, record, time.monotonic())

    try:
        dispatch()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                actor, record, _started = running.pop(ref)
                try:
                    results, error = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    settle(record, "error", f"工作进程异常退出 (worker died: {describe(exc)[:300]})")
                    starting.pop(actor, None)
                    idle.append(new_actor())
                    continue
                except ray.exceptions.RayError as exc:
                    settle(record, "error", describe(exc))
                    idle.append(actor)
                    continue
                failed = False
                for result in results:
                    if settle(record, "item", result) == "error":
                        failed = True
                        break
                if not failed:
                    settle(record, *(("error", error) if error else ("done", None)))
                idle.append(actor)
            now = time.monotonic()
            for ref, (actor, record, started) in list(running.items()):
                if actor in starting:
                    # The record's clock starts when its actor is up (imports, model loading).
                    if ray.wait([starting[actor]], timeout=0)[0]:
                        del starting[actor]
                    running[ref] = (actor, record, now)
                    continue
                if now - started > timeout:
                    del running[ref]
                    ray.kill(actor, no_restart=True)
                    settle(record, "error", f"记录处理超时 (timed out after {timeout:.0f}s)")
                    idle.append(new_actor())
            dispatch()
    finally:
        for actor in idle + [a for a, _, _ in running.values()]:
            ray.kill(actor, no_restart=True)
