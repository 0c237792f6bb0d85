"""The message catalogue: every text a person sees exists in Chinese and in English."""

import string

from callscreen.i18n import _catalogue


def test_every_message_has_both_languages() -> None:
    for message_id, entry in _catalogue().items():
        assert entry.get("zh-CN"), f"{message_id} has no zh-CN text"
        assert entry.get("en"), f"{message_id} has no en text"


def test_placeholders_match_between_languages() -> None:
    formatter = string.Formatter()

    for message_id, entry in _catalogue().items():
        # English may take a translated value, named like the Chinese one plus "_en".
        names = [{field.split("!")[0].removesuffix("_en")
                  for _, field, _, _ in formatter.parse(entry[locale]) if field}
                 for locale in ("zh-CN", "en")]
        assert names[0] == names[1], f"{message_id} placeholders differ: {names}"
