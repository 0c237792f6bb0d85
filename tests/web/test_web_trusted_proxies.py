"""`[web] trusted_proxies`: the login limit and the logs use the forwarded client address,
and X-Forwarded-For from any other peer is ignored."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from callscreen.config import Config
from callscreen.hub import CallHub
from callscreen.reception.accounts import create_user
from callscreen.web.context import WebContext
from callscreen.web.login_throttle import MAX_FAILURES

from .conftest import WebServer


def proxied_config(*proxies: str) -> Config:
    config = Config()
    return dataclasses.replace(config, web=dataclasses.replace(config.web,
                                                               trusted_proxies=list(proxies)))


@pytest.fixture
async def proxied(db, helpers) -> AsyncIterator[WebServer]:
    ctx = WebContext(config=proxied_config("127.0.0.1", "192.0.2.10"), store=db,
                     hub=CallHub())
    await create_user(db, "前台", helpers.password, "reception")
    runner, url = await helpers.start_server(ctx)
    yield WebServer(ctx, url)
    await runner.cleanup()


def forwarded(value: str) -> dict[str, str]:
    return {"X-Forwarded-For": value}


async def test_proxied_clients_throttled_separately(proxied, helpers):
    async with proxied.client() as attacker:
        attacker.headers.update(forwarded("198.51.100.7"))
        for attempt in range(MAX_FAILURES):
            await helpers.login(attacker, username=f"guess{attempt}", password="x" * 8)
        throttled = await helpers.login(attacker)
    async with proxied.client() as colleague:
        colleague.headers.update(forwarded("198.51.100.8"))
        allowed = await helpers.login(colleague)

    assert throttled.status == 429
    assert allowed.status == 200
    assert allowed.url.path == "/console"


async def test_spoofed_left_entries_ignored(proxied, helpers):
    # The client writes the left part; the trusted proxies append the right part.
    async with proxied.client() as attacker:
        for attempt in range(MAX_FAILURES):
            attacker.headers.update(forwarded(f"10.0.0.{attempt}, 198.51.100.7, 192.0.2.10"))
            await helpers.login(attacker, username=f"guess{attempt}", password="x" * 8)
        attacker.headers.update(forwarded("10.9.9.9, 198.51.100.7"))
        throttled = await helpers.login(attacker)

    assert throttled.status == 429


async def test_untrusted_peer_header_ignored(server, helpers):
    async with server.client() as client:
        with capture_logs() as logs:
            for attempt in range(MAX_FAILURES):
                client.headers.update(forwarded(f"198.51.100.{attempt}"))
                await helpers.login(client, username=f"guess{attempt}", password="x" * 8)
        client.headers.update(forwarded("198.51.100.200"))
        throttled = await helpers.login(client)

    failures = [entry for entry in logs if entry["event"] == "login_failed"]
    assert throttled.status == 429
    assert len(failures) == MAX_FAILURES
    assert {entry["remote"] for entry in failures} == {"127.0.0.1"}


async def test_login_log_names_forwarded_client(proxied, helpers):
    async with proxied.client() as client:
        client.headers.update(forwarded("2001:db8::7, 192.0.2.10"))
        with capture_logs() as logs:
            await helpers.login(client, password="wrong password")

    failures = [entry for entry in logs if entry["event"] == "login_failed"]
    assert len(failures) == 1
    assert failures[0]["remote"] == "2001:db8::7"


async def test_rejection_log_names_forwarded_client(proxied):
    async with proxied.client() as client:
        with capture_logs() as logs:
            response = await client.get("/no-such-page", headers=forwarded("198.51.100.9"))

    rejected = [entry for entry in logs if entry["event"] == "web_request_rejected"]
    assert response.status == 404
    assert len(rejected) == 1
    assert rejected[0]["remote"] == "198.51.100.9"


async def test_garbage_forwarded_entry_uses_peer(proxied):
    async with proxied.client() as client:
        with capture_logs() as logs:
            await client.get("/no-such-page", headers=forwarded("198.51.100.9, not-an-ip"))

    rejected = [entry for entry in logs if entry["event"] == "web_request_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["remote"] == "127.0.0.1"
