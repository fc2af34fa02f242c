"""The vendors' OpenAPI documents as the contract of the emulators: every request an emulator receives and
every answer it gives is validated against its vendor's spec (`tests/specs/`, copied from the vendors).

Hooked into `voxplan.sandbox.Sandbox` through `VOXPLAN_SANDBOX_OBSERVER=tests.contract:observe`, which
tests/conftest.py sets for the test process and for every `voxplan sandbox serve` it starts, so the
in-process transport and the served sandbox are both checked. Violations are kept in memory and, for a
served sandbox, appended to the file named by `VOXPLAN_CONTRACT_LOG`; conftest fails the test that
caused them.

Validation is openapi-schema-validator's (jsonschema with OpenAPI's keywords: `nullable`, `readOnly`,
`discriminator`), with `required` and `additionalProperties: false` wherever the spec says so. What is
changed from the documents, each for a stated reason, is in SPEC_ERRATA and SUPPLEMENTS below; nothing
else. OpenAI: the Realtime SIP fragment of its OpenAPI document (its `nullable` read as "or null", as JSON
Schema says it), and the webhook-endpoint API, which that document lacks, from the `openai` SDK's own
types (`openai_webhook_api`). didlogic publishes no spec, so its traffic is not validated here (its
emulator keeps the shapes of its fact sheet, tested in tests/test_e2e_carriers.py).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from voxplan.providers.openai.agents import nullable_as_null
from voxplan.sandbox.core import Exchange

SPECS = Path(os.environ.get("VOXPLAN_SPECS_DIR") or Path(__file__).resolve().parent / "specs")  # tests/specs
LOG_ENV = "VOXPLAN_CONTRACT_LOG"

# Corrections to the documents' own mistakes, each named in specs/README.md or the fact sheet: without
# them a correct answer would fail. (schema, JSON pointer inside it, corrected fragment, why)
SPEC_ERRATA: dict[str, list[tuple[str, str, Any, str]]] = {
    "vapi": [
        ("TransferPlan", "/properties/sipVerb", {"type": "string", "enum": ["refer", "bye", "dial"]},
         "typed `object` while its enum holds strings (specs/README.md, vapi-api.md §11.20)"),
        ("BackoffPlan", "/properties/type", {"type": "string", "enum": ["fixed", "exponential"]},
         "typed `object` while its enum holds strings (vapi-api.md §11.20)"),
        *((schema, "/properties/messages/items", {"anyOf": [
            {"$ref": f"#/components/schemas/{m}"} for m in ("UserMessage", "SystemMessage", "BotMessage",
                                                             "ToolCallMessage", "ToolCallResultMessage")]},
           "a oneOf with no discriminator over message schemas that admit the same object (a bot message is also "
           "a valid UserMessage and SystemMessage: none forbids other keys), so no transcript could pass; read as "
           "anyOf") for schema in ("Call", "Artifact")),
        ("SipAuthentication", "/required", ["username"],
         "the spec (and the SDK) require `password` in answers too; whether Vapi returns it is unconfirmed "
         "(vapi-api.md §12): the emulator keeps it write-only by default and echoes it as a variant, and the "
         "emulator, not this table, still refuses a create without it"),
    ],
}

# Operations voxplan uses that a vendor documents outside its OpenAPI file. (vendor, method, path) ->
# request and response schema names, and the source.
SUPPLEMENTS: dict[tuple[str, str, str], tuple[str | None, str | None, str]] = {
    ("vapi", "patch", "/credential/{id}"): ("UpdateByoSipTrunkCredentialDTO", "ByoSipTrunkCredential",
                                            "docs: PATCH /credential/{id} 'with the complete gateways array'"),
    ("vapi", "post", "/call/phone"): ("CreateCallDTO", "Call",
                                      "seeds 000 and 001: POST /call/phone, the path of POST /call they use"),
}


@dataclass(frozen=True)
class Violation:
    vendor: str
    method: str
    path: str
    where: str  # "request", "query", "response <status>", "operation"
    message: str

    def __str__(self) -> str:
        return f"{self.vendor} {self.method} {self.path}: {self.where}: {self.message}"


@dataclass
class Spec:
    vendor: str
    document: dict[str, Any]
    operations: list[tuple[re.Pattern[str], str, dict[str, Any]]]  # path regex, template, path item
    registry: Registry
    version: str  # "3.0" | "3.1"

    def validator(self, schema: dict[str, Any], reading: bool) -> Any:
        if self.version == "3.1":
            return OAS31Validator(schema, registry=self.registry, format_checker=OAS31Validator.FORMAT_CHECKER)
        cls = OAS30ReadValidator if reading else OAS30WriteValidator
        return cls(schema, registry=self.registry, format_checker=cls.FORMAT_CHECKER)


def _load(name: str) -> dict[str, Any]:
    text = (SPECS / name).read_text()
    return dict(json.loads(text) if name.endswith(".json") else yaml.safe_load(text))


def _hoist_required(node: Any) -> None:
    """Swagger 2's `required: true` on a property (Cloudonix writes it so) becomes its parent's
    `required` list, which is what the author meant and what OpenAPI 3 spells."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            marked = [k for k, v in props.items() if isinstance(v, dict) and v.get("required") is True]
            for v in props.values():
                if isinstance(v, dict) and isinstance(v.get("required"), bool):
                    del v["required"]
            if marked:
                node["required"] = sorted(set(node.get("required") or []) | set(marked))
        for value in node.values():
            _hoist_required(value)
    elif isinstance(node, list):
        for value in node:
            _hoist_required(value)


def _null_clears(schemas: dict[str, Any]) -> None:
    """A Vapi PATCH clears a top-level key with null (the docs PATCH `assistantId: null` to unassign a
    number; leaving a key out leaves it unchanged: vapi-api.md §4, §11.10), though the Update DTOs do not
    mark their properties nullable. Each top-level property of an Update…DTO also takes null."""
    for name, schema in schemas.items():
        if name.startswith("Update") and name.endswith("DTO"):
            for key, prop in (schema.get("properties") or {}).items():
                schema["properties"][key] = {"anyOf": [prop, {"enum": [None]}]}


def _set_pointer(doc: dict[str, Any], pointer: str, value: Any) -> None:
    parts = pointer.strip("/").split("/")
    node = doc
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def _absolute_refs(node: Any, base: str) -> None:
    """`#/components/…` → `<base>#/components/…`, so a schema taken out of the document still resolves."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            node["$ref"] = base + ref
        mapping = node.get("mapping")
        if isinstance(mapping, dict) and "propertyName" in node:  # a discriminator's
            node["mapping"] = {k: base + v if isinstance(v, str) and v.startswith("#") else v
                               for k, v in mapping.items()}
        for value in node.values():
            _absolute_refs(value, base)
    elif isinstance(node, list):
        for value in node:
            _absolute_refs(value, base)


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "/?$")


@functools.cache
def spec(vendor: str) -> Spec:
    """Each document is parsed once per process (vapi-openapi.json is 3 MB)."""
    if vendor == "vapi":
        doc = _load("vapi-openapi.json")
        doc["paths"].update(_load("vapi-openapi-credential-paths-2024-12.json")["paths"])  # its $refs resolve
    elif vendor == "wavix":
        doc = _load("wavix-openapi.json")
        legacy = _load("wavix-openapi-legacy-mydids-2026-05.fragment.json")
        for path, item in legacy["paths"].items():
            doc["paths"].setdefault(path, item)
        for name, schema in legacy.get("components", {}).get("schemas", {}).items():
            doc["components"]["schemas"].setdefault(name, schema)
    elif vendor == "cloudonix":
        doc = _load("cloudonix-rest-openapi-2025-12.yaml")
        _hoist_required(doc)
        for path in [p for p in doc["paths"] if p.startswith("/customers/{customer-id}/domains/{domain-id}")]:
            # the documented shortcut /domains/{d}/… (cloudonix-api.md, "Auth, base URL, addressing")
            doc["paths"].setdefault(path.replace("/customers/{customer-id}", "", 1), doc["paths"][path])
    elif vendor == "openai":
        doc = nullable_as_null(_load("openai-realtime-sip-fragment.json"))
        doc["paths"].update(openai_webhook_api(doc["components"]["schemas"]))
    else:
        raise KeyError(vendor)
    for schema, pointer, value, _why in SPEC_ERRATA.get(vendor, []):
        _set_pointer(doc["components"]["schemas"][schema], pointer, value)
    if vendor == "vapi":
        _null_clears(doc["components"]["schemas"])
    for (v, method, path), (request, response, _why) in SUPPLEMENTS.items():
        if v != vendor:
            continue
        answer = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{response}"}}}}
        op: dict[str, Any] = {"responses": {"200": answer, **({"201": answer} if method == "post" else {})}}
        if request:
            ref = {"$ref": f"#/components/schemas/{request}"}
            op["requestBody"] = {"content": {"application/json": {"schema": ref}}}
        doc["paths"].setdefault(path, {}).setdefault(method, op)
    version = "3.1" if str(doc.get("openapi", "")).startswith("3.1") else "3.0"
    base = f"urn:voxplan:spec:{vendor}"
    _absolute_refs(doc, base)
    resource = Resource(contents=doc, specification=DRAFT202012 if version == "3.1" else DRAFT4)
    registry: Registry = Registry().with_resource(base, resource)
    # literal paths before templated ones: /v2/phone-number is not /phone-number/{id}
    ordered = sorted(doc["paths"].items(), key=lambda kv: (kv[0].count("{"), -len(kv[0])))
    return Spec(vendor, doc, [(_template_regex(p), p, item) for p, item in ordered], registry, version)


def openai_webhook_api(schemas: dict[str, Any]) -> dict[str, Any]:
    """`/webhook_endpoints…` as the openai SDK types them (>= 3.16; reference/openai-sip.md): request
    bodies from its TypedDicts (no other key allowed), answers from its models; their schemas are added
    to `schemas`."""
    from openai.types.webhooks import (
        WebhookEndpoint,
        WebhookEndpointList,
        WebhookEndpointWithSecret,
        webhook_create_params,
        webhook_rotate_secret_params,
        webhook_update_params,
    )
    from openai.types.webhooks.deleted_webhook_endpoint import DeletedWebhookEndpoint
    from pydantic import TypeAdapter

    template = "#/components/schemas/{model}"
    types: dict[str, Any] = {
        "WebhookCreateParams": webhook_create_params.WebhookCreateParams,
        "WebhookUpdateParams": webhook_update_params.WebhookUpdateParams,
        "WebhookRotateSecretParams": webhook_rotate_secret_params.WebhookRotateSecretParams,
        "WebhookEndpoint": WebhookEndpoint, "WebhookEndpointWithSecret": WebhookEndpointWithSecret,
        "WebhookEndpointList": WebhookEndpointList, "DeletedWebhookEndpoint": DeletedWebhookEndpoint}
    for name, kind in types.items():
        schema = TypeAdapter(kind).json_schema(ref_template=template, mode="validation")
        schemas.update(schema.pop("$defs", {}))
        if name.endswith("Params"):
            schema["additionalProperties"] = False
        schemas[name] = schema

    def op(request: str | None, response: str) -> dict[str, Any]:
        out: dict[str, Any] = {"responses": {"200": {"content": {"application/json": {"schema": {
            "$ref": template.format(model=response)}}}}}}
        if request:
            out["requestBody"] = {"content": {"application/json": {"schema": {"$ref": template.format(model=request)}}}}
        return out

    return {
        "/webhook_endpoints": {"get": {**op(None, "WebhookEndpointList"), "parameters": [
            {"name": "after", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer"}}]},
            "post": op("WebhookCreateParams", "WebhookEndpointWithSecret")},
        "/webhook_endpoints/{id}": {"get": op(None, "WebhookEndpoint"),
                                    "post": op("WebhookUpdateParams", "WebhookEndpoint"),
                                    "delete": op(None, "DeletedWebhookEndpoint")},
        "/webhook_endpoints/{id}/rotate_secret": {"post": op("WebhookRotateSecretParams", "WebhookEndpointWithSecret")},
    }


def _resolve(sp: Spec, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        node = sp.registry.resolver().lookup(node["$ref"]).contents
    return node


def _errors(sp: Spec, schema: dict[str, Any], instance: Any, reading: bool) -> Iterator[str]:
    for error in sp.validator(schema, reading).iter_errors(instance):
        yield _describe(error)


def _describe(error: ValidationError) -> str:
    """One line for an error; for a oneOf/anyOf, the errors of the branch that came closest."""
    if error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        def distance(errors: list[ValidationError]) -> tuple[int, int]:  # a wrong discriminator is farthest
            wrong_kind = any(e.validator == "enum" and list(e.path)[-1:] in (["provider"], ["type"]) for e in errors)
            return int(wrong_kind), len(errors)

        closest = min(branches.values(), key=distance)
        return "; ".join(_describe(sub) for sub in closest[:3])
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message[:200]}"


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query string value as its parameter's type says (query values are text on the wire)."""
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    for kind in types:
        try:
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            continue
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    return value


def check(exchange: Exchange) -> list[Violation]:
    """What in one exchange breaks the vendor's spec (an empty list if nothing, or no spec)."""
    if exchange.vendor not in ("vapi", "wavix", "cloudonix", "openai"):
        return []
    path = exchange.path
    if exchange.vendor == "openai":
        if exchange.response.status == 101 or path.rstrip("/") == "/v1/realtime":
            return []  # the sideband WebSocket's handshake, taken or refused: no OpenAPI operation describes it
        path = path.removeprefix("/v1")  # the document's server URL carries the /v1
    sp = spec(exchange.vendor)
    method = exchange.method.lower()
    found = next(((template, item) for regex, template, item in sp.operations if regex.match(path)
                  and method in item), None)

    def violation(where: str, message: str) -> Violation:
        return Violation(exchange.vendor, exchange.method, template if found else exchange.path, where, message)

    if found is None:
        return [violation("operation", "no such operation in the vendor's spec")]
    template, item = found
    op = item[method]
    out: list[Violation] = []
    out += _check_query(sp, op, item, exchange, violation)
    response = exchange.response
    if response.reset or response.status == 0:
        return out
    response_body = response.body
    out += _check_request(sp, op, exchange, response_body, violation)
    out += _check_response(sp, op, response.status, response_body, violation)
    return out


def _check_query(sp: Spec, op: dict[str, Any], item: dict[str, Any], exchange: Exchange,
                 violation: Any) -> list[Violation]:
    params = {p["name"]: p for p in (_resolve(sp, p) for p in [*item.get("parameters", []),
                                                                 *op.get("parameters", [])]) if p.get("in") == "query"}
    out = []
    for name, values in parse_qs(exchange.query_string, keep_blank_values=True).items():
        if name == "appid" and exchange.vendor == "wavix":
            continue  # the legacy key parameter (wavix-api.md, "Auth"), not in the current spec
        param = params.get(name)
        if param is None:
            out.append(violation("query", f"{name}: not a parameter of this operation"))
            continue
        schema = _resolve(sp, param.get("schema") or {})
        items = schema.get("items") if schema.get("type") == "array" else None
        value: Any = [_coerce(v, _resolve(sp, items or {})) for v in values] if items is not None else \
            _coerce(values[-1], schema)
        out += [violation("query", f"{name}={values[-1]}: {e}") for e in _errors(sp, schema, value, reading=False)]
    return out


def _check_request(sp: Spec, op: dict[str, Any], exchange: Exchange, response_body: Any,
                   violation: Any) -> list[Violation]:
    body = op.get("requestBody")
    if not exchange.body:
        if body and body.get("required") and exchange.response.status < 400:
            return [violation("request", "the spec requires a body; none was sent")]
        return []
    if body is None:
        return [violation("request", "a body was sent to an operation that takes none")]
    body = _resolve(sp, body)
    content = body.get("content") or {}
    media = content.get("application/json")
    if media is None:
        return [violation("request", f"JSON sent, the spec takes {sorted(content)}")]
    try:
        instance = json.loads(exchange.body)
    except ValueError:
        return [violation("request", "the body is not JSON")]
    schema = media.get("schema") or {}
    instance = _discriminated(sp, schema, instance, response_body)
    return [violation("request", e) for e in _errors(sp, schema, instance, reading=False)]


def _discriminated(sp: Spec, schema: dict[str, Any], instance: Any, response_body: Any) -> Any:
    """A PATCH may leave out the discriminator (Vapi's docs do: `provider`, tool `type`): the server picks
    the DTO by the object's own kind, which its answer shows. Validate as that DTO."""
    schema = _resolve(sp, schema)
    disc = schema.get("discriminator") if isinstance(schema, dict) else None
    if not disc or not isinstance(instance, dict) or disc["propertyName"] in instance:
        return instance
    name = disc["propertyName"]
    if isinstance(response_body, dict) and name in response_body:
        return {**instance, name: response_body[name]}
    return instance


def _check_response(sp: Spec, op: dict[str, Any], status: int, body: Any, violation: Any) -> list[Violation]:
    responses = op.get("responses") or {}
    spec_response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    where = f"response {status}"
    if spec_response is None:
        if status < 400:
            return [violation(where, f"status not in the spec (it documents {sorted(responses)})")]
        return []  # an undocumented error status (429, 5xx, a 400 the spec leaves out): no shape to hold to
    spec_response = _resolve(sp, spec_response)
    media = (spec_response.get("content") or {}).get("application/json")
    if media is None:
        if body is not None and status < 300:
            return [violation(where, "a body where the spec documents none")]
        return []
    if body is None:
        return [violation(where, "no body where the spec documents one")] if status < 300 else []
    return [violation(where, e) for e in _errors(sp, media.get("schema") or {}, body, reading=True)]


# -- the observer the Sandbox calls ---------------------------------------------------------------
_lock = threading.Lock()
_seen: list[Violation] = []
_counts = {"exchanges": 0}


def observe(exchange: Exchange) -> None:
    try:
        problems = check(exchange)
    except Exception as exc:  # noqa: BLE001 - a checker bug must fail the test, not the emulator
        problems = [Violation(exchange.vendor, exchange.method, exchange.path, "checker", repr(exc)[:300])]
    with _lock:
        _counts["exchanges"] += 1
        _seen.extend(problems)
        log = os.environ.get(LOG_ENV)
        if problems and log:
            with open(log, "a") as fh:
                for p in problems:
                    fh.write(json.dumps(p.__dict__) + "\n")


def take() -> list[Violation]:
    """Violations recorded in this process (and, if a log is set, by served sandboxes) since last taken."""
    with _lock:
        out = list(_seen)
        _seen.clear()
        log = os.environ.get(LOG_ENV)
        if log and os.path.exists(log):
            with open(log) as fh:
                out += [Violation(**json.loads(line)) for line in fh if line.strip()]
            os.truncate(log, 0)
    return out
