"""HTTP senders: WeCom, DingTalk and Feishu group robots and the generic JSON webhook.

Each POSTs one JSON body through a shared aiohttp ClientSession whose timeout the caller
sets, and raises DeliveryError for a transport failure, a non-2xx status or a robot that
responds with a non-zero error code inside a 200 response.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from callscreen.notify.model import DeliveryError
from callscreen.notify.signing import dingtalk_sign, feishu_sign, webhook_signature

# Robot replies are a few dozen bytes; anything longer is cut, not buffered.
MAX_RESPONSE_BYTES = 64 * 1024


def host_of(url: str) -> str:
    """Return "host:port" of a URL, safe for logs and errors (the query contains the token)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


async def post_json(session: aiohttp.ClientSession, url: str, body: dict[str, Any], *,
                    channel: str, headers: dict[str, str] | None = None) -> Any:
    """POST `body` as UTF-8 JSON and return the decoded JSON reply (None when not JSON)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return await post_bytes(session, url, data, channel=channel, headers=headers)


async def post_bytes(session: aiohttp.ClientSession, url: str, data: bytes, *, channel: str,
                     headers: dict[str, str] | None = None) -> Any:
    """POST prepared JSON bytes; see `post_json`."""
    target = host_of(url)
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        async with session.post(url, data=data, headers=all_headers) as response:
            text = await response.content.read(MAX_RESPONSE_BYTES)
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"{channel}: POST to {target} failed: {type(exc).__name__} {exc}",
                            channel=channel, target=target) from exc

    if not 200 <= status < 300:
        raise DeliveryError(f"{channel}: {target} returned HTTP {status}",
                            channel=channel, target=target, status=status)

    return _json_or_none(text)


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def check_robot_reply(reply: Any, *, channel: str, url: str, code_keys: tuple[str, ...]) -> None:
    """Raise DeliveryError when a robot's JSON reply carries a non-zero error code."""
    if not isinstance(reply, dict):
        return

    for key in code_keys:
        code = reply.get(key)
        if code not in (None, 0):
            message = reply.get("errmsg") or reply.get("msg") or reply.get("StatusMessage")
            raise DeliveryError(f"{channel}: {host_of(url)} rejected the message: "
                                f"{key}={code} {message}", channel=channel, target=host_of(url))


async def send_wecom(session: aiohttp.ClientSession, url: str, text: str) -> None:
    """Send a text message to a WeCom (企业微信) group robot."""
    body = {"msgtype": "text", "text": {"content": text}}
    reply = await post_json(session, url, body, channel="wecom")

    check_robot_reply(reply, channel="wecom", url=url, code_keys=("errcode",))


async def send_dingtalk(session: aiohttp.ClientSession, url: str, secret: str, text: str, *,
                        now_ms: int | None = None) -> None:
    """Send a text message to a DingTalk (钉钉) robot, signed when a secret is configured."""
    signed_url = url
    if secret:
        timestamp = now_ms if now_ms is not None else int(time.time() * 1000)
        query = urlencode({"timestamp": timestamp, "sign": dingtalk_sign(secret, timestamp)})
        signed_url = f"{url}{'&' if '?' in url else '?'}{query}"

    body = {"msgtype": "text", "text": {"content": text}}
    reply = await post_json(session, signed_url, body, channel="dingtalk")

    check_robot_reply(reply, channel="dingtalk", url=url, code_keys=("errcode",))


async def send_feishu(session: aiohttp.ClientSession, url: str, secret: str, text: str, *,
                      now_s: int | None = None) -> None:
    """Send a text message to a Feishu (飞书) robot, signed when a secret is configured."""
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
    if secret:
        timestamp = now_s if now_s is not None else int(time.time())
        body = {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp), **body}

    reply = await post_json(session, url, body, channel="feishu")

    # Feishu returns {"code": 0, ...}; older robot versions used "StatusCode".
    check_robot_reply(reply, channel="feishu", url=url, code_keys=("code", "StatusCode"))


async def send_webhook(session: aiohttp.ClientSession, url: str, secret: str,
                       body: dict[str, Any], *, dedupe_key: str,
                       now_s: int | None = None) -> None:
    """POST the notification as JSON; headers carry the dedupe key and, with a secret, an HMAC.

    The receiver should drop a dedupe key it has already processed: delivery is
    at-least-once, so a restart in mid-request sends the item again.
    """
    data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
    timestamp = now_s if now_s is not None else int(time.time())
    headers = {"X-Callscreen-Dedupe-Key": dedupe_key, "X-Callscreen-Timestamp": str(timestamp)}
    if secret:
        headers["X-Callscreen-Signature"] = webhook_signature(secret, timestamp, data)

    await post_bytes(session, url, data, channel="webhook", headers=headers)
