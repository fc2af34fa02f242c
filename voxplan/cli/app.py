"""The `voxplan` command group: version and debug logging. Each command lives in the module of its group
(voxplan.cli.run, .state, .check, .serve, .sandbox), which registers it on `main`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from voxplan import __version__
from voxplan.core.secret import PrivateFileHandler, RedactingFilter
from voxplan.render import FORMAT_VERSION as PLAN_FORMAT


class _Voxplan(click.Group):
    """`--version --json` prints the version as JSON (click's version option knows only text)."""

    def main(self, args: Any = None, *rest: Any, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--version" in argv and "--json" in argv:
            click.echo(json.dumps({"voxplan_version": __version__, "plan_format_version": PLAN_FORMAT,
                                   "python": sys.version.split()[0]}))
            sys.exit(0)
        return super().main(args, *rest, **extra)


@click.group(cls=_Voxplan, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voxplan", help="Show the version (with --json: as JSON) and exit.")
@click.option("--debug", is_flag=True, help="Log every API request (secrets and auth headers redacted).")
@click.option("--debug-log", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the --debug log to this file instead of stderr.")
def main(debug: bool, debug_log: Path | None) -> None:
    """Terraform for voice-AI telephony: plan and apply Vapi and carrier SIP setups from one YAML stack.

    \b
    Quick start, no account needed:
      voxplan apply --sandbox --auto-approve stacks/vapi-sip.yaml
    """
    if debug or debug_log:
        handler: logging.Handler = PrivateFileHandler(debug_log) if debug_log else logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        root = logging.getLogger("voxplan")
        for previous in root.handlers:  # an earlier invocation's log file in the same process (tests)
            previous.close()
        root.handlers[:] = [handler]
        root.setLevel(logging.DEBUG)

