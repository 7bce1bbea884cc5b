"""The lean SMTP transaction: the envelope in one write, the body in another (RFC 2920).

aiosmtplib opens the connection (EHLO, STARTTLS or implicit TLS, AUTH) and
then, when the server offers PIPELINING, hands its transport to a
``ReplyReader``. Each message then costs two writes and two waits for the
server instead of four of each: ``MAIL FROM``, ``RCPT TO`` and ``DATA`` go
out together and their replies are read in order; only after ``354`` does
the body follow, with the final dot, in one more write.

The body is never written before the ``354``. A server that refuses the
recipient also refuses ``DATA`` (RFC 2920 asks it to), and a body sent
anyway would then be read as commands: a line of the letter that happens to
say ``RSET`` or ``MAIL FROM:`` would be obeyed, and Postfix's
``reject_unauth_pipelining`` drops such clients as spammers.

When the caller already has the next message for the connection, its
envelope goes in the body's write (``then``; RFC 2920 lets message content
start a group of commands), so a steady stream costs one write and one wait
per message. The outcome is still final when ``transact`` returns: it waits
for the body's reply, which comes first; the next envelope's replies wait
in the reader for the next ``transact`` (``announced``). The next body is
again written only after its own ``354``.

The body goes out as it is: mailer's own MIME writer makes messages whose
lines end in CRLF and never start with a dot (``letters.mime``), so they are
dot-stuffed already. Any other message is normalised and stuffed here.

Every reply is judged on its own: a refused ``RCPT`` fails that recipient
only, a refusal after the body fails that message only; ``421``, a closed
connection and a timeout break the channel as they do on aiosmtplib's path.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass

from mailer.dispatch.transports.base import Reply, queue_id_of

_LINE_ENDS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")
#: A reply line is at most 512 octets (RFC 5321); a server that sends more is broken.
_MAX_REPLY = 64 * 1024


class ConnectionBroken(Exception):
    """The server closed the connection, or sent what is not an SMTP reply."""


class ServiceClosing(ConnectionBroken):
    """The server answered 421: it is closing the connection."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply


def wire_body(data: bytes, *, stuffed: bool) -> bytes:
    """The message as it goes after ``354``, with the final dot.

    ``stuffed``: ``data`` already ends its lines in CRLF and no line starts
    with a dot (mailer's own messages), so it is only closed.
    """
    if not stuffed:
        data = _LEADING_DOT.sub(b"..", _LINE_ENDS.sub(b"\r\n", data))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


@dataclass(frozen=True)
class Envelope:
    """One transaction's commands: who sends, to whom, whether SMTPUTF8 is asked for."""

    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool = False

    def commands(self) -> bytes:
        """``MAIL FROM``, every ``RCPT TO`` and ``DATA``, ready for one write."""
        encoding = "utf-8" if self.smtputf8 else "ascii"
        option = " SMTPUTF8" if self.smtputf8 else ""
        lines = [f"MAIL FROM:<{self.sender}>{option}\r\n"]
        lines.extend(f"RCPT TO:<{rcpt}>\r\n" for rcpt in self.recipients)
        lines.append("DATA\r\n")
        for address in (self.sender, *self.recipients):
            if any(ch in address for ch in "\r\n\0<>"):
                raise ValueError(f"{address[:60]!r} cannot stand in an SMTP command")
        return "".join(lines).encode(encoding)


class ReplyReader(asyncio.Protocol):
    """Takes over an open SMTP connection: writes commands, reads replies in order."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self.transport = transport
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: str = ""
        self._drained: asyncio.Future[None] | None = None
        transport.set_protocol(self)

    # -- the protocol's side ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer.extend(data)
        while True:
            reply = self._take_reply()
            if reply is None:
                break
            self._replies.append(reply)
        if len(self._buffer) > _MAX_REPLY:
            self._close("a reply far longer than SMTP allows")
        self._wake()

    def _take_reply(self) -> Reply | None:
        """One complete (perhaps multi-line) reply off the front of the buffer."""
        buffer = self._buffer
        offset = 0
        texts = []
        while True:
            end = buffer.find(b"\n", offset)
            if end < 0:
                return None
            line = bytes(buffer[offset : end + 1])
            offset = end + 1
            code = line[:3]
            if not code.isdigit():
                self._close(f"not an SMTP reply: {line[:60]!r}")
                return None
            texts.append(line[4:].strip(b" \t\r\n").decode("utf-8", "replace"))
            if line[3:4] != b"-":
                del buffer[:offset]
                text = "\n".join(texts)
                return Reply(int(code), text, queue_id_of(text) if code[:1] == b"2" else "")

    def eof_received(self) -> bool:
        self._close("the server closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._close(f"connection lost ({exc})" if exc else "the server closed the connection")
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _close(self, why: str) -> None:
        if not self._closed:
            self._closed = why
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- the channel's side ----------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Hand ``data`` to the socket in one write; wait while the kernel's buffer is full."""
        if self._closed:
            raise ConnectionBroken(self._closed)
        self.transport.write(data)
        if self._drained is not None and not self._drained.done():
            await self._drained

    async def reply(self, timeout: float) -> Reply:
        """The next reply in order; ``TimeoutError`` after ``timeout`` seconds without it."""
        if self._replies:  # pipelined replies often come in one segment: no timer for them
            return self._replies.popleft()
        async with asyncio.timeout(timeout):
            while not self._replies:
                if self._closed:
                    raise ConnectionBroken(self._closed)
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
        return self._replies.popleft()

    def close(self) -> None:
        """Drop the connection at once."""
        self._closed = self._closed or "closed"
        self.transport.close()


@dataclass(frozen=True)
class Transaction:
    """What became of one pipelined transaction, reply by reply."""

    sender: Reply
    recipients: tuple[Reply, ...]
    data: Reply
    final: Reply | None = None
    #: The next envelope (``then``) went out after the body.
    chained: bool = False


async def transact(
    reader: ReplyReader,
    envelope: Envelope,
    body: bytes,
    *,
    timeout: float,
    reset: bool,
    announced: bool = False,
    then: bytes = b"",
) -> Transaction:
    """One message: the envelope in one write, its replies, then the body if ``354`` came.

    ``reset`` puts an ``RSET`` first in the same write (after a refused
    transaction); its reply must be 250 or the connection is treated as
    broken. ``announced``: the envelope went out with the last body, only its
    replies are read. ``then``: the next envelope's commands, written after
    the body (``Transaction.chained``). Replies are returned as they came;
    judging them is the caller's. ``421`` anywhere raises ``ServiceClosing``:
    nothing more will come.
    """

    async def next_reply() -> Reply:
        reply = await reader.reply(timeout)
        if reply.code == 421:
            raise ServiceClosing(reply)
        return reply

    if not announced:
        commands = envelope.commands()
        await reader.write(b"RSET\r\n" + commands if reset else commands)
    if reset:
        rset = await next_reply()
        if not rset.accepted:
            raise ConnectionBroken(f"RSET answered {rset.code} {rset.text}")
    mail = await next_reply()
    rcpts = tuple([await next_reply() for _ in envelope.recipients])
    data = await next_reply()
    if data.code != 354:
        return Transaction(mail, rcpts, data)
    if not mail.accepted or not any(r.accepted for r in rcpts):
        # A server that says 354 with nobody to deliver to: end the empty message.
        await reader.write(b".\r\n")
        return Transaction(mail, rcpts, data, await next_reply())
    await reader.write(body + then if then else body)
    return Transaction(mail, rcpts, data, await next_reply(), chained=bool(then))
