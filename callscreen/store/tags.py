"""Reception tags on numbers, and the decayed reputation computed from them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from callscreen.store.db import Database, from_db_time, to_db_time

log = structlog.get_logger(__name__)


class TagKind(enum.StrEnum):
    """What reception said about a caller."""

    COLLECTOR = "collector"
    NOT_COLLECTOR = "not_collector"
    EMPLOYMENT_CHECK = "employment_check"
    OFFICIAL = "official"
    ABUSIVE = "abusive"


# Contribution of one fresh tag to a reputation. Positive means "looks like a collector".
TAG_WEIGHTS: dict[TagKind, float] = {
    TagKind.COLLECTOR: 1.0,
    TagKind.ABUSIVE: 1.0,
    TagKind.NOT_COLLECTOR: -1.0,
    TagKind.EMPLOYMENT_CHECK: 0.0,
    TagKind.OFFICIAL: 0.0,
}

# Ring-time queries: range scans on tags_caller_key_created and tags_caller_block_created,
# bounded below by max_age and above by now.
NUMBER_TAGS_SQL = (
    "SELECT tag, created_at FROM tags"
    " WHERE caller_key = ? AND created_at >= ? AND created_at <= ?"
)
BLOCK_TAGS_SQL = (
    "SELECT tag, created_at FROM tags"
    " WHERE caller_block = ? AND created_at >= ? AND created_at <= ? AND caller_key <> ?"
)


@dataclass(frozen=True, slots=True)
class Reputation:
    """Decayed tag sums for one caller, as the classifier's History carries them."""

    number: float = 0.0
    block: float = 0.0
    employment_checks: float = 0.0


async def insert_tag(db: Database, *, caller_key: str, caller_block: str, tag: TagKind | str,
                     author: str, call_id: str | None = None, employee_id: str | None = None,
                     note: str = "", created_at: datetime | None = None,
                     caller_org: str = "") -> int:
    """Store one reception tag and return its id.

    Raises ValueError for an empty caller_key (a caller with no number cannot be tagged)
    and for an unknown tag.
    """
    kind = TagKind(tag)
    if not caller_key:
        raise ValueError("cannot tag a caller without a number (caller_key is empty)")

    params = (
        to_db_time(created_at or datetime.now(UTC)), call_id, caller_key, caller_block,
        str(kind), employee_id, note, author, caller_org,
    )
    async with db.write("add_tag") as connection:
        cursor = await connection.execute(
            "INSERT INTO tags (created_at, call_id, caller_key, caller_block, tag,"
            " employee_id, note, author, caller_org) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params,
        )
        tag_id = cursor.lastrowid

    log.info("tag_added", tag_id=tag_id, tag=str(kind), call_id=call_id)
    return int(tag_id or 0)


async def load_reputation(db: Database, *, caller_key: str, caller_block: str, now: datetime,
                          half_life: timedelta, max_age: timedelta) -> Reputation:
    """Sum the caller's tags from the last `max_age`, each halved per `half_life` of age.

    The block sum leaves out tags on this exact number, so that one number's history does
    not count twice. An empty key or block contributes nothing.
    """
    if half_life <= timedelta(0):
        raise ValueError(f"half_life must be positive, not {half_life}")

    since, until = to_db_time(now - max_age), to_db_time(now)
    number_rows = await _tag_rows(db, NUMBER_TAGS_SQL, (caller_key, since, until), caller_key)
    block_rows = await _tag_rows(db, BLOCK_TAGS_SQL, (caller_block, since, until, caller_key),
                                 caller_block)

    return Reputation(
        number=decayed_sum(number_rows, now, half_life, TAG_WEIGHTS),
        block=decayed_sum(block_rows, now, half_life, TAG_WEIGHTS),
        employment_checks=decayed_sum(number_rows, now, half_life,
                                      {TagKind.EMPLOYMENT_CHECK: 1.0}),
    )


async def _tag_rows(db: Database, sql: str, params: tuple[str, ...],
                    key: str) -> list[tuple[TagKind, datetime]]:
    if not key:
        return []

    rows = await db.fetch_all(sql, params, action="load_reputation")

    return [(TagKind(row[0]), from_db_time(row[1])) for row in rows]


def decayed_sum(tags: Iterable[tuple[TagKind, datetime]], now: datetime, half_life: timedelta,
                weights: dict[TagKind, float]) -> float:
    """Return the sum of weight * 0.5 ** (age / half_life) over the tags."""
    total = 0.0
    for kind, created_at in tags:
        age = max(now - created_at, timedelta(0))
        total += weights.get(kind, 0.0) * 0.5 ** (age / half_life)

    return total
