"""Executors: where a stage's ``work`` runs. One registry, chosen by name (``run --executor``).

Every executor takes the same arguments and reports each result through ``settle(record, kind,
payload)`` (kind: item | done | error) to the single writer, in the calling process:
    inline  this process, one record after another (tests, debugging)
    local   a pool of worker processes (``pool.py``), the default
    ray     Ray actors on this machine or a cluster (``ray_executor.py``; the `distributed` extra)
"""
from __future__ import annotations

import importlib

from pipeline.run.failures import describe

EXECUTORS = {
    "local": "pipeline.run.pool:execute",
    "inline": "pipeline.run.executors:execute_inline",
    "ray": "pipeline.run.ray_executor:execute",
}


def get(name: str):
    """The ``execute`` function of the executor called ``name``; ValueError for an unknown one."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    module, fn = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), fn)


def execute_inline(stage, stage_factory, records, *, workers, timeout, prepared, settle, address=None):
    """Run every record in this process with one shared worker context."""
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
            settle(record, "error", describe(exc))
