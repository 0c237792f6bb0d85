"""Explainable rules that turn number facts and history into a verdict (pure)."""

from callscreen.classifier.classify import classify, fallback_decision
from callscreen.classifier.model import Category, Decision, History, ListMatch, Reason, Verdict

__all__ = ["Category", "Decision", "History", "ListMatch", "Reason", "Verdict", "classify",
           "fallback_decision"]
