"""The client's memory budget, over HTTP against the simulator, through the real SDK.

`GenesysClient.fetch_days` sizes its chunks and its in-flight window from
`ClientSettings.memory_budget_bytes` and the bytes per day the answers really took. What these
tests look at is what went over the wire: which days each query asked for, in which order, and
how many aggregates requests the simulator was answering at once (counted in the simulator's
request handler, by order of events, never by time).
"""

import itertools
import json
import logging
import threading
import time
from datetime import date, timedelta

import pytest

from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import CHUNK_COST_FACTOR, ClientSettings, GenesysClient
from genesys_assets.genesys.query import AggregateQuery

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
            interval = json.loads(request.body)["interval"]
            with self._cond:
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

    def first_went_alone(self) -> bool:
        """The first query was answered before any other one was sent."""
        return self.events[:2] == [("start", self.events[0][1]), ("end", self.events[0][1])]


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


def test_a_large_budget_sends_full_chunks_concurrently_after_a_probe(start_simulator):
    simulator = start_simulator()
    days = days_from(DAY, 12)
    watch = InFlight(simulator, overlap=True)
    with client_for(simulator, mode="sync", chunk_days=3, max_concurrency=4) as client:
        assert client.settings.memory_budget_bytes == 512 * 2**20  # the default
        fetches = list(client.fetch_days(QUERY, days))
        plan = client.plan(QUERY, DAY)
    assert [f.days for f in fetches] == [tuple(days[i : i + 3]) for i in range(0, 12, 3)]
    assert watch.first_went_alone(), "the first chunk is a probe: the others wait for it"
    assert watch.most >= 2, "after the probe, chunks go concurrently"
    assert (plan.chunk_days, plan.window) == (3, 4)


def test_the_probe_is_sized_from_a_guess_and_goes_alone(start_simulator):
    # Before any answer the client cannot know the org: the first chunk is sized from a
    # generous guess (here: about 1.4 MB of JSON a day) and goes alone.
    simulator = start_simulator()
    days = days_from(DAY, 6)
    watch = InFlight(simulator)
    budget = 3 * 2**20  # a guessed day costs about 11.5 MB: the probe is one day
    with client_for(
        simulator, mode="sync", chunk_days=3, max_concurrency=4, memory_budget_bytes=budget
    ) as client:
        before = client.plan(QUERY, DAY)
        fetches = list(client.fetch_days(QUERY, days))
    assert (before.chunk_days, before.window, before.observed) == (1, 1, False)
    assert fetches[0].days == (DAY,)
    assert watch.first_went_alone()
    # The answers are a few dozen KB a day: the rest goes in full chunks.
    assert [f.days for f in fetches[1:]] == [tuple(days[1:4]), tuple(days[4:6])]


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
    # No traffic at weekends: the quiet Saturday probe makes room for a long chunk, which
    # turns out to hold busy weekdays; the chunks after it are sized from those, shorter.
    simulator = start_simulator(weekend_factor=0.0)
    saturday = date(2024, 11, 9)
    days = days_from(saturday, 10)
    sizes = day_sizes(simulator, days)
    budget = int(1.5 * max(sizes.values()) * CHUNK_COST_FACTOR)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with client_for(
        simulator, mode="sync", chunk_days=4, max_concurrency=1, memory_budget_bytes=budget
    ) as client:
        fetches = list(client.fetch_days(QUERY, days))
    assert [d for f in fetches for d in f.days] == days
    lengths = [len(f.days) for f in fetches]
    assert lengths[:2] == [1, 4], "a 1-day probe, then a chunk sized from a quiet day"
    assert max(lengths[2:]) < 4 and lengths[-1] == 1, "then shorter ones"
    # Each chunk is exactly what the largest day-average seen before it allows.
    seen = 0.0
    for before, fetch in itertools.pairwise(fetches):
        seen = max(seen, before.bytes / len(before.days))
        allowed = max(1, min(4, int(budget / (seen * CHUNK_COST_FACTOR))))
        left = days[days.index(fetch.days[0]) :]
        assert len(fetch.days) == min(allowed, len(left))
    # A chunk sized from quieter days than its own costs more than the budget: said, once each.
    over = [f for f in fetches if f.bytes * CHUNK_COST_FACTOR > budget]
    assert over[0] is fetches[1] and all(len(f.days) > 1 for f in over)
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
