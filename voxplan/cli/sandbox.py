"""`voxplan sandbox`: the local emulator of the vendor APIs."""

from __future__ import annotations

from pathlib import Path

import click

from voxplan.cli.app import main


@main.group()
def sandbox() -> None:
    """The local emulator of the vendor APIs."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8787, show_default=True)
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), help="Persist the emulated accounts here.")
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Added to every request.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--fault-kinds", default="429,503,reset", show_default=True,
              help="Comma list of 429, 502, 503, 504, reset (a dropped connection, before or after the work).")
@click.option("--seed", type=int, default=None, help="Seed the fault dice, for repeatable runs.")
@click.option("--api-key", "api_keys", multiple=True, metavar="[VENDOR=]KEY",
              help="Accept only this key (VENDOR=KEY: only for that vendor; repeatable); any other gets the "
                   "vendor's own 401 (didlogic: 403). Default: any key.")
def serve(host: str, port: int, data: Path | None, latency_ms: float, fault_rate: float, fault_kinds: str,
          seed: int | None, api_keys: tuple[str, ...]) -> None:
    """Serve the emulators over HTTP: /vapi, /wavix, /didlogic, /cloudonix and /openai under http://HOST:PORT.

    \b
    Example:
      voxplan sandbox serve --port 8787 --data sandbox.json &
      VOXPLAN_VAPI_BASE_URL=http://127.0.0.1:8787/vapi VAPI_API_KEY=any voxplan plan stacks/byo-trunk.yaml
    """
    from voxplan.sandbox import Sandbox
    from voxplan.sandbox.server import make_server

    box = Sandbox(data, latency_ms=latency_ms, fault_rate=fault_rate,
                  fault_kinds=tuple(k.strip() for k in fault_kinds.split(",") if k.strip()), seed=seed,
                  api_key=_sandbox_keys(api_keys))
    server = make_server(box, host, port)
    mounted = " ".join(f"/{name}" for name in box.vendors)
    click.echo(f"voxplan sandbox listening on http://{host}:{server.server_address[1]} ({mounted})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _sandbox_keys(given: tuple[str, ...]) -> str | dict[str, str] | None:
    """`--api-key K` (every vendor) or `--api-key vapi=K` (that vendor), as Sandbox(api_key=…) takes them."""
    from voxplan.sandbox.core import emulators

    vendors = {cls.name for cls in emulators()}
    every = [k for k in given if k.partition("=")[0] not in vendors]
    if len(every) > 1:
        raise click.UsageError("--api-key KEY (for every vendor) is given more than once")
    mine = {v: k for v, _, k in (g.partition("=") for g in given if g.partition("=")[0] in vendors)}
    if not mine:
        return every[0] if every else None
    return {**({v: every[0] for v in vendors} if every else {}), **mine}
