"""What `serve` needs from the stack file: where the published agents are (the state backend, its
stack and environment), the OpenAI key and API root, the webhook signing secret(s) and the carrier's
caller secret. Agents and routes are NOT read here: serve answers from what `apply` published."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxplan import workflow
from voxplan.core.context import RunContext
from voxplan.core.errors import PlanError
from voxplan.core.secret import reveal_all
from voxplan.providers.openai import API_URL
from voxplan.state import StateStore

SECRET_ENV = "OPENAI_WEBHOOK_SECRET"  # read when the stack names no webhook_secret (the first apply needs none)


@dataclass(frozen=True)
class Config:
    stack: str
    env: str
    api_key: str = field(default="", repr=False)
    base_url: str = API_URL
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)  # several while a rotation overlaps
    caller_secret: str | None = field(default=None, repr=False)  # what the carrier's caller header must hold


def load_config(path: Path, ctx: RunContext | None = None) -> tuple[Config, StateStore]:
    """Raises StackErrors (located) for an invalid stack, PlanError for one `serve` cannot run with."""
    ctx = ctx or RunContext()
    loaded = workflow.load(path, ctx)
    settings = loaded.stack.provider_settings("openai")
    api_key = _reveal(settings.get("api_key")) or ctx.env.get("OPENAI_API_KEY", "")
    if not api_key:
        raise PlanError("no API key for openai: set providers.openai.api_key: ${env:OPENAI_API_KEY} or export "
                        "OPENAI_API_KEY")
    raw = settings.get("webhook_secret")
    secrets = tuple(s for s in (_reveal(v) for v in (raw if isinstance(raw, list) else [raw])) if s)
    secrets = secrets or tuple(ctx.env.get(SECRET_ENV, "").replace(",", " ").split())
    if not secrets:
        raise PlanError(f"serve needs the webhook's signing secret: export {SECRET_ENV} (several, space-separated, "
                        "while a rotation overlaps) or set providers.openai.webhook_secret; voxplan webhooks rotate "
                        "STACK prints a new one for a webhook voxplan manages")
    config = Config(stack=loaded.stack.name, env=ctx.env_name, api_key=api_key,
                    base_url=ctx.env.get("VOXPLAN_OPENAI_BASE_URL") or str(settings.get("base_url") or API_URL),
                    webhook_secrets=secrets, caller_secret=_reveal(settings.get("caller_secret")) or None)
    return config, loaded.store


def _reveal(value: Any) -> str:
    return str(reveal_all(value) or "")
