"""Renderers: pure functions of a Plan. Nothing here prints, colours by itself, or imports click."""

from voxplan.render.formats import FORMATS, DriftItem, Format
from voxplan.render.jsonplan import FORMAT_VERSION, plan_from_json, plan_to_json
from voxplan.render.markdown import render_markdown
from voxplan.render.text import render_text

__all__ = ["FORMATS", "FORMAT_VERSION", "DriftItem", "Format", "plan_from_json", "plan_to_json", "render_markdown",
           "render_text"]
