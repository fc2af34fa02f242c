"""Proving the call path: trace, numbers, and (costing money, only when run) call and test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voxplan import prove, workflow
from voxplan.cli.app import main
from voxplan.cli.common import BACKEND, ENVIRONMENT, SANDBOX, STACK, colour, context, errors, warn
from voxplan.core.secret import SafeEncoder
from voxplan.render.trace import trace_json, trace_mermaid, trace_text


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
