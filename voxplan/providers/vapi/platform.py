"""Stack intent → Vapi resources: tools, assistants, SIP-trunk credentials, phone numbers.

Also the `vapi` carrier (Vapi-hosted SIP URIs, `provider: vapi`) and Vapi's own lint: names ≤ 40,
inbound gateways must be numeric IPv4, SIP URIs on the region's host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.model import PathT, Ref, Resource, address
from voxplan.providers.base import ExpandContext
from voxplan.providers.reverse import GenerateContext, Unresolved, as_dict
from voxplan.providers.vapi import callcheck
from voxplan.providers.vapi.adapters import GATEWAY_DEFAULTS
from voxplan.stack.model import Stack

API_URLS = {"us": "https://api.vapi.ai", "eu": "https://api.eu.vapi.ai"}
SIP_HOSTS = {"us": "sip.vapi.ai", "eu": "sip.eu.vapi.ai"}
NAME_MAX = 40
_SIP_USER = re.compile(r"^sip:([A-Za-z0-9_.+\-]+)@([A-Za-z0-9.\-]+)$", re.IGNORECASE)

CREDENTIAL, NUMBER, ASSISTANT, TOOL = "vapi.credential", "vapi.phone_number", "vapi.assistant", "vapi.tool"


def _merge(body: dict[str, Any], passthrough: dict[str, Any] | None) -> dict[str, Any]:
    """`vapi:` sets any other Vapi field as-is; where it names a field voxplan also sets, it wins."""
    return {**body, **(passthrough or {})}


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def gateway(spec: dict[str, Any]) -> dict[str, Any]:
    """A gateway in the stack's vocabulary → Vapi's SipTrunkGateway."""
    return _drop_none({
        "ip": spec["ip"], "port": spec.get("port"), "netmask": spec.get("netmask"),
        "inboundEnabled": spec.get("inbound"), "outboundEnabled": spec.get("outbound"),
        "outboundProtocol": spec.get("protocol"), "optionsPingEnabled": spec.get("options_ping"),
    })


def function_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", key)[:64]


class VapiPlatform:
    """The `Platform` carriers hand calls to."""

    def __init__(self, region: str = "us"):
        self.region = region

    @classmethod
    def of(cls, stack: Stack) -> VapiPlatform:
        """The platform as the stack's `vapi:` section sets it (region us | eu)."""
        return cls(region(stack))

    # -- platform sections --------------------------------------------------------------------
    def expand(self, ctx: ExpandContext) -> None:
        for name, spec in ctx.stack.section("tools").items():
            ctx.add(Resource(TOOL, name, self._tool(name, spec), origin=("tools", name)))
        for name, spec in ctx.stack.section("assistants").items():
            ctx.add(Resource(ASSISTANT, name, self._assistant(name, spec), origin=("assistants", name)))

    def _tool(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        function = _drop_none({"name": spec.get("name") or function_name(name), "description": spec.get("description")})
        if "handoff" in spec:
            destinations = []
            for target in spec["handoff"]:
                target = target if isinstance(target, dict) else {"assistant": target}
                destinations.append(_drop_none({"type": "assistant",
                                                "assistantId": Ref(address(ASSISTANT, target["assistant"])),
                                                "description": target.get("description")}))
            body = {"type": "handoff", "function": function, "destinations": destinations}
        else:
            # CreateTransferCallToolDTO (2026-08) has no `function`: the model chooses by each destination's
            # description, so the tool's description stands in for a destination that gives none
            body = {"type": "transferCall",
                    "destinations": [self._destination(d, spec) for d in spec["transfer"]]}
        return _merge(body, spec.get("vapi"))

    @staticmethod
    def _destination(dest: dict[str, Any], tool: dict[str, Any]) -> dict[str, Any]:
        plan = _drop_none({"mode": dest.get("mode") or tool.get("mode") or "blind-transfer",
                           "sipVerb": dest.get("sip_verb") or tool.get("sip_verb")})
        if "sip" in dest:
            out = {"type": "sip", "sipUri": dest["sip"], "sipHeaders": dest.get("headers")}
        else:
            out = {"type": "number", "number": dest["number"], "numberE164CheckEnabled": True,
                   "extension": dest.get("extension")}
        out.update(message=dest.get("message"), description=dest.get("when") or tool.get("description"),
                   callerId=dest.get("caller_id"), transferPlan=plan)
        return _drop_none(out)

    def _assistant(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"name": spec.get("name") or name}
        if "first_message" in spec:
            body["firstMessage"] = spec["first_message"]
        if "first_message_mode" in spec:
            body["firstMessageMode"] = spec["first_message_mode"]
        model = spec.get("model")
        tools = [Ref(address(TOOL, t)) for t in spec.get("tools") or []]
        if model is not None:
            extra = {k: v for k, v in model.items() if k not in ("provider", "model", "system", "temperature",
                                                                  "max_tokens")}
            vapi_model: dict[str, Any] = {"provider": model["provider"], "model": model["model"]}
            if "system" in model:
                vapi_model["messages"] = [{"role": "system", "content": model["system"]}]
            if "temperature" in model:
                vapi_model["temperature"] = model["temperature"]
            if "max_tokens" in model:
                vapi_model["maxTokens"] = model["max_tokens"]
            if tools:
                vapi_model["toolIds"] = tools
            body["model"] = {**vapi_model, **extra}
        for key, vapi_key in (("voice", "voice"), ("transcriber", "transcriber"), ("metadata", "metadata"),
                              ("max_duration_seconds", "maxDurationSeconds"), ("end_call_message", "endCallMessage")):
            if key in spec:
                body[vapi_key] = spec[key]
        if "server_url" in spec:
            body["server"] = {"url": spec["server_url"]}
        return _merge(body, spec.get("vapi"))

    # -- what carriers call ---------------------------------------------------------------------
    def trunk_credential(self, ctx: ExpandContext, trunk: str, *, gateways: list[dict[str, Any]],
                         username: Any, password: Any, options: dict[str, Any],
                         depends_on: tuple[str, ...] = ()) -> str:
        body = self.credential_body(trunk, gateways=gateways, username=username, password=password, options=options)
        return ctx.add(Resource(CREDENTIAL, trunk, body, origin=("trunks", trunk), depends_on=depends_on))

    @staticmethod
    def credential_body(trunk: str, *, gateways: list[dict[str, Any]], username: Any, password: Any,
                        options: dict[str, Any], **_: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"provider": "byo-sip-trunk", "name": options.get("name") or trunk,
                                "gateways": [gateway(g) for g in gateways]}
        if username is not None or password is not None:
            plan = _drop_none({"authUsername": username, "authPassword": password})
            if options.get("register"):
                plan["sipRegisterPlan"] = dict(options["register"])
            body["outboundAuthenticationPlan"] = plan
        for key, vapi_key in (("leading_plus", "outboundLeadingPlusEnabled"), ("tech_prefix", "techPrefix"),
                              ("sip_diversion_header", "sipDiversionHeader")):
            if key in options:
                body[vapi_key] = options[key]
        return _merge(body, options.get("vapi"))

    def credential_address(self, trunk: str) -> str:
        return address(CREDENTIAL, trunk)

    def bind_number(self, ctx: ExpandContext, number: str, *, credential: str, route: dict[str, Any] | None,
                    origin: PathT, options: dict[str, Any]) -> str:
        body = self.byo_number_body(number, credential, route, options)
        return ctx.add(Resource(NUMBER, number, body, origin=origin))

    def byo_number_body(self, number: str, credential: str, route: dict[str, Any] | None,
                        options: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"provider": "byo-phone-number", "number": number,
                                "numberE164CheckEnabled": False, "credentialId": Ref(credential)}
        return self._routed(body, route, options)

    def sip_number(self, ctx: ExpandContext, uri: str, *, auth: dict[str, Any] | None, route: dict[str, Any] | None,
                   origin: PathT, options: dict[str, Any]) -> str:
        return ctx.add(Resource(NUMBER, uri.lower(), self.sip_number_body(uri, auth, route, options), origin=origin))

    def sip_number_body(self, uri: str, auth: dict[str, Any] | None, route: dict[str, Any] | None,
                        options: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"provider": "vapi", "sipUri": uri.lower()}
        if auth:
            body["authentication"] = _drop_none({"username": auth["username"], "password": auth["password"],
                                                 "realm": auth.get("realm")})
        return self._routed(body, route, options)

    @staticmethod
    def _routed(body: dict[str, Any], route: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
        route = route or {}
        if options.get("name"):
            body["name"] = options["name"]
        body["assistantId"] = Ref(address(ASSISTANT, route["assistant"])) if "assistant" in route else None
        body["squadId"] = route.get("squad")
        if "server_url" in route:
            body["server"] = {"url": route["server_url"]}
        return _merge(body, options.get("vapi"))

    def inbound_uri(self, credential: str, user: str) -> Ref:
        return Ref(credential, "id", template=f"{user}@{{}}.{SIP_HOSTS[self.region]}")

    # -- the way back (voxplan.providers.reverse): live objects → stack entries ------------------------
    def generate(self, ctx: GenerateContext) -> None:
        """Tools and assistants, keyed by their names. What refers to an object that is not in the stack (a
        tool of another stack's, an assistant marked as another's) is left out, and so what refers to it."""
        if any(str(n.get("sipUri", "")).lower().endswith("@" + SIP_HOSTS["eu"]) for n in ctx.live.get(NUMBER, ())):
            ctx.settings["vapi"] = {"region": "eu"}
        tools, assistants = ctx.objects(TOOL), ctx.objects(ASSISTANT)
        for obj in list(assistants):
            marker = as_dict(obj.get("metadata")).get(OWNER_KEY)
            if marker and marker != ctx.owner:
                ctx.skip(ASSISTANT, obj, f"marked as owned by {marker!r} (its metadata.{OWNER_KEY})")
                assistants.remove(obj)
        for obj in tools:
            ctx.claim("tools", TOOL, obj, ctx.key_for("tools", TOOL, obj, _tool_name(obj)))
        for obj in assistants:
            ctx.claim("assistants", ASSISTANT, obj, ctx.key_for("assistants", ASSISTANT, obj,
                                                                 str(obj.get("name") or "assistant")))
        pending = [(TOOL, o) for o in tools] + [(ASSISTANT, o) for o in assistants]
        while True:  # what refers to something left out is left out, until nothing more is
            missing = [(kind, o, ref) for kind, o in pending for ref in _refs(kind, o)
                       if ctx.key_of(*ref) is None]
            if not missing:
                break
            for kind, o, (ref_kind, ref_id) in missing:
                if (kind, o) in pending:
                    ctx.skip(kind, o, f"uses {ref_kind} {ref_id}, which is not in the stack")
                    pending.remove((kind, o))
        for kind, obj in pending:
            section, key = ("tools" if kind == TOOL else "assistants"), ctx.key_of(kind, ctx.rid(kind, obj))
            assert key is not None
            entry = self.tool_entry(ctx, key, obj) if kind == TOOL else self.assistant_entry(ctx, key, obj)
            if isinstance(entry, Unresolved):
                ctx.skip(kind, obj, entry.why)
            else:
                ctx.place(section, key, entry, (kind, obj))

    def tool_entry(self, ctx: GenerateContext, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A tool back to its `tools:` entry (the reverse of `_tool`)."""
        entry: dict[str, Any] = {}
        if obj.get("type") == "handoff":
            fn = as_dict(obj.get("function"))
            if fn.get("name") and fn["name"] != function_name(key):
                entry["name"] = fn["name"]
            if fn.get("description"):
                entry["description"] = fn["description"]
            targets: list[Any] = []
            for dest in obj.get("destinations") or []:
                target = ctx.key_of(ASSISTANT, dest.get("assistantId")) if dest.get("type") == "assistant" else None
                if target is None:
                    return Unresolved("hands off to something other than an assistant of this stack")
                targets.append({"assistant": target, "description": dest["description"]} if dest.get("description")
                               else target)
            entry["handoff"] = targets
        elif obj.get("type") == "transferCall":
            entry["transfer"] = [_destination_entry(d) for d in obj.get("destinations") or [] if isinstance(d, dict)]
            if any(d is None for d in entry["transfer"]):
                return Unresolved("a transfer destination the stack format cannot say (not a SIP URI or a number)")
        else:
            return Unresolved(f"a {obj.get('type')} tool, which the stack format does not say")
        return _with_extras(entry, ctx.extras(TOOL, self._tool(key, entry), obj, ("tools", key, "vapi")))

    def assistant_entry(self, ctx: GenerateContext, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """An assistant back to its `assistants:` entry (the reverse of `_assistant`)."""
        defaults = ctx.adapters[ASSISTANT].server_defaults
        entry: dict[str, Any] = {}
        if obj.get("name") and obj["name"] != key:
            entry["name"] = obj["name"]
        for vapi_key, stack_key in (("firstMessage", "first_message"), ("firstMessageMode", "first_message_mode")):
            if obj.get(vapi_key) is not None and not (vapi_key in defaults and obj[vapi_key] == defaults[vapi_key]):
                entry[stack_key] = obj[vapi_key]
        model = obj.get("model")
        if isinstance(model, dict) and model.get("provider") and model.get("model"):
            mine: dict[str, Any] = {"provider": model["provider"], "model": model["model"]}
            messages = model.get("messages")
            extra = {k: v for k, v in model.items() if k not in ("provider", "model", "messages", "temperature",
                                                                  "maxTokens", "toolIds")}
            if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], dict) \
                    and set(messages[0]) == {"role", "content"} and messages[0]["role"] == "system":
                mine["system"] = messages[0]["content"]
            elif messages is not None:
                extra["messages"] = messages
            if "temperature" in model:
                mine["temperature"] = model["temperature"]
            if "maxTokens" in model:
                mine["max_tokens"] = model["maxTokens"]
            entry["model"] = {**mine, **extra}
            tools = [ctx.key_of(TOOL, t) for t in model.get("toolIds") or []]
            if None in tools:
                return Unresolved("uses a tool that is not in the stack")
            if tools:
                entry["tools"] = tools
        for vapi_key, stack_key in (("voice", "voice"), ("transcriber", "transcriber"), ("endCallMessage",
                                    "end_call_message"), ("maxDurationSeconds", "max_duration_seconds")):
            if obj.get(vapi_key) is not None and not (vapi_key in defaults and obj[vapi_key] == defaults[vapi_key]):
                entry[stack_key] = obj[vapi_key]
        live_metadata = as_dict(obj.get("metadata"))
        metadata = {k: v for k, v in live_metadata.items() if k != OWNER_KEY}
        if metadata:
            entry["metadata"] = metadata
        server = obj.get("server")
        if isinstance(server, dict) and set(server) <= {"url", "timeoutSeconds"} and server.get("url") \
                and server.get("timeoutSeconds", 20) == 20:
            entry["server_url"] = server["url"]
        forward = self._assistant(key, entry)
        if live_metadata.get(OWNER_KEY) == ctx.owner:  # expand marks it so (Assistant.owner_marker)
            forward["metadata"] = {**(forward.get("metadata") or {}), OWNER_KEY: ctx.owner}
        return _with_extras(entry, ctx.extras(ASSISTANT, forward, obj, ("assistants", key, "vapi")))

    def credential_for(self, ctx: GenerateContext, *, login: str | None = None,
                       host: str | None = None) -> dict[str, Any] | None:
        for cred in ctx.objects(CREDENTIAL):
            first = as_dict((cred.get("gateways") or [None])[0])
            if cred.get("provider") == "byo-sip-trunk" and (
                    login is None or as_dict(cred.get("outboundAuthenticationPlan")).get("authUsername") == login) \
                    and (host is None or str(first.get("ip", "")).lower() == host.lower()):
                return cred
        return None

    def credential_key(self, ctx: GenerateContext, credential: dict[str, Any]) -> str:
        return ctx.key_for("trunks", CREDENTIAL, credential, str(credential.get("name") or "trunk"))

    def unbound(self, ctx: GenerateContext) -> list[tuple[str, str]]:
        found = [(str(n.get("number")), ctx.key_of(CREDENTIAL, n.get("credentialId"))) for n in ctx.objects(NUMBER)
                 if n.get("provider") == "byo-phone-number" and n.get("number")]
        return [(number, trunk) for number, trunk in found if trunk is not None]

    def trunk_side(self, ctx: GenerateContext, credential: dict[str, Any], key: str, entry: dict[str, Any], *,
                   made: Callable[[dict[str, Any]], dict[str, Any]], fixed: int = 0,
                   defaults: dict[str, Any] | None = None) -> dict[str, Any] | Unresolved:
        """`entry` (a trunk's, with its carrier's own fields) completed with what `credential` says: gateways
        after the carrier's `fixed` first ones (left out when they are its `defaults["gateways"]`), auth
        (unless the carrier makes the username, `defaults["auth"]` False), register, leading plus (left out
        when the carrier's default), prefixes, and the `vapi:` pass-through that `made` (the carrier's
        arguments to `credential_body` for an entry) needs to give back the credential as it is. The
        credential is placed with the entry, or skipped (and listed) with it."""
        defaults = defaults or {}
        entry = dict(entry)
        gateways = [_gateway_entry(g) for g in (credential.get("gateways") or [])[fixed:] if isinstance(g, dict)]
        if gateways and gateways != [_gateway_entry(gateway(g)) for g in defaults.get("gateways") or []]:
            entry["gateways"] = gateways
        plan = as_dict(credential.get("outboundAuthenticationPlan"))
        if defaults.get("auth", True) and plan.get("authUsername"):
            entry["auth"] = {"username": plan["authUsername"],
                             "password": ctx.secret(("trunks", key, "auth", "password"),
                                                    f"trunks.{key}.auth.password: the SIP trunk's password "
                                                    "(write-only: Vapi never returns it)")}
        if isinstance(plan.get("sipRegisterPlan"), dict):
            entry["register"] = plan["sipRegisterPlan"]
        leading = credential.get("outboundLeadingPlusEnabled")
        if leading is not None and leading != defaults.get("leading_plus", False):
            entry["leading_plus"] = leading
        for vapi_key, stack_key in (("techPrefix", "tech_prefix"), ("sipDiversionHeader", "sip_diversion_header")):
            if credential.get(vapi_key) is not None:
                entry[stack_key] = credential[vapi_key]
        ctx.claim("trunks", CREDENTIAL, credential, key)
        forward = self.credential_body(key, **made(entry))
        done = _with_extras(entry, ctx.extras(CREDENTIAL, forward, credential, ("trunks", key, "vapi")))
        if isinstance(done, Unresolved):
            ctx.skip(CREDENTIAL, credential, done.why)
        else:
            ctx.used.add((CREDENTIAL, ctx.rid(CREDENTIAL, credential)))
        return done

    def inbound_route(self, ctx: GenerateContext, uri: str, *, number: str,
                      user: str) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
        found = _INBOUND.match(uri)
        if not found:
            return None
        trunk = ctx.key_of(CREDENTIAL, found.group("credential"))
        if trunk is None:
            return None, {"why": f"routed to Vapi credential {found.group('credential')}, which is not in the stack"}
        if found.group("user") != user:
            return None, {"why": f"routed to {found.group('user')}@…, where a stack route writes {user}@…"}
        bound = self.bound_number(ctx, trunk, number)
        return bound if bound is not None else (None, {"why": "routed to Vapi, where no phone number takes it"})

    def bound_number(self, ctx: GenerateContext, trunk: str, number: str) -> tuple[dict[str, Any] | None,
                                                                                     dict[str, Any]] | None:
        credential = ctx.id_of(CREDENTIAL, trunk)
        bound = ctx.index("numbers-on-credentials", NUMBER, lambda n: (
            n.get("credentialId"), str(n.get("number", "")).lstrip("+")) if n.get("provider") == "byo-phone-number"
            else None)
        obj = next((n for n in bound.get((credential, number.lstrip("+")), ()) if ctx.unplaced(NUMBER, n)), None)
        if credential is None or obj is None:
            return None
        found = self.number_fields(ctx, obj, number, credential=trunk)
        ctx.used.add((NUMBER, ctx.rid(NUMBER, obj)))
        ctx.named(NUMBER, obj, number)
        if isinstance(found, Unresolved):
            return None, {"trunk": trunk, "why": found.why}
        route, fields = found
        return route, {"trunk": trunk, **fields}

    def number_fields(self, ctx: GenerateContext, obj: dict[str, Any], key: str, *,
                      credential: str = "") -> tuple[dict[str, Any] | None, dict[str, Any]] | Unresolved:
        """A phone number back to its route and the fields of its `numbers:` entry (name, `vapi:`)."""
        fields: dict[str, Any] = {}
        if obj.get("name"):
            fields["name"] = obj["name"]
        route: dict[str, Any] | None = None
        server = as_dict(obj.get("server"))
        if obj.get("assistantId"):
            assistant = ctx.key_of(ASSISTANT, obj["assistantId"])
            if assistant is None:
                return Unresolved(f"answered by assistant {obj['assistantId']}, which is not in the stack")
            route = {"assistant": assistant}
        elif obj.get("squadId"):
            route = {"squad": obj["squadId"]}
        elif server.get("url"):
            route = {"server_url": server["url"]}
        if obj.get("provider") == "vapi":
            auth = as_dict(obj.get("authentication"))
            forward = self.sip_number_body(key, {**auth, "password": ""} if auth else None, route, fields)
        else:
            forward = self.byo_number_body(key, address(CREDENTIAL, credential), route, fields)
        extras = ctx.extras(NUMBER, forward, obj, ("numbers", key, "vapi"))
        if isinstance(extras, Unresolved):
            return extras
        return route, {**fields, "vapi": extras} if extras else fields

    # -- lint -------------------------------------------------------------------------------------
    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return list(self._lint(stack))

    def _lint(self, stack: Stack) -> Iterator[Diagnostic]:
        src = stack.source

        def name_check(path: PathT, value: str, what: str) -> Iterator[Diagnostic]:
            if len(value) > NAME_MAX:
                yield Diagnostic(src.at(path), f"{what} name {value!r} is {len(value)} characters; Vapi allows "
                                 f"at most {NAME_MAX}", hint="set a shorter name:")

        for key, spec in stack.section("assistants").items():
            path: PathT = ("assistants", key, "name") if "name" in spec else ("assistants", key)
            yield from name_check(path, spec.get("name") or key, "assistant")
        for key, spec in stack.section("trunks").items():
            path = ("trunks", key, "name") if "name" in spec else ("trunks", key)
            yield from name_check(path, spec.get("name") or key, "credential")
            for i, gw in enumerate(spec.get("gateways") or []):
                if gw.get("inbound", True) and not _is_ipv4(gw["ip"]):
                    yield Diagnostic(src.at(("trunks", key, "gateways", i, "ip")),
                                     f"gateway {gw['ip']!r} is a hostname with inbound enabled; Vapi matches "
                                     "inbound calls by source IP and rejects it", hint="set inbound: false, or use "
                                     "the carrier's numeric IPv4 addresses")
        yield from self._uris_with_keys(stack)
        yield from callcheck.lint(stack)
        for key, spec in stack.section("numbers").items():
            if "name" in spec:
                yield from name_check(("numbers", key, "name"), spec["name"], "phone number")
            if spec.get("carrier") == "vapi":
                match = _SIP_USER.match(key)
                host = SIP_HOSTS[self.region]
                if not match:
                    yield Diagnostic(src.key_at(("numbers", key)), f"{key!r} is not a SIP URI sip:USER@{host}")
                elif match.group(2).lower() != host:
                    yield Diagnostic(src.key_at(("numbers", key)),
                                     f"{key!r} is not on the {self.region.upper()} region's SIP host {host}",
                                     hint=f"write sip:{match.group(1)}@{host}")


    def _uris_with_keys(self, stack: Stack) -> Iterator[Diagnostic]:
        """A hand-written `…@<uuid>.sip.vapi.ai` or `?api_key=` SIP URI: didlogic's guide puts the private
        API key there, which leaks it to every carrier log. voxplan wires the credential id itself."""
        uris: list[tuple[PathT, str]] = [(("routes", k, "sip"), r["sip"]) for k, r in stack.section("routes").items()
                                         if "sip" in r]
        for tool, spec in stack.section("tools").items():
            uris += [(("tools", tool, "transfer", i, "sip"), d["sip"]) for i, d in enumerate(spec.get("transfer") or [])
                     if "sip" in d]
        for path, uri in uris:
            if _KEY_IN_URI.search(str(uri)):
                yield Diagnostic(stack.source.at(path), f"SIP URI {str(uri)[:12]}… embeds a key or credential id "
                                 "by hand; a Vapi private key there leaks to every carrier log",
                                 hint="route the number to {assistant: NAME}: voxplan puts the credential id in")


_KEY_IN_URI = re.compile(r"@[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.sip(\.eu)?\.vapi\.ai"
                         r"|[?;&](api[_-]?key|apikey|token|key)=", re.IGNORECASE)


OWNER_KEY = "voxplan"  # the key of Assistant.owner_marker (metadata.voxplan) inside metadata
_INBOUND = re.compile(r"^(?P<user>[^@]+)@(?P<credential>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                      r"\.sip(\.eu)?\.vapi\.ai$", re.IGNORECASE)


def _refs(kind: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
    """The tools an assistant uses and the assistants a handoff tool hands off to, as (kind, id)."""
    if kind == ASSISTANT:
        model = as_dict(obj.get("model"))
        return [(TOOL, str(t)) for t in model.get("toolIds") or []]
    return [(ASSISTANT, str(d["assistantId"])) for d in obj.get("destinations") or []
            if isinstance(d, dict) and d.get("type") == "assistant" and d.get("assistantId")]


def _tool_name(obj: dict[str, Any]) -> str:
    """What a tool's key is made from: its function name, else where it transfers to."""
    fn = obj.get("function")
    if isinstance(fn, dict) and fn.get("name"):
        return str(fn["name"]).replace("_", "-")
    for dest in obj.get("destinations") or []:
        target = str(dest.get("sipUri") or dest.get("number") or "") if isinstance(dest, dict) else ""
        user = target.removeprefix("sip:").removeprefix("sips:").split("@")[0].lstrip("+")
        if user:
            return f"transfer-{user}"
    return str(obj.get("type") or "tool")


def _destination_entry(dest: dict[str, Any]) -> dict[str, Any] | None:
    """A transferCall destination back to a `transfer:` item (the reverse of `_destination`)."""
    out: dict[str, Any] = {}
    if dest.get("type") == "sip" and dest.get("sipUri"):
        out["sip"] = dest["sipUri"]
        if dest.get("sipHeaders"):
            out["headers"] = dest["sipHeaders"]
    elif dest.get("type") == "number" and dest.get("number"):
        out["number"] = dest["number"]
        if dest.get("extension"):
            out["extension"] = dest["extension"]
    else:
        return None
    if dest.get("message") is not None:
        out["message"] = dest["message"]
    if dest.get("description"):
        out["when"] = dest["description"]
    if dest.get("callerId"):
        out["caller_id"] = dest["callerId"]
    plan = as_dict(dest.get("transferPlan"))
    if plan.get("mode") and plan["mode"] != "blind-transfer":
        out["mode"] = plan["mode"]
    if plan.get("sipVerb"):
        out["sip_verb"] = plan["sipVerb"]
    return out


def _gateway_entry(gw: dict[str, Any]) -> dict[str, Any]:
    """A SipTrunkGateway back to a gateway entry, leaving out the documented defaults."""
    out: dict[str, Any] = {"ip": gw.get("ip")}
    for vapi_key, stack_key in (("port", "port"), ("netmask", "netmask"), ("inboundEnabled", "inbound"),
                                ("outboundEnabled", "outbound"), ("outboundProtocol", "protocol"),
                                ("optionsPingEnabled", "options_ping")):
        if gw.get(vapi_key) is not None and gw[vapi_key] != GATEWAY_DEFAULTS[vapi_key]:
            out[stack_key] = gw[vapi_key]
    return out


def _with_extras(entry: dict[str, Any], extras: dict[str, Any] | Unresolved) -> dict[str, Any] | Unresolved:
    if isinstance(extras, Unresolved):
        return extras
    return {**entry, "vapi": {**(entry.get("vapi") or {}), **extras}} if extras else entry


def region(stack: Stack) -> str:
    return str(stack.section("vapi").get("region", "us"))


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


class VapiSipCarrier:
    """`carrier: vapi`: a Vapi-hosted SIP URI (`provider: vapi`), no trunk."""

    name = "vapi"
    sip_uri_numbers = True
    tls_signalling = False  # a Vapi SIP number answers calls itself; it forwards to no other SIP target

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return False

    def __init__(self, platform: VapiPlatform):
        self.platform = platform

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        ctx.error(("trunks", name, "carrier"), "carrier: vapi has no trunks; Vapi SIP numbers need none")

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        self.platform.sip_number(ctx, key, auth=spec.get("auth"), route=route, origin=("numbers", key), options=spec)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()

    takes_the_rest = False

    def generate_trunks(self, ctx: GenerateContext) -> None:
        """Vapi SIP numbers have no trunk."""

    def generate_numbers(self, ctx: GenerateContext) -> None:
        """Each Vapi-hosted SIP URI back to its `numbers:` entry (`carrier: vapi`) and route."""
        for obj in ctx.objects(NUMBER):
            if obj.get("provider") != "vapi" or not obj.get("sipUri"):
                continue
            key = str(obj["sipUri"]).lower()
            entry: dict[str, Any] = {"carrier": "vapi"}
            auth = obj.get("authentication")
            if isinstance(auth, dict) and auth.get("username"):
                entry["auth"] = {"username": auth["username"],
                                 "password": ctx.secret(("numbers", key, "auth", "password"),
                                                        f"numbers.{key}.auth.password: the SIP URI's password "
                                                        "(write-only: Vapi never returns it)")}
                if auth.get("realm"):
                    entry["auth"]["realm"] = auth["realm"]
            found = self.platform.number_fields(ctx, obj, key)
            if isinstance(found, Unresolved):
                ctx.skip(NUMBER, obj, found.why)
                continue
            route, fields = found
            ctx.place("numbers", key, {**entry, **fields}, (NUMBER, obj))
            if route:
                ctx.place("routes", key, route)
