"""Error responses carry catalogue texts, 405 wins over CSRF, and health counts are integers."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from callscreen.config import Config
from callscreen.config.model import WebConfig
from callscreen.daemon import Daemon
from callscreen.hub import CallHub
from callscreen.i18n import both
from callscreen.web.app import STATIC_DIR, create_app
from callscreen.web.context import WebContext

MAX_BODY_BYTES = 4096


async def get_text(server, method: str, path: str, **kwargs) -> tuple[int, str, str]:
    async with server.client() as client, \
            client.request(method, path, allow_redirects=False, **kwargs) as response:
        return response.status, await response.text(), response.headers.get("Allow", "")


@pytest.mark.parametrize("path", ["/no-such-page", "/static/no-such-file.css",
                                  "/lang/xx"])
async def test_not_found_is_bilingual(server, path):
    status, text, _ = await get_text(server, "GET", path)

    assert status == 404
    assert text == both("web.http_404")
    assert text.startswith("页面不存在")
    assert "Not Found" not in text


async def test_static_directory_is_bilingual_403(server):
    status, text, _ = await get_text(server, "GET", "/static/")

    assert status == 403
    assert text == both("web.http_403")


async def test_static_file_still_served(server):
    name = next(path.name for path in STATIC_DIR.iterdir() if path.is_file())

    status, text, _ = await get_text(server, "GET", f"/static/{name}")

    assert status == 200
    assert text == (STATIC_DIR / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_unknown_method_on_known_route_is_405(server, method):
    status, text, allow = await get_text(server, method, "/console")

    assert status == 405
    assert text == both("web.http_405", method=method, allowed="GET, HEAD")
    assert "GET" in allow


async def test_unknown_post_route_is_404_not_csrf(server):
    status, text, _ = await get_text(server, "POST", "/no-such-form")

    assert status == 404
    assert text == both("web.http_404")


async def test_known_post_route_still_needs_csrf(server, helpers):
    async with server.client() as client:
        await helpers.login(client)
        async with client.post("/console/calls/call-1/feedback",
                               data={"action": "collector"}) as response:
            status, text = response.status, await response.text()

    assert status == 403
    assert text == both("auth.csrf_rejected")


async def start_app(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_oversized_body_on_any_route_is_bilingual(db):
    app = create_app(WebContext(config=Config(web=WebConfig(max_body_bytes=MAX_BODY_BYTES)),
                                store=db, hub=CallHub()))

    # A route that reads the raw body, as no form handler does: aiohttp raises the 413.
    async def body_length(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    app.router.add_get("/body-length", body_length)
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as client, \
                client.get(f"{url}/body-length",
                           data=io.BytesIO(b"x" * (MAX_BODY_BYTES * 2))) as response:
            status, text = response.status, await response.text()
    finally:
        await runner.cleanup()

    assert status == 413
    assert text == both("web.too_large", limit=MAX_BODY_BYTES)


async def test_unhandled_error_is_bilingual_500(db):
    app = create_app(WebContext(config=Config(), store=db, hub=CallHub()))

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    app.router.add_get("/broken", broken)
    runner, url = await start_app(app)
    try:
        async with aiohttp.ClientSession() as client, \
                client.get(f"{url}/broken") as response:
            status, text = response.status, await response.text()
    finally:
        await runner.cleanup()

    assert status == 500
    assert text == both("web.http_500")
    assert "boom" not in text


async def test_health_backlog_is_integer(tmp_path: Path):
    config = Config()
    config = replace(
        config,
        asterisk=replace(config.asterisk, agi_host="127.0.0.1", agi_port=0, ami_enabled=False),
        store=replace(config.store, path=str(tmp_path / "callscreen.sqlite3")),
        web=replace(config.web, enabled=True, host="127.0.0.1", port=0),
        notify=replace(config.notify, enabled=False),
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        daemon.metrics.bind_outbox_backlog(lambda: 3)
        async with aiohttp.ClientSession() as client, \
                client.get(f"{daemon.web_url}/healthz") as response:
            snapshot = await response.json()
    finally:
        await daemon.close()

    assert snapshot["outbox"]["backlog"] == 3
    assert isinstance(snapshot["outbox"]["backlog"], int)
