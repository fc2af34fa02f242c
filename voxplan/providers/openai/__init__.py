"""OpenAI Realtime SIP (reference/openai-sip.md).

There is no provisioning API for the SIP side: a project id alone names the carrier's target
(`sip_target`). What the stack declares for OpenAI is a webhook endpoint (`webhooks.py`, a resource like
any other) and agents (`agents.py`: the accept body; `published.py`: the agents and their routing as resources apply
publishes to the state backend, which `voxplan serve` answers from through the SDK, `calls.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from voxplan.core.errors import Diagnostic
from voxplan.core.secret import Secret
from voxplan.providers.base import Carrier, ExpandContext, Provider
from voxplan.providers.http import default_message
from voxplan.providers.openai import agents, hops, published, webhooks
from voxplan.providers.openai.surface import SURFACE
from voxplan.providers.openai.webhooks import WEBHOOK_ENDPOINT, WebhookEndpoint
from voxplan.stack.model import Stack
from voxplan.stack.validate import number_key

if TYPE_CHECKING:
    import httpx

__all__ = ["API_URL", "HOSTS", "PROJECT", "PROVIDER", "WEBHOOK_ENDPOINT", "WebhookEndpoint", "agents", "lint",
           "routed_agents", "sip_target"]

API_URL = "https://api.openai.com"  # the API root, as for every vendor; paths carry the /v1
HOSTS = {"us": "sip.api.openai.com", "eu": "sip-eu.api.openai.com"}
PROJECT = re.compile(r"^proj_[A-Za-z0-9]+$")
DEFAULT_REJECT_STATUS = published.DEFAULT_REJECT_STATUS

def sip_target(project: str, residency: str = "us") -> str:
    """The carrier destination, without `sip:`: TLS signalling is mandatory."""
    return f"{project}@{HOSTS[residency]};transport=tls"

def route_target(route: dict[str, Any]) -> str:
    return sip_target(route["openai"], route.get("residency", "us"))


def route_source(uri: str) -> dict[str, Any] | None:
    """A carrier destination back to its route (the reverse of `route_target`), or None if it is not one."""
    for residency, host in HOSTS.items():
        project, _, rest = uri.removeprefix("sip:").partition("@")
        if rest == f"{host};transport=tls" and PROJECT.match(project):
            return {"openai": project, **({"residency": residency} if residency != "us" else {})}
    return None

def message(response: httpx.Response) -> str:
    """OpenAI's error text: `{"error": {"message": …}}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or "")
    return default_message(response)

def lint(stack: Stack, tls_signalling: Mapping[str, bool | None]) -> Iterator[Diagnostic]:
    """Agents and webhooks, and every OpenAI route: it names a known agent, and its number's carrier can
    signal TLS (`tls_signalling`: carrier -> True, False, or None where that is unconfirmed)."""
    yield from agents.lint(stack)
    yield from webhooks.lint(stack)
    secret = stack.provider_settings("openai").get("webhook_secret")
    if isinstance(secret, Secret) and secret.origin == "literal":
        yield Diagnostic(stack.source.at(("providers", "openai", "webhook_secret")),
                         "providers.openai.webhook_secret is written literally in the stack",
                         hint="use ${env:OPENAI_WEBHOOK_SECRET} or ${file:PATH}")
    answered = bool(stack.section("agents") or stack.section("webhooks"))  # i.e. voxplan serve answers
    numbers: dict[str, Any] | None = None  # keyed at the first OpenAI route: most stacks have none
    for key, route in stack.section("routes").items():
        if "openai" not in route:
            if "agent" in route:
                yield Diagnostic(stack.source.at(("routes", key, "agent")),
                                 f"routes.{key}: agent: answers OpenAI routes only", hint="add openai: proj_…")
            continue
        if numbers is None:
            numbers = {number_key(k): v for k, v in stack.section("numbers").items()}
        if answered and not route.get("agent"):
            yield Diagnostic(stack.source.at(("routes", key)), f"routes.{key}: no agent: voxplan serve rejects its "
                             "calls", hint="add agent: NAME", severity="warning")
        carrier = (numbers.get(number_key(key)) or {}).get("carrier")
        tls = tls_signalling.get(carrier or "")
        if tls is False:
            yield Diagnostic(stack.source.at(("routes", key, "openai")),
                             f"routes.{key}: OpenAI takes SIP over TLS only, and a {carrier} number cannot send "
                             "its calls over TLS", hint="route it through a carrier that can (e.g. wavix)")
        elif tls is None and carrier:
            yield Diagnostic(stack.source.at(("routes", key, "openai")),
                             f"routes.{key}: whether {carrier} can send calls over TLS (which OpenAI requires) is "
                             "unconfirmed; place a test call", severity="warning")

def sections(ctx: ExpandContext, carriers: Mapping[str, Carrier]) -> None:
    """The stack sections that are OpenAI's alone: agents and their routing (published to the state
    backend for `voxplan serve`) and webhooks (OpenAI resources)."""
    ctx.diagnostics.extend(lint(ctx.stack, {name: getattr(c, "tls_signalling", None) for name, c in carriers.items()}))
    webhooks.expand(ctx)
    published.expand(ctx, carriers)

def routed_agents(stack: Stack) -> Iterable[tuple[str, str | None]]:
    """(route key, agent name or None) for every OpenAI route."""
    for key, route in stack.section("routes").items():
        if "openai" in route:
            yield key, route.get("agent")

PROVIDER = Provider(name="openai", api_url=API_URL, kinds=(WebhookEndpoint,),
                    published=(published.Agent, published.Routing),
                    adapters=lambda api, stack: webhooks.adapters(api), message=message,
                    route_targets={"openai": route_target}, sections=sections, surface=SURFACE, hops=hops.hops,
                    witness=lambda *a: witness(*a), route_sources=(route_source,), generate=webhooks.generate)


def witness(stack: Stack, env: Mapping[str, str], number: str, caller: str, since: float) -> str | None:
    """What `voxplan serve` answered a call to `number` from `caller` with, since `since`: the agent's name,
    "(rejected)", or None when serve saw no such call. OpenAI's API shows no call after the fact, so serve is
    asked, at the origin of the stack's webhook URL (GET /calls, shown the keyed hash of the API key)."""
    import httpx

    from voxplan.providers.openai.calls import witness_token

    urls = [str(w["url"]) for w in stack.section("webhooks").values()
            if webhooks.CALL_INCOMING in (w.get("events") or [webhooks.CALL_INCOMING])]
    key = stack.provider_settings("openai").get("api_key")
    api_key = key.reveal() if isinstance(key, Secret) else str(key or env.get("OPENAI_API_KEY") or "")
    for url in urls:
        origin = url.split("://", 1)[0] + "://" + url.split("://", 1)[-1].split("/", 1)[0]
        try:
            answer = httpx.get(f"{origin}/calls", params={"number": number, "since": since}, timeout=10,
                               headers={"Authorization": f"Bearer {witness_token(api_key)}"})
        except httpx.HTTPError:
            continue
        if answer.status_code != 200:
            continue
        for decision in reversed(answer.json().get("calls") or []):
            if caller and decision.get("caller") not in (caller, None):
                continue
            return str(decision.get("agent")) if decision.get("outcome") == "accepted" else "(rejected)"
    return None
