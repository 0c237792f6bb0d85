"""Redaction of personal details from closed-case text for the knowledge base."""

from __future__ import annotations

import re

# Phone numbers, extensions, ID-card and bank numbers: any run of four or more digits (single
# spaces or dashes allowed between them). Years go too; a knowledge base loses little by it.
DIGIT_RUN = re.compile(r"\+?\d(?:[\s-]?\d){3,}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
MASK = "[已脱敏]"


def redact(text: str, *, names: list[str]) -> str:
    """Replace the given names, runs of four or more digits and e-mail addresses with a mask.

    Names are replaced longest first, so "张伟" inside "张伟伟" leaves no fragment.
    """
    redacted = EMAIL.sub(MASK, text)
    for name in sorted((name for name in names if name), key=len, reverse=True):
        redacted = redacted.replace(name, MASK)

    return DIGIT_RUN.sub(MASK, redacted)
