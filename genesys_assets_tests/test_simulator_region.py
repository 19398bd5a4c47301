"""Several simulated orgs behind one port, told apart by their OAuth clients, as one region's.

Over HTTP against a real server: the SDK-based client for logging in and fetching, the bare
client where the wire itself (status, body bytes, headers, a dropped connection) is the point.
"""

from __future__ import annotations

import http.client
import json
import signal
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.query import AggregateQuery, day_interval
from genesys_assets.simulator import SimulatedRegion, Simulator, SimulatorConfig

from .raw_http import RawClient
from .test_simulator_cli import launch, read_settings

NOW = datetime(2024, 11, 6, 12, tzinfo=UTC)
DAY = date(2024, 11, 4)
QUEUES = "/api/v2/routing/queues"
QUERY = "/api/v2/analytics/conversations/aggregates/query"
USER_QUERY = "/api/v2/analytics/users/aggregates/query"
AVAILABILITY = "/api/v2/analytics/conversations/details/jobs/availability"
PERMISSIONS = (
    "analytics:conversationAggregate:view",
    "analytics:userAggregate:view",
    "routing:queue:view",
    "analytics:conversationDetail:view",
)
# Two orgs that differ in everything a config decides: seed, time zone, size, clients.
EU = SimulatorConfig(
    seed=3,
    time_zone="Europe/Berlin",
    queues=3,
    agents=8,
    conversations_per_day=200,
    client_id="eu-client",
    client_secret="eu-secret",
    client_permissions=PERMISSIONS,
    restricted_clients=(("eu-reader", "eu-reader-secret"),),
    now=NOW,
    job_delay_s=0.05,
)
US = SimulatorConfig(
    seed=5,
    time_zone="America/Chicago",
    queues=5,
    agents=12,
    conversations_per_day=300,
    client_id="us-client",
    client_secret="us-secret",
    client_permissions=PERMISSIONS,
    now=NOW,
    job_delay_s=0.05,
)
CONFIGS = {"eu": EU, "us": US}
FAST = ClientSettings(backoff_base_s=0.05, max_retry_wait_s=1.0, job_poll_initial_s=0.05)


@pytest.fixture(scope="module")
def region() -> Iterator[SimulatedRegion]:
    with SimulatedRegion(CONFIGS) as running:
        yield running


@pytest.fixture(scope="module")
def alone() -> Iterator[dict[str, Simulator]]:
    """Each org's config served by a Simulator of its own: what the region must answer."""
    sims = {name: Simulator(config).start() for name, config in CONFIGS.items()}
    try:
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def raw(base_url: str, config: SimulatorConfig) -> RawClient:
    client = RawClient(base_url, config.client_id, config.client_secret, timeout=10)
    client.login()
    return client


def day_body(config: SimulatorConfig, **extra: Any) -> dict[str, Any]:
    """One local day of the org, by queue and hour."""
    return {
        "interval": day_interval(DAY, config.time_zone).to_api(),
        "timeZone": config.time_zone,
        "granularity": "PT1H",
        "groupBy": ["queueId"],
        "metrics": ["nOffered", "tHandle", "tAnswered", "oServiceLevel"],
        **extra,
    }


def without_context(response_body: bytes) -> dict[str, Any]:
    """An error body without its correlation id, the one part that differs on every call."""
    body = json.loads(response_body)
    assert body.pop("contextId")
    return body


# --- each org answers as itself ------------------------------------------------------------------


def test_each_org_logs_in_through_the_sdk_and_reads_its_own_org(
    region: SimulatedRegion, alone: dict[str, Simulator]
) -> None:
    seen: dict[str, set[str]] = {}
    for name, config in CONFIGS.items():
        org = region.org(name)
        assert org.base_url == region.base_url, "one host for every org of the region"
        credentials = ClientCredentials(org.client_id, org.client_secret)
        query = AggregateQuery(
            metrics=("nOffered", "tHandle"),
            group_by=("queueId",),
            granularity="PT30M",
            time_zone=config.time_zone,
        )
        with GenesysClient(region.base_url, credentials, FAST) as client:
            queues = client.list_queues()
            [fetch] = client.fetch_days(query, [DAY], mode="jobs")
        seen[name] = {q.id for q in queues}
        assert seen[name] == {q.id for q in org.org.queues}
        assert len(queues) == config.queues

        # The same pages, byte for byte, as the org's config alone in a Simulator gives.
        single = alone[name]
        single_credentials = ClientCredentials(single.client_id, single.client_secret)
        with GenesysClient(single.base_url, single_credentials, FAST) as client:
            [expected] = client.fetch_days(query, [DAY], mode="jobs")
        assert [page.body for page in fetch.pages] == [page.body for page in expected.pages]
        assert sum(len(json.loads(p.body).get("results", [])) for p in fetch.pages) > 0
    assert not seen["eu"] & seen["us"], "two orgs, two sets of queues"


@pytest.mark.parametrize("name", ["eu", "us"])
def test_aggregates_and_listings_equal_a_single_org_simulator_byte_for_byte(
    region: SimulatedRegion, alone: dict[str, Simulator], name: str
) -> None:
    config = CONFIGS[name]
    mine, theirs = raw(region.base_url, config), raw(alone[name].base_url, config)
    user_body = {
        "interval": day_body(config)["interval"],
        "timeZone": config.time_zone,
        "granularity": "PT1H",
        "groupBy": ["userId"],
        "metrics": ["tAgentRoutingStatus", "tSystemPresence"],
    }
    for method, path, body in (
        ("POST", QUERY, day_body(config)),
        ("POST", USER_QUERY, user_body),
        ("GET", QUEUES + "?pageSize=2&pageNumber=2", None),
        ("GET", "/api/v2/users?pageSize=100", None),
        ("GET", AVAILABILITY, None),
    ):
        got, want = mine.request(method, path, body), theirs.request(method, path, body)
        assert (got.status, got.body) == (want.status, want.body) == (200, want.body), path


def test_a_token_reads_the_org_that_issued_it(region: SimulatedRegion) -> None:
    eu, us = raw(region.base_url, EU), raw(region.base_url, US)
    eu_ids = {q["id"] for q in eu.request("GET", QUEUES).json()["entities"]}
    us_ids = {q["id"] for q in us.request("GET", QUEUES).json()["entities"]}
    assert eu_ids == {q.id for q in region.org("eu").org.queues}
    assert us_ids == {q.id for q in region.org("us").org.queues}

    # Another client of the same org (the restricted one) gets that org's data too.
    reader = RawClient(region.base_url, "eu-reader", "eu-reader-secret", timeout=10)
    reader.login()
    assert {q["id"] for q in reader.request("GET", QUEUES).json()["entities"]} == eu_ids
    assert reader.request("POST", QUERY, day_body(EU)).status == 403

    # Forgetting one org's tokens leaves the other's alone.
    region.org("eu").invalidate_tokens()
    try:
        assert eu.request("GET", QUEUES).status == 401
        assert us.request("GET", QUEUES).status == 200
    finally:
        eu.login()


def test_unknown_clients_and_tokens_get_the_single_org_401s(
    region: SimulatedRegion, alone: dict[str, Simulator]
) -> None:
    single = alone["eu"]
    cases: list[tuple[str, dict[str, str] | None, str]] = [
        ("token", None, "stranger:secret"),  # a client no org has
        ("token", None, "eu-client:wrong"),  # a known client, a wrong secret
        ("api", {"Authorization": "Bearer no-such-token"}, ""),
        ("api", {}, ""),  # no credentials at all
    ]
    for kind, headers, basic in cases:
        answers = []
        for base_url in (region.base_url, single.base_url):
            client = RawClient(base_url, timeout=10)
            if kind == "token":
                cid, secret = basic.split(":")
                answers.append(client.token_request(cid, secret))
            else:
                answers.append(client.request("GET", QUEUES, headers=headers))
        got, want = answers
        assert got.status == want.status == 401, (kind, basic, headers)
        assert without_context(got.body) == without_context(want.body)

    # The wrong secret was for an org's own client: that org counts it; the rest no org does.
    before = region.unclaimed_stats()["responses"].get(401, 0)
    region.org("us").reset_stats()
    client = RawClient(region.base_url, timeout=10)
    assert client.token_request("nobody", "x").status == 401
    assert client.token_request("us-client", "wrong").status == 401
    assert region.unclaimed_stats()["responses"][401] == before + 1
    assert region.org("us").stats()["responses"] == {401: 1}


# --- each org keeps its own limits, counters, clock and faults -----------------------------------


def test_rate_limits_are_per_org() -> None:
    tight = replace(EU, rate_limit_per_minute=2, rate_limit_window_s=30.0)
    with SimulatedRegion([("eu", tight), ("us", US)]) as region:
        eu, us = raw(region.base_url, EU), raw(region.base_url, US)
        assert [eu.request("GET", QUEUES).status for _ in range(3)] == [200, 200, 429]
        answer = us.request("GET", QUEUES)
        assert answer.status == 200
        assert answer.headers["inin-ratelimit-count"] == "1"
        assert answer.headers["inin-ratelimit-allowed"] == str(US.rate_limit_per_minute)
        assert region.org("eu").stats()["throttled"] == 1
        assert region.org("us").stats()["throttled"] == 0


def test_stats_clock_and_faults_are_per_org(region: SimulatedRegion) -> None:
    region.reset_stats()
    eu, us = raw(region.base_url, EU), raw(region.base_url, US)
    for _ in range(3):
        assert eu.request("GET", QUEUES).status == 200
    assert us.request("POST", QUERY, day_body(US)).status == 200
    eu_stats, us_stats = region.org("eu").stats(), region.org("us").stats()
    assert eu_stats["requests"] == {"/oauth/token": 1, QUEUES: 3}
    assert us_stats["requests"] == {"/oauth/token": 1, QUERY: 1}
    assert (eu_stats["tokens_issued"], us_stats["tokens_issued"]) == (1, 1)

    # "now" is each org's own.
    region.org("us").set_now(datetime(2024, 11, 1, 9, 30, tzinfo=UTC))
    try:
        assert us.request("GET", AVAILABILITY).json() == {
            "dataAvailabilityDate": "2024-11-01T08:30:00.000Z"
        }
        assert eu.request("GET", AVAILABILITY).json() == {
            "dataAvailabilityDate": "2024-11-06T11:00:00.000Z"
        }
    finally:
        region.org("us").set_now(NOW)

    # Scripted faults hit the org they were scripted on, on the wire, and nobody else.
    region.org("eu").script_faults(["503", "drop", "truncate"])
    assert us.request("GET", QUEUES).status == 200
    assert eu.request("GET", QUEUES).status == 503
    with pytest.raises(http.client.RemoteDisconnected):
        eu.request("GET", QUEUES)
    assert us.request("GET", QUEUES).status == 200
    with pytest.raises(http.client.IncompleteRead):
        eu.request("GET", QUEUES)
    assert eu.request("GET", QUEUES).status == 200
    assert region.org("eu").stats()["faults"] == {"error": 1, "drop": 1, "truncate": 1}
    assert region.org("us").stats()["faults"] == {}


# --- what cannot be served together --------------------------------------------------------------


def test_orgs_that_share_a_client_id_are_refused() -> None:
    with pytest.raises(ValueError, match="share the client id 'eu-client'"):
        SimulatedRegion({"eu": EU, "eu2": replace(US, client_id="eu-client")})
    # Any client counts, not only the main one.
    with pytest.raises(ValueError, match="share the client id 'eu-reader'"):
        SimulatedRegion({"eu": EU, "us": replace(US, extra_clients=(("eu-reader", "s", ("x",)),))})
    with pytest.raises(ValueError, match="two orgs are named 'eu'"):
        SimulatedRegion([("eu", EU), ("eu", US)])
    with pytest.raises(ValueError, match="asks for port 8080"):
        SimulatedRegion({"eu": replace(EU, port=8080), "us": US})
    with pytest.raises(ValueError, match="at least one org"):
        SimulatedRegion([])
    with pytest.raises(KeyError, match="no org 'apac'"):
        SimulatedRegion([EU]).org("apac")
    # A bare config is known by its main client id.
    assert [org.name for org in SimulatedRegion([EU, US]).orgs] == ["eu-client", "us-client"]


# --- the command line ----------------------------------------------------------------------------


def test_cli_serves_several_orgs_on_one_port() -> None:
    process = launch(
        *("--port", "0", "--now", "2024-11-06T12:00:00Z", "--queues", "4"),
        *("--org", "emea:Europe/Berlin:3:8:3:200", "--org", "amer:America/Chicago:5:9"),
    )
    try:
        settings = read_settings(process, count=5)
        assert set(settings) == {
            "GENESYS_API_HOST",
            "GENESYS_EMEA_CLIENT_ID",
            "GENESYS_EMEA_CLIENT_SECRET",
            "GENESYS_AMER_CLIENT_ID",
            "GENESYS_AMER_CLIENT_SECRET",
        }
        host = settings["GENESYS_API_HOST"]
        assert host.startswith("http://127.0.0.1:")
        assert settings["GENESYS_EMEA_CLIENT_ID"] == "simulator-emea"
        assert settings["GENESYS_EMEA_CLIENT_SECRET"] == "simulator-emea-secret"
        ids = {}
        for name, queues in (("EMEA", 3), ("AMER", 4)):
            client = RawClient(
                host,
                settings[f"GENESYS_{name}_CLIENT_ID"],
                settings[f"GENESYS_{name}_CLIENT_SECRET"],
                timeout=10,
            )
            client.login()
            listing = client.request("GET", QUEUES + "?pageSize=100").json()
            assert listing["total"] == queues, name
            ids[name] = {q["id"] for q in listing["entities"]}
        assert not ids["EMEA"] & ids["AMER"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=10)
        finally:
            process.kill()
    assert code == 0, process.stderr.read() if process.stderr else ""


def test_cli_org_settings_and_refusals() -> None:
    from genesys_assets.simulator.__main__ import build_parser, org_configs_from_args

    parser = build_parser()
    configs = org_configs_from_args(
        parser.parse_args(
            [
                *("--queues", "6", "--rate-limit-per-minute", "50"),
                *("--org", "eu:Europe/Berlin:3", "--org", "us_west:America/Los_Angeles:4:20::900"),
            ]
        )
    )
    assert [name for name, _ in configs] == ["eu", "us_west"]
    eu, us = (config for _, config in configs)
    assert (eu.seed, eu.time_zone, eu.queues, eu.agents) == (3, "Europe/Berlin", 6, 60)
    assert (us.seed, us.agents, us.queues, us.conversations_per_day) == (4, 20, 6, 900)
    assert (us.client_id, us.client_secret) == ("simulator-us_west", "simulator-us_west-secret")
    assert eu.rate_limit_per_minute == us.rate_limit_per_minute == 50

    for bad in (
        ["--org", "eu"],
        ["--org", "EU:UTC:1"],
        ["--org", "eu:UTC:x"],
        ["--org", "eu:UTC:"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    for refused, message in (
        (["--client-id", "mine"], "--client-id cannot be combined with --org"),
        (["--seed", "9"], "--seed cannot be combined with --org"),
        (["--org", "eu:UTC:2"], "--org 'eu' is given twice"),
        (["--org", "us:Mars/Olympus_Mons:2"], "--org us: .*unknown time zone"),
    ):
        args = parser.parse_args(["--org", "eu:UTC:1", *refused])
        with pytest.raises(ValueError, match=message):
            org_configs_from_args(args)
