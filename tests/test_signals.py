"""The real process under signals and internal errors: SIGTERM stops an apply as Ctrl-C does (in-flight
changes finish and are recorded, exit 143), Ctrl-C exits 130, and an internal error is one line naming a
crash file, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Cli, SandboxServer, loopback
from tests.test_hardening import assert_no_duplicates_or_orphans, seed


def test_sigterm_during_apply_finishes_what_is_in_flight_records_it_and_exits_143(
        cli: Cli, sandbox: SandboxServer) -> None:
    seed(sandbox)
    stack = cli.stack("wavix-vapi.yaml")
    loopback.post(f"{sandbox.url}/_sandbox/latency", json={"ms": 300}).raise_for_status()  # each level takes 0.3 s
    loopback.post(f"{sandbox.url}/_sandbox/hold", json={"at": 1}).raise_for_status()  # the 1st change's answer waits
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", "apply", "--auto-approve", str(stack)],
                            cwd=cli.workdir, env={**os.environ, **cli.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not sandbox.stats()["holding"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.stats()["holding"]
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    loopback.post(f"{sandbox.url}/_sandbox/release").raise_for_status()  # the change in flight completes
    out, err = proc.communicate(timeout=60)
    loopback.post(f"{sandbox.url}/_sandbox/latency", json={"ms": 0}).raise_for_status()
    assert proc.returncode == 143, out + err
    assert "Terminated: nothing new was started" in err and "Traceback" not in err + out
    mutations = sandbox.stats()["mutations"]
    cli("plan", str(stack), "--detailed-exitcode", code=2)  # the rest is still to do ...
    assert sandbox.stats()["mutations"] == mutations
    cli("apply", "--auto-approve", str(stack))  # ... and what was done is not done twice
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    assert_no_duplicates_or_orphans(cli, sandbox)


def test_ctrl_c_at_start_up_exits_130_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C while the command line is still being imported: the interrupt lands inside that import."""
    probe = ("import builtins\n"
             "real = builtins.__import__\n"
             "def interrupted(name, *args, **kwargs):\n"
             "    if name == 'voxplan.cli':\n"
             "        raise KeyboardInterrupt\n"
             "    return real(name, *args, **kwargs)\n"
             "builtins.__import__ = interrupted\n"
             "from voxplan.entry import run; run(['validate', 's.yaml'])\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 130 and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.stderr.startswith("Interrupted")


ENTRY = Path(__file__).parent.parent / "voxplan" / "entry.py"


def test_the_entry_module_installs_its_handlers_before_importing_anything_heavy() -> None:
    """What the console script has imported (os, re, sys) plus `signal` is all voxplan imports before its
    handlers are in place: the window in which a Ctrl-C is the interpreter's to report is as short as it can
    be."""
    probe = ("import os, re, signal, sys\n"
             "before = set(sys.modules)\n"
             "import voxplan.entry\n"
             "assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM) is voxplan.entry._on_signal\n"
             "print(' '.join(sorted(set(sys.modules) - before)))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["voxplan", "voxplan.entry"]


def _before_the_handlers(err: str) -> bool:
    """Whether a traceback was raised before voxplan had its handlers: in the interpreter's own start-up (the
    editable install's .pth finder, the console script's `import re`) or in entry.py above `_install()`."""
    install = next(n for n, line in enumerate(ENTRY.read_text().splitlines(), 1) if line.startswith("_install()"))
    frames = re.findall(r'File "([^"]+)", line (\d+)', err)
    ours = [(f, int(n)) for f, n in frames if Path(f).resolve().is_relative_to(ENTRY.parent)]
    return all(Path(f).resolve() == ENTRY and n < install for f, n in ours)


def test_a_signal_at_any_early_moment_exits_130_or_143_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SIGINT (and SIGTERM) at several delays after the console script starts: from the interpreter's own
    start-up through the heavy imports to the middle of a plan."""
    shutil.copy(Path(__file__).parent.parent / "stacks" / "vapi-sip.yaml", tmp_path / "s.yaml")
    script = shutil.which("voxplan", path=str(Path(sys.executable).parent))
    assert script, "no voxplan console script beside this Python (pip install -e '.[test]')"
    handled = 0
    started = time.monotonic()  # the delays scale with how long this machine takes to start voxplan now
    subprocess.run([script, "--version"], capture_output=True, timeout=60, check=True)  # imports the commands
    start_up = time.monotonic() - started
    delays = tuple(start_up * f for f in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05, 1.2))
    for sig, delay in [*((signal.SIGINT, d) for d in delays), (signal.SIGTERM, delays[3]), (signal.SIGTERM, delays[7])]:
        proc = subprocess.Popen([script, "plan", "--sandbox", "s.yaml"], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        ours = "Interrupted: " if sig == signal.SIGINT else "Terminated: "
        if proc.returncode == 0:
            continue  # the plan had finished: its exit code stands
        if ours in err:
            assert proc.returncode == 128 + sig and err.splitlines()[-1].startswith(ours), (sig, delay, err)
            assert "Traceback" not in err
            handled += 1
        else:  # killed, or a KeyboardInterrupt the interpreter reports, before voxplan had its handlers
            assert _before_the_handlers(err) and out == "", (sig, delay, proc.returncode, err)
    assert handled >= 4, start_up  # enough landed in voxplan's start-up or run for this to mean something


def test_a_signal_once_the_command_is_done_leaves_its_exit_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C pressed over and over as voxplan exits, down to the interpreter's shutdown (which puts the
    default action back for a Python handler: the process would die by SIGINT after doing its work): the
    command's exit code stands, or, caught a moment earlier, the interrupt is 130 with its line."""
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", "from voxplan.entry import run; run(['--version'])"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().startswith("voxplan, version ")
        while proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                break
            time.sleep(0.0002)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 0 or (proc.returncode == 130 and err.strip().startswith("Interrupted: ")), \
            (proc.returncode, err)


def test_an_internal_error_is_one_line_naming_a_redacted_crash_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    canary = "sk-crash-canary-\"quote\\back\u00e9"
    probe = ("import voxplan.cli\n"
             "def boom(*a, **k):\n"
             f"    from voxplan.core.secret import Secret; s = Secret({canary!r})\n"
             f"    raise RuntimeError('bad ' + {canary!r})\n"
             "voxplan.cli.main.main = boom\n"
             "from voxplan.entry import run; run(['validate', 'x.yaml'])\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    match = re.fullmatch(r"voxplan: internal error \(RuntimeError\); details in (\S+)\. Please report it\.", line)
    assert match, line
    crash = match.group(1)
    assert os.stat(crash).st_mode & 0o777 == 0o600
    with open(crash) as fh:
        text = fh.read()
    assert "RuntimeError" in text and canary not in text and "(sensitive)" in text
