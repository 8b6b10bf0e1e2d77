"""The per-step clock: nested steps are not counted twice, and the steps add up to the whole."""
import time

from pipeline.read.timing import StageClock


def test_nested_steps_add_up_without_double_counting():
    clock = StageClock()
    t0 = time.perf_counter()
    with clock("outer"):
        time.sleep(0.02)
        with clock("inner"):
            time.sleep(0.05)
        with clock("inner"):
            time.sleep(0.01)
    total = time.perf_counter() - t0
    wall = clock.as_dict()
    assert 0.055 <= wall["inner"][0] < 0.2
    assert 0.015 <= wall["outer"][0] < wall["inner"][0]  # the inner sleeps are not the outer's
    assert abs(sum(w for w, _ in wall.values()) - total) < 0.01
    other = StageClock()
    other.add(clock)
    other.add(clock)
    assert abs(other.wall["inner"] - 2 * clock.wall["inner"]) < 1e-12
