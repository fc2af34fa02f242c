"""Offline and read-only checks: validate, graph, doctor, and the stack format itself (schema)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from voxplan import providers, workflow
from voxplan.cli.app import main
from voxplan.cli.common import ENVIRONMENT, SANDBOX, STACK, context, errors, warn
from voxplan.core.errors import StackErrors
from voxplan.core.graph import to_dot
from voxplan.stack.environments import validation_targets


@main.command()
@click.argument("stacks", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@SANDBOX
@ENVIRONMENT
@click.option("--all-environments", is_flag=True,
              help="Each stack in every environment it has (environments: and var files); a var file "
                   "<stem>.vars/<env>.yaml stands for its stack in that environment (the pre-commit hook).")
def validate(stacks: tuple[Path, ...], sandbox: bool, environment: str, all_environments: bool) -> None:
    """Check stacks offline: YAML, schema, references, telephony lint. Sends no request.

    \b
    Example:
      voxplan validate stacks/*.yaml
      voxplan validate --all-environments stacks/support.yaml stacks/support.vars/prod.yaml
    """
    failed = False
    for path, env in validation_targets(stacks, all_environments=all_environments, environment=environment):
        where = f" in environment {env}" if all_environments and env else ""
        try:
            loaded = workflow.load(path, context(sandbox, offline=True, environment=env))
        except StackErrors as exc:
            failed = True
            for d in exc.diagnostics:
                click.echo(f"{d}{where}", err=True)
            continue
        warn(loaded.warnings)
        click.echo(f"{path}: valid{where} ({len(loaded.desired)} resources)")
    sys.exit(1 if failed else 0)



@main.command()
@STACK
@SANDBOX
@ENVIRONMENT
def doctor(stack: Path, sandbox: bool, environment: str) -> None:
    """Probe, read-only, each vendor behaviour voxplan assumes but no vendor source settles, and say what
    voxplan does about it. Nothing is changed.

    Example: voxplan doctor stacks/wavix-vapi.yaml
    """
    with errors():
        loaded = workflow.load(stack, context(sandbox, environment=environment))
        warn(loaded.warnings)
        findings = workflow.doctor(loaded)
    for f in findings:
        click.echo(f"[{f.vendor}] {f.assumption}" + (f"  ({f.where})" if f.where else ""))
        click.echo(f"  found:   {f.found}")
        click.echo(f"  voxplan: {f.does}")


@main.command(name="graph")
@STACK
@SANDBOX
@ENVIRONMENT
def graph_cmd(stack: Path, sandbox: bool, environment: str) -> None:
    """Print the dependency graph of the stack's resources (Graphviz DOT)."""
    with errors():
        loaded = workflow.load(stack, context(sandbox, environment=environment))
    click.echo(to_dot({r.address: r.dependencies() for r in loaded.desired}), nl=False)




@main.command(name="schema")
def schema_cmd() -> None:
    """Print the stack format as JSON Schema, assembled from what each provider declares.

    schemas/stack.schema.json in the repository is this output; point your editor at it.

    \b
    Example:
      voxplan schema > schemas/stack.schema.json
    """
    click.echo(json.dumps(providers.SURFACE.schema, indent=2, ensure_ascii=False))
