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
    floor = math.ceil(n / 100) + math.ceil(n / 1000) + 1 + 1 + 1
    assert sum(requests.values()) == floor, requests
    assert all(not key.endswith("{id}") and "/v1/numbers/" not in key for key in requests)  # never one per resource
    resources = 2 * n + 2 + 2 + 2
    assert resources >= 10 * floor  # what a per-resource refresh would send, vs ours


def test_a_plan_process_never_imports_httpx_or_the_email_based_http_stack(cli: Cli, sandbox: SandboxServer) -> None:
    # the lean wire is the whole network path of a plan; httpx and http.client (with urllib.request and the
    # email package under them) cost a tenth of a large plan's CPU just to import
    import os
    import subprocess

    sandbox.seed(numbers={"wavix": [number(i) for i in range(3)]})
    stack = cli.stack("scale.yaml", stack_text(3))
    cli.env.update(WAVIX_TRUNK_PASSWORD="bench-password")
    cli("apply", "--auto-approve", str(stack))
    probe = ("import sys, voxplan.cli as c\nsys.argv = ['voxplan', 'plan', '--detailed-exitcode', sys.argv[1]]\n"
             "try:\n    c.main()\nexcept SystemExit as exc:\n    code = exc.code\n"
             "print('EXIT', code, sorted(m for m in ('httpx', 'http.client', 'urllib.request', 'email.parser', 'ssl')"
             " if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    out = subprocess.run([sys.executable, "-c", probe, str(stack)], env={**env, **cli.env}, cwd=cli.workdir,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "EXIT 0 []", out.stdout[-2000:] + out.stderr[-2000:]
