"""What a provider offers the engine: adapters per resource kind, and expansion of stack intent.

Adapters are small and declare their quirks as data (natural key, write-only fields, fields that force
replacement); they hold no planning logic. Expanders turn stack sections into `Resource`s; a carrier is
one `Carrier`, and carriers reach the voice platform (Vapi) only through the `Platform` protocol, so no
vendor imports another.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from voxplan.core import errors
from voxplan.core.errors import AuthFailed, Diagnostic, InvalidAnswer, Location, NotFound, ProviderError
from voxplan.core.hops import HopContext, HopSet
from voxplan.core.model import PathT, Ref, Resource
from voxplan.providers.http import ApiClient
from voxplan.providers.reverse import GenerateContext, Unresolved
from voxplan.stack.model import Stack
from voxplan.stack.surface import Surface
from voxplan.state.store import Publication, StateStore


class _Omitted:
    """In a `cleared` table: the key is cleared by leaving it out of a full-replace PUT."""

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()


def shared(value: Any) -> Any:
    """`value`, as the one string every equal string is (sys.intern) when it is a string: for the values
    many live objects of a kind repeat (an org's id, a trunk's credential, the target of a route), so that
    a refresh of 100,000 numbers holds each of them once, not 100,000 times."""
    return sys.intern(value) if type(value) is str else value


class Adapter(ABC):
    """CRUD for one resource kind over plain dicts.

    Failure contract: every method raises `voxplan.core.errors.ProviderError` subclasses only. `create` is
    not idempotent: after a TransportError or ServerError the object may exist; the engine looks it up by
    `natural_key` before creating again. `delete` treats 404 as done.
    """

    kind: ClassVar[str]
    write_only: ClassVar[tuple[str, ...]] = ()  # dotted paths the API never returns
    # dotted paths (`*`: any key or index) that hold a secret whatever the stack wrote there, literal or
    # interpolated: masked in plans, fingerprinted in state, never kept raw (write_only paths are secrets too)
    secret_fields: ClassVar[tuple[str, ...]] = ()
    forces_replacement: ClassVar[tuple[str, ...]] = ()  # top-level keys that cannot be updated in place
    create_before_destroy: ClassVar[bool] = True  # False where the natural key must be free first
    full_replace: ClassVar[bool] = False  # update is a PUT of the whole object (every declared key is sent)
    creatable: ClassVar[bool] = True  # False: adopted only (numbers are bought, domains made, by hand)
    wants_interest: ClassVar[bool] = False  # list() narrows its per-object detail requests by `interest`
    env_named: ClassVar[str | None] = None  # dotted path of the name it is adopted by: `-<env>` is appended
    # to it in a named environment, so two environments sharing an account never adopt each other's object
    # (a kind whose name sits in different places per body says so in `named_path`)
    owner_marker: ClassVar[str | None] = None  # dotted path of a free-form field where voxplan writes its
    # owner ("stack" or "stack/env"): an object marked by another owner is never adopted, whatever the backend
    # What "cleared" means for each optional top-level key this kind sends: the value an update sends once
    # the stack stops declaring a key voxplan sent before (null, an empty list, the vendor's documented
    # default, or OMITTED for a full-replace PUT). A key not listed is cleared with null.
    cleared: ClassVar[Mapping[str, Any]] = {}
    delete_unroutes: ClassVar[bool] = False  # delete only clears routing: the object itself is kept
    # The create buys something (a number): it runs only for a resource whose stack entry says `purchase: true`,
    # and apply sends it only with --allow-purchase (issue 19's free Vapi numbers plug in the same way)
    create_spends: ClassVar[bool] = False
    # Top-level lists the vendor shares with entries voxplan never sent (a number's destinations that were
    # there before): voxplan's entries go first, the others are kept after them, and clearing keeps them.
    shared_lists: ClassVar[tuple[str, ...]] = ()
    patch_with: ClassVar[tuple[str, ...]] = ()  # keys every update sends, changed or not (the vendor's update
    # DTO requires them: a Vapi squad's `members`)
    unique_key: ClassVar[bool] = False  # the natural key is unique on the account (a phone number): an object
    # with it that another owner holds is an error to declare, never a reason to make a second one

    @classmethod
    def named_path(cls, body: Mapping[str, Any]) -> str | None:
        """The dotted path of `body`'s name that carries `-<env>` in a named environment (`env_named`)."""
        return cls.env_named

    def unroutes(self, live: Mapping[str, Any]) -> bool:
        """Whether deleting this live object only clears its routing (the object itself is kept): the
        class's `delete_unroutes`, or a decision per object (a Vapi number voxplan bought)."""
        return self.delete_unroutes

    def unroute(self, remote_id: str, live: Mapping[str, Any] | None) -> None:
        """What apply does for a removed object that `unroutes`: by default its `delete`, which for such
        kinds clears the routing."""
        self.delete(remote_id)
    # For the way back (voxplan generate): top-level keys the vendor sets and never takes (ids, timestamps,
    # status), and keys it fills when they are not sent, with the value it fills (documented server
    # defaults): a generated stack says neither.
    read_only: ClassVar[tuple[str, ...]] = ()
    server_defaults: ClassVar[Mapping[str, Any]] = {}

    def clear_value(self, key: str) -> Any:
        """What an update sends to clear top-level `key` (see `cleared`)."""
        return self.cleared.get(key)

    def spends(self, body: Mapping[str, Any]) -> bool:
        """Whether creating `body` costs money (a kind whose creates differ, per body, overrides this)."""
        return self.create_spends

    def quote(self, body: Mapping[str, Any]) -> str | None:
        """What creating `body` costs, as the vendor lists it (read-only), or None where it lists nothing."""
        return None

    def release(self, remote_id: str) -> None:
        """Give the object back to the vendor (a number back to stock): only with `release: true` and
        --allow-release. Kinds that cannot are refused here."""
        raise errors.InvalidRequest(f"{self.kind} objects cannot be released by voxplan", provider=self.kind)

    def __init__(self, client: ApiClient):
        self.client = client

    @abstractmethod
    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """Every live object of this kind, normalised. `interest` (natural keys and ids the stack or state
        name) lets a kind whose details cost a request per object fetch them only for those."""

    def get(self, remote_id: str) -> dict[str, Any] | None:
        """One object by id, normalised, or None when the vendor says it does not exist (404). Refresh asks
        this before it takes a tracked object missing from a list as gone. This default lists the kind
        once more; kinds with a GET by id override it."""
        return next((o for o in self.list(frozenset({remote_id})) if self.remote_id(o) == remote_id), None)

    @abstractmethod
    def create(self, body: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` holds complete values of the top-level keys that change."""

    @abstractmethod
    def delete(self, remote_id: str) -> None: ...

    def delete_at(self, path: str) -> None:
        """DELETE `path`; a 404 means it is gone already, which is what a delete wants."""
        try:
            self.client.request("DELETE", path)
        except NotFound:
            pass

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        return raw

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        """The key under which an object not in state is adopted (a number, a name), or None."""
        return None

    @staticmethod
    def remote_id(obj: Mapping[str, Any]) -> str:
        """The id the vendor gave `obj`; a KeyError when it gave none (see `identify`)."""
        found = obj["id"]
        if found is None or found == "":
            raise KeyError("id")
        return str(found)

    def identify(self, obj: Any) -> str:
        """`remote_id` of an object a vendor answered with (a create's or update's answer, a list item): an
        answer without the id is an InvalidAnswer naming the status it came with, since nothing could refer
        to the object and state could not record it. Every object enters the engine through here."""
        try:
            return self.remote_id(obj)
        except (KeyError, TypeError, AttributeError) as exc:
            missing = repr(exc.args[0]) if isinstance(exc, KeyError) and exc.args else "an id"
            client = getattr(self, "client", None)
            raise InvalidAnswer(f"the answer holds no {missing}, the id voxplan records a {self.kind} by",
                                status=getattr(client, "last_status", None),
                                provider=getattr(client, "provider", "")) from None

    def fill_defaults(self, key: str, value: Any) -> Any:
        """The desired value of top-level `key` with the server's documented defaults filled in."""
        return value

    @classmethod
    def sandbox_seed(cls, body: dict[str, Any]) -> dict[str, Any]:
        """For an adopt-only kind: what the embedded sandbox must hold for `body` to be adoptable
        (`{"numbers": {vendor: [e164]}}` or `{"domains": [name]}`)."""
        return {}


class StoreAdapter(Adapter):
    """An adapter whose "remote" is the state backend's publications, not a vendor API: what apply
    publishes there, versioned, is what a runtime (`voxplan serve`) reads. list = the published objects of
    this (stack, env); create and update = publish a new version; delete = unpublish. The body carries
    the object's `name` (its natural key); its id names the (stack, env) too, so claims never collide
    between stacks."""

    def __init__(self, store: StateStore):  # no API client: nothing here leaves the backend
        self.store = store

    def _id(self, name: str) -> str:
        return f"{self.store.stack}/{self.store.env}/{name}"

    def _object(self, pub: Publication) -> dict[str, Any]:
        return {**pub.body, "id": self._id(pub.name), "version": pub.version}

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return [self._object(p) for p in self.store.published().of_kind(self.kind).values()]

    def get(self, remote_id: str) -> dict[str, Any] | None:
        return next((o for o in self.list() if o["id"] == remote_id), None)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        pub = self.store.publish(self.kind, str(body["name"]), dict(body))
        assert pub is not None
        return self._object(pub)

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new version: the live one with `body`'s keys replaced (a cleared key, None, removed)."""
        current = self.get(remote_id)
        merged = {k: v for k, v in (current or {}).items() if k not in ("id", "version")}
        merged.update(body)
        merged = {k: v for k, v in merged.items() if v is not None}
        merged.setdefault("name", remote_id.rpartition("/")[2])
        return self.create(merged)

    def delete(self, remote_id: str) -> None:
        self.store.publish(self.kind, remote_id.rpartition("/")[2], None)

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        name = body.get("name")
        return str(name) if name is not None else None


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """Where a carrier sends a number's calls, as carriers store it: `uri` is a SIP URI without scheme (str,
    or a Ref known once the platform credential exists), or digits without `+` for a PSTN forward;
    `platform_number` is the platform number created for the route, which the carrier route must wait for."""

    uri: Any
    pstn: bool = False
    platform_number: str | None = None

    @property
    def waits_for(self) -> tuple[str, ...]:
        """The carrier route must not point at the platform before its number there exists."""
        return (self.platform_number,) if self.platform_number else ()


@dataclass(frozen=True)
class Finding:
    """What `voxplan doctor` learnt about one assumption no vendor source settles: where voxplan keeps it,
    what a read-only probe of the account found, and what voxplan does about it."""

    vendor: str
    assumption: str
    where: str  # the one place in the code that holds the assumption
    found: str  # what the probe saw; "not probed: …" when no read-only request can tell
    does: str  # what voxplan does, whatever the answer


def run_probes(vendor: str, client: ApiClient, probes: Iterable[Callable[[ApiClient], Finding]]) -> list[Finding]:
    """Each probe on its own: a key that may not read one endpoint still learns the rest. A key the vendor
    refuses outright (401, or 403 where the vendor means a bad key by it) stops the doctor: nothing it
    learnt would be true, and a pipeline must see the failure (exit 1)."""
    out = []
    for probe in probes:
        try:
            out.append(probe(client))
        except AuthFailed as exc:
            raise AuthFailed(f"the API key was refused ({exc.vendor_message}); check providers.{vendor}.api_key",
                             status=exc.status, provider=vendor, address=vendor) from None
        except ProviderError as exc:
            name = probe.__name__.strip("_").replace("_", " ")
            out.append(Finding(vendor, name, "", f"probe failed: {exc}", "keeps its safe default"))
    return out


def buying(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A number entry's lifecycle with its money switches: `purchase: true` (buy it when the account lacks
    it) and `release: true` (give it back), which the plan shows and apply gates (--allow-purchase,
    --allow-release)."""
    out = dict(spec.get("lifecycle") or {})
    for key in ("purchase", "release"):
        if spec.get(key):
            out[key] = True
    return out


NUMBER_MONEY = {  # what a carrier whose numbers can be bought adds to its number schema
    "purchase": {"type": "boolean", "description": "Buy the number when the account does not have it (plan shows "
                                                   "the price; apply needs --allow-purchase)."},
    "release": {"type": "boolean", "description": "Give the number back to the carrier (apply needs "
                                                  "--allow-release); removing it from the stack only unroutes it."}}


PLATFORM_ROUTES = frozenset({"assistant", "squad", "server_url"})


def routes_to_platform(route: dict[str, Any] | None) -> bool:
    """Whether a route hands calls to the platform (Vapi), which takes the trunk's credential."""
    return bool(route) and bool(PLATFORM_ROUTES & set(route or {}))


RouteResolver = Callable[["ExpandContext", dict[str, Any], str, str, str], RouteTarget]


@dataclass
class ExpandContext:
    stack: Stack
    platform: Platform
    resolve_route: RouteResolver | None = None
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)  # canonical number -> its stack entry
    resources: dict[str, Resource] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # what a provider works out once per expansion and reuses, under keys of its own (a template per shape of
    # number: 10,000 numbers on a few trunks are a few shapes)
    memo: dict[Hashable, Any] = field(default_factory=dict)

    def add(self, resource: Resource) -> str:
        """Record a resource; it inherits the `lifecycle:` of the stack entry it came from."""
        if self._lifecycles and len(resource.origin) >= 2 and not resource.lifecycle \
                and resource.origin[:2] in self._lifecycles:
            lifecycle = self._lifecycles[resource.origin[:2]]
            resource = dataclasses.replace(resource, lifecycle=dict(lifecycle))
        if resource.address in self.resources:
            self.error(resource.origin, f"two stack entries expand to {resource.address}")
        self.resources[resource.address] = resource
        return resource.address

    @functools.cached_property
    def _lifecycles(self) -> dict[PathT, dict[str, Any]]:
        """(section, name) -> the `lifecycle:` of that stack entry, for the few entries that have one."""
        return {(section, name): entry["lifecycle"] for section, entries in self.stack.data.items()
                if isinstance(entries, dict) for name, entry in entries.items()
                if isinstance(entry, dict) and entry.get("lifecycle")}

    def loc(self, path: PathT) -> Location:
        return self.stack.source.at(path)

    def route(self, route: dict[str, Any], number: str, trunk: str, user: str) -> RouteTarget:
        """The target of `route` for `number` (E.164) on `trunk`; `user` is how the carrier names the
        dialled number in a SIP URI (Wavix: "[did]")."""
        assert self.resolve_route is not None
        return self.resolve_route(self, route, number, trunk, user)

    def error(self, path: PathT, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(self.loc(path), message, hint))


@dataclass(frozen=True)
class CallRecord:
    """A call as the vendor that placed or took it records it (`raw`: its own object)."""

    id: str
    status: str
    ended_reason: str = ""
    ended_message: str = ""
    answered_by: str = ""  # the remote id of what answered it (an assistant, a squad), on a call it took
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.status == "ended"


class Calls(Protocol):
    """How a vendor places a call from one of its numbers, and reads calls back. Money: only `voxplan call`
    and `voxplan test` use it, and only when the user runs them."""

    number_kind: str  # the kind whose objects place calls (their ids come from state)
    answerer_kinds: tuple[str, ...]  # kinds that answer the calls its numbers take

    def place(self, from_id: str, to: str, *, answerer: tuple[str, str] | None = None,
              headers: Mapping[str, str] | None = None) -> CallRecord:
        """`answerer`: (kind, id) of what takes the calling side (one of `answerer_kinds`)."""
        ...

    def get(self, call_id: str) -> CallRecord: ...

    def received(self, number_id: str, since: str) -> list[CallRecord]:
        """Calls one of its numbers took since `since` (ISO 8601), newest first."""
        ...


Witness = Callable[[Stack, Mapping[str, str], str, str, float], "str | None"]
# (stack, environment, number, caller, since: epoch seconds) -> the name of what answered, or None: for a
# vendor whose answer no API shows (OpenAI: `voxplan serve` decides), where the answering service says so


@dataclass(frozen=True)
class Provider:
    """What a vendor package offers the root, as data: its one export, `PROVIDER`.

    `kinds` are its adapter classes; `adapters` builds them on a connected client (given the stack, for
    the few that need its settings); `carrier` makes its carrier (or carriers: Vapi brings its own number
    shapes, `vapi`, `twilio`, `vonage`, `telnyx`) on the platform; `platform` is set
    by the voice platform alone (Vapi). `api_url` is the default base URL (a function of the stack where
    it depends on it, e.g. a region). `budget` is the default pacing, (requests, per seconds, key of the
    path that a budget is kept per), from the vendor's fact sheet; a stack's `rate_limit:` overrides it.
    `route_targets` turns a route naming this vendor (`{openai: proj_…}`) into a SIP destination;
    `sections` lints and expands the stack sections that are this vendor's alone (OpenAI: agents,
    webhooks). `hops` declares how a call crosses the vendor's objects (`voxplan trace`, blast radius,
    `voxplan numbers`). The vendor's emulator is `voxplan/sandbox/<name>.py` (found there by the sandbox, never
    imported here)."""

    name: str
    api_url: str | Callable[[Stack], str] = ""
    kinds: tuple[type[Adapter], ...] = ()
    adapters: Callable[[ApiClient, Stack], Mapping[str, Adapter]] | None = None
    carrier: Callable[[Platform], Carrier | tuple[Carrier, ...]] | None = None
    platform: Callable[[Stack], Platform] | None = None
    budget: tuple[int, float, Callable[[str], str] | None] | None = None
    headers: Callable[[str], dict[str, str]] = lambda key: {"Authorization": f"Bearer {key}"}
    message: Callable[[Any], str] | None = None  # the vendor's error text, from an error answer
    route_targets: Mapping[str, Callable[[dict[str, Any]], str]] = field(default_factory=dict)
    sections: Callable[[ExpandContext, Mapping[str, Carrier]], None] | None = None  # its own stack sections
    probes: Callable[[ApiClient, Stack], list[Finding]] | None = None  # `voxplan doctor`: read-only, each
    # assumption no vendor source settles
    surface: Surface | None = None  # what it adds to the stack format (voxplan.stack.surface), as data
    hops: Callable[[HopContext], HopSet] | None = None  # how a call crosses its objects (voxplan.core.hops)
    calls: Callable[[ApiClient], Calls] | None = None  # how it places calls and reads them back (call, test)
    witness: Witness | None = None  # who answered a call it took, where its API cannot say (test)
    published: tuple[type[StoreAdapter], ...] = ()  # kinds whose remote is the state backend (no API, no key)
    # the way back (voxplan generate): a carrier destination → the route naming this vendor (`route_targets`
    # read backwards), its own sections from the live objects, and what to ask refresh for to see the whole
    # account (kind → interest) where listing a kind needs to know where to look (Cloudonix's domains)
    route_sources: tuple[Callable[[str], dict[str, Any] | None], ...] = ()
    generate: Callable[[GenerateContext], None] | None = None
    everything: Callable[[ApiClient], Mapping[str, frozenset[str]]] | None = None

    def base_url(self, stack: Stack) -> str:
        return self.api_url(stack) if callable(self.api_url) else self.api_url


class Platform(Protocol):
    """The voice-AI platform carriers hand calls to (Vapi). Carriers call it; they never import it."""

    region: str  # where its media run ("us", "eu"): a carrier transfers through its gateway nearest them

    def expand(self, ctx: ExpandContext) -> None:
        """Platform-only sections: tools, assistants."""

    def trunk_credential(self, ctx: ExpandContext, trunk: str, *, gateways: list[dict[str, Any]],
                         username: Any, password: Any, options: dict[str, Any],
                         depends_on: tuple[str, ...] = ()) -> str:
        """A SIP-trunk credential for `trunk`; gateways in stack vocabulary. Returns its address."""
        ...

    def credential_address(self, trunk: str) -> str:
        """The address `trunk_credential` gives the credential of `trunk`."""
        ...

    def bind_number(self, ctx: ExpandContext, number: str, *, credential: str, route: dict[str, Any] | None,
                    origin: PathT, options: dict[str, Any]) -> str:
        """A platform phone number on `credential`, answered as `route` says. Returns its address."""
        ...

    def inbound_uri(self, credential: str, user: str) -> Ref:
        """Where a carrier sends calls for user part `user` on `credential`, without `sip:` (a Ref: known
        once the credential exists)."""
        ...

    def lint(self, stack: Stack) -> Iterable[Diagnostic]: ...

    # -- the way back (voxplan.providers.reverse) --------------------------------------------------------
    def generate(self, ctx: GenerateContext) -> None:
        """Platform-only sections (tools, assistants) from the live objects."""
        ...

    def trunk_side(self, ctx: GenerateContext, credential: dict[str, Any], key: str, entry: dict[str, Any], *,
                   made: Callable[[dict[str, Any]], dict[str, Any]], fixed: int = 0,
                   defaults: dict[str, Any] | None = None) -> dict[str, Any] | Unresolved:
        """`entry` (a trunk's, with its carrier's own fields) completed with what the platform `credential`
        says, leaving out what equals the carrier's `defaults`; `made(entry)` is what the carrier hands
        `trunk_credential` for an entry (how the result is checked). The credential is placed with it."""
        ...

    def credential_for(self, ctx: GenerateContext, *, login: str | None = None,
                       host: str | None = None) -> dict[str, Any] | None:
        """The first unplaced SIP-trunk credential that authenticates as `login`, or whose first gateway is
        `host`; with neither, the first unplaced one."""
        ...

    def credential_key(self, ctx: GenerateContext, credential: dict[str, Any]) -> str:
        """The `trunks:` key a credential no carrier took is written under (from its name)."""
        ...

    def unbound(self, ctx: GenerateContext) -> list[tuple[str, str]]:
        """(number, trunk key) of each unplaced platform number bound to the credential of a `trunks:` entry."""
        ...

    def inbound_route(self, ctx: GenerateContext, uri: str, *, number: str,
                      user: str) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
        """A carrier destination that hands calls to the platform: the route its platform number says and
        what the number's entry takes (trunk, name, pass-through); (None, {"why": …}) when it cannot be
        said; None when `uri` is not the platform's."""
        ...

    def bound_number(self, ctx: GenerateContext, trunk: str, number: str) -> tuple[dict[str, Any] | None,
                                                                                     dict[str, Any]] | None:
        """The platform number `number` on the credential of `trunks.<trunk>`, as (route, entry fields: its
        trunk, name, pass-through), placed; None when there is none; (None, {"why": …}) when no route
        says it."""
        ...


class Carrier(Protocol):
    name: str
    sip_uri_numbers: bool  # numbers of this carrier are SIP URIs (keyed "sip:…"), not E.164

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        """Whether a number of this carrier, routed so, must name its trunk."""
        ...

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None: ...

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any],
                      route: dict[str, Any] | None) -> None: ...

    def lint(self, stack: Stack) -> Iterable[Diagnostic]: ...

    # -- the way back (voxplan.providers.reverse) --------------------------------------------------------
    takes_the_rest: bool  # generates last: the platform credentials and numbers no other carrier took

    def generate_trunks(self, ctx: GenerateContext) -> None: ...

    def generate_numbers(self, ctx: GenerateContext) -> None: ...


def transfer_reach(stack: Stack, carrier: str, is_host: Callable[[str], bool]) -> Iterator[Diagnostic]:
    """A transfer to `sip:…@<carrier gateway>` only works through a trunk of that carrier, and the carrier
    delivers it as an inbound call to that number: so the number must be one of the stack's, with a route,
    unless the destination says why it is reached anyway (`external:`)."""
    tools = stack.section("tools")
    if not any(spec.get("transfer") for spec in tools.values()):
        return  # nothing transfers: no need to index 10,000 numbers
    has_trunk = any(t.get("carrier") == carrier for t in stack.section("trunks").values())
    numbers = {_e164_of(k): spec for k, spec in stack.section("numbers").items()}
    routed = {_e164_of(k) for k in stack.section("routes")}
    for tool, spec in tools.items():
        for i, dest in enumerate(spec.get("transfer") or []):
            uri = str(dest.get("sip", ""))
            host = uri.rpartition("@")[2].split(";")[0].split(":")[0]
            if not host or not is_host(host):
                continue
            where = stack.source.at(("tools", tool, "transfer", i, "sip"))
            if not has_trunk:
                yield Diagnostic(where, f"tools.{tool}: transfer to {uri} goes through {carrier}, but no "
                                 f"{carrier} trunk can reach it", hint=f"declare a carrier: {carrier} trunk")
                continue
            user = uri.partition(":")[2].rpartition("@")[0].lstrip("+")
            if not user.isdigit() or dest.get("external"):
                continue
            number = f"+{user}"
            if number not in numbers or numbers[number].get("carrier") != carrier:
                problem = f"+{user} is not a {carrier} number of this stack"
            elif number not in routed:
                problem = f"{number} has no route in this stack"
            else:
                continue
            yield Diagnostic(where, f"tools.{tool}: transfer to {uri}: {carrier} delivers it as an inbound call "
                             f"to {number}, but {problem}, so the transfer would reach nothing",
                             hint=f'declare {number} under numbers: and routes:, or say why it is reached: '
                                  f'external: "routed in the {carrier} portal"')


def _e164_of(key: str) -> str:
    return key.replace(" ", "").replace("-", "").replace("(", "").replace(")", "") if key.startswith("+") else key
