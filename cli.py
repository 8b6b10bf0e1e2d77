"""medreview command line: parses arguments and calls ``pipeline``; no logic lives here.

Exit codes: 0 success; 1 the job ran but some inputs failed (see `medreview status`);
2 usage or environment error (bad path, read-only database, missing dependency).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    help="medreview — 住院病历医保合规审核 (audit Chinese inpatient records for medical-insurance compliance).",
    no_args_is_help=True,
    add_completion=False,
)
train_app = typer.Typer(help="Train models (NER, risk classifier) and register them in models/.", no_args_is_help=True)
app.add_typer(train_app, name="train")

DB_OPTION = typer.Option(Path("audit.db"), "--db", help="SQLite database (the record of truth).")


def _exit(code: int) -> None:
    raise typer.Exit(code)


@app.command()
def init(db: Path = DB_OPTION) -> None:
    """Create the database (or upgrade its schema) and print the schema version."""
    from pipeline import commands

    _exit(commands.init(db))


@app.command()
def ingest(
    directory: Path = typer.Argument(..., help="Batch folder: one sub-folder per hospital, one file or page-image folder per admission."),
    db: Path = DB_OPTION,
    hospital: Optional[str] = typer.Option(None, help="Hospital id for files directly under DIRECTORY (default: the folder name)."),
) -> None:
    """Register every record file (PDF, image, page-image folder) and claims CSV under DIRECTORY.

    Unknown or unreadable inputs are recorded as rejected with a reason; the same file twice is
    recorded once. Re-running on the same folder changes nothing.
    """
    from pipeline import commands

    _exit(commands.ingest(directory, db, hospital=hospital))


@app.command()
def run(
    db: Path = DB_OPTION,
    workers: int = typer.Option(0, help="Worker processes (0 = one per core)."),
    stages: str = typer.Option("all", help="Comma-separated stages to run: read,segment,extract,score or all."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry records that failed before."),
    timeout: float = typer.Option(600.0, help="Seconds one record may take in one stage before it is failed."),
    ocr_engine: Optional[str] = typer.Option(None, "--ocr-engine", help="OCR engine: rapidocr (default), paddleocr, tesseract, fake."),
    dpi: Optional[int] = typer.Option(None, help="Rasterization dpi for image-only PDF pages."),
    executor: str = typer.Option("local", help="local (process pool), inline (this process) or ray (`distributed` extra)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address for --executor ray (default: start Ray locally)."),
) -> None:
    """Run the pipeline stages over every ingested record; resumes where an earlier run stopped."""
    from pipeline import commands

    _exit(commands.run(db, workers=workers, stages=stages, retry_failed=retry_failed, timeout=timeout, ocr_engine=ocr_engine, dpi=dpi,
                       executor=executor, address=address))


@app.command()
def status(
    db: Path = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    failed: bool = typer.Option(False, "--failed", help="List every failed or rejected input with its reason."),
) -> None:
    """Per-stage counts: inputs received, records ingested/read/segmented/extracted/scored/failed."""
    from pipeline import commands

    _exit(commands.status(db, as_json=as_json, list_failed=failed))


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> None:
    """Check the environment: CJK fonts, OCR engines and their local models, optional extras."""
    from pipeline import commands

    _exit(commands.doctor(as_json=as_json))


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), help="Folder for the demo batch, database and report."),
    records: int = typer.Option(12, help="Number of admissions in the built-in sample batch."),
    form: str = typer.Option("text", help="Which form of the sample batch to process: text or scan."),
) -> None:
    """Generate the built-in sample batch, run the whole pipeline on it and print where results are."""
    from pipeline import commands

    _exit(commands.demo(out, records=records, form=form))


@app.command()
def review(
    db: Path = DB_OPTION,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (keep it local unless behind HTTPS)."),
    port: int = typer.Option(8765, help="TCP port."),
) -> None:
    """Start the review web UI (zh-CN): queue by risk, case view with evidence, decisions."""
    from review_ui import commands

    _exit(commands.serve(db, host=host, port=port))


users_app = typer.Typer(help="Review UI accounts (reviewer, lead, admin).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="reviewer | lead | admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line of stdin."),
    db: Path = DB_OPTION,
) -> None:
    """Create a user; the password is prompted for (or read from stdin) and stored as a scrypt hash."""
    import sys

    from review_ui import commands

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt=True)
    _exit(commands.users_add(db, name, role, password))


@users_app.command("list")
def users_list(db: Path = DB_OPTION) -> None:
    """List users and their roles."""
    from review_ui import commands

    _exit(commands.users_list(db))


if __name__ == "__main__":
    app()
