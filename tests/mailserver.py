"""A real SMTP server for tests (aiosmtpd on a free localhost port) that keeps what it receives."""

from __future__ import annotations

import email
import re
import socket
import threading
import time
from email.message import Message

from aiosmtpd.controller import Controller


class _Collector:
    def __init__(self):
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailServer:
    """Start with `start()`; `url` is the app's MAIL_URL; `messages` what arrived, oldest first."""

    def __init__(self):
        self.collector = _Collector()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=_free_port())

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Message]:
        with self.collector.lock:
            return list(self.collector.messages)

    def clear(self) -> None:
        with self.collector.lock:
            self.collector.messages.clear()

    def to(self, address: str) -> list[Message]:
        """Messages to `address`, oldest first."""
        return [m for m in self.messages if address in m["To"]]

    @staticmethod
    def body(message: Message) -> str:
        return message.get_payload(decode=True).decode()

    def link(self, address: str, path_part: str, timeout: float = 5.0) -> str:
        """The first link containing `path_part` in the newest message to `address` (waiting up to `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            for message in reversed(self.to(address)):
                found = re.search(r"https?://\S*" + re.escape(path_part) + r"\S*", self.body(message))
                if found:
                    return found.group(0)
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {address} with a link to {path_part}")
            time.sleep(0.05)
