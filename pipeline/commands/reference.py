"""The CLI reference (``docs/cli.md``) written from the Typer app itself, so it cannot drift:
``python scripts/cli_reference.py`` rewrites it and a test fails when it is out of date."""
from __future__ import annotations

import click

HEADER = """# medreview command reference

Generated from the Typer app by `python scripts/cli_reference.py`; do not edit by hand
(`tests/test_cli_reference.py` fails when this file and the code disagree).
Exit codes of every command: 0 success; 1 finished but some inputs failed, or a promotion was
refused; 2 usage or environment error; 130 interrupted (re-run to resume).
"""


def walk(cmd: click.Command, path: tuple[str, ...] = ()):
    """(path, command) for the command and every subcommand, in name order."""
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from walk(cmd.commands[name], path + (name,))


def _type(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    name = getattr(param.type, "name", "") or ""
    return {"integer": "INT", "float": "FLOAT", "text": "TEXT", "boolean": "BOOL", "path": "PATH"}.get(
        name.lower(), name.upper() or "TEXT")


def _default(param: click.Parameter) -> str:
    d = param.default
    if d is None or (isinstance(param, click.Option) and param.is_flag and d is False):
        return ""
    if callable(d):
        return ""
    return f"`{d}`"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def command_markdown(path: tuple[str, ...], cmd: click.Command) -> str:
    title = " ".join(("medreview",) + path)
    out = [f"## `{title}`", ""]
    for paragraph in (cmd.help or "").strip().split("\n\n"):
        if paragraph.strip():
            out += [" ".join(paragraph.split()), ""]
    args = [p for p in cmd.params if isinstance(p, click.Argument)]
    opts = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden]
    usage = " ".join([title] + (["[OPTIONS]"] if opts else []) + [a.human_readable_name for a in args]
                     + (["COMMAND [ARGS]..."] if isinstance(cmd, click.Group) else []))
    out += ["```", usage, "```", ""]
    if args:
        out += ["| argument | type | help |", "|---|---|---|"]
        out += [f"| `{a.human_readable_name}` | {_type(a)} | {_cell(getattr(a, 'help', None))} |" for a in args]
        out.append("")
    if opts:
        out += ["| option | type | default | help |", "|---|---|---|---|"]
        for o in opts:
            names = ", ".join(f"`{n}`" for n in o.opts + o.secondary_opts)
            out.append(f"| {names} | {_type(o)} | {_default(o)} | {_cell(o.help)} |")
        out.append("")
    if isinstance(cmd, click.Group):
        out += ["| command | what it does |", "|---|---|"]
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            first = (sub.help or "").strip().split("\n\n")[0]
            out.append(f"| [`{name}`](#{_anchor(path + (name,))}) | {_cell(first)} |")
        out.append("")
    return "\n".join(out)


def _anchor(path: tuple[str, ...]) -> str:
    return "-".join(("medreview",) + path)


def render(root: click.Command) -> str:
    """The whole reference: one section per command and subcommand."""
    parts = [HEADER]
    for path, cmd in walk(root):
        parts.append(command_markdown(path, cmd))
    return "\n".join(parts).rstrip() + "\n"


def missing_help(root: click.Command) -> list[str]:
    """Commands (other than the root) without a help text."""
    return [" ".join(path) for path, cmd in walk(root) if path and not (cmd.help or "").strip()]
