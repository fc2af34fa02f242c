"""Proving the call path: `trace` (read the live accounts, walk every number), `numbers` (every number on
every account, who manages it, where it goes), and the calls that cost money, placed only when the user runs
`call` or `test`.

Trace reads with the refresh a plan makes (voxplan.workflow.refresh_live), writes nothing, and walks the hop
graph the providers declare (voxplan.callpath). Calls go through the provider that holds the calling number
(a provider's `calls`), with ids from state; what answered is read back from the side that answered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voxplan import callpath, ownership, providers, workflow
from voxplan.core.errors import PlanError
from voxplan.core.hops import HopGraph, NumberPath, node_key
from voxplan.expand import owner_tag
from voxplan.providers import Providers
from voxplan.providers.base import CallRecord, Calls
from voxplan.providers.http import ApiClient
from voxplan.refresh import refresh
from voxplan.stack.telephony import transfer_problem
from voxplan.stack.validate import number_key
from voxplan.state import State
from voxplan.state.store import owner_name


def _addresses(state: State) -> dict[str, str]:
    return {node_key(e.kind, e.id): addr for addr, e in state.resources.items()}


def routed_numbers(loaded: workflow.Loaded) -> list[str]:
    """The stack's numbers that have a route, in stack order."""
    routes = {number_key(k) for k in loaded.stack.section("routes")}
    return [n for n in (number_key(k) for k in loaded.stack.section("numbers")) if n in routes]


def carriers(loaded: workflow.Loaded) -> dict[str, str]:
    return {number_key(k): str(v.get("carrier")) for k, v in loaded.stack.section("numbers").items()
            if isinstance(v, dict) and v.get("carrier")}


@dataclass
class Traced:
    paths: list[NumberPath]
    graph: HopGraph
    state: State


def live_graph(loaded: workflow.Loaded) -> tuple[HopGraph, State]:
    """The hop graph of what the accounts hold now, from one refresh (no write)."""
    with workflow.connect(loaded) as provs:
        state = workflow.load_state(loaded)
        live = workflow.refresh_live(loaded, provs, state)
    return callpath.graph(callpath.live_objects(live), stack=loaded.stack, addresses=_addresses(state)), state


def trace(loaded: workflow.Loaded, numbers: Sequence[str] = ()) -> Traced:
    """Each number's path through the live accounts: the stack's routed numbers, or `numbers`."""
    graph, state = live_graph(loaded)
    wanted = [number_key(n) for n in numbers] or routed_numbers(loaded)
    return Traced(callpath.trace(graph, wanted, carriers(loaded)), graph, state)


def desired_paths(loaded: workflow.Loaded) -> dict[str, NumberPath]:
    """Each routed number's path as the stack wants it (offline): what should answer it."""
    objects, addresses = callpath.desired_objects(loaded.desired)
    graph = callpath.graph(objects, stack=loaded.stack, addresses=addresses)
    return {p.number: p for p in callpath.trace(graph, routed_numbers(loaded), carriers(loaded))}


def answerer(path: NumberPath, graph: HopGraph) -> Any:
    """The first hop of a path that answers the call (an assistant, a squad, a server, an agent), or None."""
    for step in path.steps:
        node = graph.nodes.get(step.key)
        if node is not None and node.answers and not step.repeat:
            return step
    return None


# -- calls: money, only when the user runs `voxplan call` or `voxplan test` --------------------------------

WAIT_SECONDS = 120.0  # how long `--wait` and `test` follow one call before giving up on it


@dataclass
class Line:
    """A number that can place calls: its vendor's Calls, and its remote id from state."""

    calls: Calls
    number_id: str
    number: str
    loaded: workflow.Loaded
    state: State


def caller_line(loaded: workflow.Loaded, provs: Providers, state: State, number: str) -> Line:
    """The vendor and id (from state) that place calls from `number` of the stack."""
    key = number_key(number)
    for spec in providers.REGISTRY:
        if spec.calls is None:
            continue
        kind = spec.calls(provs.clients.get(spec.name) or _client(provs, spec.name)).number_kind
        entry = state.get(f"{kind}/{key}")
        if entry is not None:
            return Line(spec.calls(_client(provs, spec.name)), entry.id, key, loaded, state)
    raise PlanError(f"{key} cannot place calls: it is not in this stack's state as a number of a platform that "
                    "calls out (apply the stack first; a carrier number needs a route to an assistant, which makes "
                    "its Vapi number)")


def _client(provs: Providers, vendor: str) -> ApiClient:
    kind = next(k for k in providers.ADAPTER_CLASSES if providers.provider_of(k) == vendor)
    provs.adapter(kind)  # connects the vendor
    return provs.clients[vendor]


def remote_id(state: State, address: str, what: str) -> str:
    entry = state.get(address)
    if entry is None:
        raise PlanError(f"{what} ({address}) is not in state: apply the stack first")
    return entry.id


def follow(line: Line, record: CallRecord, timeout: float = WAIT_SECONDS) -> CallRecord:
    """The call, read again until it has ended (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while not record.ended and time.monotonic() < deadline:
        time.sleep(0.25)
        record = line.calls.get(record.id)
    return record


def call(loaded: workflow.Loaded, source: str, to: str, *, assistant: str | None = None,
         headers: Mapping[str, str] | None = None, wait: bool = False) -> CallRecord:
    """Place one call from the stack's number `source` to `to` (E.164 or a SIP URI). A number is checked
    before any request as a transfer target is: a real number, never an emergency or premium-rate one."""
    sip = to.lower().startswith(("sip:", "sips:"))
    target = to if sip else number_key(to)
    if not sip and (problem := transfer_problem(target)) is not None:
        raise PlanError(f"--to {to}: {problem.message}" + (f" (hint: {problem.hint})" if problem.hint else ""))
    with workflow.connect(loaded) as provs:
        state = workflow.load_state(loaded)
        line = caller_line(loaded, provs, state, source)
        answerer = _caller_answerer(loaded, state, line, assistant)
        record = line.calls.place(line.number_id, target, answerer=answerer, headers=headers)
        return follow(line, record) if wait else record


@dataclass
class Tested:
    number: str
    outcome: str  # "ok" | "failed" | "skipped"
    expected: str = ""
    detail: str = ""
    call_id: str = ""


def test(loaded: workflow.Loaded, numbers: Sequence[str] = ()) -> list[Tested]:
    """Call each routed number (or `numbers`) from the stack's test caller, and check that what answered is what
    the stack declares: the Vapi inbound call's assistant or squad, or the agent `voxplan serve` accepted with.
    A number that failed is traced, so the result names the hop that broke."""
    spec = loaded.stack.section("tests")
    if not spec.get("caller"):
        raise PlanError(f"{loaded.stack.path}: tests.caller is not set: name the number test calls come from "
                        "(tests: {caller: \"+1…\"})")
    objects, addresses = callpath.desired_objects(loaded.desired)
    desired = callpath.graph(objects, stack=loaded.stack, addresses=addresses)
    wanted = [number_key(n) for n in numbers] or routed_numbers(loaded)
    paths = {p.number: p for p in callpath.trace(desired, wanted, carriers(loaded))}
    caller_loaded = loaded
    if spec.get("stack"):
        caller_loaded = workflow.load(loaded.stack.path.parent / str(spec["stack"]), loaded.ctx)
    results: list[Tested] = []
    with workflow.connect(loaded) as provs, workflow.connect(caller_loaded) as caller_provs:
        state = workflow.load_state(loaded)
        caller_state = state if caller_loaded is loaded else workflow.load_state(caller_loaded)
        line = caller_line(caller_loaded, caller_provs, caller_state, str(spec["caller"]))
        assistant = _caller_answerer(caller_loaded, caller_state, line, spec.get("assistant"))
        for number in wanted:
            results.append(_test_one(loaded, provs, state, line, assistant, number, paths[number], desired))
    broken = [r for r in results if r.outcome == "failed"]
    if broken:  # name the hop: one read of the accounts, as `voxplan trace` makes
        live = {p.number: p for p in trace(loaded, [r.number for r in broken]).paths}
        for r in broken:
            hop = live[r.number].broken
            if hop is not None:
                r.detail += f"; broken at {hop.kind} {hop.id or hop.label}: {hop.reason}"
    return results


def _caller_answerer(loaded: workflow.Loaded, state: State, line: Line, key: Any) -> tuple[str, str] | None:
    """What takes the calling side, as (kind, id): `key` (tests.assistant, --assistant), else what the caller
    number is routed to (`routes: {N: {assistant: …}}` or `{squad: …}`: a route names an answerer kind by the
    part of its kind after the vendor)."""
    kinds = line.calls.answerer_kinds
    if key:
        return kinds[0], remote_id(state, f"{kinds[0]}/{key}", f"assistant {key}")
    route = {number_key(k): v for k, v in loaded.stack.section("routes").items()}.get(line.number) or {}
    for kind in kinds:
        named = route.get(kind.partition(".")[2])
        entry = state.get(f"{kind}/{named}") if isinstance(named, str) else None
        if entry is not None:
            return kind, entry.id
    return None


def _test_one(loaded: workflow.Loaded, provs: Providers, state: State, line: Line, assistant: tuple[str, str] | None,
              number: str, path: NumberPath, desired: HopGraph) -> Tested:
    expected = answerer(path, desired)
    if path.broken is not None:
        hop = path.broken
        return Tested(number, "failed", detail=f"the stack itself does not reach an answer: {hop.kind} "
                      f"{hop.label}: {hop.reason}")
    if expected is None:
        last = path.steps[-1]
        return Tested(number, "skipped", detail=f"not called: its path ends outside the accounts voxplan reads "
                      f"({last.label}), where nothing can say who answered")
    label = f"{expected.kind} {expected.label}"
    since = time.time() - 0.5  # the answering service's clock may be a little behind ours
    record = follow(line, line.calls.place(line.number_id, number, answerer=assistant))
    if not record.ended:
        return Tested(number, "failed", label, f"the call had not ended after {WAIT_SECONDS:.0f} s", record.id)
    spec = providers.BY_NAME.get(providers.provider_of(expected.kind))
    if expected.address and spec is not None and spec.calls is not None:
        calls = spec.calls(_client(provs, spec.name))
        taken = next((s for s in path.steps if s.kind == calls.number_kind and s.address), None)
        if taken is None:
            return Tested(number, "failed", label, "no number of the answering platform on its path", record.id)
        placed = str(record.raw.get("createdAt") or _iso(since))  # the far side's call came after ours
        got = calls.received(remote_id(state, taken.address, number), placed)
        found = state.get(expected.address)
        wanted_id = found.id if found is not None else ""
        if any(r.answered_by == wanted_id and not r.ended_reason.startswith(("call-start-error", "assistant-not"))
               for r in got) or (not wanted_id and got):
            return Tested(number, "ok", label, f"answered by {label}", record.id)
        seen = ", ".join(sorted({r.answered_by or r.ended_reason for r in got})) or "no call arrived"
        return Tested(number, "failed", label, f"{_ended(record)}; {taken.label} took: {seen}", record.id)
    if spec is not None and spec.witness is not None:
        agent = spec.witness(loaded.stack, loaded.ctx.env, number, line.number, since)
        if agent == expected.id:
            return Tested(number, "ok", label, f"accepted with {label}", record.id)
        seen = "no call reached the answering service" if agent is None else f"it answered with {agent}"
        return Tested(number, "failed", label, f"{_ended(record)}; {seen}", record.id)
    return Tested(number, "ok" if record.ended_reason == "customer-ended-call" else "failed", label,
                  _ended(record), record.id)


def _ended(record: CallRecord) -> str:
    return f"the call ended: {record.ended_reason}" + (f" ({record.ended_message})" if record.ended_message else "")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- every number on every account the stacks reach ---------------------------------------------------------

@dataclass
class NumberRow:
    number: str
    kind: str
    id: str
    managed_by: list[str]
    routes_to: str
    flags: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "kind": self.kind, "id": self.id, "managed_by": self.managed_by,
                "routes_to": self.routes_to, "flags": self.flags}


def inventory(paths: Sequence[Path], ctx: Any) -> list[NumberRow]:
    """Every number the accounts the stacks reach hold (each carrier's and the platform's), who manages it
    (each stack's state, and on a shared backend the claims of stacks not listed), where it routes, and flags.
    One full listing per kind the stacks use: unlike a plan it reads every number, not only the stacks'."""
    objects: dict[str, dict[str, Mapping[str, Any]]] = {}
    managers: dict[str, list[str]] = {}
    stacks = []
    for path in paths:
        loaded = workflow.load(path, ctx)
        stacks.append(loaded.stack)
        with workflow.connect(loaded) as provs:
            state = workflow.load_state(loaded)
            kinds = sorted({r.kind for r in loaded.desired} | {e.kind for e in state.resources.values()})
            live = refresh(provs, kinds)
            for kind, found in live.items():
                objects.setdefault(kind, {}).update(found.by_id)
            tag = owner_tag(loaded.stack.name, loaded.ctx.env_name)
            for entry in state.resources.values():
                managers.setdefault(node_key(entry.kind, entry.id), []).append(tag)
            others = workflow.other_environments(loaded)
            for env_name, entry in workflow.entries_of(loaded, others):  # their numbers are managed, not strays
                managers.setdefault(node_key(entry.kind, entry.id), []).append(owner_tag(loaded.stack.name, env_name))
            # the backend's claims name an owner in words; this stack's environments go by their tags
            tags = {owner_name(loaded.stack.name, e): owner_tag(loaded.stack.name, e) for e in others}
            claims = {ownership.claim_of(provs, kind, rid): node_key(kind, rid)
                      for kind, found in live.items() for rid in found.by_id}
            for claim, owner in loaded.store.owners(claims).items():
                managers.setdefault(claims[claim], []).append(tags.get(owner, owner))
    merged = stacks[0] if len(stacks) == 1 else _Stacks(stacks)
    graph = callpath.graph(objects, stack=merged)
    rows = []
    by_number: dict[tuple[str, str], int] = {}
    for node in graph.nodes.values():
        if node.number:
            by_number[(node.kind, node.number)] = by_number.get((node.kind, node.number), 0) + 1
    for node in sorted((n for n in graph.nodes.values() if n.number), key=lambda n: (n.number, n.rank, n.kind)):
        walked = callpath.walk(graph, node)
        owners = sorted(set(managers.get(node.key, [])))
        flags = []
        if not node.links and not node.answers and node.problem:
            flags.append("paid, routed nowhere" if node.rank == 0 else f"not bound: {node.problem}")
        elif node.links and not owners:
            flags.append("routed, managed by no stack")
        if by_number[(node.kind, node.number)] > 1 or len(owners) > 1:
            flags.append("bound twice" if by_number[(node.kind, node.number)] > 1 else "managed by two stacks")
        broken = walked.broken
        if broken is not None and broken.depth > 0:
            gone = "does not exist" in broken.reason
            flags.append(f"routes to a {broken.kind} that no longer exists ({broken.id})" if gone
                         else f"broken at {broken.kind}: {broken.reason}")
        rows.append(NumberRow(node.number, node.kind, node.id, owners, _destination(walked, graph), flags))
    return rows


def _destination(path: NumberPath, graph: HopGraph) -> str:
    """Where a number's calls end up, in a few words: the first hop that answers, else the last one reached."""
    later = [s for s in path.steps[1:] if not s.repeat]
    if not later:
        return "nowhere" if path.steps[0].status == "broken" else "-"
    answering = next((s for s in later if s.key in graph.nodes and graph.nodes[s.key].answers), None)
    last = answering or later[-1]
    return f"{last.kind} {last.label}"


class _Stacks:
    """Several stacks read as one where hops need a stack (which agent an OpenAI route names)."""

    def __init__(self, stacks: Sequence[Any]):
        self.stacks = stacks

    def section(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for stack in self.stacks:
            out.update(stack.section(name))
        return out
