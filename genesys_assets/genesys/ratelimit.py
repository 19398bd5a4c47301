"""Client-side pacing so that a run stays under the org's API rate limit instead of living on 429s.

Genesys limits requests per OAuth client (300 a minute by default) and says where a client
stands on every answer: `inin-ratelimit-allowed` (the limit), `inin-ratelimit-count` (used in the
current window) and `inin-ratelimit-reset` (seconds until the window resets). The limiter spends
what the server says is left, keeping a tenth in reserve for other tools on the same OAuth
client, then waits for the window to reset. On top of that it never sends more than the
configured number of requests in any 60 seconds. That ceiling is a sliding window, not a fixed
spacing: Genesys counts requests per minute, so a burst that fits in the minute is legal, and
spacing every request 60/N seconds apart would make a run of a hundred requests take at least
24 s at 250 a minute even when the server would answer them all in five. One limiter per
(host, client id) is shared by every thread of the process: concurrent chunk fetches draw from
the same budget, and a 429 seen by one thread holds all of them back.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
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
        # At most this many sends in any 60 s (at least one, for a ceiling under 1 a minute).
        self._ceiling = max(1, math.floor(per_minute))
        self._window_s = 60.0 * self._ceiling / self.per_minute
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # the last `_ceiling` send times, oldest first
        self._not_before = 0.0  # set by a 429
        self._remaining: float | None = None  # None: unknown, send and learn
        self._window_resets_at = 0.0
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> float:
        """Wait for this caller's turn; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            # Never before an earlier caller's slot: callers go in turn, and one that waits
            # for a window reset holds back those behind it.
            last = self._sent[-1] if self._sent else now
            slot = max(now, last, self._not_before)
            if len(self._sent) == self._ceiling:
                # The window is full: go when its oldest send leaves it.
                slot = max(slot, self._sent[0] + self._window_s)
            if self._remaining is not None and self._remaining < 1:
                # The window's budget is spent: the next request goes when it resets, and
                # nobody knows the new budget until that request's answer comes back.
                slot = max(slot, self._window_resets_at)
                self._remaining = None
            elif self._remaining is not None:
                self._remaining -= 1
            if len(self._sent) == self._ceiling:
                self._sent.popleft()
            self._sent.append(slot)
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """Nobody sends before `seconds` from now (after a 429)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

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
