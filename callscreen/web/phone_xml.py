"""Desk-phone screens: the current call's verdict and short script as phone XML.

Yealink phones show `YealinkIPPhoneTextScreen` and Cisco phones `CiscoIPPhoneText`
documents fetched from a URL configured on a DSS key or an Action URL. Phones cannot log
in, so each URL carries a per-extension token (see callscreen.reception.phones).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection

import structlog
from aiohttp import web

from callscreen.hub import CallUpdate
from callscreen.i18n import LOCALES, both, t
from callscreen.reception.phones import phone_allowed
from callscreen.reception.scripts import situation_for
from callscreen.web.auth import context

log = structlog.get_logger(__name__)

# NOTE: these sizes are conservative guesses, not limits read from either vendor's manual.
# Cisco's "Unified IP Phone Services Application Development Notes" (OL-20949-01) says the
# Text may contain no control characters but CR, LF and tab, and that older phones show
# only ISO 8859-1 and Shift_JIS, so Chinese text needs a phone model with Unicode fonts.
MAX_TITLE_CHARS = 32
MAX_TEXT_CHARS = 4000
MAX_NAME_CHARS = 40
# Characters that XML 1.0 does not allow anywhere, not even escaped.
NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

routes = web.RouteTableDef()


def xml_text(text: str, limit: int) -> str:
    """Return `text` without characters XML cannot carry, cut to `limit` characters."""
    cleaned = NOT_XML_CHARS.sub("", text)

    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def current_call(calls: list[CallUpdate], extension: str,
                 reception_extensions: Collection[str]) -> CallUpdate | None:
    """Return the newest unfinished call that `extension`'s phone should show.

    The main line rings reception, and while a call rings the hub does not know which
    phones ring, so a ringing call shows on every reception extension (every registered
    phone when `[hr] reception_extensions` is empty). Once answered, the call shows only
    on the phone that answered it and on the phone it was transferred to.
    """
    for call in calls:
        if call.state == "ended":
            continue
        if extension and extension in (call.answered_by, call.transferred_to):
            return call
        if call.state == "ringing" and _rings_at(call, extension, reception_extensions):
            return call

    return None


def _rings_at(call: CallUpdate, extension: str, reception_extensions: Collection[str]) -> bool:
    if call.extensions:
        return extension in call.extensions

    return not reception_extensions or extension in reception_extensions


def screen_text(request: web.Request, call: CallUpdate | None, locale: str) -> str:
    """Return the body text for a phone screen: verdict line, caller and what to say."""
    if call is None:
        return t("phone.no_call", locale)

    script = context(request).scripts.render(situation_for(call.category), locale,
                                             caller_org=call.caller_org)
    lines = [
        f"{t(f'verdict.{call.verdict}', locale)} · {t(f'category.{call.category}', locale)}"
        f" · {call.score}",
        f"{call.caller_masked} {call.region}".strip(),
    ]
    if call.caller_name:
        lines.append(xml_text(call.caller_name, MAX_NAME_CHARS))
    lines += ["", script.say]

    return xml_text("\n".join(lines), MAX_TEXT_CHARS)


def yealink_document(title: str, text: str) -> str:
    """Build a YealinkIPPhoneTextScreen document."""
    root = ET.Element("YealinkIPPhoneTextScreen", destroyOnExit="yes", Beep="no")
    ET.SubElement(root, "Title", wrap="yes").text = xml_text(title, MAX_TITLE_CHARS)
    ET.SubElement(root, "Text").text = text

    return _serialise(root)


def cisco_document(title: str, text: str) -> str:
    """Build a CiscoIPPhoneText document."""
    root = ET.Element("CiscoIPPhoneText")
    ET.SubElement(root, "Title").text = xml_text(title, MAX_TITLE_CHARS)
    ET.SubElement(root, "Text").text = text

    return _serialise(root)


def _serialise(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


async def _phone_screen(request: web.Request, model: str) -> web.Response:
    ctx = context(request)
    extension = request.match_info["ext"]
    if not await phone_allowed(ctx.store, extension, model, request.query.get("token", "")):
        log.warning("phone_token_rejected", extension=extension[:16], model=model)
        raise web.HTTPForbidden(text=both("phone.token_invalid"))
    locale = request.query.get("lang", ctx.config.reception.locale)
    locale = locale if locale in LOCALES else ctx.config.reception.locale

    call = current_call(ctx.hub.active(), extension, ctx.config.hr.reception_extensions)
    title, text = t("phone.title", locale), screen_text(request, call, locale)
    document = (yealink_document if model == "yealink" else cisco_document)(title, text)

    response = web.Response(text=document, content_type="text/xml", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/phone/yealink/{ext}")
async def yealink_screen(request: web.Request) -> web.StreamResponse:
    """Return the Yealink text screen for one extension."""
    return await _phone_screen(request, "yealink")


@routes.get("/phone/cisco/{ext}")
async def cisco_screen(request: web.Request) -> web.StreamResponse:
    """Return the Cisco text screen for one extension."""
    return await _phone_screen(request, "cisco")
