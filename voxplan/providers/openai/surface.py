"""What OpenAI adds to the stack format: its settings (with the webhook's signing secret), `agents:` (the
session `voxplan serve` accepts a call with) and `webhooks:` (openai.webhook_endpoint), and the `openai:`
route target (a carrier number sent to a project's SIP URI)."""

from __future__ import annotations

from typing import Any

from voxplan.stack.surface import Reference, Section, Surface

SETTINGS: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "OpenAI: the API key (call control, webhook endpoints), the webhook signing secret(s) `serve` "
                   "verifies with, and the caller header a carrier adds.",
    "properties": {
        "api_key": {"type": "string", "description": "Only from ${env:NAME} or ${file:PATH}, never literal."},
        "base_url": {"type": "string", "pattern": "^https?://"},
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 100,
                        "description": "Requests in flight at once (default 10)."},
        "webhook_secret": {"oneOf": [{"type": "string"},
                                     {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4}],
                           "description": "The whsec_ signing secret(s) `serve` verifies deliveries with, only from "
                                          "${env:NAME} or ${file:PATH} (a list while a rotation overlaps: new and "
                                          "old). Omitted: `serve` reads OPENAI_WEBHOOK_SECRET. `voxplan webhooks "
                                          "rotate STACK` prints a new one for a webhook voxplan manages."},
        "caller_header": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
                          "description": "A SIP header the carrier adds to every call it sends (a shared secret): "
                                         "`serve` rejects calls without it. Published with the agents' routing; "
                                         "its value is caller_secret."},
        "caller_secret": {"type": "string", "description": "The value caller_header must hold, only from ${env:NAME} "
                                                           "or ${file:PATH}; given to `serve`, never published."},
        "reject_status": {"type": "integer", "minimum": 400, "maximum": 699, "default": 603,
                          "description": "The SIP status `serve` rejects a call to an unrouted number with."}}}
AGENT: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "A Realtime session config: what a call is accepted with.",
    "properties": {
        "model": {"type": "string", "description": "e.g. gpt-realtime"},
        "voice": {"type": ["string", "object"], "description": "A built-in voice (marin, cedar, …) or {id: voice_…}."},
        "instructions": {"type": "string"},
        "transfer": {"type": "array", "description": "Cold-transfer targets: the model gets a transfer tool, and "
                                                     "`serve` sends SIP REFER.",
                     "items": {"type": "object", "additionalProperties": False, "required": ["to"], "properties": {
                         "to": {"type": "string", "description": "E.164 number (sent as tel:+…) or a sip: URI: the "
                                                                 "SIP REFER target."},
                         "when": {"type": "string", "description": "When the model should transfer there."}}}},
        "end_call": {"oneOf": [{"type": "boolean"}, {"type": "object", "additionalProperties": False,
                                                     "properties": {"when": {"type": "string"}}}],
                     "description": "Give the model an end-call tool; `serve` hangs up when it calls it."},
        "session": {"type": "object", "description": "Any other accept-body field (RealtimeSessionCreateRequestGA), "
                                                     "passed through as-is."}}}
WEBHOOK: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["url"],
    "properties": {
        "url": {"type": "string", "pattern": "^https?://",
                "description": "Where OpenAI delivers: the public URL of `voxplan serve`'s /openai/webhook."},
        "name": {"type": "string", "description": "Defaults to the entry's key."},
        "events": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "description": "Default [realtime.call.incoming]."},
        "manual": {"type": "boolean", "description": "Made in the dashboard: plan lists it as a manual step instead "
                                                     "of creating it."},
        "lifecycle": {"$ref": "#/$defs/lifecycle"}}}
ROUTE: dict[str, Any] = {
    "openai": {"type": "string", "pattern": "^proj_[A-Za-z0-9]+$", "description": "OpenAI Realtime SIP: the project "
                                                                                  "id."},
    "residency": {"enum": ["us", "eu"], "description": "openai: eu uses sip-eu.api.openai.com."},
    "agent": {"type": "string", "description": "openai: the agent (agents:) that answers."},
}

SURFACE = Surface(
    provider="openai",
    settings=SETTINGS,
    sections=(Section("agents", "agent", AGENT, "OpenAI Realtime agents: the session `voxplan serve` accepts each "
                                                "call with."),
              Section("webhooks", "webhook", WEBHOOK, "OpenAI webhook endpoints (openai.webhook_endpoint).")),
    route=ROUTE,
    route_targets=("openai",),
    secret_places=(("providers", "openai", "webhook_secret"), ("providers", "openai", "webhook_secret", "*"),
                   ("providers", "openai", "caller_secret")),
    one_line=(("routes", "*", "openai"), ("webhooks", "*", "url"), ("webhooks", "*", "name"),
              ("agents", "*", "model")),
    references=(Reference(("routes", "*", "agent"), "agents"),),
)
