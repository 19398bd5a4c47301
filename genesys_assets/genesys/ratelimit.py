"""Client-side pacing so that a run stays under the org's API rate limit instead of living on 429s.

Genesys limits requests per OAuth client (300 a minute by default) and says so on every answer
(`inin-ratelimit-allowed`, `-count`, `-reset`). One limiter per (host, client id) is shared by
every thread of the process: concurrent chunk fetches draw from the same budget, and a 429 seen
by one thread holds all of them back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Stay this far under what the server allows: other tools may share the OAuth client.
HEADROOM = 0.9


class RateLimiter:
    """Spaces requests evenly at `per_minute`, adapts to the limit the server reports."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"requests per minute must be positive, got {per_minute}")
        self.configured_per_minute = float(per_minute)
        self._per_minute = float(per_minute)
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._clock = clock
        self._sleep = sleep

    @property
    def per_minute(self) -> float:
        return self._per_minute

    def acquire(self) -> float:
        """Wait for this caller's slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 60.0 / self._per_minute
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """Nobody sends before `seconds` from now (after a 429, or when the window is spent)."""
        with self._lock:
            self._next_slot = max(self._next_slot, self._clock() + seconds)

    def observe(
        self, allowed: int | None, used: int | None, reset_s: float | None, in_flight: int
    ) -> None:
        """Learn from the rate-limit headers of an answer.

        The pace drops to just under the server's limit when that is lower than configured (it
        never rises above the configured value). When the current window is nearly spent, every
        thread waits for it to reset rather than spend the remainder on requests that the
        others' in-flight calls will push over the limit.
        """
        if allowed is None or allowed <= 0:
            return
        with self._lock:
            self._per_minute = min(self.configured_per_minute, allowed * HEADROOM)
        if used is not None and reset_s is not None and allowed - used <= in_flight:
            self.hold_off(reset_s)


_shared: dict[tuple[str, str], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(host: str, client_id: str, per_minute: float) -> RateLimiter:
    """The process-wide limiter for one OAuth client on one host."""
    key = (host, client_id)
    with _shared_lock:
        limiter = _shared.get(key)
        if limiter is None or limiter.configured_per_minute != per_minute:
            limiter = _shared[key] = RateLimiter(per_minute)
        return limiter
