"""`carrier: byo`: any SIP peer. No API of its own: the stack gives gateways and auth, and the trunk
becomes the platform's SIP-trunk credential alone; its numbers become platform numbers on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.providers.base import ExpandContext, Provider
from voxplan.providers.byo.surface import SURFACE
from voxplan.stack.model import Stack


class ByoCarrier:
    name = "byo"
    sip_uri_numbers = False

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return True  # the trunk's credential is the only way a byo number reaches Vapi

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        auth = spec.get("auth") or {}
        ctx.platform.trunk_credential(ctx, name, gateways=spec["gateways"], username=auth.get("username"),
                                      password=auth.get("password"), options=spec)

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        trunk = spec["trunk"]
        ctx.platform.bind_number(ctx, key, credential=ctx.platform.credential_address(trunk), route=route,
                                 origin=("numbers", key), options=spec)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()


# no API: the stack gives everything
PROVIDER = Provider(name="byo", carrier=lambda platform: ByoCarrier(), surface=SURFACE)
