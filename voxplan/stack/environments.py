"""Environments: one stack file, several deployments (`--env staging`, or VOXPLAN_ENV).

Each environment has its own state, its own claims, and its own variables, used in the stack as
`${var:NAME}`: the `environments:` map of the stack, then a var file beside it,
`<stack file stem>.vars/<env>.yaml` (a mapping of names to scalars), which wins where both set a name.
Values may themselves use `${env:…}` and `${file:…}`. Without `--env` the environment is `default`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from voxplan.core.errors import Diagnostic, Location
from voxplan.stack.model import SourceMap

DEFAULT = "default"


def var_file(stack_file: Path, env: str) -> Path:
    return stack_file.parent / f"{stack_file.stem}.vars" / f"{env}.yaml"


def variables(data: dict[str, Any], source: SourceMap, stack_file: Path, env: str
              ) -> tuple[dict[str, str], list[Diagnostic]]:
    """The variables of `env`, and what is wrong with how they are declared."""
    diags: list[Diagnostic] = []
    values: dict[str, str] = {}
    declared = data.get("environments")
    if isinstance(declared, dict) and declared:
        if env not in declared and env != DEFAULT:
            diags.append(Diagnostic(source.key_at(("environments",)),
                                    f"environment {env!r} is not declared under environments: "
                                    f"(declared: {', '.join(sorted(map(str, declared)))})",
                                    hint="add it there, or run with --env set to one of those"))
        mine = declared.get(env)
        if isinstance(mine, dict):
            values.update({str(k): _text(v) for k, v in mine.items()})
    file = var_file(stack_file, env)
    if file.exists():
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            diags.append(Diagnostic(Location(str(file), 1, 1), f"cannot read the var file: {exc}"))
            loaded = {}
        if not isinstance(loaded, dict) or not all(isinstance(v, str | int | float | bool) for v in loaded.values()):
            diags.append(Diagnostic(Location(str(file), 1, 1), "a var file is a mapping of names to scalars"))
        else:
            values.update({str(k): _text(v) for k, v in loaded.items()})
    return values, diags


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
