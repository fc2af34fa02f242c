"""`carrier: byo`: any SIP peer. No API of its own: the stack gives gateways and auth, and the trunk
becomes the platform's SIP-trunk credential alone; its numbers become platform numbers on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.providers.base import ExpandContext, Provider
from voxplan.providers.byo.surface import SURFACE
from voxplan.providers.reverse import GenerateContext, Unresolved
from voxplan.stack.model import Stack


class ByoCarrier:
    name = "byo"
    sip_uri_numbers = False

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return True  # the trunk's credential is the only way a byo number reaches Vapi

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        ctx.platform.trunk_credential(ctx, name, **credential(spec))

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        trunk = spec["trunk"]
        ctx.platform.bind_number(ctx, key, credential=ctx.platform.credential_address(trunk), route=route,
                                 origin=("numbers", key), options=spec)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()

    # -- the way back (voxplan.providers.reverse) ------------------------------------------------------
    takes_the_rest = True  # any SIP peer: the platform credentials and numbers no other carrier took

    def generate_trunks(self, ctx: GenerateContext) -> None:
        while (found := ctx.platform.credential_for(ctx)) is not None:
            key = ctx.platform.credential_key(ctx, found)
            side = ctx.platform.trunk_side(ctx, found, key, {"carrier": "byo"}, made=credential,
                                           defaults={"leading_plus": False, "auth": True})
            if not isinstance(side, Unresolved):
                ctx.place("trunks", key, side)

    def generate_numbers(self, ctx: GenerateContext) -> None:
        for number, trunk in ctx.platform.unbound(ctx):
            if (ctx.data.get("trunks") or {}).get(trunk, {}).get("carrier") != "byo":
                continue  # another carrier's: its own number entry says it, or it stays unsaid
            bound = ctx.platform.bound_number(ctx, trunk, number)
            if bound is None:
                continue
            route, fields = bound
            key = "+" + number.lstrip("+")
            if "why" in fields:  # a byo number is its platform number: unsaid, it would be unrouted
                ctx.skipped.append(f"numbers {key}: {fields['why']}")
                continue
            ctx.place("numbers", key, {"carrier": "byo", **fields})
            if route is not None:
                ctx.place("routes", key, route)


def credential(spec: dict[str, Any]) -> dict[str, Any]:
    """What a byo trunk's platform credential is made of: the stack's gateways and auth, as given."""
    auth = spec.get("auth") or {}
    return {"gateways": spec.get("gateways") or [], "username": auth.get("username"),
            "password": auth.get("password"), "options": spec}


# no API: the stack gives everything
PROVIDER = Provider(name="byo", carrier=lambda platform: ByoCarrier(), surface=SURFACE)
