"""The composition root of providers: the registry of vendors, and how to connect them.

Each vendor package exports one `Provider` descriptor (voxplan.providers.base), which carries the stack
surface it declares (voxplan.stack.surface); REGISTRY lists them, and everything here iterates it: the
stack format (SURFACE, and the JSON Schema generated from it), carriers, route targets, doctor's probes.
Vendors never import each other; this module is the one place that knows them all, and it finds them: every
package here that exports a `PROVIDER` (as the sandbox finds every module with an `EMULATOR`). Adding a
carrier is its folder (adapters, carrier, surface, PROVIDER) and its emulator (voxplan/sandbox/<name>.py).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voxplan.core import errors
from voxplan.core.context import RunContext
from voxplan.core.errors import Diagnostic
from voxplan.core.hops import HopContext, HopSet
from voxplan.providers.base import (
    Adapter,
    Carrier,
    ExpandContext,
    Finding,
    Platform,
    Provider,
    RouteTarget,
    StoreAdapter,
)
from voxplan.providers.http import ApiClient, Pacer, default_message
from voxplan.providers.reverse import GenerateContext
from voxplan.providers.routes import Router
from voxplan.stack.loader import placeholder
from voxplan.stack.model import Stack
from voxplan.stack.surface import StackSurface, assemble
from voxplan.state.store import StateStore

if TYPE_CHECKING:
    import httpx

__all__ = ["REGISTRY", "SURFACE", "Adapter", "Carrier", "ExpandContext", "Finding", "Platform", "Provider", "Providers",
           "RouteTarget", "adapter_class", "carriers", "connect", "doctor", "expand_sections", "hop_sets",
           "number_headers", "platform", "reverse", "route_sources", "router"]



def _discover() -> tuple[Provider, ...]:
    """Every vendor package of this one that exports a `PROVIDER`, by name (no list to keep)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.ispkg:
            module = importlib.import_module(f"{__name__}.{info.name}")
            if isinstance(getattr(module, "PROVIDER", None), Provider):
                found.append(module.PROVIDER)
    return tuple(found)


REGISTRY: tuple[Provider, ...] = _discover()
BY_NAME = {p.name: p for p in REGISTRY}
SURFACE: StackSurface = assemble(p.surface for p in REGISTRY if p.surface is not None)  # the stack format
ADAPTER_CLASSES: dict[str, type[Adapter]] = {cls.kind: cls for p in REGISTRY for cls in (*p.kinds, *p.published)}
PUBLISHED: dict[str, type[StoreAdapter]] = {cls.kind: cls for p in REGISTRY for cls in p.published}
SANDBOX_BASE = "http://sandbox.voxplan.local"
HOP_PROVIDERS = frozenset(p.name for p in REGISTRY if p.hops is not None)  # whose numbers a walk can start at


def platform(stack: Stack) -> Platform:
    """The voice platform (the one provider that declares one)."""
    make = next(p.platform for p in REGISTRY if p.platform is not None)
    return make(stack)


def carriers(plat: Platform) -> dict[str, Carrier]:
    """Every provider's carriers by name (a provider may bring several)."""
    found: dict[str, Carrier] = {}
    for p in REGISTRY:
        made = p.carrier(plat) if p.carrier is not None else ()
        for carrier in made if isinstance(made, tuple) else (made,):
            if carrier.name in found:
                raise ValueError(f"carrier {carrier.name!r} is declared twice")
            found[carrier.name] = carrier
    return found


def expand_sections(ctx: ExpandContext, carrier_map: dict[str, Carrier]) -> None:
    """Stack sections that belong to one vendor alone (OpenAI's agents: and webhooks:)."""
    for p in REGISTRY:
        if p.sections is not None:
            p.sections(ctx, carrier_map)


def route_sources() -> list[Callable[[str], dict[str, Any] | None]]:
    """Every vendor's carrier destination → route readers (the way back of `router`)."""
    return [source for p in REGISTRY for source in p.route_sources]


def reverse(ctx: GenerateContext) -> None:
    """Live objects → stack entries, in the order references need (voxplan.providers.reverse): the
    platform's own sections, every carrier's trunks (the one that takes the rest last), their numbers, then
    each vendor's own sections."""
    carrier_list = sorted(carriers(ctx.platform).values(), key=lambda c: c.takes_the_rest)
    carrier_list = [c for c in carrier_list if ctx.wants(c.name)]
    ctx.platform.generate(ctx)
    for carrier in carrier_list:
        carrier.generate_trunks(ctx)
    for carrier in carrier_list:
        carrier.generate_numbers(ctx)
    for p in REGISTRY:
        if p.generate is not None:
            p.generate(ctx)


def number_headers(carrier_map: dict[str, Carrier]) -> dict[str, str]:
    """carrier -> the SIP header in which it tells a SIP-URI destination which number was dialled."""
    found = {name: getattr(c, "number_header", None) for name, c in carrier_map.items()}
    return {name: header for name, header in found.items() if header}


def hop_sets(ctx: HopContext) -> list[HopSet]:
    """Every vendor's part of the call-path graph over `ctx.objects`."""
    return [p.hops(ctx) for p in REGISTRY if p.hops is not None]


def router() -> Router:
    return Router({key: target for p in REGISTRY for key, target in p.route_targets.items()})


def adapter_class(kind: str) -> type[Adapter]:
    return ADAPTER_CLASSES[kind]


def provider_of(kind: str) -> str:
    return kind.split(".", 1)[0]


@dataclass
class Providers:
    """Adapters by kind, connected on first use (a provider the run never touches costs nothing)."""

    factory: Callable[[str], tuple[ApiClient, dict[str, Adapter]]] | None = None
    adapters: dict[str, Adapter] = field(default_factory=dict)
    clients: dict[str, ApiClient] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    account_of: Callable[[str], str] | None = None
    store: Callable[[], StateStore] | None = None  # the state backend, for kinds published there
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def account(self, vendor: str) -> str:
        """The account a vendor's objects live in, as ownership claims name it: the API's base URL (each
        vendor's object ids are unique within its API). Known without a request."""
        return self.account_of(vendor) if self.account_of is not None else vendor

    def adapter(self, kind: str) -> Adapter:
        with self._lock:
            if kind not in self.adapters and kind in PUBLISHED and self.store is not None:
                self.adapters[kind] = PUBLISHED[kind](self.store())
            if kind not in self.adapters and self.factory is not None:
                name = provider_of(kind)
                if name not in self.clients:
                    client, made = self.factory(name)
                    self.clients[name] = client
                    self.adapters.update(made)
            try:
                return self.adapters[kind]
            except KeyError:
                raise errors.PlanError(f"no provider manages resources of kind {kind!r}") from None

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def doctor(providers: Providers, stack: Stack, kinds: Iterable[str]) -> list[Finding]:
    """Read-only probes of every unconfirmed assumption of the vendors behind `kinds` (each vendor's
    `Provider.probes`)."""
    kinds = sorted(set(kinds))
    findings: list[Finding] = []
    for spec in REGISTRY:
        mine = [k for k in kinds if provider_of(k) == spec.name]
        if spec.probes is None or not mine:
            continue
        providers.adapter(mine[0])  # connects the vendor
        findings += spec.probes(providers.clients[spec.name], stack)
    return findings


def connect(stack: Stack, ctx: RunContext, *, transport: httpx.BaseTransport | None = None,
            store: Callable[[], StateStore] | None = None) -> Providers:
    """Providers for the stack. `transport` (the sandbox, a test) replaces the network for all of them;
    `store` is the state backend that kinds published there (OpenAI agents) live in."""
    out = Providers(store=store)

    def make(name: str) -> tuple[ApiClient, dict[str, Adapter]]:
        spec = BY_NAME.get(name)
        if spec is None or spec.adapters is None:
            raise errors.PlanError(f"unknown provider {name!r}")
        settings = stack.provider_settings(name)
        base_url = _base_url(spec, stack, settings, ctx, transport is not None)
        api = client(name, base_url, _api_key(name, settings, ctx), transport, settings)
        return api, dict(spec.adapters(api, stack))

    out.factory = make

    def account(name: str) -> str:
        spec = BY_NAME.get(name)
        if spec is None:
            return name
        try:
            return _base_url(spec, stack, stack.provider_settings(name), ctx, transport is not None)
        except errors.PlanError:
            return name

    out.account_of = account
    return out


def client(name: str, base_url: str, api_key: str, transport: httpx.BaseTransport | None = None,
           settings: dict[str, Any] | None = None) -> ApiClient:
    """The HTTP client of provider `name`: its auth header, error text and pacing."""
    spec, settings = BY_NAME[name], settings or {}
    return ApiClient(name, base_url, headers=spec.headers(api_key), transport=transport, pacer=_pacer(spec, settings),
                     concurrency=int(settings.get("concurrency") or 10), message=spec.message or default_message,
                     timeout=float(settings.get("timeout") or 30.0))


def _pacer(spec: Provider, settings: dict[str, Any]) -> Pacer | None:
    """The stack's `rate_limit: {requests, per_seconds}` over the vendor's default budget; `rate_limit: off`
    turns pacing off (a vendor that publishes none and an account known to take more)."""
    limit = settings.get("rate_limit")
    key = spec.budget[2] if spec.budget else None
    if limit == "off":
        return None
    if limit:
        return Pacer(int(limit["requests"]), float(limit["per_seconds"]), **({"key": key} if key else {}))
    if spec.budget:
        return Pacer(spec.budget[0], spec.budget[1], **({"key": key} if key else {}))
    return None


def _base_url(spec: Provider, stack: Stack, settings: dict[str, Any], ctx: RunContext, transported: bool) -> str:
    if transported:
        return f"{SANDBOX_BASE}/{spec.name}"
    override = ctx.env.get(f"VOXPLAN_{spec.name.upper()}_BASE_URL")
    if override:
        return override
    if settings.get("base_url"):
        return str(settings["base_url"])
    url = spec.base_url(stack)
    if not url:
        raise errors.PlanError(f"no base URL for provider {spec.name}")
    return url


def _api_key(name: str, settings: dict[str, Any], ctx: RunContext) -> str:
    from voxplan.core.secret import Secret, header_unsafe

    key = settings.get("api_key")
    if isinstance(key, Secret):
        return key.reveal()
    if isinstance(key, str) and key:
        return key
    var = f"{name.upper()}_API_KEY"
    if ctx.env.get(var):  # (a key in the stack was checked, located, by validate)
        why = header_unsafe(ctx.env[var])
        if why:
            raise errors.PlanError(f"{var} (the {name} API key) has {why}: an API key travels in an HTTP header, "
                                   "which carries printable ASCII only; copy the key again")
        return ctx.env[var]
    if ctx.sandbox:
        return placeholder("env", var)
    raise errors.PlanError(f"no API key for {name}: set providers.{name}.api_key: ${{env:{var}}} in the stack "
                           f"or export {var}")
