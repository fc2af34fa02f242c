"""Vapi resource kinds: credential (SIP trunks and the others), phone_number (every shape), assistant, tool
(every type), squad, structured_output.

Quirks handled here, from reference/vapi-api.md: lists are bare arrays capped at 1000 and paged by
createdAt (§8), in whichever order they come, with completeness proved or an error (list_all; v2 phone
numbers by totalItems, never by the optional totalPages); GET /credential returns every provider's
credentials (§11.1); write-only secrets never come back (§11.2); PATCH must not carry `provider` or tool
`type` (§9.4), which instead force a replacement (§11.14); DELETE of a gone object is success (§11.17);
documented server defaults are filled on the desired side before comparing (§11.6); `sipUri` is case-
insensitive and legacy transfer-mode aliases are rewritten (§11.7).

Unconfirmed, and where one change fixes it (§12): the v1 list order (list_all takes either, and refuses
any other).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from voxplan.core import errors
from voxplan.providers.base import Adapter, shared
from voxplan.providers.http import ApiClient, remaining_pages
from voxplan.providers.vapi.surface import TOOL_TYPES

PAGE = 1000  # the largest `limit` Vapi accepts
# Secret whatever their source (vapi-openapi.json): the webhook secret and headers of a `server`
# (ServerDTO.headers carries auth), the legacy serverUrlSecret, and the credential DTOs' key fields.
SERVER_SECRETS = ("serverUrlSecret", "server.secret", "server.headers.*")
# an assistant's own provider keys (CreateAssistantDTO.credentials: the Create…CredentialDTOs inline)
INLINE_CREDENTIAL_SECRETS = tuple(f"credentials.*.{key}" for key in (
    "apiKey", "apiSecret", "authToken", "token", "secret", "secretKey", "password", "privateKey", "clientSecret",
    "accessToken", "refreshToken", "awsSecretAccessKey", "serviceAccountKey", "authenticationPlan.clientSecret",
    "authenticationPlan.token", "authenticationPlan.secretKey"))
SERVER_DEFAULTS = {"timeoutSeconds": 20}
GATEWAY_DEFAULTS = {"port": 5060, "netmask": 32, "inboundEnabled": True, "outboundEnabled": True,
                    "outboundProtocol": "udp", "optionsPingEnabled": False}
LEGACY_MODES = {"warm-transfer-with-summary": "warm-transfer-say-summary",
                "warm-transfer-with-message": "warm-transfer-say-message",
                "warm-transfer-with-twiml": "warm-transfer-twiml"}


def list_all(client: ApiClient, path: str) -> list[dict[str, Any]]:
    """Every object behind a v1 list endpoint, whichever order Vapi serves it in.

    The v1 lists take `limit` (at most 1000) and createdAt filters, but no sort and no count, and no
    source states their order (fact sheet §12). A page shorter than the limit is all the filter matches.
    A full page must be sorted by createdAt, newest or oldest first: that says on which side the rest
    lies, and the next page asks for that side with an inclusive bound (`createdAtLe` / `createdAtGe`),
    de-duplicated by id, so objects sharing the boundary timestamp are not lost. A page in neither
    order, a direction that changes, or more than a page of objects on one timestamp stops the refresh
    with an error: voxplan would rather not plan than plan without an object it owns.
    """
    seen: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": PAGE}
    direction: str | None = None
    while True:
        page = client.request("GET", path, params=params)
        if not isinstance(page, list):
            raise errors.ProviderError(f"GET {path}: expected a JSON array", provider="vapi")
        fresh = [o for o in page if o["id"] not in seen]
        seen.update((o["id"], o) for o in page)
        if len(page) < PAGE:
            return list(seen.values())
        order = page_order(page)
        if order is None or (direction is not None and order not in (direction, "tied")):
            raise errors.ProviderError(
                f"GET {path}: a full page of {PAGE} is not sorted by createdAt"
                + (f" the way the first was ({direction} first)" if order else "")
                + "; voxplan cannot prove it has seen every object and stops", provider="vapi")
        direction = direction or (order if order != "tied" else None)
        if not fresh or direction is None:
            stamp = page[0]["createdAt"]
            raise errors.ProviderError(f"GET {path}: more than {PAGE} objects share createdAt {stamp}; the API "
                                       "cannot page past them", provider="vapi")
        stamps = [_when(o) for o in page]
        if direction == "newest":
            params = {"limit": PAGE, "createdAtLe": page[stamps.index(min(stamps))]["createdAt"]}
        else:
            params = {"limit": PAGE, "createdAtGe": page[stamps.index(max(stamps))]["createdAt"]}


def _when(obj: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(obj["createdAt"]).replace("Z", "+00:00"))


def page_order(page: list[dict[str, Any]]) -> str | None:
    """"newest" or "oldest" (first), "tied" when every createdAt is the same, None when unsorted."""
    stamps = [_when(o) for o in page]
    pairs = list(zip(stamps, stamps[1:], strict=False))
    if all(a == b for a, b in pairs):
        return "tied"
    if all(a >= b for a, b in pairs):
        return "newest"
    if all(a <= b for a, b in pairs):
        return "oldest"
    return None


def list_paged(client: ApiClient, path: str,
               each: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every object behind a paged list (`{results, metadata}`: /v2/phone-number, /structured-output), sorted
    explicitly (`sortBy=createdAt`, `sortOrder=ASC`: an object created while paging lands on a later page
    instead of shifting earlier ones). How many pages there are comes from `totalItems` / `itemsPerPage`,
    which PaginationMeta requires, not from `totalPages` and `hasNextPage`, which it marks optional; without
    a count, pages are read until a short one. The ids seen are checked against `totalItems`: fewer (the
    list moved under the pager) is an error, never a silent miss. `each` makes what is kept of an object as
    its page arrives."""
    def page(number: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        body = client.request("GET", path, params={"limit": PAGE, "page": number, "sortBy": "createdAt",
                                                   "sortOrder": "ASC"})
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise errors.ProviderError(f"GET {path}: expected {{results, metadata}}", provider="vapi")
        results = body["results"] if each is None else [each(o) for o in body["results"]]
        return results, dict(body.get("metadata") or {})

    first, meta = page(1)
    items = list(first)
    total = meta.get("totalItems")
    if isinstance(total, int):
        per_page = int(meta.get("itemsPerPage") or PAGE) or PAGE
        items += remaining_pages(max(1, math.ceil(total / per_page)), lambda n: page(n)[0])
    else:  # no count: read on until a short page
        number, last = 1, first
        while len(last) >= PAGE:
            number += 1
            last = page(number)[0]
            items += last
    seen = {o["id"]: o for o in items}  # de-duplicated by id
    if isinstance(total, int) and len(seen) < total:
        raise errors.ProviderError(f"GET {path}: {len(seen)} objects seen, {total} reported; the list changed "
                                   "while paging. Run the plan again", provider="vapi")
    return list(seen.values())


class VapiAdapter(Adapter):
    path: ClassVar[str]
    never_patch: ClassVar[tuple[str, ...]] = ()
    # set by Vapi, never sent (fact sheet §9.4 and the keys Vapi's own gitops tool strips before comparing)
    read_only = ("id", "orgId", "createdAt", "updatedAt", "status", "latestVersion", "isServerUrlSecretSet",
                 "analyticsMetadata", "isDeleted", "workflowIds")

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
        """A null top-level value means "unset" (the docs PATCH `assistantId: null` to clear a route); the
        Create DTOs type those fields as plain strings, so a new object is sent without them."""
        payload = {k: v for k, v in body.items() if v is not None}
        return self.normalise(self.client.request("POST", self.path, json=payload))

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if k not in self.never_patch}
        return self.normalise(self.client.request("PATCH", f"{self.path}/{remote_id}", json=payload))

    def delete(self, remote_id: str) -> None:
        self.delete_at(f"{self.path}/{remote_id}")

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "server" and isinstance(value, dict):
            return {**SERVER_DEFAULTS, **value}
        return value


class Credential(VapiAdapter):
    """Every credential voxplan declares: a trunk's SIP-trunk credential (`trunks:`) and the others
    (`credentials:`: server auth, Twilio/Vonage/Telnyx accounts). Their secrets are write-only: every field
    the document marks "not returned", and the auth plans' secrets (vapi-corrections.json)."""

    kind = "vapi.credential"
    path = "/credential"
    env_named = "name"
    providers: ClassVar[tuple[str, ...]] = ("byo-sip-trunk", "webhook", "custom-credential", "twilio", "vonage",
                                            "telnyx")
    write_only = ("outboundAuthenticationPlan.authPassword", "authToken", "apiKey", "apiSecret",
                  "authenticationPlan.token", "authenticationPlan.secretKey", "authenticationPlan.clientSecret",
                  "vonageApplicationPrivateKey")
    secret_fields = ("authenticationSession.accessToken", "authenticationSession.refreshToken")
    cleared = {"outboundLeadingPlusEnabled": False,  # the documented default
               "techPrefix": None, "sipDiversionHeader": None, "outboundAuthenticationPlan": None}
    forces_replacement = ("provider",)
    never_patch = ("provider",)
    server_defaults = {"outboundLeadingPlusEnabled": False}

    def owns(self, raw: dict[str, Any]) -> bool:
        return raw.get("provider") in self.providers

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        """By provider and name: a webhook credential named like a trunk is not that trunk's."""
        name = body.get("name")
        return f"{body.get('provider')}:{name}" if isinstance(name, str) else None

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "gateways" and isinstance(value, list):
            return [{**GATEWAY_DEFAULTS, **g} if isinstance(g, dict) else g for g in value]
        return super().fill_defaults(key, value)


class PhoneNumber(VapiAdapter):
    """Every Vapi number shape (BYO, Vapi SIP URI, free Vapi number, Twilio, Vonage, Telnyx), listed through
    /v2/phone-number (`list_paged`)."""

    kind = "vapi.phone_number"
    path = "/phone-number"
    # write-only (vapi-corrections.json): the SIP number's password (no source shows it returned; the SDK's
    # `required` is no evidence) and a Twilio number's auth token, API key and secret
    write_only = ("authentication.password", "twilioAuthToken", "twilioApiKey", "twilioApiSecret")
    secret_fields = SERVER_SECRETS
    forces_replacement = ("provider",)
    # `numberDesiredAreaCode` buys the number: it means nothing once the number exists (no Update DTO has it)
    never_patch = ("provider", "numberDesiredAreaCode")
    create_before_destroy = False  # the number (or SIP URI) is unique in an org
    unique_key = True
    # null unassigns (§10: the docs PATCH `assistantId: null`); a route change clears what the old one set
    cleared = {"assistantId": None, "squadId": None, "server": None, "name": None, "authentication": None,
               "fallbackDestination": None, "hooks": []}
    ROUTING: ClassVar[tuple[str, ...]] = ("assistantId", "squadId", "workflowId", "server", "fallbackDestination")
    server_defaults = {"smsEnabled": True}  # a Twilio number's documented default

    @staticmethod
    def bought(obj: Mapping[str, Any]) -> bool:
        """A free Vapi number (Vapi assigned its digits): never released by a plan, only unrouted."""
        return obj.get("provider") == "vapi" and not obj.get("sipUri")

    def unroutes(self, live: Mapping[str, Any]) -> bool:
        return self.bought(live)

    def unroute(self, remote_id: str, live: Mapping[str, Any] | None) -> None:
        """A number voxplan bought stays on the account, answered by nothing voxplan declared."""
        clear: dict[str, Any] = {k: None for k in self.ROUTING if (live or {}).get(k) is not None}
        if (live or {}).get("hooks"):
            clear["hooks"] = []
        if clear:
            self.update(remote_id, clear)

    def spends(self, body: Mapping[str, Any]) -> bool:
        """Getting a free Vapi number is a purchase in voxplan's sense (it takes one of the account's few free
        numbers): only with `purchase: true`, and apply only with --allow-purchase."""
        return self.bought(body)

    def quote(self, body: Mapping[str, Any]) -> str | None:
        return "free (a Vapi number, US area codes only)" if self.bought(body) else None

    def release(self, remote_id: str) -> None:
        """`release: true` and --allow-release: the number is deleted, and goes back to Vapi."""
        self.delete(remote_id)

    # what many numbers of an account share: each kept once (`shared`), ~37 MB less held at 100,000 numbers
    SHARED: ClassVar[tuple[str, ...]] = ("orgId", "provider", "status", "credentialId", "assistantId", "squadId",
                                         "workflowId")

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return list_paged(self.client, "/v2/phone-number", self._listed)

    def _listed(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A number as its page arrives (decoded for this list alone: nothing else holds it yet), its shared
        values made one string each before the next pages are decoded into the memory the copies held."""
        for key in self.SHARED:
            if key in raw:
                raw[key] = shared(raw[key])
        return self.normalise(raw)

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        uri = raw.get("sipUri")
        return {**raw, "sipUri": uri.lower()} if isinstance(uri, str) and not uri.islower() else raw

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        """A SIP URI, or a number's digits. A free Vapi number has neither before it is got: it is keyed by its
        name (an entry names it after its key), so one already on the account is adopted, never got again, and
        a generated stack's entry for it plans an import (`-<env>` is appended to it in a named environment)."""
        if body.get("provider") == "vapi":
            uri = body.get("sipUri")
            name = body.get("name")
            if uri:
                return f"sip:{str(uri).lower().removeprefix('sip:')}"
            return f"vapi-number:{name}" if isinstance(name, str) and name else None
        number = body.get("number")
        return str(number).lstrip("+") if isinstance(number, str) else None

    @classmethod
    def named_path(cls, body: Mapping[str, Any]) -> str | None:
        """A free Vapi number is adopted by its name: it carries `-<env>` in a named environment."""
        return "name" if cls.bought(body) else None


class Assistant(VapiAdapter):
    kind = "vapi.assistant"
    path = "/assistant"
    env_named = "name"
    owner_marker = "metadata.voxplan"  # §6: metadata is free-form; the only Vapi kind here that has it
    secret_fields = (*SERVER_SECRETS, *INLINE_CREDENTIAL_SECRETS)
    # §10: null clears a field (leaving a key out of a PATCH leaves it unchanged)
    cleared = {"firstMessage": None, "firstMessageMode": None, "metadata": None, "server": None, "voice": None,
               "transcriber": None, "maxDurationSeconds": None, "endCallMessage": None, "model": None}
    # what GET bodies carry that nobody set (fact sheet §5: the spec's defaults and what Vapi materialises)
    server_defaults = {"firstMessageMode": "assistant-speaks-first", "firstMessageInterruptionsEnabled": False,
                       "maxDurationSeconds": 600, "backgroundSound": "office", "hipaaEnabled": False,
                       "voicemailDetection": "off", "endCallPhrases": ["goodbye", "talk to you soon"],
                       "compliancePlan": {"hipaaEnabled": False, "pciEnabled": False, "zdrEnabled": False},
                       "serverMessages": ["conversation-update", "end-of-call-report", "function-call", "hang",
                                          "speech-update", "status-update", "tool-calls",
                                          "transfer-destination-request", "handoff-destination-request",
                                          "user-interrupted", "assistant.started"]}

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("name")


class Tool(VapiAdapter):
    """Every tool type POST /tool takes (23, voxplan.providers.vapi.surface.TOOL_TYPES). Lists also carry
    tools no stack can make (`knowledgeBase`, `ghl`): those are left alone.

    Told apart by state alone: 19 of the 23 types have no field that names them (transferCall among them,
    since the 2026-08 DTO dropped `function`), and the name the other four carry (apiRequest `name`;
    function, code and handoff `function.name`) is the name the model calls and the customer's server
    dispatches on, so it can carry no `-<env>`: two environments declaring one function must still each call
    it `lookup_order`. So no tool has a natural key: each is created, or imported by id (`imports:`), and
    never adopted by what it contains (two environments or stacks declaring the same tool get one each)."""

    kind = "vapi.tool"
    path = "/tool"
    secret_fields = SERVER_SECRETS
    forces_replacement = ("type",)
    never_patch = ("type",)
    cleared = {"function": None, "messages": [], "destinations": []}
    server_defaults = {"messages": [{"type": "request-start", "blocking": False}]}  # fact sheet §6, §11.6

    def owns(self, raw: dict[str, Any]) -> bool:
        return raw.get("type") in TOOL_TYPES

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
        """None: see the class."""
        return None

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "destinations" and isinstance(value, list):
            filled = []
            for dest in value:
                if isinstance(dest, dict) and dest.get("type") == "number":
                    dest = {"numberE164CheckEnabled": True, **dest}
                filled.append(dest)
            return filled
        return super().fill_defaults(key, value)


class Squad(VapiAdapter):
    """Squads have a name (no metadata): adopted by it, `-<env>` appended in a named environment. Every PATCH
    carries the whole `members` list: UpdateSquadDTO requires it."""

    kind = "vapi.squad"
    path = "/squad"
    env_named = "name"
    patch_with = ("members",)
    cleared = {"membersOverrides": None}

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        name = body.get("name")
        return name if isinstance(name, str) else None


class StructuredOutput(VapiAdapter):
    """Listed in pages (`{results, metadata}`, like /v2/phone-number). A PATCH must say `schemaOverride`
    (a required query parameter; "true" lets the schema's top-level type change, as VapiAI/gitops sends)."""

    kind = "vapi.structured_output"
    path = "/structured-output"
    env_named = "name"
    cleared = {"assistantIds": [], "description": None, "conditions": None}

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return [self.normalise(o) for o in list_paged(self.client, self.path)]

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {k: v for k, v in body.items() if k not in self.never_patch}
        return self.normalise(self.client.request("PATCH", f"{self.path}/{remote_id}", json=payload,
                                                  params={"schemaOverride": "true"}))

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        name = body.get("name")
        return name if isinstance(name, str) else None


class KnowledgeBase(VapiAdapter):
    """/v2/knowledge-base: a bare list with `limit` alone (no createdAt filter to page by), so more than a page
    is an error, never a silent miss. Adopted by name, `-<env>` appended in a named environment."""

    kind = "vapi.knowledge_base"
    path = "/v2/knowledge-base"
    env_named = "name"
    cleared = {"description": None}

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        page = self.client.request("GET", self.path, params={"limit": PAGE})
        if not isinstance(page, list) or len(page) >= PAGE:
            raise errors.ProviderError(f"GET {self.path}: expected fewer than {PAGE} in a JSON array (it cannot "
                                       "be paged)", provider="vapi")
        return [self.normalise(o) for o in page]

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        name = body.get("name")
        return name if isinstance(name, str) else None


KINDS: tuple[type[VapiAdapter], ...] = (Credential, PhoneNumber, Assistant, Tool, Squad, StructuredOutput,
                                        KnowledgeBase)
