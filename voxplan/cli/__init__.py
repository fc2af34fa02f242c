"""The command line. Thin: parse, call voxplan.workflow, render, choose the exit code. One module per
command group; each registers its commands on `main` (voxplan.cli.app).

Exit codes, as Terraform: 0 success / no changes; 1 error; 2 changes present (plan with
--detailed-exitcode).
"""

from voxplan.cli import calls, check, files, run, sandbox, serve, state  # noqa: F401 - each registers its commands
from voxplan.cli.app import main

__all__ = ["main"]
