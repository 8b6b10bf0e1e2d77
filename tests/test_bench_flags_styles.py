"""bench/flags.py --styles measures one held-out style: the newest blind one unless told."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pipeline.synth import styles


@pytest.fixture(scope="module")
def flags():
    path = Path(__file__).resolve().parent.parent / "bench" / "flags.py"
    spec = importlib.util.spec_from_file_location("bench_flags", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_default_is_the_last_listed_held_out_style_and_others_may_be_chosen(flags):
    held = styles.heldout()
    assert flags.measured_heldout(None) == held[-1]
    for h in held:
        assert flags.measured_heldout(h) == h


def test_a_developed_or_unknown_style_is_refused(flags):
    for bad in (styles.DEFAULT, styles.developed()[-1], "no-such-style"):
        with pytest.raises(ValueError, match="not held out"):
            flags.measured_heldout(bad)
