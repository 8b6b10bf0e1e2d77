"""What the CLI's commands do, one module per command group; ``cli.py`` only parses arguments.

One convention for every command: a function that takes the parsed arguments, calls the library
(``pipeline.*``), prints with rich to ``console`` (results) or ``err`` (errors, warnings) and
returns an exit code:
    0 success; 1 finished, but some inputs failed or a promotion was refused; 2 usage or
    environment error (missing database, read-only database, bad file); 130 interrupted.
Nothing below ``pipeline.commands`` is imported by the library.
"""

import sqlite3
from pathlib import Path

from rich.console import Console

from pipeline import store

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def error(message) -> int:
    """Print an error and return the usage exit code."""
    err.print(f"[red]错误[/red] {message}")
    return EXIT_USAGE


def open_db(db_path: Path):
    """Open (create or upgrade) the database; print why not and return None."""
    try:
        return store.connect(db_path)
    except store.StoreError as exc:
        error(exc)
        return None
    except sqlite3.DatabaseError as exc:   # not a SQLite file at all (or a damaged one)
        error(f"{db_path}: 不是 medreview 数据库 (not a SQLite database: {exc})")
        return None


def open_existing(db_path: Path):
    """Open a database that must already exist (commands that only read or report on a batch);
    print why not and return None."""
    if not Path(db_path).exists():
        error(f"{db_path}: 数据库不存在 (no such database); run `medreview init` or `ingest` first")
        return None
    return open_db(db_path)
