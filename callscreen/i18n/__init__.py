"""The message catalogue: every text a person sees, in zh-CN (default) and en.

Texts live in `messages.toml` beside this file, one table per message id with a `zh-CN` and
an `en` entry, so translators see both languages side by side. Placeholders use
`str.format` names. Templates (pages, reply scripts) take their words from the same file.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    text = resources.files(__package__).joinpath("messages.toml").read_text(encoding="utf-8")
    flat: dict[str, dict[str, str]] = {}
    _flatten(tomllib.loads(text), "", flat)
    return flat


def _flatten(node: dict[str, Any], prefix: str, out: dict[str, dict[str, str]]) -> None:
    if all(isinstance(value, str) for value in node.values()) and DEFAULT_LOCALE in node:
        out[prefix] = node
        return

    for key, value in node.items():
        if isinstance(value, dict):
            _flatten(value, f"{prefix}.{key}" if prefix else key, out)


def has(message_id: str) -> bool:
    """Return whether the catalogue defines `message_id`."""
    return message_id in _catalogue()


def t(message_id: str, locale: str = DEFAULT_LOCALE, /, **params: object) -> str:
    """Translate `message_id` into `locale`, filling `params`.

    An unknown id returns the id itself so a missing text shows up instead of crashing a page.
    """
    entry = _catalogue().get(message_id)
    if entry is None:
        return message_id

    template = entry.get(locale) or entry[DEFAULT_LOCALE]
    return template.format(**params) if params else template


def both(message_id: str, /, **params: object) -> str:
    """Return the Chinese text with the English beside it, for terminals and logs read by admins."""
    chinese, english = t(message_id, "zh-CN", **params), t(message_id, "en", **params)
    return chinese if chinese == english else f"{chinese} / {english}"


def catalogue_ids() -> list[str]:
    """Return every message id, for tests that check both languages exist."""
    return sorted(_catalogue())
