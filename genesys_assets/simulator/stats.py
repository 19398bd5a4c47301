"""Counters a test or benchmark reads to see what the client really did."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class StatsRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._routes: Counter[str] = Counter()
            self._responses: Counter[int] = Counter()
            self._faults: Counter[str] = Counter()
            self._throttled = 0
            self._tokens = 0
            self._jobs = 0

    def request(self, method: str, template: str) -> None:
        with self._lock:
            self._requests[template] += 1
            self._routes[f"{method} {template}"] += 1

    def response(self, status: int) -> None:
        with self._lock:
            self._responses[status] += 1
            if status == 429:
                self._throttled += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def token_issued(self) -> None:
        with self._lock:
            self._tokens += 1

    def job_submitted(self) -> None:
        with self._lock:
            self._jobs += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),  # by path template
                "requests_by_route": dict(self._routes),  # "METHOD template"
                "responses": dict(self._responses),  # by status code
                "throttled": self._throttled,
                "faults": dict(self._faults),  # drop, truncate, slow, error, throttle
                "tokens_issued": self._tokens,
                "jobs_submitted": self._jobs,
            }
