"""Dependency graph of desired resources: creates in topological order, deletes reversed. Pure."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from voxplan.core.errors import PlanError


def topo_order(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Addresses so that each comes after what it depends on (dependencies outside `deps` are ignored).

    Ties keep the input order, so plans are stable. Raises PlanError naming a cycle.
    """
    names = list(deps)
    position = {n: i for i, n in enumerate(names)}
    waiting = [0] * len(names)  # per position: how many of its dependencies are not placed yet
    dependents: dict[int, list[int]] = {}  # positions, and only for what something depends on
    for i, ds in enumerate(deps.values()):
        for d in set(ds):
            j = position.get(d)
            if j is not None and j != i:
                dependents.setdefault(j, []).append(i)
                waiting[i] += 1
    ready = [i for i, count in enumerate(waiting) if not count]  # ascending: already a heap
    order: list[str] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(names[i])
        for m in dependents.get(i, ()):
            waiting[m] -= 1
            if not waiting[m]:
                heapq.heappush(ready, m)
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
