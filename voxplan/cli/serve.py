"""`voxplan serve` (the runtime half of an OpenAI route, as a service) and `voxplan webhooks rotate`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from voxplan import workflow
from voxplan.cli.app import main
from voxplan.cli.common import BACKEND, ENVIRONMENT, STACK, context, errors
from voxplan.core.errors import PlanError


@main.command(name="serve")
@STACK
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen here (0.0.0.0 behind a TLS proxy).")
@click.option("--port", type=int, default=8080, show_default=True)
@BACKEND
@ENVIRONMENT
def serve_cmd(stack: Path, host: str, port: int, backend: str | None, environment: str) -> None:
    """Answer OpenAI Realtime SIP calls with the agents `apply` published: POST /openai/webhook, GET
    /healthz, /readyz, /metrics.

    Each verified realtime.call.incoming is accepted with the published agent of the dialled number, or
    rejected with providers.openai.reject_status (603), before the delivery is acknowledged. A new
    publication is picked up within 2 s, no signal. Run several on one backend: postgres. The stack file
    gives the backend, the API key and providers.openai.webhook_secret (a list while a rotation overlaps).

    \b
    Example:
      OPENAI_API_KEY=sk-... OPENAI_WEBHOOK_SECRET=whsec_... voxplan serve stacks/wavix-openai.yaml --port 8080
    """
    from voxplan.serve import Service
    from voxplan.serve.logs import event, setup

    log = setup()
    try:
        with errors():
            service = Service(stack, host, port, context(backend=backend, environment=environment))
    except KeyboardInterrupt:  # SIGTERM (or Ctrl-C) while it starts: one JSON line, as every other
        event(log, "stopped", reason="signal before it listened")
        sys.exit(143)
    service.run()


@main.group()
def webhooks() -> None:
    """OpenAI webhook endpoints voxplan manages."""


@webhooks.command(name="rotate")
@STACK
@click.argument("name", required=False)
@BACKEND
@ENVIRONMENT
def webhooks_rotate(stack: Path, name: str | None, backend: str | None, environment: str) -> None:
    """Rotate the signing secret of a webhook voxplan manages; the old one stays valid for 24 hours.

    The new secret is printed once, on stdout, for your secret store, and written nowhere. Give it to
    every serve replica (providers.openai.webhook_secret: [new, old] until all have it) within 24 h.

    \b
    Example:
      voxplan webhooks rotate stacks/wavix-openai.yaml | vault kv put secret/voxplan webhook_secret=-
    """
    from voxplan.core.secret import reveal_all
    from voxplan.providers.openai import API_URL, WEBHOOK_ENDPOINT
    from voxplan.providers.openai.calls import ERRORS, CallControl

    with errors():
        loaded = workflow.load(stack, context(backend=backend, environment=environment))
        try:
            state = workflow.load_state(loaded)
        finally:
            loaded.store.close()
        managed = {a.partition("/")[2]: e.id for a, e in state.resources.items() if e.kind == WEBHOOK_ENDPOINT}
        if name is None and len(managed) == 1:
            name = next(iter(managed))
        if name not in managed:
            known = ", ".join(sorted(managed)) or "none: run voxplan apply first"
            raise PlanError(f"{stack}: name the webhook to rotate (managed: {known})")
        settings = loaded.stack.provider_settings("openai")
        key = str(reveal_all(settings.get("api_key")) or os.environ.get("OPENAI_API_KEY", ""))
        if not key:
            raise PlanError("no API key for openai: export OPENAI_API_KEY")
        root = os.environ.get("VOXPLAN_OPENAI_BASE_URL") or str(settings.get("base_url") or API_URL)
        control = CallControl(key, root)
        try:
            secret = control.rotate(managed[name])
        except ERRORS as exc:  # by class only: an SDK message may quote the request
            raise PlanError(f"openai.webhook_endpoint/{name}: rotation failed: {type(exc).__name__}"
                            f"{f' (HTTP {exc.status_code})' if hasattr(exc, 'status_code') else ''}") from None
        finally:
            control.close()
    click.echo(secret)
    click.echo(f"Rotated openai.webhook_endpoint/{name} ({managed[name]}): the old secret stays valid for 24 hours. "
               "The new one above is shown once: put it in providers.openai.webhook_secret of every replica.",
               err=True)
