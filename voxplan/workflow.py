"""The one way through: stack → expand → graph → refresh → diff → (render) → apply.

The CLI calls these with a `RunContext` it builds once; tests may too. Nothing here prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from voxplan import callpath, history, moves, ownership, planfile
from voxplan import providers as registry
from voxplan.apply import ApplyResult, apply_plan
from voxplan.core.context import RunContext
from voxplan.core.errors import Diagnostic, LockLost, Owned, PlanError, VoxplanError
from voxplan.core.live import Live
from voxplan.core.model import Resource, base_address
from voxplan.core.plan import Action, Plan
from voxplan.core.progress import Progress
from voxplan.diff import make_plan, refresh_only, target
from voxplan.expand import expand, owner_tag
from voxplan.providers import Providers
from voxplan.refresh import refresh
from voxplan.stack import Stack, load_and_validate
from voxplan.stack.environments import every_environment
from voxplan.state import Entry, State, StateStore
from voxplan.state.backends import open_store
from voxplan.state.model import read_entry

if TYPE_CHECKING:
    from voxplan.sandbox import Sandbox


@dataclass
class Loaded:
    stack: Stack
    desired: list[Resource]
    ctx: RunContext = field(default_factory=RunContext)
    warnings: list[Diagnostic] = field(default_factory=list)
    _store: StateStore | None = None

    @property
    def store(self) -> StateStore:
        """The state backend: --backend, else VOXPLAN_BACKEND, else the stack's `backend:`, else local."""
        if self._store is None:
            spec = self.ctx.backend_spec or self.stack.data.get("backend")
            self._store = open_store(spec, stack_file=self.stack.path, stack=self.stack.name, env=self.ctx.env_name)
        return self._store


def load(path: str | Path, ctx: RunContext | None = None) -> Loaded:
    """Load, validate and expand a stack. Offline. Raises StackErrors with every problem."""
    ctx = ctx or RunContext()
    stack, warnings = load_and_validate(path, ctx, surface=registry.SURFACE)
    desired, lint = expand(stack)
    return Loaded(stack, desired, ctx, warnings + [d for d in lint if d.severity == "warning"])


def sandbox_data_file(stack_file: Path) -> Path:
    return stack_file.parent / ".voxplan" / "sandbox" / "data.json"


@contextmanager
def connect(loaded: Loaded) -> Iterator[Providers]:
    """Providers for the stack: the context's transport, the embedded sandbox under --sandbox, else the
    vendors (or base-URL overrides)."""
    transport = loaded.ctx.transport
    if transport is None and loaded.ctx.sandbox:
        from voxplan.sandbox import Sandbox, SandboxTransport  # the emulators load only when asked for

        box = Sandbox(sandbox_data_file(loaded.stack.path))
        _seed_sandbox(box, loaded)
        transport = SandboxTransport(box)
    provs = registry.connect(loaded.stack, loaded.ctx, transport=transport, store=lambda: loaded.store)
    try:
        yield provs
    finally:
        provs.close()
        if loaded._store is not None:
            loaded._store.close()


def _seed_sandbox(box: Sandbox, loaded: Loaded) -> None:
    """The embedded sandbox stands in for an account where the stack's numbers were bought and its
    Cloudonix domains made: adopt-only objects are seeded there (never on a real or served account)."""
    numbers: dict[str, list[str]] = {}
    available: dict[str, list[str]] = {}
    domains: list[str] = []
    for res in loaded.desired:
        seed = registry.adapter_class(res.kind).sandbox_seed(res.body)
        into = available if res.lifecycle.get("purchase") else numbers  # one to buy is for sale, not owned
        for vendor, wanted in (seed.get("numbers") or {}).items():
            into.setdefault(vendor, []).extend(wanted)
        domains += seed.get("domains") or []
    if numbers or domains or available:
        box.seed(numbers=numbers, domains=domains, available=available)


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    refresh_only: bool = False
    destroy: bool = False  # plan as if the stack declared nothing (voxplan destroy; plan --destroy)


def refresh_live(loaded: Loaded, provs: Providers, state: State,
                 desired: Sequence[Resource] | None = None) -> dict[str, Live]:
    """One refresh of what the stack (or `desired`) and its state name: a paged list per kind, details only
    for what they name (the request floor every read-only command shares: plan, trace, test)."""
    desired = loaded.desired if desired is None else desired
    entries = state.resources.values()
    kinds = {r.kind for r in desired} | {e.kind for e in entries}
    wanting = {k for k in kinds if provs.adapter(k).wants_interest}
    interest: dict[str, set[str]] = {k: set() for k in wanting}
    tracked: dict[str, set[str]] = {k: set() for k in kinds}
    for entry in entries:  # one pass each over state and the stack: they hold an entry per number
        if entry.id:  # a pending create's note has none
            tracked[entry.kind].add(entry.id)
        if entry.kind in wanting:
            interest[entry.kind].add(entry.id)
    for res in desired:
        if res.kind in wanting:
            key = provs.adapter(res.kind).natural_key(res.body)
            if key is not None:
                interest[res.kind].add(key)
        if res.import_id and state.get(res.address) is None:  # looked for as state's ids are: by id, if unlisted
            tracked[res.kind].add(res.import_id)
            if res.kind in wanting:
                interest[res.kind].add(res.import_id)
    return refresh(provs, kinds, {k: frozenset(v) for k, v in interest.items()}, tracked)


def plan(loaded: Loaded, provs: Providers, state: State, *, options: PlanOptions | None = None,
         live: dict[str, Live] | None = None) -> Plan:
    """`live`: what a refresh already found (drift --adopt plans its edited stack against it: no request)."""
    options = options or PlanOptions()
    if options.destroy:
        _refuse_protected(loaded, state)
    desired = [] if options.destroy else loaded.desired
    live = refresh_live(loaded, provs, state, desired) if live is None else live
    slips = [f"{kind}: the list left out {', '.join(v.relisted)}, which a GET by id found; nothing is planned "
             "for it as gone" for kind, v in live.items() if v.relisted]
    if options.refresh_only:
        result = refresh_only(loaded.stack.name, live, state)
    else:
        todo = moves.pending(moves.declared(loaded.stack, desired), state) if desired else {}
        viewed = moves.view(state, todo)
        others = ownership.foreign(desired, live, viewed, loaded.store, provs,
                                   owner=owner_tag(loaded.stack.name, loaded.ctx.env_name))
        try:
            made = make_plan(loaded.stack.name, desired, live, viewed, provs.adapters,
                             replace=frozenset(options.replace), foreign=others)
        except PlanError as exc:
            if not exc.at:
                raise
            raise PlanError(f"{loaded.stack.source.key_at(exc.at)}: {exc}") from None
        result = moves.mark(made, todo)
        held = {e.id for e in viewed.resources.values()} | set(others)
        if alike := ownership.lookalikes(result, live, held, loaded.store, provs, elsewhere=lambda: {
                e.id for _, e in entries_of(loaded, other_environments(loaded))}):
            result = dataclasses.replace(result, warnings=result.warnings + alike)
        result = callpath.blast_radius(result, desired, state, loaded.stack)
        result = _priced(result, provs)
    if options.destroy:
        result = dataclasses.replace(result, changes=tuple(
            msgspec.structs.replace(c, reason="voxplan destroy" + (": a number is unrouted, never released"
                                                             if c.action is Action.UNROUTE else ""))
            if base_address(c.address) == c.address else c for c in result.changes))
    if slips:
        result = dataclasses.replace(result, warnings=result.warnings + tuple(slips))
    result = dataclasses.replace(result, environment=loaded.ctx.env_name)
    result = target(result, options.targets) if options.targets else result
    if not options.refresh_only:
        ownership.check(result, loaded.store, provs, stack_file=str(loaded.stack.path),
                        owner=owner_tag(loaded.stack.name, loaded.ctx.env_name))
    return result


def other_environments(loaded: Loaded) -> list[str]:
    """The stack's environments (and the default one) but the one this run is in."""
    names = {"default", *every_environment(loaded.stack.path, loaded.stack.data)}
    return sorted(names - {loaded.ctx.env_name})


def entries_of(loaded: Loaded, environments: Sequence[str]) -> Iterator[tuple[str, Entry]]:
    """The entries those environments' states hold, read only (their snapshots: no lock, no fingerprint key):
    the inventory names their numbers as theirs, and a plan never takes their objects for look-alikes."""
    spec = loaded.ctx.backend_spec or loaded.stack.data.get("backend")
    for env_name in environments:
        store = open_store(spec, stack_file=loaded.stack.path, stack=loaded.stack.name, env=env_name)
        try:
            snap = store.load()
        finally:
            store.close()
        for address, data in snap.read():
            yield env_name, read_entry(store, address, data)


def _refuse_protected(loaded: Loaded, state: State) -> None:
    """destroy honours lifecycle.protect as the stack declares it now and as state recorded it (the diff
    refuses the latter for every plan; the stack's own is checked here, before any request)."""
    protected = sorted(r.address for r in loaded.desired if r.lifecycle.get("protect") and r.address in state.resources)
    if protected:
        more = f" (and {len(protected) - 1} more protected)" if len(protected) > 1 else ""
        raise PlanError(f"{protected[0]} is protected (lifecycle.protect) and destroy would destroy or unroute it"
                        f"{more}; remove protect: true from the stack and apply it first if that is really meant")


def _priced(the_plan: Plan, provs: Providers) -> Plan:
    """Each purchase with what the vendor lists it at (a read, at plan time only)."""
    if not any(c.purchase for c in the_plan.changes):
        return the_plan
    return dataclasses.replace(the_plan, changes=tuple(
        msgspec.structs.replace(c, cost=provs.adapter(c.kind).quote(c.body) or "") if c.purchase else c
        for c in the_plan.changes))


def money_gate(the_plan: Plan, *, allow_purchase: bool, allow_release: bool) -> None:
    """Refuse, before anything is sent, a plan that buys or releases without the user's flag for it."""
    buys = [c.address for c in the_plan.actionable if c.purchase and not allow_purchase]
    gives = [c.address for c in the_plan.actionable if c.release and not allow_release]
    if buys:
        raise PlanError(f"this plan buys {', '.join(buys)}: pass --allow-purchase to spend the money; nothing was "
                        "sent")
    if gives:
        raise PlanError(f"this plan releases {', '.join(gives)}: pass --allow-release to give them back; nothing "
                        "was sent")


def load_state(loaded: Loaded) -> State:
    return State.open(loaded.store, env=loaded.ctx.env)


def save_plan(path: Path, loaded: Loaded, the_plan: Plan, state: State, options: PlanOptions) -> None:
    planfile.write(path, the_plan, stack_file=loaded.stack.path, state_serial=state.serial, key=state.key,
                   sandbox=loaded.ctx.sandbox, targets=options.targets, replace=options.replace,
                   destroy=options.destroy, environment=loaded.ctx.env_name,
                   lineage=state.lineage if state.exists else "")


def apply(loaded: Loaded, provs: Providers, *, confirm: Callable[[Plan], bool], parallelism: int = 10,
          lock_timeout: float = 0.0, fail_fast: bool = False,
          on_plan: Callable[[Plan], None] | None = None,
          on_event: Callable[[str], None] | None = None, options: PlanOptions | None = None,
          saved: planfile.SavedPlan | None = None,
          on_progress: Callable[[Progress], None] | None = None, allow_purchase: bool = False,
          allow_release: bool = False) -> tuple[Plan, ApplyResult | None]:
    """Lock, refresh, plan, confirm, apply. With `saved`, the fresh plan must be the reviewed one.
    Returns the plan and (if confirmed) the result."""
    options = options or PlanOptions()
    with loaded.store.lock(timeout=lock_timeout):
        state = load_state(loaded)
        if options.destroy:
            _refuse_protected(loaded, state)  # before any request
        live = refresh_live(loaded, provs, state, [] if options.destroy else loaded.desired)
        the_plan = plan(loaded, provs, state, options=options, live=live)
        if saved is not None:
            planfile.check(saved, the_plan, stack_file=loaded.stack.path, state_serial=state.serial, key=state.key,
                           lineage=state.lineage)
        if on_plan:
            on_plan(the_plan)
        money_gate(the_plan, allow_purchase=allow_purchase, allow_release=allow_release)
        if not the_plan.has_changes and not the_plan.forget:
            return the_plan, ApplyResult()
        if not confirm(the_plan):
            return the_plan, None
        started = history.now()
        # the stack as applied, for history: made now, not after the apply, when state and the plan are
        # both whole (reading the stack again took ~200 MB at 100,000 numbers)
        applied = history.stack_record(loaded.stack)
        store = loaded.store
        ownership.claim_plan(the_plan, store, provs)  # before anything is sent: a racing claimant stops here
        ownership.track(state, store, provs)
        moved = moves.carried_out(the_plan)
        result = ApplyResult()
        try:
            state.rename(moved)
            result = apply_plan(moves.unmark(the_plan), provs, state, parallelism=parallelism, fail_fast=fail_fast,
                                on_event=on_event, on_progress=on_progress,
                                existing={kind: frozenset(found.by_id) for kind, found in live.items()})
            if on_event:
                for src, dst in moved.items():
                    on_event(f"{dst}: moved from {src} in state (id unchanged)")
            return the_plan, result
        except BaseException as exc:
            result.errors.append(f"apply stopped: {type(exc).__name__}: {exc}")
            raise
        finally:
            try:
                state.compact()
                store.record_history(history.record(
                    the_plan, started=started, environment=loaded.ctx.env_name, stack_file=loaded.stack.path,
                    env=loaded.ctx.env, done=result.done, errors=result.errors, skipped=result.skipped,
                    moved=moved, applied=applied))
            except LockLost as lost:
                if not any(str(lost) in e for e in result.errors):
                    result.errors.append(str(lost))
                result.errors.append(_after_loss(loaded, provs, state))


def _after_loss(loaded: Loaded, provs: Providers, state: State) -> str:
    """What becomes of the changes that finished after the lock was lost (their journal rows were refused):
    recorded through a new session if the lock can be taken again at once, else named."""
    recorded = "what it recorded before is in the journal; the next run folds it in"
    if not state.unrecorded:
        return f"the lock was lost; {recorded}"
    addresses = [r.get("put") or r.get("rm") or r.get("to") for r in state.unrecorded]
    try:
        with loaded.store.lock(timeout=0):
            fresh = load_state(loaded)
            ownership.track(fresh, loaded.store, provs)
            fresh.redo(state.unrecorded)
            fresh.compact()
        return (f"the lock was lost; {recorded}, and the {len(addresses)} change(s) that finished meanwhile were "
                f"recorded under the lock taken again: {', '.join(map(str, addresses))}")
    except VoxplanError:
        return (f"the lock was lost and another runner holds it now: {len(addresses)} change(s) finished but could "
                f"not be recorded: {', '.join(map(str, addresses))} (a plan adopts them by their names)")


def import_resource(loaded: Loaded, provs: Providers, address: str, remote_id: str, *,
                    lock_timeout: float = 0.0, take_over: bool = False) -> str:
    """Adopt the remote object `remote_id` as `address` (Terraform's import). Changes nothing remote."""
    resource = next((r for r in loaded.desired if r.address == address), None)
    if resource is None:
        known = ", ".join(sorted(r.address for r in loaded.desired)[:8])
        raise PlanError(f"{address} is not in the stack (its addresses include: {known})")
    provs.adapter(resource.kind)  # fails early, naming the kind, if no provider manages it
    with loaded.store.lock(timeout=lock_timeout):
        state = load_state(loaded)
        existing = state.get(address)
        if existing is not None:
            raise PlanError(f"{address} is already in state (id {existing.id}); "
                            "voxplan state rm it first to import another object")
        owner = next((a for a, e in state.resources.items() if e.kind == resource.kind and e.id == remote_id), None)
        if owner:
            raise PlanError(f"{remote_id} is already managed as {owner}")
        live = refresh(provs, [resource.kind], {resource.kind: frozenset({remote_id})})[resource.kind]
        if remote_id not in live.by_id:
            raise PlanError(f"{resource.kind} {remote_id!r} was not found on the account")
        claim = ownership.claim_of(provs, resource.kind, remote_id)
        owner = loaded.store.owners([claim]).get(claim)
        if owner and not take_over:
            raise Owned(f"{resource.kind} {remote_id} is owned by {owner}; pass --take-over to make it this "
                        "stack's (the owner's next plan will then stop until it drops it with voxplan state rm)",
                        owner=owner)
        loaded.store.claim([claim], take_over=take_over)
        state.put(address, Entry(kind=resource.kind, id=remote_id, deps=resource.dependencies(),
                                 protect=bool(resource.lifecycle.get("protect"))))
        state.compact()
    return f"Imported {address} (id {remote_id})" + (f", taken over from {owner}." if owner else ".")


def forget(loaded: Loaded, addresses: Iterable[str], *, lock_timeout: float = 0.0) -> list[str]:
    """Drop resources from state without touching them remotely (`voxplan state rm`); all or none. This
    stack's claims on them go too."""
    with loaded.store.lock(timeout=lock_timeout):
        state = load_state(loaded)
        ownership.track(state, loaded.store, registry.connect(loaded.stack, loaded.ctx))  # no request: accounts
        missing = [a for a in addresses if state.get(a) is None]
        if missing:
            raise PlanError(f"{missing[0]} is not in state")
        for addr in addresses:
            state.remove(addr)
        state.compact()
    return [f"Removed {a}" for a in addresses]


def doctor(loaded: Loaded) -> list[registry.Finding]:
    """Probe, read-only, each unconfirmed vendor assumption behind the stack's resources."""
    with connect(loaded) as provs:
        return registry.doctor(provs, loaded.stack, {r.kind for r in loaded.desired})


@dataclass
class DriftReport:
    file: Path
    stack: str = ""
    plan: Plan | None = None
    error: str = ""

    @property
    def drifted(self) -> bool:
        """Changed outside voxplan (a change declared and not applied yet is pending, not drift)."""
        return self.plan is not None and self.plan.drifted


def drift(paths: Iterable[Path], ctx: RunContext | None = None, *, parallelism: int = 4) -> list[DriftReport]:
    """Refresh and plan many stacks concurrently; nothing is changed anywhere."""

    def one(path: Path) -> DriftReport:
        report = DriftReport(file=path)
        try:
            loaded = load(path, ctx)
            report.stack = loaded.stack.name
            with connect(loaded) as provs:
                report.plan = plan(loaded, provs, load_state(loaded))
        except VoxplanError as exc:
            report.error = str(exc)
        return report

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return list(pool.map(one, list(paths)))
