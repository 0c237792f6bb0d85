"""The classifier's inputs and its verdict."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from callscreen.numbers.model import NumberFacts


class Verdict(enum.StrEnum):
    """The action the dialplan takes with the call."""

    ALLOW = "allow"
    FLAG = "flag"
    BLOCK = "block"


class Category(enum.StrEnum):
    """The kind of call, which selects the reply script."""

    NORMAL = "normal"
    COLLECTOR = "collector"
    REPEAT_COLLECTOR = "repeat_collector"
    ANONYMOUS = "anonymous"
    EMPLOYMENT_CHECK = "employment_check"
    OFFICIAL = "official"
    ABUSIVE = "abusive"


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule's contribution: a stable rule id, its score and readable texts."""

    rule: str
    score: int
    text_zh: str
    text_en: str

    @property
    def text(self) -> str:
        """Return the Chinese text with the English beside it."""
        return f"{self.text_zh} / {self.text_en}"


@dataclass(frozen=True, slots=True)
class ListMatch:
    """An allow- or block-list entry that matched the caller."""

    list_name: str  # "allow" or "block"
    pattern_kind: str  # "exact", "prefix" or "block"
    pattern: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class History:
    """The caller's stored history, fetched before classifying (from memory in the daemon)."""

    calls_in_window: int = 0  # earlier calls from the same number within the repeat window
    number_reputation: float = 0.0  # decayed sum of reception tags on the number (+ collector)
    block_reputation: float = 0.0  # decayed sum over other numbers of the same block
    # other numbers of the same block that called within the block-burst window
    block_callers_in_window: int = 0
    employment_checks: float = 0.0  # decayed count of "employment check" tags on the number
    list_matches: tuple[ListMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The classifier's verdict for one call, with its score and reasons."""

    verdict: Verdict
    category: Category
    score: int  # 0..100
    tag: str  # caller-ID name prefix for the phones, "" for none
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    facts: NumberFacts | None = None
