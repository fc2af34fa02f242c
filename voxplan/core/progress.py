"""Progress of an apply, as data: what progress lines and JSON logs are drawn from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One step of an apply: `phase` is "start", "still" (every few seconds while in flight), "done" or
    "error"; `action` is the plan's action, or "destroy" for the old half of a replacement."""

    address: str
    phase: str
    action: str
    elapsed: float = 0.0
    remote_id: str | None = None
    message: str = ""
