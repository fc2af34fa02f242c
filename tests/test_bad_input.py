"""The bad-stack corpus: every file exits 1 with one `file:line:col: message` line per error, sends 0
requests, and shows no secret."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import Cli, SandboxServer

CORPUS = Path(__file__).parent / "bad_stacks"

# file -> (line:col, a part of the message) of the error it must report
EXPECTED = {
    "01-yaml-syntax.yaml": ("4:11", "while scanning a quoted scalar"),
    "02-unknown-top-level-key.yaml": ("2:1", "unknown key 'assistans'"),
    "03-port-not-integer.yaml": ("7:15", "is not of type 'integer'"),
    "04-unknown-tool.yaml": ("6:13", "unknown tool 'to-human'"),
    "05-unknown-assistant-in-route.yaml": ("5:39", "unknown assistant 'ghost'"),
    "06-unknown-trunk.yaml": ("3:41", "unknown trunk 'nowhere'"),
    "07-missing-env-var.yaml": ("8:17", "environment variable VOXPLAN_TEST_UNSET_PASSWORD is not set"),
    "08-national-number.yaml": ("5:3", "strip the trunk prefix 0 and add the country code"),
    "09-international-prefix.yaml": ("5:3", "strip the 00 international prefix and write +61290597521"),
    "10-name-over-40.yaml": ("4:11", "is 54 characters; Vapi allows at most 40"),
    "11-duplicate-number.yaml": ("6:3", "the same number as '+61290597521'"),
    "12-handoff-cycle.yaml": ("4:15", "reference cycle: assistant sales -> tool to-sales -> assistant sales"),
    "13-duplicate-yaml-key.yaml": ("4:3", "duplicate key 'support'"),
    "14-hostname-inbound-gateway.yaml": ("6:13", "is a hostname with inbound enabled"),
    "15-route-to-undeclared-number.yaml": ("5:3", "route to a number not declared"),
    "16-literal-api-key.yaml": ("4:14", "api_key is written literally"),
    "17-sip-uri-wrong-region.yaml": ("4:3", "is not on the EU region's SIP host sip.eu.vapi.ai"),
    "18-tool-transfer-and-handoff.yaml": ("6:5", "needs exactly one of transfer | handoff"),
    "19-netmask-out-of-range.yaml": ("7:18", "16 is less than the minimum of 24"),
    "20-version-missing.yaml": ("1:1", "'version' is a required property"),
    "21-missing-file.yaml": ("4:14", "cannot read file ./no-such-key-file"),
    "22-unknown-carrier.yaml": ("4:14", "'telco-of-doom' is not one of"),
    "23-byo-number-without-trunk.yaml": ("3:19", "a byo number needs trunk:"),
    "24-route-two-targets.yaml": ("7:27", "needs exactly one of openai | assistant | squad | server_url | sip"),
    "25-transfer-not-a-sip-uri.yaml": ("5:14", "does not match '^sips?:'"),
    "26-empty.yaml": ("1:1", "the stack file is empty"),
    "27-not-a-mapping.yaml": ("1:1", "a stack is a mapping"),
    "28-vapi-number-with-trunk.yaml": ("5:43", "unknown key 'trunk'"),
    "29-unknown-interpolation.yaml": ("5:20", "unknown interpolation"),
    "30-model-without-provider.yaml": ("5:12", "'provider' is a required property"),
    "31-sip-auth-too-short.yaml": ("5:22", "auth.username: 'short' is too short"),
    "32-trunk-name-over-40.yaml": ("4:5", "is 48 characters; Vapi allows at most 40"),
    "33-number-as-yaml-integer-dup.yaml": ("6:3", "duplicate key '+61290597521'"),
    "34-sip-uri-with-api-key.yaml": ("7:25", "embeds a key or credential id by hand"),
    "35-wavix-missing-gateway.yaml": ("8:7", "Wavix gateway 173.234.106.26 (au.wavix.net) is missing"),
    "36-number-on-other-carriers-trunk.yaml": ("5:46", "a didlogic number routed through trunk 'wx' of carrier wavix"),
    "37-transfer-no-trunk.yaml": ("5:17", "no trunk in this stack can reach a phone number"),
    "38-transfer-via-wavix-without-trunk.yaml": ("7:14", "goes through wavix, but no wavix trunk can reach it"),
    "39-openai-bad-project.yaml": ("5:28", "does not match '^proj_[A-Za-z0-9]+$'"),
    "40-cloudonix-without-domain.yaml": ("3:7", "'domain' is a required property"),
    "41-transfer-to-unrouted-carrier-number.yaml": ("7:14", "+14067704205 has no route in this stack"),
    "42-gateway-broadcast.yaml": ("6:13", "'255.255.255.255' is the broadcast address, not a SIP peer"),
    "43-gateway-unspecified.yaml": ("6:13", "'0.0.0.0' is the unspecified address, not a SIP peer"),
    "44-gateway-multicast.yaml": ("6:13", "'224.0.0.1' is a multicast address, not a SIP peer"),
    "45-gateway-loopback.yaml": ("6:13", "'127.0.0.1' is a loopback address, not a SIP peer"),
    "46-number-with-spaces.yaml": ("5:3", "is not in E.164 form (it means +14155550199) (hint: write +14155550199)"),
}
# validate is offline and needs no secret: there, an unset variable or unreadable file is a warning
ONLY_ONLINE = {"07-missing-env-var.yaml", "21-missing-file.yaml"}
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def test_corpus_and_table_agree() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_stack_fails_with_location_and_sends_nothing(name: str, cli: Cli, sandbox: SandboxServer) -> None:
    path = cli.workdir / name
    shutil.copy(CORPUS / name, path)
    where, text = EXPECTED[name]
    if name in ONLY_ONLINE:
        result = cli("validate", str(path), code=0)
        assert f"{path}:{where}: warning: " in result.stderr and text in result.stderr, result.stderr
    for command in (["validate", str(path)], ["plan", str(path)], ["apply", "--auto-approve", str(path)]):
        if name in ONLY_ONLINE and command[0] == "validate":
            continue
        sandbox.clear_stats()
        result = cli(*command, code=1)
        assert result.stdout == ""
        errors = [line for line in result.stderr.splitlines() if "warning:" not in line
                  and not line.endswith("nothing was sent.")]
        assert errors, result.stderr
        for line in errors:
            match = LINE.match(line)
            assert match and match["file"] == str(path), f"not file:line:col: {line!r}"
        assert any(f"{path}:{where}: " in line and text in line for line in errors), result.stderr
        assert sandbox.stats()["total"] == 0
