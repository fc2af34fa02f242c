"""How a call crosses OpenAI Realtime SIP (voxplan.core.hops): a carrier sends it to
`<project>@sip.api.openai.com;transport=tls`; OpenAI announces it (`realtime.call.incoming`) to the project's
webhook endpoints subscribed to that event; `voxplan serve` behind the endpoint accepts it with the agent the
number routes to, or rejects it (reference/openai-sip.md).

Which agent a number routes to is the stack's (`routes:` and `agents:`): OpenAI holds no object for it. The
webhook endpoints are those the API key's project has; whether that is the project the URI names cannot be
read (OpenAI's API shows a key no project id), so a URI naming another project is not caught here."""

from __future__ import annotations

from typing import Any

from voxplan.core.hops import NUMBER_PLACEHOLDER, HopContext, HopSet, Link, Node, Resolved, node_key, split_uri
from voxplan.providers.openai.agents import refer_target
from voxplan.providers.openai.webhooks import CALL_INCOMING, WEBHOOK_ENDPOINT
from voxplan.stack.validate import number_key

AGENT, PROJECT = "openai.agent", "openai.project"
HOSTS = ("sip.api.openai.com", "sip-eu.api.openai.com")
AGENT_SCHEME = "openai-agent:"  # a link from a webhook endpoint to whatever answers the dialled number


def hops(ctx: HopContext) -> HopSet:
    endpoints = ctx.of(WEBHOOK_ENDPOINT)
    subscribed = [eid for eid, e in endpoints.items() if CALL_INCOMING in (e.get("event_types") or [])]
    routes, agents = _routing(ctx.stack)
    nodes = [Node(node_key(WEBHOOK_ENDPOINT, eid), WEBHOOK_ENDPOINT, eid, f"webhook {e.get('url') or eid}",
                  (Link("announces to", uri=f"{AGENT_SCHEME}{NUMBER_PLACEHOLDER}"),))
             for eid, e in endpoints.items() if eid in subscribed]
    nodes += [Node(node_key(AGENT, name), AGENT, name, f"agent {name} (accepted by voxplan serve)",
                   tuple(Link("transfers to", uri=refer_target(str(t["to"]))) for t in spec.get("transfer") or []
                         if isinstance(t, dict) and t.get("to")), answers=True)
              for name, spec in agents.items()]

    def resolve(uri: str, link: Link) -> Resolved | None:
        if uri.startswith(AGENT_SCHEME):
            number = uri.removeprefix(AGENT_SCHEME)
            agent = routes.get(number)
            if agent is None:
                return Resolved(problem=f"no agent answers {number}: voxplan serve rejects the call (603 by default)",
                                kind=AGENT, id=number)
            if agent not in agents:
                return Resolved(problem=f"the route names agent {agent}, which the stack does not declare",
                                kind=AGENT, id=agent)
            return Resolved((node_key(AGENT, agent),))
        scheme, user, host, params = split_uri(uri)
        if scheme == "tel" or host.lower() not in HOSTS:
            return None
        if params.get("transport", "").lower() != "tls":
            return Resolved(problem="OpenAI takes SIP over TLS only, and this destination has no ;transport=tls",
                            kind=PROJECT, id=user)
        project = Node(node_key(PROJECT, user), PROJECT, user, f"project {user} (Realtime SIP, {host})")
        if not subscribed:
            return Resolved((project.key,), f"no webhook endpoint subscribes to {CALL_INCOMING}: OpenAI cannot "
                            "announce the call, so nothing accepts it", kind=WEBHOOK_ENDPOINT, id="", made=(project,))
        return Resolved((project.key, node_key(WEBHOOK_ENDPOINT, subscribed[0])), made=(project,))

    return HopSet(tuple(nodes), (resolve,))


def _routing(stack: Any) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """number -> agent name for every OpenAI route with an agent, and the agents declared."""
    if stack is None:
        return {}, {}
    routes = {number_key(k): str(r["agent"]) for k, r in stack.section("routes").items()
              if isinstance(r, dict) and "openai" in r and r.get("agent")}
    return routes, {k: v for k, v in stack.section("agents").items() if isinstance(v, dict)}
