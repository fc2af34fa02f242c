from __future__ import annotations

from typing import Any

from voxplan import __version__
from voxplan.core.model import UNKNOWN
from voxplan.core.plan import Action, Change, Plan, display
from voxplan.render.values import jsonable

FORMAT_VERSION = "1.0"

ACTIONS = {
    Action.NOOP: ["no-op"], Action.CREATE: ["create"], Action.UPDATE: ["update"],
    Action.DELETE: ["delete"], Action.REPLACE: ["delete", "create"], Action.UNROUTE: ["unroute"],
}


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """A machine-readable plan in the manner of `terraform show -json`; secrets masked, not just flagged."""
    return {
        "format_version": FORMAT_VERSION,
        "voxplan_version": __version__,
        "stack": plan.stack,
        "resource_changes": [_change(c) for c in plan.changes],
        "summary": {"import": plan.to_import, "add": plan.to_add, "change": plan.to_change,
                    "destroy": plan.to_destroy, "unroute": plan.to_unroute, "record": plan.to_record,
                    "has_changes": plan.has_changes},
    }


def _change(c: Change) -> dict[str, Any]:
    kind, _, name = c.address.partition("/")
    actions = list(ACTIONS[c.action])
    if c.action is Action.REPLACE and c.create_before_destroy:
        actions = ["create", "delete"]
    keys = list(c.body) or list((c.live or {}).keys())
    before = None if c.live is None else {k: jsonable(c.live.get(k)) for k in keys if k in c.live}
    gone = c.action in (Action.DELETE, Action.UNROUTE)
    after = None if gone else {k: jsonable(display(v)) for k, v in c.body.items()}
    return {
        "address": c.address,
        "type": kind,
        "name": name,
        "remote_id": c.remote_id,
        "importing": c.importing,
        "reason": c.reason or None,
        "lifecycle": {"protect": c.protect, "protect_before": c.prior_protect},
        "clears": list(c.clears),
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "fields": [{"path": f.path, "before": jsonable(f.before), "after": jsonable(f.after),
                        "sensitive": f.sensitive, "unknown": f.after is UNKNOWN,
                        "forces_replacement": f.forces_replacement} for f in c.fields],
        },
    }

