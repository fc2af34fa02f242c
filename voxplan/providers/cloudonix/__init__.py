"""Cloudonix: the domain's border profile, its auto alias, outbound trunks, voice applications and
DNIDs (reference/cloudonix-api.md).

Quirks handled here: the domain is read, never created, and only the profile keys voxplan owns
(`allowed-border`, `redirect-unknown-to-border`) are changed: the profile is read, merged and written
whole with the `domain` the spec requires, so keys other tools set survive whether PUT merges or
replaces (unconfirmed); bodies are typed as the spec types them: an application PUT carries `type`, `url`
and `method` (it is a 400 without; the live profile goes along), a trunk's `port` is a string, a DNID is
created with the `dnid` the spec requires; a trunk POSTed as `outbound` reads back as `public-outbound`;
the `auto` alias is the Vapi credential's gateway host, outbound only (Vapi refuses a hostname gateway
with inbound enabled); lists answer 404 when empty; a DNID create answers 204 with no body, so the
object is found again by its `source`; trunk and application names cannot change (replacement);
trunk passwords are readable on Cloudonix but never enter a plan or state; 10 requests per 3 s per
domain, kept client-side.

Unconfirmed, and where one change fixes it: PUT (not PATCH) for the profile (Domain.update); whether
DNID matching sees the number with `+` (dnid_pattern matches both); Cloudonix's border IPs for inbound
BYO (none assumed).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from voxplan.core import errors
from voxplan.core.errors import Diagnostic
from voxplan.core.model import Ref, Resource
from voxplan.providers.base import Adapter, ExpandContext, Finding, Provider, routes_to_platform, run_probes
from voxplan.providers.cloudonix import hops
from voxplan.providers.cloudonix.hops import dnid_number, dnid_pattern
from voxplan.providers.cloudonix.surface import SURFACE
from voxplan.providers.http import ApiClient
from voxplan.providers.reverse import GenerateContext, Unresolved, as_dict
from voxplan.stack.model import Stack

API_URL = "https://api.cloudonix.io"
OWNED_PROFILE_KEYS = ("allowed-border", "redirect-unknown-to-border")
ALIAS_HOST = "{}.sip.cloudonix.net"
DOMAIN, TRUNK, APP, DNID = "cloudonix.domain", "cloudonix.trunk", "cloudonix.application", "cloudonix.dnid"
BASE = "/customers/self/domains"


def domain_of(path: str) -> str:
    """Cloudonix limits requests per domain: the budget is kept per domain of the path."""
    parts = path.split("/")
    return parts[4] if len(parts) > 4 and path.startswith(BASE) else ""


class _DomainScoped(Adapter):
    """A kind under /customers/self/domains/{d}/<collection>; remote ids are "<domain>/<id>". Listed in
    the stack's domains and in every domain state still names (`interest`), so what a stack no longer
    declares is found, and deleted, rather than forgotten."""

    collection = ""
    immutable: tuple[str, ...] = ()
    key_field = "name"  # unique within a domain
    wants_interest = True

    @classmethod
    def natural_key(cls, body: dict[str, Any]) -> str | None:  # type: ignore[override]
        return f"{body.get('domain')}/{body.get(cls.key_field)}"

    def __init__(self, api: ApiClient, domains: Iterable[str]):
        super().__init__(api)
        self.domains = sorted(set(domains))

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        out = []
        named = {i.split("/", 1)[0] for i in interest or () if "/" in i} - {"None", ""}
        for domain in sorted(set(self.domains) | named):
            items = self.client.request("GET", f"{BASE}/{domain}/{self.collection}", expect_404_empty=True)
            out += [self.normalise({**o, "domain": domain}) for o in items]
        return out

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        domain = body["domain"]
        payload = {k: v for k, v in body.items() if k != "domain"}
        made = self.client.request("POST", f"{BASE}/{domain}/{self.collection}", json=payload)
        return self.normalise({**made, "domain": domain})

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        domain, oid = remote_id.split("/", 1)
        payload = {k: v for k, v in body.items() if k not in ("domain", *self.immutable)}
        self.client.request("PUT", f"{BASE}/{domain}/{self.collection}/{oid}", json=payload)
        return self.normalise({**self.client.request("GET", f"{BASE}/{domain}/{self.collection}/{oid}"),
                               "domain": domain})

    def delete(self, remote_id: str) -> None:
        domain, oid = remote_id.split("/", 1)
        self.delete_at(f"{BASE}/{domain}/{self.collection}/{oid}")

    @staticmethod
    def remote_id(obj: Any) -> str:
        return f"{obj['domain']}/{obj['id']}"

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in raw.items() if k not in ("tenant", "application")}


class Domain(Adapter):
    kind = DOMAIN
    creatable = False
    wants_interest = True  # a domain state still names is read too

    def __init__(self, api: ApiClient, domains: Iterable[str]):
        super().__init__(api)
        self.domains = sorted(set(domains))

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        out = []
        for name in sorted(set(self.domains) | {i for i in interest or () if i and "/" not in i}):
            try:
                out.append(self.normalise(self.client.request("GET", f"{BASE}/{name}")))
            except errors.NotFound:
                continue
        return out

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        raise errors.InvalidRequest("voxplan reads Cloudonix domains; create it in the cockpit", provider="cloudonix")

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Read, merge, write: the whole profile goes back with our keys changed, so keys other tools own
        survive whether PUT merges the profile or replaces it (unconfirmed)."""
        live = self.client.request("GET", f"{BASE}/{remote_id}")
        profile = {**(live.get("profile") or {}), **{k: body[k] for k in OWNED_PROFILE_KEYS if k in body}}
        return self.normalise(self.client.request("PUT", f"{BASE}/{remote_id}",
                                                  json={"domain": live.get("domain", remote_id), "profile": profile}))

    def delete(self, remote_id: str) -> None:
        """Never delete a domain: forgetting it hands the border settings back to the cockpit."""

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        profile = raw.get("profile") or {}
        auto = next((a["alias"] for a in raw.get("aliases") or [] if a.get("type") == "auto"), None)
        out = {"id": raw["domain"], "domain": raw["domain"], "alias": auto, "profile_keys": sorted(profile)}
        out.update({k: profile.get(k) for k in OWNED_PROFILE_KEYS})
        return out

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("domain")

    @classmethod
    def sandbox_seed(cls, body: dict[str, Any]) -> dict[str, Any]:
        return {"domains": [body["domain"]]}


class Trunk(_DomainScoped):
    kind = TRUNK
    collection = "trunks"
    env_named = "name"
    write_only = ("profile.authentication.password",)
    forces_replacement = ("name", "domain")
    immutable = ("name",)

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        obj = _DomainScoped.normalise(raw)
        obj.pop("domainId", None)
        if obj.get("port") is not None:
            obj["port"] = str(obj["port"])  # typed string in the spec; docs show a number
        if str(obj.get("direction", "")).startswith("public-"):
            obj["direction"] = obj["direction"].removeprefix("public-")  # POSTed outbound reads public-outbound
        auth = ((obj.get("profile") or {}).get("authentication") or {})
        if "password" in auth:  # readable on Cloudonix; never let it into a plan or state
            obj["profile"] = {**obj["profile"], "authentication": {k: v for k, v in auth.items() if k != "password"}}
        return obj


class Application(_DomainScoped):
    kind = APP
    collection = "applications"
    env_named = "name"
    forces_replacement = ("name", "domain")
    immutable = ("name",)

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT requires `type`, `url` and `method` (voiceApplicationUpdateObject); the live application
        fills what the change does not name, its profile included (as Cloudonix's own clients send it)."""
        domain, oid = remote_id.split("/", 1)
        live, path = self._find(domain, oid)
        payload = {"type": "cxml", "url": live.get("url"), "method": live.get("method"),  # the one type PUT takes
                   "profile": live.get("profile") or {}}
        payload.update({k: v for k, v in body.items() if k not in ("domain", *self.immutable)})
        self.client.request("PUT", path, json=payload)
        return self.normalise({**self.client.request("GET", path), "domain": domain})

    def delete(self, remote_id: str) -> None:
        domain, oid = remote_id.split("/", 1)
        try:
            _, path = self._find(domain, oid)
            self.client.request("DELETE", path)
        except errors.NotFound:
            pass

    def _find(self, domain: str, oid: str) -> tuple[dict[str, Any], str]:
        """The application and the path that reaches it. Whether `…/applications/{key}` takes the id or the
        name is unconfirmed (opbx addresses it by name and reconciles on 404): the id first, then, on a
        404, the name the listing gives that id. Raises NotFound if the listing has no such id either."""
        path = f"{BASE}/{domain}/applications/{oid}"
        try:
            return dict(self.client.request("GET", path)), path
        except errors.NotFound:
            listed = self.client.request("GET", f"{BASE}/{domain}/applications", expect_404_empty=True)
            app = next((a for a in listed if str(a.get("id")) == oid), None)
            if app is None:
                raise
            by_name = f"{BASE}/{domain}/applications/{quote(str(app['name']), safe='')}"
            return dict(self.client.request("GET", by_name)), by_name

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        obj = _DomainScoped.normalise(raw)
        obj["app_id"] = raw.get("id")
        return obj


class Dnid(_DomainScoped):
    kind = DNID
    collection = "dnids"
    forces_replacement = ("domain",)

    @classmethod
    def natural_key(cls, body: dict[str, Any]) -> str | None:  # type: ignore[override]
        pattern = body.get("dnid") or body.get("source")
        return f"{body.get('domain')}/{dnid_number(str(pattern))}" if pattern else None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST answers 204 with no body: find what was made by the number it matches."""
        domain = body["domain"]
        payload = {k: v for k, v in body.items() if k != "domain"}
        self.client.request("POST", f"{BASE}/{domain}/dnids", json=payload)
        key = self.natural_key(body)
        for item in self.client.request("GET", f"{BASE}/{domain}/dnids", expect_404_empty=True):
            if self.natural_key({**item, "domain": domain}) == key:
                return self.normalise({**item, "domain": domain})
        raise errors.ServerError(f"POST {BASE}/{domain}/dnids: created, but no DNID for "
                                 f"{body.get('dnid')!r} is listed", provider="cloudonix")


def adapters(api: ApiClient, stack: Stack) -> dict[str, Adapter]:
    domains = stack_domains(stack)
    return {DOMAIN: Domain(api, domains), TRUNK: Trunk(api, domains), APP: Application(api, domains),
            DNID: Dnid(api, domains)}


def probe(api: ApiClient, domains: Iterable[str]) -> list[Finding]:
    """Read-only probes of the assumptions no Cloudonix source settles, for `voxplan doctor`."""
    domains = sorted(set(domains))

    def trunk_shapes(client: ApiClient) -> Finding:
        seen: dict[str, set[str]] = {"direction": set(), "port": set()}
        for domain in domains:
            for trunk in client.request("GET", f"{BASE}/{domain}/trunks", expect_404_empty=True):
                seen["direction"].add(str(trunk.get("direction")))
                seen["port"].add(type(trunk.get("port")).__name__)
        found = (f"directions {sorted(seen['direction'])}, port as {sorted(seen['port'])}" if seen["port"]
                 else "no trunk in the stack's domains")
        return Finding("cloudonix", "a trunk POSTed outbound reads back public-outbound; port is a string",
                       "voxplan/providers/cloudonix/__init__.py: Trunk.normalise", found,
                       "sends port as a string and compares outbound and public-outbound as one")

    def dnid_forms(client: ApiClient) -> Finding:
        forms = set()
        for domain in domains:
            for dnid in client.request("GET", f"{BASE}/{domain}/dnids", expect_404_empty=True):
                forms.add("source" if dnid.get("source") else "dnid")
        return Finding("cloudonix", "DNID matching sees the number with or without +",
                       "voxplan/providers/cloudonix/hops.py: dnid_pattern",
                       f"DNIDs on the account are given by {sorted(forms)}; the + is not probed (it takes a call)"
                       if forms else "no DNID in the stack's domains; the + is not probed (it takes a call)",
                       "writes the regex ^\\+?<digits>$, which matches either")

    def profile_merge(client: ApiClient) -> Finding:
        return Finding("cloudonix", "a domain PUT merges the profile rather than replacing it",
                       "voxplan/providers/cloudonix/__init__.py: Domain.update", "not probed: it takes a write",
                       "reads the profile, merges its own two keys in and writes it whole")

    return run_probes("cloudonix", api, (trunk_shapes, dnid_forms, profile_merge))


def stack_domains(stack: Stack) -> list[str]:
    return sorted({t["domain"] for t in stack.section("trunks").values() if t.get("carrier") == "cloudonix"})


APP_PREFIX = "voxplan-"  # a trunk's voice application is named voxplan-<trunk key>


def credential(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What the trunk's platform credential is made of: the domain's auto alias first (outbound only, OPTIONS
    ping), then the stack's gateways; the stack's auth, if any; a leading plus."""
    alias = {"ip": Ref(f"{DOMAIN}/{spec['domain']}", "alias", template=ALIAS_HOST), "inbound": False,
             "outbound": True, "options_ping": spec.get("options_ping", True)}
    auth = spec.get("auth") or {}
    return {"gateways": [alias, *(spec.get("gateways") or [])], "username": auth.get("username"),
            "password": auth.get("password"), "options": {"leading_plus": True, **spec}}


def outbound_body(domain: str, out: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"domain": domain, "name": out["name"], "ip": out["ip"], "port": str(out.get("port", 5060)),
                            "transport": out.get("transport", "udp"), "prefix": out.get("prefix", ""),
                            "direction": "outbound"}
    if out.get("auth"):
        body["profile"] = {"authentication": {"username": out["auth"]["username"],
                                              "password": out["auth"]["password"]}}
    return body


def everything(api: ApiClient) -> dict[str, frozenset[str]]:
    """Every domain of the account (`GET /customers/self/domains`), as refresh's interest in each kind."""
    domains = sorted(str(d["domain"]) for d in api.request("GET", BASE, expect_404_empty=True) if d.get("domain"))
    scoped = frozenset(f"{d}/" for d in domains)
    return {DOMAIN: frozenset(domains), TRUNK: scoped, APP: scoped, DNID: scoped}


class CloudonixCarrier:
    name = "cloudonix"
    sip_uri_numbers = False

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return True  # the trunk names the Cloudonix domain

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        domain_name = spec["domain"]
        domain = f"{DOMAIN}/{domain_name}"
        border = bool(spec.get("border", True))
        if domain not in ctx.resources:
            ctx.add(Resource(DOMAIN, domain_name, {"domain": domain_name, "allowed-border": border,
                                                   "redirect-unknown-to-border": border},
                             origin=("trunks", name, "domain")))
        ctx.platform.trunk_credential(ctx, name, **credential(name, spec))
        out = spec.get("outbound")
        if out:
            ctx.add(Resource(TRUNK, f"{name}-{out['name']}", outbound_body(domain_name, out),
                             origin=("trunks", name, "outbound"), depends_on=(domain,)))
        if spec.get("cxml_url"):
            ctx.add(Resource(APP, name, {"domain": domain_name, "name": f"{APP_PREFIX}{name}", "type": "cxml",
                                         "url": spec["cxml_url"], "method": "POST"},
                             origin=("trunks", name, "cxml_url"), depends_on=(domain,)))

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        trunk = (ctx.stack.data.get("trunks") or {}).get(spec["trunk"]) or {}  # read, not copied per number
        if route is None:
            return
        if not routes_to_platform(route):
            ctx.error(("routes", key), f"routes.{key}: a Cloudonix number routes to Vapi only (assistant:, "
                      "squad: or server_url:)", hint="Cloudonix hands calls over in CXML served at cxml_url")
            return
        if not trunk.get("cxml_url"):
            ctx.error(("trunks", spec["trunk"]), f"trunks.{spec['trunk']}: needs cxml_url: for numbers routed "
                      "to Vapi (Cloudonix runs a voice application to hand calls over)")
            return
        target = ctx.route(route, key, spec["trunk"], key)
        ctx.add(Resource(DNID, key, {"domain": trunk["domain"], "dnid": dnid_pattern(key),
                                     "applicationId": Ref(f"{APP}/{spec['trunk']}", "app_id")},
                         origin=("numbers", key),
                         depends_on=target.waits_for))

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        return ()

    # -- the way back (voxplan.providers.reverse) ------------------------------------------------------
    takes_the_rest = False

    def generate_trunks(self, ctx: GenerateContext) -> None:
        """Each domain whose auto alias a platform credential sends to, back to one `trunks:` entry: the
        border setting, the voice application named voxplan-<key> (its CXML URL), the first outbound trunk."""
        for app in ctx.live.get(APP, ()):
            if str(app.get("type", "")).startswith("Cloudonix:"):
                ctx.used.add((APP, ctx.rid(APP, app)))  # built in to every domain: nobody's configuration
        for domain in ctx.objects(DOMAIN):
            name = str(domain.get("domain"))
            found = ctx.platform.credential_for(ctx, host=ALIAS_HOST.format(domain.get("alias")))
            if found is None:
                ctx.skip(DOMAIN, domain, "no Vapi credential sends calls to its alias")
                continue
            apps = [a for a in ctx.objects(APP) if a.get("domain") == name
                    and str(a.get("name", "")).startswith(APP_PREFIX)]
            key = (str(apps[0]["name"]).removeprefix(APP_PREFIX) if len(apps) == 1 else
                   ctx.platform.credential_key(ctx, found))
            ctx.named(DOMAIN, domain, name)
            entry: dict[str, Any] = {"carrier": "cloudonix", "domain": name}
            if found.get("name") and found["name"] != key:
                entry["name"] = found["name"]
            border = {domain.get("allowed-border"), domain.get("redirect-unknown-to-border")}
            if len(border) > 1:
                ctx.skip(DOMAIN, domain, "allowed-border and redirect-unknown-to-border differ, and a stack sets both")
                continue
            if border == {False}:
                entry["border"] = False
            alias = as_dict((found.get("gateways") or [None])[0])
            if alias.get("optionsPingEnabled") is False:
                entry["options_ping"] = False
            taken: list[tuple[str, dict[str, Any]]] = [(DOMAIN, domain)]
            if len(apps) == 1 and apps[0].get("type") == "cxml" and apps[0].get("method") == "POST":
                entry["cxml_url"] = apps[0].get("url")
                ctx.named(APP, apps[0], key)
                taken.append((APP, apps[0]))
            outbound = [t for t in ctx.objects(TRUNK) if t.get("domain") == name and t.get("direction") == "outbound"]
            if outbound:
                entry["outbound"] = self._outbound(ctx, key, outbound[0])
                ctx.named(TRUNK, outbound[0], f"{key}-{outbound[0].get('name')}")
                taken.append((TRUNK, outbound[0]))
            side = ctx.platform.trunk_side(ctx, found, key, entry, made=functools.partial(credential, key), fixed=1,
                                           defaults={"leading_plus": True, "auth": True})
            if isinstance(side, Unresolved):
                ctx.skip(DOMAIN, domain, side.why)
                continue
            ctx.place("trunks", key, side)
            for kind, obj in taken:
                ctx.used.add((kind, ctx.rid(kind, obj)))

    @staticmethod
    def _outbound(ctx: GenerateContext, key: str, trunk: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": trunk.get("name"), "ip": trunk.get("ip")}
        if str(trunk.get("port") or "5060") != "5060":
            out["port"] = int(str(trunk["port"]))
        if trunk.get("transport") not in (None, "udp"):
            out["transport"] = trunk["transport"]
        if trunk.get("prefix"):
            out["prefix"] = trunk["prefix"]
        auth = as_dict(as_dict(trunk.get("profile")).get("authentication"))
        if auth.get("username"):
            out["auth"] = {"username": auth["username"],
                           "password": ctx.secret(("trunks", key, "outbound", "password"),
                                                  f"trunks.{key}.outbound.auth.password: the outbound trunk's SIP "
                                                  "password (voxplan never reads it back)")}
        return out

    def generate_numbers(self, ctx: GenerateContext) -> None:
        """Each DNID that hands a number to a trunk's voice application, back to its `numbers:` entry, with
        the route its platform number says."""
        apps = {(k[1]): key for k, key in ctx.keys.items() if k[0] == APP}
        for dnid in ctx.objects(DNID):
            pattern = str(dnid.get("dnid") or dnid.get("source") or "")
            digits = dnid_number(pattern)
            trunk = apps.get(f"{dnid.get('domain')}/{dnid.get('applicationId')}")
            if trunk is None or not digits.isdigit() or pattern != dnid_pattern(digits):
                continue  # not a stack's: left as it is (listed with the rest)
            key = "+" + digits
            route, fields = ctx.platform.bound_number(ctx, trunk, key) or (None, {})
            if route is None:
                ctx.skip(DNID, dnid, str(fields.get("why") or "no Vapi number takes its calls"))
                continue
            ctx.place("numbers", key, {"carrier": "cloudonix", **fields}, (DNID, dnid))
            ctx.place("routes", key, route)


# "a 10-per-3-s per-domain token bucket returning 429" (reference/cloudonix-api.md)
BUDGET = (10, 3.0, domain_of)
PROVIDER = Provider(name="cloudonix", surface=SURFACE, api_url=API_URL, kinds=(Domain, Trunk, Application, Dnid),
                    adapters=adapters, everything=everything,
                    carrier=lambda platform: CloudonixCarrier(), budget=BUDGET,
                    probes=lambda client, stack: probe(client, stack_domains(stack)), hops=hops.hops)
