"""Carry out a Plan: walk its changes as a DAG, resolve ids as they appear, write state after every
successful remote change.

Ordering: a create/update waits for the changes of what it depends on; a delete (and the destroy half
of a create-before-destroy replace) waits for every change of what depended on it, as state recorded.
Independent changes run in parallel up to `parallelism`. A failed change skips what waits on it; the
rest still run unless `fail_fast`.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from voxplan.core import errors
from voxplan.core.errors import ProviderError, VoxplanError
from voxplan.core.model import Ref, base_address, deposed, get_path, json_equal, pending, ref_paths, substitute
from voxplan.core.plan import Action, Change, Plan
from voxplan.core.progress import Progress
from voxplan.core.secret import redact, reveal_all
from voxplan.core.writeonly import carries, drop_echoed, secret_fingerprint, secrets_under, strip_write_only
from voxplan.providers import Adapter, Providers
from voxplan.providers.base import OMITTED
from voxplan.state import Entry, State

Step = tuple[str, str]  # ("apply" | "destroy", address)
TRANSIENT = (errors.TransportError, errors.ServerError, errors.RateLimited)
REFUSED = (errors.InvalidRequest, errors.AuthFailed, errors.NotFound, errors.Conflict)  # a create that made nothing
CREATE_ATTEMPTS = 4
LATE_FACTOR = 3.0  # a POST that failed slowly may still complete this many client timeouts after it was sent
LOOK_EVERY = 1.0  # seconds between lookups while waiting for such a late completion
T = TypeVar("T")


def _under(path: str, body: Mapping[str, Any]) -> bool:
    """Whether a fingerprint's path (`firstMessage`, `model.messages[0].content`) lies under a key of `body`."""
    return path.split(".", 1)[0].split("[", 1)[0] in body


def _timeout(adapter: Adapter) -> float:
    """How long a request of this adapter's client may take before voxplan gives up on it."""
    return float(getattr(getattr(adapter, "client", None), "timeout", None) or 30.0)


def _transient_retry(call: Callable[[], T], attempts: int = 3) -> T:
    """Run an idempotent or declarative step again after a transient failure the HTTP layer gave up on."""
    for attempt in range(attempts):
        try:
            return call()
        except TRANSIENT:
            if attempt + 1 == attempts:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)  # human lines, in completion order
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def apply_plan(plan: Plan, providers: Providers, state: State, *, parallelism: int = 10, fail_fast: bool = False,
               on_event: Callable[[str], None] | None = None, on_progress: Callable[[Progress], None] | None = None,
               still_every: float = 10.0, existing: Mapping[str, frozenset[str]] | None = None) -> ApplyResult:
    """`existing`: per kind, the ids the plan's refresh saw. A create whose answer was lost is looked for
    among objects that were not there then: never one that existed before this run (another environment's
    twin, a hand-made object), nor one another change of this run made or took."""
    if plan.refresh_only:
        return _accept_drift(plan, state, on_event or (lambda _msg: None))
    runner = _Runner(plan, providers, state, on_event or (lambda _msg: None), on_progress or (lambda _p: None),
                     existing=existing)
    for addr in plan.forget:
        state.remove(addr)
    runner.record_imports()
    try:
        with _Ticker(runner, still_every):
            runner.run(max(1, parallelism), fail_fast)
    finally:
        runner.settle_lost_posts()
    return runner.result


class _Ticker:
    """Reports each step still in flight every `every` seconds ("Still creating… [10s elapsed]")."""

    def __init__(self, runner: _Runner, every: float):
        self.runner, self.every = runner, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="voxplan-apply-ticker", daemon=True)

    def __enter__(self) -> _Ticker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            now = time.monotonic()
            with self.runner.lock:
                flying = list(self.runner.flying.items())
            for (address, action, remote_id), started in flying:
                self.runner.progress(Progress(address, "still", action, now - started, remote_id))


def _accept_drift(plan: Plan, state: State, emit: Callable[[str], None]) -> ApplyResult:
    """Record what changed outside voxplan as both sent and seen: the next plan compares the stack with
    it, as Terraform's plan does after a refresh-only apply. Nothing remote changes."""
    result = ApplyResult()
    updated = {}
    for change in plan.actionable:
        entry = state.get(change.address)
        if entry is None or change.live is None:
            continue
        changed = {f.path.split(".")[0].split("[")[0] for f in change.fields}
        seen = {**entry.seen, **{k: change.live.get(k) for k in changed}}
        sent = {**entry.sent, **{k: change.live.get(k) for k in changed}}
        updated[change.address] = Entry(kind=entry.kind, id=entry.id, sent=sent, seen=seen,
                                        fingerprints=entry.fingerprints, deps=entry.deps, protect=entry.protect)
        result.done.append(f"{change.address}: state now records the live object")
    state.put_many(updated)
    for addr in plan.forget:
        state.remove(addr)
        result.done.append(f"{addr}: gone remotely, dropped from state")
    for line in result.done:
        emit(line)
    return result


class _Runner:
    def __init__(self, plan: Plan, providers: Providers, state: State, emit: Callable[[str], None],
                 progress: Callable[[Progress], None] = lambda _p: None,
                 existing: Mapping[str, frozenset[str]] | None = None):
        self.plan = plan
        self.existing = existing or {}
        self.taken: set[tuple[str, str]] = set()  # (kind, id) this run made or adopted: no other change takes it
        # per kind, creates in flight and lookups running: a lookup waits for the POSTs, new POSTs for it
        self.turns = threading.Condition()
        self.posting: dict[str, int] = {}
        self.looking: dict[str, int] = {}
        self.providers = providers
        self.state = state
        self.emit = emit
        self.progress = progress
        self.flying: dict[tuple[str, str, str | None], float] = {}  # (address, action, id) -> start
        self.result = ApplyResult()
        self.lock = threading.Lock()
        # for resolving Refs, the values they name (address -> attr -> value): what the plan saw, then what
        # apply made. Only what some change's body refers to is kept, not each object apply gets back
        self.named: dict[str, set[str]] = {}
        for c in plan.actionable:
            for _, ref in ref_paths(c.body):
                self.named.setdefault(ref.address, set()).add(ref.attr)
        self.objects: dict[str, dict[str, Any]] = {}
        for c in plan.changes:
            if c.live is not None and c.action is not Action.REPLACE:
                self._keep(c.address, c.live)
        self.steps, self.waits = self._graph()
        # creates whose POST got no answer: (change, body, payload sent, until when the vendor may finish it)
        self.lost_posts: list[tuple[Change, dict[str, Any], dict[str, Any], float]] = []

    def _graph(self) -> tuple[dict[Step, Change], dict[Step, set[Step]]]:
        changes = {c.address: c for c in self.plan.actionable}
        steps: dict[Step, Change] = {}
        for c in changes.values():
            if c.action not in (Action.DELETE, Action.UNROUTE):
                steps[("apply", c.address)] = c
            if c.action in (Action.DELETE, Action.UNROUTE) or (c.action is Action.REPLACE and c.create_before_destroy):
                steps[("destroy", c.address)] = c
        users: dict[str, list[str]] = {}  # address -> changes that depend, or depended, on it
        for c in changes.values():
            for dep in {*c.prior_depends_on, *c.depends_on}:
                users.setdefault(dep, []).append(c.address)
        for addr in changes:  # a deposed object waits for whatever stops using the resource it was
            if base_address(addr) != addr:
                users[addr] = users.get(base_address(addr), [])
        waits: dict[Step, set[Step]] = {}  # only steps that wait on something (most wait on nothing)
        for (phase, addr), c in steps.items():
            if phase == "apply":
                on = {("apply", d) for d in c.depends_on if ("apply", d) in steps}
            else:
                on = {("apply", addr)} if ("apply", addr) in steps else set()
                for other in users.get(addr, []):
                    if other != addr:
                        on |= {s for s in (("apply", other), ("destroy", other)) if s in steps}
            if on:
                waits[(phase, addr)] = on
        return steps, waits

    def record_imports(self) -> None:
        """Adoptions and lifecycle changes that need no remote change are written to state at once, in one
        write."""
        imports = {addr: c for (_, addr), c in self.steps.items() if c.action is Action.NOOP and c.live is not None}
        entries = {}
        for addr, c in imports.items():
            previous = self.state.get(addr)
            if c.importing or previous is None:
                entries[addr] = self._entry(c, c.body, c.live or {})
            else:  # only lifecycle moved: the rest of the entry stays as the last apply left it
                entries[addr] = Entry(kind=previous.kind, id=previous.id, sent=previous.sent, seen=previous.seen,
                                      fingerprints=previous.fingerprints, deps=previous.deps, protect=c.protect)
        self.state.put_many(entries)
        gone = {("apply", addr) for addr in imports}
        for step in gone:
            del self.steps[step]
            self.waits.pop(step, None)
        for step, waits in list(self.waits.items()):
            waits -= gone
            if not waits:
                del self.waits[step]
        for addr, c in imports.items():
            self._log(f"{addr}: imported (id {c.remote_id})" if c.importing else
                      f"{addr}: lifecycle.protect = {str(c.protect).lower()} recorded in state")

    def run(self, parallelism: int, fail_fast: bool) -> None:
        """Start each step once everything it waits on is done: counts and a ready heap, O(steps + edges).
        The workers take the next ready step themselves as they finish one, so a free slot never waits
        for a coordinating thread to be scheduled (at 10 in flight and 20 ms per call, that wait was a
        fifth of the apply)."""
        remaining = {s: len(w) for s, w in self.waits.items()}  # steps not in it wait on nothing
        dependents: dict[Step, list[Step]] = {}
        for step, waits in self.waits.items():
            for dep in waits:
                dependents.setdefault(dep, []).append(step)
        order = {s: i for i, s in enumerate(self.steps)}
        ready = [(order[s], s) for s in self.steps if s not in remaining]  # a heap: plan order among the ready
        heapq.heapify(ready)
        settled: set[Step] = set()
        cond = threading.Condition()
        running = 0
        stop = False

        def skip_after(step: Step) -> None:
            todo = list(dependents.get(step, ()))
            while todo:
                nxt = todo.pop()
                if nxt in settled:
                    continue
                settled.add(nxt)
                self.result.skipped.append(f"{nxt[1]}: skipped, because something it waits on failed")
                todo += dependents.get(nxt, ())

        def take() -> Step | None:
            """The next ready step, waiting while others run that may release one; None when done."""
            nonlocal running
            with cond:
                while True:
                    while ready and not stop:
                        _, step = heapq.heappop(ready)
                        if step not in settled:
                            running += 1
                            return step
                    if stop or running == 0:
                        return None
                    cond.wait()

        def finish(step: Step, exc: BaseException | None) -> None:
            nonlocal running, stop
            with cond:
                running -= 1
                settled.add(step)
                if isinstance(exc, errors.LockLost):  # the run stops: report it once, not per worker
                    if str(exc) not in self.result.errors:
                        self.result.errors.append(redact(str(exc)))
                    stop = True
                    skip_after(step)
                elif exc is not None:
                    self.result.errors.append(redact(str(exc) if isinstance(exc, VoxplanError) else
                                                     f"{step[1]}: {type(exc).__name__}: {exc}"))
                    stop = stop or fail_fast
                    skip_after(step)
                else:
                    for nxt in dependents.pop(step, ()):
                        remaining[nxt] -= 1
                        if remaining[nxt] == 0 and nxt not in settled:
                            heapq.heappush(ready, (order[nxt], nxt))
                cond.notify_all()

        def worker() -> None:
            while (step := take()) is not None:
                try:
                    self._do(step)
                except BaseException as exc:  # noqa: BLE001 - reported as this step's failure
                    finish(step, exc)
                else:
                    finish(step, None)

        threads = [threading.Thread(target=worker, name=f"voxplan-apply-{i}", daemon=True)
                   for i in range(min(parallelism, max(1, len(self.steps))))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:  # as Terraform: start nothing new, let what is in flight finish and be recorded
            with cond:
                stop = True
            for t in threads:
                t.join()
            raise
        for step in self.steps:
            if step not in settled:
                self.result.skipped.append(f"{step[1]}: not attempted")

    # -- one step ----------------------------------------------------------------------------------
    def _do(self, step: Step) -> None:
        phase, addr = step
        change = self.steps[step]
        action = "destroy" if phase == "destroy" and change.action is Action.REPLACE else change.action.value
        key = (addr, action, change.remote_id)
        self.state.check_lock()  # nothing more is sent once the lock is lost
        started = time.monotonic()
        self.progress(Progress(addr, "start", action, 0.0, change.remote_id))
        with self.lock:
            self.flying[key] = started
        try:
            remote_id = self._step(step, change)
        except BaseException as exc:
            elapsed = time.monotonic() - started
            self.progress(Progress(addr, "error", action, elapsed, change.remote_id, redact(str(exc))))
            raise
        finally:
            with self.lock:
                self.flying.pop(key, None)
        self.progress(Progress(addr, "done", action, time.monotonic() - started, remote_id))

    def _step(self, step: Step, change: Change) -> str | None:
        """One remote change; returns the remote id it left."""
        phase, addr = step
        adapter = self.providers.adapter(change.kind)
        try:
            if phase == "destroy":
                assert change.remote_id
                if change.action is Action.UNROUTE and change.send_keys:  # others' entries stay
                    kept = reveal_all({k: change.body[k] for k in change.send_keys})
                    _transient_retry(lambda: adapter.update(change.remote_id or "", kept))
                elif change.release:  # gated by --allow-release before anything was sent
                    _transient_retry(lambda: adapter.release(change.remote_id or ""))
                elif change.action is Action.UNROUTE:
                    _transient_retry(lambda: adapter.unroute(change.remote_id or "", change.live))
                else:
                    _transient_retry(lambda: adapter.delete(change.remote_id or ""))
                if change.action in (Action.DELETE, Action.UNROUTE):
                    self.state.remove(addr)
                else:  # the old object of a replacement: gone now, so no longer deposed
                    self.state.remove(deposed(addr, change.remote_id))
                self._log(f"{addr}: released" if change.release else f"{addr}: destroyed" if change.action is
                          Action.DELETE else
                          f"{addr}: unrouted (id {change.remote_id} kept)" if change.action is Action.UNROUTE else
                          f"{addr}: old object {change.remote_id} destroyed", remote=True)
                return change.remote_id
            body = self._resolve(change.body)
            if change.action is Action.CREATE or change.action is Action.REPLACE:
                if change.action is Action.REPLACE and not change.create_before_destroy:
                    assert change.remote_id
                    _transient_retry(lambda: adapter.delete(change.remote_id or ""))
                elif change.action is Action.REPLACE and change.remote_id:
                    self._depose(change)
                obj = self._create(adapter, body, change)
                verb = "created" if change.action is Action.CREATE else "replaced"
            elif change.send_keys:
                assert change.remote_id
                payload = reveal_all({k: body[k] for k in change.send_keys})
                # a key a full-replace PUT clears by leaving it out reaches the adapter as OMITTED, so one
                # that starts from the live object (Wavix trunks) leaves it out too
                payload.update({k: OMITTED for k in change.clears if k not in payload})
                obj = _transient_retry(lambda: adapter.update(change.remote_id or "", payload))
                verb = "updated"
            else:  # pragma: no cover - pure imports are recorded before the walk
                raise AssertionError(f"{addr}: nothing to do")
            remote_id = adapter.identify(obj)  # an answer without an id: located, with its status
        except ProviderError as exc:
            raise exc.at(addr) from None
        obj = drop_echoed(obj, adapter.write_only)  # before state, Refs or output see it
        with self.lock:
            self._keep(addr, obj)
        self.state.put(addr, self._entry(change, body, obj))
        if self.state.get(pending(addr)) is not None:  # recorded: the note of its create is done with
            self.state.remove(pending(addr))
        if change.importing:
            verb = f"imported and {verb}"
        self._log(f"{addr}: {verb} (id {remote_id})", remote=True)
        return remote_id

    def _depose(self, change: Change) -> None:
        """Before a replacement's create, the old object moves to its deposed address in state (one journal
        record), so whatever happens next — a kill, SIGTERM, a 5xx on its DELETE — the next plan deletes
        it, and adopts or creates the new one (the address is then not in state, and the old object, still
        claimed by its deposed entry, is never the one adopted)."""
        assert change.remote_id
        if self.state.get(change.address) is not None:
            self.state.move(change.address, deposed(change.address, change.remote_id))
        else:  # adopted in this plan: nothing in state yet
            self.state.put(deposed(change.address, change.remote_id), Entry(kind=change.kind, id=change.remote_id))

    def _create(self, adapter: Adapter, body: Mapping[str, Any], change: Change) -> dict[str, Any]:
        """POST is not idempotent. After an answer that may hide a success (no answer, a reset, a 5xx) voxplan
        looks for the object it just sent (`_lookup`) before sending the POST again, and takes it if it is
        there. A POST that failed slowly (after half the client's timeout or more: the vendor may still be
        working on it, as when a gateway gives up before the server does) is looked for until LATE_FACTOR
        client timeouts after it was sent, so a late completion is adopted instead of duplicated; a POST that
        got no answer is remembered, and the run looks for what it made once more before it ends
        (`settle_lost_posts`). Where no natural key would find the object again (most Vapi tools), what is
        sent is noted in state first (`pending`): a run killed before it records the answer leaves the note,
        and the next plan looks for that body instead of making a second object."""
        payload = reveal_all(body)
        if adapter.natural_key(dict(body)) is None:
            self.state.put(pending(change.address), self._entry(change, body, {}, remote_id=""))
        timeout = _timeout(adapter)
        for attempt in range(CREATE_ATTEMPTS):
            if attempt:
                self.state.check_lock()
            sent = time.monotonic()
            try:
                with self._posting(adapter.kind):
                    made = adapter.create(payload)
                    self._took(adapter, made)
                return made
            except TRANSIENT as exc:
                slow = not isinstance(exc, errors.RateLimited) and time.monotonic() - sent >= timeout / 2
                late_until = sent + LATE_FACTOR * timeout if slow else sent
                if isinstance(exc, errors.TransportError) or attempt + 1 == CREATE_ATTEMPTS:
                    with self.lock:  # looked for once more before the run ends (and its note settled)
                        self.lost_posts.append((change, dict(body), payload, late_until))
                if attempt + 1 == CREATE_ATTEMPTS:
                    raise
                if isinstance(exc, errors.RateLimited):  # a 429 means the server did nothing: no lookup
                    time.sleep(exc.retry_after if exc.retry_after is not None else 0.2 * 2**attempt)
                    continue
                found = self._lookup(adapter, payload, until=late_until)
                if found is not None:
                    if slow:
                        self._log(f"{change.address}: the vendor finished a create after voxplan stopped waiting "
                                  f"for it; adopted (id {adapter.remote_id(found)}), not sent again")
                    return found
                time.sleep(0.2 * 2**attempt)
            except REFUSED:  # refused: nothing was made, so nothing to look for later
                if self.state.get(pending(change.address)) is not None:
                    self.state.remove(pending(change.address))
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _posting(self, kind: str) -> Iterator[None]:
        """A create in flight: it waits while a lookup of its kind runs (the lookup must never see an object
        a POST made before that POST's answer has said whose it is)."""
        with self.turns:
            self.turns.wait_for(lambda: not self.looking.get(kind))
            self.posting[kind] = self.posting.get(kind, 0) + 1
        try:
            yield
        finally:
            with self.turns:
                self.posting[kind] -= 1
                self.turns.notify_all()

    @contextmanager
    def _looking(self, kind: str) -> Iterator[None]:
        """A lookup for a lost create: it waits until no POST of its kind is in flight (and holds new ones)."""
        with self.turns:
            self.looking[kind] = self.looking.get(kind, 0) + 1
            self.turns.wait_for(lambda: not self.posting.get(kind))
        try:
            yield
        finally:
            with self.turns:
                self.looking[kind] -= 1
                self.turns.notify_all()

    def _took(self, adapter: Adapter, obj: Mapping[str, Any]) -> None:
        """Note an object this run made, so no lost create's lookup takes it (one without an id is reported
        where it is recorded: `identify`)."""
        try:
            rid = adapter.remote_id(dict(obj))
        except (KeyError, TypeError, AttributeError):
            return
        with self.lock:
            self.taken.add((adapter.kind, rid))

    def settle_lost_posts(self) -> None:
        """For each create whose POST once got no answer: look for what it sent, once the vendor can no longer
        be working on it. An object there that no state entry holds was made by that POST after all (a vendor
        finishing after our timeout). If the resource is in state by now (a retry or a lookup got it), the
        extra object is a duplicate and is deleted (an error naming both ids if the delete fails); if not
        (the create failed in the end), the object is adopted."""
        try:
            self.state.check_lock()
        except errors.LockLost:
            return  # another runner may hold the lock: its plan sees whatever these made
        unique = {c.address: (c, b, p, u) for c, b, p, u in self.lost_posts}
        for change, body, payload, until in unique.values():
            time.sleep(max(0.0, until - time.monotonic()))
            adapter = self.providers.adapter(change.kind)
            try:
                with self._looking(adapter.kind):
                    strays = self._strays(adapter, payload)
                for obj in strays:
                    held = self.state.get(change.address)
                    if held is None:
                        with self.lock:
                            self.taken.add((adapter.kind, adapter.remote_id(obj)))
                        self.state.put(change.address, self._entry(change, body, obj))
                        if self.state.get(pending(change.address)) is not None:
                            self.state.remove(pending(change.address))
                        self._log(f"{change.address}: a create that got no answer had happened after all; "
                                  f"adopted (id {adapter.remote_id(obj)})")
                        continue
                    try:
                        _transient_retry(lambda: adapter.delete(adapter.remote_id(obj)))  # noqa: B023
                    except ProviderError as exc:
                        raise ProviderError(f"{adapter.remote_id(obj)} duplicates {held.id} (a create without an "
                                            f"answer made it after all) and could not be deleted: {exc}") from None
                    self._log(f"{change.address}: deleted {adapter.remote_id(obj)}, a duplicate of {held.id} that "
                              "a create without an answer made after all")
                if self.state.get(change.address) is None and self.state.get(pending(change.address)) is not None:
                    # the vendor had its time to finish and made nothing this run can see: the note of the
                    # create would only make the next plan look among objects it cannot tell from it
                    self.state.remove(pending(change.address))
            except ProviderError as exc:
                with self.lock:
                    self.result.errors.append(redact(str(exc.at(change.address))))

    def _lookup(self, adapter: Adapter, payload: Mapping[str, Any], until: float = 0.0) -> dict[str, Any] | None:
        """The unowned object carrying what `payload` sent, looking again every LOOK_EVERY seconds until
        `until` (a create the vendor may still be working on)."""
        while True:
            with self._looking(adapter.kind):
                found = self._strays(adapter, payload)
                with self.lock:  # two twins of one run never take the same object
                    found = [o for o in found if (adapter.kind, adapter.remote_id(o)) not in self.taken]
                    if found:
                        self.taken.add((adapter.kind, adapter.remote_id(found[0])))
                        return found[0]
            left = until - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(LOOK_EVERY, left))
            self.state.check_lock()

    def _strays(self, adapter: Adapter, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Live objects no state entry holds that carry what `payload` sent, key by key (the server's
        documented defaults filled in, write-only values left out: they never come back). By what was sent,
        not by a natural key: a kind with no name (most Vapi tools) is found too, and another environment's
        twin with the same name but its own content is not."""
        owned = {e.id for e in self.state.snapshot().values() if e.kind == adapter.kind}
        before = self.existing.get(adapter.kind, frozenset())  # there before this run: never what it made
        key = adapter.natural_key(dict(payload))
        listed = _transient_retry(lambda: adapter.list(frozenset({key}) if key else None))
        with self.lock:
            taken = {rid for kind, rid in self.taken if kind == adapter.kind}
        return [o for o in listed if (rid := adapter.remote_id(o)) not in owned and rid not in before
                and rid not in taken and carries(payload, o, adapter.write_only, adapter.fill_defaults)]

    def _entry(self, change: Change, body: Mapping[str, Any], obj: Mapping[str, Any],
               remote_id: str | None = None) -> Entry:
        adapter = self.providers.adapter(change.kind)
        previous = self.state.get(change.address)
        fingerprints = dict(previous.fingerprints) if previous and change.action is Action.UPDATE else {}
        for path in [p for p in fingerprints if _under(p, body)]:  # what was sent now says which are secrets
            del fingerprints[path]
        for key, value in body.items():
            for path, secret in secrets_under(key, value, change.write_only).items():
                fingerprints[path] = secret_fingerprint(secret, self.state.key)
        kept = [k for k in body if k not in change.clears]  # a cleared key is no longer voxplan's to watch
        # a shared list: state records voxplan's entries (the first ones, resolved), not the others' after them
        own = {k: body[k][:len(v)] for k, v in change.declared.items()}
        sent = {k: strip_write_only(k, own.get(k, body[k]), change.write_only) for k in kept}
        seen = {k: strip_write_only(k, obj.get(k), change.write_only) for k in kept}
        return Entry(kind=change.kind, id=adapter.remote_id(obj) if remote_id is None else remote_id,
                     sent=sent, seen=sent if json_equal(seen, sent) else seen,  # the server's echo: kept once
                     fingerprints=fingerprints, deps=change.depends_on,
                     protect=change.protect)

    def _resolve(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """`body` with each Ref replaced by the value it names in what the plan saw or apply made."""
        return substitute(body, ref_paths(body), self._value_of)

    def _keep(self, address: str, obj: Mapping[str, Any]) -> None:
        """Note the values of `obj` (the object at `address`) that Refs name (called under self.lock or
        before the walk)."""
        attrs = self.named.get(address)
        if attrs:
            self.objects[address] = {attr: get_path(obj, attr) for attr in attrs}
        else:
            self.objects.pop(address, None)

    def _value_of(self, ref: Ref) -> Any:
        with self.lock:
            target = self.objects.get(ref.address)
        found = target.get(ref.attr) if target is not None else None
        if found is None:
            raise VoxplanError(f"{ref.address}.{ref.attr} is not known: its change did not complete")
        return ref.render(found)

    def _log(self, line: str, remote: bool = False) -> None:
        """Record a finished change; a remote one is reported by its Progress events instead of `emit`."""
        with self.lock:
            self.result.done.append(line)
        if not remote:
            self.emit(line)
