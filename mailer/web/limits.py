"""Simple in-memory abuse limits for the subscribe form.

Two sliding windows: attempts per client address (someone hammering the form)
and attempts per target address (someone using the form to flood a stranger's
inbox with confirmation mail). Memory stays bounded: old hits are dropped, and
when too many keys pile up the oldest are forgotten. The state is per process,
which is all a single ``mailer serve`` needs; restarting it resets the counts.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindow:
    """At most ``limit`` hits per key within ``window`` seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one attempt for ``key``; False when it is over the limit (not counted)."""
        if self.limit <= 0:
            return True
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
            return allowed


def client_key(client: str) -> str:
    """The client as the limit counts it: an IPv6 address by its /64 network.

    A home or a server is given a whole /64 and can hop between its addresses
    at will; counting each one alone would multiply the limit by 2**64.
    """
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


class SubscribeLimits:
    """The subscribe form's two limits, per client and per target address."""

    def __init__(self, per_hour: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = SlidingWindow(per_hour, 3600.0, clock=clock)
        self.target = SlidingWindow(per_hour, 3600.0, clock=clock)

    def allow_client(self, client: str) -> bool:
        """Count an attempt from ``client``; False when it made too many."""
        return self.client.hit(client_key(client))

    def allow_target(self, address_key: str) -> bool:
        """Count an attempt for ``address_key``; False when it was asked for too often."""
        return self.target.hit(address_key)
