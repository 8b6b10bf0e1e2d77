"""Active learning order and versioned re-scoring comparison."""
import pytest

from pipeline import review, store
from pipeline.models.compare import reviewed_labels, score_changes
from pipeline.review import least_certain_first

T = "2026-11-20T08:00:00+00:00"


@pytest.fixture
def db(db_path):
    """Five flagged records scored by two classifier versions; records 1-4 get decisions."""
    d = store.connect(db_path)
    old = {1: 0.9, 2: 0.52, 3: 0.2, 4: 0.6, 5: 0.45}
    new = {1: 0.95, 2: 0.1, 3: 0.3, 4: 0.4, 5: 0.7}
    with store.transaction(d):
        store.insert_many(d, "records", [
            {"id": i, "sha256": f"s{i}", "source_path": f"/b/{i}", "kind": "pdf", "stage": "scored",
             "created_at": T, "updated_at": T} for i in old])
        store.insert_many(d, "flags", [
            {"id": i, "record_id": i, "rule_id": "R", "key": "", "amount": 10.0, "score": old[i],
             "source": "system", "created_at": T} for i in old])
        store.insert_many(d, "model_versions", [
            {"id": "classifier@v1", "kind": "classifier", "path": "x", "created_at": "2026-11-01T00:00:00+00:00"},
            {"id": "classifier@v2", "kind": "classifier", "path": "y", "created_at": "2026-11-02T00:00:00+00:00"}])
        store.insert_many(d, "scores", [
            {"record_id": i, "model_version": v, "probability": p[i], "created_at": T}
            for v, p in (("classifier@v1", old), ("classifier@v2", new)) for i in p])
    return d


def test_least_certain_first_is_stable_and_puts_unscored_last():
    items = [{"id": 1, "probability": 0.95}, {"id": 2, "probability": None}, {"id": 3, "probability": 0.56},
             {"id": 4, "probability": 0.45}, {"id": 5, "probability": 0.1}]
    assert [i["id"] for i in least_certain_first(items)] == [4, 3, 5, 1, 2]
    tied = [{"id": 7, "probability": 0.25}, {"id": 6, "probability": 0.75}]
    assert [i["id"] for i in least_certain_first(tied)] == [7, 6]   # tie keeps the risk order


def test_uncertain_queue_orders_pending_cases_by_margin(db):
    review.decide(db, "a", 5, "confirm")
    ids = [i["id"] for i in review.queue(db, review.QueueFilter(status="pending", order="uncertain"))["items"]]
    # newest version (v2) scores: 2:0.1 3:0.3 4:0.4 1:0.95; record 5 is decided, so not pending
    assert ids == [4, 3, 2, 1]


def test_score_changes_keep_both_versions_and_compare_on_reviewed_records(db):
    for fid, action in ((1, "confirm"), (2, "reject"), (3, "confirm"), (4, "reject")):
        kw = {"reason_code": "charge_correct"} if action == "reject" else {}
        review.decide(db, "a", fid, action, **kw)
    assert reviewed_labels(db) == {1: 1, 2: 0, 3: 1, 4: 0}
    c = score_changes(db, "classifier@v1", "v2")   # a bare version name resolves too
    assert (c["scored_old"], c["scored_new"], c["scored_both"]) == (5, 5, 5)
    assert (c["crossed_up"], c["crossed_down"]) == (1, 2)       # 5 goes up; 2 and 4 go down
    assert c["largest"][0] == {"record_id": 2, "old": 0.52, "new": 0.1, "delta": -0.42}
    # v1: positives 0.9, 0.2 vs negatives 0.52, 0.6 -> 2 of 4 pairs; v2: 0.95, 0.3 vs 0.1, 0.4 -> 3 of 4
    assert c["reviewed_auc"] == {"old": 0.5, "new": 0.75, "n_old": 4, "n_new": 4}


def test_simulated_reviewer_follows_truth_riskiest_first(db):
    from pipeline.annotations.simulate import simulate_reviewer

    db.execute("UPDATE flags SET rule_id = 'R-X' WHERE id IN (1, 3)")
    truth = {1: {"x"}, 2: {"x"}, 3: set(), 4: {"y"}, 5: set()}
    made = simulate_reviewer(db, truth, {"R-X": "x", "R": "y"}, 3, records=[1, 2, 3, 4])
    assert made == 3
    states = review.derive(review.load_events(db), list(db.query("SELECT id, record_id, source FROM flags")))
    got = {fid: st.state for fid, st in states.items()}
    # newest scores (v2): 1:0.95, 4:0.4, 3:0.3, 2:0.1 -> records 1, 4, 3 decided; 2 and 5 untouched
    assert got == {1: "confirmed", 4: "confirmed", 3: "rejected", 2: "pending", 5: "pending"}
    assert simulate_reviewer(db, truth, {"R-X": "x", "R": "y"}, 10, records=[1, 2, 3, 4]) == 1   # only 2 left


def test_queue_order_uncertain_is_available_to_the_ui_and_claims(tmp_path):
    """The UI's queue and "next case" follow the active-learning order when asked."""
    from pipeline import review, store

    db = store.connect(tmp_path / "a.db")
    with store.transaction(db):
        for rid, p in ((1, 0.95), (2, 0.52), (3, 0.10)):
            store.insert_one(db, "records", {"id": rid, "sha256": f"s{rid}", "source_path": f"/x/{rid}.pdf",
                                             "kind": "pdf", "created_at": "t", "updated_at": "t"})
            store.insert_one(db, "flags", {"record_id": rid, "rule_id": "R", "severity": "可疑", "score": 0.5,
                                           "created_at": "t"})
            store.insert_one(db, "scores", {"record_id": rid, "model_version": "m", "probability": p,
                                            "created_at": "t"})
    risk = [i["id"] for i in review.queue(db)["items"]]
    uncertain = [i["id"] for i in review.queue(db, review.QueueFilter(order="uncertain"))["items"]]
    assert risk == [1, 2, 3] and uncertain == [2, 3, 1]
    assert review.lock_next(db, "u1", review.QueueFilter(order="uncertain")) == 2
    import pytest

    with pytest.raises(review.ReviewError):
        review.queue(db, review.QueueFilter(order="random"))
