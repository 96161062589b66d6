"""Write docs/cli.md, the command reference, from the command line itself.

    python docs/cli_reference.py           # rewrite docs/cli.md
    python docs/cli_reference.py --check   # exit 1 if docs/cli.md differs from the CLI

Everything on the page comes from the Typer app's commands and parameters (their names, types,
defaults and help), never from the rendered ``--help``, so the page does not depend on the
terminal's width.  ``tests/test_docs.py`` regenerates it and fails when the committed page differs.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "cli.md"
REFRESH = "python docs/cli_reference.py"

_HEADER = f"""\
# Command reference

<!-- Generated from the command line by `{REFRESH}`; `make test` fails when
     this page and the CLI disagree. Edit the commands' help, then run the script. -->

Every command and option of `ahunt`, as each command's `--help` gives them. The tasks they serve are
described in the [guide](index.md).
"""


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes and angle brackets escaped."""
    return _text(" ".join(str(text).split())).replace("|", "\\|")


def _text(text: str) -> str:
    """Prose for Markdown: angle brackets outside code spans would be read as HTML tags
    (``p_<class>`` would vanish)."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # the even parts lie outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _type(param, ctx) -> str:
    """The parameter's value type, as short as ``--help`` shows it (``int``, ``path``, ``ADDRESS``)."""
    if getattr(param, "metavar", None):
        return param.metavar
    display = getattr(param, "display_type", None)  # Typer >= 0.16's own parameters
    if callable(display):
        label = display(ctx).strip("<>")
    else:  # plain click
        label = getattr(getattr(param, "type", None), "name", "") or "text"
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        label = label.replace(" range", "")
        label += f", {low} ≤ x" if high is None else (f", x ≤ {high}" if low is None else f", {low} ≤ x ≤ {high}")
    return label


def _is_flag(param) -> bool:
    return bool(getattr(param, "is_flag", False))


def _default(param) -> str:
    default = param.default
    if _is_flag(param) and param.secondary_opts:  # --x / --no-x: name the one that holds
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    if default is None or callable(default) or (_is_flag(param) and default is False) or default in ((), []):
        return ""
    return f"`{default}`"


def _usage(name: str, command) -> str:
    parts = ["ahunt", name, "[OPTIONS]"]
    for param in command.params:
        if getattr(param, "param_type_name", "") != "argument":
            continue
        word = param.name.upper()
        if param.nargs == -1:
            word += "..."
        parts.append(word if param.required else f"[{word}]")
    return " ".join(parts)


def _help_paragraphs(text: str) -> tuple[list[str], list[str]]:
    """The help's paragraphs, and its example command lines (``Example: ahunt ...``)."""
    paragraphs, examples = [], []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(text or "")):
        block = " ".join(block.split())
        if not block:
            continue
        if block.startswith("Example:"):
            examples += [line.strip() for line in block[len("Example:"):].split(" ahunt ") if line.strip()]
            examples = [e if e.startswith("ahunt ") else f"ahunt {e}" for e in examples]
        else:
            paragraphs.append(block)
    return paragraphs, examples


def _params_table(params, ctx, *, arguments: bool) -> list[str]:
    rows = []
    for param in params:
        if getattr(param, "hidden", False):
            continue
        if (getattr(param, "param_type_name", "") == "argument") != arguments:
            continue
        if arguments:
            name = f"`{param.name.upper()}`"
            needed = "yes" if param.required else "no"
            rows.append(f"| {name} | {_cell(_type(param, ctx))} | {needed} | {_cell(param.help or '')} |")
        else:
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            kind = "flag" if _is_flag(param) else _cell(_type(param, ctx))
            rows.append(f"| {names} | {kind} | {_cell(_default(param))} | {_cell(param.help or '')} |")
    if not rows:
        return []
    head = "| argument | type | required | description |" if arguments else "| option | type | default | description |"
    return [head, "|---|---|---|---|", *rows, ""]


def render() -> str:
    """The whole page, from the app's commands in the order ``ahunt --help`` lists them."""
    import typer

    from ahunt.cli import app

    group = typer.main.get_command(app)
    root = group.make_context("ahunt", [], resilient_parsing=True)
    names = group.list_commands(root)
    lines = [_HEADER]
    lines.append("| command | what it does |")
    lines.append("|---|---|")
    for name in names:
        command = group.get_command(root, name)
        first = _help_paragraphs(command.help)[0][0] if command.help else ""
        lines.append(f"| [`ahunt {name}`](#ahunt-{name}) | {_cell(first)} |")
    lines.append("")
    lines.append("`ahunt --version` prints the version; `--help` after any command prints its help.")
    lines.append("")
    for name in names:
        command = group.get_command(root, name)
        ctx = command.make_context(f"ahunt {name}", [], resilient_parsing=True)
        paragraphs, examples = _help_paragraphs(command.help)
        lines += [f"## ahunt {name}", "", "```text", _usage(name, command), "```", ""]
        for paragraph in paragraphs:
            lines += [_text(paragraph), ""]
        if examples:
            lines += ["```bash", *examples, "```", ""]
        lines += _params_table(command.params, ctx, arguments=True)
        lines += _params_table(command.params, ctx, arguments=False)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    page = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != page:
            print(f"{PAGE} differs from the CLI; run `{REFRESH}` to refresh it", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
