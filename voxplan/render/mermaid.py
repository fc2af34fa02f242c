"""Mermaid flowcharts (GitHub renders ```mermaid blocks): call paths as nodes and labelled edges. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

LABEL_MAX = 90


def flowchart(edges: Iterable[tuple[str, str, str]], *, highlight: Sequence[str] = (), broken: Sequence[str] = (),
              nodes: Iterable[str] = ()) -> str:
    """`edges` are (from, label, to) by node name; `highlight` and `broken` name nodes to mark."""
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}"
        return ids[name]

    lines = ["flowchart LR"]
    for name in nodes:
        lines.append(f"  {node(name)}[\"{_label(name)}\"]")
    seen = set()
    for src, label, dst in edges:
        if (src, label, dst) in seen:
            continue
        seen.add((src, label, dst))
        a, b = _shape(src, ids, node), _shape(dst, ids, node)
        arrow = f" -->|{_label(label)}| " if label else " --> "
        lines.append(f"  {a}{arrow}{b}")
    marked = [ids[n] for n in highlight if n in ids]
    failed = [ids[n] for n in broken if n in ids]
    if marked:
        lines += ["  classDef changed fill:#fff3b0,stroke:#b8860b,stroke-width:2px",
                  f"  class {','.join(marked)} changed"]
    if failed:
        lines += ["  classDef broken fill:#ffd6d6,stroke:#c00,stroke-width:2px", f"  class {','.join(failed)} broken"]
    return "\n".join(lines) + "\n"


def _shape(name: str, ids: dict[str, str], node: Callable[[str], str]) -> str:
    """A node's id, with its label the first time it is drawn."""
    if name in ids:
        return ids[name]
    return f"{node(name)}[\"{_label(name)}\"]"


def _label(text: str) -> str:
    """A label Mermaid reads as text: quotes and the characters its parser treats as syntax escaped."""
    text = text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"
    for raw, escaped in (("#", "#35;"), ('"', "#quot;"), ("|", "#124;"), ("<", "#lt;"), (">", "#gt;"),
                         ("`", "#96;"), ("\n", " ")):
        text = text.replace(raw, escaped)
    return text
