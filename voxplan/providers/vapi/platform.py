"""Stack intent → Vapi resources: tools, assistants, SIP-trunk credentials, phone numbers.

Also the `vapi` carrier (Vapi-hosted SIP URIs, `provider: vapi`) and Vapi's own lint: names ≤ 40,
inbound gateways must be numeric IPv4, SIP URIs on the region's host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.model import PathT, Ref, Resource, address
from voxplan.providers.base import ExpandContext
from voxplan.providers.vapi import callcheck
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
        return ctx.add(Resource(CREDENTIAL, trunk, _merge(body, options.get("vapi")), origin=("trunks", trunk),
                                depends_on=depends_on))

    def credential_address(self, trunk: str) -> str:
        return address(CREDENTIAL, trunk)

    def bind_number(self, ctx: ExpandContext, number: str, *, credential: str, route: dict[str, Any] | None,
                    origin: PathT, options: dict[str, Any]) -> str:
        body: dict[str, Any] = {"provider": "byo-phone-number", "number": number,
                                "numberE164CheckEnabled": False, "credentialId": Ref(credential)}
        return ctx.add(Resource(NUMBER, number, self._routed(body, route, options), origin=origin))

    def sip_number(self, ctx: ExpandContext, uri: str, *, auth: dict[str, Any] | None, route: dict[str, Any] | None,
                   origin: PathT, options: dict[str, Any]) -> str:
        body: dict[str, Any] = {"provider": "vapi", "sipUri": uri.lower()}
        if auth:
            body["authentication"] = _drop_none({"username": auth["username"], "password": auth["password"],
                                                 "realm": auth.get("realm")})
        return ctx.add(Resource(NUMBER, uri.lower(), self._routed(body, route, options), origin=origin))

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
