import functools
import time

import pytest

from pipeline import store
from pipeline.run import run_stage
from toy_stages import ToyStage


def _records(db, names):
    ids = {}
    with store.transaction(db):
        for i, name in enumerate(names):
            ids[name] = store.insert_one(db, "records", {
                "sha256": f"sha{i}", "source_path": f"/batch/H01/{name}", "kind": "pdf",
                "created_at": store.now(), "updated_at": store.now()})
    return ids


def _state(db):
    return {r["source_path"].rsplit("/", 1)[1]: (r["stage"], r["status"], r["error"])
            for r in db.query("SELECT * FROM records")}


def _toy_rows(db, rid):
    return [r[0] for r in db.execute("SELECT seq FROM fields WHERE record_id = ? AND name = 'toy' ORDER BY seq", (rid,))]


@pytest.mark.parametrize("inline", [True, False])
def test_failures_are_isolated_and_reasoned(db_path, inline):
    db = store.connect(db_path)
    ids = _records(db, ["ok1.pdf", "raise.pdf", "ok2.pdf", "savefail.pdf"])
    report = run_stage(db, ToyStage, workers=2, executor="inline" if inline else "local")
    state = _state(db)
    assert state["ok1.pdf"][:2] == ("read", "ok") and state["ok2.pdf"][:2] == ("read", "ok")
    assert state["raise.pdf"][1] == "failed" and "page 2 is unreadable" in state["raise.pdf"][2]
    assert state["savefail.pdf"][1] == "failed" and "cannot save" in state["savefail.pdf"][2]
    assert (report.done, report.failed) == (2, 2)
    assert _toy_rows(db, ids["ok1.pdf"]) == [0, 1, 2]
    # results streamed before the failure were kept (resume point), finish() never ran for it
    assert _toy_rows(db, ids["raise.pdf"]) == [0]
    assert db.execute("SELECT COUNT(*) FROM fields WHERE name = 'toy-finished'").fetchone()[0] == 2


def test_hung_record_times_out_and_dead_worker_is_replaced(db_path):
    db = store.connect(db_path)
    ids = _records(db, ["hang.pdf", "ok1.pdf", "die.pdf", "ok2.pdf", "ok3.pdf"])
    report = run_stage(db, ToyStage, workers=2, timeout=4)
    state = _state(db)
    assert "timed out" in state["hang.pdf"][2] and state["hang.pdf"][1] == "failed"
    assert "worker died" in state["die.pdf"][2]
    for ok in ("ok1.pdf", "ok2.pdf", "ok3.pdf"):
        assert state[ok][:2] == ("read", "ok"), state[ok]
    # a killed worker may not have flushed its last results; nothing it did not send is kept
    assert _toy_rows(db, ids["die.pdf"]) in ([], [0])
    assert db.execute("SELECT COUNT(*) FROM fields WHERE name = 'toy-finished' AND record_id = ?",
                      (ids["die.pdf"],)).fetchone()[0] == 0
    assert (report.done, report.failed) == (3, 2)


def test_worker_killed_while_sending_does_not_block_the_others(db_path):
    """A worker killed mid-message (OOM killer, native crash) fails only its own record: the
    others keep sending (with one shared queue its half-held write lock blocked them for good)."""
    db = store.connect(db_path)
    _records(db, ["cutoff.pdf", "slow.pdf", "ok1.pdf", "ok2.pdf"])  # 'slow' sends after the kill
    t0 = time.monotonic()
    report = run_stage(db, ToyStage, workers=2, timeout=20)
    state = _state(db)
    assert state["cutoff.pdf"][1] == "failed" and "worker died" in state["cutoff.pdf"][2]
    for ok in ("slow.pdf", "ok1.pdf", "ok2.pdf"):
        assert state[ok][:2] == ("read", "ok"), state[ok]
    assert (report.done, report.failed) == (3, 1)
    assert time.monotonic() - t0 < 20  # nobody waited for the time-out


def test_result_that_cannot_be_sent_fails_its_record_at_once(db_path):
    db = store.connect(db_path)
    _records(db, ["unpicklable.pdf", "ok1.pdf"])
    t0 = time.monotonic()
    report = run_stage(db, ToyStage, workers=1, timeout=20)
    state = _state(db)
    assert state["unpicklable.pdf"][1] == "failed" and "pickle" in state["unpicklable.pdf"][2].lower()
    assert state["ok1.pdf"][:2] == ("read", "ok")  # the same worker went on to the next record
    assert (report.done, report.failed) == (1, 1)
    assert time.monotonic() - t0 < 20


def test_timeout_measures_time_without_progress(db_path):
    """A long record that keeps producing results is not a hung one."""
    db = store.connect(db_path)
    _records(db, ["slow.pdf"])
    report = run_stage(db, ToyStage, workers=1, timeout=2.5)  # 3 results x 1.5 s > 2.5 s in total
    assert (report.done, report.failed) == (1, 0)


def test_rerun_resumes_and_changes_nothing(db_path):
    db = store.connect(db_path)
    ids = _records(db, ["raise.pdf", "ok.pdf"])
    run_stage(db, ToyStage, executor="inline")
    snapshot = list(db.query("SELECT record_id, name, seq, value FROM fields ORDER BY 1, 2, 3"))
    second = run_stage(db, ToyStage, executor="inline")
    assert (second.done, second.failed) == (0, 0)  # failed records are not retried by default
    assert list(db.query("SELECT record_id, name, seq, value FROM fields ORDER BY 1, 2, 3")) == snapshot
    # retrying re-runs only what is missing: the work skips the page saved before the failure
    third = run_stage(db, ToyStage, executor="inline", retry_failed=True)
    assert third.failed == 1 and _toy_rows(db, ids["raise.pdf"]) == [0]


def test_store_errors_stop_the_batch(db_path):
    db = store.connect(db_path)
    _records(db, ["ok.pdf"])
    db.execute("PRAGMA query_only = 1")
    with pytest.raises(store.StoreError):
        run_stage(db, ToyStage, executor="inline")


def test_stage_options_reach_workers(db_path):
    db = store.connect(db_path)
    _records(db, ["ok.pdf"])
    report = run_stage(db, functools.partial(ToyStage, db_path=str(db_path), dpi=300), workers=1)
    assert report.done == 1


def _snapshot(db):
    return (
        sorted((r["source_path"], r["stage"], r["status"], r["error"]) for r in db.query("SELECT * FROM records")),
        sorted((r[0], r[1], r[2]) for r in db.execute("SELECT record_id, name, seq FROM fields")),
    )


def test_ray_executor_matches_local(tmp_path):
    ray = pytest.importorskip("ray", reason="the distributed extra is not installed")
    names = ["ok1.pdf", "raise.pdf", "ok2.pdf", "hang.pdf", "ok3.pdf"]
    results = {}
    for executor in ("local", "ray"):
        db = store.connect(tmp_path / f"{executor}.db")
        _records(db, names)
        run_stage(db, ToyStage, workers=2, timeout=5, executor=executor)
        results[executor] = _snapshot(db)
    ray.shutdown()
    assert results["ray"] == results["local"]
    assert sum(1 for r in results["ray"][0] if r[2] == "failed") == 2
