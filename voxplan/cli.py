"""The command line. Thin: parse, call voxplan.workflow, render, choose the exit code.

Exit codes, as Terraform: 0 success / no changes; 1 error; 2 changes present (plan with
--detailed-exitcode).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

import click

from voxplan import __version__, planfile, workflow
from voxplan.core.context import RunContext
from voxplan.core.errors import Diagnostic, StackErrors, VoxplanError
from voxplan.core.graph import to_dot
from voxplan.core.plan import Plan
from voxplan.core.secret import PrivateFileHandler, RedactingFilter, SafeEncoder
from voxplan.render import FORMAT_VERSION as PLAN_FORMAT
from voxplan.render import FORMATS, DriftItem, events, render_text
from voxplan.stack.loader import peek
from voxplan.state import LocalStore, State

STACK = click.argument("stack", type=click.Path(dir_okay=False, path_type=Path))
SANDBOX = click.option("--sandbox", is_flag=True,
                       help="Run against the embedded emulator (data under .voxplan/sandbox/); unset secrets "
                            "fall back to placeholders.")
BACKEND = click.option("--backend", metavar="URL", default=None,
                       help="State backend, overriding the stack's backend: and VOXPLAN_BACKEND "
                            "(local, or postgresql://user@host/db).")
ENVIRONMENT = click.option("--env", "environment", metavar="NAME", default="",
                           help="Environment (its own state, claims and ${var:…} values); else VOXPLAN_ENV.")
LOCK_TIMEOUT = click.option("--lock-timeout", type=float, default=0.0, show_default=True,
                            help="Seconds to wait for the state lock.")


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _warn(diags: list[Diagnostic]) -> None:
    for d in diags:
        click.echo(str(d), err=True)


@contextmanager
def _errors() -> Iterator[None]:
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
        _fail(str(exc))


def _colour(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _render(the_plan: Plan, fmt: str, no_color: bool) -> str:
    return FORMATS[fmt].plan(the_plan, _colour(no_color))


FORMAT = click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="text", show_default=True)


def context(sandbox: bool = False, *, offline: bool = False, backend: str | None = None,
            environment: str = "") -> RunContext:
    """The run context, built once per command from its options and the environment."""
    return RunContext(sandbox=sandbox, offline=offline, backend=backend or None, environment=environment)


class _Voxplan(click.Group):
    """`--version --json` prints the version as JSON (click's version option knows only text)."""

    def main(self, args: Any = None, *rest: Any, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--version" in argv and "--json" in argv:
            click.echo(json.dumps({"voxplan_version": __version__, "plan_format_version": PLAN_FORMAT,
                                   "python": sys.version.split()[0]}))
            sys.exit(0)
        return super().main(args, *rest, **extra)


@click.group(cls=_Voxplan, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voxplan", help="Show the version (with --json: as JSON) and exit.")
@click.option("--debug", is_flag=True, help="Log every API request (secrets and auth headers redacted).")
@click.option("--debug-log", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the --debug log to this file instead of stderr.")
def main(debug: bool, debug_log: Path | None) -> None:
    """Terraform for voice-AI telephony: plan and apply Vapi and carrier SIP setups from one YAML stack.

    \b
    Quick start, no account needed:
      voxplan apply --sandbox --auto-approve stacks/vapi-sip.yaml
    """
    if debug or debug_log:
        handler: logging.Handler = PrivateFileHandler(debug_log) if debug_log else logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        root = logging.getLogger("voxplan")
        for previous in root.handlers:  # an earlier invocation's log file in the same process (tests)
            previous.close()
        root.handlers[:] = [handler]
        root.setLevel(logging.DEBUG)


@main.command()
@click.argument("stacks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@SANDBOX
@ENVIRONMENT
def validate(stacks: tuple[Path, ...], sandbox: bool, environment: str) -> None:
    """Check stacks offline: YAML, schema, references, telephony lint. Sends no request.

    \b
    Example:
      voxplan validate stacks/*.yaml
    """
    failed = False
    for path in stacks:
        try:
            loaded = workflow.load(path, context(sandbox, offline=True, environment=environment))
        except StackErrors as exc:
            failed = True
            for d in exc.diagnostics:
                click.echo(str(d), err=True)
            continue
        _warn(loaded.warnings)
        click.echo(f"{path}: valid ({len(loaded.desired)} resources)")
    sys.exit(1 if failed else 0)


TARGET = click.option("--target", "targets", multiple=True, metavar="ADDR",
                      help="Only this resource and what it depends on (repeatable).")
REPLACE = click.option("--replace", "replace", multiple=True, metavar="ADDR",
                       help="Replace this resource even if nothing forces it (repeatable).")
REFRESH_ONLY = click.option("--refresh-only", is_flag=True,
                            help="Only record in state what changed outside voxplan; change nothing remote.")
JSON_LINES = click.option("--json", "json_lines", is_flag=True,
                          help="Stream JSON lines for CI tooling: one event per change (and, on apply, per start and "
                               "finish), then the summary.")


@main.command()
@STACK
@SANDBOX
@FORMAT
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes, 0 when it has none.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan for `voxplan apply FILE` (holds no secret).")
@click.option("--no-color", is_flag=True, help="No ANSI colour (also NO_COLOR, or when stdout is not a TTY).")
@TARGET
@REPLACE
@REFRESH_ONLY
@JSON_LINES
@BACKEND
@ENVIRONMENT
@click.option("--lock", type=click.BOOL, default=True, show_default=True, metavar="BOOL",
              help="Hold the state lock while planning; --lock=false for read-only jobs.")
@LOCK_TIMEOUT
def plan(stack: Path, sandbox: bool, fmt: str, detailed_exitcode: bool, out: Path | None, no_color: bool,
         targets: tuple[str, ...], replace: tuple[str, ...], refresh_only: bool, backend: str | None,
         environment: str, lock: bool, lock_timeout: float, json_lines: bool) -> None:
    """Refresh live state and show what apply would change.

    \b
    Example:
      voxplan plan --sandbox stacks/byo-trunk.yaml
      voxplan plan --out plan.json --format markdown stacks/prod.yaml > comment.md
    """
    options = workflow.PlanOptions(targets=targets, replace=replace, refresh_only=refresh_only)
    with _errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        _warn(loaded.warnings)
        with workflow.connect(loaded) as provs, (loaded.store.lock(lock_timeout) if lock else nullcontext()):
            _warn(provs.warnings)
            state = workflow.load_state(loaded)
            the_plan = workflow.plan(loaded, provs, state, options=options)
            if out:
                workflow.save_plan(out, loaded, the_plan, state, options)
    for warning in the_plan.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if json_lines:
        for line in events.planned(the_plan, "plan"):
            click.echo(line)
    else:
        click.echo(_render(the_plan, fmt, no_color), nl=False)
    if out:
        click.echo(f"Saved the plan to {out}. Apply exactly it with: voxplan apply {out}", err=True)
    sys.exit(2 if detailed_exitcode and the_plan.has_changes else 0)


@main.command()
@click.argument("target_file", metavar="STACK|PLANFILE", type=click.Path(dir_okay=False, path_type=Path))
@SANDBOX
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 100), default=10, show_default=True)
@LOCK_TIMEOUT
@click.option("--fail-fast", is_flag=True, help="Stop starting new changes after the first failure.")
@click.option("--no-color", is_flag=True)
@TARGET
@REPLACE
@REFRESH_ONLY
@JSON_LINES
@BACKEND
@ENVIRONMENT
def apply(target_file: Path, sandbox: bool, auto_approve: bool, parallelism: int, lock_timeout: float,
          fail_fast: bool, no_color: bool, targets: tuple[str, ...], replace: tuple[str, ...],
          refresh_only: bool, backend: str | None, environment: str, json_lines: bool) -> None:
    """Make the live accounts match the stack, or carry out a saved plan exactly.

    A saved plan (from `plan --out`) is applied without a prompt, and refused if the stack, the state or
    the live objects moved since it was made.

    \b
    Example:
      voxplan apply --sandbox --auto-approve stacks/vapi-sip.yaml
      voxplan apply plan.json
    """
    saved = _saved_plan(target_file)
    if json_lines and not (auto_approve or saved is not None):
        _fail("--json needs --auto-approve (or a saved plan): a JSON stream cannot be asked")

    def confirm(the_plan: Plan) -> bool:
        if not (auto_approve or saved is not None):
            if not sys.stdin.isatty():
                _fail("apply needs confirmation and stdin is not a terminal: pass --auto-approve")
            if not _approved():
                return False
        return True

    with _errors():
        if saved is not None:
            if targets or replace or refresh_only:
                _fail("a saved plan already fixes --target, --replace and --refresh-only")
            stack, sandbox = Path(saved.stack_file), saved.sandbox
            options = workflow.PlanOptions(saved.targets, saved.replace, saved.refresh_only)
            chosen = context(environment=environment).env_name
            if (environment or "VOXPLAN_ENV" in os.environ) and chosen != saved.environment:
                _fail(f"{target_file} was planned for environment {saved.environment!r}, not {chosen!r}")
            environment = saved.environment
        else:
            stack, options = target_file, workflow.PlanOptions(targets, replace, refresh_only)
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        _warn(loaded.warnings)
        with workflow.connect(loaded) as provs:
            _warn(provs.warnings)
            the_plan, result = workflow.apply(
                loaded, provs, confirm=confirm, parallelism=parallelism, lock_timeout=lock_timeout,
                fail_fast=fail_fast, options=options, saved=saved,
                on_plan=(lambda p: _emit_all(events.planned(p, "apply", summary=False))) if json_lines
                else (lambda p: _show_plan(p, no_color)),
                on_event=lambda line: click.echo(events.log_json(line) if json_lines else line),
                on_progress=lambda p: click.echo(events.progress_json(p) if json_lines else events.progress_line(p)))
    if result is None:
        click.echo("Apply cancelled.")
        sys.exit(1)
    for line in result.skipped:
        click.echo(line, err=True)
    for line in result.errors:
        click.echo(f"Error: {line}", err=True)
    if json_lines:
        click.echo(events.summary_json(the_plan, "apply", ok=result.ok, errors=len(result.errors),
                                       done=len(result.done)))
    if not result.ok:
        click.echo(f"Apply failed: {len(result.errors)} error(s), {len(result.done)} change(s) made and saved "
                   "in state.", err=True)
        sys.exit(1)
    if json_lines:
        return
    if the_plan.has_changes:
        click.echo("Apply complete! " + ("State updated." if the_plan.refresh_only else
                                         the_plan.summary().removeprefix("Plan: ")))


def _emit_all(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def _approved() -> bool:
    """As Terraform: only the word `yes` approves (a bare `y` or Enter does not)."""
    click.echo("\nDo you want to perform these actions?\n  voxplan will perform the actions described above.\n"
               "  Only 'yes' will be accepted to approve.\n")
    return str(click.prompt("  Enter a value", default="", show_default=False)).strip() == "yes"


def _show_plan(the_plan: Plan, no_color: bool) -> None:
    click.echo(render_text(the_plan, colour=_colour(no_color)), nl=False)
    for warning in the_plan.warnings:
        click.echo(f"Warning: {warning}", err=True)


def _saved_plan(path: Path) -> planfile.SavedPlan | None:
    """A saved plan is JSON of kind voxplan-saved-plan; anything else is a stack (and read as one, so a
    FIFO, a device or a file that is not UTF-8 gets the stack's one located error, never a hang or a
    traceback here)."""
    head = peek(path, 200).decode("utf-8", errors="replace")
    if '"voxplan-saved-plan"' not in head:
        return None
    with _errors():
        return planfile.read(path)
    return None  # pragma: no cover - _errors exits


@main.command()
@click.argument("plan_file", metavar="PLANFILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FORMAT
@click.option("--no-color", is_flag=True)
def show(plan_file: Path, fmt: str, no_color: bool) -> None:
    """Show a saved plan (from `plan --out`) without applying it. Reads only the file: no stack, state or
    request.

    \b
    Example:
      voxplan plan --out plan.bin stacks/prod.yaml && voxplan show plan.bin --format markdown
    """
    with _errors():
        the_plan, data = planfile.reviewed(plan_file)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, cls=SafeEncoder))
    else:
        click.echo(_render(the_plan, fmt, no_color), nl=False)


@main.command(name="import")
@STACK
@click.argument("address")
@click.argument("remote_id")
@SANDBOX
@LOCK_TIMEOUT
@BACKEND
@ENVIRONMENT
@click.option("--take-over", is_flag=True,
              help="Take the object over even though another stack (or environment) owns it.")
def import_cmd(stack: Path, address: str, remote_id: str, sandbox: bool, lock_timeout: float, backend: str | None,
               environment: str, take_over: bool) -> None:
    """Adopt an existing remote object into state as ADDRESS. Changes nothing remote.

    \b
    Example:
      voxplan import stacks/byo-trunk.yaml vapi.assistant/front-desk 5d3c...-uuid
      voxplan import --take-over stacks/b.yaml wavix.number/+61290597521 7001
    """
    with _errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        with workflow.connect(loaded) as provs:
            click.echo(workflow.import_resource(loaded, provs, address, remote_id, lock_timeout=lock_timeout,
                                                take_over=take_over))


@main.command()
@click.argument("stacks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@SANDBOX
@FORMAT
@click.option("--parallelism", type=click.IntRange(1, 32), default=4, show_default=True)
@JSON_LINES
@BACKEND
@ENVIRONMENT
def drift(stacks: tuple[Path, ...], sandbox: bool, fmt: str, parallelism: int, backend: str | None,
          environment: str, json_lines: bool) -> None:
    """Refresh many stacks concurrently and report which drifted. Exit 2 if any did, 1 on errors.

    \b
    Example (nightly cron):
      voxplan drift stacks/*.yaml --format markdown > drift.md
    """
    reports = workflow.drift(stacks, context(sandbox, backend=backend, environment=environment),
                             parallelism=parallelism)
    if json_lines:
        for r in reports:
            click.echo(events.drift_json(str(r.file), r.stack, r.plan, r.error))
        click.echo(events.drift_summary_json(len(reports), sum(r.drifted for r in reports),
                                             sum(1 for r in reports if r.error)))
    else:
        items = [DriftItem(str(r.file), r.stack, r.plan, r.error) for r in reports]
        click.echo(FORMATS[fmt].drift(items, _colour(False)), nl=False)
        for r in reports:
            if r.error:
                click.echo(f"Error: {r.file}: {r.error}", err=True)
    if any(r.error for r in reports):
        sys.exit(1)
    sys.exit(2 if any(r.drifted for r in reports) else 0)


@main.command()
@STACK
@SANDBOX
def doctor(stack: Path, sandbox: bool) -> None:
    """Probe, read-only, each vendor behaviour voxplan assumes but no vendor source settles, and say what
    voxplan does about it. Nothing is changed.

    Example: voxplan doctor stacks/wavix-vapi.yaml
    """
    with _errors():
        loaded = workflow.load(stack, context(sandbox))
        _warn(loaded.warnings)
        findings = workflow.doctor(loaded)
    for f in findings:
        click.echo(f"[{f.vendor}] {f.assumption}" + (f"  ({f.where})" if f.where else ""))
        click.echo(f"  found:   {f.found}")
        click.echo(f"  voxplan: {f.does}")


@main.command(name="graph")
@STACK
@SANDBOX
def graph_cmd(stack: Path, sandbox: bool) -> None:
    """Print the dependency graph of the stack's resources (Graphviz DOT)."""
    with _errors():
        loaded = workflow.load(stack, context(sandbox))
    click.echo(to_dot({r.address: r.dependencies() for r in loaded.desired}), nl=False)


@main.group()
def state() -> None:
    """Inspect and edit a stack's state."""


def _state_of(stack: Path, backend: str | None = None, environment: str = "") -> tuple[workflow.Loaded, State]:
    loaded = workflow.load(stack, context(sandbox=True, backend=backend, environment=environment))
    return loaded, workflow.load_state(loaded)


@contextmanager
def _loaded(stack: Path, backend: str | None, environment: str) -> Iterator[workflow.Loaded]:
    """The stack, for a state command (secrets never needed: placeholders stand in), its store closed after."""
    loaded = workflow.load(stack, context(sandbox=True, backend=backend, environment=environment))
    try:
        yield loaded
    finally:
        loaded.store.close()


@state.command(name="list")
@STACK
@BACKEND
@ENVIRONMENT
def state_list(stack: Path, backend: str | None, environment: str) -> None:
    """Addresses in state, with their remote ids."""
    with _errors(), _loaded(stack, backend, environment) as loaded:
        st = workflow.load_state(loaded)
    for addr, entry in sorted(st.resources.items()):
        click.echo(f"{addr}\t{entry.id}")


@state.command(name="show")
@STACK
@click.argument("address")
@BACKEND
@ENVIRONMENT
def state_show(stack: Path, address: str, backend: str | None, environment: str) -> None:
    """One state entry as JSON (secrets appear only as fingerprints)."""
    with _errors(), _loaded(stack, backend, environment) as loaded:
        entry = workflow.load_state(loaded).get(address)
        if entry is None:
            _fail(f"{address} is not in state")
    click.echo(json.dumps(entry.to_json(), indent=2, cls=SafeEncoder))


@state.command(name="rm")
@STACK
@click.argument("addresses", nargs=-1, required=True)
@BACKEND
@ENVIRONMENT
@LOCK_TIMEOUT
def state_rm(stack: Path, addresses: tuple[str, ...], backend: str | None, environment: str,
             lock_timeout: float) -> None:
    """Forget resources without deleting them remotely (and give up this stack's claim on them)."""
    with _errors(), _loaded(stack, backend, environment) as loaded:
        for line in workflow.forget(loaded, addresses, lock_timeout=lock_timeout):
            click.echo(line)


@state.command(name="mv")
@STACK
@click.argument("source", metavar="FROM")
@click.argument("destination", metavar="TO")
@BACKEND
@ENVIRONMENT
@LOCK_TIMEOUT
def state_mv(stack: Path, source: str, destination: str, backend: str | None, environment: str,
             lock_timeout: float) -> None:
    """Rename resources in state; nothing remote changes, remote ids stay.

    FROM and TO are addresses (vapi.assistant/a) or stack entries (assistants.a: every resource it
    expands to, e.g. a trunk's carrier objects and its Vapi credential). A `moved:` entry in the stack
    does the same at the next apply.

    \b
    Example:
      voxplan state mv stacks/prod.yaml assistants.front-desk assistants.reception
    """
    from voxplan import statetools

    with _errors(), _loaded(stack, backend, environment) as loaded:
        for src, dst in statetools.move(loaded, source, destination, lock_timeout=lock_timeout).items():
            click.echo(f"Moved {src} to {dst}")


@state.command(name="pull")
@STACK
@click.option("--out", "file", type=click.Path(dir_okay=False, path_type=Path),
              help="Local state file to write (default: the local backend's file for this stack).")
@click.option("--force", is_flag=True, help="Overwrite a newer local state of the same lineage.")
@BACKEND
@ENVIRONMENT
@LOCK_TIMEOUT
def state_pull(stack: Path, file: Path | None, force: bool, backend: str | None, environment: str,
               lock_timeout: float) -> None:
    """Copy the stack's state from its backend (postgres) into a local state file.

    Refuses a state of another stack or another lineage.

    \b
    Example:
      VOXPLAN_BACKEND=postgresql://ci@db/voxplan voxplan state pull stacks/prod.yaml
    """
    from voxplan import statetools

    with _errors(), _loaded(stack, backend, environment) as loaded:
        click.echo(statetools.pull(loaded, file, force=force, lock_timeout=lock_timeout))


@state.command(name="push")
@STACK
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a newer state of the same lineage in the backend.")
@BACKEND
@ENVIRONMENT
@LOCK_TIMEOUT
def state_push(stack: Path, file: Path | None, force: bool, backend: str | None, environment: str,
               lock_timeout: float) -> None:
    """Copy a local state file (default: the local backend's) into the stack's backend, claiming its objects.

    Refuses a state of another stack or another lineage, and objects another stack owns there.

    \b
    Example:
      voxplan state push --backend postgresql://ci@db/voxplan stacks/prod.yaml
    """
    from voxplan import statetools

    with _errors(), _loaded(stack, backend, environment) as loaded:
        click.echo(statetools.push(loaded, file, force=force, lock_timeout=lock_timeout))


@state.command(name="unlock")
@STACK
@click.option("--force", is_flag=True, help="Remove the lock file even though a process holds it.")
def state_unlock(stack: Path, force: bool) -> None:
    """Remove a stack's lock file (the kernel frees the lock itself when its holder dies)."""
    with _errors():
        loaded, _ = _state_of(stack)
        loaded.store.close()
        if not isinstance(loaded.store, LocalStore):
            _fail(f"the {loaded.store.name} backend frees its lock when the holder's session ends: nothing to remove")
        click.echo(loaded.store.unlock(force=force))


@main.command(name="history", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, required=True, metavar="STACK | show STACK N")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@BACKEND
@ENVIRONMENT
def history_cmd(args: tuple[str, ...], fmt: str, backend: str | None, environment: str) -> None:
    """Every apply of a stack: when, who, git commit, CI run, summary; `show STACK N`: that apply's changes.

    \b
    Example:
      voxplan history stacks/prod.yaml
      voxplan history show stacks/prod.yaml 3 --format json
    """
    from voxplan import statetools

    show = args[0] == "show"
    if (show and len(args) != 3) or (not show and len(args) != 1):
        _fail("usage: voxplan history STACK, or voxplan history show STACK N")
    if show and not args[2].isdigit():
        _fail(f"N is an apply's number from voxplan history, not {args[2]!r}")
    stack = Path(args[1] if show else args[0])
    with _errors(), _loaded(stack, backend, environment) as loaded:
        runs = statetools.history(loaded)
    if show:
        run = next((r for r in runs if int(r["n"]) == int(args[2])), None)
        if run is None:
            _fail(f"{stack}: no apply number {args[2]} (there are {len(runs)})")
        if fmt == "json":
            click.echo(json.dumps(run, indent=2))
            return
        click.echo(f"Apply {run['n']}: {run.get('started')} by {run.get('user')}@{run.get('host')}"
                   + (f", commit {run['git_commit']}" if run.get("git_commit") else "")
                   + (f", {run['ci_url']}" if run.get("ci_url") else ""))
        click.echo(run.get("summary", ""))
        for change in run.get("changes") or []:
            what = change["action"] + (" (import)" if change.get("importing") else "") + \
                (f" (moved from {change['moved_from']})" if change.get("moved_from") else "")
            click.echo(f"  {change['outcome']:<13} {what:<10} {change['address']}"
                       + (f" (id {change['remote_id']})" if change.get("remote_id") else ""))
        return
    if fmt == "json":
        click.echo(json.dumps(runs, indent=2))
        return
    if not runs:
        click.echo(f"{stack}: no apply recorded yet.")
    for run in runs:
        commit = (run.get("git_commit") or "")[:10] or "-"
        status = "" if run.get("ok", True) else "  [failed]"
        click.echo(f"{run['n']:>4}  {run.get('started', '?')}  {run.get('user')}@{run.get('host')}  {commit}  "
                   f"{run.get('summary', '')}{status}")


@main.group()
def sandbox() -> None:
    """The local emulator of the vendor APIs."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8787, show_default=True)
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), help="Persist the emulated accounts here.")
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Added to every request.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--fault-kinds", default="429,503,reset", show_default=True,
              help="Comma list of 429, 502, 503, 504, reset (a dropped connection, before or after the work).")
@click.option("--seed", type=int, default=None, help="Seed the fault dice, for repeatable runs.")
def serve(host: str, port: int, data: Path | None, latency_ms: float, fault_rate: float, fault_kinds: str,
          seed: int | None) -> None:
    """Serve the emulators over HTTP: /vapi, /wavix, /didlogic, /cloudonix and /openai under http://HOST:PORT.

    \b
    Example:
      voxplan sandbox serve --port 8787 --data sandbox.json &
      VOXPLAN_VAPI_BASE_URL=http://127.0.0.1:8787/vapi VAPI_API_KEY=any voxplan plan stacks/byo-trunk.yaml
    """
    from voxplan.sandbox import Sandbox
    from voxplan.sandbox.server import make_server

    box = Sandbox(data, latency_ms=latency_ms, fault_rate=fault_rate,
                  fault_kinds=tuple(k.strip() for k in fault_kinds.split(",") if k.strip()), seed=seed)
    server = make_server(box, host, port)
    mounted = " ".join(f"/{name}" for name in box.vendors)
    click.echo(f"voxplan sandbox listening on http://{host}:{server.server_address[1]} ({mounted})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()







def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # leave serve_forever through its own finally


@main.command(name="serve")
@STACK
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen here (0.0.0.0 behind a TLS proxy).")
@click.option("--port", type=int, default=8080, show_default=True)
def serve_cmd(stack: Path, host: str, port: int) -> None:
    """Answer OpenAI Realtime SIP calls as the stack routes them: POST /openai/webhook, GET /healthz.

    Each verified realtime.call.incoming is accepted with the agent of the dialled number, or rejected
    with providers.openai.reject_status (603). The stack is read at start and again on SIGHUP.

    \b
    Example:
      OPENAI_API_KEY=sk-... voxplan serve stacks/wavix-openai.yaml --port 8080
    """
    import signal

    from voxplan.serve import Service

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    logging.getLogger("voxplan.serve").addHandler(handler)
    logging.getLogger("voxplan.serve").setLevel(logging.INFO)
    with _errors():
        service = Service(stack, host, port, context())
    signal.signal(signal.SIGHUP, lambda *_: service.reload())
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo(f"voxplan serve listening on {service.url} (POST /openai/webhook, GET /healthz)", err=True)
    try:
        service.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
