"""The core workflow: plan, apply, show a saved plan, drift."""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from voxplan import planfile, workflow
from voxplan.cli.app import main
from voxplan.cli.common import (
    BACKEND,
    ENVIRONMENT,
    FORMAT,
    JSON_LINES,
    LOCK_TIMEOUT,
    REFRESH_ONLY,
    REPLACE,
    SANDBOX,
    STACK,
    TARGET,
    colour,
    context,
    errors,
    fail,
    loaded_stack,
    render,
    replace_file,
    warn,
)
from voxplan.core.context import RunContext
from voxplan.core.plan import Action, Plan
from voxplan.core.secret import SafeEncoder
from voxplan.render import FORMATS, DriftItem, events, render_text
from voxplan.stack.loader import peek


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
@click.option("--destroy", "destroying", is_flag=True,
              help="Plan to destroy everything in state, as voxplan destroy would (Terraform's plan -destroy).")
@JSON_LINES
@BACKEND
@ENVIRONMENT
@click.option("--lock", type=click.BOOL, default=True, show_default=True, metavar="BOOL",
              help="Hold the state lock while planning; --lock=false for read-only jobs.")
@LOCK_TIMEOUT
def plan(stack: Path, sandbox: bool, fmt: str, detailed_exitcode: bool, out: Path | None, no_color: bool,
         targets: tuple[str, ...], replace: tuple[str, ...], refresh_only: bool, backend: str | None,
         environment: str, lock: bool, lock_timeout: float, json_lines: bool, destroying: bool) -> None:
    """Refresh live state and show what apply would change.

    \b
    Example:
      voxplan plan --sandbox stacks/byo-trunk.yaml
      voxplan plan --out plan.json --format markdown stacks/prod.yaml > comment.md
    """
    if destroying and (replace or refresh_only):
        fail("--destroy plans to destroy: --replace and --refresh-only do not apply")
    options = workflow.PlanOptions(targets=targets, replace=replace, refresh_only=refresh_only, destroy=destroying)
    with errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        warn(loaded.warnings)
        with workflow.connect(loaded) as provs, (loaded.store.lock(lock_timeout) if lock else nullcontext()):
            warn(provs.warnings)
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
        click.echo(render(the_plan, fmt, no_color), nl=False)
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
@click.option("--allow-purchase", is_flag=True, help="Buy what the plan marks `will be purchased` (it costs money).")
@click.option("--allow-release", is_flag=True, help="Give back the numbers the stack marks release: true.")
def apply(target_file: Path, sandbox: bool, auto_approve: bool, parallelism: int, lock_timeout: float,
          fail_fast: bool, no_color: bool, targets: tuple[str, ...], replace: tuple[str, ...],
          refresh_only: bool, backend: str | None, environment: str, json_lines: bool, allow_purchase: bool,
          allow_release: bool) -> None:
    """Make the live accounts match the stack, or carry out a saved plan exactly.

    A saved plan (from `plan --out`) is applied without a prompt, and refused if the stack, the state or
    the live objects moved since it was made.

    \b
    Example:
      voxplan apply --sandbox --auto-approve stacks/vapi-sip.yaml
      voxplan apply plan.json
    """
    saved = _saved_plan(target_file)
    with errors():
        if saved is not None:
            if targets or replace or refresh_only:
                fail("a saved plan already fixes --target, --replace and --refresh-only")
            stack, sandbox = Path(saved.stack_file), saved.sandbox
            options = workflow.PlanOptions(saved.targets, saved.replace, saved.refresh_only, destroy=saved.destroy)
            chosen = context(environment=environment).env_name
            if (environment or "VOXPLAN_ENV" in os.environ) and chosen != saved.environment:
                fail(f"{target_file} was planned for environment {saved.environment!r}, not {chosen!r}")
            environment = saved.environment
        else:
            stack, options = target_file, workflow.PlanOptions(targets, replace, refresh_only)
    _execute(stack, options, saved, sandbox=sandbox, auto_approve=auto_approve, parallelism=parallelism,
             lock_timeout=lock_timeout, fail_fast=fail_fast, no_color=no_color, backend=backend,
             environment=environment, json_lines=json_lines, allow_purchase=allow_purchase,
             allow_release=allow_release)


def _execute(stack: Path, options: workflow.PlanOptions, saved: planfile.SavedPlan | None, *, sandbox: bool,
             auto_approve: bool, parallelism: int, lock_timeout: float, fail_fast: bool, no_color: bool,
             backend: str | None, environment: str, json_lines: bool, allow_purchase: bool = False,
             allow_release: bool = False) -> None:
    """apply and destroy: lock, plan, show, confirm (`yes`), apply, report; exit 1 on any failure. Nothing is
    bought or released without its flag (destroy never releases: it unroutes)."""
    verb = "destroy" if options.destroy else "apply"
    if json_lines and not (auto_approve or saved is not None):
        fail("--json needs --auto-approve (or a saved plan): a JSON stream cannot be asked")

    def confirm(the_plan: Plan) -> bool:
        if not (auto_approve or saved is not None):
            if not sys.stdin.isatty():
                fail(f"{verb} needs confirmation and stdin is not a terminal: pass --auto-approve")
            if not _approved(options.destroy):
                return False
        return True

    with errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        warn(loaded.warnings)
        with workflow.connect(loaded) as provs:
            warn(provs.warnings)
            the_plan, result = workflow.apply(
                loaded, provs, confirm=confirm, parallelism=parallelism, lock_timeout=lock_timeout,
                fail_fast=fail_fast, options=options, saved=saved,
                on_plan=(lambda p: _emit_all(events.planned(p, verb, summary=False))) if json_lines
                else (lambda p: _show_plan(p, no_color)),
                on_event=lambda line: click.echo(events.log_json(line) if json_lines else line),
                on_progress=lambda p: click.echo(events.progress_json(p) if json_lines else events.progress_line(p)),
                allow_purchase=allow_purchase, allow_release=allow_release)
    if result is None:
        click.echo(f"{verb.capitalize()} cancelled.")
        sys.exit(1)
    for line in result.skipped:
        click.echo(line, err=True)
    for line in result.errors:
        click.echo(f"Error: {line}", err=True)
    if json_lines:
        click.echo(events.summary_json(the_plan, verb, ok=result.ok, errors=len(result.errors),
                                       done=len(result.done)))
    if not result.ok:
        click.echo(f"{verb.capitalize()} failed: {len(result.errors)} error(s), {len(result.done)} change(s) made "
                   "and saved in state.", err=True)
        sys.exit(1)
    if json_lines:
        return
    if options.destroy:
        click.echo(f"Destroy complete! {the_plan.to_destroy} destroyed, {the_plan.to_unroute} unrouted (numbers are "
                   "kept on their accounts)." if the_plan.has_changes else "Destroy complete! Nothing to destroy.")
    elif the_plan.has_changes:
        click.echo("Apply complete! " + ("State updated." if the_plan.refresh_only else
                                         the_plan.summary().removeprefix("Plan: ")))


@main.command()
@STACK
@SANDBOX
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 100), default=10, show_default=True)
@LOCK_TIMEOUT
@click.option("--fail-fast", is_flag=True, help="Stop starting new changes after the first failure.")
@click.option("--no-color", is_flag=True)
@TARGET
@JSON_LINES
@BACKEND
@ENVIRONMENT
def destroy(stack: Path, sandbox: bool, auto_approve: bool, parallelism: int, lock_timeout: float, fail_fast: bool,
            no_color: bool, targets: tuple[str, ...], backend: str | None, environment: str,
            json_lines: bool) -> None:
    """Destroy everything the stack's state holds, dependents first, as if the stack declared nothing.

    Shows the plan and asks (only `yes` approves), as Terraform's destroy: answering anything else is the
    preview (`voxplan plan --destroy` shows it without asking). Numbers are never released: each is
    unrouted, as removing it from the stack does. A resource with lifecycle.protect (in the stack or in
    state) stops the run before any request.

    \b
    Example:
      voxplan destroy --sandbox stacks/vapi-sip.yaml
      voxplan destroy --auto-approve --env staging stacks/prod.yaml
      voxplan destroy --target vapi.tool/to-human stacks/prod.yaml
    """
    _execute(stack, workflow.PlanOptions(targets=targets, destroy=True), None, sandbox=sandbox,
             auto_approve=auto_approve, parallelism=parallelism, lock_timeout=lock_timeout, fail_fast=fail_fast,
             no_color=no_color, backend=backend, environment=environment, json_lines=json_lines)


def _emit_all(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def _approved(destroying: bool = False) -> bool:
    """As Terraform: only the word `yes` approves (a bare `y` or Enter does not)."""
    if destroying:
        click.echo("\nDo you really want to destroy all resources?\n  voxplan will destroy all your managed "
                   "resources, as shown above (numbers are unrouted, never released).\n  There is no undo. "
                   "Only 'yes' will be accepted to confirm.\n")
    else:
        click.echo("\nDo you want to perform these actions?\n  voxplan will perform the actions described above.\n"
                   "  Only 'yes' will be accepted to approve.\n")
    return str(click.prompt("  Enter a value", default="", show_default=False)).strip() == "yes"


def _show_plan(the_plan: Plan, no_color: bool) -> None:
    click.echo(render_text(the_plan, colour=colour(no_color)), nl=False)
    for warning in the_plan.warnings:
        click.echo(f"Warning: {warning}", err=True)


def _saved_plan(path: Path) -> planfile.SavedPlan | None:
    """A saved plan is JSON of kind voxplan-saved-plan; anything else is a stack (and read as one, so a
    FIFO, a device or a file that is not UTF-8 gets the stack's one located error, never a hang or a
    traceback here)."""
    head = peek(path, 200).decode("utf-8", errors="replace")
    if '"voxplan-saved-plan"' not in head:
        return None
    with errors():
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
    with errors():
        the_plan, data = planfile.reviewed(plan_file)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, cls=SafeEncoder))
    else:
        click.echo(render(the_plan, fmt, no_color), nl=False)



@main.command()
@click.argument("stacks", nargs=-1, required=True, metavar="STACK... | STACK --adopt [ADDRESS[.FIELD]]...")
@SANDBOX
@FORMAT
@click.option("--parallelism", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--adopt", is_flag=True,
              help="Write the live values of fields changed outside voxplan into the stack file: the fields of "
                   "each ADDRESS[.FIELD] after the stack, or, with none, each one you approve on a terminal.")
@JSON_LINES
@BACKEND
@ENVIRONMENT
def drift(stacks: tuple[str, ...], sandbox: bool, fmt: str, parallelism: int, adopt: bool, backend: str | None,
          environment: str, json_lines: bool) -> None:
    """Refresh many stacks concurrently and report which drifted. Exit 2 if any did, 1 on errors.

    With --adopt, the first argument is the stack and the others name what to adopt: an address
    (vapi.assistant/support) for every field of it changed outside voxplan, or one field
    (wavix.number/+14067704205.destinations). Only those fields change in the stack file, at their place,
    comments and layout kept; a secret is never written (reported instead).

    \b
    Example (nightly cron):
      voxplan drift stacks/*.yaml --format markdown > drift.md
    Example (make a dashboard fix official):
      voxplan drift stacks/support.yaml --adopt vapi.assistant/support && git diff stacks/support.yaml
    """
    if adopt:
        _adopt(Path(stacks[0]), stacks[1:], context(sandbox, backend=backend, environment=environment))
        return
    reports = workflow.drift([Path(s) for s in stacks], context(sandbox, backend=backend, environment=environment),
                             parallelism=parallelism)
    if json_lines:
        for r in reports:
            click.echo(events.drift_json(str(r.file), r.stack, r.plan, r.error))
        click.echo(events.drift_summary_json(len(reports), sum(r.drifted for r in reports),
                                             sum(1 for r in reports if r.error)))
    else:
        items = [DriftItem(str(r.file), r.stack, r.plan, r.error) for r in reports]
        click.echo(FORMATS[fmt].drift(items, colour(False)), nl=False)
        for r in reports:
            if r.error:
                click.echo(f"Error: {r.file}: {r.error}", err=True)
    if any(r.error for r in reports):
        sys.exit(1)
    sys.exit(2 if any(r.drifted for r in reports) else 0)



@main.command()
@STACK
@click.argument("address", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: every address (or ADDRESS) with kind, id and "
                                                     "attributes.")
@BACKEND
@ENVIRONMENT
def output(stack: Path, address: str | None, as_json: bool, backend: str | None, environment: str) -> None:
    """Print remote ids (and, with --json, the attributes the vendors answered) from state, for scripts.
    Reads state only: no request is sent.

    With ADDRESS, only that resource: its id alone (as `terraform output -raw`), or its JSON.

    \b
    Example:
      voxplan output stacks/prod.yaml
      ASSISTANT=$(voxplan output stacks/prod.yaml vapi.assistant/support)
      voxplan output --json --env prod stacks/prod.yaml | jq -r '."vapi.credential/wavix-main".id'
    """
    from voxplan import statetools

    with errors(), loaded_stack(stack, backend, environment) as loaded:
        found = statetools.outputs(loaded)
        where = loaded.store.describe()
    if address is not None:
        if address not in found:
            near = ", ".join(a for a in found if a.partition("/")[0] == address.partition("/")[0])[:200]
            fail(f"{address} is not in the state of {stack}" + (f" (of that kind: {near})" if near else ""))
        click.echo(json.dumps(found[address], indent=2, cls=SafeEncoder) if as_json else found[address]["id"])
        return
    if as_json:
        click.echo(json.dumps(found, indent=2, cls=SafeEncoder))
        return
    if not found:
        click.echo(f"Warning: no resources in state ({where}): apply the stack first.", err=True)
    for addr, entry in found.items():
        click.echo(f"{addr} = {entry['id']}")


def _adopt(stack: Path, wanted: tuple[str, ...], ctx: RunContext) -> None:
    """drift --adopt: the chosen drifted fields, written into the stack file and taken by state as applied
    (voxplan.adopt)."""
    from voxplan import adopt

    if not wanted and not sys.stdin.isatty():
        fail("--adopt without ADDRESS[.FIELD] asks about each drifted field, and stdin is not a terminal: name "
             "what to adopt")
    result = None
    with errors():
        loaded = workflow.load(stack, ctx)
        warn(loaded.warnings)
        with workflow.connect(loaded) as provs:
            state = workflow.load_state(loaded)
            live = workflow.refresh_live(loaded, provs, state)
            the_plan = workflow.plan(loaded, provs, state, live=live)
            for gone in (c.address for c in the_plan.outside if c.action is Action.DELETE):
                click.echo(f"Not adoptable: {gone} was deleted outside voxplan (take it out of the stack, or "
                           "apply to make it again)", err=True)
            found = adopt.drifted(the_plan, state)
            if not found:
                click.echo("Nothing changed outside voxplan that the stack can take.")
                return
            chosen = adopt.select(found, wanted) if wanted else _ask(the_plan, found)
            if not chosen:
                click.echo("Nothing adopted.")
                return
            result = adopt.adopt(loaded, provs, the_plan, state, live, chosen)
            if result.text:
                replace_file(stack, result.text)
                click.echo(f"Adopted into {stack}: " + ", ".join(
                    ".".join(str(p) for p in e.path) for e in result.edits))
                recorded = adopt.record(loaded, result)
                if recorded:
                    click.echo(f"State records the adopted values as applied: {', '.join(recorded)}.")
    assert result is not None
    for line in result.follows if result.text else ():
        click.echo(f"Note: with the stack as adopted, {line} at the next apply", err=True)
    for name, why in result.refused.items():
        click.echo(f"Not adopted: {name}: {why}", err=True)
    if any("secret" not in why for why in result.refused.values()):
        sys.exit(1)


def _ask(the_plan: Plan, found: list[Any]) -> list[Any]:
    """Each drifted field, with its live value, approved one by one (y/N)."""
    shown = {(c.address, f.path): f for c in the_plan.outside for f in c.fields}
    chosen = []
    for d in found:
        f = shown[(d.address, d.path)]
        live = "(sensitive)" if d.secret else json.dumps(f.after, ensure_ascii=False)[:200]
        if click.confirm(f"Adopt {d} = {live}?", default=False):
            chosen.append(d)
    return chosen
