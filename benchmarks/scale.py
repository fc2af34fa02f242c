"""Scale benchmark (a script, not a test): refresh and apply against `voxplan sandbox serve --latency-ms 100`.

For N numbers (N = 100, 1,000, 10,000) on Wavix trunks (one per 100 numbers), each routed to one of
N/100 assistants, it prints:

- refresh requests vs the floor Σ ceil(N_kind / largest page), and refresh wall vs floor × RTT;
- apply wall for the N-number create vs its bound max(DAG depth × RTT, changes × RTT / parallelism,
  the slowest vendor's changes / its rate budget) — vendors are paced independently and run at once, so
  the budget term is the largest vendor's, not their sum;
- CPU seconds and peak RSS of a whole `voxplan plan` process, the same account served with no latency
  (the least CPU of five runs: a shared 2-core box varies by a quarter from run to run; RSS the most,
  read from the process itself);
- a per-resource baseline (one GET per resource at parallelism 10, Terraform's way): requests and wall.

Run: python benchmarks/scale.py [--sizes 100,1000,10000] [--rtt-ms 100] [--budget 100]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voxplan import workflow  # noqa: E402

PAGES = {"wavix.number": 100, "wavix.trunk": 100, "vapi.phone_number": 1000, "vapi.credential": 1000,
         "vapi.assistant": 1000}
PARALLELISM = 10


def start_server(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", "sandbox", "serve", "--port", "0",
                             "--latency-ms", str(latency_ms)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    match = re.search(r"(http://[\d.]+:\d+)", proc.stderr.readline().decode())
    assert match, "sandbox did not start"
    return proc, match.group(1)


def stack_text(n: int, budget: int = 100) -> str:
    """The benchmark's account allows `budget` requests per second per vendor (set in the stack, as a user
    whose account takes more than the defaults would)."""
    groups = max(1, n // 100)
    limit = f"rate_limit: {{requests: {budget}, per_seconds: 1}}"
    lines = ["version: 1", f"stack: scale-{n}", "providers:", f'  vapi: {{api_key: "${{env:VAPI_API_KEY}}", {limit}}}',
             f'  wavix: {{api_key: "${{env:WAVIX_API_KEY}}", {limit}}}', "trunks:"]
    lines += [f'  wx{g}: {{carrier: wavix, password: "${{env:WAVIX_TRUNK_PASSWORD}}", caller_id: "{number(g * 100)}"}}'
              for g in range(groups)]
    lines.append("assistants:")
    lines += [f"  a{g}: {{name: Agent {g}, first_message: Hello from {g}}}" for g in range(groups)]
    lines.append("numbers:")
    lines += [f'  "{number(i)}": {{carrier: wavix, trunk: wx{min(i // 100, groups - 1)}}}' for i in range(n)]
    lines.append("routes:")
    lines += [f'  "{number(i)}": {{assistant: a{min(i // 100, groups - 1)}}}' for i in range(n)]
    return "\n".join(lines) + "\n"


def number(i: int) -> str:
    """A number libphonenumber calls valid (212-2xx-xxxx is a New York range; +1 555 is no area code, and
    validate parses every number): up to 8,000,000 of them."""
    return f"+1212{2_000_000 + i:07d}"


def stats(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/_sandbox/stats").json())


def refresh_only_wall(stack: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """Refresh in this process (no interpreter start-up in the figure): wall, requests, objects seen."""
    os.environ.update(env)
    loaded = workflow.load(stack)
    with workflow.connect(loaded) as provs:
        state = workflow.load_state(loaded)
        kinds = {r.kind for r in loaded.desired}
        started = time.perf_counter()
        live = workflow.refresh(provs, kinds)
        wall = time.perf_counter() - started
        requests = sum(c.requests for c in provs.clients.values())
    del state
    return wall, requests, sum(len(v.by_id) for v in live.values())


def floor(counts: dict[str, int]) -> int:
    """Σ ceil(objects / page) per kind, plus one GET per Wavix trunk: its list items are summaries without
    the fields voxplan compares, so each declared trunk is read in full."""
    return sum(max(1, math.ceil(n / PAGES[k])) for k, n in counts.items()) + counts.get("wavix.trunk", 0)


def baseline(url: str, state_file: Path, rtt: float) -> tuple[int, float]:
    """Terraform's refresh: one GET per resource, 10 at a time."""
    entries = json.loads(state_file.read_text())["resources"].values()
    paths = {"vapi.phone_number": "/vapi/phone-number/{}", "vapi.credential": "/vapi/credential/{}",
             "vapi.assistant": "/vapi/assistant/{}", "wavix.trunk": "/wavix/v1/trunks/{}",
             "wavix.number": "/wavix/v1/numbers/{}"}
    urls = [url + paths[e["kind"]].format(e["id"]) for e in entries]
    with httpx.Client(headers={"Authorization": "Bearer k"}, timeout=60,
                      limits=httpx.Limits(max_connections=PARALLELISM)) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(PARALLELISM) as pool:
            list(pool.map(lambda u: client.get(u).raise_for_status(), urls))
        return len(urls), time.perf_counter() - started


def apply_in_process(stack: Path, env: dict[str, str]) -> float:
    """Wall time of the apply phase alone (after its refresh and plan), in this process, run as the CLI runs
    it."""
    os.environ.update(env)
    loaded = workflow.load(stack)
    marks: list[float] = []
    with workflow.connect(loaded) as provs:
        def confirm(plan: Any) -> bool:  # as the CLI's --auto-approve
            return True

        _, result = workflow.apply(loaded, provs, confirm=confirm, parallelism=PARALLELISM,
                                   on_plan=lambda plan: marks.append(time.perf_counter()))
    assert result is not None and result.ok, result.errors[:3] if result else "cancelled"
    return time.perf_counter() - marks[0]


# `voxplan plan STACK` through the console entry point, reporting its own peak RSS on the way out. The
# kernel's ru_maxrss is no use here: it carries over exec, so a child forked from this (by then large)
# process would report this one's size. The report is written on the way out.
PLAN = """
import atexit, os, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            os.write(2, f"peak-rss-kb {line.split()[1]}\\n".encode())
atexit.register(report)
sys.argv = ["voxplan", "plan", sys.argv[1]]
from voxplan.cli import main
main(prog_name="voxplan")
"""


def plan_cpu_rss(stack: Path, env: dict[str, str], runs: int = 5) -> tuple[float, float]:
    """CPU (user + system) and peak RSS of whole `voxplan plan` processes: the least CPU (a shared box only
    ever adds to it), the most RSS."""
    cpu, rss = [], []
    # as installed, voxplan runs from byte-code pip compiled; a shell that sets PYTHONDONTWRITEBYTECODE
    # would recompile every module on every run, which is not voxplan's cost
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(runs):
        proc = subprocess.Popen([sys.executable, "-c", PLAN, str(stack)], env={**base, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.stderr.close()
        assert os.waitstatus_to_exitcode(status) == 0, f"plan failed: {err[-500:]}"
        cpu.append(usage.ru_utime + usage.ru_stime)
        peak = re.search(r"peak-rss-kb (\d+)", err)
        assert peak, err[-500:]
        rss.append(int(peak.group(1)) / 1024)
    return min(cpu), max(rss)


def run(n: int, rtt_ms: float, workdir: Path, budget: int) -> dict[str, Any]:
    rtt = rtt_ms / 1000
    proc, url = start_server(rtt_ms)
    try:
        httpx.post(f"{url}/_sandbox/seed", json={"numbers": {"wavix": [number(i) for i in range(n)]}},
                   timeout=120).raise_for_status()
        stack = workdir / f"scale-{n}.yaml"
        stack.write_text(stack_text(n, budget))
        env = {"VOXPLAN_VAPI_BASE_URL": f"{url}/vapi", "VOXPLAN_WAVIX_BASE_URL": f"{url}/wavix",
               "VAPI_API_KEY": "k", "WAVIX_API_KEY": "k", "WAVIX_TRUNK_PASSWORD": "bench-password"}
        groups = max(1, n // 100)

        apply_wall = apply_in_process(stack, env)
        # wavix: routes + trunks; vapi: numbers + credentials + assistants
        per_vendor = {"wavix": n + groups, "vapi": n + 2 * groups}
        changes = sum(per_vendor.values())
        depth = 4  # trunk -> credential -> Vapi number -> carrier route (assistants in parallel)
        paced = max(count / (budget / 1.1) for count in per_vendor.values())  # the pacer's window keeps a 10 % margin
        apply_bound = max(depth * rtt, changes * rtt / PARALLELISM, paced)

        counts = {"wavix.number": n, "wavix.trunk": groups, "vapi.phone_number": n, "vapi.credential": groups,
                  "vapi.assistant": groups}
        wall, requests, seen = refresh_only_wall(stack, env)
        assert seen >= sum(counts.values()), (seen, counts)
        base_requests, base_wall = baseline(url, workdir / ".voxplan" / f"scale-{n}.state.json", rtt)

        httpx.post(f"{url}/_sandbox/latency", json={"ms": 0}).raise_for_status()  # same account, no latency
        cpu, rss = plan_cpu_rss(stack, env)
        return {"cpu": cpu, "rss": rss, "n": n, "floor": floor(counts), "requests": requests, "wall": wall,
                "apply_wall": apply_wall, "apply_bound": apply_bound, "changes": changes,
                "base_requests": base_requests, "base_wall": base_wall, "rtt": rtt}
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def reference_cpu() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this (possibly shared) machine is right now."""
    started = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--rtt-ms", type=float, default=100.0)
    parser.add_argument("--budget", type=int, default=100,
                        help="requests per second per vendor (the stack's rate_limit)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows.append(run(n, args.rtt_ms, Path(tmp), args.budget))
            print(f"  measured N={n}", file=sys.stderr, flush=True)
    print(f"voxplan scale benchmark, {date.today()}, {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, RTT {args.rtt_ms:g} ms, parallelism {PARALLELISM}, "
          f"budget {args.budget}/s per vendor; "
          f"reference loop {reference_cpu():.2f} s CPU (CPU figures scale with it)\n")
    head = ("| N | refresh req / floor | refresh wall / (floor×RTT) | apply wall / bound | plan CPU s | plan RSS MB "
            "| baseline req / ours | baseline wall / ours |")
    print(head)
    print("|" + "---|" * 8)
    for r in rows:
        print(f"| {r['n']:,} | {r['requests']} / {r['floor']} = {r['requests'] / r['floor']:.2f} "
              f"| {r['wall']:.2f} s / {r['floor'] * r['rtt']:.2f} s = {r['wall'] / (r['floor'] * r['rtt']):.2f} "
              f"| {r['apply_wall']:.1f} s / {r['apply_bound']:.1f} s = {r['apply_wall'] / r['apply_bound']:.2f} "
              f"| {r['cpu']:.2f} | {r['rss']:.0f} "
              f"| {r['base_requests']:,} / {r['requests']} = {r['base_requests'] / r['requests']:.0f}× "
              f"| {r['base_wall']:.2f} s / {r['wall']:.2f} s = {r['base_wall'] / r['wall']:.1f}× |")
    print()
    checks = []
    for r in rows:
        checks += [
            (f"N={r['n']}: refresh requests ≤ 1.01 × floor", r["requests"] <= 1.01 * r["floor"]),
            (f"N={r['n']}: refresh wall ≤ 1.3 × floor × RTT", r["wall"] <= 1.3 * r["floor"] * r["rtt"]),
            (f"N={r['n']}: apply wall ≤ 1.1 × bound", r["apply_wall"] <= 1.1 * r["apply_bound"]),
        ]
        if r["n"] >= 10_000:
            checks += [(f"N={r['n']}: plan CPU < 1.5 s", r["cpu"] < 1.5),
                       (f"N={r['n']}: plan RSS < 200 MB", r["rss"] < 200)]
        if r["n"] == 1000:
            checks.append((f"N={r['n']}: ≥ 10× fewer requests than per-resource",
                           r["base_requests"] >= 10 * r["requests"]))
    if len(rows) >= 3:  # linear: start-up is a fixed cost and small-N figures are noise-sized, so compare
        a, b, c = rows[-3:]  # the two larger sizes: 10× the numbers may cost at most 15× the CPU
        low = (b["cpu"] - a["cpu"]) / (b["n"] - a["n"]) * 1000
        high = (c["cpu"] - b["cpu"]) / (c["n"] - b["n"]) * 1000
        print(f"plan CPU per 1,000 more numbers: {low:.3f} s from N={a['n']:,} to {b['n']:,}, "
              f"{high:.3f} s from {b['n']:,} to {c['n']:,}\n")
        growth = c["cpu"] / b["cpu"]
        checks.append((f"plan CPU grows linearly ({c['n'] // b['n']}× the numbers: {growth:.1f}× the CPU, ≤ "
                       f"{1.5 * c['n'] / b['n']:.0f}×)", growth <= 1.5 * c["n"] / b["n"]))
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
