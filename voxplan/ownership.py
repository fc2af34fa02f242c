"""Ownership: every remote object has one owning (stack, environment), kept as claims by the state backend
(design.md, "Ownership is explicit").

    foreign(...)       before planning: the live objects a desired resource could adopt by natural key that
                       another (stack, env) claims or marks as its own; the plan never adopts those
    check(plan)        before anything is sent: a change that would adopt, change or delete an object another
                       (stack, env) claims stops the run with one line naming the owner
    claim_plan(plan)   under the apply lock, before anything is sent: claim what the plan keeps or adopts
                       (a race with another stack's apply fails here, not after a request)
    track(state)       as apply records objects it made, claim them; as it deletes or forgets them, release
    lookalikes(plan)   a create of a kind with no natural key (most Vapi tools) where the account already holds
                       an object with the same fields that no state or claim holds: a warning naming its id
                       (lost state, or a dashboard copy), so a second one is never made without a word

A claim names (vendor, account, kind, remote id); the account is the vendor API's base URL
(`Providers.account`). The local backend keeps no claims: `owners` answers nothing and `claim` does
nothing, so the checks here cost nothing there (see the README, "Ownership", for what that leaves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from voxplan.core.errors import Owned
from voxplan.core.live import Live
from voxplan.core.model import Resource, get_path, loosely_equal, ref_paths, secret_paths
from voxplan.core.plan import Action, Change, Plan
from voxplan.providers import Providers, adapter_class, provider_of
from voxplan.state import Claim, Entry, State, StateStore


def claim_of(provs: Providers, kind: str, remote_id: str) -> Claim:
    vendor = provider_of(kind)
    return Claim(vendor=vendor, account=provs.account(vendor), kind=kind, remote_id=remote_id)


def foreign(desired: Sequence[Resource], live: Mapping[str, Live], state: State, store: StateStore,
            provs: Providers, *, owner: str) -> frozenset[str]:
    """Remote ids that a desired resource not yet in state could adopt by its natural key, but that another
    (stack, env) claims (a shared backend) or marks as its own (`owner_marker`, any backend): never adoption
    candidates, so two environments declaring the same object get one each. One claims query."""
    held = {e.id for e in state.resources.values()}
    candidates: list[tuple[str, str, str | None]] = []  # (kind, remote id, owner marker found)
    for res in desired:
        if state.get(res.address) is not None or res.kind not in live:
            continue
        cls = adapter_class(res.kind)
        key = cls.natural_key(res.body)
        for obj in live[res.kind].by_key.get(key, []) if key else []:
            remote = cls.remote_id(obj)
            if remote not in held:
                found = get_path(obj, cls.owner_marker) if cls.owner_marker else None
                candidates.append((res.kind, remote, str(found) if found else None))
    marked = {remote for _, remote, tag in candidates if tag and tag != owner}
    claims = {claim_of(provs, kind, remote): remote for kind, remote, _ in candidates if remote not in marked}
    owned = store.owners(claims) if claims else {}
    return frozenset(marked | {claims[c] for c in owned})


def _verb(change: Change) -> str:
    if change.importing:
        return "adopt"
    return {Action.DELETE: "delete", Action.REPLACE: "replace"}.get(change.action, "change")


def check(plan: Plan, store: StateStore, provs: Providers, *, stack_file: str = "STACK", owner: str = "") -> None:
    """Raise Owned for the first change (in plan order) on an object another (stack, env) claims, or,
    being adopted, is marked as another's (`owner`: this run's tag, as voxplan.expand.owner_tag makes it)."""
    for change in plan.changes:
        marker = adapter_class(change.kind).owner_marker if change.importing and change.live else None
        found = get_path(change.live, marker) if marker else None
        if found and owner and found != owner:
            name = str(found).partition("/")
            theirs = f"stack {name[0]!r}" + (f" (environment {name[2]!r})" if name[2] else "")
            raise Owned(f"{change.address}: {change.kind} {change.remote_id} is marked as owned by {theirs} (its "
                        f"{marker}), and this plan would adopt it; nothing was sent (to take it over: voxplan "
                        f"import {stack_file} {change.address} {change.remote_id} --take-over)", owner=theirs)
    touched = [(c, claim_of(provs, c.kind, c.remote_id)) for c in plan.changes if c.is_change and c.remote_id]
    if not touched:
        return
    owners = store.owners(claim for _, claim in touched)
    for change, claim in touched:
        if claim in owners:
            raise Owned(f"{change.address}: {change.kind} {change.remote_id} is owned by {owners[claim]}, and this "
                        f"plan would {_verb(change)} it; nothing was sent (to take it over: voxplan import "
                        f"{stack_file} {change.address} {change.remote_id} --take-over)", owner=owners[claim])


def claim_plan(plan: Plan, store: StateStore, provs: Providers) -> None:
    """Claim every existing object the plan keeps, changes or adopts (deletes are released as they happen)."""
    store.claim(claim_of(provs, c.kind, c.remote_id) for c in plan.changes
                if c.remote_id and c.action is not Action.DELETE)


def claim_state(state: State, store: StateStore, provs: Providers, *, take_over: bool = False) -> None:
    store.claim((claim_of(provs, e.kind, e.id) for e in state.resources.values() if e.id), take_over=take_over)


def track(state: State, store: StateStore, provs: Providers) -> None:
    """Keep claims in step with what `state` records from now on: the store takes the claims of new ids
    and releases those of ids that went with the journal row that records them (one transaction)."""

    def claims(pairs: Iterable[tuple[Entry | None, Entry | None]]) -> tuple[list[Claim], list[Claim]]:
        made, gone = [], []
        for before, after in pairs:  # a pending note (`pending`) has no id yet: nothing to claim
            if after is not None and after.id and (before is None or before.id != after.id):
                made.append(claim_of(provs, after.kind, after.id))
            if before is not None and before.id and (after is None or after.id != before.id):
                gone.append(claim_of(provs, before.kind, before.id))
        return made, gone

    state.claims = claims


def lookalikes(plan: Plan, live: Mapping[str, Live], held: set[str], store: StateStore, provs: Providers, *,
               elsewhere: Callable[[], set[str]] = set) -> tuple[str, ...]:
    """Warnings for creates that nothing can tell from an object the account holds: the kind has no natural
    key (nothing adopts it), and a live object no state here holds and no other stack claims has every field
    the stack declares (references and secrets aside: those are only known at apply, or never shown).
    `elsewhere`: what the stack's other environments hold (read only when a look-alike is found)."""
    found: list[tuple[Change, str]] = []
    for change in plan.changes:
        if change.action is not Action.CREATE or change.kind not in live:
            continue
        adapter = provs.adapters[change.kind]
        if adapter.natural_key(dict(change.body)) is not None:
            continue
        said = {k: adapter.fill_defaults(k, v) for k, v in change.body.items()
                if v is not None and not ref_paths(v) and not secret_paths(v)}
        for remote, obj in live[change.kind].by_id.items():
            if remote not in held and said and all(loosely_equal(v, obj.get(k)) for k, v in said.items()):
                found.append((change, remote))
    if found:
        others = elsewhere()
        found = [(c, remote) for c, remote in found if remote not in others]
    if not found:
        return ()
    claims = {claim_of(provs, c.kind, remote): remote for c, remote in found}
    owned = {claims[c] for c in store.owners(claims)}
    return tuple(f"{c.address} will be created, and the account already holds {c.kind} {remote} with the "
                 "same fields, which no state here holds: if this stack's state was lost, import it instead "
                 f"(imports: {{{c.address}: {remote}}}), or the account will hold two"
                 for c, remote in found if remote not in owned)

