"""Saved plans (`plan --out FILE`, `apply FILE`): what was reviewed, and enough to tell whether it still
holds. The file carries no secret: write-only values appear only as keyed fingerprints (HMAC under the
state's key, which stays in state)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxplan.core.errors import PlanError
from voxplan.core.model import Ref
from voxplan.core.plan import Change, Plan
from voxplan.core.secret import SafeEncoder, Secret, write_private
from voxplan.core.writeonly import secret_fingerprint
from voxplan.render import plan_from_json, plan_to_json

KIND = "voxplan-saved-plan"
FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class SavedPlan:
    stack_file: str
    stack_sha256: str
    state_serial: int
    sandbox: bool
    targets: tuple[str, ...]
    replace: tuple[str, ...]
    refresh_only: bool
    digests: dict[str, str]
    environment: str = "default"  # the --env it was made for: apply runs there
    lineage: str = ""  # the state it was made against: another state (same stack name) is refused
    destroy: bool = False  # made by plan --destroy: apply destroys


def stack_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def change_digest(change: Change, key: bytes) -> str:
    """What a reviewer approved for one resource: action, target id, the live values it changes from and
    the values sent (secrets by fingerprint)."""

    def canon(value: Any) -> Any:
        if isinstance(value, Secret):
            return {"secret": secret_fingerprint(value, key)}
        if isinstance(value, Ref):
            return {"ref": str(value)}
        if isinstance(value, dict):
            return {k: canon(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [canon(v) for v in value]
        return value

    sent = {k: change.body.get(k) for k in (change.send_keys or change.body)}
    live = change.live or {}
    before = {k: live.get(k) for k in (change.body or live)}  # what the reviewer saw it change from
    data = {"action": change.action.value, "id": change.remote_id, "importing": change.importing,
            "protect": change.protect,
            "moved_from": change.moved_from or None,
            "sent": canon(sent) if change.action.value not in ("delete", "unroute") else None, "before": canon(before)}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def digests(plan: Plan, key: bytes) -> dict[str, str]:
    return {c.address: change_digest(c, key) for c in plan.actionable} | {f"forget:{a}": "" for a in plan.forget}


def write(path: Path, plan: Plan, *, stack_file: Path, state_serial: int, key: bytes, sandbox: bool,
          targets: tuple[str, ...], replace: tuple[str, ...], environment: str = "default",
          lineage: str = "", destroy: bool = False) -> None:
    data = {
        "kind": KIND, "format_version": FORMAT_VERSION,
        "stack_file": str(stack_file), "stack_file_absolute": str(stack_file.resolve()),
        "stack_sha256": stack_sha256(stack_file), "state_serial": state_serial, "sandbox": sandbox,
        "targets": list(targets), "replace": list(replace), "refresh_only": plan.refresh_only,
        "destroy": destroy, "digests": digests(plan, key), "environment": environment, "lineage": lineage,
        "plan": plan_to_json(plan),
    }
    write_private(path, json.dumps(data, indent=2, cls=SafeEncoder) + "\n")


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: not a readable saved plan ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanError(f"{path}: not a voxplan saved plan (make one with voxplan plan --out FILE)")
    return data


def reviewed(path: Path) -> tuple[Plan, dict[str, Any]]:
    """The plan a saved file shows a reviewer, and its JSON form, without touching stack, state or network."""
    data = _load(path)
    return plan_from_json(data["plan"]), dict(data["plan"])


def read(path: Path) -> SavedPlan:
    data = _load(path)
    stack_file = data["stack_file"]
    if not Path(stack_file).exists() and Path(data.get("stack_file_absolute", "")).exists():
        stack_file = data["stack_file_absolute"]
    return SavedPlan(stack_file=stack_file, stack_sha256=data["stack_sha256"], state_serial=int(data["state_serial"]),
                     sandbox=bool(data.get("sandbox")), targets=tuple(data.get("targets") or ()),
                     replace=tuple(data.get("replace") or ()), refresh_only=bool(data.get("refresh_only")),
                     digests=dict(data["digests"]), environment=str(data.get("environment") or "default"),
                     lineage=str(data.get("lineage") or ""), destroy=bool(data.get("destroy")))


def check(saved: SavedPlan, fresh: Plan, *, stack_file: Path, state_serial: int, key: bytes,
          lineage: str = "") -> None:
    """Refuse a saved plan that no longer describes what apply would do, saying what moved."""
    if saved.lineage and lineage and saved.lineage != lineage:
        raise PlanError(f"saved plan was made against state lineage {saved.lineage}, but this state has lineage "
                        f"{lineage}: another state of the same stack; run voxplan plan again")
    if stack_sha256(stack_file) != saved.stack_sha256:
        raise PlanError(f"saved plan is stale: {stack_file} changed since the plan was made; run voxplan plan again")
    if state_serial != saved.state_serial:
        raise PlanError(f"saved plan is stale: state changed since the plan was made (serial {saved.state_serial} "
                        f"-> {state_serial}: another apply ran); run voxplan plan again")
    now = digests(fresh, key)
    moved = sorted(a for a in set(now) | set(saved.digests) if now.get(a) != saved.digests.get(a))
    if moved:
        shown = ", ".join(a.removeprefix("forget:") for a in moved[:5]) + (f" and {len(moved) - 5} more"
                                                                           if len(moved) > 5 else "")
        raise PlanError(f"saved plan is stale: live state moved since the plan was made for {shown} (what apply "
                        "would do there differs from what was reviewed, or a secret changed); run voxplan plan again")
