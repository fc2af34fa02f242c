"""What `voxplan serve` answers calls with, as resources `apply` publishes to the state backend.

`openai.agent/<name>`: one agent's session as the stack declares it (model, voice, instructions, transfer
targets, end-call tool, `session:` extras) and the numbers routed to it. `openai.routing/calls`: how a call
is matched to a number (the carriers' number headers), the SIP status an unrouted call is rejected with,
and the SIP header a carrier adds to prove a call came through it. Both are plain resources: `plan` diffs
them like any prompt, `apply` publishes a new version, `history` lists it, a saved plan applies exactly it;
`serve` reads the published versions (never a stack file) and picks up a new one within seconds.
Nothing here calls OpenAI: there is nothing to provision per agent (reference/openai-sip.md, trap 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxplan.core.model import Resource
from voxplan.providers.base import Carrier, ExpandContext, StoreAdapter
from voxplan.stack.validate import number_key

AGENT = "openai.agent"
ROUTING = "openai.routing"
ROUTING_NAME = "calls"
DEFAULT_REJECT_STATUS = 603  # SIP 603 Decline, OpenAI's own default for reject


class Agent(StoreAdapter):
    kind = AGENT


class Routing(StoreAdapter):
    kind = ROUTING


def expand(ctx: ExpandContext, carriers: Mapping[str, Carrier]) -> None:
    stack = ctx.stack
    numbers: dict[str, Any] | None = None  # keyed at the first OpenAI route: most stacks have none
    routed: dict[str, list[str]] = {}
    headers: set[str] = set()
    for key, route in stack.section("routes").items():
        if "openai" not in route:
            continue
        if numbers is None:
            numbers = {number_key(k): v for k, v in stack.section("numbers").items()}
        number = number_key(key)
        if route.get("agent"):
            routed.setdefault(str(route["agent"]), []).append(number)
        header = getattr(carriers.get(str((numbers.get(number) or {}).get("carrier") or "")), "number_header", None)
        if header:
            headers.add(str(header))
    for name, agent in stack.section("agents").items():
        body: dict[str, Any] = {"name": name, **{k: v for k, v in agent.items() if k != "lifecycle"},
                                "numbers": sorted(routed.get(name, []))}
        ctx.add(Resource(AGENT, name, body, origin=("agents", name)))
    if not stack.section("agents") and not stack.section("webhooks"):
        return  # another receiver answers this project's calls (voxplan serve answers when either is declared)
    settings = stack.provider_settings("openai")
    routing: dict[str, Any] = {"name": ROUTING_NAME, "number_headers": sorted(headers),
                               "reject_status": int(settings.get("reject_status") or DEFAULT_REJECT_STATUS)}
    if settings.get("caller_header"):
        routing["caller_header"] = str(settings["caller_header"])
    ctx.add(Resource(ROUTING, ROUTING_NAME, routing, origin=("providers", "openai")))
