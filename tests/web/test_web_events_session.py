"""An open console event stream ends once its session is gone, and sends nothing after."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from callscreen.admin.users import AdminActor, disable_user, reset_password
from callscreen.web import events

STREAM_WAIT_S = 10.0
SECRET_NAME = "Secret Caller"


async def open_stream(client: aiohttp.ClientSession) -> aiohttp.ClientResponse:
    """Open /console/events and read up to the end of its snapshot event."""
    stream = await client.get("/console/events")
    assert stream.status == 200
    while (await asyncio.wait_for(stream.content.readline(), STREAM_WAIT_S)) != b"\n":
        pass
    return stream


async def rest_of_stream(stream: aiohttp.ClientResponse) -> bytes:
    """Read the stream to its end; fail when it stays open."""
    return await asyncio.wait_for(stream.content.read(), STREAM_WAIT_S)


async def test_stream_sends_calls_while_session_lives(server, helpers):
    async with server.client() as client:
        await helpers.login(client)
        stream = await open_stream(client)

        server.ctx.hub.publish(helpers.make_call(caller_name=SECRET_NAME))
        line = await asyncio.wait_for(stream.content.readline(), STREAM_WAIT_S)
        stream.close()

    assert line == b"event: call\n"


@pytest.mark.parametrize("change", ["disable", "password"])
async def test_stream_ends_after_account_change(server, helpers, change):
    actor = AdminActor(label="cli:test")
    async with server.client() as client:
        await helpers.login(client)
        stream = await open_stream(client)

        if change == "disable":
            await disable_user(server.ctx.store, actor, "前台")
        else:
            await reset_password(server.ctx.store, actor, "前台", "another long password")
        server.ctx.hub.publish(helpers.make_call(caller_name=SECRET_NAME))
        rest = await rest_of_stream(stream)

    assert b"event: call" not in rest
    assert SECRET_NAME.encode() not in rest


async def test_stream_ends_after_logout_at_keepalive(server, helpers, monkeypatch):
    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.2)
    async with server.client() as client:
        await helpers.login(client)
        csrf = await helpers.console_csrf(client)
        stream = await open_stream(client)
        # A second browser of the same session logs out; no call arrives meanwhile.
        async with client.post("/logout", data={"csrf_token": csrf}) as logout:
            assert logout.status == 200
        rest = await rest_of_stream(stream)

    assert b"event: call" not in rest
