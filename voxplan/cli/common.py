"""What every command shares: its options, the one way to load a stack (and its backend), and how errors
become one line each and an exit code."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from voxplan import workflow
from voxplan.core.context import RunContext
from voxplan.core.errors import Diagnostic, StackErrors, VoxplanError
from voxplan.core.plan import Plan
from voxplan.render import FORMATS

STACK = click.argument("stack", type=click.Path(dir_okay=False, path_type=Path))
SANDBOX = click.option("--sandbox", is_flag=True,
                       help="Run against the embedded emulator (data under .voxplan/sandbox/); unset secrets "
                            "fall back to placeholders.")
BACKEND = click.option("--backend", metavar="URL", default=None,
                       help="State backend, overriding the stack's backend: and VOXPLAN_BACKEND "
                            "(local, or postgresql://user@host/db).")
_VARS_KEY = "voxplan.variables"


def _var(ctx: click.Context, param: click.Parameter, given: tuple[str, ...]) -> None:
    pairs = []
    for item in given:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE (e.g. --var greeting=Hello)")
        pairs.append((name.strip(), value))
    ctx.meta.setdefault(_VARS_KEY, {})["variables"] = tuple(pairs)


def _var_file(ctx: click.Context, param: click.Parameter, given: tuple[Path, ...]) -> None:
    ctx.meta.setdefault(_VARS_KEY, {})["var_files"] = tuple(given)


_VAR = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", expose_value=False, callback=_var,
                    help="Set ${var:NAME} (repeatable; wins over var files and environments:, a later one over "
                         "an earlier one).")
_VAR_FILE = click.option("--var-file", "var_files", multiple=True, metavar="FILE", expose_value=False,
                         callback=_var_file, type=click.Path(dir_okay=False, path_type=Path),
                         help="A YAML mapping of ${var:…} names to values (repeatable; wins over the stack's "
                              "environments: and its <stem>.vars/<env>.yaml, a later file over an earlier one).")
_ENV = click.option("--env", "environment", metavar="NAME", default="",
                    help="Environment (its own state, claims and ${var:…} values); else VOXPLAN_ENV.")


def ENVIRONMENT(command: Callable[..., Any]) -> Callable[..., Any]:  # noqa: N802 - an option, named as the others
    """--env, --var and --var-file: every command that loads a stack takes all three (the vars reach
    `context()` through click's context, so no command threads them by hand)."""
    return _ENV(_VAR(_VAR_FILE(command)))
LOCK_TIMEOUT = click.option("--lock-timeout", type=float, default=0.0, show_default=True,
                            help="Seconds to wait for the state lock.")


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def replace_file(path: Path, text: str) -> None:
    """Write `text` over `path` in one step (a temporary file beside it, renamed), keeping its mode: a stack
    file is never left half-written."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def warn(diags: list[Diagnostic]) -> None:
    for d in diags:
        click.echo(str(d), err=True)


@contextmanager
def errors() -> Iterator[None]:
    """Every voxplan error becomes one line per problem on stderr and exit 1."""
    try:
        yield
    except StackErrors as exc:
        for d in exc.diagnostics:
            click.echo(str(d), err=True)
        n = sum(1 for d in exc.diagnostics if d.severity == "error")
        click.echo(f"{n} error{'s' if n != 1 else ''}; nothing was sent.", err=True)
        sys.exit(1)
    except VoxplanError as exc:
        fail(str(exc))


def colour(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def render(the_plan: Plan, fmt: str, no_color: bool) -> str:
    return FORMATS[fmt].plan(the_plan, colour(no_color))


FORMAT = click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="text", show_default=True)


def context(sandbox: bool = False, *, offline: bool = False, backend: str | None = None,
            environment: str = "") -> RunContext:
    """The run context, built once per command from its options and the environment."""
    given = (click.get_current_context(silent=True) or click.Context(click.Command("-"))).meta.get(_VARS_KEY, {})
    return RunContext(sandbox=sandbox, offline=offline, backend=backend or None, environment=environment,
                      var_files=given.get("var_files", ()), variables=given.get("variables", ()))


TARGET = click.option("--target", "targets", multiple=True, metavar="ADDR",
                      help="Only this resource and what it depends on (repeatable).")
REPLACE = click.option("--replace", "replace", multiple=True, metavar="ADDR",
                       help="Replace this resource even if nothing forces it (repeatable).")
REFRESH_ONLY = click.option("--refresh-only", is_flag=True,
                            help="Only record in state what changed outside voxplan; change nothing remote.")
JSON_LINES = click.option("--json", "json_lines", is_flag=True,
                          help="Stream JSON lines for CI tooling: one event per change (and, on apply, per start and "
                               "finish), then the summary.")



@contextmanager
def loaded_stack(stack: Path, backend: str | None, environment: str) -> Iterator[workflow.Loaded]:
    """The stack, for a command that reads or edits state only (secrets are never needed: placeholders stand
    in), its store closed after."""
    loaded = workflow.load(stack, context(sandbox=True, backend=backend, environment=environment))
    try:
        yield loaded
    finally:
        loaded.store.close()
