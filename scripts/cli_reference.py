"""Rewrite docs/cli.md from the Typer app (run after changing a command or its help)."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import typer.main  # noqa: E402

from cli import app  # noqa: E402
from pipeline.commands.reference import render  # noqa: E402

if __name__ == "__main__":
    out = REPO / "docs" / "cli.md"
    out.write_text(render(typer.main.get_command(app)), encoding="utf-8")
    print(f"wrote {out}")
