"""The screening rules: each looks at number facts and history and may add a scored reason.

Rules are pure functions of their inputs so that `callscreen replay` can re-run them over stored
history and get the same answer the call got at ring time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from callscreen.classifier.model import Category, History, Reason
from callscreen.config.model import RulesConfig
from callscreen.i18n import t
from callscreen.numbers.model import NumberFacts, NumberKind

# A rule returns (reason, category hint), or None when it does not apply; the hint is None
# when the rule does not say why. Plain returns, not generators: classify() runs every rule
# for every call, and `callscreen replay` runs it a million times.
RuleResult = tuple[Reason, Category | None] | None
Rule = Callable[[NumberFacts, History, RulesConfig], RuleResult]

# Reputation sums are clipped here so that a flood of tags cannot outweigh every other rule.
MAX_REPUTATION_UNITS = 2.0
# Decayed sums below this are old enough to be noise.
REPUTATION_FLOOR = 0.05
# The units text of a clipped sum. A busy block's sum stays clipped for days, so its rule
# skips formatting the same text on every call.
MAX_UNITS_TEXT = f"{MAX_REPUTATION_UNITS:.1f}"

# Reading an enum member through its class goes through the __getattr__ hook of EnumType
# (Python 3.11) and costs about ten times a module global; these rules run on every call.
COLLECTOR = Category.COLLECTOR
REPEAT_COLLECTOR = Category.REPEAT_COLLECTOR


def reason(rule: str, score: int, **params: object) -> Reason:
    """Build a Reason whose texts come from the catalogue entry `reason.<rule>`."""
    return _reason(rule, score, tuple(params.items()))


@lru_cache(maxsize=4096)
def _reason(rule: str, score: int, params: tuple[tuple[str, object], ...]) -> Reason:
    # Formatting two catalogue texts was a third of classify(). The same few reasons recur
    # on every call and Reason is immutable, so one cached instance serves them all.
    message_id = f"reason.{rule}"
    return Reason(rule=rule, score=score, text_zh=t(message_id, "zh-CN", **dict(params)),
                  text_en=t(message_id, "en", **dict(params)))


def anonymous_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score withheld or placeholder caller IDs."""
    if facts.kind is NumberKind.ANONYMOUS and rules.anonymous_score:
        return reason("anonymous", rules.anonymous_score), Category.ANONYMOUS
    return None


def kind_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score number kinds often used for bulk calling (virtual operators, SMS gateways)."""
    if facts.kind is NumberKind.ANONYMOUS:
        return None
    score = rules.kind_scores.get(facts.kind.value, 0)
    if not score:
        return None
    kind_name = t(f"kind.{facts.kind.value}", "zh-CN")
    kind_name_en = t(f"kind.{facts.kind.value}", "en")
    return reason(f"kind.{facts.kind.value}", score, kind=kind_name, kind_en=kind_name_en), None


def region_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score configured provinces or cities; the longest matching name wins."""
    region = facts.region
    if not region or not rules.region_scores:
        return None
    matches = [name for name in rules.region_scores if region.startswith(name)]
    if not matches:
        return None
    name = max(matches, key=len)
    return reason("region", rules.region_scores[name], region=name), None


def repeat_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score a number that calls repeatedly within the repeat window."""
    calls = history.calls_in_window + 1
    if facts.key and calls >= rules.repeat_count and rules.repeat_score:
        return (_repeat_reason(rules.repeat_score, calls, rules.repeat_window_minutes),
                REPEAT_COLLECTOR)
    return None


def number_reputation_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score reception's earlier feedback on this exact number, decayed over time."""
    units = history.number_reputation
    if units >= REPUTATION_FLOOR:
        if units >= MAX_REPUTATION_UNITS:
            score = round(rules.number_collector_score * MAX_REPUTATION_UNITS)
            return _units_reason("reputation_number", score, MAX_UNITS_TEXT), COLLECTOR
        score = round(rules.number_collector_score * units)
        return _units_reason("reputation_number", score, f"{units:.1f}"), COLLECTOR
    if units <= -REPUTATION_FLOOR:
        units = -units
        if units > MAX_REPUTATION_UNITS:
            units = MAX_REPUTATION_UNITS
        score = -round(rules.not_collector_score * units)
        return _units_reason("not_collector", score, f"{units:.1f}"), None
    return None


def block_reputation_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score collector tags on other numbers of the block, since collectors rotate within one."""
    units = history.block_reputation
    if facts.block and units >= REPUTATION_FLOOR:
        if units >= MAX_REPUTATION_UNITS:
            score = round(rules.block_collector_score * MAX_REPUTATION_UNITS)
            return _block_reason(score, MAX_UNITS_TEXT, facts.block), COLLECTOR
        score = round(rules.block_collector_score * units)
        return _block_reason(score, f"{units:.1f}", facts.block), COLLECTOR
    return None


def block_burst_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Score a burst of calls from different numbers of one block, as rotating collectors
    place them, without waiting for reception to tag any of the numbers.
    """
    numbers = history.block_callers_in_window + 1
    if facts.block and numbers >= rules.block_burst_count and rules.block_burst_score:
        return _burst_reason(rules.block_burst_score, numbers, rules.block_burst_window_minutes,
                             facts.block), COLLECTOR
    return None


@lru_cache(maxsize=1024)
def _repeat_reason(score: int, calls: int, minutes: int) -> Reason:
    # A repeat caller's reason differs only by its call count, so a few instances serve
    # every call; reason() would rebuild its cache key from keyword arguments each time.
    return reason("repeat_caller", score, calls=calls, minutes=minutes)


@lru_cache(maxsize=4096)
def _burst_reason(score: int, numbers: int, minutes: int, block: str) -> Reason:
    # A burst scores every call of its block for minutes: one reason per block and count.
    return reason("block_burst", score, numbers=numbers, minutes=minutes,
                  block=_masked_block(block))


@lru_cache(maxsize=1024)
def _units_reason(rule: str, score: int, units: str) -> Reason:
    # reason() builds its cache key from keyword arguments on every call. Tagged numbers
    # reach this rule at ring time, so their few distinct reasons are cached directly.
    return reason(rule, score, units=units)


@lru_cache(maxsize=4096)
def _block_reason(score: int, units: str, block: str) -> Reason:
    # Callers from one busy block share this reason. Caching it by block skips masking the
    # block and building the parameters on every call from that block.
    return reason("reputation_block", score, units=units, block=_masked_block(block))


def employment_check_rule(facts: NumberFacts, history: History, rules: RulesConfig) -> RuleResult:
    """Mark numbers reception tagged as employment or income verification."""
    if history.employment_checks >= 0.5:
        return reason("employment_check", rules.employment_check_score), Category.EMPLOYMENT_CHECK
    return None


def _masked_block(block: str) -> str:
    return f"{block[:-3]}***" if len(block) > 6 else block


RULES: tuple[Rule, ...] = (
    anonymous_rule,
    kind_rule,
    region_rule,
    repeat_rule,
    number_reputation_rule,
    block_reputation_rule,
    block_burst_rule,
    employment_check_rule,
)
