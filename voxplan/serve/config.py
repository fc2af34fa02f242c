"""The stack, read once (and again on SIGHUP) into what `serve` needs. Offline: no request is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxplan import providers, workflow
from voxplan.core.context import RunContext
from voxplan.core.errors import PlanError
from voxplan.core.secret import reveal_all
from voxplan.providers.openai import API_URL, DEFAULT_REJECT_STATUS, routed_agents
from voxplan.providers.openai.webhooks import CALL_INCOMING
from voxplan.stack.validate import number_key


@dataclass(frozen=True)
class Config:
    routes: dict[str, str | None]  # E.164 -> agent name (None: routed to OpenAI without an agent)
    agents: dict[str, dict[str, Any]]
    number_headers: tuple[str, ...]  # carrier headers that carry the dialled number, e.g. x-number
    reject_status: int = DEFAULT_REJECT_STATUS
    api_key: str = field(default="", repr=False)
    base_url: str = API_URL
    webhook_secret: str | None = field(default=None, repr=False)  # None: rotate the managed endpoint's
    webhook_urls: tuple[str, ...] = ()  # managed endpoints subscribed to calls


def load_config(path: Path, ctx: RunContext | None = None) -> Config:
    """Raises StackErrors (located) for an invalid stack, PlanError for one `serve` cannot answer."""
    ctx = ctx or RunContext()
    env = ctx.env
    loaded = workflow.load(path, ctx)
    stack = loaded.stack
    settings = stack.provider_settings("openai")
    carrier_map = providers.carriers(providers.platform(stack))
    numbers = {number_key(k): v for k, v in stack.section("numbers").items()}
    headers = providers.number_headers(carrier_map)
    routes = {number_key(k): agent for k, agent in routed_agents(stack)}
    if not routes:
        raise PlanError(f"{path}: no route goes to openai: there is nothing for serve to answer")
    used = sorted({headers[c] for c in (numbers.get(n, {}).get("carrier") for n in routes) if c in headers})
    api_key = _reveal(settings.get("api_key")) or env.get("OPENAI_API_KEY", "")
    if not api_key:
        raise PlanError("no API key for openai: set providers.openai.api_key: ${env:OPENAI_API_KEY} or export "
                        "OPENAI_API_KEY")
    urls = tuple(w["url"] for w in stack.section("webhooks").values() if not w.get("manual")
                 and CALL_INCOMING in (w.get("events") or [CALL_INCOMING]))
    secret = _reveal(settings.get("webhook_secret")) or None
    if secret is None and not urls:
        raise PlanError("serve needs the webhook's signing secret: set providers.openai.webhook_secret: "
                        "${env:OPENAI_WEBHOOK_SECRET}, or declare the webhook under webhooks: and apply it")
    return Config(routes=routes, agents=stack.section("agents"), number_headers=tuple(used),
                  reject_status=int(settings.get("reject_status") or DEFAULT_REJECT_STATUS), api_key=api_key,
                  base_url=env.get("VOXPLAN_OPENAI_BASE_URL") or str(settings.get("base_url") or API_URL),
                  webhook_secret=secret, webhook_urls=urls)


def _reveal(value: Any) -> str:
    return str(reveal_all(value) or "")
