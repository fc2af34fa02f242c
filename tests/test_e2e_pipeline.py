"""examples/github-actions.yml and the Action it uses (action.yml), run as a pipeline: each job on a fresh
runner (a `git clone` of a throwaway repository at the event's commit, a fresh home with no key file and no
.voxplan/), the Action's composite steps run as written under bash, against a real PostgreSQL and
`voxplan sandbox serve`.

Only GitHub itself is stood in for: its REST API by tests/github_api.py (a local HTTP server that keeps
comments and issues), and the runner's own plumbing (checkout is a clone; GITHUB_EVENT_PATH, GITHUB_OUTPUT
and GITHUB_PATH are files). The Action's install step is run for real by the slow test at the end; the
pipeline's runners use this checkout's voxplan on PATH, which is what that step installs."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CANARIES, ROOT, STACKS, VENDORS, SandboxServer, assert_no_canary
from tests.github_api import GitHub, serve

RECIPE = ROOT / "examples" / "github-actions.yml"
ACTION = ROOT / "action.yml"
KEY = "5f" * 32
TOKEN = "ghs_test-token-1"
MARKER = "<!-- voxplan plan: stack=stacks/prod.yaml env=prod -->"
DRIFT_MARKER = "<!-- voxplan drift: stack=stacks/prod.yaml env=prod -->"


@dataclass
class Pipeline:
    """A throwaway origin repository, the recipe and the Action, and the CI world around them."""

    root: Path
    sandbox: SandboxServer
    pg_url: str
    github: GitHub
    api_url: str
    outputs: list[str] = field(default_factory=list)
    runs: int = 0

    def __post_init__(self) -> None:
        self.recipe = yaml.safe_load(RECIPE.read_text())
        self.action = yaml.safe_load(ACTION.read_text())
        self.origin = self.root / "origin"
        self.origin.mkdir()
        self.git("init", "-q", "-b", "main")
        (self.origin / "README.md").write_text("voice stacks\n")
        self.git("add", "-A")
        self.git("commit", "-qm", "start")

    def git(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
               "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
        done = subprocess.run(["git", *args], cwd=cwd or self.origin, env=env, capture_output=True, text=True,
                              check=True)
        return done.stdout.strip()

    # -- what developers do -------------------------------------------------------------------------
    def push(self, branch: str, stack_text: str, message: str) -> str:
        """A commit changing stacks/prod.yaml on `branch` (made from main if new); its sha."""
        branches = self.git("branch", "--list", branch)
        self.git("checkout", "-q", *([] if branches else ["-b"]), branch)
        (self.origin / "stacks").mkdir(exist_ok=True)
        (self.origin / "stacks" / "prod.yaml").write_text(stack_text)
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        sha = self.git("rev-parse", "HEAD")
        self.git("checkout", "-q", "main")
        return sha

    def merge(self, branch: str, pr: int) -> str:
        self.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{pr} from {branch}", branch)
        sha = self.git("rev-parse", "HEAD")
        self.github.pulls_by_commit[sha] = [{"number": pr, "merged_at": "2026-12-07T12:00:00Z"}]
        return sha

    def open_pull_request(self) -> int:
        self.github.next_number += 1
        return self.github.next_number

    # -- events -------------------------------------------------------------------------------------
    def on_pull_request(self, pr: int, sha: str) -> subprocess.CompletedProcess[str]:
        return self.job({"pull_request": {"number": pr, "head": {"sha": sha}}}, "pull_request",
                        f"refs/pull/{pr}/merge", sha)

    def on_push_to_main(self, sha: str) -> subprocess.CompletedProcess[str]:
        return self.job({"ref": "refs/heads/main", "after": sha}, "push", "refs/heads/main", sha)

    def on_schedule(self) -> subprocess.CompletedProcess[str]:
        return self.job({"schedule": "17 3 * * *"}, "schedule", "refs/heads/main", self.git("rev-parse", "main"))

    # -- the runner ---------------------------------------------------------------------------------
    def job(self, payload: dict[str, Any], event: str, ref: str, sha: str) -> subprocess.CompletedProcess[str]:
        """The recipe's one job on a fresh runner; the result of its first failing step, or of the last."""
        assert event in self.recipe[True], f"the recipe does not run on {event}"  # YAML reads `on:` as True
        [spec] = self.recipe["jobs"].values()
        self.runs += 1
        runner = self.root / f"runner-{self.runs}-{event}"
        home, work, temp = runner / "home", runner / "work", runner / "temp"
        for d in (home, temp):
            d.mkdir(parents=True)
        (runner / "event.json").write_text(json.dumps(payload))
        secrets = {"VOXPLAN_PG_URL": self.pg_url, "VOXPLAN_FINGERPRINT_KEY": KEY, **CANARIES}
        github = {"github.ref": ref, "github.token": TOKEN}
        env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / ".config"), "CI": "true", "GITHUB_ACTIONS": "true",
               "GITHUB_REPOSITORY": self.github.repo, "GITHUB_RUN_ID": str(1000 + self.runs), "GITHUB_SHA": sha,
               "GITHUB_REF": ref, "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(runner / "event.json"),
               "GITHUB_API_URL": self.api_url, "GITHUB_SERVER_URL": "https://github.com", "RUNNER_TEMP": str(temp),
               "GITHUB_OUTPUT": str(runner / "output"), "GITHUB_PATH": str(runner / "path"),
               # the vendors, as this world has them: the served sandbox
               **{f"VOXPLAN_{v.upper()}_BASE_URL": f"{self.sandbox.url}/{v}" for v in VENDORS}}
        for key, value in spec["env"].items():
            env[key] = _expand(str(value), {**github, **{f"secrets.{k}": v for k, v in secrets.items()}})
        last = subprocess.CompletedProcess[str]([], 0, "", "")
        for step in spec["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout"):
                subprocess.run(["git", "clone", "-q", str(self.origin), str(work)], check=True)
                subprocess.run(["git", "-C", str(work), "checkout", "-q", sha], check=True)
            elif uses.split("@")[0].endswith("/voxplan"):
                last = self._action(step.get("with") or {}, env, work, github)
                if last.returncode != 0:
                    return last
            else:
                raise AssertionError(f"the simulation does not know step {step}")
        return last

    def _action(self, given: dict[str, Any], env: dict[str, str], work: Path,
                github: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """action.yml's composite steps, each under bash as GitHub runs `shell: bash` steps."""
        inputs = {name: _expand(str(given.get(name, spec.get("default", ""))), github)
                  for name, spec in self.action["inputs"].items()}
        assert not set(given) - set(inputs), f"unknown inputs {set(given) - set(inputs)}"
        names = {**github, **{f"inputs.{k}": v for k, v in inputs.items()}}
        last = subprocess.CompletedProcess[str]([], 0, "", "")
        for step in self.action["runs"]["steps"]:
            assert step["shell"] == "bash"
            if step["name"].startswith("install voxplan"):
                assert '"$GITHUB_ACTION_PATH"' in step["run"]  # the action's own ref (run for real below)
                continue
            step_env = {**env, "GITHUB_ACTION_PATH": str(ROOT),
                        **{k: _expand(str(v), names) for k, v in (step.get("env") or {}).items()}}
            last = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c",
                                   _expand(step["run"], names)], cwd=work, env=step_env, capture_output=True,
                                  text=True)
            self.outputs += [last.stdout, last.stderr]
            if last.returncode != 0:
                return last
        return last

    # -- what GitHub shows --------------------------------------------------------------------------
    def comments(self, pr: int) -> list[dict[str, Any]]:
        return self.github.thread(pr)

    def drift_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.github.issues.values() if DRIFT_MARKER in i["body"]]


def _expand(text: str, names: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in names, f"the simulation does not know ${{{{ {name} }}}}"
        return names[name]

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def wavix_stack() -> str:
    return (STACKS / "wavix-vapi.yaml").read_text().replace("stack: wavix-vapi", "stack: prod")


@pytest.fixture
def ci(tmp_path: Path, sandbox: SandboxServer, pg_url: str) -> Any:
    github = GitHub(repo="acme/voice", token=TOKEN)
    server, url = serve(github)
    try:
        yield Pipeline(tmp_path, sandbox, pg_url, github, url)
    finally:
        server.shutdown()
        server.server_close()


def test_the_action_plans_comments_applies_on_merge_replans_a_stale_plan_and_reports_drift(
        ci: Pipeline, sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})

    # PR 1 adds the stack: one comment, naming stack, environment and commit, with the reviewed plan in it
    pr1 = ci.open_pull_request()
    sha = ci.push("add-prod", wavix_stack(), "Add the prod stack")
    planned = ci.on_pull_request(pr1, sha)
    assert planned.returncode == 0, planned.stderr
    [comment] = ci.comments(pr1)
    assert comment["body"].startswith(f"{MARKER}\n**voxplan** · stack `stacks/prod.yaml` · environment `prod` · "
                                      f"commit `{sha[:12]}`\n\n## voxplan plan: `prod` · environment `prod`")
    assert "Plan: 2 to import, 5 to add, 2 to change, 0 to destroy." in comment["body"]
    assert "<!-- voxplan-saved-plan:" in comment["body"]

    # a push that breaks the stack replaces the plan with the error (the old plan never stands for it)
    broken = ci.push("add-prod", wavix_stack().replace("carrier: wavix", "carrier: wavixx", 1), "Typo")
    failed = ci.on_pull_request(pr1, broken)
    assert failed.returncode == 1
    [comment] = ci.comments(pr1)  # the same comment, in place
    assert "### ❌ voxplan plan failed" in comment["body"] and "wavixx" in comment["body"]
    assert "Plan:" not in comment["body"] and "voxplan-saved-plan" not in comment["body"]
    sha = ci.push("add-prod", wavix_stack(), "Fix the typo")
    assert ci.on_pull_request(pr1, sha).returncode == 0
    [again] = ci.comments(pr1)
    assert again["id"] == comment["id"] and "Plan: 2 to import, 5 to add" in again["body"]

    # merged: the reviewed plan is applied exactly, on a fresh runner, and the comment says so
    merge = ci.merge("add-prod", pr1)
    applied = ci.on_push_to_main(merge)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete! 2 to import, 5 to add, 2 to change, 0 to destroy." in applied.stdout
    [done] = ci.comments(pr1)
    assert done["id"] == comment["id"] and "### ✅ Applied on `main`" in done["body"]
    assert "The reviewed plan was applied exactly." in done["body"] and f"commit `{merge[:12]}`" in done["body"]

    # PR 2 changes the greeting; before it merges someone renames the assistant in the dashboard: the
    # reviewed plan is stale at merge, and main is planned again and applied instead of failing
    pr2 = ci.open_pull_request()
    greeting = wavix_stack().replace("How can I help?", "How may I help?")
    assert greeting != wavix_stack()
    sha = ci.push("greeting", greeting, "A warmer greeting")
    assert ci.on_pull_request(pr2, sha).returncode == 0
    [reviewed] = ci.comments(pr2)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in reviewed["body"]
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"name": "Renamed in the dashboard"}).raise_for_status()
    merge = ci.merge("greeting", pr2)
    applied = ci.on_push_to_main(merge)
    assert applied.returncode == 0, applied.stderr
    [done] = ci.comments(pr2)
    assert done["id"] == reviewed["id"]  # updated in place
    assert "The reviewed plan was stale at merge (saved plan is stale: live state moved" in done["body"]
    assert "main was planned again and that plan applied" in done["body"]
    assert "Apply complete! 0 to add, 1 to change, 0 to destroy." in done["body"]
    [assistant] = sandbox.objects("assistant")
    assert assistant["name"] == "Support-prod" and assistant["firstMessage"].endswith("How may I help?")
    assert ci.drift_issues() == []

    # nightly drift: clean, no issue; a later manual edit opens ONE issue, updated (not duplicated) next night
    assert ci.on_schedule().returncode == 0
    assert ci.drift_issues() == []
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"firstMessage": "Edited in the dashboard"})
    assert ci.on_schedule().returncode == 0  # the issue is the report (fail-on-drift is off)
    [issue] = ci.drift_issues()
    assert issue["state"] == "open" and issue["title"] == "voxplan drift: stacks/prod.yaml (prod)"
    assert [lab["name"] for lab in issue["labels"]] == ["voxplan-drift"]
    assert "## voxplan drift: `prod` · environment `prod`" in issue["body"]
    assert "Edited in the dashboard" in issue["body"]
    assert "| `vapi.assistant/support` | `firstMessage` |" in issue["body"]
    assert ci.on_schedule().returncode == 0
    [same] = ci.drift_issues()
    assert same["number"] == issue["number"]

    # a push to main with no pull request behind it applies main; the next drift run closes the issue
    ci.git("checkout", "-q", "main")
    (ci.origin / "stacks" / "prod.yaml").write_text(greeting + "\n")
    ci.git("commit", "-qam", "Reassert the stack")
    applied = ci.on_push_to_main(ci.git("rev-parse", "HEAD"))
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete! 0 to add, 1 to change, 0 to destroy." in applied.stdout
    assert ci.on_schedule().returncode == 0
    [closed] = ci.drift_issues()
    assert closed["state"] == "closed" and closed["number"] == issue["number"]
    assert "No drift." in ci.github.thread(issue["number"])[-1]["body"]
    assert len(ci.comments(pr1)) == 1 and len(ci.comments(pr2)) == 1
    assert_no_canary(ci.outputs + [json.dumps(list(ci.github.comments.values())),
                                   json.dumps(list(ci.github.issues.values()))], tmp_path)


def test_a_wrong_token_fails_the_job_naming_the_request(ci: Pipeline, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    ci.github.token = "another-token"
    pr = ci.open_pull_request()
    result = ci.on_pull_request(pr, ci.push("add-prod", wavix_stack(), "Add the prod stack"))
    assert result.returncode == 1
    assert f"GitHub API GET /repos/acme/voice/issues/{pr}/comments?per_page=100&page=1: HTTP 401" in result.stderr


@pytest.mark.slow
def test_the_action_installs_voxplan_from_its_own_ref(tmp_path: Path) -> None:
    """The install step as written: a venv from the runner's Python, voxplan from GITHUB_ACTION_PATH."""
    action = yaml.safe_load(ACTION.read_text())
    [install] = [s for s in action["runs"]["steps"] if s["name"].startswith("install voxplan")]
    env = {**os.environ, "RUNNER_TEMP": str(tmp_path), "GITHUB_ACTION_PATH": str(ROOT),
           "GITHUB_PATH": str(tmp_path / "path"), "VOXPLAN_PYTHON": sys.executable}
    done = subprocess.run(["bash", "-e", "-c", install["run"]], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    from voxplan import __version__

    assert done.stdout.strip().endswith(f"version {__version__}")
    assert (tmp_path / "path").read_text().strip() == str(tmp_path / "voxplan-venv" / "bin")


def test_a_saved_plan_edited_in_the_comment_into_a_destroy_is_not_applied(ci: Pipeline,
                                                                          sandbox: SandboxServer) -> None:
    """Whoever may edit comments may edit the reviewed plan: only a plain plan of this stack is taken, and
    only when it is exactly what main's plan does; else main's own plan is applied."""
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    pr = ci.open_pull_request()
    assert ci.on_pull_request(pr, ci.push("add-prod", wavix_stack(), "Add the prod stack")).returncode == 0
    merge = ci.merge("add-prod", pr)
    assert ci.on_push_to_main(merge).returncode == 0
    pr = ci.open_pull_request()
    greeting = wavix_stack().replace("How can I help?", "How may I help?")
    assert ci.on_pull_request(pr, ci.push("greeting", greeting, "A warmer greeting")).returncode == 0
    [comment] = ci.comments(pr)
    blob = re.search(r"<!-- voxplan-saved-plan:(\S+) -->", comment["body"])
    assert blob is not None
    saved = json.loads(gzip.decompress(base64.b64decode(blob.group(1))))
    saved["destroy"] = True
    forged = base64.b64encode(gzip.compress(json.dumps(saved).encode())).decode()
    comment["body"] = comment["body"].replace(blob.group(1), forged)
    applied = ci.on_push_to_main(ci.merge("greeting", pr))
    assert applied.returncode == 0, applied.stderr
    assert "the saved plan in the comment is not a plain plan of this stack" in applied.stdout
    assert "Apply complete! 0 to add, 1 to change, 0 to destroy." in applied.stdout
    [assistant] = sandbox.objects("assistant")
    assert assistant["firstMessage"].endswith("How may I help?") and len(sandbox.objects("tool")) == 1
