"""`remember_answers`: a settled query answered again from memory, byte for byte, over HTTP.

The benchmarks turn it on so that they time the pipeline and not the simulator's aggregation;
it must never change an answer, and must never keep one that can still change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_assets.simulator import Simulator

from .raw_http import RawClient

NOW = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)
CLOSED_DAY = "2024-11-01T00:00:00-04:00/2024-11-02T00:00:00-04:00"
OPEN_DAY = "2024-11-06T00:00:00-05:00/2024-11-07T00:00:00-05:00"  # NOW is its 7 a.m.
QUERY_PATH = "/api/v2/analytics/conversations/aggregates/query"
JOBS_PATH = "/api/v2/analytics/conversations/aggregates/jobs"


def body(interval: str) -> dict[str, Any]:
    return {
        "interval": interval,
        "granularity": "PT1H",
        "timeZone": "America/New_York",
        "groupBy": ["queueId", "mediaType"],
        "metrics": ["nOffered", "tHandle", "oServiceLevel"],
    }


def served(
    start_simulator: Callable[..., Simulator], remember: bool
) -> tuple[Simulator, RawClient]:
    sim = start_simulator(now=NOW, ingestion_lag_s=30.0, remember_answers=remember)
    client = RawClient(sim.base_url, sim.client_id, sim.client_secret)
    client.login()
    return sim, client


@pytest.fixture
def remembering(start_simulator: Callable[..., Simulator]) -> tuple[Simulator, RawClient]:
    return served(start_simulator, remember=True)


@pytest.fixture
def computing(start_simulator: Callable[..., Simulator]) -> tuple[Simulator, RawClient]:
    return served(start_simulator, remember=False)


def post(client: RawClient, interval: str) -> bytes:
    response = client.request("POST", QUERY_PATH, body(interval))
    assert response.status == 200, response.body
    return response.body


def job_results(client: RawClient, interval: str) -> list[Any]:
    submitted = client.request("POST", JOBS_PATH, {**body(interval), "pageSize": 5})
    assert submitted.status == 202, submitted.body
    job_id = submitted.json()["jobId"]
    deadline = time.monotonic() + 30
    while client.request("GET", f"{JOBS_PATH}/{job_id}").json()["state"] != "FULFILLED":
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)
    results: list[Any] = []
    cursor = ""
    while True:
        page = client.request("GET", f"{JOBS_PATH}/{job_id}/results{cursor}").json()
        results.extend(page["results"])
        if "cursor" not in page:
            return results
        cursor = f"?cursor={page['cursor']}"


def test_a_closed_day_is_aggregated_once_then_served_from_memory_unchanged(
    remembering: tuple[Simulator, RawClient], computing: tuple[Simulator, RawClient]
) -> None:
    sim, client = remembering
    first = post(client, CLOSED_DAY)
    again = post(client, CLOSED_DAY)
    assert again == first
    # A job for the same query pages the very containers remembered from the sync query.
    assert job_results(client, CLOSED_DAY) == json.loads(first)["results"]
    assert (sim.answers.computed, sim.answers.served_remembered) == (1, 2)
    assert sim.answers.computed_s > 0
    # The same org without remembering answers the same bytes.
    assert post(computing[1], CLOSED_DAY) == first


def test_a_day_that_can_still_change_is_aggregated_every_time(
    remembering: tuple[Simulator, RawClient],
) -> None:
    sim, client = remembering
    post(client, OPEN_DAY)
    post(client, OPEN_DAY)
    assert (sim.answers.computed, sim.answers.served_remembered) == (2, 0)


def test_by_default_every_query_is_aggregated_anew(
    computing: tuple[Simulator, RawClient],
) -> None:
    sim, client = computing
    assert post(client, CLOSED_DAY) == post(client, CLOSED_DAY)
    assert (sim.answers.computed, sim.answers.served_remembered) == (2, 0)
