"""Client-side pacing so that a run stays under the org's API rate limit instead of living on 429s.

Genesys limits requests per OAuth client (300 a minute by default) and says where a client
stands on every answer: `inin-ratelimit-allowed` (the limit), `inin-ratelimit-count` (used in the
current window) and `inin-ratelimit-reset` (seconds until the window resets). The limiter spends
what the server says is left, keeping a tenth in reserve for other tools on the same OAuth
client, then waits for the window to reset. On top of that it never goes faster than the
configured pace. One limiter per (host, client id) is shared by every thread of the process:
concurrent chunk fetches draw from the same budget, and a 429 seen by one thread holds all of
them back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Share of the server's limit left unused, for other tools sharing the OAuth client.
RESERVE = 0.1


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"requests per minute must be positive, got {per_minute}")
        self.per_minute = float(per_minute)
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._remaining: float | None = None  # None: unknown, send and learn
        self._window_resets_at = 0.0
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> float:
        """Wait for this caller's turn; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            if self._remaining is not None and self._remaining < 1:
                # The window's budget is spent: the next request goes when it resets, and
                # nobody knows the new budget until that request's answer comes back.
                slot = max(slot, self._window_resets_at)
                self._remaining = None
            elif self._remaining is not None:
                self._remaining -= 1
            self._next_slot = slot + 60.0 / self.per_minute
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """Nobody sends before `seconds` from now (after a 429)."""
        with self._lock:
            self._next_slot = max(self._next_slot, self._clock() + seconds)

    def observe(
        self, allowed: int | None, used: int | None, reset_s: float | None, in_flight: int
    ) -> None:
        """Learn the window's budget from an answer's rate-limit headers."""
        if allowed is None or used is None or reset_s is None or allowed <= 0:
            return
        with self._lock:
            usable = math.floor(allowed * (1 - RESERVE))
            self._remaining = usable - used - in_flight
            self._window_resets_at = self._clock() + reset_s


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(host: str, client_id: str, per_minute: float) -> RateLimiter:
    """The process-wide limiter for one OAuth client on one host."""
    key = (host, client_id)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None or limiter.per_minute != per_minute:
            limiter = _shared[key] = RateLimiter(per_minute)
        return limiter
