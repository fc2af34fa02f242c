"""The composition root of providers: which carriers exist, which kinds, and how to connect them.

Vendors never import each other; this module is the one place that knows them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voxplan.core import errors
from voxplan.core.context import RunContext
from voxplan.core.errors import Diagnostic
from voxplan.core.secret import Secret
from voxplan.providers import cloudonix, didlogic, openai, vapi, wavix
from voxplan.providers.base import Adapter, Carrier, ExpandContext, Platform, RouteTarget
from voxplan.providers.byo import ByoCarrier
from voxplan.providers.http import ApiClient, RateBudget
from voxplan.stack.loader import placeholder
from voxplan.stack.model import Stack

if TYPE_CHECKING:
    import httpx

__all__ = ["Adapter", "Carrier", "ExpandContext", "Platform", "Providers", "adapter_class", "carriers", "connect",
           "platform", "resolve_route"]

SANDBOX_BASE = "http://sandbox.voxplan.local"
API_URLS = {"wavix": wavix.API_URL, "didlogic": didlogic.API_URL, "cloudonix": cloudonix.API_URL}
ADAPTER_CLASSES: dict[str, type[Adapter]] = {
    **{cls.kind: cls for cls in vapi.KINDS},
    wavix.TRUNK: wavix.Trunk, wavix.NUMBER: wavix.Number,
    didlogic.ACCOUNT: didlogic.SipAccount, didlogic.NUMBER: didlogic.Number,
    cloudonix.DOMAIN: cloudonix.Domain, cloudonix.TRUNK: cloudonix.Trunk, cloudonix.APP: cloudonix.Application,
    cloudonix.DNID: cloudonix.Dnid,
}


def platform(stack: Stack) -> vapi.VapiPlatform:
    return vapi.VapiPlatform.of(stack)


def carriers(plat: vapi.VapiPlatform) -> dict[str, Carrier]:
    return {"byo": ByoCarrier(), "vapi": vapi.VapiSipCarrier(plat), "wavix": wavix.WavixCarrier(),
            "didlogic": didlogic.DidlogicCarrier(), "cloudonix": cloudonix.CloudonixCarrier()}


def adapter_class(kind: str) -> type[Adapter]:
    return ADAPTER_CLASSES[kind]


def resolve_route(ctx: ExpandContext, route: dict[str, Any], number: str, trunk: str, user: str) -> RouteTarget:
    """A route's target for a carrier: OpenAI, a SIP URI, a PSTN forward, or the platform (Vapi), which
    gets a number bound to the trunk's credential and gives back its inbound URI."""
    if "openai" in route:
        return RouteTarget(openai.sip_target(route["openai"], route.get("residency", "us")))
    if "sip" in route:
        return RouteTarget(str(route["sip"]).removeprefix("sip:"))
    if "forward" in route:
        return RouteTarget(str(route["forward"]).lstrip("+"), pstn=True)
    credential = ctx.platform.credential_address(trunk)
    spec = ctx.numbers.get(number, {})
    bound = ctx.platform.bind_number(ctx, number, credential=credential, route=route, origin=("numbers", number),
                                     options=spec)
    return RouteTarget(ctx.platform.inbound_uri(credential, user), platform_number=bound)


def provider_of(kind: str) -> str:
    return kind.split(".", 1)[0]


@dataclass
class Providers:
    """Adapters by kind, connected on first use (a provider the run never touches costs nothing)."""

    factory: Callable[[str], tuple[ApiClient, dict[str, Adapter]]] | None = None
    adapters: dict[str, Adapter] = field(default_factory=dict)
    clients: dict[str, ApiClient] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def adapter(self, kind: str) -> Adapter:
        with self._lock:
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


def connect(stack: Stack, ctx: RunContext, *, transport: httpx.BaseTransport | None = None) -> Providers:
    """Providers for the stack. `transport` (the sandbox, a test) replaces the network for all of them."""
    env = dict(ctx.env)
    out = Providers()

    def make(name: str) -> tuple[ApiClient, dict[str, Adapter]]:
        settings = stack.provider_settings(name)
        base_url = _base_url(name, stack, settings, env, transport is not None)
        api_key = _api_key(name, settings, env, ctx.sandbox)
        made: dict[str, Adapter]
        if name == "vapi":
            client = vapi.client(base_url, api_key, transport)
            made = dict(vapi.adapters(client))
        elif name == "wavix":
            client = wavix.client(base_url, api_key, transport)
            made = wavix.adapters(client)
        elif name == "didlogic":
            client = didlogic.client(base_url, api_key, transport)
            made = didlogic.adapters(client)
        elif name == "cloudonix":
            client = cloudonix.client(base_url, api_key, transport)
            made = cloudonix.adapters(client, cloudonix.stack_domains(stack))
        else:
            raise errors.PlanError(f"unknown provider {name!r}")
        _tune(client, settings)
        return client, made

    out.factory = make
    return out


def _tune(client: ApiClient, settings: dict[str, Any]) -> None:
    """The stack's per-provider budget: `rate_limit: {requests, per_seconds}` and `concurrency`."""
    limit = settings.get("rate_limit")
    if limit:
        client.budget = RateBudget(int(limit["requests"]), float(limit["per_seconds"]))
    if settings.get("concurrency"):
        client.slots = threading.BoundedSemaphore(int(settings["concurrency"]))


def _base_url(name: str, stack: Stack, settings: dict[str, Any], env: dict[str, str], sandbox: bool) -> str:
    if sandbox:
        return f"{SANDBOX_BASE}/{name}"
    override = env.get(f"VOXPLAN_{name.upper()}_BASE_URL")
    if override:
        return override
    if settings.get("base_url"):
        return str(settings["base_url"])
    if name == "vapi":
        return vapi.API_URLS[vapi.region(stack)]
    if name in API_URLS:
        return API_URLS[name]
    raise errors.PlanError(f"no base URL for provider {name}")


def _api_key(name: str, settings: dict[str, Any], env: dict[str, str], sandbox: bool) -> str:
    key = settings.get("api_key")
    if isinstance(key, Secret):
        return key.reveal()
    if isinstance(key, str) and key:
        return key
    var = f"{name.upper()}_API_KEY"
    if env.get(var):
        return env[var]
    if sandbox:
        return placeholder("env", var)
    raise errors.PlanError(f"no API key for {name}: set providers.{name}.api_key: ${{env:{var}}} in the stack "
                           f"or export {var}")
