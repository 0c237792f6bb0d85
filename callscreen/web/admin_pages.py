"""Helpers the admin pages share: the role guard, page rendering, the actor and form fields."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callscreen.admin.users import AdminActor
from callscreen.i18n import t
from callscreen.web.auth import Handler, context, current_session, require_role
from callscreen.web.render import locale_of, render_html

ADMIN_ROLE = "admin"
SUBSECTIONS = ("/admin/lists", "/admin/users")


class FormError(ValueError):
    """A form field is missing, too long or malformed; the page shows the catalogue text."""

    def __init__(self, message_id: str, **params: object) -> None:
        self.message_id = message_id
        self.params = params
        super().__init__(message_id)

    def text(self, locale: str) -> str:
        """Return the message in `locale`."""
        return t(self.message_id, locale, **self.params)


def admin_only(handler: Handler) -> Handler:
    """Let only admin sessions through: others get 403, anonymous GETs the login page."""
    return require_role(ADMIN_ROLE)(handler)


def page_locale(request: web.Request) -> str:
    """Return the visitor's language: the cookie, else the configured reception locale."""
    return locale_of(request, context(request).config.reception.locale)


def admin_actor(request: web.Request) -> AdminActor:
    """Return the logged-in admin as the actor of a change."""
    session = current_session(request)
    assert session is not None
    return AdminActor.web(session.user.username)


def render_admin(request: web.Request, template: str, *, status: int = 200,
                 message: str = "", error: str = "", problems: tuple[str, ...] = (),
                 **values: Any) -> web.Response:
    """Render an admin page with the header bar and an optional message, error and problems.

    `section` is the page's GET path, for the navigation and the language switch, because
    a POST route such as /admin/reload cannot be reloaded with GET.
    """
    session = current_session(request)
    assert session is not None
    section = _section(request.path)

    return render_html(request, template, page_locale(request), status=status,
                       csrf_token=session.csrf_token, username=session.user.username,
                       section=section, message=message, error=error, problems=problems,
                       **values)


def _section(path: str) -> str:
    for section in SUBSECTIONS:
        if path == section or path.startswith(section + "/"):
            return section

    return "/admin"


def form_text(form: Any, name: str, *, limit: int, required: bool = False) -> str:
    """Return the stripped text of a form field; raise FormError when missing or too long.

    A file sent where text is expected counts as missing.
    """
    value = form.get(name, "")
    text = value.strip() if isinstance(value, str) else ""
    if (required and not text) or len(text) > limit:
        raise FormError("admin.bad_field", name=name, limit=limit)

    return text


def form_choice(form: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return a field that must be one of `choices`; raise FormError naming the value."""
    value = form_text(form, name, limit=100, required=True)
    if value not in choices:
        raise FormError("admin.bad_choice", name=name, value=repr(value[:40]),
                        choices=", ".join(choices))

    return value
