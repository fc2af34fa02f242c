"""`voxplan drift STACK --adopt`: write what changed outside voxplan (a prompt fixed in the dashboard during an
incident, a number re-routed in the carrier's portal) back into the stack file, so a pull request makes it
official instead of the next apply undoing it.

Only changes made outside voxplan are adopted: a field whose stack value is what the last apply sent and
whose live value is not what the vendor answered then. (A field the stack changed since is pending, not
drift: adopting it would undo that change.) The vendor field is mapped back to the stack field by the
kind's own reverse mapping (voxplan.providers.reverse), run twice over the stack's objects: once as the
stack declares them, once with the adopted live values; what differs between the two stacks is what to
write, and only that is written (voxplan.stack.writer.edit: the rest of the file, comments and layout, stays
byte for byte). The edited stack is planned against the same refresh before it is written: each adopted
field must be gone from the plan. A secret is never written: a drifted secret is reported, not adopted;
neither is a value the stack takes from `${env:}`, `${file:}` or `${var:}`.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from voxplan import providers as registry
from voxplan import workflow
from voxplan.core.errors import PlanError
from voxplan.core.live import Live
from voxplan.core.model import PathT, json_equal, loosely_equal, value_at
from voxplan.core.plan import Action, Change, Plan
from voxplan.core.secret import Secret
from voxplan.core.writeonly import strip_write_only
from voxplan.expand import owner_tag, unsuffixed
from voxplan.providers import Providers
from voxplan.providers.reverse import GenerateContext
from voxplan.render.values import headline
from voxplan.stack.loader import parse_yaml, read_stack
from voxplan.stack.validate import number_key
from voxplan.stack.writer import Change as Edit
from voxplan.stack.writer import WriteError, edit
from voxplan.state import State

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Drifted:
    """One field changed outside voxplan: the plan's address and vendor path, and whether it is a secret."""

    address: str
    path: str
    secret: bool = False

    def __str__(self) -> str:
        return f"{self.address}.{self.path}"


@dataclass
class Adoption:
    """What adopting some drifted fields writes (`edits`, at stack paths), or why it cannot be (`refused`)."""

    fields: list[Drifted]
    edits: list[Edit] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # field -> why not
    text: str = ""  # the stack file with the edits made
    follows: list[str] = field(default_factory=list)  # what the edited stack's plan does that the old one did not
    replan: Plan | None = None  # the edited stack's plan (against the same refresh)


def drifted(plan: Plan, state: State) -> list[Drifted]:
    """The fields the plan says changed outside voxplan since the last apply (`Plan.outside`) that the stack
    can take: still declared, and not changed in the stack since (that is pending: adopting it would undo
    the stack's change). A secret is listed as one, to be reported."""
    declared = {c.address: c for c in plan.changes}
    out: list[Drifted] = []
    for moved in plan.outside:
        change, entry = declared.get(moved.address), state.get(moved.address)
        if moved.action is not Action.UPDATE or change is None or entry is None or change.live is None:
            continue
        for f in moved.fields:
            if f.sensitive:
                out.append(Drifted(moved.address, f.path, True))
                continue
            key = _steps(f.path)[0]
            if not isinstance(key, str) or key not in change.body:
                continue  # the stack no longer declares it
            if loosely_equal(strip_write_only(key, change.body[key], change.write_only), entry.sent.get(key)):
                out.append(Drifted(moved.address, f.path))
    return out


def select(found: Sequence[Drifted], wanted: Iterable[str]) -> list[Drifted]:
    """The drifted fields each `ADDRESS[.FIELD]` names (a FIELD names itself and what is under it)."""
    addresses = sorted({d.address for d in found}, key=len, reverse=True)
    chosen: list[Drifted] = []
    for ask in wanted:
        address = next((a for a in addresses if ask == a or ask.startswith(a + ".")), None)
        if address is None:
            known = ", ".join(str(d) for d in found) or "nothing has drifted"
            raise PlanError(f"{ask}: not a drifted address or field of this stack ({known})")
        rest = ask[len(address) + 1:]
        picked = [d for d in found if d.address == address and (not rest or d.path == rest
                                                                 or d.path.startswith((rest + ".", rest + "[")))]
        if not picked:
            raise PlanError(f"{ask}: {address} has no drifted field {rest!r} (drifted: "
                            + ", ".join(d.path for d in found if d.address == address) + ")")
        chosen += [d for d in picked if d not in chosen]
    return chosen


def adopt(loaded: workflow.Loaded, provs: Providers, plan: Plan, state: State, live: dict[str, Live],
          fields: Sequence[Drifted]) -> Adoption:
    """The stack file with `fields` adopted; `refused` says which cannot be, and why."""
    result = Adoption(list(fields))
    takeable = []
    for f in fields:
        if f.secret:
            result.refused[str(f)] = "a secret: voxplan never writes one into a stack (set its source instead)"
        else:
            takeable.append(f)
    if not takeable:
        return result
    changes = {c.address: c for c in plan.changes}
    before = _reverse(loaded, provs, changes, ())
    after = _reverse(loaded, provs, changes, takeable)
    raw = _raw(loaded.stack.path)
    edits: list[Edit] = []
    for path, value in _diff(before, after):
        old = value_at(before, path)
        if _holds_secret(old):
            for f in takeable:
                result.refused.setdefault(str(f), f"its stack field {_dotted(path)} holds a secret")
            continue
        where = _in_file(raw, path)
        if where is None:
            raise PlanError(f"{_dotted(path)}: not written as such in {loaded.stack.path} (a key made by ${{var:}}?); "
                            "adopt this change by hand")
        written = value_at(raw, where)
        if _holds_secret(value):
            for f in takeable:
                result.refused.setdefault(str(f), f"its stack field {_dotted(path)} would hold a secret")
            continue
        if isinstance(written, str) and "${" in written:
            for f in takeable:
                result.refused.setdefault(str(f), f"{_dotted(path)} takes its value from {written}: change it there")
            continue
        edits.append(Edit(where, value) if value is not _GONE else Edit.remove(where))
    if result.refused and not edits:
        return result
    try:
        result.text = edit(loaded.stack.path.read_text(encoding="utf-8"), edits, str(loaded.stack.path))
    except WriteError as exc:
        raise PlanError(str(exc)) from None
    result.edits = edits
    left, replan = _still_drifted(loaded, provs, state, live, result.text, takeable)
    result.replan = replan
    before_actions = {c.address: c.action for c in plan.changes}
    result.follows = [f"{c.address} {headline(c)}" for c in replan.changes
                      if c.is_change and before_actions.get(c.address) is not c.action]
    for f in left:
        result.refused[str(f)] = "the stack cannot say its live value (the plan of the edited stack still shows it)"
    if left:
        result.edits, result.text = [], ""
    return result


def record(loaded: workflow.Loaded, result: Adoption, lock_timeout: float = 0.0) -> list[str]:
    """State takes the adopted values as the last applied ones, as `apply --refresh-only` records a drift:
    the stack declares them now, so neither the next plan nor `drift` reports them. Nothing remote changes."""
    assert result.replan is not None
    planned = {c.address: c for c in result.replan.changes}
    keys: dict[str, set[str]] = {}
    for f in result.fields:
        if str(f) not in result.refused:
            keys.setdefault(f.address, set()).add(str(_steps(f.path)[0]))
    with loaded.store.lock(timeout=lock_timeout):
        state = workflow.load_state(loaded)
        updated = {}
        for address, names in keys.items():
            entry, change = state.get(address), planned.get(address)
            if entry is None or change is None or change.live is None:
                continue
            hidden = change.write_only
            sent = {**entry.sent, **{k: strip_write_only(k, change.body.get(k), hidden) for k in names}}
            seen = {**entry.seen, **{k: strip_write_only(k, change.live.get(k), hidden) for k in names}}
            updated[address] = msgspec.structs.replace(entry, sent=sent, seen=seen)
        state.put_many(updated)
        state.compact()
    return sorted(updated)


# -- the way back, twice ---------------------------------------------------------------------------------
def _reverse(loaded: workflow.Loaded, provs: Providers, changes: dict[str, Change],
             adopted: Sequence[Drifted]) -> dict[str, Any]:
    """The stack the kinds' reverse mappings write for the stack's objects as it declares them, with the
    `adopted` fields at their live values."""
    objects: dict[str, list[dict[str, Any]]] = {}
    fixed: dict[tuple[str, str], str] = {}
    env = loaded.stack.environment
    for change in changes.values():
        if change.live is None or change.remote_id is None or change.action in (Action.DELETE, Action.UNROUTE):
            continue
        obj = {**copy.deepcopy(dict(change.live)), **copy.deepcopy(dict(change.body))}
        for f in adopted:
            if f.address == change.address:
                _put(obj, _steps(f.path), _at(change.live, _steps(f.path)))
        named = provs.adapter(change.kind).named_path(obj) if env != "default" else None
        if named:  # the stack's name, not the environment's (`Front-prod` is `Front` in the file)
            obj = unsuffixed(obj, named.split("."), f"-{env}")
        objects.setdefault(change.kind, []).append(obj)
        fixed[(change.kind, change.remote_id)] = change.address.partition("/")[2]
    platform = registry.platform(loaded.stack)
    ctx = GenerateContext(live=objects, adapters=provs.adapters, platform=platform,
                          owner=owner_tag(loaded.stack.name, loaded.ctx.env_name), fixed=fixed,
                          route_sources=registry.route_sources())
    registry.reverse(ctx)
    return {**ctx.settings, **ctx.data}


_GONE: Any = object()


def _diff(a: Any, b: Any, path: PathT = ()) -> list[tuple[PathT, Any]]:
    """Where `b` differs from `a`, as (path, new value or _GONE); a mapping whose keys all changed is one
    replacement (a route that now names another target)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if path and a and b and not set(a) & set(b):
            return [(path, b)]
        out = [((*path, k), _GONE) for k in a if k not in b]
        for k, v in b.items():
            out += [((*path, k), v)] if k not in a else _diff(a[k], v, (*path, k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, (*path, i))]
    if isinstance(a, Secret) and isinstance(b, Secret) and a == b:
        return []
    return [] if json_equal(a, b) else [(path, b)]


def _still_drifted(loaded: workflow.Loaded, provs: Providers, state: State, live: dict[str, Live], text: str,
                   fields: Sequence[Drifted]) -> tuple[list[Drifted], Plan]:
    """Plan the edited stack against the same refresh (no request): the adopted fields that still show."""
    with tempfile.TemporaryDirectory(prefix="voxplan-adopt-") as tmp:
        draft = Path(tmp) / loaded.stack.path.name
        draft.write_text(text, encoding="utf-8")
        found = workflow.load(draft, loaded.ctx)
    edited = workflow.Loaded(found.stack, found.desired, loaded.ctx, _store=loaded.store)
    replan = workflow.plan(edited, provs, state, live=live)
    shown = {(c.address, f.path) for c in replan.changes for f in c.fields}
    return [f for f in fields if any(a == f.address and (p == f.path or p.startswith((f.path + ".", f.path + "[")))
                                     for a, p in shown)], replan


# -- paths ---------------------------------------------------------------------------------------------------
def _steps(path: str) -> list[str | int]:
    """`model.messages[0].content` → ["model", "messages", 0, "content"]."""
    return [int(m.group(2)) if m.group(2) is not None else m.group(1) for m in _STEP.finditer(path)]


def _at(obj: Any, steps: Sequence[str | int]) -> Any:
    found = value_at(obj, tuple(steps), _GONE)
    return found if found is _GONE else copy.deepcopy(found)


def _put(obj: Any, steps: Sequence[str | int], value: Any) -> None:
    for step in steps[:-1]:
        nxt = obj.get(step) if isinstance(obj, dict) else obj[step] if isinstance(obj, list) and \
            isinstance(step, int) and step < len(obj) else None
        if not isinstance(nxt, dict | list):
            nxt = [] if isinstance(step, int) else {}
            obj[step] = nxt
        obj = nxt
    last = steps[-1]
    if value is _GONE:
        if isinstance(obj, dict):
            obj.pop(last, None)
        elif isinstance(obj, list) and isinstance(last, int) and last < len(obj):
            obj.pop(last)
    elif isinstance(obj, list) and isinstance(last, int) and last >= len(obj):
        obj.append(value)
    else:
        obj[last] = value


def _holds_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _raw(path: Path) -> Any:
    """The stack file's data as written (before interpolation), read by the stack reader."""
    text, problems = read_stack(path)
    if text is None:
        raise PlanError(str(problems[0]))
    data, _, _ = parse_yaml(text, str(path))
    return data


def _in_file(raw: Any, path: PathT) -> PathT | None:
    """`path` (keys as the stack's addresses spell them) as the file spells it: a number written another way,
    a SIP URI in capitals. None when the file has no such entry."""
    if len(path) < 2 or not isinstance(raw, dict):
        return path
    section, key = path[0], path[1]
    entries = raw.get(section)
    if not isinstance(entries, dict):
        return path
    if key in entries:
        return path
    if section in ("numbers", "routes"):
        spelled = next((k for k in entries if isinstance(k, str) and "${" not in k and number_key(k) == key), None)
        if spelled is not None:
            return (section, spelled, *path[2:])
    return None


def _dotted(path: PathT) -> str:
    return ".".join(str(p) for p in path)
