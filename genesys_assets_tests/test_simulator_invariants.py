"""The numbers must add up the way a real org's do, however they are asked for.

These go over HTTP with a bare client (fast to parse, and nothing between the test and the
wire); the SDK path is covered in test_simulator_api.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genesys_assets.simulator import IMPLEMENTED_METRICS, Simulator, SimulatorConfig
from genesys_assets.simulator.org import MEDIA_TYPES
from genesys_assets.simulator.traffic import STREAMS

from .raw_http import Cells, RawClient, cells

FAR_FUTURE = datetime(2026, 1, 1, tzinfo=UTC)  # every simulated day below is complete
NY = "America/New_York"
ALL_METRICS = list(IMPLEMENTED_METRICS)
CONFIG = SimulatorConfig(
    seed=5,
    queues=6,
    agents=25,
    conversations_per_day=3000,
    now=FAR_FUTURE,
    job_delay_s=0.0,
    rate_limit_per_minute=100_000,
)


@pytest.fixture(scope="module")
def sim() -> Any:
    with Simulator(CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def client(sim: Simulator) -> RawClient:
    raw = RawClient(sim.base_url, sim.client_id, sim.client_secret)
    raw.login()
    return raw


def rollup(answer: dict[str, Any], keep: set[str]) -> dict[tuple[Any, str], dict[str, Any]]:
    """Stats summed over all buckets and over the group dimensions not in `keep`."""
    out: dict[tuple[Any, str], dict[str, Any]] = {}
    for (group, _, metric), stats in cells(answer).items():
        kept = tuple((d, v) for d, v in group if d in keep)
        merge(out.setdefault((kept, metric), {}), stats)
    return out


def merge(into: dict[str, Any], stats: dict[str, Any]) -> None:
    for field, value in stats.items():
        if field in ("count", "sum", "numerator", "denominator"):
            into[field] = into.get(field, 0) + value
        elif field == "min":
            into[field] = min(into.get(field, value), value)
        elif field == "max":
            into[field] = max(into.get(field, value), value)
        elif field in ("ratio", "target"):
            into.setdefault(f"{field}s", []).append(value)


def comparable(rolled: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    # ratio and target are not additive; the ratio is checked against numerator/denominator.
    return {
        k: {f: v for f, v in s.items() if f not in ("ratios", "targets")} for k, s in rolled.items()
    }


# --- determinism and chunking --------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(client: RawClient) -> None:
    body = {
        "interval": "2024-11-04T00:00:00Z/2024-11-05T00:00:00Z",
        "granularity": "PT1H",
        "groupBy": ["queueId", "userId"],
        "metrics": ALL_METRICS,
    }
    path = "/api/v2/analytics/conversations/aggregates/query"
    first = client.request("POST", path, body).body
    assert first == client.request("POST", path, body).body
    with Simulator(CONFIG) as twin:
        twin_client = RawClient(twin.base_url, twin.client_id, twin.client_secret)
        twin_client.login()
        assert twin_client.request("POST", path, body).body == first
    other = SimulatorConfig(**{**_fields(CONFIG), "seed": 6})
    with Simulator(other) as different:
        assert different.org.queues[0].id != Simulator(CONFIG).org.queues[0].id
        other_client = RawClient(different.base_url, different.client_id, different.client_secret)
        other_client.login()
        assert other_client.request("POST", path, body).body != first


def test_three_day_query_equals_three_one_day_queries(client: RawClient) -> None:
    base = {
        "granularity": "PT30M",
        "groupBy": ["queueId", "mediaType", "wrapUpCode"],
        "metrics": ALL_METRICS,
    }
    whole = cells(client.query({**base, "interval": "2024-11-01T00:00:00Z/2024-11-04T00:00:00Z"}))
    parts: Cells = {}
    for day in ("01", "02", "03"):
        nxt = f"{int(day) + 1:02d}"
        interval = f"2024-11-{day}T00:00:00Z/2024-11-{nxt}T00:00:00Z"
        part = cells(client.query({**base, "interval": interval}))
        assert not set(part) & set(parts)
        parts.update(part)
    assert whole == parts
    assert len(whole) > 1000


@pytest.mark.parametrize("page_size", [1, 7, 1000])
def test_jobs_answer_what_the_sync_query_answers_whatever_the_page_size(
    client: RawClient, page_size: int
) -> None:
    body = {
        "interval": "2024-11-05T00:00:00-05:00/2024-11-07T00:00:00-05:00",
        "granularity": "PT1H",
        "timeZone": NY,
        "groupBy": ["queueId", "direction"],
        "metrics": ALL_METRICS,
    }
    sync = client.query(body)["results"]
    jobs = "/api/v2/analytics/conversations/aggregates/jobs"
    job_id = client.request("POST", jobs, {**body, "pageSize": page_size}).json()["jobId"]
    while client.request("GET", f"{jobs}/{job_id}").json()["state"] != "FULFILLED":
        pass
    collected: list[Any] = []
    pages = 0
    cursor = None
    while True:
        suffix = f"?cursor={cursor}" if cursor else ""
        page = client.request("GET", f"{jobs}/{job_id}/results{suffix}").json()
        pages += 1
        assert len(page["results"]) <= page_size
        collected.extend(page["results"])
        cursor = page.get("cursor")
        if cursor is None:
            break
    assert collected == sync
    assert pages == -(-len(sync) // page_size)


# --- buckets add up ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_day", "hours"),
    [("2024-11-05", 24), ("2024-11-03", 25), ("2024-03-10", 23)],
)
def test_hourly_buckets_add_up_to_the_daily_bucket(
    client: RawClient, local_day: str, hours: int
) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(NY)
    start = datetime.fromisoformat(local_day).replace(tzinfo=zone)
    end = (start + timedelta(days=1)).replace(tzinfo=zone)
    interval = f"{start.isoformat()}/{end.isoformat()}"
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    body = {
        "interval": interval,
        "timeZone": NY,
        "groupBy": ["queueId", "mediaType"],
        "metrics": ALL_METRICS,
    }
    hourly = client.query({**body, "granularity": "PT1H"})
    daily = client.query({**body, "granularity": "P1D"})

    hourly_intervals = {iv for _, iv, _ in cells(hourly)}
    assert len(hourly_intervals) == hours
    daily_intervals = {iv for _, iv, _ in cells(daily)}
    utc = start.astimezone(UTC), end.astimezone(UTC)
    assert daily_intervals == {f"{utc[0]:%Y-%m-%dT%H:%M:%S}.000Z/{utc[1]:%Y-%m-%dT%H:%M:%S}.000Z"}

    groups = {"queueId", "mediaType"}
    from_hours = comparable(rollup(hourly, groups))
    from_day = comparable(rollup(daily, groups))
    assert from_hours == from_day
    assert {m for _, m in from_day} == set(ALL_METRICS)  # every implemented metric has data
    for stats in cells(daily).values():
        if "ratio" in stats:
            assert stats["ratio"] == stats["numerator"] / stats["denominator"]


def test_no_granularity_is_one_bucket_and_calendar_granularities_follow_the_zone() -> None:
    config = SimulatorConfig(
        seed=2, queues=2, agents=5, conversations_per_day=150, now=FAR_FUTURE, max_interval_days=70
    )
    with Simulator(config) as small:
        raw = RawClient(small.base_url, small.client_id, small.client_secret)
        raw.login()
        interval = "2024-10-01T00:00:00-04:00/2024-12-01T00:00:00-05:00"
        whole = raw.query({"interval": interval, "metrics": ["nOffered"]})
        assert {iv for _, iv, _ in cells(whole)} == {
            "2024-10-01T04:00:00.000Z/2024-12-01T05:00:00.000Z"
        }
        months = raw.query(
            {"interval": interval, "granularity": "P1M", "timeZone": NY, "metrics": ["nOffered"]}
        )
        # One group per media type, each with the same buckets.
        assert sorted({iv for _, iv, _ in cells(months)}) == [
            "2024-10-01T04:00:00.000Z/2024-11-01T04:00:00.000Z",
            "2024-11-01T04:00:00.000Z/2024-12-01T05:00:00.000Z",
        ]
        weeks = raw.query(
            {
                "interval": "2024-10-28T00:00:00-04:00/2024-11-11T00:00:00-05:00",
                "granularity": "P7D",
                "timeZone": NY,
                "metrics": ["nOffered"],
            }
        )
        assert sorted({iv for _, iv, _ in cells(weeks)}) == [
            "2024-10-28T04:00:00.000Z/2024-11-04T05:00:00.000Z",
            "2024-11-04T05:00:00.000Z/2024-11-11T05:00:00.000Z",
        ]
        total = sum(s["count"] for s in cells(whole).values())
        assert total == sum(s["count"] for s in cells(months).values())


# --- groups add up -------------------------------------------------------------------------------


def test_user_groups_add_up_to_queue_totals(client: RawClient) -> None:
    body = {
        "interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z",
        "granularity": "PT30M",
        "metrics": ALL_METRICS,
    }
    by_user = client.query({**body, "groupBy": ["queueId", "userId"]})
    by_queue = client.query({**body, "groupBy": ["queueId"]})
    assert any("userId" not in c["group"] for c in by_user["results"]), "unanswered group"
    assert comparable(rollup(by_user, {"queueId"})) == comparable(rollup(by_queue, {"queueId"}))
    # And bucket by bucket, not just in total (both answers are also split by media type).
    per_bucket: dict[Any, dict[str, Any]] = {}
    for (group, interval, metric), stats in cells(by_user).items():
        queue = tuple((d, v) for d, v in group if d in ("mediaType", "queueId"))
        merge(per_bucket.setdefault((queue, interval, metric), {}), stats)
    expected = {
        k: {f: v for f, v in s.items() if f not in ("ratio", "target")}
        for k, s in cells(by_queue).items()
    }
    assert comparable(per_bucket) == expected


def test_group_keys_only_carry_dimensions_with_a_value(client: RawClient, sim: Simulator) -> None:
    answer = client.query(
        {
            "interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z",
            "groupBy": ["userId", "wrapUpCode", "teamId", "purpose"],
            "metrics": ["nOffered", "tAbandon", "tHandle"],
        }
    )
    groups = [c["group"] for c in answer["results"]]
    assert all("mediaType" in g for g in groups), "always there, asked for or not"
    bare = [c for c in answer["results"] if set(c["group"]) == {"mediaType"}]
    assert bare, "abandoned conversations: no agent, no wrap-up"
    assert all("purpose" not in g for g in groups), "a dimension this org never sets"
    team_ids = {t.id for t in sim.org.teams}
    assert all(g["teamId"] in team_ids for g in groups if "teamId" in g)
    keys = [
        tuple(g.get(d, "") for d in ("userId", "wrapUpCode", "teamId", "mediaType")) for g in groups
    ]
    assert keys == sorted(keys), "groups sorted by their key, the implicit mediaType last"
    names = {m["metric"] for c in bare for d in c["data"] for m in d["metrics"]}
    assert "tAbandon" in names and "tHandle" not in names


def test_filters(client: RawClient, sim: Simulator) -> None:
    base = {
        "interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z",
        "metrics": ["nOffered", "nConversations", "tHandle"],
    }

    def totals(query_filter: dict[str, Any] | None) -> dict[str, int]:
        body = dict(base, filter=query_filter) if query_filter else base
        out: dict[str, int] = defaultdict(int)
        for (_, _, metric), stats in cells(client.query(body)).items():
            out[metric] += stats["count"]
        return dict(out)

    everything = totals(None)
    answered = totals(
        {
            "type": "and",
            "predicates": [{"type": "dimension", "dimension": "userId", "operator": "exists"}],
        }
    )
    unanswered = totals(
        {"type": "and", "predicates": [{"dimension": "userId", "operator": "notExists"}]}
    )
    for metric in base["metrics"]:
        assert answered.get(metric, 0) + unanswered.get(metric, 0) == everything[metric]

    first, second = sim.org.queues[0].id, sim.org.queues[1].id
    one = totals({"type": "and", "predicates": [{"dimension": "queueId", "value": first}]})
    two = totals({"type": "and", "predicates": [{"dimension": "queueId", "value": second}]})
    either = totals(
        {
            "type": "or",
            "predicates": [
                {"dimension": "queueId", "operator": "matches", "value": first},
                {"dimension": "queueId", "operator": "matches", "value": second},
            ],
        }
    )
    assert either == {m: one.get(m, 0) + two.get(m, 0) for m in either}

    clauses = totals(
        {
            "type": "and",
            "clauses": [
                {
                    "type": "or",
                    "predicates": [
                        {"dimension": "queueId", "value": first},
                        {"dimension": "queueId", "value": second},
                    ],
                },
                {"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
            ],
        }
    )
    voice = totals({"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]})
    assert 0 < clauses["nOffered"] <= min(either["nOffered"], voice["nOffered"])
    nobody = client.query(
        {
            **base,
            "filter": {
                "type": "and",
                "predicates": [{"dimension": "queueId", "value": "no-such-queue"}],
            },
        }
    )
    assert nobody == {"results": []}


# --- time: stamping and "now" --------------------------------------------------------------------


def test_a_conversation_crossing_midnight_counts_on_both_days(
    client: RawClient, sim: Simulator
) -> None:
    # Find, in the generated traffic, a conversation offered before midnight UTC and wrapped
    # up after it; ask for it by conversationId on each day.
    midnight = int(datetime(2024, 11, 6, tzinfo=UTC).timestamp() * 1000)
    block = sim.traffic.block(midnight // 3_600_000 - 1)
    names = [name for name, _ in STREAMS]
    entry = block.streams[names.index("queue_entry")]
    acw = block.streams[names.index("acw_end")]
    offered_at = dict(zip(entry.conv, entry.ts, strict=True))
    ci = next(
        c
        for c, t in zip(acw.conv, acw.ts, strict=True)
        if t >= midnight and offered_at.get(c, midnight) < midnight
    )
    conversation = block.conversation_ids()[ci]
    media_type = MEDIA_TYPES[block.media[ci]]
    only_it = {
        "type": "and",
        "predicates": [{"dimension": "conversationId", "value": conversation}],
    }

    def metrics_on(day: str, nxt: str) -> set[str]:
        answer = client.query(
            {
                "interval": f"{day}T00:00:00Z/{nxt}T00:00:00Z",
                "metrics": ALL_METRICS,
                "filter": only_it,
                "groupBy": ["conversationId"],
            }
        )
        expected = {"conversationId": conversation, "mediaType": media_type}
        assert all(c["group"] == expected for c in answer["results"])
        return {m for _, _, m in cells(answer)}

    before, after = metrics_on("2024-11-05", "2024-11-06"), metrics_on("2024-11-06", "2024-11-07")
    assert {"nOffered", "nConversations"} <= before
    assert {"tAcw", "tHandle"} <= after
    assert "nOffered" not in after and "tHandle" not in before


def test_an_open_day_returns_what_has_completed_and_more_later(
    client: RawClient, sim: Simulator
) -> None:
    body = {
        "interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z",
        "granularity": "PT30M",
        "groupBy": ["queueId"],
        "metrics": ALL_METRICS,
    }
    moments = [
        datetime(2024, 11, 5, 15, 10, tzinfo=UTC),
        datetime(2024, 11, 5, 18, 0, tzinfo=UTC),
        datetime(2024, 11, 6, 0, 0, tzinfo=UTC),
        datetime(2024, 11, 6, 2, 0, tzinfo=UTC),
    ]
    answers = []
    try:
        for moment in moments:
            sim.set_now(moment)
            answers.append(cells(client.query(body)))
    finally:
        sim.set_now(FAR_FUTURE)
    complete = cells(client.query(body))

    def total(found: Cells) -> int:
        counted = 0
        for stats in found.values():
            if stats:
                counted += stats["count"] if "count" in stats else stats.get("denominator", 0)
        return counted

    counts = [total(a) for a in answers]
    assert counts[0] < counts[1] < counts[2] < counts[3] == total(complete)
    first = answers[0]
    assert max(iv for _, iv, _ in first) < "2024-11-05T15:30:00.000Z/", "no bucket after now"
    # A bucket well before "now" is final; the one "now" is in only grows.
    for key, stats in first.items():
        if key[1] < "2024-11-05T14:30":
            assert complete[key] == stats
        elif "count" in stats:
            assert complete[key]["count"] >= stats["count"]
    # Pulled right at midnight, the day still misses its last, not yet ingested events.
    assert counts[2] < counts[3]


def test_jobs_answer_from_a_snapshot_taken_at_submission(client: RawClient, sim: Simulator) -> None:
    body = {"interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z", "metrics": ["nOffered"]}
    jobs = "/api/v2/analytics/conversations/aggregates/jobs"
    try:
        sim.set_now(datetime(2024, 11, 5, 12, tzinfo=UTC))
        at_noon = client.query(body)
        job_id = client.request("POST", jobs, body).json()["jobId"]
        sim.set_now(FAR_FUTURE)
        while client.request("GET", f"{jobs}/{job_id}").json()["state"] != "FULFILLED":
            pass
        page = client.request("GET", f"{jobs}/{job_id}/results").json()
    finally:
        sim.set_now(FAR_FUTURE)
    assert page["results"] == at_noon["results"]
    assert page["results"] != client.query(body)["results"]


def _fields(config: SimulatorConfig) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(config, f.name) for f in fields(config)}


# --- mediaType in every group --------------------------------------------------------------------

DAY_BODY = {
    "interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z",
    "granularity": "PT1H",
    "metrics": ALL_METRICS,
}


def counts(answer: dict[str, Any], keep: set[str]) -> dict[tuple[Any, str], int]:
    """Each metric's count (denominator for the service-level observations), per kept key."""
    return {
        key: stats.get("count", stats.get("denominator", 0))
        for key, stats in rollup(answer, keep).items()
    }


def test_a_query_by_queue_gets_groups_split_by_media_type(
    client: RawClient, sim: Simulator
) -> None:
    by_queue = client.query({**DAY_BODY, "groupBy": ["queueId"]})
    groups = [c["group"] for c in by_queue["results"]]
    assert all(list(g) == ["queueId", "mediaType"] for g in groups)
    pairs = [(g["queueId"], g["mediaType"]) for g in groups]
    assert len(pairs) == len(set(pairs)), "one group per queue and media type"
    assert len(pairs) > len({q for q, _ in pairs}), "some queues have several media types"
    # Split for real: a queue's media groups are its conversations of that media type.
    voice_only = client.query(
        {
            **DAY_BODY,
            "groupBy": ["queueId"],
            "filter": {"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
        }
    )
    assert {c["group"]["mediaType"] for c in voice_only["results"]} == {"voice"}
    voice = [c for c in by_queue["results"] if c["group"]["mediaType"] == "voice"]
    assert voice == voice_only["results"]


def test_group_sums_equal_the_query_grouped_by_queue_and_media_type(client: RawClient) -> None:
    by_queue = client.query({**DAY_BODY, "groupBy": ["queueId"]})
    explicit = client.query({**DAY_BODY, "groupBy": ["queueId", "mediaType"]})
    by_queue_counts = counts(by_queue, {"queueId"})
    assert by_queue_counts == counts(explicit, {"queueId"})
    assert counts(by_queue, set()) == counts(explicit, set())
    assert {m for _, m in by_queue_counts} == set(ALL_METRICS)
    # Asking for mediaType changes nothing at all.
    assert by_queue == explicit


def test_no_group_by_is_one_group_per_media_type(client: RawClient) -> None:
    answer = client.query(DAY_BODY)
    groups = [c["group"] for c in answer["results"]]
    assert groups == [{"mediaType": m} for m in sorted(MEDIA_TYPES)]


def test_with_media_type_in_groups_off_groups_hold_exactly_the_group_by(
    client: RawClient,
) -> None:
    config = SimulatorConfig(**{**_fields(CONFIG), "media_type_in_groups": False})
    with Simulator(config) as plain:
        plain_client = RawClient(plain.base_url, plain.client_id, plain.client_secret)
        plain_client.login()
        by_queue = plain_client.query({**DAY_BODY, "groupBy": ["queueId"]})
        assert [list(c["group"]) for c in by_queue["results"]] == [["queueId"]] * len(
            plain.org.queues
        )
        assert counts(by_queue, {"queueId"}) == counts(
            client.query({**DAY_BODY, "groupBy": ["queueId"]}), {"queueId"}
        )
        [whole] = plain_client.query(DAY_BODY)["results"]
        assert whole["group"] == {}
        explicit = {**DAY_BODY, "groupBy": ["queueId", "mediaType"]}
        path = "/api/v2/analytics/conversations/aggregates/query"
        assert (
            plain_client.request("POST", path, explicit).body
            == client.request("POST", path, explicit).body
        )


# --- a multivalued dimension ---------------------------------------------------------------------

SKILLS_BODY = {
    "interval": "2024-11-05T00:00:00Z/2024-11-06T00:00:00Z",
    "groupBy": ["queueId", "requestedRoutingSkillId"],
    "metrics": ["nOffered", "nConversations", "tHandle"],
}


@pytest.mark.parametrize("flag", [None, False])
def test_several_requested_skills_come_as_an_array_unless_flattened(
    client: RawClient, sim: Simulator, flag: bool | None
) -> None:
    body = SKILLS_BODY if flag is None else {**SKILLS_BODY, "flattenMultivaluedDimensions": flag}
    answer = client.query(body)
    values = [c["group"].get("requestedRoutingSkillId") for c in answer["results"]]
    arrays = [v for v in values if isinstance(v, list)]
    singles = [v for v in values if isinstance(v, str)]
    assert arrays and singles and None in values, "two skills, one skill, none"
    skill_ids = {s.id for s in sim.org.routing_skills}
    assert all(len(v) == 2 and v == sorted(set(v)) and set(v) <= skill_ids for v in arrays)
    assert set(singles) <= skill_ids
    # Requested skills are the queue's own, and only skill-routed queues request any.
    queues = {q.id: q for q in sim.org.queues}
    for container in answer["results"]:
        value = container["group"].get("requestedRoutingSkillId")
        own = {
            sim.org.routing_skills[i].id
            for i in queues[container["group"]["queueId"]].skill_indexes
        }
        asked = set(value if isinstance(value, list) else [value] if value else [])
        assert asked <= own


def test_flattened_skills_are_the_arrays_joined_with_commas(client: RawClient) -> None:
    arrays = client.query(SKILLS_BODY)
    flat = client.query({**SKILLS_BODY, "flattenMultivaluedDimensions": True})
    joined = []
    for container in arrays["results"]:
        value = container["group"].get("requestedRoutingSkillId")
        group = dict(container["group"])
        if isinstance(value, list):
            group["requestedRoutingSkillId"] = ",".join(value)
        joined.append({**container, "group": group})
    assert flat["results"] == joined
    flat_values = [c["group"].get("requestedRoutingSkillId") for c in flat["results"]]
    assert all(v is None or isinstance(v, str) for v in flat_values)
    assert any(v and "," in v for v in flat_values)


def test_skill_groups_add_up_and_a_skill_filter_matches_every_set_holding_it(
    client: RawClient, sim: Simulator
) -> None:
    flat = {**SKILLS_BODY, "flattenMultivaluedDimensions": True}
    by_skill = client.query(flat)
    assert counts(by_skill, set()) == counts(client.query({**flat, "groupBy": []}), set())
    # Outbound conversations are placed by agents, not routed: they never request a skill.
    by_direction = client.query({**flat, "groupBy": ["direction", "requestedRoutingSkillId"]})
    outbound = [
        c["group"] for c in by_direction["results"] if c["group"]["direction"] == "outbound"
    ]
    assert outbound and all("requestedRoutingSkillId" not in g for g in outbound)

    skill = next(
        v.split(",")[0]
        for c in by_skill["results"]
        if "," in (v := c["group"].get("requestedRoutingSkillId", ""))
    )
    holding = sum(
        stats["count"]
        for (group, _, metric), stats in cells(by_skill).items()
        if metric == "nOffered"
        and skill in dict(group).get("requestedRoutingSkillId", "").split(",")
    )
    one_skill = {
        "type": "and",
        "predicates": [{"dimension": "requestedRoutingSkillId", "value": skill}],
    }
    filtered = client.query({**flat, "groupBy": [], "filter": one_skill})
    assert holding == sum(s["count"] for (_, _, m), s in cells(filtered).items() if m == "nOffered")
    assert holding > 0


def test_requested_skills_are_reproducible_from_the_seed(client: RawClient) -> None:
    path = "/api/v2/analytics/conversations/aggregates/query"
    first = client.request("POST", path, SKILLS_BODY).body
    with Simulator(CONFIG) as twin:
        assert [s.id for s in twin.org.routing_skills] == [
            s.id for s in Simulator(CONFIG).org.routing_skills
        ]
        twin_client = RawClient(twin.base_url, twin.client_id, twin.client_secret)
        twin_client.login()
        assert twin_client.request("POST", path, SKILLS_BODY).body == first
