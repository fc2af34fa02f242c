"""Stack intent → Vapi resources: tools, assistants, squads, structured outputs, credentials (SIP trunks and
the others), phone numbers of every shape.

Also Vapi's own carriers (`vapi`: Vapi-hosted SIP URIs and free Vapi numbers; `twilio`, `vonage`, `telnyx`:
numbers those accounts hold, imported into Vapi), and Vapi's own lint: names ≤ 40, inbound gateways must be
numeric IPv4, SIP URIs on the region's host. Each body is built by its kind's form (`forms`, which says where
in the stack each part came from) and checked against Vapi's OpenAPI document before it is added (`checks`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.model import PathT, Ref, Resource, address
from voxplan.providers.base import ExpandContext, buying
from voxplan.providers.vapi import callcheck, forms
from voxplan.providers.vapi.adapters import KINDS
from voxplan.providers.vapi.checks import SpecCheck
from voxplan.providers.vapi.forms import (
    ASSISTANT,
    CREDENTIAL,
    NUMBER,
    SQUAD,
    STRUCTURED_OUTPUT,
    TOOL,
    Draft,
    destination,
    drop_none,
    function_name,
)
from voxplan.stack.model import Stack

__all__ = ["API_URLS", "ASSISTANT", "CREDENTIAL", "NUMBER", "SIP_HOSTS", "SQUAD", "STRUCTURED_OUTPUT", "TOOL",
           "VapiNumberCarrier", "VapiPlatform", "VapiSipCarrier", "function_name", "gateway", "region"]

API_URLS = {"us": "https://api.vapi.ai", "eu": "https://api.eu.vapi.ai"}
SIP_HOSTS = {"us": "sip.vapi.ai", "eu": "sip.eu.vapi.ai"}
NAME_MAX = 40
_SIP_USER = re.compile(r"^sip:([A-Za-z0-9_.+\-]+)@([A-Za-z0-9.\-]+)$", re.IGNORECASE)
PATHS = {cls.kind: cls.path for cls in KINDS}  # POST <path> takes each kind's Create DTO
# the platform sections, each entry one resource: section -> (kind, form)
SECTIONS = (("credentials", CREDENTIAL, forms.credential), ("tools", TOOL, forms.tool),
            ("assistants", ASSISTANT, forms.assistant), ("squads", SQUAD, forms.squad),
            ("structured_outputs", STRUCTURED_OUTPUT, forms.structured_output),
            ("knowledge_bases", forms.KNOWLEDGE_BASE, forms.knowledge_base))
# a Twilio number's account, from the number entry or a twilio entry of `credentials:`
TWILIO_FIELDS = (("account_sid", "accountSid", "twilioAccountSid"), ("auth_token", "authToken", "twilioAuthToken"),
                 ("api_key", "apiKey", "twilioApiKey"), ("api_secret", "apiSecret", "twilioApiSecret"))


def gateway(spec: dict[str, Any]) -> dict[str, Any]:
    """A gateway in the stack's vocabulary → Vapi's SipTrunkGateway."""
    return drop_none({
        "ip": spec["ip"], "port": spec.get("port"), "netmask": spec.get("netmask"),
        "inboundEnabled": spec.get("inbound"), "outboundEnabled": spec.get("outbound"),
        "outboundProtocol": spec.get("protocol"), "optionsPingEnabled": spec.get("options_ping"),
    })


class VapiPlatform:
    """The `Platform` carriers hand calls to."""

    def __init__(self, region: str = "us"):
        self.region = region
        self.check = SpecCheck(PATHS)

    @classmethod
    def of(cls, stack: Stack) -> VapiPlatform:
        """The platform as the stack's `vapi:` section sets it (region us | eu)."""
        return cls(region(stack))

    def add(self, ctx: ExpandContext, kind: str, name: str, draft: Draft, depends_on: tuple[str, ...] = (),
            origin: PathT | None = None, lifecycle: dict[str, Any] | None = None) -> str:
        """Check the draft against Vapi's document, then add it as a resource."""
        self.check(ctx, kind, draft)
        return ctx.add(Resource(kind, name, draft.body, origin=origin or draft.at, depends_on=depends_on,
                                lifecycle=lifecycle or {}))

    # -- platform sections --------------------------------------------------------------------
    def expand(self, ctx: ExpandContext) -> None:
        for section, kind, form in SECTIONS:
            for name, spec in ctx.stack.section(section).items():
                self.add(ctx, kind, name, form(name, spec))

    # -- what carriers call ---------------------------------------------------------------------
    def trunk_credential(self, ctx: ExpandContext, trunk: str, *, gateways: list[dict[str, Any]],
                         username: Any, password: Any, options: dict[str, Any],
                         depends_on: tuple[str, ...] = ()) -> str:
        at: PathT = ("trunks", trunk)
        draft = Draft(at)
        draft.set("provider", "byo-sip-trunk", at)
        draft.set("name", options.get("name") or trunk, (*at, "name") if "name" in options else at)
        draft.set("gateways", [gateway(g) for g in gateways], (*at, "gateways") if "gateways" in options else at)
        if username is not None or password is not None:
            plan = drop_none({"authUsername": username, "authPassword": password})
            if options.get("register"):
                plan["sipRegisterPlan"] = dict(options["register"])
                draft.source(("outboundAuthenticationPlan", "sipRegisterPlan"), (*at, "register"))
            draft.set("outboundAuthenticationPlan", plan, (*at, "auth") if "auth" in options else at)
        for key, vapi_key in (("leading_plus", "outboundLeadingPlusEnabled"), ("tech_prefix", "techPrefix"),
                              ("sip_diversion_header", "sipDiversionHeader")):
            if key in options:
                draft.set(vapi_key, options[key], (*at, key))
        draft.verbatim(options.get("vapi"), (*at, "vapi"))
        return self.add(ctx, CREDENTIAL, trunk, draft, depends_on=depends_on)

    def credential_address(self, trunk: str) -> str:
        return address(CREDENTIAL, trunk)

    def bind_number(self, ctx: ExpandContext, number: str, *, credential: str, route: dict[str, Any] | None,
                    origin: PathT, options: dict[str, Any]) -> str:
        draft = Draft(origin)
        draft.set("provider", "byo-phone-number")
        draft.set("number", number)
        draft.set("numberE164CheckEnabled", False)
        draft.set("credentialId", Ref(credential))
        return self._number(ctx, number, draft, route, options)

    def sip_number(self, ctx: ExpandContext, uri: str, *, auth: dict[str, Any] | None, route: dict[str, Any] | None,
                   origin: PathT, options: dict[str, Any]) -> str:
        draft = Draft(origin)
        draft.set("provider", "vapi")
        draft.set("sipUri", uri.lower())
        if auth:
            draft.set("authentication", drop_none({"username": auth["username"], "password": auth["password"],
                                                   "realm": auth.get("realm")}), (*origin, "auth"))
        return self._number(ctx, uri.lower(), draft, route, options)

    def free_number(self, ctx: ExpandContext, name: str, spec: dict[str, Any], route: dict[str, Any] | None) -> str:
        """A free Vapi number in an area code, keyed by a name (Vapi assigns the number). Got, as numbers are
        bought, only with `purchase: true` (and --allow-purchase at apply); released only with `release: true`."""
        origin: PathT = ("numbers", name)
        draft = Draft(origin)
        draft.set("provider", "vapi")
        draft.set("numberDesiredAreaCode", spec["area_code"], (*origin, "area_code"))
        return self._number(ctx, name, draft, route, {"name": name, **spec}, lifecycle=buying(spec))

    def native_number(self, ctx: ExpandContext, number: str, spec: dict[str, Any], route: dict[str, Any] | None,
                      provider: str) -> str:
        """A number a Twilio, Vonage or Telnyx account holds, imported into Vapi: Twilio's with the account
        SID and its auth token (or API key and secret), the others through a credential of `credentials:`."""
        origin: PathT = ("numbers", number)
        draft = Draft(origin)
        draft.set("provider", provider)
        draft.set("number", number)
        if provider == "twilio":
            account = ctx.stack.section("credentials").get(spec["credential"]) if "credential" in spec else spec
            for key, cred_key, vapi_key in TWILIO_FIELDS:
                value = (account or {}).get(cred_key if "credential" in spec else key)
                if value is not None:
                    draft.set(vapi_key, value, (*origin, "credential" if "credential" in spec else key))
            if "sms" in spec:
                draft.set("smsEnabled", spec["sms"], (*origin, "sms"))
        else:
            draft.set("credentialId", Ref(address(CREDENTIAL, spec["credential"])), (*origin, "credential"))
        return self._number(ctx, number, draft, route, spec)

    def _number(self, ctx: ExpandContext, name: str, draft: Draft, route: dict[str, Any] | None,
                options: dict[str, Any], lifecycle: dict[str, Any] | None = None) -> str:
        """What every Vapi number takes: its name, who answers (assistant, squad, or a server), the fallback
        destination and hooks, and `vapi:`."""
        route = route or {}
        at = draft.at
        if options.get("name"):
            draft.set("name", options["name"], (*at, "name"))
        routed: PathT = ("routes", at[-1]) if len(at) == 2 else at
        draft.set("assistantId", Ref(address(ASSISTANT, route["assistant"])) if "assistant" in route else None,
                  (*routed, "assistant") if "assistant" in route else None)
        squad = route.get("squad")
        if isinstance(squad, str) and squad in (ctx.stack.data.get("squads") or {}):
            draft.set("squadId", Ref(address(SQUAD, squad)), (*routed, "squad"))
        else:
            draft.set("squadId", squad, (*routed, "squad") if squad is not None else None)
        if "server_url" in route:
            draft.set("server", {"url": route["server_url"]}, (*routed, "server_url"))
        if "fallback" in options:
            draft.set("fallbackDestination", destination(options["fallback"]), (*at, "fallback"))
        if "hooks" in options:
            draft.set("hooks", options["hooks"], (*at, "hooks"))
        draft.verbatim(options.get("vapi"), (*at, "vapi"))
        return self.add(ctx, NUMBER, name, draft, lifecycle=lifecycle)

    def inbound_uri(self, credential: str, user: str) -> Ref:
        return Ref(credential, "id", template=f"{user}@{{}}.{SIP_HOSTS[self.region]}")

    # -- lint -------------------------------------------------------------------------------------
    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return list(self._lint(stack))

    def _lint(self, stack: Stack) -> Iterator[Diagnostic]:
        src = stack.source
        suffix = f"-{stack.environment}" if stack.environment != "default" else ""

        def name_check(path: PathT, value: str, what: str) -> Iterator[Diagnostic]:
            if len(value + suffix) > NAME_MAX:
                shown = f"{value!r} is {len(value)} characters" + (
                    f" ({len(value + suffix)} with the environment's {suffix!r})" if suffix else "")
                yield Diagnostic(src.at(path), f"{what} name {shown}; Vapi allows at most {NAME_MAX}",
                                 hint="set a shorter name:")

        for section, what in (("assistants", "assistant"), ("trunks", "credential"), ("credentials", "credential"),
                              ("structured_outputs", "structured output")):
            for key, spec in stack.section(section).items():
                path: PathT = (section, key, "name") if "name" in spec else (section, key)
                yield from name_check(path, str(spec.get("name") or key), what)
        for key, spec in stack.section("trunks").items():
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
            if spec.get("carrier") == "vapi" and key.lower().startswith("sip"):
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
    """`carrier: vapi`: a Vapi-hosted SIP URI (`provider: vapi`, keyed by the URI), or a free Vapi number in an
    area code (keyed by a name: Vapi assigns the number). No trunk."""

    name = "vapi"
    sip_uri_numbers = True
    named_numbers = True
    tls_signalling = False  # a Vapi SIP number answers calls itself; it forwards to no other SIP target

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return False

    def __init__(self, platform: VapiPlatform):
        self.platform = platform

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        ctx.error(("trunks", name, "carrier"), "carrier: vapi has no trunks; Vapi SIP numbers need none")

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        if not key.startswith(("sip:", "sips:")):
            if "area_code" not in spec:
                ctx.error(("numbers", key), f"numbers.{key}: a Vapi number keyed by a name is a free number Vapi "
                          "assigns: it needs area_code:", hint='e.g. area_code: "415", purchase: true')
                return
            self.platform.free_number(ctx, key, spec, route)
            return
        self.platform.sip_number(ctx, key, auth=spec.get("auth"), route=route, origin=("numbers", key), options=spec)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()


class VapiNumberCarrier:
    """`carrier: twilio | vonage | telnyx`: a number that account holds, imported into Vapi as a phone number of
    that provider (no trunk: Vapi reaches the carrier through its own integration)."""

    sip_uri_numbers = False
    tls_signalling = None  # the carrier's own integration: no SIP URI of the stack's is involved

    def __init__(self, platform: VapiPlatform, name: str):
        self.platform = platform
        self.name = name

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return False

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        ctx.error(("trunks", name, "carrier"), f"carrier: {self.name} has no trunks; its numbers are imported into "
                  "Vapi with the account's credentials", hint="declare the account under credentials:")

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        if route and not set(route) & {"assistant", "squad", "server_url"}:
            ctx.error(("routes", key), f"routes.{key}: a {self.name} number in Vapi is answered by Vapi: route it to "
                      "an assistant, a squad or a server_url")
            return
        self.platform.native_number(ctx, key, spec, route, self.name)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()
