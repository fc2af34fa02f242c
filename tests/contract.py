"""The vendors' OpenAPI documents as the contract of the emulators: every request an emulator receives and
every answer it gives is validated against its vendor's spec.

Where each document comes from: Vapi's from the package (voxplan/specs/, with the documented corrections of
vapi-corrections.json applied: the same data the provider's `validate` and the Vapi emulator read); OpenAI's
Realtime SIP fragment from voxplan/providers/openai/; Wavix's and Cloudonix's from tests/specs/ (copied from
the vendors); didlogic publishes none, so its shapes are written from reference/didlogic-api.md into
tests/specs/didlogic-shapes.openapi.json (voxplan's own, and marked so).

Hooked into `voxplan.sandbox.Sandbox` through `VOXPLAN_SANDBOX_OBSERVER=tests.contract:observe`, which
tests/conftest.py sets for the test process and for every `voxplan sandbox serve` it starts, so the
in-process transport and the served sandbox are both checked. Violations are kept in memory and, for a
served sandbox, appended to the file named by `VOXPLAN_CONTRACT_LOG`; conftest fails the test that
caused them.

What one exchange is held to:
- the operation exists; path parameters match their schemas (a malformed id is the client's bug);
- the request carries the auth the spec's security scheme names (`Authorization: Bearer <key>`);
- query and body validate (openapi-schema-validator: jsonschema with OpenAPI's keywords). Vapi's server is
  NestJS with a whitelist, so its DTO classes are closed here (`additionalProperties: false`), an
  independent check of the emulator's own closed checker (voxplan.specs); free objects and the schemas the
  corrections open stay open. A PATCH may send null to clear a top-level key, except the keys the
  corrections say the vendor does not clear so;
- the answer validates against the documented response, or, for an undocumented error status (429, 5xx),
  against the vendor's error envelope from its fact sheet (ERROR_SHAPES);
- an emulator answering a validation 400 (Vapi's list-of-messages body) to a request the spec accepts is a
  violation: the sandbox may never refuse what the vendor takes.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

from voxplan import specs
from voxplan.providers.openai.agents import nullable_as_null
from voxplan.sandbox.core import Exchange

SPECS = Path(os.environ.get("VOXPLAN_SPECS_DIR") or Path(__file__).resolve().parent / "specs")  # tests/specs
LOG_ENV = "VOXPLAN_CONTRACT_LOG"
VENDORS = ("vapi", "wavix", "cloudonix", "didlogic", "openai")

# Operations voxplan uses that a vendor documents outside its OpenAPI file, checked for auth only:
# (vendor, path prefix) -> the source.
OUTSIDE_SPEC = {
    ("openai", "/realtime"): "openai-sip.md: the call's sideband WebSocket (GET /v1/realtime?call_id=…)",
}

# The error envelope of each vendor, from its fact sheet, for statuses its spec does not document.
_MESSAGE = {"type": "string"}
ERROR_SHAPES: dict[str, dict[str, Any]] = {
    "vapi": {"type": "object", "required": ["message", "statusCode"], "properties": {  # vapi-api.md §9
        "message": {"anyOf": [_MESSAGE, {"type": "array", "items": _MESSAGE}]}, "error": _MESSAGE,
        "statusCode": {"type": "integer"}}},
    "wavix": {"type": "object", "required": ["success", "message"], "properties": {  # wavix-api.md
        "success": {"const": False}, "message": _MESSAGE}},
    "cloudonix": {"type": "object", "required": ["message"], "properties": {  # cloudonix-api.md: {status:false,…}
        "status": {"const": False}, "message": _MESSAGE}},
    "didlogic": {"type": "object", "required": ["error"], "properties": {"error": _MESSAGE}},  # didlogic-api.md
    "openai": {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {  # openai-sip.md
        "error": {"type": "object", "required": ["message", "type"], "properties": {
            "message": _MESSAGE, "type": _MESSAGE, "param": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]}}}}},
}


@dataclass(frozen=True)
class Violation:
    vendor: str
    method: str
    path: str
    where: str  # "request", "query", "path", "auth", "response <status>", "operation"
    message: str

    def __str__(self) -> str:
        return f"{self.vendor} {self.method} {self.path}: {self.where}: {self.message}"


@dataclass
class Spec:
    vendor: str
    document: dict[str, Any]  # as read: answers are checked against it
    operations: list[tuple[re.Pattern[str], str, dict[str, Any]]]  # path regex, template, path item
    registry: Registry  # the document as read
    writing: Registry  # the document for requests: DTO classes closed, PATCH nulls allowed
    version: str  # "3.0" | "3.1"
    base: str

    def validator(self, schema: dict[str, Any], reading: bool) -> Any:
        if self.version == "3.1":
            return OAS31Validator(schema, registry=self.registry, format_checker=OAS31Validator.FORMAT_CHECKER)
        if reading:
            return OAS30ReadValidator(schema, registry=self.registry, format_checker=OAS30ReadValidator.FORMAT_CHECKER)
        return OAS30WriteValidator(schema, registry=self.writing, format_checker=OAS30WriteValidator.FORMAT_CHECKER)


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


def _closed(schemas: dict[str, Any], vendor: str) -> None:
    """Vapi's NestJS whitelist, written as JSON Schema: every DTO class with properties is closed, except the
    schemas the corrections file opens; a PATCH (an Update…DTO) may send null at the top level to clear a key,
    except the keys the vendor does not clear so (corrections `null_clears`)."""
    fixes = specs.corrections(vendor).get("corrections", [])
    opened = {n for f in fixes if f["op"] == "open" for n in f["schemas"]}
    nulls = next((f for f in fixes if f["op"] == "null_clears"), None)
    for name, schema in schemas.items():
        if name in opened or not isinstance(schema, dict):
            continue
        if schema.get("properties") and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        if nulls and name.startswith(nulls["schemas_starting"]) and name.endswith("DTO"):
            for key, prop in (schema.get("properties") or {}).items():
                if key not in nulls["except"]:
                    schema["properties"][key] = {"anyOf": [prop, {"enum": [None]}]}


def _answers_without_write_only(schemas: dict[str, Any], vendor: str) -> None:
    """A value the vendor never returns cannot be required in an answer (the document marks
    VonageCredential.apiSecret required and "not returned" at once)."""
    for name, keys in specs.write_only(vendor).items():
        schema = schemas.get(name)
        if isinstance(schema, dict) and schema.get("required"):
            schema["required"] = [k for k in schema["required"] if k not in keys]


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


def _group(name: str) -> str:
    """A path parameter's name as a regex group (Cloudonix writes `{customer-id}`)."""
    return re.sub(r"\W", "_", name)


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{([^}]+)\\\}", lambda m: f"(?P<{_group(m.group(1))}>[^/]+)",
                                   re.escape(template)) + "/?$")


def _document(vendor: str) -> dict[str, Any]:
    if vendor == "vapi":
        return specs.document("vapi")
    if vendor == "openai":  # its `nullable` read as "or null", as JSON Schema says it; the webhook-endpoint
        # API, which the document lacks, from the openai SDK's own types
        text = resources.files("voxplan.providers.openai").joinpath("realtime-sip.openapi.json").read_text()
        doc = nullable_as_null(json.loads(text))
        doc["paths"].update(openai_webhook_api(doc["components"]["schemas"]))
        return doc
    if vendor == "didlogic":
        return _load("didlogic-shapes.openapi.json")
    if vendor == "wavix":
        doc = _load("wavix-openapi.json")
        legacy = _load("wavix-openapi-legacy-mydids-2026-05.fragment.json")
        for path, item in legacy["paths"].items():
            doc["paths"].setdefault(path, item)
        for name, schema in legacy.get("components", {}).get("schemas", {}).items():
            doc["components"]["schemas"].setdefault(name, schema)
        return doc
    if vendor == "cloudonix":
        doc = _load("cloudonix-rest-openapi-2025-12.yaml")
        _hoist_required(doc)
        for path in [p for p in doc["paths"] if p.startswith("/customers/{customer-id}/domains/{domain-id}")]:
            # the documented shortcut /domains/{d}/… (cloudonix-api.md, "Auth, base URL, addressing")
            doc["paths"].setdefault(path.replace("/customers/{customer-id}", "", 1), doc["paths"][path])
        return doc
    raise KeyError(vendor)


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


@functools.cache
def spec(vendor: str) -> Spec:
    """Each document is parsed once per process (vapi-openapi.json is 3 MB)."""
    doc = _document(vendor)
    writing = copy.deepcopy(doc)
    if vendor == "vapi":
        _closed(writing["components"]["schemas"], vendor)
        _answers_without_write_only(doc["components"]["schemas"], vendor)
    version = "3.1" if str(doc.get("openapi", "")).startswith("3.1") else "3.0"
    base = f"urn:voxplan:spec:{vendor}"
    registries = []
    for one in (doc, writing):
        _absolute_refs(one, base)
        resource = Resource(contents=one, specification=DRAFT202012 if version == "3.1" else DRAFT4)
        registries.append(Registry().with_resource(base, resource))
    # literal paths before templated ones: /v2/phone-number is not /phone-number/{id}
    ordered = sorted(doc["paths"].items(), key=lambda kv: (kv[0].count("{"), -len(kv[0])))
    return Spec(vendor, doc, [(_template_regex(p), p, item) for p, item in ordered], registries[0], registries[1],
                version, base)


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
            wrong_kind = any(e.validator in ("enum", "const") and list(e.path)[-1:] in (["provider"], ["type"])
                             for e in errors)
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


def _path_of(exchange: Exchange) -> str:
    """The path as the vendor's document writes it: didlogic's without `/api` and `.json`, OpenAI's without
    `/v1` (its document's server URL ends in /v1)."""
    path = exchange.path
    if exchange.vendor == "didlogic":
        path = path.removeprefix("/api").removesuffix(".json")
    if exchange.vendor == "openai":
        path = path.removeprefix("/v1")
    return path


def check(exchange: Exchange) -> list[Violation]:
    """What in one exchange breaks the vendor's spec (an empty list if nothing, or no spec)."""
    if exchange.vendor not in VENDORS:
        return []
    sp = spec(exchange.vendor)
    method = exchange.method.lower()
    path = _path_of(exchange)
    found = next(((regex.match(path), template, item) for regex, template, item in sp.operations
                  if regex.match(path) and method in item), None)

    def violation(where: str, message: str) -> Violation:
        return Violation(exchange.vendor, exchange.method, found[1] if found else path, where, message)

    out: list[Violation] = _check_auth(sp, (found[2].get(method) or {}) if found else {}, exchange, violation)
    if found is None:
        if not any(exchange.vendor == v and path.startswith(p) for v, p in OUTSIDE_SPEC):
            return out + [violation("operation", "no such operation in the vendor's spec")]
        status = exchange.response.status
        return out + (_check_error(exchange.vendor, exchange.response.body, violation, f"response {status}")
                      if status >= 400 else [])
    match, template, item = found
    op = item[method]
    params = [_resolve(sp, p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
    out += _check_path(sp, params, match, violation)
    query = _check_query(sp, params, exchange, violation)
    out += query
    response = exchange.response
    if response.reset or response.status == 0:
        return out
    request = _check_request(sp, op, exchange, response.body, violation)
    out += request
    out += _check_response(sp, op, response.status, response.body, violation)
    if not query and not request and _refused_as_invalid(exchange):
        out.append(violation(f"response {response.status}", "the emulator refused as invalid a request the spec "
                             f"accepts: {json.dumps(response.body)[:200]}"))
    return out


def _refused_as_invalid(exchange: Exchange) -> bool:
    """A validation refusal: Vapi's NestJS 400 lists its messages (a business 400 words one string)."""
    body = exchange.response.body
    return (exchange.vendor == "vapi" and exchange.response.status == 400 and isinstance(body, dict)
            and isinstance(body.get("message"), list))


_BEARER = re.compile(r"^Bearer [^\s]+$")


def _check_auth(sp: Spec, op: dict[str, Any], exchange: Exchange, violation: Any) -> list[Violation]:
    """The request carries the key the spec's security scheme asks for: every scheme these vendors use is
    http bearer (Wavix also takes its legacy `appid` query parameter)."""
    if exchange.path.startswith("/_sandbox"):
        return []
    schemes = (sp.document.get("components") or {}).get("securitySchemes") or {}
    wanted = op.get("security", sp.document.get("security"))
    bearer = any(s.get("type") == "http" and str(s.get("scheme", "")).lower() == "bearer" for s in schemes.values())
    if wanted == [] or not (bearer or exchange.vendor == "didlogic"):  # didlogic: Bearer (didlogic-api.md, Auth)
        return []
    auth = exchange.headers.get("authorization", "")
    if _BEARER.match(auth):
        return []
    if exchange.vendor == "wavix" and "appid=" in exchange.query_string:
        return []
    problem = "no Authorization header" if not auth else "an Authorization header that is not `Bearer <key>`"
    out = [violation("auth", f"{problem}: the spec's security scheme is http bearer")]
    if exchange.response.status < 400:
        out.append(violation("auth", f"answered {exchange.response.status} to an unauthenticated request"))
    return out


def _check_path(sp: Spec, params: list[dict[str, Any]], match: re.Match[str] | None,
                violation: Any) -> list[Violation]:
    """Each path parameter as its schema says: a malformed id (`None`, `{id}`, a number where a UUID goes)
    is the client's bug, whatever the emulator answers."""
    if match is None:
        return []
    out = []
    for param in params:
        if param.get("in") != "path" or _group(param["name"]) not in match.groupdict():
            continue
        schema = _resolve(sp, param.get("schema") or {})
        value = _coerce(match.group(_group(param["name"])), schema)
        if schema.get("format") == "uuid" and not _is_uuid(str(value)):
            out.append(violation("path", f"{param['name']}={value}: not a UUID"))
            continue
        out += [violation("path", f"{param['name']}={value}: {e}") for e in _errors(sp, schema, value, reading=False)]
    return out


def _is_uuid(text: str) -> bool:
    try:
        return len(text) == 36 and bool(uuid.UUID(text))
    except ValueError:
        return False


def _check_query(sp: Spec, params: list[dict[str, Any]], exchange: Exchange, violation: Any) -> list[Violation]:
    declared = {p["name"]: p for p in params if p.get("in") == "query"}
    out = []
    for name, values in parse_qs(exchange.query_string, keep_blank_values=True).items():
        if name == "appid" and exchange.vendor == "wavix":
            continue  # the legacy key parameter (wavix-api.md, "Auth"), not in the current spec
        param = declared.get(name)
        if param is None:
            out.append(violation("query", f"{name}: not a parameter of this operation"))
            continue
        schema = _resolve(sp, param.get("schema") or {})
        items = schema.get("items") if schema.get("type") == "array" else None
        value: Any = [_coerce(v, _resolve(sp, items or {})) for v in values] if items is not None else \
            _coerce(values[-1], schema)
        out += [violation("query", f"{name}={values[-1]}: {e}") for e in _errors(sp, schema, value, reading=False)]
    given = parse_qs(exchange.query_string, keep_blank_values=True)
    out += [violation("query", f"{name}: required by the spec, not sent") for name, p in declared.items()
            if p.get("required") and name not in given and exchange.response.status < 400]
    return out


def _form(body: bytes) -> dict[str, Any]:
    """A form-encoded body as its field names and (last) values."""
    return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


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
    sent = exchange.headers.get("content-type", "application/json").split(";")[0].strip()
    media = content.get(sent) or (content.get("application/json") if sent.endswith("json") else None)
    if media is None:
        return [violation("request", f"{sent} sent, the spec takes {sorted(content)}")]
    if sent == "application/x-www-form-urlencoded":
        instance: Any = _form(exchange.body)
    else:
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
        return _check_error(sp.vendor, body, violation, where)
    spec_response = _resolve(sp, spec_response)
    media = (spec_response.get("content") or {}).get("application/json")
    if media is None:
        if body is not None and status < 300:
            return [violation(where, "a body where the spec documents none")]
        return _check_error(sp.vendor, body, violation, where) if status >= 400 else []
    if body is None:
        return [violation(where, "no body where the spec documents one")] if status < 300 else []
    return [violation(where, e) for e in _errors(sp, media.get("schema") or {}, body, reading=True)]


def _check_error(vendor: str, body: Any, violation: Any, where: str) -> list[Violation]:
    """An error status the spec leaves out (429, 5xx, a 400 it does not document) still has the vendor's
    error envelope (its fact sheet's)."""
    shape = ERROR_SHAPES.get(vendor)
    if shape is None:
        return []
    return [violation(where, f"not the vendor's error body: {e.message[:160]}")
            for e in Draft202012Validator(shape).iter_errors(body)]


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
