"""Case notifications: a durable sqlite outbox and its senders (SMTP, chat robots, webhook)."""
