"""One copy of Vapi's document, one set of corrections, one checker (voxplan.specs): what the provider's validate,
the emulator and the contract all read. The checker's NestJS semantics, the corrections' bookkeeping, and the
write-only fields the emulator hides agreeing with what the adapters strip."""

from __future__ import annotations

import importlib.resources
import json

import pytest

from voxplan import specs
from voxplan.providers.vapi.adapters import Credential, PhoneNumber

CHECK = specs.checker("vapi")
ASSISTANT = CHECK.schema("CreateAssistantDTO")


def _kinds(body: dict[str, object], schema: dict[str, object] = ASSISTANT) -> list[tuple[str, str]]:
    return [(".".join(map(str, p.path)), p.kind) for p in CHECK.check(schema, body)]


def test_the_document_and_its_corrections_ship_with_the_package() -> None:
    files = {p.name for p in importlib.resources.files("voxplan.specs").iterdir()}
    assert {"vapi-openapi.json", "vapi-openapi-credential-paths-2024-12.json", "vapi-corrections.json"} <= files


def test_every_correction_says_why_and_where_it_comes_from() -> None:
    fixes = specs.corrections("vapi")
    assert fixes["corrections"]
    for fix in fixes["corrections"]:
        assert fix.get("why") and fix.get("source"), fix


def test_an_unknown_key_is_refused_at_every_depth_of_a_dto_and_free_objects_take_anything() -> None:
    body = {"name": "A", "metadata": {"anything": {"goes": 1}}, "server": {"url": "https://x", "headers": {"x": "1"}},
            "model": {"provider": "openai", "model": "gpt-4o", "temprature": 1,
                      "messages": [{"role": "system", "content": "hi", "extra": 1}]}}
    assert _kinds(body) == [("model.temprature", "unknown"), ("model.messages.0.extra", "unknown")]
    tool = CHECK.request_schema("POST", "/tool")
    assert tool is not None
    schema_free = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 1, "value": "{{x}}", "const": 3}}}}}  # JSON Schema is open (docs)
    assert CHECK.check(tool, schema_free) == []


def test_hints_reach_what_difflib_cannot() -> None:
    voice = CHECK.check(ASSISTANT, {"voice": {"provider": "elevenlabs", "voiceId": "burt"}})
    transcriber = CHECK.check(ASSISTANT, {"transcriber": {"provider": "ElevenLabs"}})
    typo = CHECK.check(ASSISTANT, {"transcriber": {"provider": "assemblyai"}})
    [unknown] = CHECK.check(ASSISTANT, {"silenceTimeoutSecond": 30})
    assert [CHECK.hint(p) for p in (*voice, *transcriber, *typo, unknown)] == [
        "11labs", "11labs", "assembly-ai", "silenceTimeoutSeconds"]
    assert CHECK.check(ASSISTANT, {"silenceTimeoutSeconds": 30}) == []  # hidden but live (a correction)
    assert _kinds({"silenceTimeoutSeconds": 5}) == [("silenceTimeoutSeconds", "limit")]


def test_a_one_of_dispatches_on_the_branches_own_discriminator_values() -> None:
    tool = CHECK.request_schema("POST", "/tool")
    assert tool is not None
    assert CHECK.check(tool, {"type": "code", "code": "return 1;"}) == []  # not in the document's mapping
    [wrong] = CHECK.check(tool, {"type": "endcall"})
    assert (wrong.kind, CHECK.hint(wrong)) == ("enum", "endCall")
    both = {"members": [{"assistantId": "00000000-0000-4000-8000-000000000000",  # two branches take type assistant
                         "assistantDestinations": [{"type": "assistant", "assistantName": "Sales"}]}]}
    assert CHECK.check(CHECK.schema("CreateSquadDTO"), both) == []


def test_null_clears_a_top_level_key_of_an_update_but_not_a_discriminator_nor_a_required_one() -> None:
    update = CHECK.request_schema("PATCH", "/phone-number/00000000-0000-4000-8000-000000000000")
    assert update is not None
    assert CHECK.check(update, {"provider": "vapi", "assistantId": None}) == []
    assert _kinds({"provider": None}, update) == [("provider", "enum")]
    squad = CHECK.request_schema("PATCH", "/squad/00000000-0000-4000-8000-000000000000")
    assert squad is not None and _kinds({"members": None}, squad) == [("members", "type")]


@pytest.mark.parametrize(("adapter", "answers"), [
    (PhoneNumber, ["ByoPhoneNumber", "TwilioPhoneNumber", "VonagePhoneNumber", "VapiPhoneNumber", "TelnyxPhoneNumber"]),
    (Credential, ["ByoSipTrunkCredential", "WebhookCredential", "CustomCredential", "TwilioCredential",
                  "VonageCredential", "TelnyxCredential"]),
])
def test_what_the_emulator_never_answers_the_adapters_strip_from_any_echo(adapter: type, answers: list[str]) -> None:
    """The SIP number's password (decided write-only: no source shows it returned, and the SDK's `required` is
    no evidence) and every other write-only field: the emulator keeps them as hashes, `drop_echoed` strips
    them from an answer that carries them anyway, and diff compares them by fingerprint."""
    hidden = {path for name in answers for path in CHECK.write_only_paths(name)}
    assert "authentication.password" in hidden or adapter is Credential
    assert hidden <= set(adapter.write_only) | set(adapter.secret_fields)


def test_the_emulator_and_the_contract_read_the_same_corrected_document() -> None:
    from tests import contract

    ours = json.dumps(specs.document("vapi")["paths"]["/credential"], sort_keys=True)
    theirs = contract.spec("vapi").document["paths"]["/credential"]
    assert "custom-credential" in ours and "telnyx" in ours
    assert set(theirs) == {"get", "post"} and "CreateTelnyxCredentialDTO" in json.dumps(theirs)
