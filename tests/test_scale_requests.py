"""The benchmark's request-count targets at small N, as a CI test (counts, never timings)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from tests.conftest import Cli, SandboxServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from scale import number, stack_text  # noqa: E402


def test_refresh_is_one_paged_list_per_kind_at_the_floor(cli: Cli, sandbox: SandboxServer) -> None:
    n = 250  # 3 Wavix pages (100 each), 1 Vapi v2 page, 2 trunks, 2 credentials, 2 assistants
    sandbox.seed(numbers={"wavix": [number(i) for i in range(n)]})
    stack = cli.stack("scale.yaml", stack_text(n))
    cli.env.update(WAVIX_TRUNK_PASSWORD="bench-password")
    sandbox.clear_stats()
    cli("apply", "--auto-approve", str(stack))
    applied = sandbox.stats()["requests"]
    writes = sum(count for key, count in applied.items() if key.split()[1] != "GET")
    assert writes == 2 * n + 2 + 2 + 2  # one request per change: routes, Vapi numbers, trunks, creds, assistants
    sandbox.clear_stats()
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    requests = sandbox.stats()["requests"]
    trunks = 2  # Wavix list items lack fields voxplan compares: each declared trunk is read in full
    floor = math.ceil(n / 100) + math.ceil(n / 1000) + 1 + 1 + 1 + trunks
    assert sum(requests.values()) == floor, requests
    per_object = [key for key in requests if key.endswith("{id}") or "/v1/numbers/" in key or "/v1/trunks/" in key]
    assert sum(requests[k] for k in per_object) == trunks  # never one per resource, but for those
    resources = 2 * n + 2 + 2 + 2
    assert resources >= 10 * floor  # what a per-resource refresh would send, vs ours
