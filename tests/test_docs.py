"""The documentation stays true: README.md and docs/ against the real command line.

* every ``ahunt ...`` command line shown (in code blocks and inline code) names a command that
  exists, with options that command has;
* every relative link and image resolves, anchors included;
* docs/cli.md, the command reference, is what ``python docs/cli_reference.py`` writes from the CLI;
* the README stays one short page.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import typer

from ahunt.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GUIDE = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *GUIDE]  # pages that describe ahunt as it is today
ALL_PAGES = [*PAGES, ROOT / "CHANGELOG.md"]  # the changelog's links must resolve too
README_MAX_LINES = 250

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_SRC = re.compile(r"""<(?:img|a)\s[^>]*?(?:src|href)=["']([^"']+)["']""")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_STOP = {"|", "||", "&&", ";", ">", ">>", "2>", "2>&1", "<", "&"}
_OUTPUT_BLOCKS = {"text", "console", "output"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _split_code(text: str):
    """(line number, line, the info string of the fenced code block it is in, or None) for
    every line of a Markdown page (a block without an info string gives "")."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            fence = line.strip()[3:].strip() if fence is None else None
            continue
        yield number, line, fence


# -- command lines -----------------------------------------------------------------------------

def _command_tokens(text: str, *, inline: bool) -> list[str] | None:
    """The tokens of an ``ahunt`` command line, without a prompt, environment variables,
    comments, pipes and redirections; None when the line runs something else."""
    text = text.strip()
    if text.startswith("$ "):
        text = text[2:]
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote: not a command line
        return None
    while tokens and _ENV.match(tokens[0]):
        tokens.pop(0)
    if not tokens or tokens[0] != "ahunt":
        return None
    for i, token in enumerate(tokens):
        if token in _STOP or token.startswith((">", "2>")):
            tokens = tokens[:i]
            break
    if inline:  # `ahunt classes my-hunt [--rename old=new]`: optional parts in brackets
        tokens = [t.strip("[]") for t in tokens if t.strip("[]") and t not in ("...", "…")]
        if tokens == ["ahunt"]:  # the program's (or the method's) name in prose
            return None
    return tokens


def command_lines() -> list[tuple[str, list[str]]]:
    """(where, tokens) for every ``ahunt`` command line of README.md and docs/*.md."""
    found = []
    for page in PAGES:
        pending = ""
        for number, line, fence in _split_code(page.read_text(encoding="utf-8")):
            if fence is not None:
                # In output blocks (text, console) only prompted lines are commands: a table
                # row of `ahunt experiment` starts with the method's name, ahunt.
                if fence in _OUTPUT_BLOCKS and not line.startswith("$ ") and not pending:
                    continue
                if line.rstrip().endswith("\\"):  # a command continued on the next line
                    pending += line.rstrip()[:-1] + " "
                    continue
                line, pending = pending + line, ""
                tokens = _command_tokens(line, inline=False)
                if tokens:
                    found.append((f"{_rel(page)}:{number}", tokens))
            else:
                for span in _CODE_SPAN.findall(line):
                    tokens = _command_tokens(span, inline=True)
                    if tokens:
                        found.append((f"{_rel(page)}:{number} (inline)", tokens))
    return found


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def command_problem(tokens: list[str]) -> str | None:
    """Why ``tokens`` is not a valid ``ahunt`` command line (subcommand, options, argument
    count), or None.  Values are not checked: placeholders such as CONFIG or K are fine."""
    group = typer.main.get_command(app)
    args = tokens[1:]
    if not args or args[0] in ("--help", "--version"):
        return None
    if args[0].startswith("-"):
        return f"{args[0]!r} is not an option of ahunt itself (only --help, --version)"
    name, rest = args[0], args[1:]
    root = group.make_context("ahunt", [], resilient_parsing=True)
    command = group.get_command(root, name)
    if command is None:
        return f"no command {name!r}; the commands are {', '.join(group.list_commands(root))}"
    options = {"--help"}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            options.update(param.opts)
            options.update(param.secondary_opts)
    for token in rest:
        if token == "--":
            break
        if token.startswith("-") and len(token) > 1 and not _is_number(token):
            option = token.split("=", 1)[0]
            if not option.startswith("--"):
                option = option[:2]  # -k3: the short option -k with its value
            if option not in options:
                return f"ahunt {name} has no option {option!r}; it has {', '.join(sorted(options))}"
    if "--help" in rest:
        return None
    ctx = command.make_context(f"ahunt {name}", list(rest), resilient_parsing=True)
    if ctx.args:
        return f"ahunt {name}: unexpected {' '.join(ctx.args)!r} (too many arguments, or an option without its value)"
    return None


COMMANDS = command_lines()


def test_the_pages_show_command_lines():
    assert len(COMMANDS) >= 40, "the command extractor found too few `ahunt ...` lines: is it broken?"


@pytest.mark.parametrize("where, tokens", COMMANDS, ids=[where for where, _ in COMMANDS])
def test_every_command_line_parses_against_the_cli(where, tokens):
    problem = command_problem(tokens)
    assert problem is None, f"{where}: `{shlex.join(tokens)}`: {problem}"


def test_the_checker_catches_mistakes():
    assert command_problem(["ahunt", "hunt", "my-hunt", "--neighbours", "4"]) is None
    assert command_problem(["ahunt", "experiment", "CONFIG", "--trials", "K", "--no-keep-workspaces"]) is None
    assert "no command 'hnut'" in command_problem(["ahunt", "hnut", "my-hunt"])
    assert "no option '--neighbors'" in command_problem(["ahunt", "hunt", "my-hunt", "--neighbors", "4"])
    assert "unexpected" in command_problem(["ahunt", "status", "my-hunt", "extra"])
    assert "unexpected" in command_problem(["ahunt", "export", "my-hunt", "--top"])
    assert _command_tokens("$ OMP_NUM_THREADS=1 ahunt demo --seed 3 | tee log  # note", inline=False) == \
        ["ahunt", "demo", "--seed", "3"]
    assert _command_tokens("ahunt classes my-hunt [--rename old=new]", inline=True) == \
        ["ahunt", "classes", "my-hunt", "--rename", "old=new"]
    assert _command_tokens("python benchmarks/demo_speed.py", inline=False) is None


def test_every_command_appears_in_the_guide():
    """Each command is shown at work somewhere other than the generated reference."""
    group = typer.main.get_command(app)
    shown = {tokens[1] for where, tokens in COMMANDS if len(tokens) > 1 and not where.startswith("docs/cli.md")}
    missing = set(group.list_commands(group.make_context("ahunt", [], resilient_parsing=True))) - shown
    assert not missing, f"commands never shown in README.md or the guide: {', '.join(sorted(missing))}"


def test_files_named_in_command_lines_exist():
    """configs/*.toml, benchmarks/*.py and docs/*.py named in code blocks are in the repository."""
    named = re.compile(r"(?<![\w/.-])((?:configs|benchmarks|docs)/[\w.-]+\.(?:toml|py))\b")
    missing = []
    for page in PAGES:
        for number, line, fence in _split_code(page.read_text(encoding="utf-8")):
            spans = [line] if fence is not None else _CODE_SPAN.findall(line)
            for span in spans:
                missing += [f"{_rel(page)}:{number}: {path}" for path in named.findall(span)
                            if not (ROOT / path).exists()]
    assert not missing, "files named in the docs that do not exist:\n" + "\n".join(missing)


# -- links and images --------------------------------------------------------------------------

def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    for _, line, fence in _split_code(page.read_text(encoding="utf-8")):
        m = None if fence is not None else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = _slug(m.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            if count:
                seen[f"{slug}-{count}"] = 1
    return set(seen)


def links(page: Path):
    """(line number, target) of every link and image outside code; link text may wrap lines."""
    lines = page.read_text(encoding="utf-8").splitlines()
    keep = {number for number, _, fence in _split_code("\n".join(lines)) if fence is None}
    prose = "\n".join(line if number in keep else "" for number, line in enumerate(lines, 1))
    # Code spans blanked out (same length, so positions still give line numbers).
    prose = re.sub(r"`[^`]*`", lambda m: re.sub(r"[^\n]", " ", m.group(0)), prose)
    for pattern in (_LINK, _HTML_SRC):
        for m in pattern.finditer(prose):
            yield prose.count("\n", 0, m.start()) + 1, m.group(1)


def test_every_relative_link_and_image_resolves():
    broken = []
    for page in ALL_PAGES:
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            where = f"{_rel(page)}:{number}: {target}"
            if not file.exists():
                broken.append(f"{where}: no such file")
            elif fragment and file.suffix == ".md" and fragment not in anchors(file):
                broken.append(f"{where}: no heading with anchor #{fragment} in {_rel(file)}")
            elif file.suffix == ".png" and file.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
                broken.append(f"{where}: not a PNG")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_checker_finds_links():
    found = [target for _, target in links(README)]
    assert any(t.endswith(".png") for t in found) and any(t.startswith("docs/") for t in found)
    assert _slug("Survey scale and Dask") == "survey-scale-and-dask"
    assert _slug("`ahunt init`") == "ahunt-init"


def test_every_guide_page_is_linked_from_the_guide_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for _, target in links(ROOT / "docs" / "index.md")}
    missing = [page.name for page in GUIDE if page.name != "index.md" and page.name not in linked]
    assert index and not missing, f"guide pages not linked from docs/index.md: {', '.join(missing)}"


# -- the generated command reference -----------------------------------------------------------

def _cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_reference_matches_the_cli():
    reference = _cli_reference()
    committed = reference.PAGE.read_text(encoding="utf-8") if reference.PAGE.exists() else ""
    assert committed == reference.render(), (
        f"docs/cli.md differs from the command line's options and help; run `{reference.REFRESH}` "
        "and commit docs/cli.md"
    )


def test_the_command_reference_lists_every_option():
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    group = typer.main.get_command(app)
    root = group.make_context("ahunt", [], resilient_parsing=True)
    for name in group.list_commands(root):
        assert f"## ahunt {name}\n" in page
        for param in group.get_command(root, name).params:
            if getattr(param, "param_type_name", "") == "option" and not getattr(param, "hidden", False):
                assert f"`{param.opts[0]}`" in page, f"ahunt {name} {param.opts[0]}"


# -- the README --------------------------------------------------------------------------------

def test_the_readme_is_one_short_page():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; keep it to {README_MAX_LINES} and move detail into docs/"
