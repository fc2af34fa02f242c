"""Environments: one stack file, several deployments (`--env staging`, or VOXPLAN_ENV).

Each environment has its own state, its own claims, and its own variables, used in the stack as
`${var:NAME}`: the `environments:` map of the stack, then a var file beside it,
`<stack file stem>.vars/<env>.yaml` (a mapping of names to scalars), then each `--var-file FILE` in the
order given, then each `--var NAME=VALUE` in the order given: as in Terraform, a later source wins where
two set a name, and the command line wins over files and files over the stack. Values may themselves use
`${env:…}` and `${file:…}`. Without `--env` the environment is `default`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from voxplan.core.errors import Diagnostic, Location
from voxplan.stack.loader import parse_yaml, read_stack
from voxplan.stack.model import SourceMap

DEFAULT = "default"


def var_file(stack_file: Path, env: str) -> Path:
    return stack_file.parent / f"{stack_file.stem}.vars" / f"{env}.yaml"


def every_environment(stack_file: Path, data: Any) -> list[str]:
    """The environments a stack has: the names under its `environments:` and its var files' names."""
    declared = data.get("environments") if isinstance(data, dict) else None
    names = {str(name) for name in declared} if isinstance(declared, dict) else set()
    names.update(p.stem for p in (stack_file.parent / f"{stack_file.stem}.vars").glob("*.yaml"))
    return sorted(names)


def validation_targets(paths: Iterable[Path], *, all_environments: bool, environment: str = ""
                       ) -> list[tuple[Path, str]]:
    """(stack file, environment) pairs for `validate`. With `all_environments` (the pre-commit hook): each
    stack in every environment it has (one without any: `environment`), and a var file stands for its
    stack in that environment, so a commit that touches only a var file still validates what it changes."""
    if not all_environments:
        return [(Path(p), environment) for p in paths]
    targets: dict[tuple[Path, str], None] = {}  # ordered, each once
    for path in map(Path, paths):
        owner = stack_of_var_file(path)
        if owner is not None:
            targets[owner] = None
            continue
        text, _ = read_stack(path)
        data = parse_yaml(text, str(path))[0] if text is not None else None  # unreadable: validate says why
        for env in every_environment(path, data) or [environment]:
            targets[(path, env)] = None
    return list(targets)


def stack_of_var_file(path: Path) -> tuple[Path, str] | None:
    """`<stem>.vars/<env>.yaml` → (the stack file `<stem>.yaml` or `.yml` beside that folder, env); None for a
    path that is no var file of an existing stack."""
    if path.suffix != ".yaml" or not path.parent.name.endswith(".vars"):
        return None
    stem = path.parent.name.removesuffix(".vars")
    for suffix in (".yaml", ".yml"):
        stack_file = path.parent.parent / f"{stem}{suffix}"
        if stack_file.is_file():
            return stack_file, path.stem
    return None


def variables(data: dict[str, Any], source: SourceMap, stack_file: Path, env: str, *,
              var_files: Sequence[Path] = (), overrides: Sequence[tuple[str, str]] = ()
              ) -> tuple[dict[str, str], list[Diagnostic]]:
    """The variables of `env`, and what is wrong with how they are declared. `var_files` and `overrides`
    come from the command line (--var-file, --var), in the order given."""
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
    auto = var_file(stack_file, env)
    for file in ([auto] if auto.exists() else []) + list(var_files):
        values.update(_read_var_file(file, diags))
    values.update(overrides)
    return values, diags


def _read_var_file(file: Path, diags: list[Diagnostic]) -> dict[str, str]:
    """A var file's names and values; each problem located in it (the file's own line and column)."""
    text, problems = read_stack(file)
    if text is None:
        diags += [dataclasses.replace(d, message=d.message.replace("cannot read stack", "cannot read the var file"))
                  for d in problems]
        return {}
    loaded, source, parsed = parse_yaml(text, str(file))
    diags += parsed
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        diags.append(Diagnostic(Location(str(file), 1, 1), "a var file is a mapping of names to scalars",
                                hint="e.g. greeting: Hello"))
        return {}
    out: dict[str, str] = {}
    for key, value in loaded.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            diags.append(Diagnostic(source.at((key,)), f"variable {key} must be a scalar (text, number or bool)"))
            continue
        out[str(key)] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
