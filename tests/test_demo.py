"""The README's first command, end to end: `medreview demo` on the built-in batch."""
import json

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


@pytest.mark.slow
def test_demo_accounts_for_every_record_and_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--records", "8", "--simulate-reviews", "5"])
    assert res.exit_code == 0, res.output
    status = json.loads(runner.invoke(app, ["status", "--db", str(out / "audit.db"), "--json"]).output)
    labels = (out / "batch" / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert status["records"]["total"] == len(labels) == 8
    assert status["coverage_complete"] and status["records"]["reached"]["scored"] == 8
    assert (out / "report" / "report.html").stat().st_size > 0
    assert (out / "report" / "report.xlsx").stat().st_size > 0
    assert str((out / "report" / "report.html").resolve()) in " ".join(res.output.split())
    # the hospitals' names from the batch reach the report
    assert "县" in (out / "report" / "report.html").read_text(encoding="utf-8")
    # a second run changes nothing and still succeeds
    again = runner.invoke(app, ["demo", "--out", str(out), "--records", "8"])
    assert again.exit_code == 0 and "0 new" in again.output
