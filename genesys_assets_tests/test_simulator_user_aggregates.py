"""The simulated agents' presence and routing status, as the user aggregates answer them.

Their time must add up the way a real org's does (every logged-in millisecond in exactly one
system presence, one organization presence and one routing status; hours add up to the day;
chunks add up to the range), agree with the conversations (an agent handling one is on queue
and INTERACTING), and the endpoints must be as strict as the real ones. Over HTTP with a bare
client, like the conversation invariants.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from genesys_assets.genesys.catalog import (
    PERMISSION_AGGREGATES,
    ROUTING_STATUSES,
    SYSTEM_PRESENCES,
    USER_METRICS,
)
from genesys_assets.simulator import Simulator, SimulatorConfig

from .raw_http import RawClient, cells

FAR_FUTURE = datetime(2026, 1, 1, tzinfo=UTC)
NY = "America/New_York"
DAY = "2024-11-05T00:00:00-05:00/2024-11-06T00:00:00-05:00"
USERS = "/api/v2/analytics/users/aggregates"
CONFIG = SimulatorConfig(
    seed=9,
    queues=5,
    agents=20,
    conversations_per_day=700,
    now=FAR_FUTURE,
    job_delay_s=0.0,
    rate_limit_per_minute=100_000,
    extra_clients=(("convs-only", "convs-secret", (PERMISSION_AGGREGATES,)),),
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


def status_query(client: RawClient, interval: str = DAY, **body: Any) -> dict[str, Any]:
    return client.query(
        {
            "interval": interval,
            "granularity": "PT30M",
            "timeZone": NY,
            "groupBy": ["userId"],
            "metrics": list(USER_METRICS),
            **body,
        },
        kind="users",
    )


def per_cell(answer: dict[str, Any]) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """{(user, interval): {metric: {qualifier: ms}}}."""
    out: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(dict)
    for container in answer["results"]:
        user = container.get("group", {}).get("userId", "")
        for bucket in container["data"]:
            for entry in bucket["metrics"]:
                found = out[(user, bucket["interval"])].setdefault(entry["metric"], {})
                assert entry["qualifier"] not in found, "a status twice in one cell"
                found[entry["qualifier"]] = entry["stats"]["sum"]
    return out


def bucket_ms(interval: str) -> int:
    start, end = (datetime.fromisoformat(part) for part in interval.split("/"))
    return int((end - start).total_seconds() * 1000)


def test_every_logged_in_moment_is_in_one_presence_one_org_presence_one_routing_status(
    client: RawClient,
) -> None:
    answer = status_query(client)
    mapping = answer["systemToOrganizationMappings"]
    system_of = {org: system for system, orgs in mapping.items() for org in orgs}
    assert set(mapping) <= set(SYSTEM_PRESENCES)
    found = per_cell(answer)
    assert len({user for user, _ in found}) == CONFIG.agents
    for (user, interval), metrics in found.items():
        presence = metrics["tSystemPresence"]
        routing = metrics["tAgentRoutingStatus"]
        organization = metrics["tOrganizationPresence"]
        logged_in = sum(presence.values())
        assert 0 < logged_in <= bucket_ms(interval), (user, interval)
        assert sum(routing.values()) == logged_in == sum(organization.values())
        assert set(routing) <= set(ROUTING_STATUSES)
        assert "OFFLINE" not in presence, "offline time is not reported"
        # On queue is the routing statuses other than OFF_QUEUE; the rest is OFF_QUEUE.
        assert presence.get("ON_QUEUE", 0) == logged_in - routing.get("OFF_QUEUE", 0)
        # Each org presence adds to the system presence it belongs to.
        by_system: dict[str, int] = defaultdict(int)
        for org_id, ms in organization.items():
            by_system[system_of[org_id]] += ms
        assert dict(by_system) == presence


def test_an_agent_handling_a_conversation_is_on_queue_and_interacting(client: RawClient) -> None:
    conversations = client.query(
        {
            "interval": DAY,
            "granularity": "PT30M",
            "timeZone": NY,
            "groupBy": ["userId"],
            "metrics": ["tAnswered", "tHandle"],
            "filter": {
                "type": "and",
                "predicates": [{"dimension": "userId", "operator": "exists"}],
            },
        }
    )
    statuses = per_cell(status_query(client))
    handled = 0
    for (group, interval, metric), stats in cells(conversations).items():
        if metric != "tAnswered" or not stats["count"]:
            continue
        user = dict(group)["userId"]
        cell = statuses[(user, interval)]
        assert cell["tAgentRoutingStatus"].get("INTERACTING", 0) > 0, (user, interval)
        assert cell["tSystemPresence"].get("ON_QUEUE", 0) > 0
        handled += 1
    assert handled > 100
    # And the other way round: an agent is never INTERACTING for longer than their ACD
    # conversations of the day could keep them (alert + handle of each, overlaps counted twice).
    daily = per_cell(status_query(client, granularity="P1D"))
    work = client.query(
        {
            "interval": "2024-11-04T00:00:00-05:00/2024-11-07T00:00:00-05:00",
            "granularity": "P1D",
            "timeZone": NY,
            "groupBy": ["userId", "direction"],
            "metrics": ["tAlert", "tHandle"],
        }
    )
    budget: dict[str, int] = defaultdict(int)
    for (group, _, _metric), stats in cells(work).items():
        if dict(group).get("direction") == "inbound" and "userId" in dict(group):
            budget[dict(group)["userId"]] += stats["sum"]
    for (user, _), metrics in daily.items():
        assert metrics["tAgentRoutingStatus"].get("INTERACTING", 0) <= budget[user]


@pytest.mark.parametrize(("local_day", "hours"), [("2024-11-05", 24), ("2024-11-03", 25)])
def test_hourly_buckets_add_up_to_the_day_and_no_group_is_the_sum_of_the_agents(
    client: RawClient, local_day: str, hours: int
) -> None:
    zone = ZoneInfo(NY)
    start = datetime.fromisoformat(local_day).replace(tzinfo=zone)
    interval = f"{start.isoformat()}/{(start + timedelta(days=1)).isoformat()}"
    hourly = cells(status_query(client, interval, granularity="PT1H"))
    daily = cells(status_query(client, interval, granularity="P1D"))
    assert len({iv for _, iv, _ in hourly}) == hours
    rolled: dict[tuple[Any, str], int] = defaultdict(int)
    for (group, _, measure), stats in hourly.items():
        rolled[(group, measure)] += stats["sum"]
    assert rolled == {(group, measure): s["sum"] for (group, _, measure), s in daily.items()}
    org_wide = cells(status_query(client, interval, granularity="P1D", groupBy=[]))
    summed: dict[str, int] = defaultdict(int)
    for (_, _, measure), stats in daily.items():
        summed[measure] += stats["sum"]
    assert {measure: s["sum"] for (_, _, measure), s in org_wide.items()} == summed


def test_three_days_equal_three_one_day_queries_and_jobs_answer_what_sync_does(
    client: RawClient,
) -> None:
    whole = status_query(client, "2024-11-01T00:00:00Z/2024-11-04T00:00:00Z")
    parts: dict[Any, Any] = {}
    for day in ("01", "02", "03"):
        part = cells(
            status_query(client, f"2024-11-{day}T00:00:00Z/2024-11-{int(day) + 1:02d}T00:00:00Z")
        )
        assert not set(part) & set(parts)
        parts.update(part)
    assert cells(whole) == parts
    body = {
        "interval": "2024-11-01T00:00:00Z/2024-11-04T00:00:00Z",
        "granularity": "PT30M",
        "timeZone": NY,
        "groupBy": ["userId"],
        "metrics": list(USER_METRICS),
        "pageSize": 7,
    }
    job_id = client.request("POST", f"{USERS}/jobs", body).json()["jobId"]
    while client.request("GET", f"{USERS}/jobs/{job_id}").json()["state"] != "FULFILLED":
        pass
    collected, cursor = [], None
    while True:
        suffix = f"?cursor={cursor}" if cursor else ""
        page = client.request("GET", f"{USERS}/jobs/{job_id}/results{suffix}").json()
        assert page["systemToOrganizationMappings"] == whole["systemToOrganizationMappings"]
        collected.extend(page["results"])
        cursor = page.get("cursor")
        if cursor is None:
            break
    assert collected == whole["results"]
    # A user aggregates job is not a conversation aggregates job.
    other = client.request("GET", f"/api/v2/analytics/conversations/aggregates/jobs/{job_id}")
    assert other.status == 404


def test_a_user_filter_keeps_that_user_and_an_open_day_grows_up_to_now(
    client: RawClient, sim: Simulator
) -> None:
    everyone = per_cell(status_query(client))
    user = next(iter(everyone))[0]
    only = status_query(
        client,
        filter={"type": "or", "predicates": [{"dimension": "userId", "value": user}]},
    )
    assert {c.get("group", {}).get("userId") for c in only["results"]} == {user}
    assert per_cell(only) == {k: v for k, v in everyone.items() if k[0] == user}

    def logged_in_ms() -> int:
        found = per_cell(status_query(client))
        return sum(sum(m["tSystemPresence"].values()) for m in found.values())

    try:
        sim.set_now(datetime(2024, 11, 5, 16, 0, tzinfo=UTC))
        at_eleven = status_query(client)
        early = logged_in_ms()
        sim.set_now(datetime(2024, 11, 5, 21, 0, tzinfo=UTC))
        later = logged_in_ms()
    finally:
        sim.set_now(FAR_FUTURE)
    assert 0 < early < later < logged_in_ms()
    latest = max(b["interval"] for c in at_eleven["results"] for b in c["data"])
    assert latest.startswith("2024-11-05T15:30"), "nothing after now"


def test_the_endpoints_refuse_what_the_real_ones_refuse(client: RawClient, sim: Simulator) -> None:
    wrong_metric = client.request(
        "POST",
        f"{USERS}/query",
        {"interval": DAY, "metrics": ["tHandle"], "groupBy": ["userId"]},
    )
    assert wrong_metric.status == 400 and "tHandle" in wrong_metric.json()["message"]
    wrong_group = client.request(
        "POST",
        f"{USERS}/query",
        {"interval": DAY, "metrics": ["tSystemPresence"], "groupBy": ["queueId"]},
    )
    assert wrong_group.status == 400 and "queueId" in wrong_group.json()["message"]
    status_on_conversations = client.request(
        "POST",
        "/api/v2/analytics/conversations/aggregates/query",
        {"interval": DAY, "metrics": ["tSystemPresence"]},
    )
    assert status_on_conversations.status == 400
    other = RawClient(sim.base_url, "convs-only", "convs-secret")
    other.login()
    denied = other.request(
        "POST", f"{USERS}/query", {"interval": DAY, "metrics": ["tSystemPresence"]}
    )
    assert denied.status == 403
    assert "analytics:userAggregate:view" in denied.json()["message"]


def test_the_same_seed_gives_the_same_timelines(client: RawClient) -> None:
    with Simulator(CONFIG) as again:
        raw = RawClient(again.base_url, again.client_id, again.client_secret)
        raw.login()
        assert status_query(raw) == status_query(client)
