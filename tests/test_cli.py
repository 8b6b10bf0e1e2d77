import json

import click
import typer.main
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def _walk(cmd, path=()):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _walk(sub, path + (name,))


def test_every_command_has_help_text():
    root = typer.main.get_command(app)
    seen = []
    for path, cmd in _walk(root):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
        if path:
            assert (cmd.help or "").strip(), f"`medreview {' '.join(path)}` has no help text"
            assert cmd.help.strip().split("\n")[0] in " ".join(result.output.split())
        seen.append(path)
    for required in ("init", "ingest", "run", "status", "doctor", "demo"):
        assert (required,) in seen


def test_init_ingest_status_in_process(tmp_path):
    db = tmp_path / "audit.db"
    batch = tmp_path / "batch" / "H01"
    batch.mkdir(parents=True)
    (batch / "ZY1.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (batch / "broken.pdf").write_bytes(b"")
    assert runner.invoke(app, ["init", "--db", str(db)]).exit_code == 0
    res = runner.invoke(app, ["ingest", str(tmp_path / "batch"), "--db", str(db)])
    assert res.exit_code == 1, res.output  # one input rejected → partial success
    assert "broken.pdf" in res.output and "0 bytes" in res.output
    res = runner.invoke(app, ["status", "--db", str(db), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data["inputs"] == {"received": 2, "accepted": 1, "duplicate": 0, "rejected": 1, "skipped": 0}
    assert data["records"]["total"] == 1 and data["records"]["reached"]["ingested"] == 1
    assert data["coverage_complete"] is False
    assert any(p["path"].endswith("broken.pdf") for p in data["problems"])
    res = runner.invoke(app, ["status", "--db", str(db), "--failed"])
    assert "broken.pdf" in res.output and "rejected" in res.output


def test_missing_inputs_exit_2(tmp_path):
    res = runner.invoke(app, ["status", "--db", str(tmp_path / "nope.db")])
    assert res.exit_code == 2 and "不存在" in res.output
    res = runner.invoke(app, ["ingest", str(tmp_path / "no-such-dir"), "--db", str(tmp_path / "a.db")])
    assert res.exit_code == 2 and "no-such-dir" in res.output
    assert not (tmp_path / "a.db").exists()          # a mistyped folder leaves no empty database
    for cmd in (["run"], ["report", "--out", str(tmp_path / "rep")], ["status"]):
        res = runner.invoke(app, [*cmd, "--db", str(tmp_path / "a.db")])
        assert res.exit_code == 2 and "不存在" in res.output, cmd
        assert not (tmp_path / "a.db").exists(), cmd
    assert runner.invoke(app, ["init", "--db", str(tmp_path / "a.db")]).exit_code == 0
    res = runner.invoke(app, ["run", "--db", str(tmp_path / "a.db"), "--stages", "bogus"])
    assert res.exit_code == 2 and "bogus" in res.output


def test_a_file_that_is_not_a_database_gets_one_line(tmp_path):
    not_db = tmp_path / "notes.db"
    not_db.write_text("not a database\n" * 100)
    for cmd in (["status"], ["run"], ["report", "--out", str(tmp_path / "rep")]):
        res = runner.invoke(app, [*cmd, "--db", str(not_db)])
        assert res.exit_code == 2, cmd
        assert res.output.strip().count("\n") == 0 and "不是 medreview 数据库" in res.output, (cmd, res.output)
        assert "Traceback" not in res.output


def test_doctor_reports_core_checks():
    res = runner.invoke(app, ["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(res.output)}
    assert "rapidocr (default OCR)" in checks
    assert "CJK TrueType font" in checks
    # exit code follows the required checks
    required_ok = all(c["ok"] for c in checks.values() if not c["optional"])
    assert res.exit_code == (0 if required_ok else 2)


def test_review_on_a_busy_port_says_so_before_the_address(tmp_path):
    import socket

    db = tmp_path / "a.db"
    assert runner.invoke(app, ["init", "--db", str(db)]).exit_code == 0
    assert runner.invoke(app, ["users", "add", "lead1", "--role", "lead", "--password-stdin", "--db", str(db)],
                         input="pw-lead-123456\n").exit_code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = runner.invoke(app, ["review", "--db", str(db), "--port", str(port)])
    assert res.exit_code == 2
    assert f"端口 {port} 已被占用" in res.output and "http://" not in res.output


def test_pages_to_read_counts_pdf_pages_before_reading(tmp_path):
    from pipeline import status, store
    from pipeline.synth import generate

    generate(tmp_path / "b", records=2, hospitals=1, seed=3, forms=("text",))
    db = store.connect(tmp_path / "a.db")
    assert runner.invoke(app, ["ingest", str(tmp_path / "b" / "text"), "--db", str(tmp_path / "a.db")]).exit_code == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert status.pages_to_read(db) == manifest["counts"]["pages"] > 0


def test_scan_demo_says_pages_and_time_up_front():
    from pipeline.commands.batch import read_plan

    assert read_plan(40, "scan", 2) == ("将用 OCR 识别 40 页 (OCR of 40 pages, ~3.5 s/page on 2 worker(s)): "
                                        "预计约 1 分钟 (about 1 min)")
    assert "约 12 分钟" in read_plan(400, "scan", 2) and "OCR" not in read_plan(40, "text", 2)


def test_read_progress_counts_pages_with_rate_and_eta(monkeypatch):
    import io

    from rich.console import Console

    from pipeline.commands import batch

    out = io.StringIO()
    monkeypatch.setattr(batch, "console", Console(file=out, force_terminal=True, width=160))
    with batch.progress_bars({"read": 40}) as tick:
        tick("read", 0, 2, 0)
        tick("read", 0, 2, 5)        # two long records: pages move, records do not yet
        tick("segmented", 1, 2, 1)
    text = out.getvalue()
    assert "read 页 pages" in text and "5/40" in text and "页/s" in text and "ETA" in text
    assert "病历 records 0/2" in text and "segmented 病历 records" in text
