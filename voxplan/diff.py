"""Desired vs live vs state → Plan. Pure.

The rules (design.md, "Rules that make it correct"):
- Only keys the stack declared are compared; a declared object or list is compared whole, after the
  adapter fills the server's documented defaults into it.
- A key whose desired value is what voxplan last sent is judged against what the server answered then
  (state's `seen`), so undocumented server additions are never drift, while an edit made elsewhere is.
- Write-only secrets are compared by keyed fingerprint; a change re-sends the whole top-level key.
- Refs to resources being created or replaced are unknown until apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from voxplan.core.errors import PlanError
from voxplan.core.graph import topo_order
from voxplan.core.live import Live
from voxplan.core.model import (
    UNKNOWN,
    Ref,
    Resource,
    base_address,
    get_path,
    json_equal,
    json_equal_at,
    loosely_equal,
    pending,
    ref_paths,
    substitute,
)
from voxplan.core.plan import NOOP, Action, Change, FieldChange, Plan, display
from voxplan.core.secret import MASK, fingerprint
from voxplan.core.writeonly import (
    carries,
    heads,
    mask_paths,
    overlay,
    secret_fingerprint,
    secrets_under,
    strip_paths,
    strip_write_only,
)
from voxplan.providers.base import OMITTED, Adapter
from voxplan.state import Entry, State


def make_plan(stack: str, desired: Sequence[Resource], live: Mapping[str, Live], state: State,
              adapters: Mapping[str, Adapter], *, replace: frozenset[str] = frozenset(),
              foreign: frozenset[str] = frozenset()) -> Plan:
    """`replace`: addresses to replace even though nothing forces it (Terraform's -replace). `foreign`: remote
    ids another stack or environment claims or marks as its own, which are never adopted by natural key (a
    kind whose key is unique on the account, a number, is still planned against them: the ownership check
    then stops the plan, naming the owner)."""
    resources = {r.address: r for r in desired}
    unknown = sorted(replace - set(resources))
    if unknown:
        raise PlanError(f"--replace {unknown[0]}: no such resource in the stack")
    order = topo_order({a: r.dependencies() for a, r in resources.items()})
    claimed = {e.id for e in state.resources.values()}
    planned: dict[str, Change] = {}
    elsewhere = set(foreign)
    unmoved: set[str] = set()  # entries whose live object the diff found as the last apply left it

    def value_of(ref: Ref) -> Any:  # one function for every body, not a lambda made per body
        return _resolve(ref, planned)

    for addr in order:
        res = resources[addr]
        lean = None if addr in replace else _kept(res, live[res.kind], state, adapters[res.kind], value_of, unmoved)
        planned[addr] = lean or _plan_resource(res, live, state, adapters, planned, claimed, addr in replace,
                                               elsewhere, unmoved)
    changes = [planned[a] for a in order]
    forget: list[str] = []
    deletes: list[Change] = []
    for addr, entry in state.resources.items():
        if addr in resources:
            continue
        obj = live[entry.kind].by_id.get(entry.id) if entry.kind in live else None
        if obj is None:
            forget.append(addr)
            continue
        hidden = tuple(entry.fingerprints)  # the secret paths recorded at the last apply: masked on the live side
        adapter = adapters.get(entry.kind)
        unroutes = adapter is not None and adapter.unroutes(obj) and base_address(addr) == addr
        kept: dict[str, Any] = {}
        if unroutes:  # only what the adapter's delete clears changes; the number itself stays
            assert adapter is not None
            kept = {k: others for k in adapter.shared_lists if k in entry.sent and isinstance(obj.get(k), list)
                    and (others := _others(adapter, k, [], obj[k], entry))}
            gone = tuple(FieldChange(k, before=display(mask_paths(k, obj.get(k), hidden)),
                                     after=display(kept.get(k, adapter.clear_value(k))), removed=True)
                         for k in entry.sent if k in adapter.cleared)
        else:
            gone = tuple(FieldChange(k, MASK, sensitive=True, removed=True) if k in hidden else
                         FieldChange(k, before=display(mask_paths(k, obj.get(k), hidden)), removed=True)
                         for k in entry.sent if k in hidden or obj.get(k) is not None)  # not `password = null`
        deletes.append(Change(address=addr, kind=entry.kind, action=Action.UNROUTE if unroutes else Action.DELETE,
                              remote_id=entry.id, prior_depends_on=entry.deps, live=obj, fields=gone,
                              write_only=hidden,
                              body=kept, send_keys=tuple(kept),
                              protect=entry.protect, prior_protect=entry.protect,
                              reason="left by a replacement that did not finish" if base_address(addr) != addr
                              else "not in the stack any more"))
    plan = Plan(stack=stack, changes=tuple(changes + _dependents_first(deletes)), forget=tuple(forget),
                outside=outside(live, state, adapters, unmoved))
    # in the stack, the stack's lifecycle decides (as Terraform's config does); gone from it, state's
    protected = [c.address for c in plan.changes if c.action is not NOOP and (
                 (c.action is Action.REPLACE and c.protect) or (c.action in _GONE and c.prior_protect))]
    if protected:
        verb = "destroy, replace or unroute"
        raise PlanError(f"{protected[0]} is protected (lifecycle.protect) and this plan would {verb} it"
                        + (f" (and {len(protected) - 1} more protected)" if len(protected) > 1 else "")
                        + "; remove protect: true from the stack first if that is really meant")
    return plan


_GONE = (Action.DELETE, Action.UNROUTE)
_MADE = (Action.CREATE, Action.REPLACE)  # a new object: its values are known only after apply


def target(plan: Plan, targets: Sequence[str]) -> Plan:
    """Only the targets and what they depend on (Terraform's -target); the rest stays planned for later."""
    by_address = {c.address: c for c in plan.changes}
    unknown = [t for t in targets if t not in by_address]
    if unknown:
        raise PlanError(f"--target {unknown[0]}: no such resource in the stack or state")
    keep: set[str] = set()
    todo = list(targets)
    while todo:
        addr = todo.pop()
        if addr in keep:
            continue
        keep.add(addr)
        todo += [d for d in by_address[addr].depends_on if d in by_address]
    left = sum(1 for c in plan.changes if c.is_change and c.address not in keep)
    warning = (f"--target in effect: {left} other change(s) are not part of this plan" if left else
               "--target in effect")
    return dataclasses.replace(plan, changes=tuple(c for c in plan.changes if c.address in keep),
                               forget=tuple(a for a in plan.forget if a in keep),
                               warnings=plan.warnings + (warning,))


def refresh_only(stack: str, live: Mapping[str, Live], state: State) -> Plan:
    """What changed outside voxplan since the last apply, as state would record it; nothing remote."""
    changes: list[Change] = []
    forget: list[str] = []
    for addr, entry in sorted(state.resources.items()):
        obj = live[entry.kind].by_id.get(entry.id) if entry.kind in live else None
        if obj is None:
            forget.append(addr)
            continue
        fields = _moved_outside(entry, obj)
        changes.append(Change(address=addr, kind=entry.kind, action=Action.UPDATE if fields else Action.NOOP,
                              remote_id=entry.id, fields=fields, live=obj,
                              reason="changed outside voxplan" if fields else ""))
    return Plan(stack=stack, changes=tuple(changes), forget=tuple(forget), refresh_only=True)


def outside(live: Mapping[str, Live], state: State, adapters: Mapping[str, Adapter],
            unmoved: Collection[str] = ()) -> tuple[Change, ...]:
    """Objects changed outside voxplan since the last apply (Terraform's "Objects have changed outside of
    Terraform"): per state entry, what the server shows now against what it answered then (state's `seen`),
    as an update from the one to the other, or a delete when the object is gone. For the reviewer: apply
    never reads these. `unmoved`: addresses whose entry the plan already found unmoved (`_unmoved`: its
    object shows every `seen` value as it was, and it has no secret): nothing to compare again."""
    out: list[Change] = []
    for addr, entry in state.resources.items():
        if entry.kind not in live or addr in unmoved:
            continue  # not refreshed (a kind no provider here manages), or compared already: nothing to say
        obj = live[entry.kind].by_id.get(entry.id)
        if obj is None:
            out.append(Change(address=addr, kind=entry.kind, action=Action.DELETE, remote_id=entry.id,
                              reason="deleted outside voxplan"))
            continue
        fields = _moved_outside(entry, obj) + _secrets_moved(entry, obj, adapters.get(entry.kind), state.key)
        if fields:  # `live` is what the vendor answered at the last apply, `body` what it shows now (masked)
            hidden = tuple(entry.fingerprints)
            then = {k: mask_paths(k, v, hidden) for k, v in entry.seen.items()}
            now = {k: mask_paths(k, strip_write_only(k, obj.get(k), hidden), hidden) for k in entry.seen}
            out.append(Change(address=addr, kind=entry.kind, action=Action.UPDATE, remote_id=entry.id, fields=fields,
                              live=then, body=now, write_only=hidden, reason="changed outside voxplan"))
    return tuple(sorted(out, key=lambda c: c.address))


def _secrets_moved(entry: Entry, obj: Mapping[str, Any], adapter: Adapter | None, fp_key: bytes
                   ) -> tuple[FieldChange, ...]:
    """Readable secrets (the vendor returns them: an interpolated first message) whose value there no longer
    has the fingerprint state recorded. Write-only ones never come back, so nothing is said of them."""
    write_only = adapter.write_only if adapter is not None else ()
    out = []
    for path, recorded in entry.fingerprints.items():
        if path in write_only:
            continue
        held = get_path(obj, path)
        if isinstance(held, str | int | float) and fingerprint(str(held), fp_key) != recorded:
            out.append(FieldChange(path, MASK, MASK, sensitive=True))
    return tuple(out)


def _moved_outside(entry: Entry, obj: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The leaves of the keys voxplan manages that the server shows differently from its answer at the last
    apply (write-only secrets left out: they never come back)."""
    hidden = tuple(entry.fingerprints)
    if not hidden and json_equal_at(obj, entry.seen):
        return ()  # the common case, decided at once (types count, so never equal where loosely_equal would differ)
    now = {key: strip_write_only(key, obj.get(key), hidden) for key in entry.seen}
    return tuple(f for key in entry.seen if not loosely_equal(entry.seen.get(key), now[key])
                 for f in _leaves(key, display(mask_paths(key, entry.seen.get(key), hidden)),
                                  display(mask_paths(key, now[key], hidden))))


def _dependents_first(deletes: list[Change]) -> list[Change]:
    by_address = {c.address: c for c in deletes}
    return [by_address[a] for a in reversed(topo_order({c.address: c.prior_depends_on for c in deletes}))]


def _plan_resource(res: Resource, live: Mapping[str, Live], state: State, adapters: Mapping[str, Adapter],
                   planned: Mapping[str, Change], claimed: set[str], force_replace: bool = False,
                   foreign: set[str] | None = None, unmoved: set[str] | None = None) -> Change:
    adapter = adapters[res.kind]
    entry = state.get(res.address)
    write_only = _secret_paths(adapter.write_only, res, entry)
    kind_live = live[res.kind]
    obj = kind_live.by_id.get(entry.id) if entry else None
    importing = False
    reason = ""
    if obj is None and entry is None and res.import_id:
        obj = kind_live.by_id.get(res.import_id)
        if obj is None:
            raise PlanError(f"{res.address}: imports: names {res.import_id}, and the account has no {res.kind} "
                            "with that id", at=("imports", res.address))
        if res.import_id in claimed or res.import_id in (foreign or ()):
            raise PlanError(f"{res.address}: imports: names {res.import_id}, which another resource or stack "
                            "already holds", at=("imports", res.address))
        claimed.add(res.import_id)
        importing, reason = True, f"imported by id {res.import_id} (the stack's imports:)"
    if obj is None:
        key = adapter.natural_key(res.body)
        others = foreign if foreign and adapter.creatable and not adapter.unique_key else ()
        candidates = [o for o in kind_live.by_key.get(key, []) if adapter.remote_id(o) not in claimed
                      and adapter.remote_id(o) not in others] if key else []
        if len(candidates) > 1:
            ids = ", ".join(sorted(adapter.remote_id(o) for o in candidates))
            raise PlanError(f"{res.address}: {len(candidates)} remote objects match {key!r} ({ids}); voxplan will "
                            f"not guess. Delete the duplicates or run: voxplan import STACK {res.address} ID")
        if candidates:
            obj, importing = candidates[0], True
            claimed.add(adapter.remote_id(obj))
            reason = f"adopting the existing object with the same key {key!r}"
        elif (note := state.get(pending(res.address))) is not None:
            obj = _created_unrecorded(res, adapter, note, kind_live, claimed, foreign or set())
            importing = obj is not None
            reason = "adopting what an interrupted apply created (it carries the body that apply sent)" if obj else ""
        elif entry:
            reason = "it was deleted outside voxplan"
    if res.lifecycle.get("release"):
        return _release(res, obj, entry, adapter)
    spends = obj is None and adapter.spends(res.body)
    if spends and not res.lifecycle.get("purchase"):
        raise PlanError(f"{res.address}: not found on the account, and getting it costs money: voxplan buys it only "
                        f"when its stack entry says purchase: true (looked for {adapter.natural_key(res.body)!r})")
    if obj is None and not adapter.creatable and not spends:
        raise PlanError(f"{res.address}: not found on the account, and voxplan adopts these, never buys or "
                        f"creates them (looked for {adapter.natural_key(res.body)!r})")
    body = substitute(res.body, res.ref_paths, lambda ref: _resolve(ref, planned))
    common = dict(address=res.address, kind=res.kind, body=body, depends_on=res.dependencies(),
                  protect=bool(res.lifecycle.get("protect")), prior_protect=bool(entry and entry.protect),
                  full_replace=adapter.full_replace,
                  prior_depends_on=entry.deps if entry else (), origin=res.origin,
                  write_only=write_only, create_before_destroy=adapter.create_before_destroy)
    if obj is None:
        created = [f for k, v in body.items() if v is not None for f in _leaves(k, None, display(v), added=True)]
        return Change(action=Action.CREATE, fields=tuple(created), reason=reason, purchase=spends,
                      **common)  # type: ignore[arg-type]
    baseline = None if importing or entry is None else entry
    declared = _share(adapter, body, obj, baseline)
    ignore = [str(p) for p in res.lifecycle.get("ignore_changes") or []]
    send: list[str] = []
    fields: list[FieldChange] = []
    replace = False
    for key, value in body.items():
        if key in ignore:
            continue
        nested = [p.partition(".")[2] for p in ignore if p.partition(".")[0] == key and "." in p]
        key_fields = _compare_key(adapter, write_only, key, value, obj, baseline, state.key, nested)
        if key_fields:
            send.append(key)
            forces = key in adapter.forces_replacement
            replace |= forces
            fields += [FieldChange(f.path, f.before, f.after, f.sensitive, forces, f.removed, f.added)
                       for f in key_fields]
    clears = _clears(adapter, body, obj, baseline, ignore)
    for key, (value, key_fields) in clears.items():
        send.append(key)
        fields += key_fields
        if value is not OMITTED:
            body[key] = value
    for key in send:  # an ignored nested field keeps its live value when its object is sent
        nested = [p.partition(".")[2] for p in ignore if p.partition(".")[0] == key and "." in p]
        if nested:
            body[key] = overlay(body[key], obj.get(key), nested)
    if force_replace:
        replace, reason = True, "replacement requested with --replace"
        send = send or list(body)
    if send and adapter.full_replace:
        send = list(body)
    elif send and adapter.patch_with:
        send += [k for k in adapter.patch_with if k in body and k not in send]
    action = Action.REPLACE if replace else Action.UPDATE if send else Action.NOOP
    if action is Action.REPLACE:  # a new object: nothing of the old one's to clear
        for key in clears:
            body.pop(key, None)
        fields = [f for f in fields if f.path.partition(".")[0].partition("[")[0] not in clears]
        clears = {}
    if replace and not force_replace:
        reason = "; ".join(f"{f.path} cannot be changed in place" for f in fields if f.forces_replacement)
    elif importing and fields:
        reason += _adoption_note(adapter, fields)
    send = [k for k in send if k in body]
    return Change(action=action, remote_id=adapter.remote_id(obj), send_keys=tuple(send), fields=tuple(fields),
                  importing=importing, reason=reason, live=obj, clears=tuple(clears), declared=declared,
                  **common)  # type: ignore[arg-type]


def _kept(res: Resource, kind_live: Live, state: State, adapter: Adapter, value_of: Callable[[Ref], Any],
          unmoved: set[str]) -> Change | None:
    """The common case, kept lean: the object state names is there and nothing moved since the last apply
    (`_unmoved`), so a no-op (spelled out, not through `_plan_resource`'s `common`: that dict and its **
    unpacking cost 0.17 G instructions at 10,000 numbers). None for anything else: the full comparison."""
    entry = state.resources.get(res.address)
    if entry is None:
        return None
    lifecycle = res.lifecycle
    if lifecycle and (lifecycle.get("release") or "ignore_changes" in lifecycle):
        return None
    obj = kind_live.by_id.get(entry.id)
    if obj is None:
        return None
    write_only = _secret_paths(adapter.write_only, res, entry)
    # a body without Refs is shared, not copied: a no-op's body is only read
    body = substitute(res.body, res.ref_paths, value_of) if res.ref_paths else res.body
    if not _unmoved(adapter, body, obj, entry, state.key, write_only):
        return None
    if not entry.fingerprints:  # (obj is the one state names: not importing)
        unmoved.add(res.address)
    wants = res.dependencies()  # what state recorded, nearly always: that tuple, not one more per no-op
    return Change(address=res.address, kind=res.kind, action=NOOP, body=body,
                  remote_id=adapter.remote_id(obj), depends_on=wants,
                  prior_depends_on=wants if entry.deps == wants else entry.deps,
                  create_before_destroy=adapter.create_before_destroy, full_replace=adapter.full_replace,
                  write_only=write_only, origin=res.origin, live=obj, declared=_NOTHING,
                  protect=bool(lifecycle.get("protect")), prior_protect=entry.protect)


# a no-op declares no shared list: one read-only empty mapping for all of them, not a dict each (objects that
# outlive the diff are what sets the collector off, and each full collection walks the whole refreshed heap)
_NOTHING: Mapping[str, Any] = MappingProxyType({})


def _release(res: Resource, obj: Mapping[str, Any] | None, entry: Entry | None, adapter: Adapter) -> Change:
    """`release: true`: a number still on the account is given back (apply needs --allow-release); one already
    gone is nothing to do."""
    if obj is None:
        return Change(address=res.address, kind=res.kind, action=Action.NOOP, origin=res.origin)
    before = tuple(FieldChange(k, before=display(obj.get(k)), removed=True) for k in res.body if k in obj)
    return Change(address=res.address, kind=res.kind, action=Action.DELETE, remote_id=adapter.remote_id(obj),
                  live=obj, fields=before, release=True, origin=res.origin,
                  prior_depends_on=entry.deps if entry else (), protect=bool(res.lifecycle.get("protect")),
                  prior_protect=bool(entry and entry.protect), reason="release: true")


def _created_unrecorded(res: Resource, adapter: Adapter, note: Entry, kind_live: Live, claimed: set[str],
                        foreign: set[str]) -> dict[str, Any] | None:
    """The object a create voxplan noted before its POST made (`pending`), when the run stopped before
    recording it: the one live object no state or other owner holds that carries the noted body."""
    found = [o for o in kind_live.by_id.values() if adapter.remote_id(o) not in claimed
             and adapter.remote_id(o) not in foreign
             and carries(note.sent, o, adapter.write_only, adapter.fill_defaults)]
    if len(found) > 1:
        ids = ", ".join(sorted(adapter.remote_id(o) for o in found))
        raise PlanError(f"{res.address}: an interrupted apply may have created it, and {len(found)} objects carry "
                        f"what it sent ({ids}); voxplan will not guess. Delete the extra ones or run: voxplan import "
                        f"STACK {res.address} ID")
    if found:
        claimed.add(adapter.remote_id(found[0]))
        return found[0]
    return None


def _adoption_note(adapter: Adapter, fields: Sequence[FieldChange]) -> str:
    """What an adoption sends that is no change of a setting: a write-only secret voxplan cannot read back
    (the stack's value is sent, once), and the owner marker of the adopting stack."""
    unread = [f.path for f in fields if f.sensitive and f.path in adapter.write_only]
    marked = [f.path for f in fields if adapter.owner_marker and f.path == adapter.owner_marker]
    if len(unread) + len(marked) != len(fields):
        return ""
    notes = ([f"re-sends the write-only {', '.join(unread)}, which voxplan cannot read back"] if unread else []) \
        + ([f"marks it as this stack's ({marked[0]})"] if marked else [])
    return "; " + "; ".join(notes)


def _share(adapter: Adapter, body: dict[str, Any], obj: Mapping[str, Any], baseline: Entry | None) -> dict[str, Any]:
    """For each shared list (`Adapter.shared_lists`), the body sends voxplan's entries first, then the live
    entries voxplan never sent (someone else's), in their order. Returns voxplan's own, for state."""
    declared: dict[str, Any] = {}
    for key in adapter.shared_lists:
        wanted, live_value = body.get(key), obj.get(key)
        if not isinstance(wanted, list) or not isinstance(live_value, list):
            continue
        others = _others(adapter, key, wanted, live_value, baseline)
        if others:
            declared[key] = wanted
            body[key] = [*wanted, *others]
    return declared


def _others(adapter: Adapter, key: str, wanted: list[Any], live_value: list[Any], baseline: Entry | None) -> list[Any]:
    """Live entries of a shared list that voxplan neither wants now nor sent before."""
    ours = [*adapter.fill_defaults(key, wanted), *((baseline.sent.get(key) or []) if baseline else [])]
    return [x for x in live_value if not any(loosely_equal(x, o) for o in ours)]


def _clears(adapter: Adapter, body: Mapping[str, Any], obj: Mapping[str, Any], baseline: Entry | None,
            ignore: Sequence[str]) -> dict[str, tuple[Any, list[FieldChange]]]:
    """Declared means managed, absence included: each top-level key voxplan sent before and the stack no
    longer declares is cleared (the adapter's `cleared` table says with what), unless it already is."""
    out: dict[str, tuple[Any, list[FieldChange]]] = {}
    if baseline is None:
        return out
    for key in baseline.sent:
        if key in body or key in ignore:
            continue
        value = adapter.clear_value(key)
        live_value = obj.get(key)
        target = None if value is OMITTED else adapter.fill_defaults(key, value)
        if live_value is None or loosely_equal(target, live_value):
            continue
        shown = None if value is OMITTED else display(value)
        before = display(mask_paths(key, live_value, tuple(baseline.fingerprints)))  # a secret stays masked
        out[key] = (value, [FieldChange(key, before, shown, removed=True)])
    return out


def _secret_paths(write_only: tuple[str, ...], res: Resource, entry: Entry | None = None) -> tuple[str, ...]:
    """The adapter's write-only paths and, after them, the path of every Secret in its body (values from
    `${env:}`/`${file:}` and vendor secret fields): all are compared by fingerprint, never kept raw. Then
    the secret paths state recorded that the stack no longer gives a secret (a cleared first message, or one
    made plain text): the live side holds the old secret, so the plan keeps both sides masked until the apply
    that replaces it (which records no fingerprint for a plain value)."""
    found = res.secret_paths()  # once per shape (Resource.secret_paths)
    paths = write_only + tuple(p for p in found if p not in write_only) if found else write_only
    if entry is not None and entry.fingerprints:
        paths += tuple(p for p in entry.fingerprints if p not in paths)
    return paths


def _unmoved(adapter: Adapter, body: Mapping[str, Any], obj: Mapping[str, Any], entry: Entry, fp_key: bytes,
             write_only: tuple[str, ...] | None = None) -> bool:
    """The common case, decided without comparing key by key: nothing moved since the last apply. What
    would be sent now is what was sent then, the server shows what it answered then, and every write-only
    secret has its recorded fingerprint, all by `json_equal` (types count: True is not 1), so this never
    calls equal what the full comparison would call changed; whatever it cannot decide (a readable secret)
    goes the long way. `write_only`: the body's secret paths (default: the adapter's write-only ones)."""
    write_only = adapter.write_only if write_only is None else write_only
    secret_keys = heads(write_only)
    sent = body if secret_keys.isdisjoint(body) else {
        k: strip_write_only(k, v, write_only) if k in secret_keys else v for k, v in body.items()}
    if not json_equal(sent, entry.sent):
        return False
    seen = entry.seen  # what the server answered for exactly these keys (compared in place: no copy of either)
    if seen is not entry.sent and seen.keys() != body.keys():  # (sent's are body's: compared just above)
        return False
    if not json_equal_at(obj, seen):
        return False
    for key, value in body.items() if sent is not body else ():
        for path, secret in secrets_under(key, value, write_only).items():
            if entry.fingerprints.get(path) != secret_fingerprint(secret, fp_key):
                return False
    return True


def _resolve(ref: Ref, planned: Mapping[str, Change]) -> Any:
    """A Ref whose target already exists (and is not being replaced) becomes its value; others stay Refs."""
    target = planned.get(ref.address)
    if target is None or target.action in _MADE or target.live is None:
        return ref
    found = get_path(target.live, ref.attr)
    return ref if found is None else ref.render(found)


def _compare_key(adapter: Adapter, write_only: tuple[str, ...], key: str, value: Any, obj: Mapping[str, Any],
                 baseline: Any, fp_key: bytes, ignore: Sequence[str] = ()) -> list[FieldChange]:
    """Secrets are left out of the comparison of values on both sides and judged by fingerprint: a
    write-only one against the fingerprint state recorded, a readable one (the vendor returns it, e.g. an
    interpolated first message) against the fingerprint of what the vendor holds now."""
    live_value = strip_paths(strip_write_only(key, obj.get(key), write_only), ignore)
    wanted = strip_paths(strip_write_only(key, value, write_only), ignore)
    out: list[FieldChange] = []
    if ref_paths(wanted):  # a Ref left after resolving: known only after apply, at its own paths
        out += _leaves(key, display(live_value), display(adapter.fill_defaults(key, wanted))) or [
            FieldChange(key, display(live_value), UNKNOWN)]
    else:
        filled = adapter.fill_defaults(key, wanted)
        if not loosely_equal(filled, live_value):
            sent_before = strip_paths(baseline.sent[key], ignore) if baseline is not None and key in baseline.sent \
                else None
            if baseline is not None and key in baseline.sent and loosely_equal(wanted, sent_before):
                drifted = not loosely_equal(live_value, strip_paths(baseline.seen.get(key), ignore))
            else:
                drifted = True
            if drifted:
                out += _leaves(key, display(live_value), display(filled))
    for path, secret in secrets_under(key, value, write_only).items():
        if path in adapter.write_only:
            recorded = baseline.fingerprints.get(path) if baseline is not None else None
        else:
            held = get_path(obj, path)
            recorded = fingerprint(str(held), fp_key) if isinstance(held, str | int | float) else None
        if recorded != secret_fingerprint(secret, fp_key):
            out.append(FieldChange(path, MASK if recorded else None, MASK, sensitive=True))
    return out


def _leaves(path: str, before: Any, after: Any, added: bool = False) -> list[FieldChange]:
    """Leaf-level differences for display; lists of different length are shown whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldChange] = []
        for k in list(after) + [k for k in before if k not in after]:
            if not loosely_equal(before.get(k), after.get(k)):
                out += _leaves(f"{path}.{k}", before.get(k), after.get(k))
        return out
    if isinstance(before, list) and isinstance(after, list):
        out = []
        for i in range(max(len(before), len(after))):
            if i >= len(after):
                out.append(FieldChange(f"{path}[{i}]", before[i], None, removed=True))
            elif i >= len(before):
                out.append(FieldChange(f"{path}[{i}]", None, after[i], added=True))
            elif not loosely_equal(before[i], after[i]):
                out += _leaves(f"{path}[{i}]", before[i], after[i])
        return out
    if before is None and not added and after is None:
        return []
    return [FieldChange(path, before, after, removed=after is None and before is not None,
                        added=added or before is None)]
