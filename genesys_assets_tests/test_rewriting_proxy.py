"""The rewriting proxy, proven through the real client: login, SDK calls and raw pages all go
through it, untouched unless a test rewrites a route."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.query import AggregateQuery

from .raw_http import RawClient
from .rewriting_proxy import RewritingProxy

AGGREGATES_QUERY = "/api/v2/analytics/conversations/aggregates/query"
QUEUES = "/api/v2/routing/queues"
QUERY = AggregateQuery(
    metrics=("nOffered", "tHandle", "oServiceLevel"),
    group_by=("queueId",),
    granularity="PT1H",
    time_zone="America/New_York",
)
DAY = date(2024, 11, 1)


def client_for(base_url: str, simulator: Any, **settings: Any) -> GenesysClient:
    defaults = {"backoff_base_s": 0.05, "max_retry_wait_s": 2.0, "mode": "sync"}
    return GenesysClient(
        base_url,
        ClientCredentials(simulator.client_id, simulator.client_secret),
        ClientSettings(**{**defaults, **settings}),
    )


def fetch_body(base_url: str, simulator: Any) -> bytes:
    with client_for(base_url, simulator) as client:
        [fetch] = client.fetch_days(QUERY, [DAY])
    [page] = fetch.pages
    return page.body


def rename_count(document: Any) -> Any:
    """`count` -> `cnt` in every stats object of an aggregates answer."""
    for container in document["results"]:
        for bucket in container["data"]:
            for metric in bucket["metrics"]:
                stats = metric["stats"]
                if "count" in stats:
                    stats["cnt"] = stats.pop("count")
    return document


def test_an_unmodified_answer_is_byte_for_byte_the_direct_one(start_simulator) -> None:
    simulator = start_simulator()
    direct = fetch_body(simulator.base_url, simulator)
    with RewritingProxy(simulator.base_url) as proxy:
        proxied = fetch_body(proxy.base_url, simulator)
        methods_paths = [(m, p.split("?")[0]) for m, p in proxy.requests]
    assert proxied == direct
    assert ("POST", "/oauth/token") in methods_paths, "the login went through the proxy"
    assert ("POST", AGGREGATES_QUERY) in methods_paths


def test_a_rewritten_stats_field_reaches_the_fetched_page(start_simulator) -> None:
    simulator = start_simulator()
    direct = fetch_body(simulator.base_url, simulator)
    with RewritingProxy(simulator.base_url) as proxy:
        proxy.rewrite(AGGREGATES_QUERY, rename_count)
        rewritten = fetch_body(proxy.base_url, simulator)
    assert b'"count":' in direct
    assert b'"count":' not in rewritten and b'"cnt":' in rewritten
    expected = rename_count(json.loads(direct))
    assert rewritten == json.dumps(expected, separators=(",", ":")).encode()


def test_emptied_queue_listing_makes_list_queues_empty(start_simulator) -> None:
    simulator = start_simulator()
    with RewritingProxy(simulator.base_url) as proxy:
        with client_for(proxy.base_url, simulator) as client:
            assert len(client.list_queues()) == len(simulator.org.queues)
        proxy.rewrite(QUEUES, lambda listing: {**listing, "entities": []}, method="GET")
        with client_for(proxy.base_url, simulator) as client:
            assert client.list_queues() == []


def test_status_headers_and_errors_pass_and_content_length_is_fixed(start_simulator) -> None:
    simulator = start_simulator()
    with RewritingProxy(simulator.base_url) as proxy:
        raw = RawClient(proxy.base_url, simulator.client_id, simulator.client_secret, timeout=10)
        raw.login()
        proxy.rewrite(QUEUES, lambda listing: b"not json at all")
        answer = raw.request("GET", QUEUES)
        assert answer.status == 200 and answer.body == b"not json at all"
        assert answer.headers["content-length"] == str(len(answer.body))
        assert "inin-correlation-id" in answer.headers
        assert "inin-ratelimit-allowed" in answer.headers
        denied = raw.request("GET", QUEUES, auth=False)  # errors are never rewritten
        assert denied.status == 401 and denied.json()["code"] == "authentication.required"
        # A dropped upstream connection is a dropped connection here too, not an answer.
        simulator.script_faults(["drop"])
        with pytest.raises(ConnectionError):
            raw.request("POST", AGGREGATES_QUERY, {"interval": "x", "metrics": ["nOffered"]})
