"""`voxplan fmt`: the canonical layout, every comment kept, the data never changed, idempotent; and the
pre-commit hook that checks it."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from tests.conftest import ROOT, STACKS
from voxplan.cli import main
from voxplan.stack.loader import parse_yaml
from voxplan.stack.writer import canonical

EXAMPLES = sorted(STACKS.glob("*.yaml"))


def fmt(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["fmt", *args], input=input, catch_exceptions=False)


def comments(text: str) -> list[str]:
    """Every comment of a YAML text, in order, as its words (what a reader of the file sees)."""
    out = []
    for line in text.splitlines():
        if "#" in line:
            # a '#' that starts a comment: at the line start or after a space, outside quotes
            for match in re.finditer(r"(?:^|\s)(#.*)$", line):
                head = line[: match.start(1)]
                if head.count('"') % 2 == 0 and head.count("'") % 2 == 0:
                    out.append(" ".join(match.group(1).split()))
                    break
    return out


def unaligned(text: str) -> str:
    """`text` with the spaces before each end-of-line comment made one: fmt keeps a comment's column as
    written (so aligned comments stay aligned), which a re-indented copy moves."""
    return re.sub(r"(\S) +#", r"\1 #", text)


def messy(text: str) -> str:
    """The same stack as someone might type it: 4-space indents, dashes flush with their key, padded flow
    collections, trailing spaces, runs of blank lines, a document marker."""
    y = YAML()
    y.indent(mapping=4, sequence=4, offset=0)
    y.width = 4096
    y.preserve_quotes = True
    out = io.StringIO()
    y.dump(y.load(text), out)
    lines = []
    for line in out.getvalue().splitlines():
        line = line.replace("{", "{ ").replace("}", " }") if "${" not in line and "{{" not in line else line
        lines.append(line + "   " if line.strip() else line)
    return "---\n\n" + "\n".join(lines).replace("\n\n", "\n\n\n") + "\n\n\n"


@pytest.mark.parametrize("stack", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_already_canonical(stack: Path) -> None:
    """The examples are the canonical layout: fmt --check passes on them and changes nothing."""
    result = fmt("--check", str(stack))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


@pytest.mark.parametrize("stack", EXAMPLES, ids=lambda p: p.name)
def test_a_messy_copy_of_every_example_comes_back_with_every_comment(stack: Path, tmp_path: Path) -> None:
    text = stack.read_text()
    untidy = messy(text)
    assert untidy != text and comments(untidy) == comments(text)
    copy = tmp_path / stack.name
    copy.write_text(untidy)
    check = fmt("--check", "--diff", str(copy))
    assert check.exit_code == 2 and check.stdout.startswith(f"{copy}\n") and "+++" in check.stdout
    assert copy.read_text() == untidy  # --check writes nothing
    result = fmt(str(copy))
    assert result.exit_code == 0 and result.stdout == f"{copy}\n"
    formatted = copy.read_text()
    assert comments(formatted) == comments(text)  # every comment, in order
    assert unaligned(formatted) == unaligned(text)  # the canonical layout is the examples' own
    assert fmt("--check", str(copy)).exit_code == 0  # idempotent


TRICKY = """\
# plain scalars keep the text written: YAML 1.1 and 1.2 read these differently
version: 1
stack: tricky
numbers:
  +61290597521: {carrier: byo, trunk: pbx}    # a plain E.164 key stays E.164
trunks:
  pbx:
    carrier: byo
    gateways: [{ip: 203.0.113.10, port: 05060}]
    auth: {username: yes, password: ~}
    tech_prefix: 0x1F
    sip_diversion_header: 12:30
    name: on
assistants:
  a:
    first_message: >-
      Folded text
      keeps its style.
    model:
      provider: openai
      model: gpt-4o
      system: |
        Line one.

          Indented, after a blank line.
    metadata: {a: "quoted", b: 'single', c: plain, d: 1.50, e: -0, f: +1}
"""


def test_plain_scalars_keep_their_text_and_the_data_its_types() -> None:
    out = canonical(TRICKY)
    assert out == TRICKY
    assert parse_yaml(out, "x")[0] == parse_yaml(TRICKY, "x")[0]
    spaced = TRICKY.replace("  +6129", "    +6129").replace("{carrier: byo, trunk: pbx}",
                                                         "{ carrier: byo , trunk: pbx }")
    assert unaligned(canonical(spaced)) == unaligned(TRICKY)


def test_comments_everywhere_stay_and_own_line_comments_follow_their_line(tmp_path: Path) -> None:
    text = ("# top\nversion: 1   # the format\n\n\n# before trunks\ntrunks:\n    # about pbx\n    pbx:\n"
            "        carrier: byo   # byo\n        gateways:\n        - ip: 203.0.113.10   # first\n"
            "          # between items\n        - ip: 203.0.113.11\n        auth: {username: u, password: p}\n"
            "# the end\n")
    out = canonical(text)
    assert comments(out) == comments(text)
    assert unaligned(out) == unaligned(
                   "# top\nversion: 1   # the format\n\n# before trunks\ntrunks:\n  # about pbx\n  pbx:\n"
                   "    carrier: byo       # byo\n    gateways:\n      - ip: 203.0.113.10       # first\n"
                   "      # between items\n      - ip: 203.0.113.11\n    auth: {username: u, password: p}\n"
                   "# the end\n")
    assert canonical(out) == out


def test_what_the_loader_refuses_is_a_located_error_and_nothing_is_written(tmp_path: Path) -> None:
    cases = {
        "syntax.yaml": "version: 1\ntrunks: {a: [\n",
        "dup.yaml": "version: 1\nstack: a\nstack: b\n",
        "tag.yaml": "version: 1\nstack: !!python/name:os.system x\n",
        "bomb.yaml": "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = fmt(str(path))
        assert result.exit_code == 1, (name, result.output)
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", result.stderr), (name, result.stderr)
        assert "Traceback" not in result.output
        assert path.read_text() == text


def test_stdin_to_stdout_and_check_exit_codes() -> None:
    result = fmt("-", input="version:   1\nstack:  s\n")
    assert result.exit_code == 0 and result.stdout == "version: 1\nstack: s\n"
    assert fmt("--check", "-", input="version: 1\n").exit_code == 0
    assert fmt("--check", "-", input="version:  1\n").exit_code == 2
    bad = fmt("-", input="a: [\n")
    assert bad.exit_code == 1 and bad.stderr.startswith("<stdin>:2:1: YAML syntax error")


def test_a_directory_means_its_stack_files_only(tmp_path: Path) -> None:
    (tmp_path / "prod.yaml").write_text("version:  1\n")
    (tmp_path / "prod.vars").mkdir()
    (tmp_path / "prod.vars" / "eu.yaml").write_text("greeting:   hi\n")
    (tmp_path / "compose.yml").write_text("services:   {}\n")  # not a stack: left alone
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.yaml").write_text("version:  1\n")
    mode = 0o640
    (tmp_path / "prod.yaml").chmod(mode)
    result = fmt(str(tmp_path))
    assert result.exit_code == 0 and result.stdout == f"{tmp_path / 'prod.yaml'}\n"
    assert (tmp_path / "prod.yaml").read_text() == "version: 1\n"
    assert (tmp_path / "prod.yaml").stat().st_mode & 0o777 == mode
    assert (tmp_path / "compose.yml").read_text() == "services:   {}\n"
    assert (tmp_path / "sub" / "other.yaml").read_text() == "version:  1\n"
    assert fmt("--recursive", str(tmp_path)).stdout == f"{tmp_path / 'sub' / 'other.yaml'}\n"
    missing = fmt(str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_the_pre_commit_hooks_run_on_the_examples() -> None:
    """Each hook's entry, run as pre-commit runs it (the entry, then the matching files), passes on the
    examples; the fmt hook fails on a file that is not in the canonical layout."""
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) >= {"voxplan-validate", "voxplan-fmt"}
    hook = hooks["voxplan-fmt"]
    entry = shlex.split(hook["entry"])
    assert entry[:3] == ["voxplan", "fmt", "--check"]
    files = [str(p.relative_to(ROOT)) for p in EXAMPLES if re.search(hook["files"], str(p.relative_to(ROOT)))]
    assert len(files) == len(EXAMPLES)
    runner = CliRunner()
    result = runner.invoke(main, entry[1:] + [str(ROOT / f) for f in files], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_the_fmt_hook_fails_on_an_untidy_stack(tmp_path: Path) -> None:
    hook = next(h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()) if h["id"] == "voxplan-fmt")
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\nstack:    s\n")
    result = CliRunner().invoke(main, shlex.split(hook["entry"])[1:] + [str(path)], catch_exceptions=False)
    assert result.exit_code == 2 and "-stack:    s" in result.stdout and "+stack: s" in result.stdout


def test_a_single_entry_mapping_in_a_flow_sequence_keeps_its_braces() -> None:
    """fmt wrote a squad's `members: [{assistant: a}]` as `[assistant: a]`: the same YAML, but not what anyone
    writes or expects in a review (found by review)."""
    text = "version: 1\nstack: f\nsquads:\n  desk: {members: [{assistant: a}, {assistant: b, handoff: [a]}]}\n"
    assert canonical(text) == text
