"""Notification texts from the message catalogue, Chinese by default."""

from __future__ import annotations

from email.message import EmailMessage
from hashlib import sha256

from callscreen.i18n import t
from callscreen.notify.model import Notification


def chat_text(note: Notification, locale: str = "zh-CN") -> str:
    """Return the chat-robot text: case number, risk, counts and link, never a name."""
    message_id = "notify.risk_raised" if note.event == "risk_raised" else "notify.case_opened"

    return t(
        message_id, locale,
        case_no=note.case_no,
        risk=t(f"case.risk.{note.risk}", locale),
        short_hours=note.short_window_hours,
        long_hours=note.long_window_hours,
        calls=note.counts.get("short_calls", 0),
        numbers=note.counts.get("short_numbers", 0),
        blocks=note.counts.get("short_blocks", 0),
        long_calls=note.counts.get("long_calls", 0),
        link=note.link or t("notify.no_link", locale),
    )


def email_message(note: Notification, *, dedupe_key: str, sender: str,
                  recipients: list[str], locale: str = "zh-CN") -> EmailMessage:
    """Build the email to HR; it names the employee only when the payload carries a name.

    The Message-ID is derived from the dedupe key, so a repeated delivery has the same id and
    a mail client can drop the copy.
    """
    message = EmailMessage()
    message["Subject"] = t("notify.email_subject", locale, case_no=note.case_no,
                           risk=t(f"case.risk.{note.risk}", locale))
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = f"<{sha256(dedupe_key.encode()).hexdigest()[:32]}@callscreen>"
    message["X-Callscreen-Dedupe-Key"] = dedupe_key

    lines = [chat_text(note, locale)]
    if note.employee_name:
        lines.append(t("notify.email_employee", locale, name=note.employee_name))
    lines += ["", t("notify.email_footer", locale)]
    message.set_content("\n".join(lines))

    return message
