"""SMTP sessions kept open between messages (casework.platform.mail.SmtpSessions), against a real
aiosmtpd server: a burst of emails shares a few sessions, and a server that closes a session
between messages, or while one is being sent, neither loses a message nor gets one twice from the
sender on its own."""

from __future__ import annotations

import asyncio
import smtplib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller

from casework.platform import mail
from casework.platform.config import Settings
from casework.platform.mail import SmtpSessions, build_message, send_message
from tests.test_rendering import free_port, smtp_settings


class CountingServer:
    """Keeps every message and counts sessions (one EHLO each). `close_after`: the server closes
    the session once it has taken that many messages on it (after answering 250);
    `close_before_answering`: the Message-IDs on whose DATA it closes without answering."""

    def __init__(self, close_after: int | None = None, close_before_answering: frozenset[str] = frozenset()):
        self.close_after, self.close_before_answering = close_after, close_before_answering
        self.sessions = 0
        self.message_ids: list[str] = []
        self._taken: Counter[int] = Counter()

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message_id = next(line for line in envelope.content.decode().splitlines()
                          if line.startswith("Message-ID:")).split(":", 1)[1].strip()
        self.message_ids.append(message_id)
        if message_id in self.close_before_answering:
            server.transport.close()  # the message was taken, the sender never hears so
            return "250 OK"
        self._taken[id(session)] += 1
        if self.close_after is not None and self._taken[id(session)] >= self.close_after:
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the 250 is written
        return "250 OK"


@contextmanager
def counting_server(handler: CountingServer) -> Iterator[Settings]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield smtp_settings(controller.port)
    finally:
        controller.stop()


def message(n: int):
    return build_message(sender="complaints@example.org", to=["manager@example.org"], subject=f"Overdue {n}",
                         text="A deadline passed", html=None, message_id=f"<breach-{n}@example.org>")


def test_a_burst_of_emails_shares_one_session_and_concurrent_senders_a_few() -> None:
    server, sessions = CountingServer(), SmtpSessions(keep=4)
    with counting_server(server) as settings:
        for n in range(20):
            sessions.send(settings, message(n))
        assert (server.sessions, sessions.opened) == (1, 1)

        with ThreadPoolExecutor(4) as pool:  # as the worker's activities send, from threads
            list(pool.map(lambda n: sessions.send(settings, message(n)), range(20, 60)))
        sessions.close()
    assert server.message_ids[:20] == [f"<breach-{n}@example.org>" for n in range(20)]
    assert sorted(server.message_ids) == sorted(f"<breach-{n}@example.org>" for n in range(60))
    assert server.sessions <= 1 + 4  # at most one more for each sender at once


def test_send_message_keeps_its_session_for_the_next_message() -> None:
    server = CountingServer()
    with counting_server(server) as settings:
        before = mail.SESSIONS.opened
        for n in range(10):
            send_message(settings, message(n))
        assert mail.SESSIONS.opened - before == 1
    assert len(server.message_ids) == 10 and server.sessions == 1


def test_a_server_closing_sessions_between_messages_loses_and_doubles_nothing() -> None:
    # Each session ends after 3 messages: the sender finds it closed (at once, or when its next
    # MAIL gets no answer) before any of the next message is sent, and sends it on a new one.
    server, sessions = CountingServer(close_after=3), SmtpSessions()
    with counting_server(server) as settings:
        for n in range(10):
            sessions.send(settings, message(n))
    assert server.message_ids == [f"<breach-{n}@example.org>" for n in range(10)]
    assert server.sessions == sessions.opened == 4


def test_a_kept_session_whose_socket_is_gone_is_replaced_unused() -> None:
    server, sessions = CountingServer(), SmtpSessions()
    with counting_server(server) as settings:
        sessions.send(settings, message(0))
        [kept] = next(iter(sessions._idle.values()))
        kept.client.sock.shutdown(2)  # the socket reads as ended, as after the server's FIN
        sessions.send(settings, message(1))
    assert server.message_ids == ["<breach-0@example.org>", "<breach-1@example.org>"]
    assert sessions.opened == 2


class ClosingOnMail(CountingServer):
    """Closes a session, unanswered, at the MAIL of its second message: the sender learns the
    session is gone only then, before any of the message is sent."""

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if self._taken[id(session)] >= 1:
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        return "250 OK"


def test_a_kept_session_found_closed_at_mail_is_replaced_and_the_message_sent_once() -> None:
    server, sessions = ClosingOnMail(), SmtpSessions()
    with counting_server(server) as settings:
        for n in range(3):
            sessions.send(settings, message(n))
    assert server.message_ids == [f"<breach-{n}@example.org>" for n in range(3)]
    assert sessions.opened == 3


def test_a_session_closed_while_the_message_was_sent_raises_and_is_not_resent() -> None:
    """The server took the message but closed before answering: the sender cannot know whether it
    was delivered, so it raises (the caller's outbox decides about a retry) and sends nothing again."""
    server, sessions = CountingServer(close_before_answering=frozenset({"<breach-1@example.org>"})), SmtpSessions()
    with counting_server(server) as settings:
        sessions.send(settings, message(0))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            sessions.send(settings, message(1))
        sessions.send(settings, message(2))
    assert server.message_ids == [f"<breach-{n}@example.org>" for n in range(3)]
    assert mail.is_permanent_failure(smtplib.SMTPServerDisconnected("closed")) is False
