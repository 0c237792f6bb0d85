"""The classifier: a pure function from facts and history to a verdict with reasons."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callscreen.classifier import Category, History, ListMatch, Verdict, classify
from callscreen.classifier.classify import fallback_decision
from callscreen.config.model import RulesConfig
from callscreen.i18n import t
from callscreen.numbers.model import NumberFacts, NumberKind

RULES = RulesConfig()


def facts(kind: NumberKind = NumberKind.MOBILE, e164: str | None = "+8613912345678",
          province: str = "江苏省", city: str = "常州市") -> NumberFacts:
    key = e164 or ""
    return NumberFacts(raw=e164 or "", kind=kind, e164=e164, national=key[3:], key=key,
                       block=key[:-4] if key else "", country_code=86 if e164 else None,
                       province=province, city=city, carrier="中国移动",
                       masked="+86139****5678" if e164 else "")


def rules_of(decision_reasons: tuple) -> list[str]:
    return [r.rule for r in decision_reasons]


def test_plain_mobile_without_history_is_allowed() -> None:
    decision = classify(facts(), History(), RULES)

    assert decision.verdict is Verdict.ALLOW
    assert decision.category is Category.NORMAL
    assert decision.score == 0
    assert decision.tag == ""


def test_anonymous_caller_gets_anonymous_reason_and_category() -> None:
    anonymous = facts(kind=NumberKind.ANONYMOUS, e164=None, province="", city="")
    rules = replace(RULES, anonymous_score=50)

    decision = classify(anonymous, History(), rules)

    assert decision.verdict is Verdict.FLAG
    assert decision.category is Category.ANONYMOUS
    assert rules_of(decision.reasons) == ["anonymous"]
    assert decision.tag == "[未显号码]"


def test_virtual_operator_kind_adds_its_configured_score() -> None:
    decision = classify(facts(kind=NumberKind.VIRTUAL_OPERATOR), History(), RULES)

    assert decision.score == 25
    assert rules_of(decision.reasons) == ["kind.virtual_operator"]
    assert "虚拟运营商" in decision.reasons[0].text_zh
    assert "virtual" in decision.reasons[0].text_en


def test_repeat_caller_counts_this_call_too() -> None:
    history = History(calls_in_window=RULES.repeat_count - 1)

    decision = classify(facts(), history, RULES)

    assert "repeat_caller" in rules_of(decision.reasons)
    assert f"第 {RULES.repeat_count} 次" in decision.reasons[0].text_zh


def test_one_call_below_repeat_count_adds_nothing() -> None:
    decision = classify(facts(), History(calls_in_window=RULES.repeat_count - 2), RULES)

    assert decision.reasons == ()


def test_collector_tag_on_number_flags_next_call() -> None:
    decision = classify(facts(), History(number_reputation=1.0), RULES)

    assert decision.verdict is Verdict.FLAG
    assert decision.category is Category.COLLECTOR
    assert decision.score == RULES.number_collector_score
    assert decision.tag == "[疑似催收]"


def test_block_reputation_raises_score_of_a_new_number() -> None:
    before = classify(facts(), History(), RULES)

    after = classify(facts(), History(block_reputation=1.0), RULES)

    assert after.score > before.score
    assert "reputation_block" in rules_of(after.reasons)


def test_reputation_is_capped_at_two_units() -> None:
    decision = classify(facts(), History(number_reputation=50.0), RULES)

    assert decision.score == min(100, 2 * RULES.number_collector_score)


def test_not_collector_feedback_lowers_score() -> None:
    history = History(calls_in_window=5, number_reputation=-1.0)

    decision = classify(facts(), history, RULES)

    assert decision.score == 0
    assert decision.verdict is Verdict.ALLOW
    assert "not_collector" in rules_of(decision.reasons)


def test_allow_list_wins_over_everything() -> None:
    history = History(calls_in_window=50, number_reputation=2.0, block_reputation=2.0,
                      list_matches=(ListMatch("block", "exact", "+8613912345678"),
                                    ListMatch("allow", "exact", "+8613912345678", "客户")))

    decision = classify(facts(), history, RULES)

    assert decision.verdict is Verdict.ALLOW
    assert decision.score == 0
    assert rules_of(decision.reasons) == ["allow_list"]


def test_block_list_blocks_even_when_blocking_by_score_is_off() -> None:
    history = History(list_matches=(ListMatch("block", "prefix", "+86170"),))

    decision = classify(facts(kind=NumberKind.VIRTUAL_OPERATOR), history, RULES)

    assert decision.verdict is Verdict.BLOCK
    assert decision.score == 100


def test_block_threshold_blocks_by_score_when_configured() -> None:
    rules = replace(RULES, block_threshold=80)

    decision = classify(facts(), History(number_reputation=2.0), rules)

    assert decision.verdict is Verdict.BLOCK


def test_region_rule_prefers_the_longest_matching_name() -> None:
    rules = replace(RULES, region_scores={"江苏省": 10, "江苏省常州市": 30})

    decision = classify(facts(), History(), rules)

    assert decision.score == 30
    assert "江苏省常州市" in decision.reasons[0].text_zh


def test_employment_check_category_without_flag_score() -> None:
    decision = classify(facts(), History(employment_checks=1.0), RULES)

    assert decision.category is Category.EMPLOYMENT_CHECK
    assert decision.verdict is Verdict.ALLOW


def test_score_is_clamped_to_hundred() -> None:
    history = History(calls_in_window=10, number_reputation=2.0, block_reputation=2.0)

    decision = classify(facts(kind=NumberKind.VIRTUAL_OPERATOR), history, RULES)

    assert decision.score == 100


@pytest.mark.parametrize("kind", list(NumberKind))
def test_every_kind_has_readable_reason_texts(kind: NumberKind) -> None:
    rules = replace(RULES, kind_scores={kind.value: 5}, anonymous_score=5)

    decision = classify(facts(kind=kind), History(), rules)

    for found in decision.reasons:
        assert found.text_zh and found.text_en
        assert "{" not in found.text_zh + found.text_en


def test_fallback_decision_allows_with_error_reason() -> None:
    decision = fallback_decision()

    assert decision.verdict is Verdict.ALLOW
    assert rules_of(decision.reasons) == ["error"]


def test_same_inputs_give_same_decision() -> None:
    history = History(calls_in_window=3, block_reputation=0.7)

    assert classify(facts(), history, RULES) == classify(facts(), history, RULES)


def test_block_burst_counts_this_call_too() -> None:
    history = History(block_callers_in_window=RULES.block_burst_count - 1)

    decision = classify(facts(), history, RULES)

    assert rules_of(decision.reasons) == ["block_burst"]
    assert decision.score == RULES.block_burst_score
    assert "(+861391***)" in decision.reasons[0].text_en


def test_block_burst_below_count_adds_nothing() -> None:
    history = History(block_callers_in_window=RULES.block_burst_count - 2)

    decision = classify(facts(), history, RULES)

    assert rules_of(decision.reasons) == []


def test_block_burst_flags_virtual_operator() -> None:
    history = History(block_callers_in_window=RULES.block_burst_count - 1)

    decision = classify(facts(NumberKind.VIRTUAL_OPERATOR, "+8617051230001"), history, RULES)

    assert rules_of(decision.reasons) == ["kind.virtual_operator", "block_burst"]
    assert decision.verdict is Verdict.FLAG
    assert decision.category is Category.COLLECTOR


def test_block_burst_score_zero_disables_rule() -> None:
    history = History(block_callers_in_window=50)

    decision = classify(facts(), history, replace(RULES, block_burst_score=0))

    assert rules_of(decision.reasons) == []


def test_block_burst_needs_a_block() -> None:
    history = History(block_callers_in_window=50)

    decision = classify(facts(NumberKind.ANONYMOUS, None), history, RULES)

    assert "block_burst" not in rules_of(decision.reasons)


# Sums around the floor (0.05), the clip (2.0) and the one-decimal rounding edges.
reputation_sums = st.one_of(
    st.sampled_from([0.0, 0.05, 0.0499, -0.05, 1.95, 1.949999, 2.0, 2.0001, -2.0, -2.5, 117.3]),
    st.floats(-50, 50, allow_nan=False))


def expected_reason(rule: str, score: int, **params: object) -> tuple[str, int, str, str]:
    key = f"reason.{rule}"
    return (rule, score, t(key, "zh-CN", **params), t(key, "en", **params))


@given(number=reputation_sums, block=reputation_sums, calls=st.integers(0, 6))
def test_history_reasons_follow_clipped_units(number: float, block: float, calls: int) -> None:
    number_units = max(-2.0, min(number, 2.0))
    block_units = min(block, 2.0)
    caller = facts()
    expected = []
    if calls + 1 >= RULES.repeat_count:
        expected.append(expected_reason("repeat_caller", RULES.repeat_score, calls=calls + 1,
                                        minutes=RULES.repeat_window_minutes))
    if number_units >= 0.05:
        expected.append(expected_reason(
            "reputation_number", round(RULES.number_collector_score * number_units),
            units=f"{number_units:.1f}"))
    elif number_units <= -0.05:
        expected.append(expected_reason(
            "not_collector", -round(RULES.not_collector_score * -number_units),
            units=f"{-number_units:.1f}"))
    if block_units >= 0.05:
        expected.append(expected_reason(
            "reputation_block", round(RULES.block_collector_score * block_units),
            units=f"{block_units:.1f}", block="+861391***"))

    decision = classify(caller, History(calls_in_window=calls, number_reputation=number,
                                        block_reputation=block), RULES)

    reasons = [(r.rule, r.score, r.text_zh, r.text_en) for r in decision.reasons]
    assert reasons == expected
