"""The console entry point: the command line with signals, usage errors and internal errors handled as
a pipeline needs them. Imports nothing heavy before it has its handlers in place.

- SIGTERM is handled like Ctrl-C: nothing new starts, changes in flight finish and are recorded, exit 143.
- Ctrl-C exits 130, at any point (start-up included), without a traceback. The handlers are installed when
  this module is imported (the console script and `python -m voxplan` import it first, and nothing else
  does), before anything heavy (click, the commands: most of a second on a cold start). Before that there
  is only the interpreter's own start-up and the console script's `import re`; while starting, the handler
  raises SystemExit(130 or 143), which ends the import under way (no hard exit). A Ctrl-C in the first
  milliseconds kills the process by SIGINT (a shell reports 130 for that too), or, inside the start-up of
  an editable install's .pth finder, is the interpreter's to report.
- Usage errors (an unknown flag, a missing argument) exit 1 — 2 means "changes present" (Terraform).
- Any other exception is an internal error: one line naming a crash file, which holds the (redacted)
  details, exit 1. Never a traceback on the terminal.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

# Where the command is: "start" (importing: nothing has begun), "running", "done" (its exit code is set).
_phase = "start"
MESSAGES = {signal.SIGINT: "Interrupted", signal.SIGTERM: "Terminated"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that an apply stops as on Ctrl-C."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (SIGINT) and SIGTERM for the whole run, installed before anything heavy is imported. Starting:
    nothing has begun, so leave at once with the signal's exit code (SystemExit, which no `except Exception`
    in an import under way catches). Running: raise, so that changes in flight finish and are recorded.
    Done: the command's own exit code stands."""
    if _phase == "start":
        os.write(2, f"{MESSAGES[signal.Signals(signum)]}: nothing was started.\n".encode())
        raise SystemExit(128 + signum)  # unwinds the import under way; `run` (or the interpreter) exits with it
    if _phase == "running":
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _install() -> None:
    try:
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
    except ValueError:  # imported from another thread: only the main thread takes signals
        pass


_install()  # on import: this module is the console entry point, imported only to `run` (see the docstring)


def crash_file(exc: BaseException) -> str:
    """Write the details of an internal error, redacted, to a 0600 file; return its path."""
    import tempfile
    import time
    import traceback

    from voxplan.core.secret import redact

    directory = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    directory = os.path.join(directory, "voxplan")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        directory = tempfile.gettempdir()
    path = os.path.join(directory, f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt")
    text = redact("".join(traceback.format_exception(exc)))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"voxplan {' '.join(sys.argv[1:])}\n{text}")
    return path


def run(argv: list[str] | None = None) -> None:
    global _phase
    _phase = "start"
    _install()  # (again: a second run in one process) before the imports below, most of a second when cold
    code = 1
    try:
        import click

        from voxplan.cli import main

        _phase = "running"
        try:
            main.main(args=argv, prog_name="voxplan", standalone_mode=False)
            _phase = "done"
            code = 0
        except click.exceptions.Exit as exc:
            _phase = "done"
            code = exc.exit_code
        except click.ClickException as exc:
            _phase = "done"
            exc.show()
            code = 1  # usage errors too: 2 is "changes present"
        except click.exceptions.Abort as exc:  # click turns a KeyboardInterrupt (or our SIGTERM) into Abort
            if isinstance(exc.__cause__, KeyboardInterrupt):
                raise exc.__cause__ from None
            _phase = "done"
            print("Aborted.", file=sys.stderr)
            code = 1
    except SystemExit as exc:
        _phase = "done"
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except Terminated:
        _phase = "done"
        print("Terminated: nothing new was started; what was in flight finished and is recorded in state.",
              file=sys.stderr)
        code = 143
    except KeyboardInterrupt:
        _phase = "done"
        print("Interrupted: nothing new was started; what was in flight finished and is recorded in state.",
              file=sys.stderr)
        code = 130
    except BrokenPipeError:  # voxplan plan | head: nothing more to say
        _phase = "done"
        code = 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, details in a file
        _phase = "done"
        try:
            where = f"details in {crash_file(exc)}"
        except OSError:
            where = "no crash file could be written"
        print(f"voxplan: internal error ({type(exc).__name__}); {where}. Please report it.", file=sys.stderr)
        code = 1
    _phase = "done"
    # The exit code is set: a signal now is ignored, also while the interpreter shuts down (it puts the default
    # action back for a Python handler, which would kill the process, but keeps SIG_IGN).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)
