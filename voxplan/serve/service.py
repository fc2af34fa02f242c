"""One running `serve`: the stack's config, the call control, the receiver and its HTTP server, and the
reload that SIGHUP triggers. The CLI only parses arguments, installs signals and runs it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from voxplan.core.context import RunContext
from voxplan.core.errors import PlanError, VoxplanError
from voxplan.providers.openai.calls import ERRORS, CallControl
from voxplan.serve.config import load_config
from voxplan.serve.http import ServeServer, make_server
from voxplan.serve.receiver import Receiver

log = logging.getLogger("voxplan.serve")


class Service:
    def __init__(self, stack: Path, host: str = "127.0.0.1", port: int = 0, ctx: RunContext | None = None):
        """Reads and checks the stack (StackErrors, located) and gets the signing secret (PlanError)."""
        self.stack = stack
        self.ctx = ctx or RunContext()
        config = load_config(stack, self.ctx)
        self.control = CallControl(config.api_key, config.base_url, webhook_secret=config.webhook_secret)
        if config.webhook_secret is None:  # a webhook voxplan manages: its secret is ours, by rotation
            try:
                self.control.webhook_secret = self.control.endpoint_secret(config.webhook_urls[0])
            except ERRORS as exc:  # by class only: an SDK message may quote the request
                raise PlanError(f"cannot get the webhook's signing secret from OpenAI: {type(exc).__name__}"
                                ) from None
        self.receiver = Receiver(config, self.control)
        self.server: ServeServer = make_server(self.receiver, host, port)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reload(self) -> None:
        """Read the stack again; a stack that no longer loads is logged and the running config kept."""
        try:
            fresh = load_config(self.stack, self.ctx)
        except VoxplanError as exc:
            log.error(json.dumps({"event": "reload_failed", "error": str(exc)}))
            return
        if fresh.webhook_secret is not None:  # a dashboard webhook's secret, maybe rotated by hand
            self.control.webhook_secret = fresh.webhook_secret
        self.receiver.reload(fresh)
        log.info(json.dumps({"event": "reloaded", "generation": self.receiver.generation}))

    def close(self) -> None:
        self.server.server_close()
        self.receiver.close()
