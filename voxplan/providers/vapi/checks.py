"""Every Vapi body a stack expands to, checked offline against Vapi's OpenAPI document (voxplan.specs, with its
documented corrections) before any request: the body a POST would send, against the operation's Create DTO.

Vapi's API refuses an unknown key at any depth of a DTO, and so does this check: a misspelt `vapi:` key, a
typed tool's unknown field, `voice: {provider: elevenlabs}` (Vapi spells it `11labs`) are each one located
error, at the stack line the value came from (`Draft.locate`), with the fix as its hint when one is near
(`silenceTimeoutSecond` -> `silenceTimeoutSeconds`). Keys Vapi's docs send that no schema has are warnings.

Alike numbers are checked once (10,000 numbers on a few trunks are a few bodies): the problems of a number's
body do not depend on the values that only tell numbers apart (`number`, `sipUri`), so those are masked in the
memo's key; telephony lint checks them on their own.
"""

from __future__ import annotations

from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.core.model import Ref
from voxplan.core.secret import Secret, map_leaves, stars
from voxplan.providers.base import ExpandContext
from voxplan.providers.vapi.forms import NUMBER, STACK_WORDS, Draft
from voxplan.specs import Checker, Problem, checker

IDENTITY = ("number", "sipUri")  # values that tell alike bodies apart (telephony lint checks them)
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"  # a Ref's value, where the document wants a UUID
SHOWN = 12  # allowed keys or values listed in a hint when none is near


class SpecCheck:
    """Checks drafts for one expansion; keeps the memo of alike bodies."""

    def __init__(self, paths: dict[str, str]):
        self.paths = paths  # kind -> the collection's path (POST <path> takes the Create DTO)
        self.memo: dict[str, list[Problem]] = {}
        self._checker: Checker | None = None

    @property
    def checker(self) -> Checker:
        if self._checker is None:
            self._checker = checker("vapi")
        return self._checker

    def __call__(self, ctx: ExpandContext, kind: str, draft: Draft) -> None:
        body = draft.body
        # numbers come by the thousand, alike but for what tells them apart; a Ref shows its target and a
        # secret its placeholder in the key (a secret's length is the stack schema's to check, there)
        signature = repr({**body, **{k: "" for k in IDENTITY if isinstance(body.get(k), str)}}) \
            if kind == NUMBER else None
        problems = self.memo.get(signature) if signature is not None else None
        if problems is None:
            schema = self.checker.request_schema("POST", self.paths[kind])
            problems = self.checker.check(schema, view(body)) if schema is not None else []
            if signature is not None:
                self.memo[signature] = problems
        for problem in problems:
            ctx.diagnostics.append(self.diagnostic(ctx, draft, problem))

    def diagnostic(self, ctx: ExpandContext, draft: Draft, problem: Problem) -> Diagnostic:
        path = draft.locate(problem.path)
        where = ".".join(map(str, path))
        schema = f"Vapi's {problem.schema}" if problem.schema else "Vapi"
        fix = self.checker.hint(problem)
        hint = f"did you mean {fix!r}?" if fix else ""
        if problem.kind == "unknown":
            key = str(problem.path[-1])
            if fix in STACK_WORDS:  # the stack's word for an id field it wires (`credential`, not `credentialId`)
                hint = f"did you mean {STACK_WORDS[fix]!r}?"
            if not hint:
                shown = sorted(problem.allowed)
                hint = "expected one of: " + ", ".join(shown[:SHOWN]) + (", …" if len(shown) > SHOWN else "")
            return Diagnostic(ctx.stack.source.key_at(path), f"{where}: {schema} has no key {key!r}", hint)
        if problem.kind == "enum":
            if not hint:
                shown = list(problem.allowed)
                hint = "one of: " + ", ".join(shown[:SHOWN]) + (", …" if len(shown) > SHOWN else "")
            value = problem.value if not isinstance(problem.value, Secret) else "(sensitive)"
            return Diagnostic(ctx.stack.source.at(path), f"{where}: {value!r} is not a value {schema} takes here",
                              hint)
        if problem.kind == "documented":
            return Diagnostic(ctx.stack.source.key_at(path), f"{where}: Vapi's docs send this key "
                              f"({problem.source}) but {schema} has none; it is sent as written", severity="warning")
        if problem.kind == "required":
            return Diagnostic(ctx.stack.source.at(path[:-1] if path != draft.at else path),
                              f"{where}: {schema} needs {str(problem.path[-1])!r}")
        return Diagnostic(ctx.stack.source.at(path), f"{where} {problem.text} ({schema})")


def view(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the check reads it: what a POST sends (a null top-level value is left out), a Ref as a
    well-formed id, a secret as Stars of its length (length limits still apply; neither the value nor its length
    shows in an error)."""
    def leaf(value: Any) -> Any:
        if isinstance(value, Ref):
            return value.render(PLACEHOLDER_ID)
        if isinstance(value, Secret):
            return stars(value)
        return value

    return {k: map_leaves(v, leaf) for k, v in body.items() if v is not None}
