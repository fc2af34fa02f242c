"""examples/github-actions.yml run as a simulated pipeline: each job's steps from the recipe itself, each
job in a fresh `git clone` of a throwaway repository with a fresh home (no key file, no .voxplan/), against
a real PostgreSQL server and `voxplan sandbox serve`.

The simulation stands in only for GitHub's own actions: checkout (a clone at the event's commit), the
artifact upload and download (a folder), and the PR comment script (comments kept by their marker, as the
script does). Every `run:` step runs as written, under `bash -e` as GitHub's default shell does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CANARIES, STACKS, VENDORS, SandboxServer, assert_no_canary

RECIPE = Path(__file__).resolve().parent.parent / "examples" / "github-actions.yml"
KEY = "5f" * 32


@dataclass
class Pipeline:
    """A throwaway origin repository, the recipe, and the CI world around it."""

    root: Path
    sandbox: SandboxServer
    pg_url: str
    recipe: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)  # PR number -> comment bodies
    outputs: list[str] = field(default_factory=list)
    runs: int = 0

    def __post_init__(self) -> None:
        self.recipe = yaml.safe_load(RECIPE.read_text())
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
    def pull_request(self, branch: str, stack_text: str, message: str) -> str:
        """Push a commit changing stacks/prod.yaml on `branch` (made from main if new); its sha."""
        branches = self.git("branch", "--list", branch)
        self.git("checkout", "-q", *([] if branches else ["-b"]), branch)
        (self.origin / "stacks").mkdir(exist_ok=True)
        (self.origin / "stacks" / "prod.yaml").write_text(stack_text)
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        sha = self.git("rev-parse", "HEAD")
        self.git("checkout", "-q", "main")
        return sha

    def merge(self, branch: str) -> str:
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch)
        return self.git("rev-parse", "HEAD")

    # -- the CI runner --------------------------------------------------------------------------------
    def job(self, name: str, event: dict[str, Any], sha: str) -> subprocess.CompletedProcess[str]:
        """Run one job of the recipe on a fresh runner; the result of its first failing step, or the last."""
        spec = self.recipe["jobs"][name]
        assert _condition(spec["if"], event), f"job {name} would not run on {event}"
        self.runs += 1
        runner = self.root / f"runner-{self.runs}-{name}"
        home = runner / "home"
        home.mkdir(parents=True)
        work = runner / "work"
        secrets = {"VOXPLAN_PG_URL": self.pg_url, "VOXPLAN_FINGERPRINT_KEY": KEY, **CANARIES}
        env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / ".config"), "CI": "true", "GITHUB_ACTIONS": "true",
               "GITHUB_REPOSITORY": "acme/voice", "GITHUB_RUN_ID": str(1000 + self.runs), "GITHUB_SHA": sha,
               "NO_COLOR": "1",
               # the vendors, as this world has them: the served sandbox
               **{f"VOXPLAN_{v.upper()}_BASE_URL": f"{self.sandbox.url}/{v}" for v in VENDORS}}
        for key, value in self.recipe["env"].items():
            env[key] = _expand(str(value), event, secrets)
        last = subprocess.CompletedProcess[str]([], 0, "", "")
        for step in spec["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout"):
                ref = _expand(str((step.get("with") or {}).get("ref", "")), event, secrets) or sha
                subprocess.run(["git", "clone", "-q", str(self.origin), str(work)], check=True)
                subprocess.run(["git", "-C", str(work), "checkout", "-q", ref], check=True)
            elif uses.startswith("actions/setup-python"):
                continue
            elif uses.startswith("actions/upload-artifact"):
                opts = step["with"]
                stored = self.root / "artifacts" / _expand(opts["name"], event, secrets)
                stored.mkdir(parents=True, exist_ok=True)
                shutil.copy(work / opts["path"], stored / Path(opts["path"]).name)
            elif uses.startswith("dawidd6/action-download-artifact"):
                opts = step["with"]
                stored = self.root / "artifacts" / _expand(opts["name"], event, secrets)
                for file in stored.iterdir():
                    shutil.copy(file, work / opts["path"] / file.name)
            elif uses.startswith("actions/github-script"):
                self._comment(step["with"]["script"], work, env, event)
            elif step.get("name") == "install voxplan":
                continue  # the runner's Python already has this checkout's voxplan
            else:
                assert "run" in step, f"the simulation does not know step {step}"
                last = subprocess.run(["bash", "-e", "-c", _expand(step["run"], event, secrets)], cwd=work, env=env,
                                      capture_output=True, text=True)
                self.outputs += [last.stdout, last.stderr]
                if last.returncode != 0:
                    return last
        return last

    def _comment(self, script: str, work: Path, env: dict[str, str], event: dict[str, Any]) -> None:
        """The recipe's comment script: the marker, then plan.md; an existing comment with it is updated."""
        assert "updateComment" in script and "startsWith(marker)" in script
        match = re.search(r"const marker = `(.*?)`;", script)
        assert match is not None
        marker = match.group(1).replace("${process.env.VOXPLAN_ENV}", env["VOXPLAN_ENV"]) \
            .replace("${process.env.STACK}", env["STACK"])
        body = marker + "\n" + (work / "plan.md").read_text()
        thread = self.comments.setdefault(event["pull_request"]["number"], [])
        mine = [i for i, c in enumerate(thread) if c.startswith(marker)]
        if mine:
            thread[mine[0]] = body
        else:
            thread.append(body)


def _condition(expr: str, event: dict[str, Any]) -> bool:
    """The recipe's `if:` expressions, which use only these terms."""
    py = expr.replace("&&", " and ").replace("||", " or ").replace("!=", " != ").replace("'", '"')
    names = {"github.event_name": event["name"], "github.event.action": event.get("action", ""),
             "github.event.pull_request.merged": bool(event.get("pull_request", {}).get("merged"))}
    for key in sorted(names, key=len, reverse=True):
        py = py.replace(key, repr(names[key]))
    return bool(eval(py, {"__builtins__": {}}, {}))  # noqa: S307 - our own recipe's conditions


def _expand(text: str, event: dict[str, Any], secrets: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name.startswith("secrets."):
            return secrets.get(name.removeprefix("secrets."), "")
        pr = event.get("pull_request", {})
        known = {"github.event.pull_request.number": str(pr.get("number", "")),
                 "github.event.pull_request.merge_commit_sha": str(pr.get("merge_commit_sha", ""))}
        assert name in known, f"the simulation does not know ${{{{ {name} }}}}"
        return known[name]

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def wavix_stack() -> str:
    return (STACKS / "wavix-vapi.yaml").read_text().replace("stack: wavix-vapi", "stack: prod")


def test_the_recipe_from_fresh_runners_plans_applies_deletes_and_catches_drift(
        tmp_path: Path, sandbox: SandboxServer, pg_url: str) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    ci = Pipeline(tmp_path, sandbox, pg_url)
    pr1 = {"name": "pull_request", "action": "opened", "pull_request": {"number": 1}}

    # PR 1 adds the stack: validate and plan on a fresh runner, the plan as artifact and comment
    sha = ci.pull_request("add-prod", wavix_stack(), "Add the prod stack")
    planned = ci.job("plan", pr1, sha)
    assert planned.returncode == 0, planned.stderr
    [comment] = ci.comments[1]
    assert comment.startswith("<!-- voxplan plan: prod stacks/prod.yaml -->\n## voxplan plan: `prod`")
    assert "Plan: 2 to import, 5 to add, 2 to change, 0 to destroy." in comment

    # merge: apply exactly that plan on another fresh runner (no state file, no key file there)
    merge = ci.merge("add-prod")
    merged = {**pr1, "action": "closed", "pull_request": {"number": 1, "merged": True, "merge_commit_sha": merge}}
    applied = ci.job("apply", merged, merge)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete! 2 to import, 5 to add, 2 to change, 0 to destroy." in applied.stdout
    assert len(sandbox.objects("tool")) == 1 and len(sandbox.objects("assistant")) == 1

    # PR 2 removes the tool, then (a second push) a number: one comment, updated in place
    no_tool = wavix_stack().replace("    tools: [to-human]\n", "")
    no_tool = no_tool[:no_tool.index("tools:\n")] + no_tool[no_tool.index("assistants:\n"):]
    pr2 = {"name": "pull_request", "action": "opened", "pull_request": {"number": 2}}
    sha = ci.pull_request("trim", no_tool, "Drop the transfer tool")
    assert ci.job("plan", pr2, sha).returncode == 0
    fewer = no_tool.replace('  "+14067704205": {carrier: wavix, trunk: wavix-main}\n', "") \
        .replace('  "+14067704205": {forward: "+61280000000"}   # the transfer target: its own routing goes to a '
                 "person\n", "")
    assert fewer != no_tool and "+14067704205" not in fewer
    sha = ci.pull_request("trim", fewer, "Drop the Montana number")
    sandbox.clear_stats()
    assert ci.job("plan", {**pr2, "action": "synchronize"}, sha).returncode == 0
    assert all(k.split()[1] == "GET" for k in sandbox.stats()["requests"])  # a PR plan changes nothing
    [comment] = ci.comments[2]
    assert "vapi.tool/to-human" in comment and "wavix.number/+14067704205" in comment
    assert "to import" not in comment and "(sensitive)" not in comment  # state and key came through

    merge = ci.merge("trim")
    applied = ci.job("apply", {**pr2, "action": "closed", "pull_request": {"number": 2, "merged": True,
                                                                         "merge_commit_sha": merge}}, merge)
    assert applied.returncode == 0, applied.stderr
    assert sandbox.objects("tool") == []  # the removed tool is deleted
    [montana] = [n for n in sandbox.get("wavix", "/v1/numbers", page=1, per_page=100)["items"]
                 if n["number"] == "14067704205"]
    assert not montana.get("destination")  # the removed number's routing is cleared; the number is kept

    # nightly drift on a fresh runner: clean, then failing once someone edits the assistant by hand
    nightly = {"name": "schedule"}
    clean = ci.job("drift", nightly, merge)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No drift." in clean.stdout
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"firstMessage": "Edited in the dashboard"})
    drifted = ci.job("drift", nightly, merge)
    assert drifted.returncode == 2  # set -o pipefail: drift's exit 2 survives `| tee`
    assert "Edited in the dashboard" in drifted.stdout

    # a PR that puts it back converges, and a fresh runner's plan after it is empty
    pr3 = {"name": "pull_request", "action": "opened", "pull_request": {"number": 3}}
    sha = ci.pull_request("revert", fewer + "\n", "Reassert the greeting")
    assert ci.job("plan", pr3, sha).returncode == 0
    merge = ci.merge("revert")
    assert ci.job("apply", {**pr3, "action": "closed", "pull_request": {"number": 3, "merged": True,
                                                                      "merge_commit_sha": merge}},
                  merge).returncode == 0
    assert ci.job("drift", nightly, merge).returncode == 0
    assert_no_canary(ci.outputs, tmp_path / "artifacts")
