"""Fixtures shared by the store tests: an opened Store on a temporary file and builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from callscreen.classifier.model import Category, Decision, Reason, Verdict
from callscreen.numbers.model import NumberFacts, NumberKind
from callscreen.store import Store

FactsBuilder = Callable[..., NumberFacts]
DecisionBuilder = Callable[..., Decision]


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "callscreen.db")
    yield opened
    await opened.close()


def build_facts(e164: str = "+8613912345678", kind: NumberKind = NumberKind.MOBILE,
                key: str | None = None, block: str | None = None) -> NumberFacts:
    the_key = e164 if key is None else key
    return NumberFacts(
        raw=e164.removeprefix("+86"),
        kind=kind,
        e164=e164 or None,
        national=e164.removeprefix("+86"),
        key=the_key,
        block=the_key[:-4] if block is None and the_key.startswith("+") else (block or ""),
        country_code=86 if e164 else None,
        province="江苏省",
        city="常州市",
        carrier="中国移动",
        masked="+86139****5678",
    )


def build_decision(facts: NumberFacts | None = None, verdict: Verdict = Verdict.FLAG,
                   category: Category = Category.COLLECTOR, score: int = 70) -> Decision:
    return Decision(
        verdict=verdict,
        category=category,
        score=score,
        tag="[疑似催收]",
        reasons=(Reason("repeat_caller", 40, "24小时内第3次来电", "3rd call within 24 h"),),
        facts=facts if facts is not None else build_facts(),
    )


@pytest.fixture
def make_facts() -> FactsBuilder:
    return build_facts


@pytest.fixture
def make_decision() -> DecisionBuilder:
    return build_decision


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
