"""The JSON copy of a caller's facts and reasons that each call row keeps."""

from __future__ import annotations

import dataclasses
import json

import pytest

from callscreen.classifier.model import Reason
from callscreen.numbers.normalise import normalise
from callscreen.store.calls import _facts_params, reasons_to_json


@pytest.mark.parametrize("caller", ["13912345678", "95588", "anonymous", "+12025550123",
                                    "02161234567", "17012345678", "4008001234", "abc"])
def test_facts_json_holds_every_field(caller: str) -> None:
    facts = normalise(caller, area_code="21")

    stored = json.loads(_facts_params(facts)["facts_json"])

    assert stored == json.loads(json.dumps(dataclasses.asdict(facts)))
    assert stored["kind"] == facts.kind.value


def test_reasons_json_holds_every_field() -> None:
    reasons = [Reason("kind.virtual_operator", 30, "虚拟运营商号段", "virtual operator range")]

    assert json.loads(reasons_to_json(reasons)) == [
        {"rule": "kind.virtual_operator", "score": 30, "text_zh": "虚拟运营商号段",
         "text_en": "virtual operator range"}]
