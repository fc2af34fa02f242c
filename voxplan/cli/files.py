"""Commands that write stack files: fmt (the canonical layout) and generate (a stack from the live accounts).
Both write through the one YAML writer (voxplan.stack.writer), which keeps comments."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from voxplan import providers
from voxplan.cli.app import main
from voxplan.cli.common import BACKEND, SANDBOX, context, errors, fail, replace_file
from voxplan.core.errors import StackErrors
from voxplan.stack.loader import parse_yaml, read_stack

STDIN = Path("-")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Write nothing; exit 2 if any file is not in the canonical layout.")
@click.option("--diff", "show_diff", is_flag=True, help="Print the changes as a unified diff.")
@click.option("--recursive", is_flag=True, help="Also look for stacks in subdirectories (not hidden ones).")
def fmt(paths: tuple[Path, ...], check: bool, show_diff: bool, recursive: bool) -> None:
    """Rewrite stack files in the canonical layout, keeping every comment.

    The layout: mappings indented by 2 and a sequence's dash by 2 under its key; flow or block style, key
    order, quotes and comments as written; a comment on its own line indented as the line after it; no
    trailing spaces and at most one blank line in a row. The data never changes (checked on every file).
    A directory means the stack files in it (YAML files whose keys are a stack's); `-` reads standard
    input and writes standard output. Prints each file it changes (with --check: that it would change).
    Exit 0 when nothing needs formatting, 2 with --check when something does, 1 on an error.

    \b
    Example:
      voxplan fmt stacks/
      voxplan fmt --check --diff stacks/prod.yaml
    """
    from voxplan.stack.writer import WriteError, canonical  # ruamel.yaml: only for the commands that write

    failed = changed = False
    for path in _targets(paths or (Path("."),), recursive):
        try:
            if path == STDIN:
                text = sys.stdin.read()
                out = canonical(text, "<stdin>")
                if check:
                    changed |= out != text
                    _diff(show_diff, text, out, "<stdin>")
                else:
                    click.echo(out, nl=False)
                continue
            text, problems = read_stack(path)
            if text is None:
                raise StackErrors(problems)
            out = canonical(text, str(path))
        except StackErrors as exc:
            failed = True
            for d in exc.diagnostics:
                click.echo(str(d), err=True)
            continue
        except WriteError as exc:
            failed = True
            click.echo(f"Error: {exc}", err=True)
            continue
        if out == text:
            continue
        changed = True
        click.echo(str(path))
        _diff(show_diff, text, out, str(path))
        if not check:
            replace_file(path, out)
    if failed:
        sys.exit(1)
    sys.exit(2 if check and changed else 0)


def _diff(show: bool, before: str, after: str, name: str) -> None:
    if show and before != after:
        click.echo("".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                                f"{name} (before)", f"{name} (formatted)")), nl=False)


def _targets(paths: tuple[Path, ...], recursive: bool) -> Iterator[Path]:
    """Files as given; in a directory, the YAML files that are stacks (the `-` stands for stdin)."""
    for path in paths:
        if path != STDIN and path.is_dir():
            found = path.rglob("*") if recursive else path.iterdir()
            for candidate in sorted(found):
                hidden = any(part.startswith(".") and part not in (".", "..") for part in
                             candidate.relative_to(path).parts)
                if candidate.suffix in (".yaml", ".yml") and candidate.is_file() and not hidden \
                        and _is_stack(candidate):
                    yield candidate
        elif path != STDIN and not path.exists():
            fail(f"{path}: no such file or directory")
        else:
            yield path


def _is_stack(path: Path) -> bool:
    """A YAML file whose top level is a mapping of stack keys with a `version:` (var files and other YAML
    in the directory are left alone)."""
    text, _ = read_stack(path)
    if text is None:
        return False
    data, _, _ = parse_yaml(text, str(path))
    known = set(providers.SURFACE.schema["properties"])
    return isinstance(data, dict) and "version" in data and set(data) <= known



@main.command()
@click.option("--carrier", "carriers", multiple=True, metavar="NAME",
              help="Only this carrier's trunks and numbers (repeatable); default: every carrier a key reaches.")
@click.option("--stack", "name", metavar="NAME", help="The stack's name (default: the --out file's name, else "
                                                       "'generated'); its own assistants are the ones marked so.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the stack to FILE (refused if it exists) instead of standard output.")
@click.option("--state", "record", is_flag=True,
              help="Also record every generated resource in the stack's state as imported, so the next plan is "
                   "empty: you vouch that the environment holds the live secrets (fingerprinted, never sent).")
@SANDBOX
@BACKEND
def generate(carriers: tuple[str, ...], name: str | None, out: Path | None, record: bool, sandbox: bool,
             backend: str | None) -> None:
    """Write a stack that declares what the live accounts hold.

    Reads every account the environment's API keys reach (VAPI_API_KEY, WAVIX_API_KEY, …; one refresh):
    trunks with their Vapi credentials, numbers and their routes, tools, assistants, webhooks. References
    are by stack key; secrets are ${env:NAME} placeholders listed at the end, never values; server
    defaults are left out; objects another stack owns are skipped and listed. With --state, set the
    secrets it lists first (run it once without --state to learn their names); the state is where a stack
    file written here keeps it (beside --out, else in this directory), and a --out file that already
    holds exactly this stack is kept.

    \b
    Example:
      voxplan generate --stack support > support.yaml
      voxplan generate --carrier wavix --out wavix.yaml --state && voxplan plan wavix.yaml
    """
    from voxplan import generate as gen

    name = name or (out.stem if out else "generated")
    stack_file = out if out is not None else Path.cwd() / f"{name}.yaml"
    with errors():
        made = gen.generate(context(sandbox, backend=backend), name=name, stack_file=stack_file,
                            carriers=carriers, record=record)
    if out is not None and out.exists() and out.read_bytes() != made.text.encode():
        fail(f"{out} exists and says something else; generate writes a new stack (move it away, or pick another "
             "--out)")
    if out is not None and not out.exists():
        _write_new(out, made.text)
    else:
        click.echo(made.text, nl=False)
    _report(made, out)


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _report(made: object, out: Path | None) -> None:
    from voxplan.generate import Generated

    assert isinstance(made, Generated)
    where = f" to {out}" if out else ""
    click.echo(f"Generated stack {made.name!r}{where}: {made.entries} entries; a plan of it imports "
               f"{len(made.imports)} resource(s).", err=True)
    for line in made.resent:
        click.echo(f"  re-sends {line} (write-only: voxplan cannot read it back; the environment's value is sent)",
                   err=True)
    for line in made.marked:
        click.echo(f"  marks {line} as this stack's", err=True)
    for line in made.published:
        click.echo(f"  publishes {line} to the state backend (serve reads it; no vendor request)", err=True)
    for line in made.other:
        click.echo(f"Warning: the generated stack's plan would also {line}", err=True)
    if made.recorded:
        click.echo(f"Recorded {made.recorded} import(s) in {made.state_at}: the next plan sends nothing.", err=True)
    if made.secrets:
        click.echo("Set before plan and apply: " + ", ".join(made.secrets), err=True)
    if made.skipped:
        click.echo(f"Left out {len(made.skipped)} object(s) (listed at the end of the stack).", err=True)
