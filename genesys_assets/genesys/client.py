"""The one place that talks to Genesys Cloud.

`GenesysClient` turns a validated `AggregateQuery` and a list of days into `Fetch`es of raw
pages: days are cut into chunks of consecutive days, chunks are fetched concurrently (bounded)
and handed back in order, each either by the synchronous aggregates query or by an async
aggregates job followed cursor by cursor. How long the chunks are and how many are in flight
is sized from a memory budget and the bytes per day the org's answers take, bounded before the
first answer by one small query (`genesys_assets.genesys.sizing`, `GenesysClient.fetch_days`).
It also lists the dimensions (routing queues, users, wrap-up codes, divisions, routing skills
and languages) and asks for the day totals the source checks compare with. No Dagster here: the
pipeline's resource wraps this class.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from genesys_assets.genesys import regions
from genesys_assets.genesys.auth import ClientCredentials, TokenProvider
from genesys_assets.genesys.catalog import (
    PERMISSION_PRESENCE_DEFINITIONS,
    PERMISSION_QUEUES,
    PERMISSION_ROUTING_SKILLS,
    PERMISSION_WRAP_UP_CODES,
)
from genesys_assets.genesys.errors import (
    GenesysConfigError,
    GenesysError,
    GenesysJobError,
    GenesysPermissionError,
)
from genesys_assets.genesys.pages import Fetch, RawPage
from genesys_assets.genesys.query import AggregateQuery, Interval, consecutive_chunks, day_interval
from genesys_assets.genesys.ratelimit import shared_limiter
from genesys_assets.genesys.sizing import (
    DayBound,
    day_bound,
    day_totals_query,
    expected_rows,
    interval_days,
)
from genesys_assets.genesys.transport import RawResponse, RequestStats, RetryPolicy, Transport

if TYPE_CHECKING:
    from genesys_assets.genesys.sdk import AggregatesCalls

MODES = ("auto", "sync", "jobs")
# Days per day-totals request: a month of day buckets, no group-by, is a few kilobytes; the
# API's longest interval is unverified, and 31 days is what every org has been seen to take.
TOTALS_MAX_DAYS = 31

# Once a query's answer has been seen, `auto` sizes the next chunks from it: rows per day times
# the chunk's days, times this margin for busier days than the ones seen.
_OBSERVED_HEADROOM = 2.0

# What a chunk costs in memory, in multiples of its JSON bytes, once its consumer works on it:
# the pages themselves (1x), the copy `flatten_pages` makes to parse result containers in
# parallel (1x) and the Arrow tables (the flattened table and its per-day slices, about 5.7x).
# Measured on large-org days (300 queues, 3,000 agents, 100,000 conversations a day; 19 and
# 52 MB of JSON a day for the two default datasets) with `flatten_pages` + `split_days` +
# the Parquet write: Arrow's pool peaked at 5.6-5.9x the JSON, the process's RSS rose by
# 7.1-7.5x. Rounded up, so that a chunk sized to the budget stays within it.
CHUNK_COST_FACTOR = 8.0
# Where no bound can be had before a query's first answer (see `sizing`), its bytes per day
# are guessed from `expected_rows` (a mid-size org) at about this many bytes of JSON per metric
# entry (measured: 82-89, compact), times `_PROBE_HEADROOM`. The guess only sizes the first
# chunk, which goes alone. It errs large where it caps the groups (agent-level queries: a
# 1-day probe), and small for an org with several times the hinted queues (the large org's
# queue dataset is 19 MB a day against a guess of 7.6 MB: 4 days at the default budget, about
# 1.2x the budget, once).
_JSON_BYTES_PER_ROW = 100.0
_PROBE_HEADROOM = 2.0
_MIB = 2**20


@dataclass(frozen=True)
class ChunkPlan:
    """How the next chunks of a query go: their length in days and how many may be held."""

    chunk_days: int
    window: int  # chunks in flight or finished and waiting, the consumer's one not counted
    bytes_per_day: float  # what the plan was sized from: seen or bounded, or the probe's guess
    observed: bool  # False: nothing seen or bounded yet, this is the probe (one chunk, alone)


@dataclass(frozen=True)
class ClientSettings:
    """Everything about how the client behaves, with the defaults a production run wants."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    max_attempts: int = 8
    max_retry_wait_s: float = 60.0
    backoff_base_s: float = 1.0
    # Client-side ceiling (requests in any 60 s), under Genesys' default of 300 a minute per OAuth
    # client; lowered further automatically when the org reports a lower limit.
    requests_per_minute: float = 250.0
    max_concurrency: int = 8
    chunk_days: int = 7
    # What a run may hold of fetched and flattened data at once; chunk length and the in-flight
    # window are sized from it and the bytes per day the API really returns.
    memory_budget_bytes: int = 512 * 2**20
    mode: str = "auto"
    # `auto` switches to async jobs above this many expected metric rows per query.
    jobs_threshold_rows: int = 250_000
    job_page_size: int = 500
    job_poll_initial_s: float = 1.0
    job_poll_max_s: float = 15.0
    job_timeout_s: float = 1800.0
    queue_page_size: int = 100

    def __post_init__(self) -> None:
        positive = {
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "max_attempts": self.max_attempts,
            "requests_per_minute": self.requests_per_minute,
            "max_concurrency": self.max_concurrency,
            "chunk_days": self.chunk_days,
            "memory_budget_bytes": self.memory_budget_bytes,
            "job_page_size": self.job_page_size,
            "job_timeout_s": self.job_timeout_s,
            "queue_page_size": self.queue_page_size,
        }
        for name, value in positive.items():
            if not value or value <= 0:
                raise GenesysConfigError(f"client setting {name} must be positive, got {value}")
        if self.mode not in MODES:
            raise GenesysConfigError(
                f"query mode must be one of {', '.join(MODES)}, got '{self.mode}'"
            )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            max_wait_s=self.max_retry_wait_s,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
        )


@dataclass(frozen=True)
class Queue:
    id: str
    name: str
    division_id: str | None
    division_name: str | None


@dataclass(frozen=True)
class User:
    """A user as the dimension table keeps them. `email` is None unless it was asked for: it is
    personal data, and joining metrics to names needs none of it."""

    id: str
    name: str | None
    division_id: str | None
    department: str | None
    title: str | None
    state: str | None  # active, inactive or deleted
    manager_id: str | None
    email: str | None = None


@dataclass(frozen=True)
class WrapUpCode:
    id: str
    name: str | None
    division_id: str | None


@dataclass(frozen=True)
class Division:
    id: str
    name: str | None
    description: str | None
    home_division: bool


@dataclass(frozen=True)
class RoutingSkill:
    id: str
    name: str | None
    state: str | None


@dataclass(frozen=True)
class RoutingLanguage:
    id: str
    name: str | None
    state: str | None


@dataclass(frozen=True)
class PresenceDefinition:
    """A presence of the org: Genesys' own (type System) or the org's (type User), each under
    a system presence. Its id is what tOrganizationPresence's qualifier names."""

    id: str
    name: str | None
    system_presence: str | None  # as the listing spells it: OnQueue, Available, Break, ...
    type: str | None  # System or User
    deactivated: bool


# `state` of GET /api/v2/users; the API's default is `active`, which leaves out the agents who
# left while their ids stay in every historical aggregate.
USER_STATES = ("active", "inactive", "deleted", "any")


class FetchCancelled(GenesysError):
    """Another chunk failed or the run was interrupted; this chunk stopped early."""


class GenesysClient:
    """Fetches raw pages of conversation aggregates, their day totals, and the routing queues."""

    def __init__(
        self,
        host: str,
        credentials: ClientCredentials,
        settings: ClientSettings | None = None,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.host = regions.api_host(base_url=host)
        self.settings = settings or ClientSettings()
        self.log = logger or logging.getLogger("genesys_assets.genesys")
        self.stats = RequestStats()
        limiter = shared_limiter(
            self.host, credentials.client_id, self.settings.requests_per_minute
        )
        self._transport = Transport(
            self.settings.retry_policy,
            limiter,
            max_connections=self.settings.max_concurrency + 2,
            logger=self.log,
        )
        self._tokens = TokenProvider(
            self._transport, regions.login_url(self.host), credentials, stats=self.stats
        )
        self._apis_lock = threading.Lock()
        self._apis: Any = None
        self._rng = random.Random()
        # Metric rows and JSON bytes per local day, per query: the largest day-average of any
        # answer so far, else the bound `size` found (an upper bound, which real answers
        # replace: it must not shrink a large org's chunks for the whole run). `auto` picks the
        # mode from the rows, `fetch_days` sizes its chunks and window from the bytes.
        self._seen: dict[str, tuple[float, float]] = {}
        self._bounded: dict[str, tuple[float, float]] = {}
        self._observed_lock = threading.Lock()

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GenesysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- aggregates ---------------------------------------------------------------------------

    def fetch_days(
        self, query: AggregateQuery, days: Iterable[date], *, mode: str | None = None
    ) -> Iterator[Fetch]:
        """Fetch the given local days, one `Fetch` per chunk of consecutive days, in order.

        Every day is fetched exactly once; a chunk is a run of consecutive days (a gap always
        starts a new one: no query fetches days nobody asked for), and chunks come back in the
        order of their days, each as soon as it and all before it are in, so that the consumer
        can stage each one as it arrives.

        Memory follows the org, not the number of days: what a run holds of one query is the
        chunks in flight or finished and waiting, plus the one its consumer works on, and a
        large org's day is tens of MB of JSON that flattening turns into several times that
        in Arrow. So both the chunk length and the window are sized from
        `settings.memory_budget_bytes` and the bytes per day this query's answers really took
        (the largest day-average of any fetch so far, see `_observe`), each chunk charged
        `CHUNK_COST_FACTOR` times its JSON (pages held + flattening):

            chunk_days = clamp(budget // (bytes_per_day * k), 1, settings.chunk_days)
            window     = clamp(budget // (chunk_days * bytes_per_day * k), 1, max_concurrency)

        The plan is made again before each chunk is sent, from the newest observation, so a
        run re-sizes between chunks as answers come in. A query never answered before is
        first sized by one small synchronous query for its first day by day (`size`: an upper
        bound of the day's rows and bytes), so that its chunks go out right away, in the
        right mode; unless the whole range would go as one synchronous query anyway. Where
        that cannot tell (a query by day already, a first day without data), the first chunk
        goes alone as a probe (the others wait for its answer), sized from a generous guess
        (`expected_rows`); in `auto` mode that answer also decides the mode of the chunks
        after it (the static guess errs large, and sending a whole window of chunks to async
        jobs on a guess costs four requests and a job's wait each). One day
        that alone costs more than the budget still goes, one day at a time with nothing else
        in flight, and a warning names the day, its bytes and GENESYS_MEMORY_BUDGET (the first
        such day of a call; the others are info lines and one more warning sums them up).

        If a chunk fails, or the consumer stops (an interrupted run), chunks still in flight
        stop at their next request and cancel their async jobs.
        """
        ahead = _DaysAhead(days)
        stop = threading.Event()
        planned: ChunkPlan | None = None
        over: list[tuple[tuple[date, ...], int]] = []  # days and bytes of fetches over budget
        fetched = 0
        with ThreadPoolExecutor(
            self.settings.max_concurrency, thread_name_prefix="genesys-fetch"
        ) as pool:
            pending: deque[Future[Fetch]] = deque()

            def refill() -> None:
                nonlocal planned
                while ahead:
                    plan = self.plan(query, ahead.first)
                    if plan.observed:
                        self._log_plan(query, plan, planned)
                    planned = plan
                    if len(pending) >= plan.window:
                        return
                    chunk = ahead.take(plan.chunk_days)
                    pending.append(pool.submit(self._fetch_chunk, query, chunk, mode, stop))

            try:
                if self._worth_sizing(query, ahead, mode):
                    self.size(query, ahead.first)
                refill()
                while pending:
                    fetch = pending.popleft().result()
                    fetched += 1
                    self._check_budget(query, fetch, over)
                    refill()
                    yield fetch
                self._warn_over_budget(query, over, fetched)
            finally:
                stop.set()
                for future in pending:
                    future.cancel()

    def size(self, query: AggregateQuery, day: date) -> DayBound | None:
        """Bound what a day of `query` takes by asking for `day` by day (see `sizing`), and
        size the next chunks from it; None where that cannot tell (nothing is noted then).

        Not staged: the answer is the day's totals, not the dataset's pages. It goes through
        the same transport, rate limit and retries as every other request.
        """
        totals = day_totals_query(query)
        if totals is None:
            return None
        stats = RequestStats()
        interval = day_interval(day, query.time_zone)
        page = self._query_sync(
            totals.kind, totals.body(interval), stats, f"day totals {day} (sizing)"
        )
        self.stats.merge(stats)
        bound = day_bound(page.body, query.buckets_per_day())
        if bound is None:
            self.log.info(
                "%s: %s has no data to size the chunks by: the first chunk goes alone",
                _describe(query),
                day,
            )
            return None
        self.log.info(
            "%s: sized by the day totals of %s: %d groups, at most %d metric rows and about "
            "%s of JSON a day",
            _describe(query),
            day,
            bound.groups,
            bound.rows,
            _mb(bound.bytes),
        )
        with self._observed_lock:
            self._bounded[_query_key(query)] = (bound.rows, bound.bytes)
        return bound

    def _worth_sizing(self, query: AggregateQuery, ahead: _DaysAhead, mode: str | None) -> bool:
        """Not when the query has been answered before, nor when the whole range would go as
        one synchronous query on the guess anyway (a daily run of a small dataset): there the
        sizing query would be a second request for nothing."""
        if not ahead or self._seen_bytes_per_day(query) is not None:
            return False
        guess = self.plan(query, ahead.first)
        whole = ahead.single_run(guess.chunk_days)
        if whole is None:
            return True
        interval = day_interval(whole[0], query.time_zone, whole[-1])
        return self.choose_mode(query, interval, mode) != "sync"

    def plan(self, query: AggregateQuery, first_day: date) -> ChunkPlan:
        """How the chunks of `query` from `first_day` on would go now (see `fetch_days`)."""
        budget = self.settings.memory_budget_bytes
        per_day = self._seen_bytes_per_day(query)
        if per_day is None:
            # The probe: one chunk alone, as long as a generous guess of its size allows.
            guess = expected_rows(query, day_interval(first_day, query.time_zone))
            per_day = guess * _JSON_BYTES_PER_ROW * _PROBE_HEADROOM
            chunk_days = _clamp(budget / (per_day * CHUNK_COST_FACTOR), self.settings.chunk_days)
            return ChunkPlan(chunk_days, 1, per_day, observed=False)
        day_cost = max(per_day, 1.0) * CHUNK_COST_FACTOR
        chunk_days = _clamp(budget / day_cost, self.settings.chunk_days)
        window = _clamp(budget / (chunk_days * day_cost), self.settings.max_concurrency)
        return ChunkPlan(chunk_days, window, per_day, observed=True)

    def _log_plan(self, query: AggregateQuery, plan: ChunkPlan, before: ChunkPlan | None) -> None:
        """Say how the chunks go once sized, and whenever that changes (not every chunk)."""
        sized = (plan.chunk_days, plan.window)
        if before and before.observed and (before.chunk_days, before.window) == sized:
            return  # the observation moved, the plan did not
        self.log.info(
            "%s: %s of JSON a day, memory budget %s (GENESYS_MEMORY_BUDGET): chunks of "
            "%d day(s), up to %d in flight",
            _describe(query),
            _mb(plan.bytes_per_day),
            _mb(self.settings.memory_budget_bytes),
            plan.chunk_days,
            plan.window,
        )

    def _check_budget(
        self, query: AggregateQuery, fetch: Fetch, over: list[tuple[tuple[date, ...], int]]
    ) -> None:
        """Say so when a fetch alone costs more than the whole budget.

        The first such fetch of a `fetch_days` call is a warning with everything needed to act
        on it; later ones (a large org's every day) are info lines, and `_warn_over_budget`
        sums them up at the end, so that a 90-day run says it twice, not 90 times.
        """
        budget = self.settings.memory_budget_bytes
        cost = fetch.bytes * CHUNK_COST_FACTOR
        if cost <= budget or not fetch.days:
            return
        over.append((fetch.days, fetch.bytes))  # not the fetch: its pages must be let go
        if len(over) > 1:
            self.log.info(
                "%s: %s is over the memory budget too: %s of JSON (%d bytes), about %s flattened",
                _describe(query),
                _label(fetch.days, None),
                _mb(fetch.bytes),
                fetch.bytes,
                _mb(cost),
            )
        elif len(fetch.days) == 1:
            self.log.warning(
                "%s: the day %s alone is %s of JSON (%d bytes), about %s once flattened, more "
                "than the memory budget of %s: its days go one at a time with nothing else in "
                "flight, and the run holds more than the budget while each is staged and "
                "flattened; raise GENESYS_MEMORY_BUDGET until this client's budget is at least "
                "%dMiB to stay within it",
                _describe(query),
                fetch.days[0],
                _mb(fetch.bytes),
                fetch.bytes,
                _mb(cost),
                _mb(budget),
                _mib_up(cost),
            )
        else:
            self.log.warning(
                "%s: the chunk %s is %s of JSON (%d bytes), about %s once flattened, more than "
                "the memory budget of %s (GENESYS_MEMORY_BUDGET): its days are larger than "
                "the answers seen before; the next chunks are sized from it",
                _describe(query),
                _label(fetch.days, None),
                _mb(fetch.bytes),
                fetch.bytes,
                _mb(cost),
                _mb(budget),
            )

    def _warn_over_budget(
        self, query: AggregateQuery, over: list[tuple[tuple[date, ...], int]], fetches: int
    ) -> None:
        """The summary of a call in which several fetches were over the budget."""
        if len(over) < 2:
            return
        days, size = max(over, key=lambda o: o[1] / len(o[0]))
        per_day = size / len(days)
        self.log.warning(
            "%s: %d of %d fetches were over the memory budget of %s; the largest day-average, "
            "%s, is %s of JSON a day (about %s flattened); raise GENESYS_MEMORY_BUDGET until "
            "this client's budget is at least %dMiB to stay within it",
            _describe(query),
            len(over),
            fetches,
            _mb(self.settings.memory_budget_bytes),
            _label(days, None),
            _mb(per_day),
            _mb(per_day * CHUNK_COST_FACTOR),
            _mib_up(per_day * CHUNK_COST_FACTOR),
        )

    def fetch(
        self,
        query: AggregateQuery,
        interval: Interval,
        *,
        days: Sequence[date] = (),
        mode: str | None = None,
        stop: threading.Event | None = None,
    ) -> Fetch:
        """One query over an explicit interval, all of its pages."""
        chosen = self.choose_mode(query, interval, mode)
        stats = RequestStats()
        started = time.monotonic()
        label = _label(days, interval)
        stop = stop or threading.Event()
        if chosen == "sync":
            request = query.body(interval)
            pages, job_id = [self._query_sync(query.kind, request, stats, label)], None
        else:
            request = query.body(interval, pageSize=self.settings.job_page_size)
            pages, job_id = self._query_job(query.kind, request, stats, label, stop)
        self.stats.merge(stats)
        fetch = Fetch(
            days=tuple(days),
            time_zone=query.time_zone,
            request=request,
            mode=chosen,
            job_id=job_id,
            pages=tuple(pages),
            fetched_at=datetime.now(UTC),
            elapsed_s=time.monotonic() - started,
            requests=stats.requests,
            retries=stats.retries,
            throttled=stats.throttled,
        )
        self._observe(query, interval, fetch)
        return fetch

    def choose_mode(
        self, query: AggregateQuery, interval: Interval, mode: str | None = None
    ) -> str:
        chosen = mode or self.settings.mode
        if chosen not in MODES:
            raise GenesysConfigError(
                f"query mode must be one of {', '.join(MODES)}, got '{chosen}'"
            )
        if chosen != "auto":
            return chosen
        per_day = self._seen_rows_per_day(query)
        if per_day is None:
            expected = expected_rows(query, interval)
        else:
            expected = per_day * interval_days(interval) * _OBSERVED_HEADROOM
        return "jobs" if expected > self.settings.jobs_threshold_rows else "sync"

    def _seen_rows_per_day(self, query: AggregateQuery) -> float | None:
        sizes = self._sizes(query)
        return sizes[0] if sizes else None

    def _seen_bytes_per_day(self, query: AggregateQuery) -> float | None:
        sizes = self._sizes(query)
        return sizes[1] if sizes else None

    def _sizes(self, query: AggregateQuery) -> tuple[float, float] | None:
        key = _query_key(query)
        with self._observed_lock:
            return self._seen.get(key) or self._bounded.get(key)

    def _observe(self, query: AggregateQuery, interval: Interval, fetch: Fetch) -> None:
        """Remember how big this query's answers are, to size the next chunks.

        Rows per day choose the mode (`auto`); bytes per day size the chunks and the window
        against the memory budget. Both keep the largest day-average seen: a quiet day (a
        weekend) must not size the chunk that holds the next busy ones.
        """
        days = len(fetch.days) or interval_days(interval)
        rows = fetch.metric_entries / interval_days(interval)
        size = fetch.bytes / days
        key = _query_key(query)
        with self._observed_lock:
            seen_rows, seen_bytes = self._seen.get(key, (0.0, 0.0))
            self._seen[key] = (max(rows, seen_rows), max(size, seen_bytes))

    def _fetch_chunk(
        self, query: AggregateQuery, days: tuple[date, ...], mode: str | None, stop: threading.Event
    ) -> Fetch:
        if stop.is_set():
            raise FetchCancelled(f"{_label(days, None)}: not started, the fetch was stopped")
        interval = day_interval(days[0], query.time_zone, days[-1])
        return self.fetch(query, interval, days=days, mode=mode, stop=stop)

    def _query_sync(
        self, kind: str, request: dict[str, Any], stats: RequestStats, label: str
    ) -> RawPage:
        apis = self._sdk_apis()
        with apis.http.call(f"{_noun(kind)} query {label}", stats):
            response: RawResponse = apis.aggregates(kind).query(request)
        return _page(response, 1, None)

    def _query_job(
        self,
        kind: str,
        request: dict[str, Any],
        stats: RequestStats,
        label: str,
        stop: threading.Event,
    ) -> tuple[list[RawPage], str]:
        calls = self._sdk_apis().aggregates(kind)
        http = self._sdk_apis().http
        what = f"{_noun(kind)} job {label}"
        with http.call(what, stats):
            submitted = calls.submit(request)
        job_id = str(submitted.json()["jobId"])
        try:
            self._wait_for_job(calls, job_id, stats, what, stop)
            pages: list[RawPage] = []
            cursor: str | None = None
            while True:
                if stop.is_set():
                    raise FetchCancelled(f"{what}: stopped while reading pages")
                kwargs = {"cursor": cursor} if cursor else {}
                with http.call(f"{what} page {len(pages) + 1}", stats):
                    response = calls.results(job_id, **kwargs)
                page = _page(response, len(pages) + 1, cursor)
                pages.append(page)
                if not page.next_cursor:
                    return pages, job_id
                cursor = page.next_cursor
        except BaseException:
            self._cancel_job(calls, job_id, stats, what)
            raise

    def _wait_for_job(
        self,
        calls: AggregatesCalls,
        job_id: str,
        stats: RequestStats,
        what: str,
        stop: threading.Event,
    ) -> None:
        http = self._sdk_apis().http
        deadline = time.monotonic() + self.settings.job_timeout_s
        delay = self.settings.job_poll_initial_s
        while True:
            with http.call(f"{what} status", stats):
                status = calls.status(job_id).json()
            state = status.get("state")
            if state == "FULFILLED":
                return
            if state in ("FAILED", "CANCELLED", "EXPIRED"):
                reason = status.get("errorMessage") or "no reason given"
                raise GenesysJobError(f"{what}: job {job_id} ended {state}: {reason}")
            if time.monotonic() + delay > deadline:
                raise GenesysJobError(
                    f"{what}: job {job_id} still {state} after {self.settings.job_timeout_s:.0f} s;"
                    " raise GENESYS_JOB_TIMEOUT or use smaller chunks (GENESYS_CHUNK_DAYS)"
                )
            if stop.wait(delay):
                raise FetchCancelled(f"{what}: stopped while the job was {state}")
            # Poll with backoff and some jitter so that concurrent jobs do not poll in lockstep.
            delay = min(self.settings.job_poll_max_s, delay * 1.5) * self._rng.uniform(0.9, 1.1)

    def _cancel_job(
        self, calls: AggregatesCalls, job_id: str, stats: RequestStats, what: str
    ) -> None:
        """Best effort: a job left behind costs the org, not us; never mask the real error."""
        try:
            with self._sdk_apis().http.call(f"{what} cancel", stats):
                calls.cancel(job_id)
            self.log.info("%s: cancelled job %s", what, job_id)
        except Exception as exc:
            self.log.warning("%s: could not cancel job %s: %s", what, job_id, exc)

    # -- other endpoints ----------------------------------------------------------------------

    def list_queues(self, *, page_size: int | None = None) -> list[Queue]:
        """Every routing queue (id, name, division), across all pages."""
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/routing/queues"
        queues = []
        for entity in self._list_entities(
            endpoint,
            lambda size, number: apis.routing.get_routing_queues(
                page_size=size, page_number=number
            ),
            page_size,
            permission=PERMISSION_QUEUES,
        ):
            division = entity.get("division") or {}
            queues.append(
                Queue(
                    id=entity["id"],
                    name=_text(entity, "name", endpoint) or "",
                    division_id=_ref_id(entity, "division", endpoint),
                    division_name=division.get("name"),
                )
            )
        return queues

    def list_users(
        self, *, include_email: bool = False, state: str = "any", page_size: int | None = None
    ) -> list[User]:
        """Every user of `state` across all pages; by default every state, deleted included,
        so that each user id any conversation ever had resolves to a name.

        `email` stays None unless `include_email`: the API always sends it, the table keeps it
        only when asked.
        """
        if state not in USER_STATES:
            raise GenesysConfigError(
                f"user state must be one of {', '.join(USER_STATES)}, got '{state}'"
            )
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/users"
        users = []
        for entity in self._list_entities(
            endpoint,
            lambda size, number: apis.users.get_users(
                page_size=size, page_number=number, state=state
            ),
            page_size,
        ):
            users.append(
                User(
                    id=entity["id"],
                    name=_text(entity, "name", endpoint),
                    division_id=_ref_id(entity, "division", endpoint),
                    department=_text(entity, "department", endpoint),
                    title=_text(entity, "title", endpoint),
                    state=_text(entity, "state", endpoint),
                    manager_id=_ref_id(entity, "manager", endpoint),
                    email=_text(entity, "email", endpoint) if include_email else None,
                )
            )
        return users

    def list_wrap_up_codes(self, *, page_size: int | None = None) -> list[WrapUpCode]:
        """Every wrap-up code (id, name, division), across all pages."""
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/routing/wrapupcodes"
        return [
            WrapUpCode(
                id=entity["id"],
                name=_text(entity, "name", endpoint),
                division_id=_ref_id(entity, "division", endpoint),
            )
            for entity in self._list_entities(
                endpoint,
                lambda size, number: apis.routing.get_routing_wrapupcodes(
                    page_size=size, page_number=number
                ),
                page_size,
                permission=PERMISSION_WRAP_UP_CODES,
            )
        ]

    def list_divisions(self, *, page_size: int | None = None) -> list[Division]:
        """Every division of the org, the home division flagged, across all pages."""
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/authorization/divisions"
        divisions = []
        for entity in self._list_entities(
            endpoint,
            lambda size, number: apis.authorization.get_authorization_divisions(
                page_size=size, page_number=number
            ),
            page_size,
        ):
            home = entity.get("homeDivision", False)
            if not isinstance(home, bool):
                raise GenesysError(
                    f"{endpoint}: division {entity['id']} has a 'homeDivision' of "
                    f"{type(home).__name__}, not a boolean"
                )
            divisions.append(
                Division(
                    id=entity["id"],
                    name=_text(entity, "name", endpoint),
                    description=_text(entity, "description", endpoint),
                    home_division=home,
                )
            )
        return divisions

    def list_routing_skills(self, *, page_size: int | None = None) -> list[RoutingSkill]:
        """Every routing skill (id, name, state), across all pages."""
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/routing/skills"
        return [
            RoutingSkill(
                id=entity["id"],
                name=_text(entity, "name", endpoint),
                state=_text(entity, "state", endpoint),
            )
            for entity in self._list_entities(
                endpoint,
                lambda size, number: apis.routing.get_routing_skills(
                    page_size=size, page_number=number
                ),
                page_size,
                permission=PERMISSION_ROUTING_SKILLS,
            )
        ]

    def list_routing_languages(self, *, page_size: int | None = None) -> list[RoutingLanguage]:
        """Every routing language (id, name, state), across all pages."""
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/routing/languages"
        return [
            RoutingLanguage(
                id=entity["id"],
                name=_text(entity, "name", endpoint),
                state=_text(entity, "state", endpoint),
            )
            for entity in self._list_entities(
                endpoint,
                lambda size, number: apis.routing.get_routing_languages(
                    page_size=size, page_number=number
                ),
                page_size,
            )
        ]

    def list_presence_definitions(self) -> list[PresenceDefinition]:
        """Every presence definition of the org, deactivated ones included (past days name
        them). The listing is not paged; it is asked once per `deactivated` value, since what
        it answers without one is undocumented. The name is the label in en_US (else the
        first label, else the definition's own name)."""
        apis = self._sdk_apis()
        endpoint = "GET /api/v2/presence/definitions"
        definitions: dict[str, PresenceDefinition] = {}

        def listing(deactivated: str) -> Callable[[int, int], RawResponse]:
            # One answer, not paged: the page size and number are not parameters of it.
            return lambda size, number: apis.presence.get_presence_definitions(
                deactivated=deactivated, locale_code="ALL"
            )

        for deactivated in ("false", "true"):
            for entity in self._list_entities(
                f"{endpoint}?deactivated={deactivated}",
                listing(deactivated),
                None,
                permission=PERMISSION_PRESENCE_DEFINITIONS,
            ):
                labels = entity.get("languageLabels") or {}
                where = f"{endpoint}: entity {entity['id']}"
                if not isinstance(labels, dict) or not all(
                    isinstance(v, str) for v in labels.values()
                ):
                    raise GenesysError(f"{where} has 'languageLabels' that are not texts")
                flag = entity.get("deactivated", deactivated == "true")
                if not isinstance(flag, bool):
                    raise GenesysError(f"{where} has a 'deactivated' that is not a boolean")
                definitions.setdefault(
                    entity["id"],
                    PresenceDefinition(
                        id=entity["id"],
                        name=labels.get("en_US")
                        or next(iter(labels.values()), None)
                        or _text(entity, "name", endpoint),
                        system_presence=_text(entity, "systemPresence", endpoint),
                        type=_text(entity, "type", endpoint),
                        deactivated=flag,
                    ),
                )
        return list(definitions.values())

    def _list_entities(
        self,
        endpoint: str,
        get_page: Callable[[int, int], RawResponse],
        page_size: int | None,
        *,
        permission: str | None = None,
    ) -> list[dict[str, Any]]:
        """The entities of every page of an entity listing, each checked to carry an id.

        An answer of another shape is an error, never an empty or shorter list: a dimension
        table replaced by it would blank names in every report without a sign. An entity listed
        twice (the set changed between pages) is kept once. `permission` is what the endpoint
        needs, named in the error of a 403 (the API's own message names it too).
        """
        size = page_size or self.settings.queue_page_size
        stats = RequestStats()
        entities: list[dict[str, Any]] = []
        seen: set[str] = set()
        page_number = 1
        try:
            while True:
                with self._sdk_apis().http.call(f"{endpoint} page {page_number}", stats):
                    response = get_page(size, page_number)
                where = f"{endpoint} page {page_number}"
                page = _listing_page(response, where)
                before = len(entities)
                for index, entity in enumerate(page["entities"]):
                    if not isinstance(entity, dict):
                        raise GenesysError(f"{where}: entity {index} is not an object")
                    entity_id = entity.get("id")
                    if not isinstance(entity_id, str) or not entity_id:
                        raise GenesysError(f"{where}: entity {index} has no 'id'")
                    if entity_id not in seen:
                        seen.add(entity_id)
                        entities.append(entity)
                page_count = page.get("pageCount")
                if not page["entities"] or not page.get("nextUri"):
                    break
                if len(entities) == before:
                    # Following nextUri again would loop for ever on a listing that does not move.
                    raise GenesysError(f"{where}: only entities of earlier pages, and a nextUri")
                if isinstance(page_count, int) and page_number >= page_count:
                    break
                page_number += 1
        except GenesysPermissionError as exc:
            if permission is None:
                raise
            raise GenesysPermissionError(
                f"{endpoint} needs the permission '{permission}' in a role of the OAuth "
                f"client: {exc}"
            ) from exc
        finally:
            self.stats.merge(stats)
        return entities

    def day_totals(self, query: AggregateQuery, days: Sequence[date]) -> list[RawPage]:
        """The answers of `query` (a by-day query, see `genesys_assets.source_parity`) for
        `days`: one synchronous request per run of consecutive days, at most
        `TOTALS_MAX_DAYS` long. Not staged, and through the same transport, rate limit and
        retries as every other request."""
        stats = RequestStats()
        pages: list[RawPage] = []
        for run in consecutive_chunks(days, TOTALS_MAX_DAYS):
            interval = day_interval(run[0], query.time_zone, run[-1])
            pages.append(
                self._query_sync(
                    query.kind, query.body(interval), stats, f"day totals {_label(run, interval)}"
                )
            )
        self.stats.merge(stats)
        return pages

    def _sdk_apis(self) -> Any:
        with self._apis_lock:
            if self._apis is None:
                from genesys_assets.genesys.sdk import SdkApis

                self._apis = SdkApis(self.host, self._transport, self._tokens)
            return self._apis


def _listing_page(response: RawResponse, where: str) -> dict[str, Any]:
    try:
        page = response.json()
    except ValueError as exc:
        raise GenesysError(f"{where}: the answer is not JSON: {exc}") from None
    if not isinstance(page, dict):
        raise GenesysError(f"{where}: the answer is not a JSON object")
    if not isinstance(page.get("entities"), list):
        raise GenesysError(f"{where}: the answer has no 'entities' list")
    return page


def _text(entity: dict[str, Any], field: str, endpoint: str) -> str | None:
    """An optional text field; present with another type is an answer we did not expect."""
    value = entity.get(field)
    if value is None or isinstance(value, str):
        return value
    raise GenesysError(
        f"{endpoint}: entity {entity['id']} has a '{field}' of {type(value).__name__}, not text"
    )


def _ref_id(entity: dict[str, Any], field: str, endpoint: str) -> str | None:
    """The id of a reference such as `division: {id, name}` or `manager: {id}`, if any."""
    ref = entity.get(field)
    if ref is None:
        return None
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        raise GenesysError(f"{endpoint}: entity {entity['id']} has a '{field}' without an 'id'")
    return str(ref["id"])


def _clamp(value: float, most: int) -> int:
    """`value` rounded down, at least 1 and at most `most`."""
    return max(1, min(most, int(value)))


def _mb(size: float) -> str:
    return f"{size / _MIB:,.1f} MiB"


def _mib_up(size: float) -> int:
    """Bytes as whole MiB, rounded up."""
    return -(-int(size) // _MIB)


def _describe(query: AggregateQuery) -> str:
    """Which query a log line is about: its grouping (the dataset shows in the run's log)."""
    return "aggregates by " + (",".join(query.group_by) or "(no groupBy)")


class _DaysAhead:
    """The days still to fetch, sorted and without repeats, cut into chunks as they go.

    A chunk is a run of consecutive days of at most the length asked for: a gap always
    starts a new one, so that one query never fetches days nobody asked for.
    """

    def __init__(self, days: Iterable[date]) -> None:
        self._days = sorted(set(days))
        self._next = 0

    def __bool__(self) -> bool:
        return self._next < len(self._days)

    @property
    def first(self) -> date:
        return self._days[self._next]

    def take(self, most: int) -> tuple[date, ...]:
        chunk = self._peek(most)
        self._next += len(chunk)
        return chunk

    def single_run(self, most: int) -> tuple[date, ...] | None:
        """All the days still ahead, if they are one chunk of at most `most` days."""
        chunk = self._peek(most)
        return chunk if self._next + len(chunk) == len(self._days) else None

    def _peek(self, most: int) -> tuple[date, ...]:
        chunk = [self._days[self._next]]
        while len(chunk) < most and self._next + len(chunk) < len(self._days):
            day = self._days[self._next + len(chunk)]
            if day != chunk[-1] + timedelta(days=1):
                break
            chunk.append(day)
        return tuple(chunk)


def _query_key(query: AggregateQuery) -> str:
    return json.dumps(query.definition(), sort_keys=True)


_CURSOR = re.compile(rb'"cursor"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _page(response: RawResponse, number: int, cursor: str | None) -> RawPage:
    return RawPage(
        body=response.data,
        number=number,
        cursor=cursor,
        next_cursor=next_cursor(response.data),
        correlation_id=response.correlation_id,
        attempts=response.attempts,
        elapsed_s=response.elapsed_s,
    )


def next_cursor(body: bytes) -> str | None:
    """The `cursor` of a results page, without parsing the (possibly huge) page.

    A quoted key can only occur as a key: inside a JSON string every quote is escaped.
    """
    at = body.rfind(b'"cursor"')
    match = _CURSOR.match(body, at) if at >= 0 else None
    if match is None:
        return None
    return json.loads(b'"' + match.group(1) + b'"') or None


def _noun(kind: str) -> str:
    """How log lines and errors name a kind's requests: "aggregates" for conversations, as
    they always have; "user aggregates" for users."""
    return "aggregates" if kind == "conversations" else f"{kind[:-1]} aggregates"


def _label(days: Sequence[date], interval: Interval | None) -> str:
    if days:
        return days[0].isoformat() if len(days) == 1 else f"{days[0]}..{days[-1]}"
    return interval.to_api() if interval else "?"
