"""Sandbox paging benchmark (a script, not a test): the emulators' cost of serving an account, per 1,000
objects, at two sizes, so growth shows (linear: the same figure at both sizes; quadratic: ten times it).

In one process, over the in-process transport (no sockets, no latency): N objects are put in each
emulator's data, then listed through voxplan's own adapters page by page — Vapi phone numbers
(/v2/phone-number, pages of 1,000), Vapi assistants (the v1 list paged by createdAt bounds), Wavix
numbers (pages of 100) and didlogic purchases (pages of 1,000) — and N Vapi phone numbers are created
by POST one at a time (each create checks the number is unique).

Run: python benchmarks/sandbox_paging.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voxplan import providers  # noqa: E402
from voxplan.providers.didlogic import Number as DidlogicNumber  # noqa: E402
from voxplan.providers.vapi.adapters import Assistant, PhoneNumber  # noqa: E402
from voxplan.providers.wavix import Number as WavixNumber  # noqa: E402
from voxplan.sandbox import Sandbox, SandboxTransport  # noqa: E402

ORG = "5ad1e7f0-0000-4000-8000-00000000a11a"
CRED = "00000000-0000-4000-8000-0000000c0000"


def objects(n: int, make: Callable[[int], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """n Vapi objects a millisecond apart (ten share each millisecond: ties on every page edge)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    out = {}
    for i in range(n):
        when = (base + timedelta(milliseconds=i // 10)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        oid = f"00000000-0000-4000-8000-{i:012d}"
        out[oid] = {"id": oid, "orgId": ORG, "createdAt": when, "updatedAt": when, **make(i)}
    return out


def box(n: int) -> Sandbox:
    numbers = objects(n, lambda i: {"provider": "byo-phone-number", "number": f"+1555{i:07d}", "credentialId": CRED,
                                    "numberE164CheckEnabled": True, "status": "active"})
    assistants = objects(n, lambda i: {"name": f"agent-{i}"})
    sandbox = Sandbox()  # no data file: a served sandbox keeps its account in memory
    sandbox.load({"vapi": {"store": {"phone-number": numbers, "assistant": assistants,
                                                   "credential": {CRED: {"id": CRED, "orgId": ORG,
                                                                         "provider": "byo-sip-trunk",
                                                                         "createdAt": "2026-01-01T00:00:00.000Z",
                                                                         "updatedAt": "2026-01-01T00:00:00.000Z",
                                                                         "gateways": []}}}}})
    sandbox.seed(numbers={"wavix": [f"+1212{2_000_000 + i:07d}" for i in range(n)],
                          "didlogic": [f"+1646{2_000_000 + i:07d}" for i in range(n)]})
    return sandbox


def timed(call: Callable[[], object]) -> float:
    started = time.process_time()
    call()
    return time.process_time() - started


def measure(n: int) -> dict[str, float]:
    sandbox = box(n)
    transport = SandboxTransport(sandbox)

    def client(vendor: str) -> Any:
        return providers.client(vendor, f"http://sandbox/{vendor}", "key", transport, {"rate_limit": "off"})

    def listed(adapter: Any) -> Callable[[], None]:
        def run() -> None:
            assert len(adapter.list(frozenset())) == n
        return run

    def creates() -> None:
        vapi = client("vapi")
        for i in range(n):
            vapi.request("POST", "/phone-number", json={"provider": "byo-phone-number", "credentialId": CRED,
                                                        "number": f"+1777{i:07d}"})

    return {"vapi /v2/phone-number": timed(listed(PhoneNumber(client("vapi")))),
            "vapi /assistant (v1)": timed(listed(Assistant(client("vapi")))),
            "wavix /v1/numbers": timed(listed(WavixNumber(client("wavix")))),
            "didlogic /v1/purchases": timed(listed(DidlogicNumber(client("didlogic")))),
            "vapi POST /phone-number": timed(creates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    rows = {n: measure(n) for n in sizes}
    print("| what | " + " | ".join(f"CPU ms per 1,000 at N={n:,}" for n in sizes) + " | growth |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for what in rows[sizes[0]]:
        per = [1e6 * rows[n][what] / n for n in sizes]
        print(f"| {what} | " + " | ".join(f"{p:.1f}" for p in per) + f" | {per[-1] / per[0]:.2f}× |")


if __name__ == "__main__":
    main()
