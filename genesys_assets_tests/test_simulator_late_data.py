"""A closed day whose numbers change later, and answers that are silently wrong, over HTTP.

Late events, a retroactive service-level setting and the nightly reprocessing pass are what a
pipeline that loads a day once just after midnight gets wrong; a dropped group and a job cursor
that ends early are what a completeness check has to catch. Each is compared against the same
org without it, so a test fails if the option does nothing or does more than it says.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genesys_assets.simulator import IMPLEMENTED_METRICS, Simulator
from genesys_assets.simulator.revisions import REPROCESSED_METRICS

from .raw_http import Cells, RawClient, cells

QUERY = "/api/v2/analytics/conversations/aggregates/query"
JOBS = "/api/v2/analytics/conversations/aggregates/jobs"
NY = "America/New_York"
DAY = "2024-11-05T00:00:00-05:00/2024-11-06T00:00:00-05:00"  # a local (EST) day
DAY_BEFORE = "2024-11-04T00:00:00-05:00/2024-11-05T00:00:00-05:00"
MIDNIGHT = datetime(2024, 11, 6, 5, tzinfo=UTC)  # the local midnight that ends DAY
JUST_AFTER = MIDNIGHT + timedelta(minutes=30)  # past the ordinary ingestion lag (10 min at most)
FAR_FUTURE = datetime(2026, 1, 1, tzinfo=UTC)
ALL_METRICS = list(IMPLEMENTED_METRICS)

Start = Callable[..., Simulator]


def client(sim: Simulator) -> RawClient:
    raw = RawClient(sim.base_url, sim.client_id, sim.client_secret, timeout=30)
    raw.login()
    return raw


def body(interval: str = DAY, granularity: str = "PT1H", **extra: Any) -> dict[str, Any]:
    return {
        "interval": interval,
        "granularity": granularity,
        "timeZone": NY,
        "groupBy": ["queueId"],
        "metrics": ALL_METRICS,
        **extra,
    }


def total(found: Cells, field: str = "count", metrics: set[str] | None = None) -> int:
    return sum(
        stats.get(field, 0) for (_, _, m), stats in found.items() if metrics is None or m in metrics
    )


def job_results(raw: RawClient, query: dict[str, Any], page_size: int) -> list[dict[str, Any]]:
    """Every page of a job's results, each page's body as it came."""
    job_id = raw.request("POST", JOBS, {**query, "pageSize": page_size}).json()["jobId"]
    deadline = time.monotonic() + 20
    while raw.request("GET", f"{JOBS}/{job_id}").json()["state"] != "FULFILLED":
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.02)
    pages = []
    cursor = ""
    while True:
        page = raw.request("GET", f"{JOBS}/{job_id}/results{cursor}").json()
        pages.append(page)
        if "cursor" not in page:
            return pages
        cursor = f"?cursor={page['cursor']}"


def bucket_end(interval: str) -> datetime:
    return datetime.fromisoformat(interval.split("/")[1].replace("Z", "+00:00"))


# --- late events ---------------------------------------------------------------------------------


def test_late_events_are_missing_just_after_midnight_and_arrive_later(start: Start) -> None:
    delay = timedelta(hours=6)
    late = start(now=JUST_AFTER, late_event_share=0.2, late_event_delay_hours=6)
    on_time = start(now=JUST_AFTER)
    early = cells(client(late).query(body()))
    complete = cells(client(on_time).query(body()))

    assert set(early) <= set(complete)
    recent_early = recent_complete = 0
    for key, stats in complete.items():
        if bucket_end(key[1]) <= JUST_AFTER - delay:
            assert early[key] == stats, "events older than the delay are all there"
        elif "count" in stats:
            assert early.get(key, {}).get("count", 0) <= stats["count"]
            recent_early += early.get(key, {}).get("count", 0)
            recent_complete += stats["count"]
    # About a fifth of the last hours' events are still on their way.
    assert 0.7 < recent_early / recent_complete < 0.9
    assert total(early, "sum") < total(complete, "sum")

    late.set_now(MIDNIGHT + delay + timedelta(minutes=15))
    assert cells(client(late).query(body())) == complete, "all there once the delay is over"


# --- a retroactive service-level setting --------------------------------------------------------


def test_a_service_level_change_moves_the_denominator_of_past_days_only(start: Start) -> None:
    change = datetime(2024, 11, 20, 9, tzinfo=UTC)
    sim = start(now=change - timedelta(seconds=1), service_level_change_at=change)
    plain = start(now=change - timedelta(seconds=1))
    raw, raw_plain = client(sim), client(plain)
    daily = body(granularity="P1D")
    before = raw.request("POST", QUERY, daily).body
    assert before == raw_plain.request("POST", QUERY, daily).body, "nothing changed yet"

    sim.set_now(change)
    new, old = cells(raw.query(daily)), cells(raw_plain.query(daily))
    assert set(new) == set(old)
    moved = 0
    for (group, interval, metric), stats in new.items():
        if metric != "oServiceLevel":
            assert stats == old[(group, interval, metric)], metric
            continue
        was = old[(group, interval, metric)]

        def count(name: str, group: Any = group, interval: str = interval) -> int:
            return int(new.get((group, interval, name), {}).get("count", 0))

        short = count("tShortAbandon")
        assert was["denominator"] == count("tAnswered") + count("tAbandon")
        assert stats["denominator"] == was["denominator"] - short
        assert stats["numerator"] == was["numerator"] and stats["target"] == was["target"]
        assert stats["ratio"] == stats["numerator"] / stats["denominator"]
        moved += short > 0
    assert moved, "some queue had short abandons that day"


# --- nightly reprocessing -----------------------------------------------------------------------


def test_reprocessing_corrects_sums_not_counts_and_only_after_its_pass(start: Start) -> None:
    after = timedelta(hours=4)
    sim = start(
        now=MIDNIGHT + timedelta(hours=1), reprocessing_after_hours=4, reprocessing_share=0.3
    )
    plain = start(now=MIDNIGHT + timedelta(hours=1))
    raw, true = client(sim), cells(client(plain).query(body()))

    provisional = cells(raw.query(body()))
    assert set(provisional) == set(true)
    for key, stats in provisional.items():
        truth = true[key]
        if key[2] not in REPROCESSED_METRICS:
            assert stats == truth, key[2]
            continue
        assert stats["count"] == truth["count"]
        assert stats["sum"] <= truth["sum"] and stats["max"] <= truth["max"]
    for metric in REPROCESSED_METRICS:
        short = total(provisional, "sum", {metric})
        assert 0.85 < short / total(true, "sum", {metric}) < 0.97, metric  # 30% read 3/4

    # The day before was reprocessed last night: it is final already.
    assert raw.query(body(DAY_BEFORE)) == client(plain).query(body(DAY_BEFORE))
    sim.set_now(MIDNIGHT + after - timedelta(milliseconds=1))
    assert cells(raw.query(body())) == provisional
    sim.set_now(MIDNIGHT + after)
    assert cells(raw.query(body())) == true


# --- silent faults in answers -------------------------------------------------------------------


def test_omit_group_drops_that_group_from_answers_grouped_by_its_dimension(start: Start) -> None:
    plain = start(now=FAR_FUTURE)
    queue = plain.org.queues[0].id
    faulty = start(now=FAR_FUTURE, omit_group=("queueId", queue))
    raw, raw_plain = client(faulty), client(plain)

    for query in (body(granularity="P1D"), body(groupBy=["queueId", "userId"])):
        expected = [
            c for c in raw_plain.query(query)["results"] if c["group"].get("queueId") != queue
        ]
        assert len(expected) < len(raw_plain.query(query)["results"])
        assert raw.query(query)["results"] == expected
        paged = [c for page in job_results(raw, query, 3) for c in page["results"]]
        assert paged == expected
    # Not grouped by queue: the queue's data is counted, so day totals still add up.
    for query in (body(groupBy=[]), body(groupBy=["mediaType"]), body(groupBy=["userId"])):
        assert (
            raw.request("POST", QUERY, query).body == raw_plain.request("POST", QUERY, query).body
        )


def test_omit_group_follows_group_by_not_the_implicit_media_type(start: Start) -> None:
    plain = start(now=FAR_FUTURE)
    faulty = start(now=FAR_FUTURE, omit_group=("mediaType", "voice"))
    raw, raw_plain = client(faulty), client(plain)
    ungrouped = body(groupBy=[])
    assert raw.query(ungrouped) == raw_plain.query(ungrouped)  # split by mediaType all the same
    by_media = body(groupBy=["mediaType"])
    media = [c["group"]["mediaType"] for c in raw.query(by_media)["results"]]
    assert "voice" not in media and media
    assert len(media) == len(raw_plain.query(by_media)["results"]) - 1


@pytest.mark.parametrize("pages", [1, 2])
def test_a_short_cursor_ends_job_results_early_and_leaves_sync_queries_alone(
    start: Start, pages: int
) -> None:
    sim = start(now=FAR_FUTURE, short_cursor_pages=pages, job_delay_s=0.0)
    plain = start(now=FAR_FUTURE, job_delay_s=0.0)
    raw, raw_plain = client(sim), client(plain)
    query = body(groupBy=["queueId", "userId"])
    everything = raw_plain.query(query)["results"]
    assert raw.query(query)["results"] == everything
    got = job_results(raw, query, 3)
    assert len(got) == pages and "cursor" not in got[-1]
    assert [c for page in got for c in page["results"]] == everything[: 3 * pages]
    assert len(everything) > 3 * pages, "more containers remained"
    # A job whose answer fits in fewer pages is whole.
    small = body(groupBy=[], granularity="P1D")
    assert [c for p in job_results(raw, small, 100) for c in p["results"]] == raw.query(small)[
        "results"
    ]


# --- all of them together -----------------------------------------------------------------------

LATE_DATA = {
    "late_event_share": 0.2,
    "late_event_delay_hours": 6.0,
    "reprocessing_after_hours": 4.0,
    "reprocessing_share": 0.3,
}


def test_remembered_answers_are_never_stale(start: Start) -> None:
    change = MIDNIGHT + timedelta(hours=8)
    options = {**LATE_DATA, "service_level_change_at": change}
    remembering = start(now=JUST_AFTER, remember_answers=True, **options)
    computing = start(now=JUST_AFTER, **options)
    raw, fresh = client(remembering), client(computing)
    queries = [body(), body(granularity="P1D", groupBy=["queueId", "mediaType"])]
    moments = [
        JUST_AFTER,  # late events, reprocessing, the change: all ahead
        JUST_AFTER,
        MIDNIGHT + timedelta(hours=5),  # reprocessed; the last late events still on their way
        MIDNIGHT + timedelta(hours=7),  # all events in; the service-level change ahead
        change,  # final
        change + timedelta(hours=1),
        MIDNIGHT + timedelta(hours=7),  # back before the change: the final answer is not it
        change,
    ]
    seen: dict[datetime, list[bytes]] = {}
    for moment in moments:
        remembering.set_now(moment)
        computing.set_now(moment)
        answers = [raw.request("POST", QUERY, q).body for q in queries]
        assert answers == [fresh.request("POST", QUERY, q).body for q in queries], moment
        assert [
            c for page in job_results(raw, queries[0], 50) for c in page["results"]
        ] == fresh.query(queries[0])["results"]
        seen.setdefault(moment, answers)
    assert seen[change] == seen[change + timedelta(hours=1)], "final"
    assert len({tuple(a) for a in seen.values()}) == 4, "the answer changed at every step before"
    assert remembering.answers.served_remembered >= 4, "the final answers were remembered"

    # A query that none of the revisions reach is final once its events are all in.
    remembering.set_now(MIDNIGHT + timedelta(hours=7))
    counts_only = body(metrics=["nOffered", "tAbandon"])
    served = remembering.answers.served_remembered
    assert raw.query(counts_only) == raw.query(counts_only)
    assert remembering.answers.served_remembered == served + 1


@pytest.mark.parametrize(
    ("options", "changing", "final"),
    [
        (
            {"late_event_share": 0.2, "late_event_delay_hours": 6.0},
            JUST_AFTER,
            MIDNIGHT + timedelta(hours=6, minutes=10),
        ),
        (
            {"reprocessing_after_hours": 4.0, "reprocessing_share": 0.3},
            MIDNIGHT + timedelta(hours=1),
            MIDNIGHT + timedelta(hours=4),
        ),
        (
            {"service_level_change_at": MIDNIGHT + timedelta(hours=2)},
            MIDNIGHT + timedelta(hours=1),
            MIDNIGHT + timedelta(hours=2),
        ),
    ],
    ids=["late-events", "reprocessing", "service-level-change"],
)
def test_each_revision_alone_keeps_an_answer_from_being_remembered_until_final(
    start: Start, options: dict[str, Any], changing: datetime, final: datetime
) -> None:
    # Without the option, the day is settled at `changing` already: only it can hold it back.
    remembering = start(now=changing, remember_answers=True, **options)
    computing = start(now=changing, **options)
    raw, fresh = client(remembering), client(computing)
    query = body(granularity="P1D")
    first = raw.request("POST", QUERY, query).body
    assert first == fresh.request("POST", QUERY, query).body
    assert remembering.answers.served_remembered == 0
    remembering.set_now(final)
    computing.set_now(final)
    last = raw.request("POST", QUERY, query).body
    assert last == fresh.request("POST", QUERY, query).body != first
    assert raw.request("POST", QUERY, query).body == last
    assert remembering.answers.served_remembered == 1, "final: remembered from now on"


def test_invariants_hold_while_a_day_is_still_changing(start: Start) -> None:
    # Late events and reprocessing pending, and the service-level change already in force.
    sim = start(now=MIDNIGHT + timedelta(hours=1), service_level_change_at=MIDNIGHT, **LATE_DATA)
    plain = start(now=MIDNIGHT + timedelta(hours=1))
    raw = client(sim)
    hourly = raw.query(body())
    assert hourly != client(plain).query(body()), "the options change this answer"

    # Hourly buckets add up to the day.
    daily = cells(raw.query(body(granularity="P1D")))
    summed: dict[tuple[Any, str], dict[str, int]] = {}
    for (group, _, metric), stats in cells(hourly).items():
        into = summed.setdefault((group, metric), {})
        for field in ("count", "sum", "numerator", "denominator"):
            if field in stats:
                into[field] = into.get(field, 0) + stats[field]
        for field, pick in (("min", min), ("max", max)):
            if field in stats:
                into[field] = pick(into.get(field, stats[field]), stats[field])
    additive = {"count", "sum", "numerator", "denominator", "min", "max"}
    assert summed == {
        (group, metric): {f: v for f, v in stats.items() if f in additive}
        for (group, _, metric), stats in daily.items()
    }

    # Three days in one query are the three one-day queries.
    days = ["2024-11-04", "2024-11-05", "2024-11-06", "2024-11-07"]
    whole = cells(raw.query(body(f"{days[0]}T00:00:00Z/{days[-1]}T00:00:00Z", "PT30M")))
    parts: Cells = {}
    for first, second in itertools.pairwise(days):
        parts.update(cells(raw.query(body(f"{first}T00:00:00Z/{second}T00:00:00Z", "PT30M"))))
    assert whole == parts

    # A job pages what the sync query answers.
    paged = [c for page in job_results(raw, body(), 7) for c in page["results"]]
    assert paged == hourly["results"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"late_event_share": 1.5}, "late_event_share"),
        ({"late_event_delay_hours": -1.0}, "late_event_delay_hours"),
        ({"late_event_delay_hours": float("inf")}, "late_event_delay_hours"),
        ({"service_level_change_at": datetime(2024, 11, 6)}, "service_level_change_at"),
        ({"reprocessing_after_hours": -2.0}, "reprocessing_after_hours"),
        ({"reprocessing_share": -0.1}, "reprocessing_share"),
        ({"omit_group": ("queueID", "x")}, "unknown dimension 'queueID'"),
        ({"omit_group": ("queueId", "")}, "omit_group must be (dimension, value)"),
        ({"short_cursor_pages": 0}, "short_cursor_pages"),
    ],
)
def test_bad_late_data_and_fault_settings_are_refused(
    overrides: dict[str, Any], message: str
) -> None:
    from genesys_assets.simulator import SimulatorConfig

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SimulatorConfig(**overrides)


@pytest.fixture
def start(start_simulator: Start) -> Start:
    """The shared small org, with a rate limit no test here comes near."""

    def started(**overrides: Any) -> Simulator:
        return start_simulator(**{"rate_limit_per_minute": 100_000, **overrides})

    return started
