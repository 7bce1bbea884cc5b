"""A transport that signs every message with DKIM before the transport it wraps sends it.

``assemble.make_transport`` wraps the SMTP relays or the outbox in it when
``[dkim]`` is set, so that every message mailer sends (a campaign's letters,
a welcome letter, a test send, a confirmation, a reply forwarded to the
coordinator) is signed in this one place,
on its way out, as the finished bytes. An RSA signature takes a fraction of
a millisecond of OpenSSL, which runs without the GIL: the hashes are made in
the event loop (they need the GIL anyway) and the signature in the loop's
thread pool, beside the loop that builds the next messages. An Ed25519
signature costs less than handing it to a thread, and is made inline.
"""

from __future__ import annotations

import asyncio

from mailer.dispatch.dkim import DkimSigner
from mailer.dispatch.transports.base import (
    Channel,
    Reply,
    Transport,
    Upcoming,
    chaining,
)


class SigningChannel:
    """A channel of the wrapped transport, signing each message before it goes; it chains
    envelopes (``ChainingChannel``) when the wrapped channel does."""

    def __init__(self, inner: Channel, signer: DkimSigner) -> None:
        self._inner = inner
        self._signer = signer
        self._chaining = chaining(inner)
        self.chains = self._chaining is not None

    @property
    def announced(self) -> Upcoming | None:
        """The wrapped channel's envelope written ahead, if any."""
        return self._chaining.announced if self._chaining is not None else None

    async def send(
        self, sender: str, recipient: str, data: bytes, smtputf8: bool, *, stuffed: bool = False,
        relaxed: bool = False, then: Upcoming | None = None,
    ) -> Reply:
        """Sign ``data``, then hand it to the wrapped channel (with ``then``, if it chains).

        The signature fields added in front end every line in CRLF and start
        none with a dot, so a message that was ``stuffed`` still is.
        """
        if self._signer.slow:
            unsigned = self._signer.prepare(data, crlf=stuffed, relaxed=relaxed)
            loop = asyncio.get_running_loop()
            signed = await loop.run_in_executor(None, self._signer.finish, unsigned)
        else:
            signed = self._signer.sign(data, crlf=stuffed, relaxed=relaxed)
        if self._chaining is not None:
            return await self._chaining.send(
                sender, recipient, signed, smtputf8, stuffed=stuffed, then=then
            )
        return await self._inner.send(sender, recipient, signed, smtputf8, stuffed=stuffed)

    async def close(self) -> None:
        """Close the wrapped channel."""
        await self._inner.close()


class SigningTransport:
    """Channels of ``inner`` whose messages are signed by ``signer``."""

    def __init__(self, inner: Transport, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer
        domains = ", ".join(sorted({key.domain for key in signer.keys}))
        self.name = f"{inner.name}, DKIM-signed for {domains}"

    async def open(self) -> SigningChannel:
        """A channel of the wrapped transport that signs."""
        return SigningChannel(await self.inner.open(), self.signer)
