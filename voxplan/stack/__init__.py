"""Stack files: load YAML with source positions, interpolate, validate. Produces a `Stack`."""

from voxplan.stack.model import SourceMap, Stack
from voxplan.stack.validate import load_and_validate

__all__ = ["SourceMap", "Stack", "load_and_validate"]
