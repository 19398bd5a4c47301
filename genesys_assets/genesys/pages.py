"""Raw pages: the API's answers as bytes, with what was asked and what it cost.

A `Fetch` is one query (a chunk of one or more days) and every page of its answer. The pages are
kept byte for byte so that the stage holds exactly what Genesys said, whatever the flattener
makes of it later, and a sha256 proves it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

_METRIC_KEY = re.compile(rb'"metric"\s*:')


def count_metric_entries(body: bytes) -> int:
    """How many metric entries (rows of the long table) a page holds, counted in its bytes.

    A quoted key can only occur as a key: inside a JSON string every quote is escaped.
    """
    compact = body.count(b'"metric":')
    if body.count(b'"metric"') == compact:
        return compact
    return sum(1 for _ in _METRIC_KEY.finditer(body))  # whitespace before the colon


@dataclass(frozen=True)
class RawPage:
    body: bytes = field(repr=False)
    number: int  # 1-based, in the order the API gave them
    cursor: str | None  # the cursor this page was asked for with (None: first page)
    next_cursor: str | None  # what the page pointed to (None: last page)
    correlation_id: str | None
    attempts: int
    elapsed_s: float

    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Fetch:
    """One query's complete answer."""

    days: tuple[date, ...]  # the local days the interval covers
    time_zone: str
    request: dict[str, Any]  # the body as sent, `interval` included
    mode: str  # "sync" or "jobs"
    job_id: str | None
    pages: tuple[RawPage, ...]
    fetched_at: datetime  # UTC, when the last page arrived
    elapsed_s: float
    requests: int  # HTTP requests this fetch cost (logins, polls and retries included)
    retries: int
    throttled: int  # 429 answers

    @property
    def bytes(self) -> int:
        return sum(len(p.body) for p in self.pages)

    @property
    def metric_entries(self) -> int:
        return sum(count_metric_entries(p.body) for p in self.pages)
