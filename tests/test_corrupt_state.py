"""Corrupt state is one clear error, on both backends: a journal row that is not a record ("garbage"), a
row without fields, a snapshot cut short. Each: plan and apply exit 1 with one line naming the backend,
the stack and the row, and send nothing (never an internal error, never a row silently skipped)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Cli, SandboxServer

STACK = "byo-trunk.yaml"
Corrupt = Callable[[Cli, Path], str]  # breaks the state; returns the text the error must name


def _refused(cli: Cli, sandbox: SandboxServer, stack: Path, names: list[str]) -> None:
    for command in (["plan"], ["apply", "--auto-approve"]):
        sandbox.clear_stats()
        result = cli(*command, str(stack), code=1)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: ") and "internal error" not in line, line
        for name in names:
            assert name in line, (name, line)
        assert sandbox.stats()["total"] == 0, f"{command[0]} sent a request over a corrupt state"


def _local(cli: Cli, sandbox: SandboxServer) -> Path:
    stack = cli.stack(STACK)
    cli("apply", "--auto-approve", str(stack))
    return stack


@pytest.mark.parametrize(("line", "why"), [('"garbage"', 'line 2 is corrupt, not a journal record ("garbage")'),
                                          ("{}", "line 2 is corrupt, not a journal record ({})")])
def test_a_local_journal_line_that_is_not_a_record_is_one_error_naming_it(
        cli: Cli, sandbox: SandboxServer, line: str, why: str) -> None:
    stack = _local(cli, sandbox)
    journal = cli.workdir / ".voxplan" / "byo-trunk.state.json.journal"
    journal.write_text('{"rm": "vapi.tool/nothing", "serial": 99}\n' + line + "\n")
    _refused(cli, sandbox, stack, [str(journal), "local journal of stack byo-trunk", why])


def test_a_torn_last_journal_line_is_still_dropped(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _local(cli, sandbox)
    journal = cli.workdir / ".voxplan" / "byo-trunk.state.json.journal"
    journal.write_text('{"rm": "vapi.tool/nothing", "serial": 99}\n{"put": "vapi.tool/x", "ent')  # killed mid-write
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_a_local_snapshot_cut_short_is_one_error_naming_where(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _local(cli, sandbox)
    state = cli.workdir / ".voxplan" / "byo-trunk.state.json"
    text = state.read_text()
    state.write_text(text[: len(text) * 2 // 3])
    _refused(cli, sandbox, stack, [str(state), "local state of stack byo-trunk", "cut short or not JSON at line"])


def test_a_local_entry_without_its_id_is_one_error_naming_it(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _local(cli, sandbox)
    state = cli.workdir / ".voxplan" / "byo-trunk.state.json"
    text = state.read_text()
    entry = '"vapi.tool/to-reception": {"kind": "vapi.tool", "id": "'
    start = text.index(entry)
    state.write_text(text[:start] + entry.replace('"id"', '"ids"') + text[start + len(entry):])
    _refused(cli, sandbox, stack, ["local state of stack byo-trunk", "resource vapi.tool/to-reception is corrupt",
                                   "it has no id"])


@pytest.fixture
def team(cli: Cli, pg_url: str) -> Cli:
    cli.env.update(VOXPLAN_BACKEND=pg_url, VOXPLAN_FINGERPRINT_KEY="7e" * 32)
    return cli


def _sql(url: str, sql: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchone()  # type: ignore[arg-type]


@pytest.mark.parametrize("record", ['"garbage"', "{}", "[]", '{"put": "vapi.tool/x"}'])
def test_a_postgres_journal_row_that_is_not_a_record_is_one_error_naming_it(
        team: Cli, sandbox: SandboxServer, pg_url: str, record: str) -> None:
    stack = _local(team, sandbox)
    row = _sql(pg_url, f"INSERT INTO voxplan_journal (stack, env, record) VALUES ('byo-trunk', 'default', "
                       f"'{record}') RETURNING id")
    assert isinstance(row, tuple)
    _refused(team, sandbox, stack, ["postgres", "state byo-trunk/default", "(stack byo-trunk)",
                                    f"journal row {row[0]} is not a journal record"])


@pytest.mark.parametrize(("entries", "why"), [
    ('"{\\"shared\\": [], \\"resources\\": {\\"vapi.tool/to-re"', "the snapshot row is not a voxplan state"),
    ('{"shared": []}', "not a voxplan state (no shared values and resources)"),
    ('{"shared": [], "resources": {"vapi.tool/to-reception": {"sent": {"&": 7}}}}',
     "resource vapi.tool/to-reception names a shared value that is not there"),
])
def test_a_postgres_snapshot_cut_short_is_one_error_naming_it(
        team: Cli, sandbox: SandboxServer, pg_url: str, entries: str, why: str) -> None:
    stack = _local(team, sandbox)
    _sql(pg_url, f"UPDATE voxplan_state SET entries = '{entries}' RETURNING 1")
    _refused(team, sandbox, stack, ["postgres", "state byo-trunk/default", why])
