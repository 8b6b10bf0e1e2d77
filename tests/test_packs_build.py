"""The shipped national pack is what scripts/build_national_pack.py makes of the shared 两库 files,
byte for byte (skipped without the shared data)."""
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.packs import store

REPO = Path(__file__).resolve().parent.parent


def build_module():
    spec = importlib.util.spec_from_file_location("build_national_pack", REPO / "scripts" / "build_national_pack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.data
def test_the_build_is_reproducible_and_matches_the_shipped_pack(shared_data, tmp_path):
    if not (shared_data / "two-libraries" / "knowledge_points.jsonl").is_file():
        pytest.skip("two-libraries not in the shared data")
    build = build_module()
    build.main(["--data-dir", str(shared_data), "--out", str(tmp_path / "a")])
    build.main(["--data-dir", str(shared_data), "--out", str(tmp_path / "b")])
    for name in ("pack.json", "points.jsonl.gz", "README.md"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes(), name
        assert a == (store.NATIONAL_DIR / name).read_bytes(), f"{name} is stale: run scripts/build_national_pack.py"


@pytest.mark.data
def test_the_shipped_pack_counts_what_the_data_says(shared_data):
    path = shared_data / "two-libraries" / "knowledge_points.jsonl"
    if not path.is_file():
        pytest.skip("two-libraries not in the shared data")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    replaced = {r["supersedes"] for r in rows if r["supersedes"]}
    notes = [r for r in rows if not r["med_codes"] and not r["constraint"]]
    in_force = Counter(r["rule_class"] for r in rows if r["kp_id"] not in replaced and r not in notes)
    nat = store.national()
    assert len(rows) == 3899 and len(replaced) == 397 and len(notes) == 1
    assert nat.meta["counts"]["in_force"] == sum(in_force.values()) == 3899 - 397 - 1
    assert nat.meta["counts"]["by_rule_class"] == dict(in_force)
    assert {p.kp_id for p in nat.points if p.superseded_by} == replaced
