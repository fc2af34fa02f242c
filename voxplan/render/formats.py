"""Every output format, in one table: a plan's and a drift report's renderers by `--format` name. A new
format is one renderer module and one row here; the CLI offers exactly these names."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from voxplan.core.plan import Plan
from voxplan.core.secret import SafeEncoder
from voxplan.render.jsonplan import plan_to_json
from voxplan.render.markdown import render_markdown
from voxplan.render.text import render_text


@dataclass(frozen=True)
class DriftItem:
    """One stack of a drift run, as renderers see it."""

    file: str
    stack: str
    plan: Plan | None
    error: str = ""

    @property
    def drifted(self) -> bool:
        return self.plan is not None and self.plan.has_changes


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, cls=SafeEncoder) + "\n"


def _drift_text(items: Sequence[DriftItem], colour: bool) -> str:
    out = []
    for r in items:
        if r.error or r.plan is None:
            continue  # errors go to stderr, one line each
        out.append(f"{r.file} [{r.stack}]: " + (f"drifted ({r.plan.summary()})" if r.drifted else "no drift") + "\n")
        if r.drifted:
            out.append(render_text(r.plan, colour=colour))
    return "".join(out)


def _drift_markdown(items: Sequence[DriftItem], colour: bool) -> str:
    return "".join(render_markdown(r.plan) if r.drifted and r.plan else f"### voxplan: `{r.stack}`\n\nNo drift.\n"
                   for r in items if not r.error)


def _drift_json(items: Sequence[DriftItem], colour: bool) -> str:
    return _json({"format_version": "1.0", "stacks": [
        {"file": r.file, "stack": r.stack, "drifted": r.drifted, "error": r.error or None,
         "plan": plan_to_json(r.plan) if r.plan else None} for r in items]})


@dataclass(frozen=True)
class Format:
    plan: Callable[[Plan, bool], str]  # (plan, colour) -> text
    drift: Callable[[Sequence[DriftItem], bool], str]


FORMATS: dict[str, Format] = {
    "text": Format(lambda plan, colour: render_text(plan, colour=colour), _drift_text),
    "markdown": Format(lambda plan, colour: render_markdown(plan), _drift_markdown),
    "json": Format(lambda plan, colour: _json(plan_to_json(plan)), _drift_json),
}
