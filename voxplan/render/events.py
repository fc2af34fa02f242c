"""Apply progress and JSON-lines logs, drawn from the plan and from `Progress` events. Pure.

Progress lines follow Terraform's (`Creating...`, `Still creating... [10s elapsed]`, `Creation complete
after 2s [id=...]`); JSON lines carry one object per event, with `type` saying which, for CI tooling."""

from __future__ import annotations

import json
import time
from typing import Any

from voxplan.core.plan import Plan
from voxplan.core.progress import Progress

# action -> (doing, done): "Creating...", "Creation complete after 2s"
VERBS = {
    "create": ("Creating", "Creation"), "replace": ("Creating", "Creation"),
    "update": ("Modifying", "Modifications"), "delete": ("Destroying", "Destruction"),
    "destroy": ("Destroying", "Destruction"), "unroute": ("Unrouting", "Unrouting"),
}


def progress_line(p: Progress) -> str:
    doing, done = VERBS.get(p.action, ("Changing", "Change"))
    ident = f" [id={p.remote_id}]" if p.remote_id else ""
    elapsed = f"{int(p.elapsed)}s"
    if p.phase == "start":
        return f"{p.address}: {doing}...{ident if p.action != 'create' else ''}"
    if p.phase == "still":  # as Terraform: "[10s elapsed]", or "[id=…, 10s elapsed]" for an existing object
        shown = f"id={p.remote_id}, " if p.remote_id and p.action != "create" else ""
        return f"{p.address}: Still {doing.lower()}... [{shown}{elapsed} elapsed]"
    if p.phase == "done":
        return f"{p.address}: {done} complete after {elapsed}{ident}"
    return f"{p.address}: {doing} failed after {elapsed}"


def progress_json(p: Progress, now: float | None = None) -> str:
    kind = {"start": "apply_start", "still": "apply_progress", "done": "apply_complete"}.get(p.phase, "apply_errored")
    return _line(kind, progress_line(p), now, {"address": p.address, "action": p.action,
                                                "elapsed_seconds": round(p.elapsed, 3), "id": p.remote_id,
                                                **({"error": p.message} if p.message else {})})


def planned(plan: Plan, operation: str, *, summary: bool = True, now: float | None = None) -> list[str]:
    """One `planned_change` line per change, then (unless `summary` is False) the `change_summary`."""
    out = [_line("planned_change", f"{c.address}: plan to {c.action.value}", now,
                 {"address": c.address, "action": c.action.value, "importing": c.importing,
                  "reason": c.reason or None, "id": c.remote_id, "affects": list(c.affects)}) for c in plan.actionable]
    if summary:
        out.append(summary_json(plan, operation, now=now))
    return out


def summary_json(plan: Plan, operation: str, *, ok: bool = True, errors: int = 0, done: int | None = None,
                 now: float | None = None) -> str:
    counts = {"add": plan.to_add, "change": plan.to_change, "destroy": plan.to_destroy,
              "unroute": plan.to_unroute, "import": plan.to_import, "record": plan.to_record}
    extra: dict[str, Any] = {"operation": operation, "changes": counts, "has_changes": plan.has_changes}
    if operation in ("apply", "destroy"):
        extra |= {"ok": ok, "errors": errors, "done": done}
    return _line("change_summary", plan.summary(), now, extra)


def drift_json(file: str, stack: str, plan: Plan | None, error: str, now: float | None = None) -> str:
    drifted = plan is not None and plan.drifted
    return _line("drift", f"{file}: {'error' if error else 'drifted' if drifted else 'no drift'}", now,
                 {"file": file, "stack": stack, "drifted": drifted, "error": error or None,
                  "outside": [c.address for c in plan.outside] if plan else [],
                  "pending": [c.address for c in plan.pending] if plan else [],
                  "summary": plan.summary() if plan else None})


def drift_summary_json(stacks: int, drifted: int, errors: int, now: float | None = None) -> str:
    return _line("drift_summary", f"{drifted} of {stacks} stack(s) drifted, {errors} error(s)", now,
                 {"stacks": stacks, "drifted": drifted, "errors": errors})


def log_json(message: str, now: float | None = None) -> str:
    """A line of apply's that is no remote change (an adoption, a lifecycle change recorded in state)."""
    return _line("log", message, now, {})


def _line(kind: str, message: str, now: float | None, fields: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    return json.dumps({"@level": "error" if kind == "apply_errored" else "info", "@message": message,
                       "@timestamp": stamp, "type": kind, **fields}, ensure_ascii=False)
