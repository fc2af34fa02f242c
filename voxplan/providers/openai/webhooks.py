"""OpenAI webhook endpoints (`/v1/webhook_endpoints`, project-scoped; openai-python >= 3.16).

Quirks handled here: the signing secret comes back only from create (and rotate): `normalise` drops it,
so it reaches no state, plan or log; voxplan never needs it, because `voxplan serve` gets its own by
rotating (see voxplan.providers.openai.calls). Update is a POST that replaces `event_types` whole (the
differ always sends complete values). Lists are newest-first cursor pages (`after`, `limit`).
Adopted by URL: an endpoint made in the dashboard for the same receiver is the same endpoint.

Unconfirmed, and where one change fixes it: whether ordinary project keys may call this API (it is
absent from the public OpenAPI document of 2026-08-21). A refusal (401/403/404 on the list) says how to
fall back to `manual: true` (WebhookEndpoint.list).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from voxplan.core import errors
from voxplan.core.errors import Diagnostic
from voxplan.core.model import Resource
from voxplan.providers.base import Adapter, ExpandContext
from voxplan.providers.http import ApiClient
from voxplan.providers.reverse import GenerateContext
from voxplan.stack.model import Stack

WEBHOOK_ENDPOINT = "openai.webhook_endpoint"
CALL_INCOMING = "realtime.call.incoming"
LIVE_INCOMING = ("live.transport.incoming", "live.call.incoming")  # GPT-Live's events for the same calls
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
        both = [e for e in LIVE_INCOMING if e in (spec.get("events") or [])]
        if both and CALL_INCOMING in (spec.get("events") or [CALL_INCOMING]):
            yield Diagnostic(stack.source.at(("webhooks", name, "events")),
                             f"webhooks.{name}: {CALL_INCOMING} and {both[0]} announce the same calls, and only the "
                             "first accept wins", hint=f"subscribe to one of them (serve answers {CALL_INCOMING})",
                             severity="warning")
        if str(spec["url"]).startswith("http://"):
            yield Diagnostic(stack.source.at(("webhooks", name, "url")),
                             f"webhooks.{name}: OpenAI delivers only to https:// URLs; plain http:// on loopback "
                             "works against the sandbox alone", severity="warning")
