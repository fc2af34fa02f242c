"""The run context: everything about one run that is not in the stack, built once (by the CLI, or a test)
and handed down, instead of flags threaded through every layer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _environ() -> dict[str, str]:
    return dict(os.environ)


@dataclass(frozen=True)
class RunContext:
    sandbox: bool = False  # the embedded emulators stand in for the vendors; unset secrets get placeholders
    env: Mapping[str, str] = field(default_factory=_environ)  # the process environment, read once
    backend: str | None = None  # --backend: overrides the stack's `backend:` (else VOXPLAN_BACKEND)
    environment: str = ""  # --env: overrides VOXPLAN_ENV; "" means the default environment
    transport: Any = None  # an httpx transport for every provider (tests; the embedded sandbox sets its own)
    offline: bool = False  # validate: nothing will be sent, so unset variables are only warnings
    var_files: tuple[Path, ...] = ()  # --var-file, in the order given (voxplan.stack.environments)
    variables: tuple[tuple[str, str], ...] = ()  # --var NAME=VALUE, in the order given: they win over files

    @property
    def backend_spec(self) -> str | None:
        return self.backend or self.env.get("VOXPLAN_BACKEND") or None

    @property
    def env_name(self) -> str:
        return self.environment or self.env.get("VOXPLAN_ENV") or "default"
