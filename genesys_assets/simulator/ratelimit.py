"""Per-token request limits, the way Genesys announces and enforces them.

A fixed window per token that starts with the token's first request: simple, and what the
`inin-ratelimit-*` headers describe (requests used, requests allowed, seconds to the reset).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int  # requests used in the window, this one included
    limit: int
    reset_s: int  # whole seconds until the window resets

    def headers(self) -> dict[str, str]:
        return {
            "inin-ratelimit-count": str(self.count),
            "inin-ratelimit-allowed": str(self.limit),
            "inin-ratelimit-reset": str(self.reset_s),
        }


class RateLimiter:
    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, list[float | int]] = {}  # token -> [window start, count]
        self._lock = threading.Lock()

    def hit(self, key: str) -> RateDecision:
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.window_s:
                if len(self._windows) > 10_000:
                    self._forget_stale(now)
                window = self._windows[key] = [now, 0]
            window[1] += 1
            count = int(window[1])
            elapsed = now - window[0]
        reset = max(1, math.ceil(self.window_s - elapsed))
        return RateDecision(count <= self.limit, count, self.limit, reset)

    def _forget_stale(self, now: float) -> None:
        stale = [k for k, (start, _) in self._windows.items() if now - start >= self.window_s]
        for key in stale:
            del self._windows[key]
