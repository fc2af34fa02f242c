"""Pacing against an account's request limit (the served sandbox refuses what is over N per second with
429): the default budgets draw no refusal; a budget set too high draws 429s, slows down (AIMD), makes no
lookup after a 429 (it says the server did nothing) and still converges."""

from __future__ import annotations

import pytest

from tests.conftest import Cli, SandboxServer, loopback
from tests.test_hardening import assert_no_duplicates_or_orphans


def numbers(n: int) -> list[str]:
    return [f"+1212{2_000_000 + i:07d}" for i in range(n)]


def stack(n: int, limit: str = "") -> str:
    extra = f", rate_limit: {limit}" if limit else ""
    lines = ["version: 1", "stack: paced", "providers:", f'  vapi: {{api_key: "${{env:VAPI_API_KEY}}"{extra}}}',
             f'  wavix: {{api_key: "${{env:WAVIX_API_KEY}}"{extra}}}',
             "trunks:", '  wx: {carrier: wavix, password: "${env:WAVIX_TRUNK_PASSWORD}"}',
             "assistants:", "  a: {name: Agent, first_message: Hello}", "numbers:"]
    lines += [f'  "{num}": {{carrier: wavix, trunk: wx}}' for num in numbers(n)]
    lines += ["routes:"] + [f'  "{num}": {{assistant: a}}' for num in numbers(n)]
    return "\n".join(lines) + "\n"


def limited(sandbox: SandboxServer, n: int, per_second: int) -> None:
    sandbox.seed(numbers={"wavix": numbers(n)})
    for vendor in ("vapi", "wavix"):
        loopback.post(f"{sandbox.url}/_sandbox/ratelimit", json={"vendor": vendor, "per_second": per_second},
                   timeout=10).raise_for_status()


def unlimited(sandbox: SandboxServer) -> None:
    """The inventory below reads the vendors' APIs directly, unpaced."""
    for vendor in ("vapi", "wavix"):
        loopback.post(f"{sandbox.url}/_sandbox/ratelimit", json={"vendor": vendor, "per_second": 0},
                   timeout=10).raise_for_status()


def refusals(sandbox: SandboxServer) -> int:
    return sum(n for key, n in sandbox.stats()["statuses"].items() if key.endswith(" 429"))


def run_at_default_budget(cli: Cli, sandbox: SandboxServer, n: int) -> None:
    limited(sandbox, n, 10)
    path = cli.stack("paced.yaml", stack(n))
    sandbox.clear_stats()
    cli("apply", "--auto-approve", str(path))
    assert refusals(sandbox) == 0, sandbox.stats()["statuses"]
    cli("plan", str(path), "--detailed-exitcode", code=0)
    unlimited(sandbox)
    assert_no_duplicates_or_orphans(cli, sandbox)


def test_the_default_budget_stays_under_a_10_per_second_account(cli: Cli, sandbox: SandboxServer) -> None:
    run_at_default_budget(cli, sandbox, 60)


@pytest.mark.slow
def test_1000_numbers_at_the_default_budget_under_a_10_per_second_account(cli: Cli, sandbox: SandboxServer) -> None:
    run_at_default_budget(cli, sandbox, 1000)


def test_a_budget_set_too_high_slows_down_on_429_without_lookups_and_converges(cli: Cli,
                                                                              sandbox: SandboxServer) -> None:
    n = 60
    limited(sandbox, n, 10)
    path = cli.stack("paced.yaml", stack(n, "{requests: 40, per_seconds: 1}"))
    sandbox.clear_stats()
    cli("apply", "--auto-approve", str(path))
    stats = sandbox.stats()
    assert refusals(sandbox) > 0, "the account's limit was never hit: the test proves nothing"
    listed = ("vapi GET /v2/phone-number", "vapi GET /credential", "vapi GET /assistant")
    lists = {k: v for k, v in stats["requests"].items() if k.startswith(listed)}
    # refresh lists each kind once, and a 429 may repeat that one request; a lookup would add requests
    # with the created object's key, after the refresh: none of those
    assert all(count <= 1 + refusals(sandbox) for count in lists.values()), lists
    assert stats["requests"].get("vapi GET /v2/phone-number", 0) < 5, stats["requests"]
    cli("plan", str(path), "--detailed-exitcode", code=0)
    unlimited(sandbox)
    assert_no_duplicates_or_orphans(cli, sandbox)
