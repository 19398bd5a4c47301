"""Rate limits, correlation ids and injected faults, observed on the wire."""

from __future__ import annotations

import http.client
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_assets.simulator import Simulator, SimulatorConfig

from .raw_http import RawClient

NOW = datetime(2024, 11, 6, tzinfo=UTC)
SMALL = {
    "queues": 3,
    "agents": 8,
    "conversations_per_day": 200,
    "now": NOW,
    # The faults below hit the availability route (a small answer): it needs this permission.
    "client_permissions": (
        "analytics:conversationAggregate:view",
        "routing:queue:view",
        "analytics:conversationDetail:view",
    ),
}
QUEUES = "/api/v2/routing/queues"
AVAILABILITY = "/api/v2/analytics/conversations/details/jobs/availability"
QUERY = "/api/v2/analytics/conversations/aggregates/query"


def started(**overrides: Any) -> Simulator:
    return Simulator(SimulatorConfig(**{**SMALL, **overrides})).start()


def logged_in(sim: Simulator) -> RawClient:
    client = RawClient(sim.base_url, sim.client_id, sim.client_secret, timeout=10)
    client.login()
    return client


@pytest.fixture
def sim() -> Any:
    running = started(rate_limit_per_minute=1000)
    try:
        yield running
    finally:
        running.stop()


# --- rate limiting -------------------------------------------------------------------------------


def test_rate_limit_headers_429_and_window_reset() -> None:
    sim = started(rate_limit_per_minute=3, rate_limit_window_s=1.0)
    try:
        client = logged_in(sim)
        for used in (1, 2, 3):
            answer = client.request("GET", QUEUES)
            assert answer.status == 200
            assert answer.headers["inin-ratelimit-count"] == str(used)
            assert answer.headers["inin-ratelimit-allowed"] == "3"
            assert answer.headers["inin-ratelimit-reset"] == "1"
        throttled = client.request("GET", QUEUES)
        assert throttled.status == 429
        assert throttled.headers["retry-after"] == "1"
        assert throttled.headers["inin-ratelimit-count"] == "4"
        body = throttled.json()
        assert body["code"] == "too.many.requests" and body["status"] == 429
        assert body["message"] == (
            "Rate limit exceeded the maximum. Retry the request in [1] seconds"
        )
        # The limit is per token: another token has its own window.
        other = logged_in(sim)
        assert other.request("GET", QUEUES).status == 200
        time.sleep(1.05)
        again = client.request("GET", QUEUES)
        assert again.status == 200 and again.headers["inin-ratelimit-count"] == "1"
        stats = sim.stats()
        assert stats["throttled"] == 1 and stats["responses"][429] == 1
    finally:
        sim.stop()


def test_retry_after_can_be_left_out() -> None:
    sim = started(rate_limit_per_minute=1, send_retry_after=False)
    try:
        client = logged_in(sim)
        assert client.request("GET", QUEUES).status == 200
        throttled = client.request("GET", QUEUES)
        assert throttled.status == 429
        assert "retry-after" not in throttled.headers
        assert int(throttled.headers["inin-ratelimit-reset"]) in range(1, 61)
    finally:
        sim.stop()


def test_sdk_waits_out_a_429_that_carries_retry_after(sim: Simulator) -> None:
    # What the facts file warns about: the SDK's urllib3 retries such a 429 by itself.
    import PureCloudPlatformClientV2 as sdk

    client = sdk.ApiClient(host=sim.base_url)
    client.get_client_credentials_token(sim.client_id, sim.client_secret)
    sim.script_faults(["429"])
    started_at = time.monotonic()
    assert sdk.RoutingApi(client).get_routing_queues().total == 3
    assert time.monotonic() - started_at >= 0.9
    assert sim.stats()["faults"] == {"throttle": 1}


# --- headers and error form ----------------------------------------------------------------------


def test_every_response_carries_a_fresh_correlation_id(sim: Simulator) -> None:
    client = logged_in(sim)
    answers = [
        client.token_request(),
        client.token_request(client_secret="wrong"),
        client.request("GET", QUEUES),
        client.request("GET", "/api/v2/nothing/here"),
        client.request("POST", QUERY, {"interval": "bad", "metrics": ["nOffered"]}),
        client.request("GET", QUEUES, headers={"Authorization": "Bearer nope"}),
        client.request("GET", "/not/api", auth=False),
    ]
    ids = [a.headers["inin-correlation-id"] for a in answers]
    assert all(uuid.UUID(i) for i in ids) and len(set(ids)) == len(ids)
    assert [a.status for a in answers] == [200, 401, 200, 404, 400, 401, 404]
    for answer in answers:
        assert answer.headers["content-type"] == "application/json"
        assert int(answer.headers["content-length"]) == len(answer.body)
        if answer.status >= 400:
            error = answer.json()
            assert error["contextId"] == answer.headers["inin-correlation-id"]
            assert error["status"] == answer.status
            assert error["details"] == [] and error["errors"] == []
    missing = client.request("GET", QUEUES, auth=False)
    assert missing.status == 401 and missing.json()["code"] == "authentication.required"


def test_responses_are_compact_json(sim: Simulator) -> None:
    client = logged_in(sim)
    answer = client.request(
        "POST",
        QUERY,
        {
            "interval": "2024-11-04T00:00:00Z/2024-11-05T00:00:00Z",
            "metrics": ["nOffered", "tHandle"],
        },
    )
    assert answer.status == 200
    assert b": " not in answer.body and b", " not in answer.body
    assert answer.body.startswith(b'{"results":[{"group":{"mediaType":"')


def test_keep_alive_connection_serves_several_requests(sim: Simulator) -> None:
    token = logged_in(sim).access_token
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", QUEUES, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()


# --- scripted faults -----------------------------------------------------------------------------


def test_scripted_faults_hit_the_next_requests_in_order() -> None:
    sim = started(slow_ms=300)
    try:
        client = logged_in(sim)
        sim.script_faults(["503", "503", "429", "drop", "truncate", "slow"])
        # The token endpoint is not an API call: it neither fails nor consumes the script.
        assert client.token_request().status == 200

        first, second = client.request("GET", QUEUES), client.request("GET", QUEUES)
        assert (first.status, second.status) == (503, 503)
        assert first.json()["code"] == "service.unavailable"
        throttled = client.request("GET", QUEUES)
        assert throttled.status == 429 and throttled.headers["retry-after"] == "1"
        assert throttled.json()["code"] == "too.many.requests"
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            client.request("GET", QUEUES)
        with pytest.raises(http.client.IncompleteRead) as cut:
            client.request("GET", QUEUES)
        assert (cut.value.expected or 0) > 0 and len(cut.value.partial) > 0
        started_at = time.monotonic()
        slow = client.request("GET", QUEUES)
        assert slow.status == 200 and time.monotonic() - started_at >= 0.3
        assert client.request("GET", QUEUES).status == 200  # the script is used up

        stats = sim.stats()
        assert stats["faults"] == {"error": 2, "throttle": 1, "drop": 1, "truncate": 1, "slow": 1}
        assert stats["responses"][503] == 2 and stats["throttled"] == 1
        assert stats["requests"][QUEUES] == 7
        assert stats["tokens_issued"] == 2
    finally:
        sim.stop()


def test_a_slow_response_trips_a_client_read_timeout() -> None:
    sim = started(slow_ms=2000)
    try:
        client = logged_in(sim)
        sim.script_faults(["slow"])
        with pytest.raises((TimeoutError, socket.timeout)):
            client.request("GET", QUEUES, timeout=0.2)
    finally:
        sim.stop()  # also cuts the sleeping handler short


def test_unknown_scripted_fault_is_rejected(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="Unknown faults"):
        sim.script_faults(["418"])


# --- random faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"error_rate": 1.0, "error_codes": (502,)}, "error"),
        ({"drop_rate": 1.0}, "drop"),
        ({"truncate_rate": 1.0}, "truncate"),
        ({"slow_rate": 1.0, "slow_ms": 150}, "slow"),
    ],
)
def test_each_random_fault_kind_is_observable(overrides: dict[str, Any], kind: str) -> None:
    sim = started(**overrides)
    try:
        client = logged_in(sim)  # the token endpoint is never faulted
        started_at = time.monotonic()
        if kind == "error":
            answer = client.request("GET", AVAILABILITY)
            assert answer.status == 502 and answer.json()["code"] == "bad.gateway"
        elif kind == "drop":
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                client.request("GET", AVAILABILITY)
        elif kind == "truncate":
            with pytest.raises(http.client.IncompleteRead):
                client.request("GET", AVAILABILITY)
        else:
            assert client.request("GET", AVAILABILITY).status == 200
            assert time.monotonic() - started_at >= 0.15
        assert sim.stats()["faults"] == {kind: 1}
    finally:
        sim.stop()


def test_latency_is_added_to_every_api_request() -> None:
    sim = started(latency_ms=120, latency_sigma=0.0)
    try:
        client = logged_in(sim)
        started_at = time.monotonic()
        for _ in range(3):
            assert client.request("GET", AVAILABILITY).status == 200
        assert time.monotonic() - started_at >= 0.36
    finally:
        sim.stop()


def test_random_faults_replay_with_the_seed() -> None:
    def outcomes(seed: int) -> list[str]:
        sim = started(
            seed=seed, error_rate=0.3, drop_rate=0.1, truncate_rate=0.1, error_codes=(500, 503)
        )
        seen = []
        try:
            client = logged_in(sim)
            for _ in range(40):
                try:
                    seen.append(str(client.request("GET", AVAILABILITY).status))
                except http.client.IncompleteRead:
                    seen.append("truncate")
                except (http.client.RemoteDisconnected, ConnectionError):
                    seen.append("drop")
        finally:
            sim.stop()
        return seen

    first = outcomes(21)
    assert first == outcomes(21)
    assert {"200", "500", "503", "drop", "truncate"} <= set(first)
    assert first != outcomes(22)


# --- runtime controls ----------------------------------------------------------------------------


def test_stats_and_reset(sim: Simulator) -> None:
    client = logged_in(sim)
    client.request("GET", QUEUES)
    client.request("GET", "/api/v2/analytics/conversations/aggregates/jobs/abc")
    stats = sim.stats()
    assert stats["requests"]["/oauth/token"] == 1
    assert stats["requests"][QUEUES] == 1
    assert stats["requests"]["/api/v2/analytics/conversations/aggregates/jobs/{jobId}"] == 1
    assert stats["requests_by_route"][f"GET {QUEUES}"] == 1
    assert stats["responses"] == {200: 2, 404: 1}
    assert stats["tokens_issued"] == 1 and stats["throttled"] == 0 and stats["faults"] == {}
    sim.reset_stats()
    assert sim.stats()["requests"] == {} and sim.stats()["tokens_issued"] == 0


def test_stop_is_idempotent_and_closes_the_port() -> None:
    sim = started()
    port = sim.port
    token = logged_in(sim).access_token
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    idle.request("GET", QUEUES, headers={"Authorization": f"Bearer {token}"})
    idle.getresponse().read()  # leaves a keep-alive connection open
    started_at = time.monotonic()
    sim.stop()
    sim.stop()
    assert time.monotonic() - started_at < 2
    assert not sim.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    idle.close()


def test_set_now_requires_an_aware_datetime(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sim.set_now(datetime(2024, 11, 6))
    sim.set_now(datetime(2024, 11, 6, 8, tzinfo=UTC))
    assert sim.now() == datetime(2024, 11, 6, 8, tzinfo=UTC)
    sim.set_now(None)
    assert abs((sim.now() - datetime.now(UTC)).total_seconds()) < 5
