"""State commands: import, state list|show|rm|mv|pull|push|unlock, history. None sends a request that
changes anything remote."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voxplan import workflow
from voxplan.cli.app import main
from voxplan.cli.common import BACKEND, ENVIRONMENT, LOCK_TIMEOUT, SANDBOX, STACK, context, errors, fail, loaded_stack
from voxplan.core.secret import SafeEncoder


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
    with errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        with workflow.connect(loaded) as provs:
            click.echo(workflow.import_resource(loaded, provs, address, remote_id, lock_timeout=lock_timeout,
                                                take_over=take_over))



@main.group()
def state() -> None:
    """Inspect and edit a stack's state."""



@state.command(name="list")
@STACK
@BACKEND
@ENVIRONMENT
def state_list(stack: Path, backend: str | None, environment: str) -> None:
    """Addresses in state, with their remote ids."""
    with errors(), loaded_stack(stack, backend, environment) as loaded:
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
    with errors(), loaded_stack(stack, backend, environment) as loaded:
        entry = workflow.load_state(loaded).get(address)
        if entry is None:
            fail(f"{address} is not in state")
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
    with errors(), loaded_stack(stack, backend, environment) as loaded:
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

    with errors(), loaded_stack(stack, backend, environment) as loaded:
        for src, dst in statetools.move(loaded, source, destination, lock_timeout=lock_timeout).items():
            click.echo(f"Moved {src} to {dst}")


@state.command(name="pull")
@STACK
@click.option("--out", "file", type=click.Path(dir_okay=False, path_type=Path),
              help="Instead of printing it, copy the backend's state (postgres) into this local state file.")
@click.option("--force", is_flag=True, help="With --out: overwrite a newer local state of the same lineage.")
@BACKEND
@ENVIRONMENT
@LOCK_TIMEOUT
def state_pull(stack: Path, file: Path | None, force: bool, backend: str | None, environment: str,
               lock_timeout: float) -> None:
    """Print the stack's state as JSON (any backend), as Terraform's state pull; no request is sent.

    With --out, copy it from the backend (postgres) into a local state file instead, refusing a state of
    another stack or another lineage.

    \b
    Example:
      voxplan state pull stacks/prod.yaml > prod.state.json
      voxplan state pull --backend postgresql://ci@db/voxplan stacks/prod.yaml | jq '.resources | keys'
      voxplan state pull --out .voxplan/prod.state.json --backend postgresql://ci@db/voxplan stacks/prod.yaml
    """
    from voxplan import statetools

    with errors(), loaded_stack(stack, backend, environment) as loaded:
        if file is None:
            if force:
                fail("--force goes with --out (printing overwrites nothing)")
            click.echo(json.dumps(statetools.snapshot(loaded), indent=2, cls=SafeEncoder))
            return
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

    with errors(), loaded_stack(stack, backend, environment) as loaded:
        click.echo(statetools.push(loaded, file, force=force, lock_timeout=lock_timeout))


@state.command(name="unlock")
@STACK
@click.option("--force", is_flag=True, help="Remove the lock file even though a process holds it.")
@BACKEND
@ENVIRONMENT
def state_unlock(stack: Path, force: bool, backend: str | None, environment: str) -> None:
    """Remove a stack's lock file (the kernel frees the lock itself when its holder dies)."""
    with errors(), loaded_stack(stack, backend, environment) as loaded:
        click.echo(loaded.store.unlock(force=force))


@main.command(name="force-unlock")
@STACK
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@BACKEND
@ENVIRONMENT
def force_unlock(stack: Path, lock_id: str, force: bool, backend: str | None, environment: str) -> None:
    """Break the state lock whose id is LOCK_ID (shown in the "is locked by" error), and no other.

    As Terraform's force-unlock: for when the holder is gone but its lock is not (a hung runner). With the
    postgres backend the holder's database session is ended, which frees its lock; with the local
    backend the lock file is removed. A lock with another id (it changed hands) is never broken. Only
    `yes` confirms, unless --force.

    \b
    Example:
      voxplan force-unlock stacks/prod.yaml 6f1c2f0e-3c0b-4d6e-9a1e-2b7f0d9c8a41
      voxplan force-unlock --force --env staging --backend postgresql://ci@db/voxplan stacks/prod.yaml LOCK_ID
    """
    with errors(), loaded_stack(stack, backend, environment) as loaded:
        if not force:
            if not sys.stdin.isatty():
                fail("force-unlock needs confirmation and stdin is not a terminal: pass --force")
            click.echo(f"Do you really want to force-unlock {loaded.store.describe()} (lock {lock_id})?\n"
                       "  Breaking a lock whose holder still runs lets two applies write at once.\n"
                       "  Only 'yes' will be accepted to confirm.\n")
            if str(click.prompt("  Enter a value", default="", show_default=False)).strip() != "yes":
                fail("force-unlock cancelled")
        click.echo(loaded.store.force_unlock(lock_id))


@main.command(name="history", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, required=True, metavar="STACK | show STACK N")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--stack-file", is_flag=True,
              help="With show: print the stack as apply N applied it (secrets as their ${env:} forms); a plan of "
                   "it, written beside the stack, shows the way back to apply N.")
@BACKEND
@ENVIRONMENT
def history_cmd(args: tuple[str, ...], fmt: str, stack_file: bool, backend: str | None, environment: str) -> None:
    """Every apply of a stack: when, who, git commit, CI run, summary; `show STACK N`: that apply's changes,
    or with --stack-file the stack it applied.

    \b
    Example:
      voxplan history stacks/prod.yaml
      voxplan history show stacks/prod.yaml 3 --format json
      voxplan history show stacks/prod.yaml 3 --stack-file > stacks/prod.rollback.yaml
      voxplan plan stacks/prod.rollback.yaml     # the way back to apply 3, every vendor at once
    """
    from voxplan import history, statetools

    show = args[0] == "show"
    if (show and len(args) != 3) or (not show and len(args) != 1):
        fail("usage: voxplan history STACK, or voxplan history show STACK N")
    if show and not args[2].isdigit():
        fail(f"N is an apply's number from voxplan history, not {args[2]!r}")
    if stack_file and not show:
        fail("--stack-file goes with show: voxplan history show STACK N --stack-file")
    stack = Path(args[1] if show else args[0])
    with errors(), loaded_stack(stack, backend, environment) as loaded:
        runs = statetools.history(loaded)
    if show:
        run = next((r for r in runs if int(r["n"]) == int(args[2])), None)
        if run is None:
            fail(f"{stack}: no apply number {args[2]} (there are {len(runs)})")
        if stack_file:
            with errors():
                click.echo(history.stack_text(run), nl=False)
            needed = (run.get("stack") or {}).get("env") or []
            if needed:
                click.echo(f"Set before planning it: {', '.join(needed)} (secrets the stack wrote literally)",
                           err=True)
            return
        run = {**run, "stack": bool(run.get("stack"))}
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
        click.echo(json.dumps([{**r, "stack": bool(r.get("stack"))} for r in runs], indent=2))
        return
    if not runs:
        click.echo(f"{stack}: no apply recorded yet.")
    for run in runs:
        commit = (run.get("git_commit") or "")[:10] or "-"
        status = "" if run.get("ok", True) else "  [failed]"
        click.echo(f"{run['n']:>4}  {run.get('started', '?')}  {run.get('user')}@{run.get('host')}  {commit}  "
                   f"{run.get('summary', '')}{status}")


