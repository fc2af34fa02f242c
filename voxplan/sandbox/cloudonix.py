"""Cloudonix emulator, from reference/cloudonix-api.md: domains, aliases, profile, trunks, voice
applications and DNIDs.

True to: Bearer auth; `/customers/{self}/domains/{d}/…` (and the `/domains/{d}/…` shortcut) with `{d}`
the domain name or id; every domain with an `auto` alias and the built-in `Blackhole`/`Call-Routing`
apps; plain-array lists that answer **404 when empty**; profile updates that **merge** (null deletes a
key); DNID create/update answering **204 with no body**; `source` compiled to `dnid`; 400 for both
`dnid` and `source` or two mode flags; deletes 204; **10 requests per 3 s per domain**, then 429; trunk
`profile.authentication.password` readable (a known Cloudonix trait that adapters must mask).
From the Corrections (checked against the OpenAPI document and live-verified client code): an
application PUT needs `type`, `url` and `method` (400 otherwise); a trunk POSTed as `outbound` reads back
as `public-outbound`; `defaultApplication` is an integer, absent while none is set; a domain PUT may carry
`domain` (the spec requires it) or not (live clients send `{profile}` alone).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from voxplan.core.hops import split_uri
from voxplan.sandbox.core import Answer, ApiError, Request, Response, Router, key_refused

RATE = (10, 3.0)
TRUNK_FIELDS = {"name", "ip", "port", "transport", "prefix", "direction", "profile", "metric"}
APP_FIELDS = {"name", "type", "url", "method", "profile"}
DNID_FIELDS = {"applicationId", "dnid", "source", "prefix", "expression", "asteriskCompatible", "global",
               "messagingApplicationId", "active"}


def fail(status: int, message: str) -> ApiError:
    return ApiError(status, {"status": False, "message": message})


def _now() -> str:
    return datetime.now(UTC).isoformat()


def compile_source(source: str, prefix: bool, expression: bool, asterisk: bool) -> str:
    if asterisk:
        body = source.lstrip("_")
        table = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": "[0-9]+", "!": "[0-9]*"}
        return "^" + "".join(table.get(ch, re.escape(ch)) for ch in body) + "$"
    if expression:
        return "^" + source.replace("*", ".*") + "$"
    return "^" + re.escape(source) + ("" if prefix else "$")


class CloudonixEmulator:
    """Calls (voxplan.sandbox.core.Network): a call to a number a DNID matches runs the DNID's application; a
    CXML application is taken to hand the call to Vapi as the number dialled (seed 001's `<Dial><Service>`; the
    emulator does not fetch the CXML), from the domain's alias host; a built-in one answers. An outbound call
    through the alias host reaches the PSTN only with border-to-border and redirect-unknown-to-border on, and an
    outbound trunk (404 otherwise).

    `quirks`: `application_key`, which path key `…/applications/{key}` answers to: "both" (id or name,
    the default), "id" or "name" (which of the two Cloudonix takes is unconfirmed; opbx addresses an
    application by name and reconciles on 404)."""

    name = "cloudonix"
    api_key: str | None = None  # set by Sandbox: the one key accepted, None for any
    QUIRKS: dict[str, Any] = {"application_key": "both"}
    network: Any = None  # the sandbox's Network, set by the Sandbox

    def __init__(self, rate: tuple[int, float] = RATE) -> None:
        self.quirks = dict(self.QUIRKS)
        self.domains: dict[str, dict[str, Any]] = {}
        self.children: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # domain -> kind -> id -> obj
        self.rate = rate
        self._hits: dict[str, deque[float]] = {}
        self._next = 100
        r = self.router = Router()
        r.add("GET", "/customers/{c}", lambda req, c="self": Response(200, {"id": 1, "name": "self"}))
        r.add("GET", "/customers/{c}/domains", self.list_domains)
        for prefix in ("/customers/{c}/domains/{d}", "/domains/{d}"):
            r.add("GET", prefix, self.get_domain)
            r.add("PUT", prefix, self.update_domain)
            r.add("PATCH", prefix, self.update_domain)
            for kind in ("trunks", "applications", "dnids"):
                r.add("GET", f"{prefix}/{kind}", lambda req, d, c="self", k=kind: self.list_kind(d, k))
                r.add("POST", f"{prefix}/{kind}", lambda req, d, c="self", k=kind: self.create(req, d, k))
                r.add("GET", f"{prefix}/{kind}/{{id}}", lambda req, d, id, c="self", k=kind:
                      Response(200, self._out(self._child(d, k, id))))
                r.add("PUT", f"{prefix}/{kind}/{{id}}", lambda req, d, id, c="self", k=kind: self.update(req, d, k, id))
                r.add("DELETE", f"{prefix}/{kind}/{{id}}", lambda req, d, id, c="self", k=kind: self.delete(d, k, id))

    def handle(self, request: Request) -> Response:
        if key_refused(request, self.api_key):
            raise fail(401, "Unauthorized")
        found = self.router.dispatch(request)
        if found is None:
            raise fail(404, "Not found")
        handler, params = found
        if "d" in params:
            self._throttle(self._domain(params["d"])["domain"])
        params.pop("c", None)
        return handler(request, **params)

    def _throttle(self, domain: str) -> None:
        limit, window = self.rate
        now = time.monotonic()
        hits = self._hits.setdefault(domain, deque())
        while hits and now - hits[0] > window:
            hits.popleft()
        if len(hits) >= limit:
            raise ApiError(429, {"status": False, "message": "Too many requests"})
        hits.append(now)

    @staticmethod
    def error_body(status: int, message: str) -> Any:
        return fail(status, message).body

    def dump(self) -> dict[str, Any]:
        return {"domains": self.domains, "children": self.children, "next": self._next}

    def load(self, data: dict[str, Any]) -> None:
        self.domains = dict(data.get("domains") or {})
        self.children = dict(data.get("children") or {})
        self._next = int(data.get("next") or 100)
        self._hits = {}

    # -- control: the account owner made the domain in the cockpit ---------------------------------
    def seed_domain(self, name: str) -> dict[str, Any]:
        if name in self.domains:
            return self.domains[name]
        did = self._take()
        alias = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        self.domains[name] = {"id": did, "uuid": str(uuid.uuid4()), "domain": name, "active": True,
                              "registrationFree": False, "profile": {},
                              "aliases": [{"id": self._take(), "domainId": did, "alias": alias, "active": True,
                                           "type": "auto"}], "createdAt": _now(), "modifiedAt": _now()}
        self.children[name] = {"trunks": {}, "applications": {}, "dnids": {}}
        for app in ("Blackhole", "Call-Routing"):
            aid = self._take()
            self.children[name]["applications"][str(aid)] = {
                "id": aid, "domainId": did, "name": app, "type": "Cloudonix:built-in", "url": f"cx://built-in/{app}",
                "method": "GET", "active": True, "profile": {}}
        return self.domains[name]

    # -- domains ---------------------------------------------------------------------------------------
    def list_domains(self, req: Request, c: str = "self") -> Response:
        if not self.domains:
            raise fail(404, "No domains found")
        return Response(200, [self._out(d) for d in self.domains.values()])

    def get_domain(self, req: Request, d: str) -> Response:
        return Response(200, self._out(self._domain(d)))

    def update_domain(self, req: Request, d: str) -> Response:
        domain = self._domain(d)
        body = req.json() or {}
        if set(body) - {"domain", "profile", "defaultApplication", "registrationFree", "active"}:
            raise fail(400, "Invalid domain property")
        if body.get("domain", domain["domain"]) != domain["domain"]:
            raise fail(400, "a domain cannot be renamed")
        for key, value in (body.get("profile") or {}).items():
            if value is None:
                domain["profile"].pop(key, None)  # null deletes the key
            else:
                domain["profile"][key] = value  # everything else merges
        for key in ("defaultApplication", "registrationFree", "active"):
            if key in body:
                domain[key] = body[key]
        domain["modifiedAt"] = _now()
        return Response(200, self._out(domain))

    # -- trunks, applications, dnids ---------------------------------------------------------------
    def list_kind(self, d: str, kind: str) -> Response:
        items = list(self.children[self._domain(d)["domain"]][kind].values())
        if not items:
            raise fail(404, f"No {kind} found")
        return Response(200, [self._out(o) for o in items])

    def create(self, req: Request, d: str, kind: str) -> Response:
        domain = self._domain(d)
        body = req.json() or {}
        obj = self._validate(kind, body, None, domain)
        obj.update(id=self._take(), domainId=domain["id"], createdAt=_now(), modifiedAt=_now())
        if kind != "dnids":
            obj["uuid"] = str(uuid.uuid4())
        self.children[domain["domain"]][kind][str(obj["id"])] = obj
        if kind == "dnids":
            return Response(204)  # no body: the caller must list to learn the id
        return Response(200, self._out(obj))

    def update(self, req: Request, d: str, kind: str, oid: str) -> Response:
        domain = self._domain(d)
        current = self._child(d, kind, oid)
        body = req.json() or {}
        if "name" in body and kind in ("trunks", "applications"):
            raise fail(400, "name cannot be changed")
        missing = [k for k in ("type", "url", "method") if kind == "applications" and k not in body]
        if missing:  # voiceApplicationUpdateObject: required [type, url, method]
            raise fail(400, f"{', '.join(missing)} required")
        fields = {"trunks": TRUNK_FIELDS, "applications": APP_FIELDS, "dnids": DNID_FIELDS}[kind]
        merged = {**{k: v for k, v in current.items() if k in fields}, **body}
        if kind == "dnids" and "dnid" in body:
            merged.pop("source", None)  # one pattern: a dnid sent replaces the source
        elif kind == "dnids" and "source" in merged:
            merged.pop("dnid", None)  # recompiled from the source
        obj = self._validate(kind, merged, current, domain)
        obj.update({k: current[k] for k in ("id", "domainId", "createdAt", "uuid") if k in current})
        obj["modifiedAt"] = _now()
        self.children[domain["domain"]][kind][str(current["id"])] = obj
        return Response(204) if kind == "dnids" else Response(200, self._out(obj))

    def delete(self, d: str, kind: str, oid: str) -> Response:
        domain = self._domain(d)
        obj = self._child(d, kind, oid)
        if kind == "applications" and obj.get("type") == "Cloudonix:built-in":
            raise fail(400, "built-in applications cannot be deleted")
        del self.children[domain["domain"]][kind][str(obj["id"])]
        return Response(204)

    def _validate(self, kind: str, body: dict[str, Any], current: dict[str, Any] | None,
                  domain: dict[str, Any]) -> dict[str, Any]:
        allowed = {"trunks": TRUNK_FIELDS, "applications": APP_FIELDS, "dnids": DNID_FIELDS}[kind]
        unknown = set(body) - allowed
        if unknown:
            raise fail(400, f"unknown properties: {', '.join(sorted(unknown))}")
        obj = copy.deepcopy(body)
        if kind == "trunks":
            if not obj.get("name") or not obj.get("ip"):
                raise fail(400, "name and ip are required")
            if obj.get("direction", "outbound") not in ("inbound", "outbound", "public-inbound", "public-outbound"):
                raise fail(400, "direction must be inbound, outbound, public-inbound or public-outbound")
            if obj.get("transport", "udp") not in ("udp", "tcp", "tls"):
                raise fail(400, "transport must be udp, tcp or tls")
            obj.setdefault("port", 5060)
            obj["port"] = str(obj["port"])  # round-trips as a string
            obj.setdefault("transport", "udp")
            obj.setdefault("direction", "outbound")
            if obj["direction"] == "outbound":
                obj["direction"] = "public-outbound"  # as Cloudonix answers it (live-verified by opbx)
            obj.setdefault("metric", 10)
            obj.setdefault("prefix", "")
            obj.setdefault("profile", {})
            obj["active"] = True
            trunks = self.children[domain["domain"]]["trunks"].values()
            if current is None and any(t["name"] == obj["name"] for t in trunks):
                raise fail(400, "a trunk with this name already exists")
        elif kind == "applications":
            for key in ("name", "type", "url", "method"):
                if not obj.get(key):
                    raise fail(400, f"{key} is required")
            if obj["method"] not in ("GET", "POST"):
                raise fail(400, "method must be GET or POST")
            obj.setdefault("profile", {})
            obj["active"] = True
        else:
            if ("dnid" in body) == ("source" in body):
                raise fail(400, "give exactly one of dnid and source")
            flags = [bool(obj.get(k)) for k in ("prefix", "expression", "asteriskCompatible")]
            if sum(flags) > 1:
                raise fail(400, "at most one of prefix, expression and asteriskCompatible may be true")
            app = obj.get("applicationId")
            if str(app) not in self.children[domain["domain"]]["applications"]:
                raise fail(400, "applicationId does not name an application of this domain")
            if "source" in obj:
                obj["dnid"] = compile_source(str(obj["source"]), *flags)
            obj.setdefault("active", True)
            obj.setdefault("global", False)
            for key in ("prefix", "expression", "asteriskCompatible"):
                obj.setdefault(key, False)
        return obj

    # -- calls --------------------------------------------------------------------------------------
    def ingress(self, leg: Any, network: Any) -> Any:
        scheme, user, _, _ = split_uri(leg.to)
        if scheme != "tel":
            return None
        number = "+" + user.lstrip("+")
        with network.lock:
            for name, kinds in self.children.items():
                dnid = next((d for d in kinds["dnids"].values() if d.get("active", True)
                             and re.match(str(d.get("dnid")), number)), None)
                if dnid is None:
                    continue
                app = kinds["applications"].get(str(dnid.get("applicationId")))
                if app is None:
                    return Answer(404, "Not Found: the DNID's application is gone", via=leg.via)
                alias = self._alias(self.domains[name])
                cxml = app.get("type") == "cxml"
                break
            else:
                return None
        passed = f"cloudonix: {name} DNID {number} → {app['name']}"
        if not cxml:
            return Answer(200, "OK", {"vendor": "cloudonix", "kind": "application", "id": app["id"],
                                      "name": app["name"]}, [*leg.via, passed])
        return network.deliver(leg.next(f"sip:{number}@sip.vapi.ai", source=alias, passed=passed))

    def egress(self, gateway: str, leg: Any, network: Any) -> Any:
        with network.lock:
            domain = next((d for d in self.domains.values() if self._alias(d) == gateway.lower()), None)
            if domain is None:
                return None
            profile = domain.get("profile") or {}
            trunks = [t for t in self.children[domain["domain"]]["trunks"].values()
                      if "outbound" in str(t.get("direction"))]
            if not (profile.get("allowed-border") and profile.get("redirect-unknown-to-border")) or not trunks:
                return Answer(404, "Not Found: the domain does not send unknown destinations to a border trunk",
                              via=leg.via)
        return network.deliver(leg.next(leg.to, source=str(trunks[0]["ip"]),
                                        passed=f"cloudonix: {domain['domain']} → trunk {trunks[0]['name']}"))

    @staticmethod
    def _alias(domain: dict[str, Any]) -> str:
        auto = next((a["alias"] for a in domain.get("aliases") or [] if a.get("type") == "auto"), "")
        return f"{auto}.sip.cloudonix.net".lower()

    def _domain(self, ref: str) -> dict[str, Any]:
        for domain in self.domains.values():
            if ref in (domain["domain"], str(domain["id"]), domain["uuid"]):
                return domain
        raise fail(404, "Domain not found")

    def _child(self, d: str, kind: str, ref: str) -> dict[str, Any]:
        pool = self.children[self._domain(d)["domain"]][kind]
        keys = {"both": ("id", "name", "uuid"), "id": ("id", "uuid"), "name": ("name",)}[
            self.quirks["application_key"] if kind == "applications" else "both"]
        for obj in pool.values():
            if ref in (str(obj.get(k)) for k in keys):
                return obj
        raise fail(404, f"{kind[:-1]} not found")

    @staticmethod
    def _out(obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        if out.get("defaultApplication", 0) is None:  # data saved before it was left out while unset
            del out["defaultApplication"]
        return out

    def _take(self) -> int:
        self._next += 1
        return self._next


EMULATOR = CloudonixEmulator  # found by voxplan.sandbox.core.emulators()
