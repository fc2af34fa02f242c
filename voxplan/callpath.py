"""The call path: the hop graph the providers declare, walked from each number. Pure.

One graph builder for three sources of objects: what a refresh found (`voxplan trace`, `voxplan numbers`),
what the stack wants (a plan's blast radius: which numbers a change reaches) and what state recorded (the
numbers a deleted resource used to reach). The walk is loop-safe: a node already on the path, or already
followed for this number, is shown once more and not followed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from voxplan import providers
from voxplan.core.hops import (
    BROKEN,
    NUMBER_PLACEHOLDER,
    OK,
    ChangedPath,
    HopContext,
    HopGraph,
    Link,
    Node,
    NumberPath,
    Objects,
    Resolved,
    Step,
    node_key,
    split_uri,
)
from voxplan.core.live import Live
from voxplan.core.model import Ref, Resource, base_address, substitute
from voxplan.core.plan import Plan
from voxplan.state import State

MAX_DEPTH = 40  # no real path is this long; a longer one is a loop through fresh nodes (a URI that grows)


# -- objects ---------------------------------------------------------------------------------------------

def live_objects(live: Mapping[str, Live]) -> Objects:
    return {kind: found.by_id for kind, found in live.items()}


def desired_objects(desired: Sequence[Resource]) -> tuple[Objects, dict[str, str]]:
    """The stack's resources as objects keyed by address, each Ref written as the address it names (so a
    Wavix destination reads `[did]@vapi.credential/main.sip.vapi.ai`, and Vapi's resolver finds that
    credential by that id)."""
    objects: dict[str, dict[str, Mapping[str, Any]]] = {}
    addresses: dict[str, str] = {}
    for res in desired:
        body = substitute(res.body, res.ref_paths, _as_address) if res.ref_paths else res.body
        objects.setdefault(res.kind, {})[res.address] = body
        addresses[node_key(res.kind, res.address)] = res.address
    return objects, addresses


def _as_address(ref: Ref) -> Any:
    return ref.render(ref.address)


def state_objects(state: State) -> tuple[Objects, dict[str, str]]:
    """What state recorded as sent, keyed by remote id (ids resolved, as the vendor holds them)."""
    objects: dict[str, dict[str, Mapping[str, Any]]] = {}
    addresses: dict[str, str] = {}
    for addr, entry in state.resources.items():
        if base_address(addr) != addr:
            continue  # a deposed object: on its way out, on no path
        objects.setdefault(entry.kind, {})[entry.id] = entry.sent
        addresses[node_key(entry.kind, entry.id)] = addr
    return objects, addresses


def graph(objects: Objects, *, stack: Any = None, addresses: Mapping[str, str] | None = None) -> HopGraph:
    """Every provider's hops over `objects`, nodes named by their stack address where `addresses` knows it."""
    ctx = HopContext(objects, stack, addresses or {})
    built = HopGraph.join(providers.hop_sets(ctx))
    return HopGraph(built.nodes, built.resolvers, addresses or {})


# -- the walk ----------------------------------------------------------------------------------------------

def trace(graph_: HopGraph, numbers: Iterable[str], carriers: Mapping[str, str] | None = None) -> list[NumberPath]:
    """Each number's path. `carriers`: per number, the provider that holds it (a stack says so): the walk starts
    at that provider's node, and says the number is not on its account when there is none."""
    firsts = graph_.numbers()
    # a number the stack keys by a name (its carrier assigned the number: a free Vapi number) is the node
    # state says that entry is
    named = {(n.address or graph_.addresses.get(n.key, "")).partition("/")[2]: n.number
             for n in graph_.nodes.values() if n.number and (n.address or n.key in graph_.addresses)}
    out = []
    for number in numbers:
        actual = number if number in firsts else named.get(number, number)
        node = firsts.get(actual)
        carrier = (carriers or {}).get(number)
        if carrier and carrier in providers.HOP_PROVIDERS:
            node = next((n for n in graph_.nodes_of(actual) if n.kind.partition(".")[0] == carrier), None)
        if node is None:
            where = f"the {carrier} account" if carrier else "any account voxplan reads"
            out.append(NumberPath(number, (Step(0, "number", None, number, status=BROKEN,
                                                reason=f"not on {where}"),)))
        else:
            path = walk(graph_, node)
            out.append(path if actual == number else dataclasses.replace(path, number=number))
    return out


def walk(graph_: HopGraph, start: Node) -> NumberPath:
    walker = _Walk(graph_)
    depth = 0
    path: tuple[str, ...] = ()
    for key in start.before:  # what the call arrives through, when no carrier hop of the accounts comes first
        node = graph_.nodes.get(key)
        if node is not None:
            walker.steps.append(walker.step(depth, node, "arrives through" if depth else ""))
            walker.followed.add(node.key)
            path = (*path, node.key)
            depth += 1
    walker.emit(depth, start, "arrives at" if depth else "", path, None)
    return NumberPath(start.number, tuple(walker.steps))


class _Walk:
    """One number's walk: its steps so far and the nodes it followed. An object rather than two closures that
    call each other: those made a reference cycle per number, which kept the whole graph alive until the
    collector's next full pass (a plan's blast radius held twice its memory)."""

    __slots__ = ("graph", "steps", "followed")

    def __init__(self, graph_: HopGraph) -> None:
        self.graph = graph_
        self.steps: list[Step] = []
        self.followed: set[str] = set()

    def step(self, depth: int, node: Node, via: str, *, repeat: bool = False) -> Step:
        return _node_step(depth, node, via, repeat=repeat, addresses=self.graph.addresses)

    def emit(self, depth: int, node: Node, via: str, on_path: tuple[str, ...], origin: Node | None) -> None:
        steps = self.steps
        if node.key in on_path or node.key in self.followed or depth > MAX_DEPTH:
            steps.append(self.step(depth, node, via, repeat=True))
            return
        self.followed.add(node.key)
        steps.append(self.step(depth, node, via))
        if node.problem:
            return
        here = node if node.number else origin
        path = (*on_path, node.key)
        for link in node.links:
            self.follow(depth + 1, link, path, here)

    def follow(self, depth: int, link: Link, on_path: tuple[str, ...], origin: Node | None) -> None:
        steps, graph_ = self.steps, self.graph
        if link.outbound and origin is not None and origin.dials_out:
            steps.append(Step(depth, "transfer", None, link.uri or link.to, link.label, BROKEN, origin.dials_out))
            return
        if link.to:
            target = graph_.nodes.get(link.to)
            if target is None:
                kind, _, ident = link.to.partition("#")
                steps.append(Step(depth, kind, ident, ident, link.label, BROKEN, link.missing or f"{ident} does not "
                                  "exist", key=link.to))
            else:
                self.emit(depth, target, link.label, on_path, origin)
            return
        uri = link.uri.replace(NUMBER_PLACEHOLDER, origin.number if origin else "")
        resolved = _resolve(graph_, uri, link)
        if resolved is None:
            scheme = split_uri(uri)[0]
            steps.append(Step(depth, "pstn" if scheme == "tel" else "sip", None, uri, link.label, OK,
                              "outside the accounts voxplan reads"))
            return
        made = {n.key: n for n in resolved.made}
        *chain, last = resolved.keys or ("",)
        for key in chain:
            node = made.get(key) or graph_.nodes[key]
            if node.key in on_path:
                steps.append(self.step(depth, node, link.label, repeat=True))
                return
            steps.append(self.step(depth, node, link.label))
            if node.problem:
                return
            on_path = (*on_path, node.key)
            depth += 1
        if last:
            node = made.get(last) or graph_.nodes[last]
            if resolved.problem:
                steps.append(self.step(depth, node, link.label))
                depth += 1
            else:
                self.emit(depth, node, link.label, on_path, origin)
        if resolved.problem:
            steps.append(Step(depth, resolved.kind or "sip", resolved.id or None, resolved.id or uri, link.label,
                              BROKEN, resolved.problem))


def _node_step(depth: int, node: Node, via: str, *, repeat: bool = False, addresses: Mapping[str, str]) -> Step:
    status, reason = (BROKEN, node.problem) if node.problem and not repeat else (OK, "")
    return Step(depth, node.kind, node.id, node.label, via, status, reason, node.key,
                node.address or addresses.get(node.key, ""), repeat)


def _resolve(graph_: HopGraph, uri: str, link: Link) -> Resolved | None:
    for resolver in graph_.resolvers:
        found = resolver(uri, link)
        if found is not None:
            return found
    return None


# -- a plan's blast radius ---------------------------------------------------------------------------------

def reach(paths: Iterable[NumberPath]) -> dict[str, set[str]]:
    """Stack address -> the numbers whose path passes through it."""
    out: dict[str, set[str]] = {}
    for path in paths:
        for step in path.steps:
            if step.address:
                out.setdefault(step.address, set()).add(path.number)
    return out


def blast_radius(plan: Plan, desired: Sequence[Resource], state: State, stack: Any = None) -> Plan:
    """The plan with each change's `affects` (the numbers whose call path, as the stack wants it or as state
    recorded it, passes through the changed resource) and the changed paths, for drawing. No request."""
    if not plan.has_changes:
        return plan
    after_paths, wanted = _desired_paths(desired, stack)
    reached = reach(after_paths)
    if any(c.is_change and c.address not in wanted for c in plan.changes):
        # a change to what the stack no longer declares: the paths it was on are the ones state recorded
        before_objects, before_addresses = state_objects(state)
        before = graph(before_objects, stack=stack, addresses=before_addresses)
        for addr, numbers in reach(trace(before, sorted(before.numbers()))).items():
            reached.setdefault(addr, set()).update(numbers)
    # what a resource on a path uses (a tool's server credential, an assistant's): its change reaches the
    # numbers of whatever on a path depends on it, however indirectly
    users: dict[str, set[str]] = {}
    for res in desired:
        for dep in res.dependencies():
            users.setdefault(dep, set()).add(res.address)
    for addr in list(users):
        if addr not in reached:
            numbers = _reached_through(addr, users, reached)
            if numbers:
                reached[addr] = numbers
    changes = tuple(msgspec.structs.replace(c, affects=tuple(sorted(reached.get(c.address, ()))))
                    if c.is_change and reached.get(c.address) else c for c in plan.changes)
    touched = {n for c in changes for n in c.affects}
    drawn = tuple(ChangedPath(p.number, _edges(p)) for p in after_paths if p.number in touched)
    return dataclasses.replace(plan, changes=changes, paths=drawn)


def _desired_paths(desired: Sequence[Resource], stack: Any) -> tuple[list[NumberPath], set[str]]:
    """Each number's path as the stack wants it, and the stack's addresses. The objects and the graph the
    paths were traced through are dropped on return, before the rest of the blast radius is worked out:
    with them alive too, it held twice the memory (an apply's peak at 100,000 numbers)."""
    objects, addresses = desired_objects(desired)
    after = graph(objects, stack=stack, addresses=addresses)
    return trace(after, sorted(after.numbers())), set(addresses.values())


def _reached_through(addr: str, users: Mapping[str, set[str]], reached: Mapping[str, set[str]]) -> set[str]:
    """The numbers whose paths pass a resource that uses `addr`, directly or through others."""
    seen, todo, numbers = {addr}, [addr], set()
    while todo:
        for user in users.get(todo.pop(), ()):
            if user not in seen:
                seen.add(user)
                numbers |= reached.get(user, set())
                todo.append(user)
    return numbers


def _edges(path: NumberPath) -> tuple[tuple[str, str], ...]:
    def name(step: Step) -> str:
        return step.address or f"{step.kind}: {step.label}"

    return tuple(dict.fromkeys((name(a), name(b)) for a, b in path.edges()))
