"""Turn number facts and history into one Decision."""

from __future__ import annotations

from callscreen.classifier.model import Category, Decision, History, Reason, Verdict
from callscreen.classifier.rules import RULES, reason
from callscreen.config.model import RulesConfig
from callscreen.i18n import t
from callscreen.numbers.model import NumberFacts

# When several rules name a category, the most specific one describes the call best.
CATEGORY_PRIORITY = (
    Category.REPEAT_COLLECTOR,
    Category.COLLECTOR,
    Category.EMPLOYMENT_CHECK,
    Category.ANONYMOUS,
)


COLLECTOR_CATEGORIES = frozenset({Category.COLLECTOR, Category.REPEAT_COLLECTOR})


def classify(facts: NumberFacts, history: History, rules: RulesConfig) -> Decision:
    """Classify one call. Pure: no I/O, the same inputs always give the same Decision."""
    matches = history.list_matches
    allow = [m for m in matches if m.list_name == "allow"] if matches else []
    if allow:
        match = allow[0]
        listed = reason("allow_list", 0, pattern=match.pattern, note=match.note)
        return Decision(Verdict.ALLOW, Category.NORMAL, 0, "", (listed,), facts)

    reasons: list[Reason] = []
    categories: set[Category] = set()
    block = [m for m in matches if m.list_name == "block"] if matches else []
    if block:
        reasons.append(reason("block_list", 100, pattern=block[0].pattern, note=block[0].note))
        categories.add(Category.COLLECTOR)

    total = reasons[0].score if reasons else 0
    for rule in RULES:
        result = rule(facts, history, rules)
        if result is None:
            continue
        found, category = result
        reasons.append(found)
        total += found.score
        # A collector category needs a positive score behind it; descriptive ones
        # (anonymous, employment check) hold whatever their weight.
        if category is not None and (found.score > 0 or category not in COLLECTOR_CATEGORIES):
            categories.add(category)

    score = max(0, min(100, total))
    verdict = _verdict(score, rules, listed_block=bool(block))
    category = _category(categories, verdict)
    return Decision(verdict, category, score, _tag(verdict, category, rules), tuple(reasons),
                    facts)


def fallback_decision(facts: NumberFacts | None = None) -> Decision:
    """Return the decision used when classification failed or ran out of time: allow."""
    failed = reason("error", 0)
    return Decision(Verdict.ALLOW, Category.NORMAL, 0, "", (failed,), facts)


def _verdict(score: int, rules: RulesConfig, *, listed_block: bool) -> Verdict:
    if listed_block or score >= rules.block_threshold:
        return Verdict.BLOCK
    if score >= rules.flag_threshold:
        return Verdict.FLAG
    return Verdict.ALLOW


def _category(categories: set[Category], verdict: Verdict) -> Category:
    for category in CATEGORY_PRIORITY:
        if category in categories:
            if category in COLLECTOR_CATEGORIES and verdict is Verdict.ALLOW:
                continue
            return category
    return Category.COLLECTOR if verdict is not Verdict.ALLOW else Category.NORMAL


def _tag(verdict: Verdict, category: Category, rules: RulesConfig) -> str:
    if verdict is Verdict.ALLOW:
        return ""
    if category in COLLECTOR_CATEGORIES:
        return rules.tag
    return t(f"tag.{category.value}", "zh-CN")
