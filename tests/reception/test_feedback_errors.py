"""Rejected reception feedback reads in one language per locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from callscreen.hub import CallUpdate
from callscreen.i18n import t
from callscreen.reception.feedback import MAX_NOTE_CHARS, FeedbackError, record_feedback
from callscreen.store.db import Database

LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def _call() -> CallUpdate:
    now = datetime.now(UTC)
    return CallUpdate(call_id="call-1", state="ringing", at=now, started_at=now,
                      caller_masked="+86139****5678", caller_key="+8613912345678",
                      caller_block="+861391234", caller_name="", kind="mobile",
                      region="上海市", did="02188886666", verdict="flag",
                      category="collector", score=55, tag="[疑似催收]")


@pytest.mark.parametrize(("changes", "value"), [
    ({"action": "admin"}, "'admin'"),
    ({"note": "x" * (MAX_NOTE_CHARS + 1)}, str(MAX_NOTE_CHARS)),
    ({"employee_id": "E404"}, "'E404'"),
])
async def test_rejection_text_per_locale(db: Database, changes: dict[str, str],
                                         value: str) -> None:
    fields = {"action": "collector", "employee_id": "", "note": "", **changes}

    with pytest.raises(FeedbackError) as caught:
        await record_feedback(db, _call(), author="r1", **fields)

    chinese = t(caught.value.message_id, "zh-CN", error=caught.value.detail)
    english = t(caught.value.message_id, "en", error=caught.value.detail)
    assert value in chinese
    assert value in english
    assert LATIN_WORD.findall(chinese.replace(value, "")) == []
