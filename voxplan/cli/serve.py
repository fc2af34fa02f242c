"""`voxplan serve`: the runtime half of an OpenAI route."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from voxplan.cli.app import main
from voxplan.cli.common import STACK, context, errors
from voxplan.core.secret import RedactingFilter


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
    with errors():
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
