"""Where a page's reading time goes: wall and CPU seconds per named step.

Steps nest: time spent in an inner step is not counted again in the step around it, so the
seconds of all steps add up to the time measured. CPU seconds are the whole process's (every
thread of the inference runtime included).
"""
from __future__ import annotations

import time
from contextlib import contextmanager


class StageClock:
    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._inner: list[list[float]] = []  # per open step: [wall, cpu] of the steps inside it

    @contextmanager
    def __call__(self, step: str):
        w0, c0 = time.perf_counter(), time.process_time()
        self._inner.append([0.0, 0.0])
        try:
            yield
        finally:
            inner = self._inner.pop()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            self.wall[step] = self.wall.get(step, 0.0) + w - inner[0]
            self.cpu[step] = self.cpu.get(step, 0.0) + c - inner[1]
            if self._inner:
                self._inner[-1][0] += w
                self._inner[-1][1] += c

    def add(self, other: "StageClock") -> None:
        for step in other.wall:
            self.wall[step] = self.wall.get(step, 0.0) + other.wall[step]
            self.cpu[step] = self.cpu.get(step, 0.0) + other.cpu[step]

    def as_dict(self) -> dict[str, tuple[float, float]]:
        """step → (wall seconds, CPU seconds)."""
        return {k: (self.wall[k], self.cpu[k]) for k in self.wall}

