"""The SMTP sender, over aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from callscreen.config.model import NotifyConfig
from callscreen.notify.model import DeliveryError


async def send_email(message: EmailMessage, config: NotifyConfig) -> None:
    """Send one message to the configured SMTP server; raise DeliveryError on any failure."""
    target = f"{config.smtp_host}:{config.smtp_port}"
    try:
        await aiosmtplib.send(
            message,
            hostname=config.smtp_host,
            port=config.smtp_port,
            start_tls=config.smtp_starttls,
            username=config.smtp_username or None,
            password=config.smtp_password_secret or None,
            timeout=config.timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise DeliveryError(f"email: sending through {target} failed: {exc}",
                            channel="email", target=target) from exc
