"""docs/cli.md is the Typer app's own reference: regenerated, it must equal the file, and every
command, argument and option must explain itself (the sqlite-utils way)."""
from pathlib import Path

import click
import typer.main

from cli import app
from pipeline.commands.reference import missing_help, render, walk

REPO = Path(__file__).resolve().parent.parent


def test_docs_cli_md_is_up_to_date():
    current = render(typer.main.get_command(app))
    on_disk = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert on_disk == current, "docs/cli.md is out of date: run `python scripts/cli_reference.py`"


def test_every_command_argument_and_option_has_help():
    root = typer.main.get_command(app)
    assert missing_help(root) == []
    undocumented = [f"{' '.join(path)} {p.name}" for path, cmd in walk(root) for p in cmd.params
                    if not (getattr(p, "help", None) or "").strip() and p.name != "help"]
    assert undocumented == []


def test_the_reference_lists_every_command_and_its_options():
    root = typer.main.get_command(app)
    doc = render(root)
    for path, cmd in walk(root):
        assert f"## `{' '.join(('medreview',) + path)}`" in doc
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert f"`{p.opts[0]}`" in doc
    # a help text that changes shows in the reference
    cmd = root.commands["status"]
    old, cmd.help = cmd.help, "Something else entirely."
    try:
        assert "Something else entirely." in render(root)
    finally:
        cmd.help = old
