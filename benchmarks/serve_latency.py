"""serve benchmark (a script, not a test): webhook → accept latency on one replica with 50 calls in
flight, against `voxplan sandbox serve`.

It applies a two-agent stack, rotates the webhook's secret, starts one `voxplan serve` and has the emulator
sign deliveries (`deliver: false`) that it then sends itself. serve accepts each call at the emulator
before it answers the delivery, so a delivery's round trip IS the webhook → accept latency (the call
record's writes and the accept included). Three loads, each printed as p50/p90/p99/max of that round trip
(and of serve's own `latency_ms`):

- live: 50 calls in progress (accepted, their sideband WebSockets followed by serve), and new calls
  arriving at --rate per second: a replica's production load, and the acceptance figure;
- burst: 50 deliveries sent at the same instant, --bursts times: the worst queueing a replica sees;
- saturate: --in-flight deliveries kept in flight back to back: throughput, where latency is only the
  queue (in flight / throughput).

Run: python benchmarks/serve_latency.py [--calls 500] [--rate 20] [--bursts 10] [--in-flight 50]
     [--sandbox-latency-ms 0] [--pg URL]   (--pg: the PostgreSQL backend, records shared as between replicas)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

STACK = """\
version: 1
stack: bench
providers:
  wavix: {api_key: "${env:WAVIX_API_KEY}"}
  openai: {api_key: "${env:OPENAI_API_KEY}"}
numbers:
  "+14155550100": {carrier: wavix}
  "+14067704205": {carrier: wavix}
agents:
  sales: {model: gpt-realtime-mini, instructions: "You are Sam."}
  support: {model: gpt-realtime, instructions: "You are Alex.", transfer: [{to: "+17134810111"}]}
routes:
  "+14155550100": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: sales}
  "+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support}
webhooks:
  calls: {url: "http://127.0.0.1:9/openai/webhook"}
"""


def start(args: list[str], env: dict[str, str], cwd: Path, pattern: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", *args], cwd=cwd, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline().decode()
        if not line:
            raise SystemExit(f"{args[0]} did not start")
        match = re.search(pattern, line)
        if match:
            return proc, match.group(1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--sandbox-latency-ms", type=float, default=0.0)
    parser.add_argument("--pg", default="")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="voxplan-serve-bench-"))
    sandbox, url = start(["sandbox", "serve", "--port", "0", "--latency-ms", str(opts.sandbox_latency_ms)],
                         dict(os.environ), work, r"(http://[\d.]+:\d+)")
    serve: subprocess.Popen[bytes] | None = None
    try:
        env = {**os.environ, "WAVIX_API_KEY": "bench", "OPENAI_API_KEY": "bench",
               **{f"VOXPLAN_{v.upper()}_BASE_URL": f"{url}/{v}" for v in ("vapi", "wavix", "didlogic", "cloudonix",
                                                                              "openai")}}
        if opts.pg:
            env["VOXPLAN_BACKEND"] = opts.pg
        seed = {"numbers": {"wavix": ["+14155550100", "+14067704205"]}}
        httpx.post(f"{url}/_sandbox/seed", json=seed).raise_for_status()
        (work / "bench.yaml").write_text(STACK)
        subprocess.run([sys.executable, "-m", "voxplan", "apply", "--auto-approve", "bench.yaml"], cwd=work, env=env,
                       check=True, capture_output=True)
        secret = subprocess.run([sys.executable, "-m", "voxplan", "webhooks", "rotate", "bench.yaml"], cwd=work,
                                env=env, check=True, capture_output=True, text=True).stdout.strip()
        serve, serve_url = start(["serve", "bench.yaml", "--port", "0"], {**env, "OPENAI_WEBHOOK_SECRET": secret},
                                 work, r'"url": "(http://[\d.]+:\d+)"')
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in serve.stderr or ()),
                                  daemon=True)
        reader.start()
        local = threading.local()

        def sign(number: str) -> dict[str, Any]:
            headers = [{"name": "To", "value": "sip:proj_XnGzQBp38qGPqjV5GaYVXVGY@sip.api.openai.com"},
                       {"name": "x-number", "value": number}]
            answer = httpx.post(f"{url}/_sandbox/openai/incoming", timeout=60,
                                json={"headers": headers, "deliver": False}).json()
            return dict(answer["deliveries"][0]["request"])

        def signed(n: int, number: str = "14155550100") -> list[dict[str, Any]]:
            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(sign, [number] * n))

        host, port = serve_url.removeprefix("http://").split(":")

        def deliver(request: dict[str, Any]) -> float:
            """One delivery on this thread's kept-alive connection. The standard library's client: the load
            generator shares the machine's two cores with serve and the sandbox, and httpx cost it 9 ms of CPU
            a request under 50 threads (the generator, not serve, then set the latency)."""
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
            body = request["body"].encode()
            started = time.perf_counter()
            conn.request("POST", "/openai/webhook", body=body, headers=request["headers"])
            answer = conn.getresponse()
            answer.read()
            elapsed = time.perf_counter() - started
            assert answer.status == 200, answer.status
            return elapsed * 1000

        def report(name: str, values: list[float]) -> None:
            print(f"  {name}: p50 {percentile(values, .5):.1f} ms, p90 {percentile(values, .9):.1f} ms, "
                  f"p99 {percentile(values, .99):.1f} ms, max {max(values):.1f} ms ({len(values)} calls)")

        def inside(since: int) -> list[float]:
            return [json.loads(line)["latency_ms"] for line in lines[since:] if '"event": "call"' in line]

        print(f"serve: one replica, backend {'postgres' if opts.pg else 'local'}, sandbox latency "
              f"{opts.sandbox_latency_ms:g} ms, {os.cpu_count()} CPUs shared by the sandbox, serve and this client")
        # live: 50 calls in progress, their sidebands followed; new calls arrive at --rate per second
        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(deliver, signed(50, "14067704205")))
        time.sleep(1.0)
        mark = len(lines)
        arrivals = signed(opts.calls)
        with ThreadPoolExecutor(max_workers=50) as pool:
            futures = []
            began = time.perf_counter()
            for i, request in enumerate(arrivals):
                time.sleep(max(0.0, began + i / opts.rate - time.perf_counter()))
                futures.append(pool.submit(deliver, request))
            live = [f.result() for f in futures]
        print(f"live: 50 calls in progress, {opts.calls} new calls at {opts.rate:g}/s")
        report("webhook -> accept (delivery round trip)", live)
        report("serve's latency_ms", inside(mark))
        # burst: 50 at once
        mark = len(lines)
        burst: list[float] = []
        for _ in range(opts.bursts):
            batch = signed(50)
            with ThreadPoolExecutor(max_workers=50) as pool:
                burst += list(pool.map(deliver, batch))
            time.sleep(0.5)
        print(f"burst: 50 deliveries at once, {opts.bursts} times")
        report("webhook -> accept (delivery round trip)", burst)
        report("serve's latency_ms", inside(mark))
        # saturate
        mark = len(lines)
        batch = signed(opts.calls)
        cpu = {"serve": cpu_seconds(serve.pid), "sandbox": cpu_seconds(sandbox.pid), "client": time.process_time()}
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=opts.in_flight) as pool:
            saturated = list(pool.map(deliver, batch))
        wall = time.perf_counter() - began
        cpu = {"serve": cpu_seconds(serve.pid) - cpu["serve"], "sandbox": cpu_seconds(sandbox.pid) - cpu["sandbox"],
               "client": time.process_time() - cpu["client"]}
        print(f"saturate: {opts.calls} calls, {opts.in_flight} kept in flight")
        report("webhook -> accept (delivery round trip)", saturated)
        report("serve's latency_ms", inside(mark))
        print(f"  throughput: {opts.calls / wall:.0f} calls/s ({wall:.1f} s wall); CPU per call: "
              + ", ".join(f"{k} {v / opts.calls * 1000:.1f} ms" for k, v in cpu.items()))
        serve.terminate()
        serve.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
