"""Request signatures of the DingTalk and Feishu robots and of the generic webhook.

DingTalk: HMAC-SHA256 keyed with the secret over "<timestamp ms>\\n<secret>", base64, sent
as the `timestamp` and `sign` query parameters. Feishu: HMAC-SHA256 keyed with
"<timestamp s>\\n<secret>" over an empty message, base64, sent as `timestamp` and `sign` in
the JSON body. Both robots reject a timestamp more than about an hour from their clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Return the base64 signature DingTalk expects for this millisecond timestamp."""
    text = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), text, hashlib.sha256).digest()

    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Return the base64 signature Feishu expects for this second timestamp."""
    key = f"{timestamp_s}\n{secret}".encode()
    digest = hmac.new(key, b"", hashlib.sha256).digest()

    return base64.b64encode(digest).decode("ascii")


def webhook_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """Return "sha256=<hex>" of HMAC-SHA256(secret, "<timestamp>." + body) for our webhook."""
    message = f"{timestamp_s}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

    return f"sha256={digest}"
