"""The client's memory budget, over HTTP against the simulator, through the real SDK.

`GenesysClient.fetch_days` sizes its chunks and its in-flight window from
`ClientSettings.memory_budget_bytes` and the bytes per day the answers really took. What these
tests look at is what went over the wire: which days each query asked for, in which order, and
how many aggregates requests the simulator was answering at once (counted in the simulator's
request handler, by order of events, never by time).
"""

import dataclasses
import itertools
import json
import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from genesys_assets import datasets
from genesys_assets.genesys import sizing
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import CHUNK_COST_FACTOR, ClientSettings, GenesysClient
from genesys_assets.genesys.query import AggregateQuery, day_interval

QUERY = AggregateQuery(
    metrics=("nOffered", "tHandle", "tAnswered", "oServiceLevel"),
    group_by=("queueId", "mediaType"),
    granularity="PT30M",
    time_zone="America/New_York",
)
DAY = date(2024, 11, 4)  # a Monday
LOGGER = "genesys_assets.genesys"
AGGREGATES = ("/aggregates/query", "/aggregates/jobs")


def client_for(simulator, **settings) -> GenesysClient:
    defaults = {"backoff_base_s": 0.05, "max_retry_wait_s": 2.0, "job_poll_initial_s": 0.05}
    return GenesysClient(
        simulator.base_url,
        ClientCredentials(simulator.client_id, simulator.client_secret),
        ClientSettings(**{**defaults, **settings}),
    )


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


class InFlight:
    """Counts the aggregates requests (query or job submission) the simulator answers at once.

    Wraps the simulator's request handler (as `bench.simulation` does): every request still
    goes over HTTP through the real SDK. `overlap` holds back the first two queries after the
    first one until both are being answered (at most `timeout_s`), so that a client that sends
    chunks concurrently is seen doing so whatever the machine's speed; a client that sends them
    one by one only waits.
    """

    def __init__(self, simulator, *, overlap: bool = False, timeout_s: float = 20.0) -> None:
        self.events: list[tuple[str, str]] = []  # ("start" | "end", interval), in order
        self.bodies: list[dict] = []  # the request bodies, in the order they came in
        self.now = 0
        self.most = 0
        self._overlap = overlap
        self._timeout_s = timeout_s
        self._seen = 0
        self._cond = threading.Condition()
        api = simulator._api
        original = api.handle

        def handle(request):
            if request.method != "POST" or not request.path.endswith(AGGREGATES):
                return original(request)
            body = json.loads(request.body)
            interval = body["interval"]
            with self._cond:
                self.bodies.append(body)
                self.now += 1
                self.most = max(self.most, self.now)
                self.events.append(("start", interval))
                self._seen += 1
                if self._overlap and self._seen in (2, 3):
                    self._cond.notify_all()
                    self._cond.wait_for(lambda: self.most >= 2, timeout=self._timeout_s)
            try:
                return original(request)
            finally:
                with self._cond:
                    self.now -= 1
                    self.events.append(("end", interval))

        api.handle = handle

    def went_alone(self, n: int) -> bool:
        """The n-th query (from 0) was answered before any later one was sent."""
        interval = self.events[2 * n][1]
        return self.events[2 * n : 2 * n + 2] == [("start", interval), ("end", interval)]


def day_sizes(simulator, days: list[date]) -> dict[date, int]:
    """Bytes of JSON of each day asked alone (another client: its observations are its own)."""
    with client_for(simulator, mode="sync", chunk_days=1, max_concurrency=1) as client:
        return {f.days[0]: f.bytes for f in client.fetch_days(QUERY, days)}


def entries(fetches) -> list[tuple]:
    """Every metric entry of the pages, as comparable tuples, sorted."""
    out = []
    for fetch in fetches:
        for page in fetch.pages:
            for result in json.loads(page.body).get("results", []):
                group = tuple(sorted(result.get("group", {}).items()))
                for bucket in result["data"]:
                    for metric in bucket["metrics"]:
                        stats = json.dumps(metric["stats"], sort_keys=True)
                        out.append((bucket["interval"], group, metric["metric"], stats))
    return sorted(out)


def aggregates_requests(simulator) -> int:
    routes = simulator.stats()["requests_by_route"]
    return sum(n for route, n in routes.items() if route.endswith("/aggregates/query"))


def consecutive(days: tuple[date, ...]) -> bool:
    return all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))


def budget_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "GENESYS_MEMORY_BUDGET" in r.getMessage()
    ]


def test_a_small_budget_goes_one_day_at_a_time_after_the_first_answer(start_simulator, caplog):
    simulator = start_simulator()
    days = days_from(DAY, 7)
    sizes = day_sizes(simulator, days)
    # Room for one day (the largest, flattened), not for two.
    budget = int(1.5 * max(sizes.values()) * CHUNK_COST_FACTOR)
    caplog.set_level(logging.INFO, logger=LOGGER)
    watch = InFlight(simulator)
    with client_for(
        simulator, mode="sync", chunk_days=3, max_concurrency=4, memory_budget_bytes=budget
    ) as client:
        fetches = list(client.fetch_days(QUERY, days))
        plan = client.plan(QUERY, DAY)
    assert [f.days for f in fetches] == [(d,) for d in days]
    assert [f.bytes for f in fetches] == [sizes[d] for d in days]
    assert watch.most == 1, "never more than one query at a time"
    assert (plan.chunk_days, plan.window, plan.observed) == (1, 1, True)
    assert budget_warnings(caplog) == [], "every day fits the budget on its own"
    sized = [
        r.getMessage() for r in caplog.records if "chunks of 1 day(s), up to 1" in r.getMessage()
    ]
    assert len(sized) == 1, "the plan is logged once, when it is made"


def test_a_large_budget_sends_full_chunks_concurrently_once_sized(start_simulator):
    simulator = start_simulator()
    days = days_from(DAY, 12)
    watch = InFlight(simulator, overlap=True)
    with client_for(simulator, mode="sync", chunk_days=3, max_concurrency=4) as client:
        assert client.settings.memory_budget_bytes == 512 * 2**20  # the default
        fetches = list(client.fetch_days(QUERY, days))
        plan = client.plan(QUERY, DAY)
    assert [f.days for f in fetches] == [tuple(days[i : i + 3]) for i in range(0, 12, 3)]
    assert watch.bodies[0]["granularity"] == "P1D", "first the day totals of the first day"
    assert watch.bodies[0]["interval"] == day_interval(DAY, QUERY.time_zone).to_api()
    assert watch.went_alone(0), "the chunks wait for the sizing answer"
    assert [b["granularity"] for b in watch.bodies[1:]] == ["PT30M"] * 4
    assert watch.most >= 2, "then they go concurrently, none alone as a probe"
    assert (plan.chunk_days, plan.window) == (3, 4)


def test_without_a_bound_the_first_chunk_is_a_probe_sized_from_a_guess(start_simulator, caplog):
    # A query by day has no smaller question to size it by (its day totals are its answer):
    # the first chunk is sized from a generous guess and goes alone. The same holds when the
    # first day has no data (below).
    by_day = dataclasses.replace(QUERY, granularity="P1D")
    simulator = start_simulator()
    days = days_from(DAY, 6)
    guessed = sizing.expected_rows(by_day, day_interval(DAY, by_day.time_zone))
    # Room for one guessed day (rows x 100 bytes x 2, flattened 8x), not two.
    budget = int(1.5 * guessed * 100 * 2 * CHUNK_COST_FACTOR)
    watch = InFlight(simulator)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with client_for(
        simulator, mode="sync", chunk_days=3, max_concurrency=4, memory_budget_bytes=budget
    ) as client:
        before = client.plan(by_day, DAY)
        fetches = list(client.fetch_days(by_day, days))
    assert (before.chunk_days, before.window, before.observed) == (1, 1, False)
    assert fetches[0].days == (DAY,)
    assert watch.went_alone(0)
    assert len(watch.bodies) == len(fetches), "no sizing query: it would fetch the day twice"
    # The answers are a few KB a day: the rest goes in full chunks.
    assert [f.days for f in fetches[1:]] == [tuple(days[1:4]), tuple(days[4:6])]
    assert not [r for r in caplog.records if "sized by" in r.getMessage()]


def test_a_first_day_without_data_sizes_nothing_and_the_probe_goes_alone(start_simulator, caplog):
    # Days after the simulator's "now" have no data yet: the day totals bound nothing.
    simulator = start_simulator(now=datetime(2024, 11, 4, 12, tzinfo=UTC))
    future = DAY + timedelta(days=3)
    days = days_from(future, 4)
    budget = 3 * 2**20  # a guessed day costs about 11.5 MB: the probe is one day
    watch = InFlight(simulator)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with client_for(
        simulator, mode="sync", chunk_days=3, max_concurrency=4, memory_budget_bytes=budget
    ) as client:
        assert client.size(QUERY, future) is None
        fetches = list(client.fetch_days(QUERY, days))
    assert [b["granularity"] for b in watch.bodies] == ["P1D", "P1D", "PT30M", "PT30M"]
    assert fetches[0].days == (future,) and watch.went_alone(2)
    assert [f.days for f in fetches[1:]] == [tuple(days[1:4])]
    empty = [r.getMessage() for r in caplog.records if "has no data" in r.getMessage()]
    assert (
        empty
        == [
            f"aggregates by queueId,mediaType: {future} has no data to size the chunks by: the "
            "first chunk goes alone"
        ]
        * 2
    )


def test_the_bound_is_never_below_a_days_real_answer(start_simulator):
    # The default datasets, a week with the autumn DST change (2024-11-03 has 25 hours) and a
    # weekend: the bound holds every day, from a smaller answer, within a small factor for the
    # conversation aggregates. Time in a status has no count to bound its buckets by: each
    # status of a user's day is bounded by every bucket of the day, which real answers then
    # replace (the first chunk of a status dataset is sized small, the others from its answer).
    simulator = start_simulator(weekend_factor=0.3)
    with client_for(simulator, mode="sync", chunk_days=1) as client:
        for dataset in datasets.load().datasets:
            query = dataset.query
            for day in days_from(date(2024, 10, 31), 7):
                before = aggregates_requests(simulator)
                bound = client.size(query, day)
                assert aggregates_requests(simulator) == before + 1, "one request"
                assert bound is not None
                real = client.fetch(query, day_interval(day, query.time_zone), days=[day])
                loose = 3 if dataset.kind == "conversations" else query.buckets_per_day()
                assert real.metric_entries <= bound.rows <= loose * real.metric_entries, (
                    dataset.name,
                    day,
                )
                assert real.bytes <= bound.bytes <= loose * real.bytes, (dataset.name, day)


def test_a_run_that_is_one_synchronous_query_anyway_is_not_sized(start_simulator):
    simulator = start_simulator()
    watch = InFlight(simulator)
    with client_for(simulator) as client:  # auto
        assert client.choose_mode(QUERY, day_interval(DAY, QUERY.time_zone)) == "sync"
        [fetch] = client.fetch_days(QUERY, [DAY])
        [again] = client.fetch_days(QUERY, days_from(DAY + timedelta(days=1), 3))
    assert fetch.mode == again.mode == "sync"
    assert [b["granularity"] for b in watch.bodies] == ["PT30M", "PT30M"], "no sizing query"


@pytest.mark.parametrize("days_per_budget", [0.5, 1.5, 2.5, 1000.0])
def test_every_day_comes_back_once_in_order_whatever_the_budget(start_simulator, days_per_budget):
    simulator = start_simulator()
    # Unsorted, repeated, with gaps: what a caller may hand in.
    wanted = days_from(DAY, 5) + days_from(DAY + timedelta(days=7), 4) + [DAY + timedelta(days=13)]
    asked = list(reversed(wanted)) + wanted[2:6]
    sizes = day_sizes(simulator, wanted)
    reference = [f for d in wanted for f in _single(simulator, d)]
    budget = max(1, int(days_per_budget * max(sizes.values()) * CHUNK_COST_FACTOR))
    with client_for(
        simulator, mode="sync", chunk_days=3, max_concurrency=3, memory_budget_bytes=budget
    ) as client:
        fetches = list(client.fetch_days(QUERY, asked))
    fetched = [d for f in fetches for d in f.days]
    assert fetched == sorted(set(wanted)), "every day once, in order"
    assert all(consecutive(f.days) and len(f.days) <= 3 for f in fetches)
    assert entries(fetches) == entries(reference), "the same data however it was cut"
    if days_per_budget < 2:
        assert all(len(f.days) == 1 for f in fetches[1:])


def _single(simulator, day: date):
    with client_for(simulator, mode="sync") as client:
        return list(client.fetch_days(QUERY, [day]))


def test_a_day_over_the_budget_still_goes_alone_with_a_warning(start_simulator, caplog):
    simulator = start_simulator()
    days = days_from(DAY, 3)
    watch = InFlight(simulator)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with client_for(
        simulator, mode="sync", chunk_days=7, max_concurrency=4, memory_budget_bytes=4096
    ) as client:
        fetches = list(client.fetch_days(QUERY, days))
        plan = client.plan(QUERY, DAY)
    assert [f.days for f in fetches] == [(d,) for d in days]
    assert all(f.pages and f.bytes * CHUNK_COST_FACTOR > 4096 for f in fetches)
    assert watch.most == 1
    assert (plan.chunk_days, plan.window) == (1, 1)
    # The first such day is a warning with all it takes to act; the others are info lines,
    # summed up in one more warning at the end: two warnings, however long the run.
    first, summary = budget_warnings(caplog)
    fetch = fetches[0]
    assert f"the day {fetch.days[0].isoformat()} alone" in first
    assert f"({fetch.bytes} bytes)" in first and "memory budget of 0.0 MiB" in first
    needed = -(-int(fetch.bytes * CHUNK_COST_FACTOR) // 2**20)
    assert first.endswith(
        f"raise GENESYS_MEMORY_BUDGET until this client's budget is at least {needed}MiB to "
        "stay within it"
    )
    others = [
        r.getMessage() for r in caplog.records if "over the memory budget too" in r.getMessage()
    ]
    assert [m.split(": ")[1].split(" ")[0] for m in others] == [str(f.days[0]) for f in fetches[1:]]
    largest = max(fetches, key=lambda f: f.bytes)
    needed = -(-int(largest.bytes * CHUNK_COST_FACTOR) // 2**20)
    assert "3 of 3 fetches were over the memory budget" in summary
    assert f"the largest day-average, {largest.days[0]}, is" in summary
    assert summary.endswith(f"at least {needed}MiB to stay within it")


def test_later_chunks_are_sized_from_the_newest_answers(start_simulator, caplog):
    # No traffic at weekends: the quiet Saturday's day totals make room for a long chunk, which
    # turns out to hold busy weekdays; the chunks after it are sized from those, shorter.
    simulator = start_simulator(weekend_factor=0.0)
    saturday = date(2024, 11, 9)
    days = days_from(saturday, 10)
    sizes = day_sizes(simulator, days)
    budget = int(1.5 * max(sizes.values()) * CHUNK_COST_FACTOR)
    with client_for(simulator, mode="sync") as other:
        bound = other.size(QUERY, saturday)
    assert bound is not None and bound.bytes * 10 < max(sizes.values()), "a quiet day"
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with client_for(
        simulator, mode="sync", chunk_days=4, max_concurrency=1, memory_budget_bytes=budget
    ) as client:
        fetches = list(client.fetch_days(QUERY, days))
    assert [d for f in fetches for d in f.days] == days
    lengths = [len(f.days) for f in fetches]
    assert lengths[0] == 4, "a chunk sized from a quiet day"
    assert max(lengths[1:]) < 4 and lengths[-1] == 1, "then shorter ones"
    # Each chunk is exactly what the bound allows, then the largest day-average seen before it
    # (the answers replace the bound).
    seen = bound.bytes
    for n, fetch in enumerate(fetches):
        if n:
            seen = max(f.bytes / len(f.days) for f in fetches[:n])
        allowed = max(1, min(4, int(budget / (seen * CHUNK_COST_FACTOR))))
        left = days[days.index(fetch.days[0]) :]
        assert len(fetch.days) == min(allowed, len(left))
    # A chunk sized from quieter days than its own costs more than the budget: said, once each.
    over = [f for f in fetches if f.bytes * CHUNK_COST_FACTOR > budget]
    assert over[0] is fetches[0] and all(len(f.days) > 1 for f in over)
    warnings = budget_warnings(caplog)
    assert f"the chunk {over[0].days[0]}..{over[0].days[-1]} is" in warnings[0]
    assert f"({over[0].bytes} bytes)" in warnings[0]
    assert "the next chunks are sized from it" in warnings[0]
    if len(over) > 1:
        assert len(warnings) == 2
        assert f"{len(over)} of {len(fetches)} fetches were over the memory budget" in warnings[1]
    else:
        assert len(warnings) == 1


def test_a_consumer_that_stops_cancels_the_chunks_in_flight(start_simulator):
    # In `auto` mode a day goes as one synchronous query and two days as an async job (which
    # the simulator takes 30 s to fulfil): the consumer gets the first day at once, while the
    # later chunks wait on their jobs, and stops there.
    simulator = start_simulator(job_delay_s=30)
    sizing_day = DAY + timedelta(days=21)
    with client_for(simulator, mode="sync") as client:
        [sized] = client.fetch_days(QUERY, [sizing_day])
    rows = sized.metric_entries  # per day; `auto` expects twice that per day of a chunk
    days = [DAY, *days_from(DAY + timedelta(days=2), 8)]
    settings = {"chunk_days": 2, "max_concurrency": 4, "jobs_threshold_rows": 3 * rows}
    with client_for(simulator, **settings) as client:
        list(client.fetch_days(QUERY, [sizing_day], mode="sync"))  # sized: no probe below
        assert client.plan(QUERY, DAY).window == 4
        fetches = client.fetch_days(QUERY, days)
        first = next(fetches)
        assert first.days == (DAY,) and first.mode == "sync"
        # Four chunks are out by now (the window): let their jobs reach the simulator.
        deadline = time.monotonic() + 30
        while simulator.stats()["jobs_submitted"] < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        fetches.close()
    stats = simulator.stats()
    routes = stats["requests_by_route"]
    deletes = sum(n for route, n in routes.items() if route.startswith("DELETE"))
    results = sum(n for route, n in routes.items() if route.endswith("/results"))
    assert stats["jobs_submitted"] == 4
    assert deletes == stats["jobs_submitted"], "every job in flight was cancelled"
    assert results == 0
