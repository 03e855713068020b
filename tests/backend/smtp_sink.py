"""A real SMTP server for tests (aiosmtpd on a loopback port): what the app sends arrives in
`Server.inbox`. The `smtp` fixture (tests/backend/conftest.py) starts one per test."""
from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

SENDER = "Ritbox <ritbox@example.nl>"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it accepts and refuses the addresses in `refuse`."""
    messages: list[tuple[str, list[str], email.message.EmailMessage]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One aiosmtpd server, started and stopped by the test (to play an outage)."""

    def __init__(self, **smtp_options) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.options = smtp_options
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def use_smtp(app, server: Server, **settings) -> None:
    """Point the app's mail settings at the sink."""
    app.config.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port, "SMTP_SECURITY": "none",
                       "MAIL_FROM": SENDER, "PUBLIC_URL": "https://ritbox.example.nl", **settings})
