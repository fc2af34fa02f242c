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
from voxplan.render.markdown import render_drift_markdown, render_markdown
from voxplan.render.text import outside_lines, painter, render_text


@dataclass(frozen=True)
class DriftItem:
    """One stack of a drift run, as renderers see it."""

    file: str
    stack: str
    plan: Plan | None
    error: str = ""

    @property
    def drifted(self) -> bool:
        """Changed outside voxplan (not: the stack asks for what is not applied yet, which is pending)."""
        return self.plan is not None and self.plan.drifted


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, cls=SafeEncoder) + "\n"


def _drift_text(items: Sequence[DriftItem], colour: bool) -> str:
    out = []
    for r in items:
        if r.error or r.plan is None:
            continue  # errors go to stderr, one line each
        pending = len(r.plan.pending)
        note = f"; {pending} change(s) pending: declared, not applied yet" if pending else ""
        env = r.plan.environment
        label = r.stack if env in ("", "default") else f"{r.stack}, environment {env}"
        out.append(f"{r.file} [{label}]: " + (f"drifted ({len(r.plan.outside)} object(s) changed outside voxplan"
                                                f"{note})" if r.drifted else f"no drift{note}") + "\n")
        if r.drifted:
            out.append("\n".join(outside_lines(r.plan, painter(colour), before_plan=False)) + "\n")
    return "".join(out)


def _drift_markdown(items: Sequence[DriftItem], colour: bool) -> str:
    return "\n".join(render_drift_markdown(r.plan) for r in items if not r.error and r.plan)


def _drift_json(items: Sequence[DriftItem], colour: bool) -> str:
    return _json({"format_version": "1.0", "stacks": [
        {"file": r.file, "stack": r.stack, "drifted": r.drifted, "error": r.error or None,
         "pending": [c.address for c in r.plan.pending] if r.plan else [],
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
