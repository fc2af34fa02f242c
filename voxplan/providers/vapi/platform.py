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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.model import PathT, Ref, Resource, address, loosely_equal
from voxplan.providers.base import ExpandContext, buying
from voxplan.providers.reverse import GenerateContext, Unresolved, as_dict
from voxplan.providers.vapi import callcheck, forms
from voxplan.providers.vapi.adapters import GATEWAY_DEFAULTS, KINDS, SERVER_DEFAULTS
from voxplan.providers.vapi.checks import SpecCheck, view
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
# the credentials of `credentials:` (the others are trunks'), and the write-only values each holds that Vapi never
# returns (generate writes them as placeholders): an account's keys, an authentication plan's secret by its type.
# A Twilio credential may hold an API key and secret instead of its auth token: nothing Vapi returns tells which
ACCOUNT_PROVIDERS = ("webhook", "custom-credential", "twilio", "vonage", "telnyx")
ACCOUNT_SECRETS = {"twilio": ("authToken",), "vonage": ("apiKey", "apiSecret"), "telnyx": ("apiKey",)}
PLAN_SECRETS = {"bearer": "token", "hmac": "secretKey", "oauth2": "clientSecret"}
# a Twilio number's account, from the number entry or a twilio entry of `credentials:`
TWILIO_FIELDS = (("account_sid", "accountSid", "twilioAccountSid"), ("auth_token", "authToken", "twilioAuthToken"),
                 ("api_key", "apiKey", "twilioApiKey"), ("api_secret", "apiSecret", "twilioApiSecret"))


def _shape(credential: str, route: Mapping[str, Any] | None, options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What a BYO number's body is made of besides its number, as a key: numbers with equal keys have bodies equal
    but for `number`, and the same problems (the stack's squads and the region are one expansion's). None where
    the route or the options hold anything but strings and flags (a map, a list, a secret): those numbers are
    built one by one."""
    route_items, option_items = tuple((route or {}).items()), tuple(options.items())
    for items in (route_items, option_items):
        for _, value in items:
            if type(value) is not str and type(value) is not bool:
                return None
    return (NUMBER, credential, route_items, option_items)


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
        self._inbound: dict[tuple[str, str], Ref] = {}

    @classmethod
    def of(cls, stack: Stack) -> VapiPlatform:
        """The platform as the stack's `vapi:` section sets it (region us | eu)."""
        return cls(region(stack))

    def add(self, ctx: ExpandContext, kind: str, name: str, draft: Draft, depends_on: tuple[str, ...] = (),
            origin: PathT | None = None, lifecycle: dict[str, Any] | None = None) -> str:
        """Check the draft against Vapi's document, then add it as a resource."""
        return ctx.add(self.made(ctx, kind, name, draft, depends_on, origin, lifecycle))

    def made(self, ctx: ExpandContext, kind: str, name: str, draft: Draft, depends_on: tuple[str, ...] = (),
             origin: PathT | None = None, lifecycle: dict[str, Any] | None = None) -> Resource:
        """The draft checked against Vapi's document, as a resource (not added yet)."""
        for verbatim, field_path in draft.twice:
            ctx.diagnostics.append(Diagnostic(
                ctx.stack.source.key_at(verbatim), f"{'.'.join(map(str, verbatim))}: "
                f"{'.'.join(map(str, field_path))} ({ctx.stack.source.key_at(field_path)}) sets this field too, and "
                "one would silently replace the other", "say it in one place"))
        self.check(ctx, kind, draft)
        return Resource(kind, name, draft.body, origin=origin or draft.at, depends_on=depends_on,
                        lifecycle=lifecycle or {})

    # -- platform sections --------------------------------------------------------------------
    def expand(self, ctx: ExpandContext) -> None:
        for section, kind, form in SECTIONS:
            for name, spec in ctx.stack.section(section).items():
                self.add(ctx, kind, name, form(name, spec))

    # -- what carriers call ---------------------------------------------------------------------
    def trunk_credential(self, ctx: ExpandContext, trunk: str, *, gateways: list[dict[str, Any]],
                         username: Any, password: Any, options: dict[str, Any],
                         depends_on: tuple[str, ...] = ()) -> str:
        draft = self.credential_draft(trunk, gateways=gateways, username=username, password=password,
                                      options=options)
        return self.add(ctx, CREDENTIAL, trunk, draft, depends_on=depends_on)

    @staticmethod
    def credential_draft(trunk: str, *, gateways: list[dict[str, Any]], username: Any, password: Any,
                         options: dict[str, Any], **_: Any) -> Draft:
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
        return draft

    @classmethod
    def credential_body(cls, trunk: str, **arguments: Any) -> dict[str, Any]:
        """The credential a trunk entry makes (the forward mapping `generate` checks its way back against)."""
        return cls.credential_draft(trunk, **arguments).body

    def credential_address(self, trunk: str) -> str:
        return address(CREDENTIAL, trunk)

    def bind_number(self, ctx: ExpandContext, number: str, *, credential: str, route: dict[str, Any] | None,
                    origin: PathT, options: dict[str, Any]) -> str:
        """A trunk carrier's number, bound to the trunk's credential. Numbers alike but for their number (one
        credential, equal routes and options: `_shape`) are one template's siblings: the first is built and
        checked in full, the rest take its body with their own `number`. A shape whose first number had a
        problem is not shared: each of its numbers is built, and its problem reported where it is written."""
        shape = _shape(credential, route, options)
        template = ctx.memo.get(shape) if shape is not None else None
        if template is not None:
            return ctx.add(template.sibling(number, origin, {"number": number}))
        seen = len(ctx.diagnostics)
        made = self._number_made(ctx, number, self._byo_draft(origin, number, credential), route, options)
        if shape is not None and len(ctx.diagnostics) == seen:
            ctx.memo[shape] = made
        return ctx.add(made)

    @staticmethod
    def _byo_draft(origin: PathT, number: str, credential: str) -> Draft:
        draft = Draft(origin)
        draft.set("provider", "byo-phone-number")
        draft.set("number", number)
        draft.set("numberE164CheckEnabled", False)
        draft.set("credentialId", Ref(credential))
        return draft

    def sip_number(self, ctx: ExpandContext, uri: str, *, auth: dict[str, Any] | None, route: dict[str, Any] | None,
                   origin: PathT, options: dict[str, Any]) -> str:
        return self._number(ctx, uri.lower(), self._sip_draft(origin, uri, auth), route, options)

    @staticmethod
    def _sip_draft(origin: PathT, uri: str, auth: dict[str, Any] | None) -> Draft:
        draft = Draft(origin)
        draft.set("provider", "vapi")
        draft.set("sipUri", uri.lower())
        if auth:
            draft.set("authentication", drop_none({"username": auth["username"], "password": auth["password"],
                                                   "realm": auth.get("realm")}), (*origin, "auth"))
        return draft

    def free_number(self, ctx: ExpandContext, name: str, spec: dict[str, Any], route: dict[str, Any] | None) -> str:
        """A free Vapi number in an area code, keyed by a name (Vapi assigns the number). Got, as numbers are
        bought, only with `purchase: true` (and --allow-purchase at apply); released only with `release: true`.
        One already on the account is adopted by its name (PhoneNumber.natural_key), never got again."""
        return self._number(ctx, name, self._free_draft(("numbers", name), spec), route, {"name": name, **spec},
                            lifecycle=buying(spec))

    @staticmethod
    def _free_draft(origin: PathT, spec: dict[str, Any]) -> Draft:
        draft = Draft(origin)
        draft.set("provider", "vapi")
        draft.set("numberDesiredAreaCode", spec["area_code"], (*origin, "area_code"))
        return draft

    def native_number(self, ctx: ExpandContext, number: str, spec: dict[str, Any], route: dict[str, Any] | None,
                      provider: str) -> str:
        """A number a Twilio, Vonage or Telnyx account holds, imported into Vapi: Twilio's with the account
        SID and its auth token (or API key and secret), the others through a credential of `credentials:`."""
        credentials = ctx.stack.data.get("credentials") or {}  # read, not copied per number
        draft = self._native_draft(("numbers", number), number, spec, provider, credentials)
        return self._number(ctx, number, draft, route, spec)

    @staticmethod
    def _native_draft(origin: PathT, number: str, spec: dict[str, Any], provider: str,
                      credentials: Mapping[str, Any]) -> Draft:
        draft = Draft(origin)
        draft.set("provider", provider)
        draft.set("number", number)
        if provider == "twilio":
            account = credentials.get(spec["credential"]) if "credential" in spec else spec
            for key, cred_key, vapi_key in TWILIO_FIELDS:
                value = (account or {}).get(cred_key if "credential" in spec else key)
                if value is not None:
                    draft.set(vapi_key, value, (*origin, "credential" if "credential" in spec else key))
            if "sms" in spec:
                draft.set("smsEnabled", spec["sms"], (*origin, "sms"))
        else:
            draft.set("credentialId", Ref(address(CREDENTIAL, spec["credential"])), (*origin, "credential"))
        return draft

    def _number(self, ctx: ExpandContext, name: str, draft: Draft, route: dict[str, Any] | None,
                options: dict[str, Any], lifecycle: dict[str, Any] | None = None) -> str:
        """What every Vapi number takes: its name, who answers (assistant, squad, or a server), the fallback
        destination and hooks, and `vapi:`."""
        return ctx.add(self._number_made(ctx, name, draft, route, options, lifecycle))

    def _number_made(self, ctx: ExpandContext, name: str, draft: Draft, route: dict[str, Any] | None,
                     options: dict[str, Any], lifecycle: dict[str, Any] | None = None) -> Resource:
        self._number_fields(draft, route, options, squads=ctx.stack.data.get("squads") or {})
        return self.made(ctx, NUMBER, name, draft, lifecycle=lifecycle)

    @staticmethod
    def _number_fields(draft: Draft, route: dict[str, Any] | None, options: dict[str, Any],
                       squads: Collection[str]) -> None:
        route = route or {}
        at = draft.at
        if options.get("name"):
            draft.set("name", options["name"], (*at, "name"))
        routed: PathT = ("routes", at[-1]) if len(at) == 2 else at
        draft.set("assistantId", Ref(address(ASSISTANT, route["assistant"])) if "assistant" in route else None,
                  (*routed, "assistant") if "assistant" in route else None)
        squad = route.get("squad")
        if isinstance(squad, str) and squad in squads:
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

    def inbound_uri(self, credential: str, user: str) -> Ref:
        known = self._inbound.get((credential, user))  # one per trunk, asked for by each of its numbers
        if known is None:
            known = self._inbound[(credential, user)] = Ref(credential, "id",
                                                             template=f"{user}@{{}}.{SIP_HOSTS[self.region]}")
        return known

    # -- the way back (voxplan.providers.reverse): live objects → stack entries ------------------------
    def generate(self, ctx: GenerateContext) -> None:
        """The platform's sections: credentials that are not trunks, knowledge bases, tools, assistants, squads
        and structured outputs, each keyed by its name. What refers to an object that is not in the stack (a
        tool of another stack's, an assistant marked as another's) is left out, and so what refers to it."""
        if any(str(n.get("sipUri", "")).lower().endswith("@" + SIP_HOSTS["eu"]) for n in ctx.live.get(NUMBER, ())):
            ctx.settings["vapi"] = {"region": "eu"}
        found = {kind: ctx.objects(kind) for _, kind, _ in SECTIONS}
        found[CREDENTIAL] = [c for c in found[CREDENTIAL] if c.get("provider") in ACCOUNT_PROVIDERS]
        for obj in list(found[ASSISTANT]):
            marker = as_dict(obj.get("metadata")).get(OWNER_KEY)
            if marker and marker != ctx.owner:
                ctx.skip(ASSISTANT, obj, f"marked as owned by {marker!r} (its metadata.{OWNER_KEY})")
                found[ASSISTANT].remove(obj)
        for section, kind, _ in SECTIONS:
            for obj in found[kind]:
                name = _tool_name(obj) if kind == TOOL else str(obj.get("name") or obj.get("provider") or section)
                key = ctx.key_for(section, kind, obj, name)
                if kind == CREDENTIAL:  # a trunk's credential shares the address space (vapi.credential/<key>)
                    key = ctx.key_for("trunks", kind, obj, key)
                    ctx.reserved.setdefault("trunks", set()).add(key)
                ctx.claim(section, kind, obj, key)
        pending = [(kind, o) for _, kind, _ in SECTIONS for o in found[kind]]
        entries: dict[int, dict[str, Any]] = {}
        while True:  # what refers to something left out is left out, until nothing more is
            missing = [(kind, o, ref) for kind, o in pending for ref in _refs(kind, o) if ctx.key_of(*ref) is None]
            for kind, o, (ref_kind, ref_id) in missing:
                if (kind, o) in pending:
                    ctx.skip(kind, o, f"uses {ref_kind} {ref_id}, which is not in the stack")
                    pending.remove((kind, o))
            unresolved = []
            for kind, obj in pending:
                found_key = ctx.key_of(kind, ctx.rid(kind, obj))
                assert found_key is not None
                entry = self.entry(ctx, kind, found_key, obj)
                if isinstance(entry, Unresolved):
                    unresolved.append((kind, obj, entry.why))
                else:
                    entries[id(obj)] = entry
            for kind, obj, why in unresolved:
                ctx.skip(kind, obj, why)
                pending.remove((kind, obj))
            if not missing and not unresolved:
                break
        sections = {kind: section for section, kind, _ in SECTIONS}
        for kind, obj in pending:
            placed = ctx.key_of(kind, ctx.rid(kind, obj))
            assert placed is not None
            ctx.place(sections[kind], placed, entries[id(obj)], (kind, obj))

    def entry(self, ctx: GenerateContext, kind: str, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A live object of a platform section back to its entry (the reverse of its form in `forms`)."""
        if kind == TOOL:
            return self.tool_entry(ctx, key, obj)
        if kind == ASSISTANT:
            return self.assistant_entry(ctx, key, obj)
        if kind == SQUAD:
            return self.squad_entry(ctx, key, obj)
        if kind == STRUCTURED_OUTPUT:
            return self.structured_output_entry(ctx, key, obj)
        if kind == CREDENTIAL:
            return self.credential_entry(ctx, key, obj)
        return self.verbatim_entry(ctx, kind, key, obj, forms.knowledge_base)

    # the way back of each form: Vapi's own fields as they are, less what Vapi makes (read-only, server defaults,
    # keys its Create DTO does not take), ids back to stack keys, secrets as placeholders
    def verbatim_entry(self, ctx: GenerateContext, kind: str, key: str, obj: dict[str, Any],
                       form: Callable[[str, dict[str, Any]], Draft], entry: dict[str, Any] | None = None,
                       skip: Collection[str] = (), named: bool = True) -> dict[str, Any] | Unresolved:
        """`entry` (what the kind says in its own words) completed with the rest of `obj` as Vapi spells it (but
        `skip`), then checked by expanding it forward with `form` again: whatever still differs is Unresolved.
        `named`: the form names the object after its key unless the entry says `name:`."""
        adapter = ctx.adapters[kind]
        section = {k: s for s, k, _ in SECTIONS}[kind]
        out: dict[str, Any] = dict(entry or {})
        if named and obj.get("name") and obj["name"] != key:
            out["name"] = obj["name"]
        for field_name, value in obj.items():
            if (field_name in out or field_name in skip or field_name in adapter.read_only or value is None
                    or (named and field_name == "name")
                    or field_name in adapter.write_only
                    or (field_name in adapter.server_defaults
                        and loosely_equal(adapter.server_defaults[field_name], value))):
                continue
            out[field_name] = ctx.scrub(value, adapter.secret_fields, (section, key, field_name), field_name)
        out, missing = forms.unwire(out, ctx.key_of)
        if missing:
            return Unresolved(f"uses {missing[0]}, which is not in the stack")
        made = self.made_by_vapi(kind, form(key, out).body)
        for field_name in made:
            out.pop(field_name, None)
        server = out.get("server")
        if isinstance(server, dict) and server.get("timeoutSeconds") == SERVER_DEFAULTS["timeoutSeconds"]:
            out["server"] = {k: v for k, v in server.items() if k != "timeoutSeconds"}
        if named and not obj.get("name"):
            return Unresolved(f"has no name, which its entry would give it ({key!r})")
        extras = ctx.extras(kind, form(key, out).body, obj, (section, key), mapped=(*skip, *made))
        if isinstance(extras, Unresolved):
            return extras
        if extras:
            return Unresolved(f"its {', '.join(sorted(extras))} would not come back as they are")
        return out

    def made_by_vapi(self, kind: str, body: dict[str, Any]) -> list[str]:
        """Top-level keys of a body that the kind's Create DTO does not take: Vapi makes them (a Vonage
        credential's vonageApplicationId, a webhook credential's authenticationSession)."""
        schema = self.check.checker.request_schema("POST", PATHS[kind])
        if schema is None:
            return []
        return [str(p.path[0]) for p in self.check.checker.check(schema, view(body)) if p.kind == "unknown"
                and len(p.path) == 1]

    def tool_entry(self, ctx: GenerateContext, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A tool back to its `tools:` entry (the reverse of `forms.tool`): a transferCall or handoff tool in the
        friendly words where they say it, any other (and those they cannot say) as its typed body."""
        friendly = self._friendly_tool(ctx, key, obj)
        if not isinstance(friendly, Unresolved):
            return friendly
        return self.verbatim_entry(ctx, TOOL, key, obj, forms.tool, {"type": obj.get("type")}, named=False)

    def _friendly_tool(self, ctx: GenerateContext, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
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
            if not entry["transfer"] or any(d is None for d in entry["transfer"]):
                return Unresolved("a transfer destination the stack format cannot say (not a SIP URI or a number)")
        else:
            return Unresolved("typed")
        forward = forms.tool(key, entry).body
        extras = ctx.extras(TOOL, forward, obj, ("tools", key, "vapi"))
        if isinstance(extras, Unresolved) or set(extras) & set(forward) or forms.wired_ids(extras):
            return Unresolved("the friendly form cannot say it")  # its typed body can
        return _with_extras(entry, extras)

    def squad_entry(self, ctx: GenerateContext, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A squad back to its `squads:` entry (the reverse of `forms.squad`): members by assistant key, their
        assistant destinations as `handoff:` keys."""
        members = []
        for member in obj.get("members") or []:
            out: dict[str, Any] = {}
            for field_name, value in as_dict(member).items():
                if field_name == "assistantId":
                    out["assistant"] = ctx.key_of(ASSISTANT, value)
                    if out["assistant"] is None:
                        return Unresolved(f"its member {value} is not an assistant of this stack")
                elif field_name == "assistantOverrides":
                    out["overrides"] = value
                elif field_name == "assistantDestinations" and any(as_dict(d).get("assistantId") for d in value):
                    handoff = [_handoff_target(ctx, as_dict(d)) for d in value]
                    if any(t is None for t in handoff):
                        return Unresolved("a member hands off in a way the stack cannot say by key")
                    out["handoff"] = handoff
                elif value is not None:
                    out[field_name] = value
            members.append(out)
        return self.verbatim_entry(ctx, SQUAD, key, obj, forms.squad, {"members": members})

    def structured_output_entry(self, ctx: GenerateContext, key: str,
                                obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A structured output back to its entry (the reverse of `forms.structured_output`): `assistants:` keys."""
        assistants = [ctx.key_of(ASSISTANT, a) for a in obj.get("assistantIds") or []]
        if None in assistants:
            return Unresolved("bound to an assistant that is not in the stack")
        return self.verbatim_entry(ctx, STRUCTURED_OUTPUT, key, obj, forms.structured_output,
                                   {"assistants": assistants} if assistants else {}, skip=("assistantIds",))

    def credential_entry(self, ctx: GenerateContext, key: str, obj: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A credential that is not a trunk's back to its `credentials:` entry (the reverse of `forms.credential`):
        the write-only values Vapi never returns (an account's token, an auth plan's secret) as placeholders."""
        provider = str(obj.get("provider"))
        entry: dict[str, Any] = {"provider": provider}
        for field_name in ACCOUNT_SECRETS.get(provider, ()):
            either = (" — or, if this credential holds an API key, replace authToken with apiKey and apiSecret: "
                      "nothing Vapi returns tells which") if provider == "twilio" else ""
            entry[field_name] = ctx.secret(("credentials", key, field_name), f"credentials.{key}.{field_name}: the "
                                           f"{provider} account's {field_name} (write-only: Vapi never returns it)"
                                           + either)
        plan = as_dict(obj.get("authenticationPlan"))
        if plan:
            entry["authenticationPlan"] = dict(plan)
            hidden = PLAN_SECRETS.get(str(plan.get("type")))
            if hidden:
                entry["authenticationPlan"][hidden] = ctx.secret(
                    ("credentials", key, hidden), f"credentials.{key}.authenticationPlan.{hidden}: the {plan['type']} "
                    "secret (write-only: Vapi never returns it)")
        return self.verbatim_entry(ctx, CREDENTIAL, key, obj, forms.credential, entry)

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
        if isinstance(server, dict) and server.get("url") and _url_only(server):
            entry["server_url"] = server["url"]
        elif isinstance(server, dict) and server.get("credentialId"):  # server auth by a credential of the stack
            wired, missing = forms.unwire({"server": server}, ctx.key_of, forms.WIRES[:1])
            if missing:
                return Unresolved(f"its server uses {missing[0]}, which is not in the stack")
            mine = {k: v for k, v in wired["server"].items() if not (k == "timeoutSeconds" and v == 20)}
            entry["server"] = ctx.scrub(mine, ctx.adapters[ASSISTANT].secret_fields, ("assistants", key, "server"),
                                        "server")
        forward = forms.assistant(key, entry).body
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

    def number_fields(self, ctx: GenerateContext, obj: dict[str, Any], key: str, *, credential: str = "",
                      entry: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]] | Unresolved:
        """A phone number of any shape back to its route and the fields of its `numbers:` entry (name, fallback,
        hooks, `vapi:`), checked by building its body forward again; `entry`: what its carrier's part of the
        entry says already (a Twilio account, a credential key, an area code), `credential` a BYO number's trunk."""
        entry = entry or {}
        free = obj.get("provider") == "vapi" and not obj.get("sipUri")
        fields: dict[str, Any] = {}
        if obj.get("name") and not (free and obj["name"] == key):
            fields["name"] = obj["name"]
        route: dict[str, Any] | None = None
        server = as_dict(obj.get("server"))
        if obj.get("assistantId"):
            assistant = ctx.key_of(ASSISTANT, obj["assistantId"])
            if assistant is None:
                return Unresolved(f"answered by assistant {obj['assistantId']}, which is not in the stack")
            route = {"assistant": assistant}
        elif obj.get("squadId"):
            squad = ctx.key_of(SQUAD, obj["squadId"])
            if squad is None:
                return Unresolved(f"answered by squad {obj['squadId']}, which is not in the stack")
            route = {"squad": squad}
        elif server.get("url") and _url_only(server):
            route = {"server_url": server["url"]}  # else the whole server goes through `vapi:` (not both)
        fallback = as_dict(obj.get("fallbackDestination"))
        said = _destination_entry(fallback) if fallback else None
        if said is not None and loosely_equal(destination(said), fallback):
            fields["fallback"] = said  # else it goes through `vapi:` as it is
        if obj.get("hooks"):
            fields["hooks"] = obj["hooks"]
        options = {**entry, **fields}
        origin: PathT = ("numbers", key)
        if obj.get("provider") == "vapi" and not free:
            auth = as_dict(obj.get("authentication"))
            draft = self._sip_draft(origin, key, {**auth, "password": ""} if auth else None)
        elif free:
            draft = self._free_draft(origin, options)
            options = {"name": key, **options}
        elif obj.get("provider") == "byo-phone-number":
            draft = self._byo_draft(origin, key, address(CREDENTIAL, credential))
        else:
            draft = self._native_draft(origin, key, options, str(obj.get("provider")),
                                       ctx.data.get("credentials") or {})
        self._number_fields(draft, route, options, squads=ctx.data.get("squads") or {})
        extras = ctx.extras(NUMBER, draft.body, obj, ("numbers", key, "vapi"), mapped=("number",) if free else ())
        if isinstance(extras, Unresolved):
            return extras
        if forms.wired_ids(extras, (forms.WIRES[1],)) or extras.get("workflowId"):
            return Unresolved("it refers to an object of its own that the stack cannot name (its "
                              f"{'workflowId' if extras.get('workflowId') else 'credentialId'})")
        return route, {**fields, "vapi": extras} if extras else fields

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


def _url_only(server: dict[str, Any]) -> bool:
    """A live Server object that `server_url:` says whole: its url, and Vapi's default timeout at most."""
    return set(server) <= {"url", "timeoutSeconds"} and server.get("timeoutSeconds", 20) == 20


OWNER_KEY = "voxplan"  # the key of Assistant.owner_marker (metadata.voxplan) inside metadata
_INBOUND = re.compile(r"^(?P<user>[^@]+)@(?P<credential>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                      r"\.sip(\.eu)?\.vapi\.ai$", re.IGNORECASE)


def _refs(kind: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
    """What a live object refers to, as (kind, id): an assistant's tools and server credential, a tool's
    (`forms.WIRES`), a squad's members and their handoffs, a structured output's assistants."""
    if kind == ASSISTANT:
        model = as_dict(obj.get("model"))
        return [(TOOL, str(t)) for t in model.get("toolIds") or []] + forms.wired_ids(obj, forms.WIRES[:1])
    if kind == TOOL:
        return forms.wired_ids(obj)
    if kind == SQUAD:
        members = [as_dict(m) for m in obj.get("members") or []]
        return [(ASSISTANT, str(a)) for m in members for a in (m.get("assistantId"), *(
            as_dict(d).get("assistantId") for d in m.get("assistantDestinations") or [])) if isinstance(a, str)]
    if kind == STRUCTURED_OUTPUT:
        return [(ASSISTANT, str(a)) for a in obj.get("assistantIds") or []]
    return []


def _handoff_target(ctx: GenerateContext, dest: dict[str, Any]) -> str | dict[str, Any] | None:
    """A squad member's assistant destination back to a `handoff:` item (an assistant key, with its description)."""
    if dest.get("type") != "assistant" or not set(dest) <= {"type", "assistantId", "description"}:
        return None
    target = ctx.key_of(ASSISTANT, dest.get("assistantId"))
    if target is None:
        return None
    return {"assistant": target, "description": dest["description"]} if dest.get("description") else target


def _tool_name(obj: dict[str, Any]) -> str:
    """What a tool's key is made from: its function name, else where it transfers to."""
    fn = obj.get("function")
    if isinstance(fn, dict) and fn.get("name"):
        return str(fn["name"]).replace("_", "-")
    if obj.get("name"):  # apiRequest's name; bash, computer and textEditor carry a fixed one
        return str(obj["name"]).replace("_", "-")
    for dest in obj.get("destinations") or []:
        target = str(dest.get("sipUri") or dest.get("number") or "") if isinstance(dest, dict) else ""
        user = target.removeprefix("sip:").removeprefix("sips:").split("@")[0].lstrip("+")
        if user:
            return f"transfer-{user}"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", str(obj.get("type") or "tool")).replace(".", "-")


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

    takes_the_rest = False

    def generate_trunks(self, ctx: GenerateContext) -> None:
        """Vapi SIP numbers have no trunk."""

    def generate_numbers(self, ctx: GenerateContext) -> None:
        """Each Vapi-hosted SIP URI back to its `numbers:` entry (`carrier: vapi`) and route; each free Vapi number
        to one keyed by its name, with its area code and no `purchase:` (its plan adopts it, never gets another)."""
        for obj in ctx.objects(NUMBER):
            if obj.get("provider") != "vapi":
                continue
            if not obj.get("sipUri"):
                self._free_number(ctx, obj)
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
            place_number(ctx, obj, key, entry, self.platform.number_fields(ctx, obj, key))

    def _free_number(self, ctx: GenerateContext, obj: dict[str, Any]) -> None:
        number = str(obj.get("number") or "")
        area = obj.get("numberDesiredAreaCode") or (number[2:5] if number.startswith("+1") else None)
        if not obj.get("name") or not area:
            ctx.skip(NUMBER, obj, "a free Vapi number " + ("with no name: its entry is keyed, and adopted, by one (name"
                                                           " it in the dashboard)" if area else "with no area code"))
            return
        key = ctx.key_for("numbers", NUMBER, obj, str(obj["name"]))
        entry = {"carrier": "vapi", "area_code": str(area)}
        place_number(ctx, obj, key, entry, self.platform.number_fields(ctx, obj, key, entry=entry))


def place_number(ctx: GenerateContext, obj: dict[str, Any], key: str, entry: dict[str, Any],
                 found: tuple[dict[str, Any] | None, dict[str, Any]] | Unresolved) -> None:
    """A number's `numbers:` entry and its route, or the number left out and listed."""
    if isinstance(found, Unresolved):
        ctx.skip(NUMBER, obj, found.why)
        return
    route, fields = found
    ctx.place("numbers", key, {**entry, **fields}, (NUMBER, obj))
    if route:
        ctx.place("routes", key, route)


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

    takes_the_rest = False

    def generate_trunks(self, ctx: GenerateContext) -> None:
        """These numbers have no trunk."""

    def generate_numbers(self, ctx: GenerateContext) -> None:
        """Each number of this provider back to its `numbers:` entry and route: a Twilio number through a twilio
        credential of the stack with its account SID, else with its own SID and an auth-token placeholder; a
        Vonage or Telnyx number through its credential's key."""
        twilio = {c.get("accountSid"): k for k, c in (ctx.data.get("credentials") or {}).items()
                  if c.get("provider") == "twilio"}
        for obj in ctx.objects(NUMBER):
            if obj.get("provider") != self.name or not obj.get("number"):
                continue
            key = "+" + str(obj["number"]).lstrip("+")
            entry: dict[str, Any] = {"carrier": self.name}
            if self.name == "twilio" and obj.get("twilioAccountSid") in twilio:
                entry["credential"] = twilio[obj["twilioAccountSid"]]
            elif self.name == "twilio":
                entry["account_sid"] = obj.get("twilioAccountSid")
                entry["auth_token"] = ctx.secret(("numbers", key, "auth_token"), f"numbers.{key}.auth_token: the "
                                                 "Twilio account's auth token (write-only: Vapi never returns it)")
            else:
                entry["credential"] = ctx.key_of(CREDENTIAL, obj.get("credentialId"))
                if entry["credential"] is None:
                    ctx.skip(NUMBER, obj, f"its credential {obj.get('credentialId')} is not in the stack")
                    continue
            if self.name == "twilio" and obj.get("smsEnabled") is False:
                entry["sms"] = False
            place_number(ctx, obj, key, entry, self.platform.number_fields(ctx, obj, key, entry=entry))

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()
