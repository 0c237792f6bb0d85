"""`callscreen explain CALL_ID`: the stored verdict of one call, every reason and its facts.

The facts are the ones saved with the decision at ring time (facts_json), not a fresh
normalisation, so the output shows what the classifier saw even after the number data or
the rules changed. The store is opened read-only.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from callscreen.admin.options import config_and_store_path
from callscreen.commands.text import display_width
from callscreen.errors import CallscreenError, StoreError
from callscreen.i18n import both, t
from callscreen.logs import configure_command_logging
from callscreen.numbers.model import NumberFacts
from callscreen.store.admin import open_read_only
from callscreen.store.calls import StoredCall, row_to_call

# A call id from the console or the dialplan is tried first, then a Uniqueid or Linkedid
# copied from the Asterisk logs.
FIND_CALL_QUERIES = (
    "SELECT * FROM calls WHERE call_id = :ref",
    "SELECT * FROM calls WHERE uniqueid = :ref OR linkedid = :ref ORDER BY started_at LIMIT 1",
)


class CallNotFoundError(CallscreenError, LookupError):
    """No stored call has this call id, Uniqueid or Linkedid."""


def find_call(path: str, ref: str) -> StoredCall:
    """Read one call by call id, Uniqueid or Linkedid from a read-only connection.

    Raises CallNotFoundError when no row matches and StoreError when the file cannot be read.
    """
    connection = open_read_only(path)
    row = None
    try:
        for sql in FIND_CALL_QUERIES:
            row = connection.execute(sql, {"ref": ref}).fetchone()
            if row is not None:
                break
    except sqlite3.Error as exc:
        raise StoreError(f"读取通话失败 / cannot read call {ref!r} from {path}: {exc}") from exc
    finally:
        connection.close()

    if row is None:
        raise CallNotFoundError(both("explain.not_found", ref=ref, path=path))
    return row_to_call(row)


def explain_command(args: argparse.Namespace) -> int:
    """Print the stored decision of one call as text or as JSON."""
    configure_command_logging()
    config, path = config_and_store_path(args)
    call = find_call(path, args.call_id)
    zone = ZoneInfo(config.numbers.time_zone)

    if args.json:
        print(json.dumps(explain_json(call, zone), ensure_ascii=False, indent=2))
    else:
        print(format_explanation(call, zone))
    return 0


def explain_json(call: StoredCall, zone: ZoneInfo) -> dict[str, Any]:
    """Return the `explain --json` object: the decision, its reasons, facts and outcome."""
    return {
        "call_id": call.call_id,
        "uniqueid": call.uniqueid,
        "linkedid": call.linkedid,
        "started_at": call.started_at.isoformat(),
        "started_at_local": call.started_at.astimezone(zone).isoformat(),
        "caller_raw": call.caller_raw,
        "did": call.did,
        "verdict": call.verdict.value if call.verdict else None,
        "category": call.category.value if call.category else None,
        "score": call.score,
        "decision_source": call.decision_source,
        "decision_ms": call.decision_ms,
        "reasons": [{"rule": r.rule, "score": r.score, "text": r.text_zh, "text_en": r.text_en}
                    for r in call.reasons],
        "facts": _facts_json(call.facts),
        "answered_by": call.answered_by,
        "transferred_to": call.transferred_to,
        "talk_seconds": call.talk_seconds,
        "hangup_cause": call.hangup_cause,
    }


def _facts_json(facts: NumberFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None

    return {
        "e164": facts.e164, "key": facts.key, "kind": facts.kind.value,
        "region": facts.region, "province": facts.province, "city": facts.city,
        "carrier": facts.carrier, "block": facts.block, "national": facts.national,
    }


def format_explanation(call: StoredCall, zone: ZoneInfo) -> str:
    """Render the stored decision for a terminal, Chinese first with English beside it."""
    rows = [(both("explain.call"), call.call_id),
            (both("explain.started"), call.started_at.astimezone(zone).isoformat(" ")),
            (both("explain.caller"), call.caller_raw or "—"),
            (both("explain.did"), call.did or "—"),
            (both("explain.verdict"), _verdict_text(call)),
            (both("explain.source"), _source_text(call))]
    rows.extend(_facts_rows(call.facts))
    rows.append((both("explain.outcome"), _outcome_text(call)))

    width = max(display_width(label) for label, _ in rows)
    lines = [f"{label}{' ' * (width - display_width(label))}  {value}" for label, value in rows]
    lines.append(both("explain.reasons") + ":")
    lines.extend(f"  [{r.rule}] {r.score:+d}  {r.text_zh} / {r.text_en}" for r in call.reasons)
    if not call.reasons:
        lines.append("  " + both("classify.no_reasons"))
    return "\n".join(lines)


def _verdict_text(call: StoredCall) -> str:
    if call.verdict is None:
        return both("explain.no_decision")

    category = call.category.value if call.category else "normal"
    return (f"{t('verdict.' + call.verdict.value)} ({call.verdict.value}), "
            f"{t('category.' + category)}, " + both("classify.score_value", score=call.score))


def _source_text(call: StoredCall) -> str:
    if call.decision_source is None:
        return "—"
    if call.decision_ms is None:
        return call.decision_source

    return f"{call.decision_source}, {call.decision_ms:.1f} ms"


def _facts_rows(facts: NumberFacts | None) -> list[tuple[str, str]]:
    if facts is None:
        return [(both("explain.facts"), both("explain.no_facts"))]

    kind = f"{t('kind.' + facts.kind.value)} ({facts.kind.value})"
    return [(both("classify.e164"), facts.e164 or facts.key or "—"),
            (both("classify.kind"), kind),
            (both("classify.region"), facts.region or "—"),
            (both("classify.carrier"), facts.carrier or "—"),
            (both("classify.block"), facts.block or "—")]


def _outcome_text(call: StoredCall) -> str:
    if call.ended_at is None:
        return both("explain.not_ended")

    return both("explain.ended", answered_by=call.answered_by or "—",
                transferred_to=call.transferred_to or "—", talk_seconds=call.talk_seconds,
                cause=call.hangup_cause_text or call.hangup_cause or "—")
