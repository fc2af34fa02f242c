"""The published agents and routing, as one immutable snapshot, and the decision it gives a call.

A snapshot is built from one read of the state backend's publications (one serial), and a call is
decided against the snapshot current when it arrives: it is answered by one consistent version, even
if `apply` publishes a new one meanwhile. Pure: no I/O here.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voxplan.providers.openai import agents as agent_body
from voxplan.providers.openai.calls import Incoming, caller_number, dialled_number
from voxplan.providers.openai.published import AGENT, DEFAULT_REJECT_STATUS, ROUTING, ROUTING_NAME
from voxplan.state import Publication, Published


@dataclass(frozen=True)
class Decision:
    """What to do with one call: accept with `body`, or reject with `status`. `follow` is the agent whose
    tools are answered on the call's sideband (None: no sideband needed)."""

    action: str  # "accept" | "reject"
    reason: str  # routed | unrouted | no-number | untrusted-caller | no-caller-secret | nothing-published
    number: str | None = None
    agent: str | None = None
    version: int | None = None
    body: dict[str, Any] | None = None
    status: int | None = None
    follow: dict[str, Any] | None = None
    caller: str | None = None  # who called (From's user part), for `voxplan test` to find its own call

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decision:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Answers:
    serial: int = 0
    agents: Mapping[str, Publication] = field(default_factory=dict)
    routing: Mapping[str, Any] | None = None
    by_number: Mapping[str, str] = field(default_factory=dict)  # E.164 -> agent name

    @classmethod
    def of(cls, published: Published) -> Answers:
        agents = published.of_kind(AGENT)
        routing = published.of_kind(ROUTING).get(ROUTING_NAME)
        by_number = {str(n): name for name, pub in agents.items() for n in pub.body.get("numbers") or []}
        return cls(published.serial, agents, dict(routing.body) if routing else None, by_number)

    @property
    def loaded(self) -> bool:
        """Whether apply has published the routing (without it, every call is rejected)."""
        return self.routing is not None

    def versions(self) -> dict[str, int]:
        return {name: pub.version for name, pub in sorted(self.agents.items())}

    def decide(self, incoming: Incoming, caller_secret: str | None) -> Decision:
        return dataclasses.replace(self._decide(incoming, caller_secret), caller=caller_number(incoming.sip_headers))

    def _decide(self, incoming: Incoming, caller_secret: str | None) -> Decision:
        routing = self.routing or {}
        status = int(routing.get("reject_status") or DEFAULT_REJECT_STATUS)
        if self.routing is None:
            return Decision("reject", "nothing-published", status=status)
        header = routing.get("caller_header")
        if header:
            if not caller_secret:
                return Decision("reject", "no-caller-secret", status=status)
            sent = next((v for n, v in incoming.sip_headers if n.lower() == str(header).lower()), "")
            if not hmac.compare_digest(sent.strip().encode(), caller_secret.encode()):
                return Decision("reject", "untrusted-caller", status=status)
        number = dialled_number(incoming.sip_headers, routing.get("number_headers") or ())
        if number is None:
            return Decision("reject", "no-number", status=status)
        name = self.by_number.get(number)
        pub = self.agents.get(name) if name else None
        if pub is None:
            return Decision("reject", "unrouted", number=number, status=status)
        follow = pub.body if agent_body.tools_of(pub.body) else None
        return Decision("accept", "routed", number=number, agent=name, version=pub.version,
                        body=agent_body.accept_body(pub.body), follow=follow)
