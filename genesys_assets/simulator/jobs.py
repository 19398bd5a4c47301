"""The async aggregates jobs: submit, poll, page through results with a cursor, cancel.

A job answers from a snapshot taken at submission: its "now" is frozen then, so data that
arrives while the job waits does not leak into it, as with the real service. The answer is
computed on a background thread right away; the state still walks QUEUED -> PENDING ->
FULFILLED on the configured delay (and stays PENDING while a large answer is still being
computed), then EXPIRED after the time-to-live, counted from submission.

`short_cursor_pages` is a fault: the results end after that many pages, the last without a
cursor, although containers remain, as a service that lost its place would; nothing says so.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from genesys_assets.simulator.errors import bad_request, not_found
from genesys_assets.simulator.query import AggregateQuery, iso_ms, to_ms

QUEUED, PENDING, FULFILLED, FAILED, CANCELLED, EXPIRED = (
    "QUEUED", "PENDING", "FULFILLED", "FAILED", "CANCELLED", "EXPIRED",
)  # fmt: skip

Compute = Callable[[AggregateQuery, int], list[str]]


@dataclass
class Job:
    id: str
    query: AggregateQuery
    snapshot_ms: int  # the simulator's "now" at submission
    submitted_at: datetime  # the same instant, for the status dates
    submitted_mono: float
    done: threading.Event = field(default_factory=threading.Event)
    computed_mono: float | None = None
    containers: list[str] | None = None
    error: str | None = None
    cancelled: bool = False


class JobStore:
    def __init__(
        self,
        compute: Compute,
        delay_s: float,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        short_cursor_pages: int | None = None,
    ) -> None:
        self._compute = compute
        self._short_cursor_pages = short_cursor_pages
        self._delay_s = delay_s
        self._ttl_s = ttl_s
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, query: AggregateQuery, now: datetime) -> Job:
        job = Job(
            id=str(uuid.uuid4()),
            query=query,
            snapshot_ms=to_ms(now),
            submitted_at=now,
            submitted_mono=self._clock(),
        )
        with self._lock:
            self._forget_expired()
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True).start()
        return job

    def _run(self, job: Job) -> None:
        try:
            job.containers = self._compute(job.query, job.snapshot_ms)
        except Exception as exc:  # a job that breaks is FAILED, as in the real service
            job.error = f"{type(exc).__name__}: {exc}"
        job.computed_mono = self._clock()
        job.done.set()

    def get(self, job_id: str, kind: str | None = None) -> Job:
        """The job; with `kind`, only a job submitted to that kind's endpoint (a conversation
        aggregates job id is not found among the user aggregates jobs, and the reverse)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (kind is not None and job.query.kind != kind):
            raise not_found(f"Job '{job_id}' was not found.")
        return job

    def state(self, job: Job) -> str:
        elapsed = self._clock() - job.submitted_mono
        if job.cancelled:
            return CANCELLED
        if elapsed >= self._ttl_s:
            return EXPIRED
        if elapsed < self._delay_s / 2:
            return QUEUED
        if elapsed < self._delay_s or not job.done.is_set():
            return PENDING
        return FAILED if job.error is not None else FULFILLED

    def status(self, job: Job) -> dict[str, Any]:
        state = self.state(job)
        body: dict[str, Any] = {"state": state, "submissionDate": iso_ms(job.snapshot_ms)}
        completed = self._completed_ms(job)
        if completed is not None and state in (FULFILLED, FAILED, EXPIRED):
            body["completionDate"] = iso_ms(completed)
        if state == FAILED:
            body["errorMessage"] = job.error
        body["expirationDate"] = iso_ms(job.snapshot_ms + math.ceil(self._ttl_s * 1000))
        return body

    def _completed_ms(self, job: Job) -> int | None:
        if job.computed_mono is None:
            return None
        took = max(self._delay_s, job.computed_mono - job.submitted_mono)
        return to_ms(job.submitted_at + timedelta(seconds=took))

    def cancel(self, job_id: str, kind: str | None = None) -> None:
        job = self.get(job_id, kind)
        job.cancelled = True
        job.containers = None  # nobody can read them any more

    def page(
        self, job_id: str, cursor: str | None, kind: str | None = None
    ) -> tuple[list[str], str | None]:
        """One page of result containers and the cursor of the next page (None on the last)."""
        job = self.get(job_id, kind)
        state = self.state(job)
        if state != FULFILLED:
            raise bad_request(
                f"Results of job '{job_id}' are not available: the job is {state}"
                + (" (poll its status until FULFILLED)" if state in (QUEUED, PENDING) else "")
            )
        containers = job.containers
        if containers is None:  # expired or cancelled since the state was read
            raise bad_request(f"Results of job '{job_id}' are not available: the job is EXPIRED")
        assert job.query.page_size is not None
        offset = _decode_cursor(cursor, job_id) if cursor else 0
        if offset >= max(1, len(containers)):
            raise bad_request(f"Invalid cursor '{cursor}' for job '{job_id}'")
        end = offset + job.query.page_size
        more = end < len(containers)
        short = self._short_cursor_pages
        if short is not None and end >= short * job.query.page_size:
            more = False  # the fault: this page claims to be the last
        next_cursor = _encode_cursor(job_id, end) if more else None
        return containers[offset:end], next_cursor

    def _forget_expired(self) -> None:
        # Metadata stays (an expired job still answers EXPIRED); the results go.
        now = self._clock()
        for job in self._jobs.values():
            if job.containers is not None and now - job.submitted_mono >= self._ttl_s:
                job.containers = None
        if len(self._jobs) > 10_000:
            stale = [k for k, j in self._jobs.items() if now - j.submitted_mono >= 2 * self._ttl_s]
            for key in stale:
                del self._jobs[key]


def _encode_cursor(job_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{job_id}|{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, job_id: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        owner, offset = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        value = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request(f"Invalid cursor '{cursor}' for job '{job_id}'") from None
    if owner != job_id or value <= 0:
        raise bad_request(f"Invalid cursor '{cursor}' for job '{job_id}'")
    return value
