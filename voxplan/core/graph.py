"""Dependency graph of desired resources: creates in topological order, deletes reversed. Pure."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from voxplan.core.errors import PlanError


def topo_order(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Addresses so that each comes after what it depends on (dependencies outside `deps` are ignored).

    Ties keep the input order, so plans are stable. Raises PlanError naming a cycle.
    """
    position = {n: i for i, n in enumerate(deps)}
    waiting = dict.fromkeys(position, 0)  # how many of its dependencies are not placed yet
    dependents: dict[str, list[str]] = {n: [] for n in position}
    for n, ds in deps.items():
        for d in set(ds):
            if d in position and d != n:
                dependents[d].append(n)
                waiting[n] += 1
    ready = [(position[n], n) for n, count in waiting.items() if not count]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for m in dependents[n]:
            waiting[m] -= 1
            if not waiting[m]:
                heapq.heappush(ready, (position[m], m))
    if len(order) != len(position):
        placed = set(order)
        pending = {n: {d for d in deps[n] if d in position and d not in placed and d != n}
                   for n in position if n not in placed}
        raise PlanError(f"dependency cycle: {' -> '.join(find_cycle(pending))}")
    return order


def find_cycle(pending: Mapping[str, set[str]]) -> list[str]:
    start = next(n for n, ds in pending.items() if ds)
    path, seen = [start], {start}
    node = start
    while True:
        node = next(iter(pending[node]))
        if node in seen:
            return path[path.index(node):] + [node]
        path.append(node)
        seen.add(node)


def to_dot(deps: Mapping[str, Iterable[str]], labels: Mapping[str, str] | None = None) -> str:
    lines = ["digraph voxplan {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for node in deps:
        label = (labels or {}).get(node, node)
        lines.append(f'  "{node}" [label="{label}"];')
    for node, ds in deps.items():
        for d in ds:
            lines.append(f'  "{d}" -> "{node}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
