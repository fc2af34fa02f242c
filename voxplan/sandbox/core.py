"""Framework-free request handling shared by the in-process transport and the HTTP server."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str  # without the vendor prefix
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection instead of answering (an injected fault)
    upgrade: Callable[[Any], None] | None = None  # 101: run this on the WebSocket (HTTP server only)

    def encode(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass(frozen=True)
class Exchange:
    """One request an emulator received and the answer it gave, as an observer sees them."""

    vendor: str
    method: str
    path: str  # without the vendor prefix
    query_string: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    response: Response


Observer = Callable[[Exchange], None]
OBSERVER_ENV = "VOXPLAN_SANDBOX_OBSERVER"
LOG_SIZE = 100_000  # requests the log keeps (the oldest go first)


def observers_from_env() -> list[Observer]:
    """`module:function` names in VOXPLAN_SANDBOX_OBSERVER (comma-separated): callables that see every
    exchange. The test suite hangs its OpenAPI contract check here, in the served sandbox too; nothing
    in voxplan sets it."""
    found: list[Observer] = []
    for name in filter(None, (n.strip() for n in os.environ.get(OBSERVER_ENV, "").split(","))):
        module, _, attr = name.partition(":")
        found.append(getattr(importlib.import_module(module), attr))
    return found


class ApiError(Exception):
    def __init__(self, status: int, body: Any):
        self.status = status
        self.body = body


def key_refused(request: Request, expected: str | None, query_param: str = "") -> bool:
    """Whether an emulator answers its vendor's 401 (or 403): no key, or, when the sandbox was given one
    (`Sandbox(api_key=…)`, `voxplan sandbox serve --api-key`), any other. The key travels as
    `Authorization: Bearer <key>`, or in `query_param` where a vendor still takes one there (Wavix `appid`)."""
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth.startswith("Bearer ") else ""
    key = key or (request.query.get(query_param, "") if query_param else "")
    return not key or (expected is not None and key != expected)


class Vendor(Protocol):
    name: str
    api_key: str | None  # the only key it accepts; None: any non-empty key

    def handle(self, request: Request) -> Response: ...

    def dump(self) -> dict[str, Any]: ...

    def load(self, data: dict[str, Any]) -> None: ...

    def error_body(self, status: int, message: str) -> Any:
        """An error answer's body in the vendor's own envelope."""
        ...


Route = tuple[str, re.Pattern[str], Callable[..., Response]]


# -- the emulated network: calls between the emulated accounts -------------------------------------------

@dataclass
class Leg:
    """One call leg as the emulated network carries it: to a number (`tel:+E164`) or a SIP URI, from a
    caller, with the SIP headers its INVITE carries, arriving from `source` (an IP or host), and, when it
    leaves through a trunk, the digest login offered (`auth`: username and the SHA-256 of the password, as
    the emulators keep passwords)."""

    to: str
    caller: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""
    auth: tuple[str, str] | None = None
    depth: int = 0
    via: list[str] = field(default_factory=list)  # what the leg passed, as `vendor: what`, for the record

    def next(self, to: str, *, source: str = "", headers: dict[str, str] | None = None, passed: str = "") -> Leg:
        return Leg(to, self.caller, {**self.headers, **(headers or {})}, source, None, self.depth + 1,
                   [*self.via, passed] if passed else list(self.via))


@dataclass
class Answer:
    """How a leg ended: a SIP status (200 answered; 401, 403, 404, 480, 603 … as the far side would answer),
    its reason, who answered (`by`: vendor, kind, id, name, and the far side's call id), and the hops."""

    status: int
    reason: str
    by: dict[str, Any] = field(default_factory=dict)
    via: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Network:
    """Carries calls between the emulators, as the real network would: an emulator that takes legs offers
    `ingress(leg, network) -> Answer | None` (None: not a leg for it; `ingress_last` is asked after every
    other), and one whose gateways carry outbound legs offers `egress(gateway, leg, network)`. A leg nobody
    takes has left the emulated accounts: a phone or SIP peer out there answers it. Emulators reach each
    other only through here (they never import one another), and hold the sandbox lock only while they read
    or write their own data, so a leg may cross a real HTTP hop (OpenAI's webhook to `voxplan serve`)."""

    MAX_DEPTH = 16

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.lock = sandbox.lock
        self._threads: list[threading.Thread] = []

    def deliver(self, leg: Leg) -> Answer:
        if leg.depth > self.MAX_DEPTH:
            return Answer(482, "Loop Detected", via=leg.via)
        for hook in ("ingress", "ingress_last"):
            for vendor in self.sandbox.vendors.values():
                take = getattr(vendor, hook, None)
                found = take(leg, self) if take is not None else None
                if found is not None:
                    return found
        what = "a phone on the PSTN" if leg.to.startswith("tel:") else "a SIP peer outside the emulated accounts"
        return Answer(200, f"answered by {what}", {"vendor": "outside", "kind": "pstn" if leg.to.startswith("tel:")
                                                   else "sip", "id": leg.to}, leg.via)

    def egress(self, gateway: str, leg: Leg) -> Answer:
        """An outbound leg through a trunk's gateway: the carrier behind it authenticates and places it; a
        gateway no emulator runs is the user's own SIP peer, which passes the leg on."""
        for vendor in self.sandbox.vendors.values():
            carry = getattr(vendor, "egress", None)
            found = carry(gateway, leg, self) if carry is not None else None
            if found is not None:
                return found
        return self.deliver(leg.next(leg.to, source=gateway, passed=f"peer {gateway}"))

    def run(self, work: Callable[[], None]) -> None:
        """Carry a call on a thread of its own: the API that placed it has already answered."""
        thread = threading.Thread(target=work, daemon=True, name="voxplan-sandbox-call")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for the calls in flight (tests, and a clean shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)


def emulators() -> list[type[Any]]:
    """Every emulator: each module of this package that names one as `EMULATOR` (a new vendor's emulator
    is its module; no list to keep)."""
    import importlib
    import pkgutil

    import voxplan.sandbox as package

    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "EMULATOR"):
            found.append(module.EMULATOR)
    return found


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")
        self.routes.append((method, regex, handler))

    def handle(self, request: Request, missing: ApiError) -> Response:
        """Call the handler for `request`, or raise `missing` (each vendor words its 404 its own way)."""
        found = self.dispatch(request)
        if found is None:
            raise missing
        handler, params = found
        return handler(request, **params)

    def dispatch(self, request: Request) -> tuple[Callable[..., Response], dict[str, str]] | None:
        allowed = False
        for method, regex, handler in self.routes:
            match = regex.match(request.path)
            if match:
                if method == request.method:
                    return handler, match.groupdict()
                allowed = True
        if allowed:
            raise ApiError(405, None)  # the vendor's own error body is filled in by Sandbox.handle
        return None


class Sandbox:
    """All emulated vendors, a request counter, faults and latency, and optional persistence."""

    def __init__(self, data_file: str | Path | None = None, *, latency_ms: float = 0.0,
                 fault_rate: float = 0.0, fault_kinds: tuple[str, ...] = ("429", "503"), seed: int | None = None,
                 api_key: str | Mapping[str, str] | None = None):
        """`api_key`: the one key every vendor accepts (a string), or each vendor's own (a mapping; a vendor
        not named accepts any); any other key gets that vendor's own 401 (didlogic's 403). None: any key."""
        self.vendors: dict[str, Vendor] = {cls.name: cls() for cls in emulators()}
        for name, vendor in self.vendors.items():
            vendor.api_key = api_key.get(name) if isinstance(api_key, Mapping) else api_key
        self.lock = threading.RLock()
        self.network = Network(self)
        for vendor in self.vendors.values():
            if hasattr(vendor, "network"):  # an emulator that places or takes calls
                vendor.network = self.network  # type: ignore[attr-defined]
            if hasattr(vendor, "shared_lock"):  # an emulator whose test hooks run outside `handle`
                vendor.shared_lock = self.lock
        self.requests: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)  # each request as it arrives (GET /_sandbox/log)
        self.rate_limits: dict[str, float] = {}  # vendor -> requests per second the account allows
        self._recent: dict[str, deque[float]] = {}
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self.faults: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()  # "<vendor> <status>" of every answer
        self.mutations = 0  # successful non-GET requests
        self.handling = 0.0  # seconds the sandbox spent on vendor requests, the injected latency left out
        self.hold_at = 0  # hold the answer to this mutation (crash tests); 0 = never
        self.holding = threading.Event()
        self.release = threading.Event()
        self._random = random.Random(seed)
        self.observers: list[Observer] = observers_from_env()
        self.data_file = Path(data_file) if data_file else None
        if self.data_file and self.data_file.exists():
            self.load(json.loads(self.data_file.read_text()))

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, query_string: str, headers: dict[str, str],
               body: bytes) -> Response:
        if raw_path.startswith("/_sandbox"):
            return self._control(method, raw_path, query_string, body)
        parts = raw_path.lstrip("/").split("/", 1)
        vendor = self.vendors.get(parts[0])
        if vendor is None:
            return Response(404, {"message": f"no emulated vendor at /{parts[0]}", "statusCode": 404})
        began = time.perf_counter()
        query = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        request = Request(method.upper(), "/" + (parts[1] if len(parts) > 1 else ""), query,
                          {k.lower(): v for k, v in headers.items()}, body)
        with self.lock:
            self.requests[f"{parts[0]} {request.method} {_template(request.path)}"] += 1
            self.log.append({"at": time.time(), "vendor": parts[0], "method": request.method, "path": request.path,
                             "client": _client(request.headers)})
            fault = self._fault(parts[0]) or self._over_limit(parts[0])
        if fault is not None and not (fault.reset and fault.status == 200):
            self._handled(began)
            return fault  # refused before doing anything
        if self.latency_ms:
            slept = time.perf_counter()
            time.sleep(self.latency_ms / 1000.0)
            began += time.perf_counter() - slept  # the latency asked for is not the sandbox's own time
        with self.lock:
            try:
                response = vendor.handle(request)
            except ApiError as exc:
                answer = exc.body if exc.body is not None else self.error_body(parts[0], exc.status,
                                                                                "Method Not Allowed")
                response = Response(exc.status, answer)
            self.statuses[f"{parts[0]} {response.status}"] += 1
            mutated = request.method != "GET" and response.status < 300
            if mutated:
                self.save()
                self.mutations += 1
            hold = mutated and self.hold_at == self.mutations
        for observe in self.observers:
            observe(Exchange(parts[0], request.method, request.path, query_string, request.headers, body, response))
        self._handled(began)
        if hold:  # done, but the answer waits: a client killed now never learns it happened
            self.holding.set()
            self.release.wait(timeout=60)
        return fault if fault is not None else response  # a reset after the work: the answer is lost

    def _handled(self, began: float) -> None:
        """Count the sandbox's own time on a vendor request (`handling_s` of /_sandbox/stats): the latency it
        was told to add and a held answer's wait left out."""
        spent = time.perf_counter() - began
        with self.lock:
            self.handling += spent

    def _over_limit(self, vendor: str) -> Response | None:
        """An account's request limit (`/_sandbox/ratelimit`): more than N requests in the last second of one
        vendor are refused with 429 and Retry-After: 1, as a rate-limited API answers, doing nothing."""
        limit = self.rate_limits.get(vendor)
        if not limit:
            return None
        now = time.monotonic()
        recent = self._recent.setdefault(vendor, deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= limit:
            self.statuses[f"{vendor} 429"] += 1
            return Response(429, self.error_body(vendor, 429, "Too Many Requests"), {"Retry-After": "1"})
        recent.append(now)
        return None

    def error_body(self, vendor: str, status: int, message: str) -> Any:
        """An error answer as `vendor` words it (each emulator's `error_body`, from its fact sheet): the
        sandbox's own 429s, injected 5xx and 405s must look like the vendor's."""
        make = getattr(self.vendors.get(vendor), "error_body", None)
        return make(status, message) if make is not None else {"message": message, "statusCode": status}

    def _fault(self, vendor: str) -> Response | None:
        """An injected fault, or None. A `reset` drops the connection either before the request is handled
        or after (status 200 marks "after": the work is done, the answer is lost)."""
        if not self.fault_rate or self._random.random() >= self.fault_rate:
            return None
        kind = self._random.choice(self.fault_kinds)
        if kind == "reset":
            after = self._random.random() < 0.5
            self.faults["reset-after" if after else "reset"] += 1
            return Response(200 if after else 0, reset=True)
        self.faults[kind] += 1
        if kind == "429":
            return Response(429, self.error_body(vendor, 429, "Too Many Requests"), {"Retry-After": "0"})
        status = int(kind) if kind.isdigit() else 503
        return Response(status, self.error_body(vendor, status, "Service Unavailable"))

    def _control(self, method: str, path: str, query_string: str, body: bytes = b"") -> Response:
        """Test hooks, not any vendor's API: request counts, reset, and write-only secret checks."""
        with self.lock:
            if path.rstrip("/") == "/_sandbox/secret" and method.upper() == "POST":
                # {"vendor", "id", "path", "sha256"}: does the stored write-only value hash to this?
                ask = json.loads(body or b"{}")
                vendor = self.vendors.get(ask.get("vendor", ""))
                stored = getattr(vendor, "secrets", {}).get(f"{ask.get('id')}:{ask.get('path')}")
                return Response(200, {"set": stored is not None, "matches": stored == ask.get("sha256")})
            if path.rstrip("/") == "/_sandbox/log":
                # every request as it arrived: when (Unix time), vendor, method, path, and which client (a
                # digest of its credentials, so two runners with different keys can be told apart)
                return Response(200, list(self.log))
            if path.rstrip("/") == "/_sandbox/stats":
                if method.upper() == "DELETE":
                    self.log.clear()
                    self.requests.clear()
                    self.faults.clear()
                    self.statuses.clear()
                    self.handling = 0.0
                return Response(200, {"requests": dict(self.requests), "total": sum(self.requests.values()),
                                      "handling_s": round(self.handling, 6),
                                      "faults": dict(self.faults), "statuses": dict(self.statuses),
                                      "mutations": self.mutations, "holding": self.holding.is_set()})
            if path.rstrip("/") == "/_sandbox/seed" and method.upper() == "POST":
                # what the account owner did by hand: buy numbers, create a Cloudonix domain
                ask = json.loads(body or b"{}")
                self.seed(numbers=ask.get("numbers") or {}, domains=ask.get("domains") or [],
                          available=ask.get("available") or {})
                return Response(200, {"ok": True})
            if path.rstrip("/") == "/_sandbox/hold" and method.upper() == "POST":
                # {"at": K}: the K-th mutation from now is done but its answer is held until /release
                self.hold_at = self.mutations + int(json.loads(body or b"{}").get("at", 0))
                self.holding.clear()
                self.release.clear()
                return Response(200, {"hold_at": self.hold_at})
            if path.rstrip("/") == "/_sandbox/release" and method.upper() == "POST":
                self.hold_at = 0
                self.release.set()
                return Response(200, {"ok": True})
            if path.rstrip("/") == "/_sandbox/ratelimit" and method.upper() == "POST":
                # {"vendor": "wavix", "per_second": 10}: the account's limit (0 or absent: none)
                ask = json.loads(body or b"{}")
                self.rate_limits[str(ask.get("vendor"))] = float(ask.get("per_second") or 0)
                return Response(200, {"rate_limits": self.rate_limits})
            if path.rstrip("/") == "/_sandbox/latency" and method.upper() == "POST":
                self.latency_ms = float(json.loads(body or b"{}").get("ms", 0))
                return Response(200, {"latency_ms": self.latency_ms})
            if path.rstrip("/") == "/_sandbox/faults" and method.upper() == "POST":
                ask = json.loads(body or b"{}")
                self.fault_rate = float(ask.get("rate", 0))
                self.fault_kinds = tuple(ask.get("kinds") or ("429", "503", "reset"))
                self._random = random.Random(ask.get("seed"))
                return Response(200, {"ok": True})
            if path.rstrip("/") == "/_sandbox/quirks" and method.upper() == "POST":
                # {"vapi": {"list_order": "oldest"}}: answers no source settles, switched (see each emulator)
                for name, wanted in json.loads(body or b"{}").items():
                    quirks = getattr(self.vendors.get(name), "quirks", None)
                    unknown = set(wanted) - set(quirks or {})
                    if quirks is None or unknown:
                        return Response(400, {"message": f"no such quirk: {name} {sorted(unknown)}"})
                    quirks.update(wanted)
                return Response(200, {n: getattr(v, "quirks", {}) for n, v in self.vendors.items()})
            if path.rstrip("/") == "/_sandbox/reset" and method.upper() == "POST":
                self.reset()
                return Response(200, {"ok": True})
        vendor_name, _, rest = path.removeprefix("/_sandbox/").partition("/")
        control = getattr(self.vendors.get(vendor_name), "control", None)
        if control is not None:  # a vendor's own hooks: /_sandbox/<vendor>/..., which take `self.lock` themselves
            # (OpenAI's deliver a webhook whose receiver calls back into the sandbox before it answers)
            return control(method.upper(), "/" + rest.rstrip("/"), body)  # type: ignore[no-any-return]
        return Response(404, {"message": "unknown sandbox control path"})

    def seed(self, *, numbers: dict[str, list[str]] | None = None, domains: list[str] | None = None,
             available: dict[str, list[Any]] | None = None) -> None:
        """Numbers bought on a carrier ({"wavix": ["+1…"]}), numbers a carrier has for sale (`available`: the
        same shape, or items with prices) and Cloudonix domains made in the cockpit."""
        with self.lock:
            for vendor, wanted in (available or {}).items():
                for item in wanted:
                    self.vendors[vendor].seed_available(item)  # type: ignore[attr-defined]
            for vendor, wanted in (numbers or {}).items():
                for number in wanted:
                    self.vendors[vendor].seed_number(number)  # type: ignore[attr-defined]
            for name in domains or []:
                self.vendors["cloudonix"].seed_domain(name)  # type: ignore[attr-defined]
            self.save()

    # -- persistence ------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {name: vendor.dump() for name, vendor in self.vendors.items()}

    def load(self, data: dict[str, Any]) -> None:
        for name, vendor in self.vendors.items():
            vendor.load(data.get(name) or {})

    def reset(self) -> None:
        self.load({})
        for vendor in self.vendors.values():
            if hasattr(vendor, "QUIRKS"):
                vendor.quirks = dict(vendor.QUIRKS)  # type: ignore[attr-defined]
        self.requests.clear()
        self.log.clear()
        self.statuses.clear()
        self.faults.clear()
        self.fault_rate = 0.0
        self.rate_limits.clear()
        self.hold_at = 0
        self.release.set()
        self.save()

    def save(self) -> None:
        if not self.data_file:
            return
        self.data_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.data_file.parent, prefix=".sandbox-")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.dump(), fh)
        os.replace(tmp, self.data_file)


def _client(headers: dict[str, str]) -> str:
    """Who sent a request, as the log shows it: a short digest of its credentials, never the credentials."""
    auth = headers.get("authorization") or headers.get("x-api-key") or ""
    return hashlib.sha256(auth.encode()).hexdigest()[:8] if auth else ""


_UUID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _template(path: str) -> str:
    return _UUID.sub("/{id}", path)
