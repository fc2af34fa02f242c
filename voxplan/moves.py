"""Renames: `moved:` entries in the stack and `voxplan state mv`.

An entry names stack entries (`{from: assistants.front-desk, to: assistants.reception}`) or addresses
(`{from: vapi.assistant/a, to: vapi.assistant/b}`). A stack entry moves every resource it expands to: a
trunk's carrier objects and its Vapi credential, an assistant. The plan is made against state with the
moves done in memory, so it shows each move and otherwise nothing; apply renames the state entries (one
journal append) before anything else. Remote ids never change. An entry whose `from` is no longer in
state has been applied and stays harmless, as in Terraform.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import msgspec

from voxplan.core.errors import PlanError
from voxplan.core.model import Resource
from voxplan.core.plan import Plan
from voxplan.stack.model import Stack
from voxplan.state import State


def expand_move(src: str, dst: str, resources: Iterable[Resource], known: Iterable[str] = ()) -> dict[str, str]:
    """from-address → to-address for one move. `resources`: the stack's; `known`: addresses in state."""
    if "/" in src or "/" in dst:
        if "/" not in src or "/" not in dst or src.partition("/")[0] != dst.partition("/")[0]:
            raise PlanError(f"moved: {src} -> {dst}: an address moves to an address of the same kind")
        return {src: dst}
    (s_section, _, s_name), (d_section, _, d_name) = src.partition("."), dst.partition(".")
    if not s_name or not d_name or s_section != d_section:
        raise PlanError(f"moved: {src} -> {dst}: write section.name on both sides, in one section "
                        "(e.g. assistants.front-desk -> assistants.reception)")
    kinds = {r.kind for r in resources if r.origin[:2] in ((d_section, d_name), (s_section, s_name))
             and r.name in (d_name, s_name)}
    known = set(known)
    kinds |= {a.partition("/")[0] for a in known if a.partition("/")[2] == s_name and not kinds}
    return {f"{k}/{s_name}": f"{k}/{d_name}" for k in sorted(kinds)}


def declared(stack: Stack, desired: Iterable[Resource]) -> dict[str, str]:
    """The stack's `moved:` entries as from-address → to-address."""
    desired = list(desired)
    out: dict[str, str] = {}
    for entry in stack.data.get("moved") or []:
        out.update(expand_move(str(entry["from"]), str(entry["to"]), desired))
    return out


def pending(moves: Mapping[str, str], state: State) -> dict[str, str]:
    """The moves state still needs: `from` in state. Both ends in state is an error."""
    out = {}
    for src, dst in moves.items():
        if src not in state.resources:
            continue
        if dst in state.resources:
            raise PlanError(f"moved: {src} -> {dst}: state has both; voxplan state rm one of them first")
        out[src] = dst
    return out


def view(state: State, moves: Mapping[str, str]) -> State:
    """`state` as it will be once `moves` are done: a copy in memory, for planning (nothing is written)."""
    if not moves:
        return state
    resources = {moves.get(a, a): e for a, e in state.resources.items()}
    return State(state.store, key=state.key, resources=resources, serial=state.serial, lineage=state.lineage,
                 exists=state.exists)


def mark(plan: Plan, moves: Mapping[str, str]) -> Plan:
    """Each moved resource's change says where state keeps it now."""
    if not moves:
        return plan
    back = {dst: src for src, dst in moves.items()}
    return dataclasses.replace(plan, changes=tuple(
        msgspec.structs.replace(c, moved_from=back[c.address]) if c.address in back else c for c in plan.changes))


def carried_out(plan: Plan) -> dict[str, str]:
    return {c.moved_from: c.address for c in plan.changes if c.moved_from}


def unmark(plan: Plan) -> Plan:
    """The plan once its moves are done in state: what is left for apply to send."""
    return dataclasses.replace(plan, changes=tuple(msgspec.structs.replace(c, moved_from="") if c.moved_from else c
                                                   for c in plan.changes))
