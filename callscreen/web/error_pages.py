"""Catalogue texts in place of aiohttp's English error pages.

aiohttp responds with texts such as "404: Not Found" to an unknown path, a method that a
route does not take, a too large body or a directory under /static. It sends an empty 404
for a missing static file and an English HTML page for an unhandled exception.
`error_page_middleware` replaces those with the catalogue's Chinese and English text.
Errors that our handlers raise with their own text pass through.

NOTE: a request aiohttp cannot parse (a bad request line, headers too large) is answered
before any middleware runs, so its 400 text stays aiohttp's.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from callscreen.i18n import both
from callscreen.web.auth import Handler, context

log = structlog.get_logger(__name__)

MESSAGE_IDS = {
    400: "web.http_400",
    403: "web.http_403",
    404: "web.http_404",
}
# The start of the text aiohttp gives HTTPRequestEntityTooLarge (aiohttp 3.14).
AIOHTTP_TOO_LARGE_PREFIX = "Maximum request body size"


@web.middleware
async def error_page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give aiohttp's default error responses a bilingual text from the catalogue."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and _has_default_text(exc):
            exc.text = _catalogue_text(request, exc)
        raise
    except Exception as exc:
        # Once a streamed response has started, no error page can be sent: aiohttp logs
        # the exception and closes the connection.
        if request.writer is not None and request.writer.output_size > 0:
            raise
        log.exception("web_request_failed", method=request.method, path=request.path[:200],
                      error=type(exc).__name__)
        raise web.HTTPInternalServerError(text=both("web.http_500")) from exc

    # aiohttp's static route returns a FileResponse even for a missing file, which then
    # sends 404 with an empty body.
    if isinstance(response, web.FileResponse) and not _static_file_exists(request):
        raise web.HTTPNotFound(text=both(MESSAGE_IDS[404]))
    return response


def _static_file_exists(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    if not isinstance(resource, web.StaticResource):
        return True

    directory = resource.get_info()["directory"]
    return (directory / request.match_info["filename"]).is_file()


def _has_default_text(exc: web.HTTPException) -> bool:
    text = exc.text or ""
    if text == f"{exc.status}: {exc.reason}":
        return True

    return exc.status == 413 and text.startswith(AIOHTTP_TOO_LARGE_PREFIX)


def _catalogue_text(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return both("web.http_405", method=exc.method,
                    allowed=", ".join(sorted(exc.allowed_methods)))
    if exc.status == 413:
        return both("web.too_large", limit=context(request).config.web.max_body_bytes)
    if exc.status in MESSAGE_IDS:
        return both(MESSAGE_IDS[exc.status])

    return both("web.http_error", status=exc.status)
