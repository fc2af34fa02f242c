"""`voxplan trace` output: each number's path, hop by hop, as text, JSON or a Mermaid flowchart. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voxplan import __version__
from voxplan.core.hops import BROKEN, NumberPath, Step
from voxplan.render.mermaid import flowchart

TRACE_FORMAT = "1.0"


def hop(step: Step) -> str:
    ident = f" [{step.id}]" if step.id and step.id != step.label else ""
    return f"{step.kind} {step.label}{ident}"


def trace_text(paths: Sequence[NumberPath], *, colour: bool = False) -> str:
    def paint(ok: bool, text: str) -> str:
        return f"\x1b[{'32' if ok else '31'}m{text}\x1b[0m" if colour else text

    lines: list[str] = []
    for path in paths:
        broken = path.broken
        head = "ok" if broken is None else f"BROKEN at {hop(broken)}: {broken.reason}"
        lines.append(paint(broken is None, f"{path.number}: {head}"))
        for step in path.steps:
            via = f"{step.via} → " if step.via else ""
            note = " (shown above)" if step.repeat else f" ({step.reason})" if step.reason and step.status != BROKEN \
                else ""
            status = paint(step.status != BROKEN, step.status if step.status != BROKEN else f"broken: {step.reason}")
            lines.append(f"{'  ' * (step.depth + 1)}{via}{hop(step)}{note}  {status}")
        lines.append("")
    whole = sum(1 for p in paths if p.ok)
    lines.append(f"{len(paths)} number(s): {whole} whole, {len(paths) - whole} broken.")
    return "\n".join(lines) + "\n"


def trace_json(paths: Sequence[NumberPath], stack: str) -> dict[str, Any]:
    return {"format_version": TRACE_FORMAT, "voxplan_version": __version__, "stack": stack,
            "numbers": [p.to_json() for p in paths],
            "summary": {"numbers": len(paths), "whole": sum(1 for p in paths if p.ok),
                        "broken": sum(1 for p in paths if not p.ok)}}


def trace_mermaid(paths: Sequence[NumberPath]) -> str:
    edges: list[tuple[str, str, str]] = []
    broken: list[str] = []
    starts: list[str] = []
    for path in paths:
        names = {id(s): _name(s) for s in path.steps}
        starts.append(names[id(path.steps[0])])
        edges += [(names[id(a)], b.via, names[id(b)]) for a, b in path.edges()]
        broken += [names[id(s)] for s in path.steps if s.status == BROKEN]
    return "```mermaid\n" + flowchart(edges, broken=broken, nodes=starts) + "```\n"


def _name(step: Step) -> str:
    return hop(step)
