"""Vapi resource kinds: credential (byo-sip-trunk), phone_number, assistant, tool.

Quirks handled here, from reference/vapi-api.md: lists are bare arrays capped at 1000 and paged by
createdAt (§8); GET /credential returns every provider's credentials (§11.1); write-only secrets never
come back (§11.2); PATCH must not carry `provider` or tool `type` (§9.4), which instead force a
replacement (§11.14); DELETE of a gone object is success (§11.17); documented server defaults are filled
on the desired side before comparing (§11.6); `sipUri` is case-insensitive and legacy transfer-mode
aliases are rewritten (§11.7).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from voxplan.core import errors
from voxplan.providers.base import Adapter
from voxplan.providers.http import ApiClient, remaining_pages

PAGE = 1000  # the largest `limit` Vapi accepts
# Secret whatever their source (vapi-openapi.json): the webhook secret and headers of a `server`
# (ServerDTO.headers carries auth), the legacy serverUrlSecret, and the credential DTOs' key fields.
SERVER_SECRETS = ("serverUrlSecret", "server.secret", "server.headers.*")
SERVER_DEFAULTS = {"timeoutSeconds": 20}
GATEWAY_DEFAULTS = {"port": 5060, "netmask": 32, "inboundEnabled": True, "outboundEnabled": True,
                    "outboundProtocol": "udp", "optionsPingEnabled": False}
LEGACY_MODES = {"warm-transfer-with-summary": "warm-transfer-say-summary",
                "warm-transfer-with-message": "warm-transfer-say-message",
                "warm-transfer-with-twiml": "warm-transfer-twiml"}


def list_all(client: ApiClient, path: str) -> list[dict[str, Any]]:
    """Every object behind a v1 list endpoint.

    Pages newest-first with `createdAtLe=<oldest seen>` rather than `Lt`, and de-duplicates by id, so
    objects sharing the boundary timestamp are not lost.
    """
    seen: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": PAGE}
    while True:
        page = client.request("GET", path, params=params)
        if not isinstance(page, list):
            raise errors.ProviderError(f"GET {path}: expected a JSON array", provider="vapi")
        fresh = [o for o in page if o["id"] not in seen]
        seen.update((o["id"], o) for o in page)
        if len(page) < PAGE:
            return list(seen.values())
        if not fresh:
            raise errors.ProviderError(
                f"GET {path}: more than {PAGE} objects share createdAt {params.get('createdAtLe')}; "
                "the API cannot page past them", provider="vapi")
        params = {"limit": PAGE, "createdAtLe": min(o["createdAt"] for o in page)}


class VapiAdapter(Adapter):
    path: ClassVar[str]
    never_patch: ClassVar[tuple[str, ...]] = ()

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return [self.normalise(o) for o in list_all(self.client, self.path) if self.owns(o)]

    def owns(self, raw: dict[str, Any]) -> bool:
        return True

    def get(self, remote_id: str) -> dict[str, Any] | None:
        try:
            raw = self.client.request("GET", f"{self.path}/{remote_id}")
        except errors.NotFound:
            return None
        return self.normalise(raw) if isinstance(raw, dict) and self.owns(raw) else None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.normalise(self.client.request("POST", self.path, json=body))

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if k not in self.never_patch}
        return self.normalise(self.client.request("PATCH", f"{self.path}/{remote_id}", json=payload))

    def delete(self, remote_id: str) -> None:
        try:
            self.client.request("DELETE", f"{self.path}/{remote_id}")
        except errors.NotFound:
            pass

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "server" and isinstance(value, dict):
            return {**SERVER_DEFAULTS, **value}
        return value


class Credential(VapiAdapter):
    kind = "vapi.credential"
    path = "/credential"
    write_only = ("outboundAuthenticationPlan.authPassword",)
    secret_fields = ("apiKey", "apiSecret", "authToken")
    cleared = {"outboundLeadingPlusEnabled": False,  # the documented default
               "techPrefix": None, "sipDiversionHeader": None, "outboundAuthenticationPlan": None}
    forces_replacement = ("provider",)
    never_patch = ("provider",)

    def owns(self, raw: dict[str, Any]) -> bool:
        return raw.get("provider") == "byo-sip-trunk"

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("name")

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "gateways" and isinstance(value, list):
            return [{**GATEWAY_DEFAULTS, **g} if isinstance(g, dict) else g for g in value]
        return super().fill_defaults(key, value)


class PhoneNumber(VapiAdapter):
    """Listed through /v2/phone-number, whose pages say whether another follows: exactly ceil(N/1000)
    requests, where the v1 list needs one more to learn that a full page was the last. Oldest first,
    so a number created while paging lands on a later page instead of shifting earlier ones.
    Unconfirmed against a live org (v2 paging semantics): `list_all(self.client, self.path)` is the
    one-line fallback."""

    kind = "vapi.phone_number"
    path = "/phone-number"
    write_only = ("authentication.password",)
    secret_fields = (*SERVER_SECRETS, "twilioAuthToken", "twilioApiKey", "twilioApiSecret")
    forces_replacement = ("provider",)
    never_patch = ("provider",)
    create_before_destroy = False  # the number (or SIP URI) is unique in an org
    # null unassigns (§10: the docs PATCH `assistantId: null`); a route change clears what the old one set
    cleared = {"assistantId": None, "squadId": None, "server": None, "name": None, "authentication": None,
               "fallbackDestination": None}

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        def page(number: int) -> tuple[list[dict[str, Any]], int]:
            body = self.client.request("GET", "/v2/phone-number",
                                       params={"limit": PAGE, "page": number, "sortOrder": "ASC"})
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise errors.ProviderError("GET /v2/phone-number: expected {results, metadata}", provider="vapi")
            meta = body.get("metadata") or {}
            total = int(meta.get("totalPages") or 0) or (number + 1 if meta.get("hasNextPage") else number)
            return body["results"], total

        first, total = page(1)
        seen = {o["id"]: o for o in first + remaining_pages(total, lambda n: page(n)[0])}  # de-duplicated by id
        return [self.normalise(o) for o in seen.values()]

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        uri = raw.get("sipUri")
        return {**raw, "sipUri": uri.lower()} if isinstance(uri, str) and not uri.islower() else raw

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        if body.get("provider") == "vapi":
            uri = body.get("sipUri")
            return f"sip:{str(uri).lower().removeprefix('sip:')}" if uri else None
        number = body.get("number")
        return str(number).lstrip("+") if isinstance(number, str) else None

    def fill_defaults(self, key: str, value: Any) -> Any:
        return super().fill_defaults(key, value)


class Assistant(VapiAdapter):
    kind = "vapi.assistant"
    path = "/assistant"
    secret_fields = SERVER_SECRETS
    # §10: null clears a field (leaving a key out of a PATCH leaves it unchanged)
    cleared = {"firstMessage": None, "firstMessageMode": None, "metadata": None, "server": None, "voice": None,
               "transcriber": None, "maxDurationSeconds": None, "endCallMessage": None, "model": None}

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("name")


class Tool(VapiAdapter):
    kind = "vapi.tool"
    path = "/tool"
    secret_fields = SERVER_SECRETS
    forces_replacement = ("type",)
    never_patch = ("type",)
    cleared = {"function": None, "messages": [], "destinations": []}

    def owns(self, raw: dict[str, Any]) -> bool:
        return raw.get("type") in ("transferCall", "handoff")

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(raw)
        for dest in obj.get("destinations") or []:
            plan = dest.get("transferPlan") if isinstance(dest, dict) else None
            if isinstance(plan, dict) and plan.get("mode") in LEGACY_MODES:
                plan["mode"] = LEGACY_MODES[plan["mode"]]
        return obj

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        fn = body.get("function")
        return fn.get("name") if isinstance(fn, dict) else None

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "destinations" and isinstance(value, list):
            filled = []
            for dest in value:
                if isinstance(dest, dict) and dest.get("type") == "number":
                    dest = {"numberE164CheckEnabled": True, **dest}
                filled.append(dest)
            return filled
        return super().fill_defaults(key, value)


KINDS: tuple[type[VapiAdapter], ...] = (Credential, PhoneNumber, Assistant, Tool)
