"""Admin page /admin/lists: view, add, remove, import and export allow/block list entries.

Changes go through `callscreen.admin.list_service`, the same code as `callscreen list`,
so they are audited under the admin's username and the entries record who added them.
After a change the daemon re-reads the stored lists at once, so the next call is judged
with the change.
Uploads are bounded by `[web] max_body_bytes` and by the CSV parser's own limits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from aiohttp.web_request import FileField

from callscreen.admin import list_service
from callscreen.admin.lists import (
    MAX_IMPORT_BYTES,
    MAX_NOTE_CHARS,
    export_csv,
    last_day_in_force,
)
from callscreen.errors import ImportFileError
from callscreen.i18n import t
from callscreen.store import Store
from callscreen.store.admin import list_entries
from callscreen.store.lists import LIST_NAMES, PATTERN_FORMS, InvalidListEntryError, ListEntry
from callscreen.web.admin_pages import (
    FormError,
    admin_actor,
    admin_only,
    form_choice,
    form_text,
    page_locale,
    render_admin,
)
from callscreen.web.auth import context, read_form
from callscreen.web.hr import parse_id

log = structlog.get_logger(__name__)

MATCH_KINDS = tuple(PATTERN_FORMS)
MAX_NUMBER_CHARS = 40
MAX_QUERY_CHARS = 100
MAX_FILENAME_CHARS = 80
# The page lists at most this many rows; the CSV export has them all.
MAX_SHOWN_ENTRIES = 1000

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Filters:
    """The list page's filter: one list or both, a text, and whether to show inactive rows."""

    list_name: str | None = None
    text: str = ""
    include_inactive: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a change, shown above the list: a message, or an error and problems."""

    message: str = ""
    error: str = ""
    problems: tuple[str, ...] = ()


def _filters(query: Any) -> Filters:
    list_name = query.get("list", "")
    return Filters(list_name=list_name if list_name in LIST_NAMES else None,
                   text=query.get("q", "").strip()[:MAX_QUERY_CHARS],
                   include_inactive=query.get("all", "") == "1")


def _matches(entry: ListEntry, text: str) -> bool:
    needle = text.casefold()
    return any(needle in value.casefold() for value in (entry.pattern, entry.note,
                                                        entry.added_by))


async def _page(request: web.Request, filters: Filters, outcome: Outcome, *,
                status: int = 200) -> web.Response:
    ctx = context(request)
    now = datetime.now(UTC)
    entries = await list_entries(ctx.store, now=now, include_inactive=filters.include_inactive,
                                 list_name=filters.list_name)
    if filters.text:
        entries = [entry for entry in entries if _matches(entry, filters.text)]

    return render_admin(request, "admin_lists.html", status=status, message=outcome.message,
                        error=outcome.error, problems=outcome.problems, filters=filters,
                        entries=entries[:MAX_SHOWN_ENTRIES], count=len(entries),
                        shown=min(len(entries), MAX_SHOWN_ENTRIES), now=now,
                        zone=ZoneInfo(ctx.config.numbers.time_zone),
                        last_day_in_force=last_day_in_force,
                        list_names=LIST_NAMES, match_kinds=MATCH_KINDS)


async def _changed(request: web.Request, locale: str, message: str, *,
                   filters: Filters | None = None,
                   problems: tuple[str, ...] = ()) -> web.Response:
    """Let the daemon re-read the lists, then show `message` and that it applies now."""
    hooks = context(request).admin
    if hooks is not None:
        await hooks.lists_changed()

    return await _page(request, filters or Filters(), Outcome(
        message=f"{message} {t('admin.list_changed_now', locale)}", problems=problems))


async def _form_rejected(request: web.Request, locale: str, exc: FormError) -> web.Response:
    log.warning("admin_list_form_rejected", path=request.path, reason=exc.message_id)
    return await _page(request, Filters(), Outcome(error=exc.text(locale)), status=400)


@routes.get("/admin/lists")
@admin_only
async def lists_page(request: web.Request) -> web.StreamResponse:
    """Show the entries, filtered by list and text, with the add and import forms."""
    return await _page(request, _filters(request.query), Outcome())


@routes.post("/admin/lists/add")
@admin_only
async def add_entry(request: web.Request) -> web.StreamResponse:
    """Add one entry, recording the logged-in admin as who added it."""
    ctx = context(request)
    locale = page_locale(request)
    form = await read_form(request)
    try:
        list_name = form_choice(form, "list", LIST_NAMES)
        result = await list_service.add_entry(
            Store(ctx.store), ctx.config.numbers, admin_actor(request), list_name=list_name,
            match=form_choice(form, "match", MATCH_KINDS),
            number=form_text(form, "number", limit=MAX_NUMBER_CHARS, required=True),
            note=form_text(form, "note", limit=MAX_NOTE_CHARS),
            expires=form_text(form, "expires", limit=40))
    except FormError as exc:
        return await _form_rejected(request, locale, exc)
    except InvalidListEntryError as exc:
        log.warning("admin_list_add_rejected", field=exc.field)
        return await _page(request, Filters(), Outcome(error=str(exc)), status=400)

    if result.existed:
        message = t("list.exists", locale, id=result.entry_id, pattern=result.pattern)
    else:
        message = t("admin.list_added", locale, list=t(f"admin.list.{list_name}", locale),
                    id=result.entry_id, pattern=result.pattern)
    return await _changed(request, locale, message, filters=Filters(list_name=list_name))


@routes.post("/admin/lists/remove")
@admin_only
async def remove_entry(request: web.Request) -> web.StreamResponse:
    """Mark one entry removed; the row stays as history."""
    ctx = context(request)
    locale = page_locale(request)
    form = await read_form(request)
    try:
        id_text = form_text(form, "entry_id", limit=40, required=True)
        entry_id = parse_id(id_text)
        if entry_id is None:
            raise FormError("admin.list_bad_id", value=repr(id_text))
        reason = form_text(form, "reason", limit=MAX_NOTE_CHARS)
    except FormError as exc:
        return await _form_rejected(request, locale, exc)

    removed = await list_service.remove_entries(Store(ctx.store), admin_actor(request),
                                                [entry_id], reason=reason)
    if not removed:
        log.warning("admin_list_remove_not_found", entry_id=entry_id)
        return await _page(request, Filters(), Outcome(error=t("list.not_found", locale)),
                           status=404)

    return await _changed(request, locale, t("admin.list_removed", locale, id=entry_id))


@routes.post("/admin/lists/import")
@admin_only
async def import_entries(request: web.Request) -> web.StreamResponse:
    """Import an uploaded CSV file: every row or none, unless "skip bad rows" is ticked."""
    ctx = context(request)
    locale = page_locale(request)
    form = await read_form(request)
    upload = form.get("file")
    if not isinstance(upload, FileField):
        log.warning("admin_list_form_rejected", path=request.path, reason="no_file")
        return await _page(request, Filters(),
                           Outcome(error=t("admin.list_import_no_file", locale)), status=400)
    try:
        default_list = form_text(form, "list", limit=10) or None
        if default_list is not None:
            default_list = form_choice(form, "list", LIST_NAMES)
    except FormError as exc:
        return await _form_rejected(request, locale, exc)

    name = (upload.filename or "upload.csv")[:MAX_FILENAME_CHARS]
    data = await asyncio.to_thread(upload.file.read, MAX_IMPORT_BYTES + 1)
    try:
        result = await list_service.import_csv(
            Store(ctx.store), ctx.config.numbers, admin_actor(request), data, name,
            default_list=default_list, skip_bad=form.get("skip_bad") == "1")
    except ImportFileError as exc:
        log.warning("admin_list_import_rejected", problems=len(exc.problems))
        return await _page(request, Filters(), Outcome(
            error=t("directory.import_failed", locale, path=name),
            problems=tuple(exc.problems)), status=400)

    if result.rejected:
        log.warning("admin_list_import_rejected", problems=len(result.problems))
        return await _page(request, Filters(), Outcome(
            error=t("admin.list_import_rejected", locale, count=len(result.problems)),
            problems=tuple(result.problems)), status=400)

    message = t("list.imported", locale, count=result.imported, encoding=result.encoding,
                duplicates=result.duplicates, bad=len(result.problems))
    return await _changed(request, locale, message, problems=tuple(result.problems))


@routes.get("/admin/lists.csv")
@admin_only
async def export_entries(request: web.Request) -> web.StreamResponse:
    """Download the entries as CSV in UTF-8 with a BOM, which Excel opens; the CLI reads it."""
    ctx = context(request)
    filters = _filters(request.query)
    entries = await list_entries(ctx.store, now=datetime.now(UTC),
                                 include_inactive=filters.include_inactive,
                                 list_name=filters.list_name)

    body = export_csv(entries, ZoneInfo(ctx.config.numbers.time_zone))
    return web.Response(
        body=body.encode("utf-8-sig"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="callscreen-lists.csv"',
                 "Cache-Control": "no-store"},
    )
