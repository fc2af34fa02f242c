from __future__ import annotations

from typing import Any

from voxplan import __version__
from voxplan.core.hops import ChangedPath
from voxplan.core.model import UNKNOWN
from voxplan.core.plan import Action, Change, FieldChange, Plan, display
from voxplan.core.writeonly import mask_paths
from voxplan.render.values import jsonable

FORMAT_VERSION = "1.1"  # 1.1: each change's `affects` and the plan's `call_paths` (blast radius)

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
        "environment": plan.environment or None,
        "resource_changes": [_change(c) for c in plan.changes],
        "resource_drift": [_change(c) for c in plan.outside],  # changed outside voxplan (Terraform's name)
        "warnings": list(plan.warnings),
        "refresh_only": plan.refresh_only,
        "call_paths": [p.to_json() for p in plan.paths],
        "summary": {"import": plan.to_import, "move": plan.to_move, "add": plan.to_add, "change": plan.to_change,
                    "destroy": plan.to_destroy, "unroute": plan.to_unroute, "record": plan.to_record,
                    "has_changes": plan.has_changes},
    }


def _change(c: Change) -> dict[str, Any]:
    kind, _, name = c.address.partition("/")
    actions = list(ACTIONS[c.action])
    if c.action is Action.REPLACE and c.create_before_destroy:
        actions = ["create", "delete"]
    keys = list(c.body) or list((c.live or {}).keys())
    before = None if c.live is None else {k: jsonable(mask_paths(k, c.live.get(k), c.write_only))
                                          for k in keys if k in c.live}
    gone = c.action in (Action.DELETE, Action.UNROUTE)
    after = None if gone else {k: jsonable(display(v)) for k, v in c.body.items()}
    return {
        "address": c.address,
        "type": kind,
        "name": name,
        "remote_id": c.remote_id,
        "importing": c.importing,
        "previous_address": c.moved_from or None,
        "reason": c.reason or None,
        "lifecycle": {"protect": c.protect, "protect_before": c.prior_protect},
        "clears": list(c.clears),
        "affects": list(c.affects),
        "purchase": {"cost": c.cost or None} if c.purchase else None,
        "release": c.release,
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "fields": [{"path": f.path, "before": jsonable(f.before), "after": jsonable(f.after),
                        "sensitive": f.sensitive, "unknown": f.after is UNKNOWN,
                        "forces_replacement": f.forces_replacement, "added": f.added, "removed": f.removed}
                       for f in c.fields],
        },
    }



def plan_from_json(data: dict[str, Any]) -> Plan:
    """The plan `plan_to_json` wrote, for showing a saved plan again (`voxplan show`): values are the
    display values it holds (secrets masked, unknowns named), enough to render, never to apply."""
    return Plan(stack=data.get("stack", ""), changes=_changes(data.get("resource_changes") or []),
                warnings=tuple(data.get("warnings") or ()), refresh_only=bool(data.get("refresh_only")),
                outside=_changes(data.get("resource_drift") or []), environment=str(data.get("environment") or ""),
                paths=tuple(ChangedPath(str(p["number"]), tuple((str(a), str(b)) for a, b in p.get("edges") or []))
                            for p in data.get("call_paths") or []))


def _changes(items: list[dict[str, Any]]) -> tuple[Change, ...]:
    changes = []
    for rc in items:
        ch = rc["change"]
        actions = list(ch["actions"])
        action = Action.REPLACE if len(actions) == 2 else Action(actions[0])
        fields = tuple(FieldChange(f["path"], _value(f["before"]), UNKNOWN if f.get("unknown") else _value(f["after"]),
                                   sensitive=bool(f.get("sensitive")),
                                   forces_replacement=bool(f.get("forces_replacement")),
                                   removed=bool(f.get("removed")), added=bool(f.get("added")))
                       for f in ch.get("fields") or [])
        life = rc.get("lifecycle") or {}
        changes.append(Change(address=rc["address"], kind=rc["type"], action=action, remote_id=rc.get("remote_id"),
                              fields=fields, importing=bool(rc.get("importing")), reason=rc.get("reason") or "",
                              body=dict(ch.get("after") or {}), live=ch.get("before"),
                              create_before_destroy=actions != ["delete", "create"],
                              protect=bool(life.get("protect")), prior_protect=bool(life.get("protect_before")),
                              clears=tuple(rc.get("clears") or ()), affects=tuple(rc.get("affects") or ()),
                              purchase=bool(rc.get("purchase")), cost=str((rc.get("purchase") or {}).get("cost") or ""),
                              release=bool(rc.get("release"))))
    return tuple(changes)


def _value(value: Any) -> Any:
    return UNKNOWN if value == "(known after apply)" else value
