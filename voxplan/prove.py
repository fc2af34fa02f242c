"""Proving the call path: `trace` (read the live accounts, walk every number), `numbers` (every number on
every account, who manages it, where it goes), and the calls that cost money, placed only when the user runs
`call` or `test`.

Trace reads with the refresh a plan makes (voxplan.workflow.refresh_live), writes nothing, and walks the hop
graph the providers declare (voxplan.callpath). Calls go through the provider that holds the calling number
(voxplan.providers.Caller), with ids from state; what answered is read back from the side that answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voxplan import callpath, workflow
from voxplan.core.hops import HopGraph, NumberPath, node_key
from voxplan.stack.validate import number_key
from voxplan.state import State


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
