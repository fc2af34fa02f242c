"""OpenAI webhook endpoints (`/v1/webhook_endpoints`, project-scoped; openai-python >= 3.16).

Quirks handled here: the signing secret comes back only from create (and rotate): `normalise` drops it,
so it reaches no state, plan or log; the user gets one from `voxplan webhooks rotate` (printed once) and
gives it to `voxplan serve` as configuration. Update is a POST that replaces `event_types` whole (the
differ always sends complete values); `events:` must be types the create API lists (`event_types()`, the
SDK's own list, which lacks GPT-Live's live.* events). Lists are newest-first cursor pages (`after`, `limit`).
Adopted by URL: an endpoint made in the dashboard for the same receiver is the same endpoint.

Unconfirmed, and where one change fixes it: whether ordinary project keys may call this API (it is
absent from the public OpenAPI document of 2026-08-21). A refusal (401/403/404 on the list) says how to
fall back to `manual: true` (WebhookEndpoint.list).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from typing import Any, get_args, get_type_hints

from voxplan.core import errors
from voxplan.core.errors import Diagnostic
from voxplan.core.model import Resource
from voxplan.providers.base import Adapter, ExpandContext
from voxplan.providers.http import ApiClient
from voxplan.providers.reverse import GenerateContext
from voxplan.stack.model import Stack

WEBHOOK_ENDPOINT = "openai.webhook_endpoint"
CALL_INCOMING = "realtime.call.incoming"


@functools.cache
def event_types() -> tuple[str, ...]:
    """The event types the create API takes: the SDK's own list (its `event_types` Literal). GPT-Live's
    `live.transport.incoming` / `live.call.incoming` are delivered, but are not in it, so not offered. The SDK's
    types are imported here, when a stack declares a webhook, not by every command at start-up (a second)."""
    from openai.types.webhooks.webhook_create_params import WebhookCreateParams

    hint = get_type_hints(WebhookCreateParams)["event_types"]
    while not (args := get_args(hint)) or not all(isinstance(a, str) for a in args):
        hint = args[0]
    return tuple(args)


PAGE = 100
SECRET_FIELDS = ("signing_secret",)


class WebhookEndpoint(Adapter):
    kind = WEBHOOK_ENDPOINT

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            try:
                page = self.client.request("GET", "/v1/webhook_endpoints", params={"limit": PAGE, "after": after})
            except (errors.AuthFailed, errors.NotFound) as exc:
                raise type(exc)(f"{exc.vendor_message} — this key cannot manage webhook endpoints; set manual: "
                                "true on the webhooks: entry and create it in the dashboard (Settings → Project → "
                                "Webhooks)", status=exc.status, provider="openai") from None
            out += [self.normalise(e) for e in page.get("data") or []]
            if not page.get("has_more") or not page.get("data"):
                return out
            after = page["data"][-1]["id"]

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.normalise(self.client.request("POST", "/v1/webhook_endpoints", json=body))

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.normalise(self.client.request("POST", f"/v1/webhook_endpoints/{remote_id}", json=body))

    def delete(self, remote_id: str) -> None:
        self.delete_at(f"/v1/webhook_endpoints/{remote_id}")

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in raw.items() if k not in SECRET_FIELDS}

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("url")


def adapters(api: ApiClient) -> dict[str, Adapter]:
    return {WEBHOOK_ENDPOINT: WebhookEndpoint(api)}


def expand(ctx: ExpandContext) -> None:
    for name, spec in ctx.stack.section("webhooks").items():
        if spec.get("manual"):
            continue  # a manual step: see lint
        body = {"url": spec["url"], "name": spec.get("name") or name,
                "event_types": list(spec.get("events") or [CALL_INCOMING])}
        ctx.add(Resource(WEBHOOK_ENDPOINT, name, body, origin=("webhooks", name)))


def generate(ctx: GenerateContext) -> None:
    """Each webhook endpoint back to its `webhooks:` entry (the reverse of `expand`)."""
    for endpoint in ctx.objects(WEBHOOK_ENDPOINT):
        key = ctx.key_for("webhooks", WEBHOOK_ENDPOINT, endpoint, str(endpoint.get("name") or "calls"))
        entry: dict[str, Any] = {"url": endpoint.get("url")}
        if endpoint.get("name") and endpoint["name"] != key:
            entry["name"] = endpoint["name"]
        events = list(endpoint.get("event_types") or [])
        if events != [CALL_INCOMING]:
            entry["events"] = events
        ctx.place("webhooks", key, entry, (WEBHOOK_ENDPOINT, endpoint))


def lint(stack: Stack) -> Iterator[Diagnostic]:
    for name, spec in stack.section("webhooks").items():
        events = ", ".join(spec.get("events") or [CALL_INCOMING])
        if spec.get("manual"):
            yield Diagnostic(stack.source.at(("webhooks", name)),
                             f"webhooks.{name} is a manual step: in the OpenAI dashboard (Settings → Project → "
                             f"Webhooks) create a webhook with URL {spec['url']} and event type {events}, then "
                             "give its signing secret to voxplan serve as providers.openai.webhook_secret",
                             severity="warning")
        for i, wanted in enumerate(spec.get("events") or []):
            if wanted not in event_types():
                close = difflib.get_close_matches(str(wanted), event_types(), n=1)
                yield Diagnostic(stack.source.at(("webhooks", name, "events", i)),
                                 f"webhooks.{name}: {wanted!r} is not an event type a webhook endpoint can "
                                 "subscribe to",
                                 hint=f"did you mean {close[0]}?" if close else f"serve answers {CALL_INCOMING}")
        if str(spec["url"]).startswith("http://"):
            yield Diagnostic(stack.source.at(("webhooks", name, "url")),
                             f"webhooks.{name}: OpenAI delivers only to https:// URLs; plain http:// on loopback "
                             "works against the sandbox alone", severity="warning")
