"""Reception feedback on a call, stored as a tag that later classifications read."""

from __future__ import annotations

import structlog

from callscreen.errors import CallscreenError
from callscreen.hub import CallUpdate
from callscreen.store import reception as directory
from callscreen.store.db import Database
from callscreen.store.tags import TagKind, insert_tag

log = structlog.get_logger(__name__)

# Console button -> stored tag.
FEEDBACK_ACTIONS: dict[str, TagKind] = {
    "collector": TagKind.COLLECTOR,
    "not_collector": TagKind.NOT_COLLECTOR,
    "employment_check": TagKind.EMPLOYMENT_CHECK,
}
MAX_NOTE_CHARS = 500
MAX_CALLER_ORG_CHARS = 100


class FeedbackError(CallscreenError, ValueError):
    """Feedback that cannot be stored; `message_id` names the text shown to reception.

    `detail` fills the message's {error} placeholder in every language, so it is a value
    (an action, an id, a limit) and never a sentence.
    """

    def __init__(self, message_id: str, detail: str = "") -> None:
        self.message_id = message_id
        self.detail = detail
        super().__init__(f"{message_id}: {detail}" if detail else message_id)


def clean_note(note: str) -> str:
    """Return the note without control characters other than newlines, stripped."""
    return "".join(ch for ch in note if ch == "\n" or ch.isprintable()).strip()


def clean_caller_org(text: str) -> str:
    """Return the organisation on one line: no control characters, spaces collapsed."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(printable.split())


async def record_feedback(db: Database, call: CallUpdate, *, action: str, employee_id: str,
                          note: str, author: str, caller_org: str = "") -> int:
    """Store reception's verdict on `call` as a tag on its number and block; return the tag id.

    `caller_org` is the organisation the caller named, shown in reply scripts on the
    number's later calls. Raises FeedbackError for an unknown action, an unknown employee,
    a note longer than MAX_NOTE_CHARS, an organisation longer than MAX_CALLER_ORG_CHARS, or
    a call without a number (nothing to attach a reputation to).
    """
    kind = FEEDBACK_ACTIONS.get(action)
    if kind is None:
        raise FeedbackError("console.feedback_unknown_action", repr(action))
    if not call.caller_key:
        raise FeedbackError("console.feedback_no_number")
    note = clean_note(note)
    if len(note) > MAX_NOTE_CHARS:
        raise FeedbackError("console.feedback_note_too_long", str(MAX_NOTE_CHARS))
    caller_org = clean_caller_org(caller_org)
    if len(caller_org) > MAX_CALLER_ORG_CHARS:
        raise FeedbackError("console.feedback_org_too_long", str(MAX_CALLER_ORG_CHARS))
    if employee_id and await directory.get_employee(db, employee_id) is None:
        raise FeedbackError("console.feedback_unknown_employee", repr(employee_id))

    # tags.call_id references calls; the call tracker may not have written the row yet.
    logged = await db.fetch_one("SELECT 1 FROM calls WHERE call_id = ?", (call.call_id,),
                                action="find_call_for_tag")
    tag_id = await insert_tag(
        db, caller_key=call.caller_key, caller_block=call.caller_block, tag=kind,
        author=author, call_id=call.call_id if logged else None,
        employee_id=employee_id or None, note=note, caller_org=caller_org,
    )

    log.info("feedback_recorded", call_id=call.call_id, tag=str(kind), tag_id=tag_id,
             call_logged=logged is not None, caller=call.caller_masked)
    return tag_id
