"""``run_batch`` is the library entry point the CLI sits on: the same batch run through the library
and through `medreview run` gives the same rows, and bad options stop a run before it starts."""
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import ingest, store, synth
from pipeline.run import RunError, RunOptions, run_batch
from snapshot import snapshot


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    synth.generate(out, records=4, hospitals=1, seed=11, forms=("text",), clean_share=0.0)
    return out / "text"


def _ingested(path, batch):
    db = store.connect(path)
    ingest.ingest(db, batch)
    return db


@pytest.mark.slow
def test_library_and_cli_runs_write_the_same_rows(batch, tmp_path):
    lib = _ingested(tmp_path / "lib.db", batch)
    report = run_batch(lib, options=RunOptions(executor="inline"))
    assert report.status == "done" and [r.stage for r in report.stages] == ["read", "segmented", "extracted", "scored"]
    assert report.counts["coverage_complete"] and report.failed == 0
    _ingested(tmp_path / "cli.db", batch)
    res = CliRunner().invoke(app, ["run", "--db", str(tmp_path / "cli.db"), "--executor", "inline"])
    assert res.exit_code == 0, res.output
    a, b = snapshot(lib), snapshot(store.connect(tmp_path / "cli.db"))
    assert a["flags"] and a["entities"] and a["scores"]   # the comparison covers every stage's output
    assert a == b
    runs = lib.execute("SELECT status, params FROM runs").fetchall()
    assert [r[0] for r in runs] == ["done"]
    # a re-run finds nothing to do and changes nothing
    again = run_batch(lib, options=RunOptions(executor="inline"))
    assert sum(r.done for r in again.stages) == 0 and snapshot(lib) == a


def test_unknown_stage_options_are_refused_before_any_record_is_touched(batch, tmp_path):
    db = _ingested(tmp_path / "a.db", batch)
    for options, message in (({"segment": {"dpi": 300}}, "unknown segment options: dpi"),
                             ({"read": {"dpii": 300}}, "unknown read options: dpii"),
                             ({"score": {"rules_override": str(tmp_path / "missing.yaml")}}, "missing.yaml"),
                             ({"bogus": {}}, "bogus")):
        with pytest.raises(RunError, match=message):
            run_batch(db, options=RunOptions(executor="inline", stage_options=options))
    with pytest.raises(RunError, match="unknown stage"):
        run_batch(db, ["read", "ocr"])
    with pytest.raises(RunError, match="--rescore"):
        run_batch(db, ["read"], RunOptions(rescore=True))
    assert {r[0] for r in db.execute("SELECT stage FROM records")} == {"ingested"}
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_cli_reports_an_unknown_executor_as_a_usage_error(batch, tmp_path):
    _ingested(tmp_path / "a.db", batch)
    res = CliRunner().invoke(app, ["run", "--db", str(tmp_path / "a.db"), "--executor", "threads"])
    assert res.exit_code == 2 and "unknown executor" in res.output
