"""Every route checks the permission the real API needs for it, and a 403 names it.

A client built against a simulator that lets everything through finds out in production which
permission its OAuth client lacks; here each route is asked by a client holding exactly one
permission, so a route checking the wrong one (or none) fails. The routes the real API opens to
any valid token (users, divisions, languages) must answer a client holding no permission.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_assets.genesys.catalog import (
    PERMISSION_AGGREGATES,
    PERMISSION_ROUTING_SKILLS,
    PERMISSION_WRAP_UP_CODES,
)
from genesys_assets.simulator import Simulator
from genesys_assets.simulator.auth import PERMISSION_DETAILS, PERMISSION_QUEUES

from .raw_http import RawClient, RawResponse

NOW = datetime(2024, 11, 6, 12, tzinfo=UTC)
JOBS = "/api/v2/analytics/conversations/aggregates/jobs"
QUERY_BODY = {"interval": "2024-11-04T00:00:00Z/2024-11-05T00:00:00Z", "metrics": ["nOffered"]}
PERMISSIONS = (
    PERMISSION_AGGREGATES,
    PERMISSION_QUEUES,
    PERMISSION_DETAILS,
    PERMISSION_WRAP_UP_CODES,
    PERMISSION_ROUTING_SKILLS,
)
# One client per permission, and one with none at all.
ONLY = {permission: (f"only-{i}", f"secret-{i}") for i, permission in enumerate(PERMISSIONS)}
NOTHING = ("nothing", "nothing-secret")


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {job} stands for a fulfilled job's id
    permission: str | None  # None: any valid token will do
    success: int
    body: dict[str, Any] | None = None


CALLS = [
    Call("POST", "/api/v2/analytics/conversations/aggregates/query", PERMISSION_AGGREGATES, 200, QUERY_BODY),
    Call("POST", JOBS, PERMISSION_AGGREGATES, 202, QUERY_BODY),
    Call("GET", JOBS + "/{job}", PERMISSION_AGGREGATES, 200),
    Call("GET", JOBS + "/{job}/results", PERMISSION_AGGREGATES, 200),
    Call("DELETE", JOBS + "/{job}", PERMISSION_AGGREGATES, 204),
    Call("GET", "/api/v2/routing/queues", PERMISSION_QUEUES, 200),
    Call("GET", "/api/v2/analytics/conversations/details/jobs/availability", PERMISSION_DETAILS, 200),
    Call("GET", "/api/v2/users", None, 200),
    Call("GET", "/api/v2/routing/wrapupcodes", PERMISSION_WRAP_UP_CODES, 200),
    Call("GET", "/api/v2/authorization/divisions", None, 200),
    Call("GET", "/api/v2/routing/skills", PERMISSION_ROUTING_SKILLS, 200),
    Call("GET", "/api/v2/routing/languages", None, 200),
]  # fmt: skip


@pytest.fixture
def sim(start_simulator: Callable[..., Simulator]) -> Simulator:
    return start_simulator(
        now=NOW,
        job_delay_s=0.0,
        restricted_clients=(("restricted", "restricted-secret"),),
        extra_clients=(
            *((cid, secret, (permission,)) for permission, (cid, secret) in ONLY.items()),
            (*NOTHING, ()),
        ),
    )


def logged_in(sim: Simulator, client_id: str, secret: str) -> RawClient:
    raw = RawClient(sim.base_url, client_id, secret, timeout=10)
    raw.login()
    return raw


def fulfilled_job(sim: Simulator) -> str:
    raw = logged_in(sim, *ONLY[PERMISSION_AGGREGATES])
    job_id = str(raw.request("POST", JOBS, QUERY_BODY).json()["jobId"])
    deadline = time.monotonic() + 10
    while raw.request("GET", f"{JOBS}/{job_id}").json()["state"] != "FULFILLED":
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.02)
    return job_id


def send(raw: RawClient, call: Call, job_id: str) -> RawResponse:
    return raw.request(call.method, call.path.format(job=job_id), call.body)


def assert_denied(answer: RawResponse, permission: str | None) -> None:
    assert permission is not None, "a route open to any token denied a client"
    assert answer.status == 403, answer.body
    error = answer.json()
    assert error["code"] == "missing.permissions" and error["status"] == 403
    assert error["message"] == (
        "Unable to perform the requested action. You are missing the following "
        f"permission(s): [{permission}]"
    )


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_each_route_answers_exactly_the_clients_holding_its_permission(
    sim: Simulator, call: Call
) -> None:
    job_id = fulfilled_job(sim)
    for permission, credentials in ONLY.items():
        answer = send(logged_in(sim, *credentials), call, job_id)
        if call.permission in (permission, None):
            assert answer.status == call.success, answer.body
        else:
            assert_denied(answer, call.permission)
    nothing = send(logged_in(sim, *NOTHING), call, job_id)
    if call.permission is None:
        assert nothing.status == call.success, nothing.body
    else:
        assert_denied(nothing, call.permission)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path}")
def test_the_main_client_has_all_but_details_and_a_restricted_one_queues_only(
    sim: Simulator, call: Call
) -> None:
    job_id = fulfilled_job(sim)
    main = send(logged_in(sim, sim.client_id, sim.client_secret), call, job_id)
    if call.permission == PERMISSION_DETAILS:
        assert_denied(main, PERMISSION_DETAILS)
    else:
        assert main.status == call.success, main.body
    restricted = send(logged_in(sim, "restricted", "restricted-secret"), call, job_id)
    if call.permission in (PERMISSION_QUEUES, None):
        assert restricted.status == call.success, restricted.body
    else:
        assert_denied(restricted, call.permission)


def test_the_main_clients_permissions_can_be_set(
    start_simulator: Callable[..., Simulator],
) -> None:
    sim = start_simulator(now=NOW, client_permissions=(PERMISSION_DETAILS,))
    raw = logged_in(sim, sim.client_id, sim.client_secret)
    availability = raw.request("GET", "/api/v2/analytics/conversations/details/jobs/availability")
    assert availability.json() == {"dataAvailabilityDate": "2024-11-06T11:00:00.000Z"}
    assert_denied(raw.request("GET", "/api/v2/routing/queues"), PERMISSION_QUEUES)
    assert_denied(raw.request("POST", JOBS, QUERY_BODY), PERMISSION_AGGREGATES)


def test_a_missing_permission_is_checked_after_the_token_and_the_rate_limit(
    start_simulator: Callable[..., Simulator],
) -> None:
    sim = start_simulator(now=NOW, rate_limit_per_minute=1)
    raw = RawClient(sim.base_url, sim.client_id, sim.client_secret, timeout=10)
    availability = "/api/v2/analytics/conversations/details/jobs/availability"
    assert raw.request("GET", availability).status == 401, "no token: not even a 403"
    raw.login()
    assert_denied(raw.request("GET", availability), PERMISSION_DETAILS)
    assert raw.request("GET", availability).status == 429, "a denied call still counts"


@pytest.mark.parametrize(
    "permissions",
    ["routing:queue:view", ("routing:queue:view", ""), ("routing:queue:view", 3)],
)
def test_permissions_must_be_a_tuple_of_names(permissions: Any) -> None:
    from genesys_assets.simulator import SimulatorConfig

    with pytest.raises(ValueError, match="permissions must be a tuple of names"):
        SimulatorConfig(client_permissions=permissions)
    with pytest.raises(ValueError, match="permissions must be a tuple of names"):
        SimulatorConfig(extra_clients=(("other", "secret", permissions),))
