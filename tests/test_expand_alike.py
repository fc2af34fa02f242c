"""Numbers alike but for their number are made from one template (VapiPlatform.bind_number, WavixCarrier.
expand_number): each still gets a body of its own, a difference in any declared field makes a different body,
and what a template's resource holds is what the constructor would have made of the same body."""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

from voxplan.core.model import Ref, Resource
from voxplan.expand import expand
from voxplan.providers import SURFACE
from voxplan.providers.base import ExpandContext
from voxplan.providers.vapi.platform import VapiPlatform
from voxplan.providers.wavix import WavixCarrier
from voxplan.stack import load_and_validate

ENV = {"VAPI_API_KEY": "vapi-key-0001", "WAVIX_API_KEY": "wavix-key-0001", "WAVIX_TRUNK_PASSWORD": "trunk-password-01"}
STACK = """\
version: 1
stack: alike
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
  wavix: {api_key: "${env:WAVIX_API_KEY}"}
trunks:
  wx: {carrier: wavix, password: "${env:WAVIX_TRUNK_PASSWORD}", caller_id: "+12122000000"}
  wy: {carrier: wavix, password: "${env:WAVIX_TRUNK_PASSWORD}", caller_id: "+12122000100"}
assistants:
  a0: {name: A0}
  a1: {name: A1}
numbers:
  "+12122000000": {carrier: wavix, trunk: wx}
  "+12122000001": {carrier: wavix, trunk: wx, name: Front desk}
  "+12122000002": {carrier: wavix, trunk: wx}
  "+12122000003": {carrier: wavix, trunk: wx, name: Back office}
  "+12122000004": {carrier: wavix, trunk: wx, purchase: true}
  "+12122000005": {carrier: wavix, trunk: wx}
  "+12122000006": {carrier: wavix, trunk: wy}
  "+12122000007": {carrier: wavix, trunk: wx}
routes:
  "+12122000000": {assistant: a0}
  "+12122000001": {assistant: a0}
  "+12122000002": {assistant: a0}
  "+12122000003": {assistant: a0}
  "+12122000004": {assistant: a0}
  "+12122000005": {assistant: a1}
  "+12122000006": {assistant: a0}
  "+12122000007": {forward: "+14155550100"}
"""


def _expanded(tmp_path: Path) -> dict[str, Resource]:
    path = tmp_path / "alike.yaml"
    path.write_text(STACK)
    stack, _ = load_and_validate(path, surface=SURFACE, env=ENV)
    desired, _ = expand(stack)
    return {r.address: r for r in desired}


def test_numbers_on_one_trunk_that_differ_in_one_field_get_different_bodies(tmp_path: Path) -> None:
    made = _expanded(tmp_path)
    vapi = {n: made[f"vapi.phone_number/+1212200000{n}"].body for n in range(7)}
    assert vapi[0] == {"provider": "byo-phone-number", "number": "+12122000000", "numberE164CheckEnabled": False,
                       "credentialId": Ref("vapi.credential/wx"), "assistantId": Ref("vapi.assistant/a0"),
                       "squadId": None}
    assert vapi[2] == {**vapi[0], "number": "+12122000002"}  # alike: the same body but for its number
    assert vapi[1] == {**vapi[0], "number": "+12122000001", "name": "Front desk"}  # one option apart
    assert vapi[3] == {**vapi[0], "number": "+12122000003", "name": "Back office"}
    assert "name" not in vapi[0] and "name" not in vapi[2]  # a named number leaves the others unnamed
    assert vapi[5] == {**vapi[0], "number": "+12122000005", "assistantId": Ref("vapi.assistant/a1")}
    assert vapi[6] == {**vapi[0], "number": "+12122000006", "credentialId": Ref("vapi.credential/wy")}
    wavix = {n: made[f"wavix.number/+1212200000{n}"] for n in range(8)}
    assert wavix[4].lifecycle == {"purchase": True}
    assert all(wavix[n].lifecycle == {} for n in (0, 1, 2, 5))
    assert wavix[2].body == {"number": "12122000002", "destinations": [
        {"destination": Ref("vapi.credential/wx", "id", "[did]@{}.sip.vapi.ai"), "transport": 1, "priority": 1}]}
    assert wavix[6].body["destinations"][0]["destination"] == Ref("vapi.credential/wy", "id", "[did]@{}.sip.vapi.ai")
    assert wavix[7].body == {"number": "12122000007", "destinations": [
        {"destination": "14155550100", "transport": 4, "priority": 1}]}
    assert [wavix[n].depends_on for n in (0, 2, 7)] == [("vapi.phone_number/+12122000000",),
                                                          ("vapi.phone_number/+12122000002",), ()]


def test_a_resource_made_from_a_template_is_what_its_constructor_makes(tmp_path: Path) -> None:
    """Every field, the derived ones too (address, Ref paths, dependencies), as if its body had been walked."""
    for res in _expanded(tmp_path).values():
        again = Resource(res.kind, res.name, copy.deepcopy(res.body), res.origin, res.depends_on,
                         dict(res.lifecycle), res.import_id)
        for f in fields(Resource):
            assert getattr(res, f.name) == getattr(again, f.name), (res.address, f.name)


def test_a_sibling_is_what_its_constructor_makes() -> None:
    template = Resource("vapi.phone_number", "+1", {"number": "+1", "credentialId": Ref("vapi.credential/t"),
                                                    "hooks": [{"on": "call.ringing"}]},
                        origin=("numbers", "+1"), depends_on=("vapi.assistant/a",), lifecycle={"protect": True})
    for values in ({"number": "+2"}, {"number": "+2", "name": "new key"}, {"credentialId": "an id, not a Ref"}):
        twin = template.sibling("+2", ("numbers", "+2"), values, depends_on=("vapi.credential/x",))
        made = Resource("vapi.phone_number", "+2", {**template.body, **values}, origin=("numbers", "+2"),
                        depends_on=("vapi.credential/x",), lifecycle={"protect": True})
        for f in fields(Resource):
            assert getattr(twin, f.name) == getattr(made, f.name), (values, f.name)
        assert twin.lifecycle is not template.lifecycle


def test_a_problem_of_alike_numbers_is_reported_for_each_where_it_is_written(tmp_path: Path) -> None:
    """A shape whose first number has a problem is not shared: every number of it is built and checked."""
    path = tmp_path / "alike.yaml"
    path.write_text(STACK)
    stack, _ = load_and_validate(path, surface=SURFACE, env=ENV)
    platform = VapiPlatform()
    ctx = ExpandContext(stack=stack, platform=platform)
    too_long = {"carrier": "wavix", "trunk": "wx", "name": "N" * 41}  # validation stops this first; Vapi's 40
    for number in ("+12122000000", "+12122000002"):
        platform.bind_number(ctx, number, credential="vapi.credential/wx", route={"assistant": "a0"},
                             origin=("numbers", number), options=too_long)
    assert [d.message.split(" ")[0] for d in ctx.diagnostics] == ["numbers.+12122000000.name",
                                                                  "numbers.+12122000002.name"]


def test_trunks_without_caller_id_take_their_own_first_number_and_one_with_none_is_an_error(tmp_path: Path) -> None:
    """Each trunk's first number is looked up in one pass over the numbers (it was a scan of every number per
    trunk): trunks written in any order, numbers interleaved between them."""
    trunks = "".join(f'  t{i}: {{carrier: wavix, password: "${{env:WAVIX_TRUNK_PASSWORD}}"}}\n' for i in (2, 0, 1))
    numbers = "".join(f'  "+1212200{n:04d}": {{carrier: wavix, trunk: t{n % 2}}}\n' for n in range(1, 7))
    text = (STACK.split("trunks:\n")[0] + "trunks:\n" + trunks + "numbers:\n" + numbers)
    path = tmp_path / "trunks.yaml"
    path.write_text(text)
    stack, _ = load_and_validate(path, surface=SURFACE, env=ENV)
    ctx = ExpandContext(stack=stack, platform=VapiPlatform())
    carrier = WavixCarrier()
    for name in ("t2", "t0", "t1"):
        carrier.expand_trunk(ctx, name, stack.data["trunks"][name])
    assert ctx.resources["wavix.trunk/t0"].body["callerid"] == "12122000002"  # its first: +1212 200 0002
    assert ctx.resources["wavix.trunk/t1"].body["callerid"] == "12122000001"
    assert "wavix.trunk/t2" not in ctx.resources
    assert [d.message.split(":")[0] for d in ctx.diagnostics] == ["trunks.t2"]  # no number on it: said once
