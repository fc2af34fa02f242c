"""Proving the call path: trace, numbers, and (costing money, only when run) call and test.

voxplan.prove and the trace renderers load in the command that runs them, not with the command line:
every `voxplan plan` would otherwise import them first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voxplan import planfile, workflow
from voxplan.cli.app import main
from voxplan.cli.common import BACKEND, ENVIRONMENT, SANDBOX, STACK, colour, context, errors, fail, warn
from voxplan.core.secret import SafeEncoder
from voxplan.stack.telephony import header_name_problem, header_value_problem


@main.command(name="trace")
@STACK
@click.argument("numbers", nargs=-1)
@SANDBOX
@click.option("--format", "fmt", type=click.Choice(["text", "json", "mermaid"]), default="text", show_default=True)
@click.option("--no-color", is_flag=True)
@BACKEND
@ENVIRONMENT
def trace_cmd(stack: Path, numbers: tuple[str, ...], sandbox: bool, fmt: str, no_color: bool, backend: str | None,
              environment: str) -> None:
    """Follow each number through the live accounts, hop by hop: carrier → Vapi credential → phone number →
    assistant → tools → transfer targets (and on), or carrier → OpenAI project → webhook → agent. Reads only
    (the refresh a plan makes); exit 1 names the first broken hop of each number that has one.

    \b
    Example:
      voxplan trace stacks/wavix-vapi.yaml
      voxplan trace stacks/wavix-vapi.yaml +61290597521 --format mermaid
    """
    from voxplan import prove
    from voxplan.render.trace import trace_json, trace_mermaid, trace_text

    with errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        warn(loaded.warnings)
        traced = prove.trace(loaded, numbers)
    if fmt == "json":
        click.echo(json.dumps(trace_json(traced.paths, loaded.stack.name), indent=2, cls=SafeEncoder))
    elif fmt == "mermaid":
        click.echo(trace_mermaid(traced.paths), nl=False)
    else:
        click.echo(trace_text(traced.paths, colour=colour(no_color)), nl=False)
    broken = [p for p in traced.paths if not p.ok]
    for path in broken:
        step = path.broken
        assert step is not None
        click.echo(f"Error: {path.number}: broken at {step.kind} {step.id or step.label}: {step.reason}", err=True)
    sys.exit(1 if broken else 0)


def _headers(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        problem = header_name_problem(name) if sep else None
        if not sep or problem is not None or header_value_problem(value) is not None:
            fail(f"--header {pair!r}: write NAME=VALUE, e.g. x-first_name=John"
                 + (f" ({problem.message})" if problem else ""))
        out[name] = value
    return out


@main.command(name="call")
@STACK
@click.option("--from", "source", required=True, metavar="NUMBER", help="A number of the stack that can call out.")
@click.option("--to", "to", required=True, metavar="NUMBER|SIP-URI", help="E.164 number or sip: URI to call.")
@click.option("--assistant", metavar="KEY", help="The assistant on the calling side (a key of assistants:).")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="A SIP header for the far side (x-first_name=John fills {{first_name}}); SIP URIs only.")
@click.option("--wait", is_flag=True, help="Follow the call until it ends, and say how it ended.")
@SANDBOX
@BACKEND
@ENVIRONMENT
def call_cmd(stack: Path, source: str, to: str, assistant: str | None, headers: tuple[str, ...], wait: bool,
             sandbox: bool, backend: str | None, environment: str) -> None:
    """Place one call through the platform, with the ids from state. A real call: it costs money.

    \b
    Example:
      voxplan call stacks/wavix-vapi.yaml --from +61290597521 --to +14155550100 --wait
      voxplan call stack.yaml --from +61290597521 --to sip:demo@sip.vapi.ai --header x-first_name=John --wait
    """
    from voxplan import prove

    with errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        warn(loaded.warnings)
        record = prove.call(loaded, source, to, assistant=assistant, headers=_headers(headers), wait=wait)
    click.echo(f"call {record.id}: {record.status}" + (f", ended: {record.ended_reason}" if record.ended_reason
                                                        else ""))
    if record.ended_message:
        click.echo(f"  {record.ended_message}")
    sys.exit(1 if wait and record.ended_reason != "customer-ended-call" else 0)


@main.command(name="test")
@STACK
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Call only the numbers a saved plan changes (its blast radius).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@SANDBOX
@BACKEND
@ENVIRONMENT
def test_cmd(stack: Path, plan_file: Path | None, fmt: str, sandbox: bool, backend: str | None,
             environment: str) -> None:
    """Call each routed number from the stack's test caller (tests: {caller: NUMBER}) and check that what
    answered is what the stack declares: the assistant or squad on Vapi, the agent `voxplan serve` accepted
    with. Real calls: they cost money. Exit 1 names each number that failed and the hop that broke.

    \b
    Example:
      voxplan test stacks/wavix-vapi.yaml
      voxplan plan stack.yaml --out plan.bin && voxplan apply plan.bin && voxplan test stack.yaml --plan plan.bin
    """
    from voxplan import prove

    with errors():
        loaded = workflow.load(stack, context(sandbox, backend=backend, environment=environment))
        warn(loaded.warnings)
        numbers: list[str] = []
        if plan_file is not None:
            reviewed, _ = planfile.reviewed(plan_file)
            numbers = sorted({n for c in reviewed.changes for n in c.affects})
            if not numbers:
                click.echo(f"{plan_file}: the plan changes no number's call path; nothing to call.")
                sys.exit(0)
        results = prove.test(loaded, numbers)
    if fmt == "json":
        click.echo(json.dumps({"stack": loaded.stack.name, "numbers": [r.__dict__ for r in results]}, indent=2))
    else:
        for r in results:
            click.echo(f"{r.number}: {r.outcome}" + (f" ({r.detail})" if r.detail else "")
                       + (f" [call {r.call_id}]" if r.call_id else ""))
    failed = [r for r in results if r.outcome == "failed"]
    for r in failed:
        click.echo(f"Error: {r.number}: {r.detail}", err=True)
    sys.exit(1 if failed else 0)


@main.command(name="numbers")
@click.argument("stacks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@SANDBOX
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@BACKEND
@ENVIRONMENT
def numbers_cmd(stacks: tuple[Path, ...], sandbox: bool, fmt: str, backend: str | None, environment: str) -> None:
    """Every number on every account the stacks reach (each carrier's and the platform's): the stack and
    environment that manage it, where it routes, and flags (paid but routed nowhere, routed but managed by no
    stack, bound twice, routing to something that no longer exists). Reads only.

    \b
    Example:
      voxplan numbers stacks/wavix-vapi.yaml stacks/wavix-openai.yaml --format json
    """
    from voxplan import prove

    with errors():
        rows = prove.inventory(stacks, context(sandbox, backend=backend, environment=environment))
    if fmt == "json":
        click.echo(json.dumps({"numbers": [r.to_json() for r in rows]}, indent=2))
        return
    for r in rows:
        managed = ", ".join(r.managed_by) or "no stack"
        click.echo(f"{r.number}  {r.kind} {r.id}  [{managed}]  → {r.routes_to}")
        for flag in r.flags:
            click.echo(f"    ! {flag}")
    flagged = sum(1 for r in rows if r.flags)
    click.echo(f"{len(rows)} number(s) on the accounts, {flagged} flagged.")
