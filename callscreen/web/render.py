"""Page rendering: the jinja2 environment for page templates and the visitor's language.

Page templates are autoescaped, so every value from outside (caller names, notes) is
escaped where it is written into HTML.
"""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from callscreen.i18n import DEFAULT_LOCALE, LOCALES, t

LANGUAGE_COOKIE = "callscreen_lang"
TEMPLATES = web.AppKey("callscreen_templates", jinja2.Environment)


def page_environment() -> jinja2.Environment:
    """Build the jinja2 environment for the templates packaged with callscreen.web."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("callscreen.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


def locale_of(request: web.Request, default: str = DEFAULT_LOCALE) -> str:
    """Return the language chosen by cookie, else `default`."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")

    return chosen if chosen in LOCALES else default


def render_fragment(request: web.Request, template: str, locale: str, **values: Any) -> str:
    """Render a template to a string; `_` in templates translates message ids."""
    environment = request.app[TEMPLATES]

    def translate(message_id: str, **params: object) -> str:
        return t(message_id, locale, **params)

    return environment.get_template(template).render(_=translate, locale=locale, **values)


def render_html(request: web.Request, template: str, locale: str, *, status: int = 200,
                **values: Any) -> web.Response:
    """Render a page template into an uncacheable HTML response."""
    html = render_fragment(request, template, locale, **values)

    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
