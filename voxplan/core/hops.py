"""The call path as data: what each provider says about where a call goes next, and what a walk found.

A provider reads objects of its own kinds (live ones from a refresh, desired ones from the stack, the ones
state recorded) and declares `Node`s: a Wavix number, a Vapi credential, an assistant. A node's `Link`s say
where a call goes from it: to another node by key, or to a destination (`sip:…`, `tel:+…`) that some
provider's `Resolver` recognises (a Vapi credential named by a URI host, a carrier number dialled on the
PSTN, an OpenAI project). A link nobody resolves leaves the accounts voxplan reads (a PBX, a mobile phone).

The walker (voxplan.callpath) follows the links from a number and records each hop as a `Step`: `ok`, or
`broken` with the reason a real call would give. Nothing here knows a vendor or sends a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Objects = Mapping[str, Mapping[str, Mapping[str, Any]]]  # kind -> id -> body (live, desired or recorded)

OK, BROKEN = "ok", "broken"
NUMBER_PLACEHOLDER = "{number}"  # in a link's uri: the number the call was dialled as (filled by the walker)


def node_key(kind: str, ident: str) -> str:
    return f"{kind}#{ident}"


@dataclass(frozen=True, slots=True)
class Link:
    """Where a call goes from a node. Exactly one of `to` (a node key) and `uri` (a destination to resolve)."""

    label: str  # "routes to", "answered by", "tool", "transfers to", …
    to: str = ""
    uri: str = ""
    missing: str = ""  # `to` names no node: why the call stops there (e.g. "assistant X does not exist")
    sources: tuple[str, ...] = ()  # the signalling IPs this leg arrives from (a carrier's gateways)
    outbound: bool = False  # a new leg placed from the number the call arrived on (a transfer to a phone number)


@dataclass(frozen=True, slots=True)
class Node:
    key: str
    kind: str
    id: str
    label: str
    links: tuple[Link, ...] = ()
    problem: str = ""  # why a call stops here; "" when it goes on (or is answered)
    number: str = ""  # the phone number (E.164) or SIP URI this node is, if it is one
    rank: int = 0  # of the nodes that are one number, a call reaches the lowest rank first (carrier 0)
    answers: bool = False  # a call is answered here (an assistant, an agent, a server)
    dials_out: str = ""  # for a number: "" when it can place an outbound leg, else why not
    address: str = ""  # the stack address, when the node came from the stack or state
    before: tuple[str, ...] = ()  # nodes a call passes before this one when it starts here (a BYO number's
    # credential, which its calls arrive through when no carrier of the accounts comes first)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a provider makes of a destination: the hops it passes (node keys, in order), and, when the call
    stops after them, why, naming the hop that is missing (`kind`, `id`). `made`: nodes only the destination
    names (an OpenAI project is nothing but the user part of a URI), which the keys may name."""

    keys: tuple[str, ...] = ()
    problem: str = ""
    kind: str = ""
    id: str = ""
    made: tuple[Node, ...] = ()


Resolver = Callable[[str, Link], "Resolved | None"]  # (destination, the link) -> None when not this provider's


@dataclass(frozen=True)
class HopSet:
    """One provider's part of the graph."""

    nodes: tuple[Node, ...] = ()
    resolvers: tuple[Resolver, ...] = ()


@dataclass(frozen=True)
class HopContext:
    """What a provider builds its hops from: objects by kind, and the stack (for what only it says, e.g. which
    agent `voxplan serve` answers a number with), which may be absent."""

    objects: Objects
    stack: Any = None  # voxplan.stack.model.Stack | None
    addresses: Mapping[str, str] = field(default_factory=dict)  # node key -> stack address, where known

    def of(self, kind: str) -> Mapping[str, Mapping[str, Any]]:
        return self.objects.get(kind) or {}


@dataclass(frozen=True)
class HopGraph:
    nodes: Mapping[str, Node]
    resolvers: tuple[Resolver, ...] = ()
    addresses: Mapping[str, str] = field(default_factory=dict)  # node key -> stack address, where known

    @classmethod
    def join(cls, sets: Iterable[HopSet]) -> HopGraph:
        nodes: dict[str, Node] = {}
        resolvers: list[Resolver] = []
        for s in sets:
            nodes.update((n.key, n) for n in s.nodes)
            resolvers += s.resolvers
        return cls(nodes, tuple(resolvers))

    def nodes_of(self, number: str) -> list[Node]:
        """The nodes that are `number`, lowest rank first."""
        return sorted((n for n in self.nodes.values() if n.number == number), key=lambda n: n.rank)

    def numbers(self) -> dict[str, Node]:
        """Each number the graph holds -> the node a call to it reaches first (the lowest rank)."""
        found: dict[str, Node] = {}
        for node in self.nodes.values():
            if node.number and (node.number not in found or node.rank < found[node.number].rank):
                found[node.number] = node
        return found


@dataclass(frozen=True, slots=True)
class Step:
    """One hop of a walk, in pre-order: `depth` 0 is the number itself."""

    depth: int
    kind: str
    id: str | None
    label: str
    via: str = ""  # the link that led here
    status: str = OK
    reason: str = ""
    key: str = ""  # the node key ("" for a hop that is missing or outside the accounts)
    address: str = ""  # the stack address of the node, where known
    repeat: bool = False  # shown above already (a loop, or a tool two numbers share): not followed again

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"depth": self.depth, "kind": self.kind, "id": self.id, "label": self.label,
                               "via": self.via or None, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.address:
            out["address"] = self.address
        if self.repeat:
            out["repeat"] = True
        return out


@dataclass(frozen=True, slots=True)
class NumberPath:
    number: str
    steps: tuple[Step, ...]

    @property
    def broken(self) -> Step | None:
        """The first broken hop, in call order (pre-order)."""
        return next((s for s in self.steps if s.status == BROKEN), None)

    @property
    def ok(self) -> bool:
        return self.broken is None

    def edges(self) -> list[tuple[Step, Step]]:
        """(parent, child) pairs of the walk's tree."""
        out: list[tuple[Step, Step]] = []
        stack: list[Step] = []
        for step in self.steps:
            del stack[step.depth:]
            if stack:
                out.append((stack[-1], step))
            stack.append(step)
        return out

    def to_json(self) -> dict[str, Any]:
        broken = self.broken
        return {"number": self.number, "status": OK if broken is None else BROKEN,
                "broken": broken.to_json() if broken else None, "hops": [s.to_json() for s in self.steps]}


@dataclass(frozen=True, slots=True)
class ChangedPath:
    """For a plan: one number's call path in the desired graph, as edges between stack addresses (or
    labels, for hops outside the stack), drawn by the markdown renderer."""

    number: str
    edges: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "edges": [list(e) for e in self.edges]}


def split_uri(uri: str) -> tuple[str, str, str, dict[str, str]]:
    """A destination as (scheme, user, host, params), leniently: a carrier's `user@host` without scheme is a
    SIP URI; `tel:+1…` has no host. The host keeps its case (compare it lower-cased); header fields after
    `?` are dropped (see `uri_headers`)."""
    text = uri.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        scheme, rest = "sip", text
    rest = rest.split("?", 1)[0]
    head, *params = rest.split(";")
    user, at, hostport = head.rpartition("@")
    if not at:
        user, hostport = ("", head) if scheme != "tel" else (head, "")
    host = hostport.split(":", 1)[0] if not hostport.startswith("[") else hostport.split("]", 1)[0] + "]"
    found = {}
    for p in params:
        name, _, value = p.partition("=")
        found[name.lower()] = value
    return scheme.lower(), user, host, found


def uri_headers(uri: str) -> dict[str, str]:
    """The header fields of a SIP URI (RFC 3261 §19.1.1: `sip:u@h?x-first_name=John&x-b=2`), URL-decoded."""
    from urllib.parse import parse_qsl

    _, sep, query = uri.partition("?")
    return dict(parse_qsl(query, keep_blank_values=True)) if sep else {}
