"""The simulator through the official SDK: what a client built on PureCloudPlatformClientV2 sees.

Every answer must deserialize into the SDK's models with no field the models do not know, or a
client would silently lose data against the real API too.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genesys_assets.simulator import Simulator, SimulatorConfig

from .raw_http import RawClient

NOW = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)
# The availability route needs the details permission, which the main client lacks.
DETAILS_CLIENT = ("details-reader", "details-secret")
DAY = "2024-11-01T00:00:00-04:00/2024-11-02T00:00:00-04:00"
METRICS = ["nOffered", "nConnected", "tHandle", "tAbandon", "oServiceLevel", "oServiceTarget"]


@pytest.fixture(scope="module")
def sdk() -> Any:
    # Imported here, not at module level: 2 s and 200 MB that other test modules do not need.
    import PureCloudPlatformClientV2

    return PureCloudPlatformClientV2


@pytest.fixture(scope="module")
def sim() -> Any:
    config = SimulatorConfig(
        seed=11,
        queues=8,
        agents=30,
        conversations_per_day=1500,
        now=NOW,
        job_delay_s=0.4,
        restricted_clients=(("reporting-reader", "reader-secret"),),
        extra_clients=((*DETAILS_CLIENT, ("analytics:conversationDetail:view",)),),
        rate_limit_per_minute=100_000,
    )
    with Simulator(config) as running:
        yield running


def api_client(sdk: Any, sim: Simulator, client_id: str | None = None, secret: str | None = None):
    # host= always: the SDK would otherwise take it from a process-wide Configuration that a
    # user's ~/.genesyscloudpython/config can change.
    client = sdk.ApiClient(host=sim.base_url)
    client.get_client_credentials_token(client_id or sim.client_id, secret or sim.client_secret)
    return client


@pytest.fixture(scope="module")
def conversations(sdk: Any, sim: Simulator) -> Any:
    return sdk.ConversationsApi(api_client(sdk, sim))


@pytest.fixture(scope="module")
def raw(sim: Simulator) -> RawClient:
    client = RawClient(sim.base_url, sim.client_id, sim.client_secret)
    client.login()
    return client


def query_body(sdk: Any, **overrides: Any) -> Any:
    body = sdk.ConversationAggregationQuery()
    body.interval = overrides.get("interval", DAY)
    body.granularity = overrides.get("granularity", "PT1H")
    body.time_zone = overrides.get("time_zone", "America/New_York")
    body.group_by = overrides.get("group_by", ["queueId", "mediaType"])
    body.metrics = overrides.get("metrics", METRICS)
    return body


def assert_known_fields(sdk: Any, raw_json: Any, model: str) -> None:
    """Every key of the raw JSON maps to an attribute of the SDK model, recursively."""
    cls = getattr(sdk, model)
    instance = cls()
    by_json = {json_key: attr for attr, json_key in instance.attribute_map.items()}
    assert isinstance(raw_json, dict), f"{model}: expected an object, got {raw_json!r}"
    for key, value in raw_json.items():
        assert key in by_json, f"{model} has no attribute for JSON key {key!r}"
        swagger_type = instance.swagger_types[by_json[key]]
        _check_value(sdk, value, swagger_type)


def _check_value(sdk: Any, value: Any, swagger_type: str) -> None:
    if value is None:
        return
    listed = re.fullmatch(r"list\[(.+)\]", swagger_type)
    if listed:
        assert isinstance(value, list)
        for item in value:
            _check_value(sdk, item, listed.group(1))
        return
    mapped = re.fullmatch(r"dict\(str, (.+)\)", swagger_type)
    if mapped:
        assert isinstance(value, dict)
        for item in value.values():
            _check_value(sdk, item, mapped.group(1))
        return
    primitives: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "int": int,
        "float": (int, float),
        "bool": bool,
        "datetime": str,
    }
    if swagger_type in primitives:
        assert isinstance(value, primitives[swagger_type]), (swagger_type, value)
        return
    assert_known_fields(sdk, value, swagger_type)


# --- aggregates query ----------------------------------------------------------------------------


def test_sync_query_deserializes_into_sdk_models(
    sdk: Any, sim: Simulator, conversations: Any, raw: RawClient
) -> None:
    body = query_body(sdk)
    response = conversations.post_analytics_conversations_aggregates_query(body)
    assert isinstance(response, sdk.ConversationAggregateQueryResponse)
    assert response.results, "a weekday of a 1500-conversation org has data"

    queue_ids = {q.id for q in sim.org.queues}
    for container in response.results:
        assert container.group["queueId"] in queue_ids
        assert container.group["mediaType"] in {"voice", "chat", "email", "message", "callback"}
        intervals = [d.interval for d in container.data]
        assert intervals == sorted(intervals)
        for data in container.data:
            assert re.fullmatch(r"\S+T\S+\.000Z/\S+T\S+\.000Z", data.interval)
            names = [m.metric for m in data.metrics]
            assert names == [m for m in METRICS if m in names], "metrics in requested order"
            for metric in data.metrics:
                stats = metric.stats
                if metric.metric.startswith("t"):
                    assert stats.count >= 1 and stats.min <= stats.max
                    assert stats.min * stats.count <= stats.sum <= stats.max * stats.count
                elif metric.metric.startswith("n"):
                    assert stats.count >= 1 and stats.sum is None
                elif metric.metric == "oServiceLevel":
                    assert 0 <= stats.ratio <= 1
                    assert stats.numerator <= stats.denominator
                    assert stats.ratio == pytest.approx(stats.numerator / stats.denominator)
                    assert 0 < stats.target <= 1
                else:
                    assert stats.target is not None and stats.count is None

    # The same body over the wire: no key the SDK models would drop.
    answer = raw.query(sdk.ApiClient(host=sim.base_url).sanitize_for_serialization(body))
    assert_known_fields(sdk, answer, "ConversationAggregateQueryResponse")
    assert len(answer["results"]) == len(response.results)


def test_sdk_round_trip_preserves_every_number(
    sdk: Any, sim: Simulator, conversations: Any, raw: RawClient
) -> None:
    body = query_body(sdk, granularity="P1D", group_by=["queueId"])
    typed = conversations.post_analytics_conversations_aggregates_query(body)
    answer = raw.query(sdk.ApiClient(host=sim.base_url).sanitize_for_serialization(body))
    for container, raw_container in zip(typed.results, answer["results"], strict=True):
        assert container.group == raw_container["group"]
        for data, raw_data in zip(container.data, raw_container["data"], strict=True):
            for metric, raw_metric in zip(data.metrics, raw_data["metrics"], strict=True):
                assert metric.metric == raw_metric["metric"]
                typed_stats = {
                    k: v
                    for k, v in sdk.ApiClient().sanitize_for_serialization(metric.stats).items()
                    if v is not None
                }
                assert typed_stats == raw_metric["stats"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"metrics": ["tHandel"]}, "Unknown metric 'tHandel' (did you mean 'tHandle'?)"),
        (
            {"group_by": ["queueID"]},
            "Unknown dimension 'queueID' in groupBy (did you mean 'queueId'?)",
        ),
        ({"interval": "yesterday/today"}, "is not an ISO-8601 date-time"),
        ({"interval": "2024-11-02T00:00:00Z/2024-11-01T00:00:00Z"}, "end must be after the start"),
        ({"interval": "2024-11-01T00:00:00/2024-11-02T00:00:00"}, "has no UTC offset"),
        ({"interval": "2024-11-01T00:00:00Z"}, "expected ISO-8601 'start/end'"),
        ({"granularity": "PT10M"}, "Invalid granularity 'PT10M'"),
        ({"time_zone": "America/Nowhere"}, "Invalid timeZone 'America/Nowhere'"),
        ({"metrics": []}, "at least one is required"),
        ({"metrics": None}, "Missing required field 'metrics'"),
        ({"interval": "2024-09-01T00:00:00Z/2024-10-15T00:00:00Z"}, "the maximum is 31 days"),
    ],
)
def test_invalid_queries_are_400_with_a_message_naming_the_problem(
    sdk: Any, conversations: Any, overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(sdk.rest.ApiException) as caught:
        conversations.post_analytics_conversations_aggregates_query(query_body(sdk, **overrides))
    assert caught.value.status == 400
    error = _json(caught.value.body)
    assert error["code"] == "bad.request" and error["status"] == 400
    assert expected in error["message"]
    assert set(error) == {"message", "code", "status", "contextId", "details", "errors"}


def _predicate(**fields: str) -> dict[str, Any]:
    return {"type": "and", "predicates": [fields]}


@pytest.mark.parametrize(
    ("query_filter", "expected"),
    [
        (
            {**_predicate(dimension="queueId", value="x"), "type": "AND"},
            "Invalid filter type 'AND'",
        ),
        (_predicate(dimension="queue", value="x"), "Unknown dimension 'queue' in filter"),
        (
            _predicate(dimension="queueId", operator="equals", value="x"),
            "Invalid filter operator 'equals'",
        ),
        (_predicate(dimension="queueId"), "operator 'matches' needs a 'value'"),
        ({"type": "and"}, "at least one predicate or clause"),
        (
            {"type": "or", "clauses": [{"type": "and", "predicates": []}]},
            "clause: it needs at least one predicate",
        ),
    ],
)
def test_bad_filters_are_400(
    sdk: Any, conversations: Any, query_filter: dict[str, Any], expected: str
) -> None:
    body = {"interval": DAY, "metrics": ["nOffered"], "filter": query_filter}
    with pytest.raises(sdk.rest.ApiException) as caught:
        conversations.post_analytics_conversations_aggregates_query(body)
    assert caught.value.status == 400
    assert expected in _json(caught.value.body)["message"]


def test_valid_metric_without_data_in_this_org_is_simply_absent(
    sdk: Any, conversations: Any
) -> None:
    body = query_body(sdk, metrics=["tVoicemail", "nOffered"], granularity="P1D", group_by=[])
    response = conversations.post_analytics_conversations_aggregates_query(body)
    names = {m.metric for c in response.results for d in c.data for m in d.metrics}
    assert names == {"nOffered"}


# --- async jobs ----------------------------------------------------------------------------------


def test_job_flow_with_several_cursor_pages(
    sdk: Any, sim: Simulator, conversations: Any, raw: RawClient
) -> None:
    body = {
        "interval": DAY,
        "granularity": "PT30M",
        "groupBy": ["queueId", "mediaType"],
        "metrics": METRICS,
        "pageSize": 4,
    }
    job = conversations.post_analytics_conversations_aggregates_jobs(body)
    assert isinstance(job, sdk.AsyncQueryResponse) and job.job_id

    states = []
    while True:
        status = conversations.get_analytics_conversations_aggregates_job(job.job_id)
        states.append(status.state)
        if status.state == "FULFILLED":
            break
        assert status.state in ("QUEUED", "PENDING")
        assert status.completion_date is None
        time.sleep(0.05)
    assert states[0] == "QUEUED" and "PENDING" in states
    assert status.submission_date == NOW
    assert status.completion_date >= status.submission_date
    assert status.expiration_date > status.completion_date
    raw_status = raw.request("GET", f"/api/v2/analytics/conversations/aggregates/jobs/{job.job_id}")
    assert_known_fields(sdk, raw_status.json(), "AsyncQueryStatus")

    pages, cursor = [], None
    while True:
        page = conversations.get_analytics_conversations_aggregates_job_results(
            job.job_id, cursor=cursor
        )
        assert isinstance(page, sdk.ConversationAsyncAggregateQueryResponse)
        pages.append(page)
        if page.cursor is None:
            break
        assert len(page.results) == 4
        cursor = page.cursor
    assert len(pages) >= 3
    assert 1 <= len(pages[-1].results) <= 4

    path = f"/api/v2/analytics/conversations/aggregates/jobs/{job.job_id}/results"
    first_raw = raw.request("GET", path).json()
    assert_known_fields(sdk, first_raw, "ConversationAsyncAggregateQueryResponse")
    last_raw = raw.request("GET", f"{path}?cursor={pages[-2].cursor}").json()
    assert "cursor" not in last_raw

    sync_body = {k: v for k, v in body.items() if k != "pageSize"}
    sync = conversations.post_analytics_conversations_aggregates_query(sync_body)
    paged = [c.to_dict() for page in pages for c in page.results]
    assert paged == [c.to_dict() for c in sync.results]


def test_job_results_before_fulfilled_name_the_state(sdk: Any, conversations: Any) -> None:
    job = conversations.post_analytics_conversations_aggregates_jobs(
        {"interval": DAY, "metrics": ["nOffered"]}
    )
    with pytest.raises(sdk.rest.ApiException) as caught:
        conversations.get_analytics_conversations_aggregates_job_results(job.job_id)
    assert caught.value.status == 400
    assert "the job is QUEUED" in _json(caught.value.body)["message"]


def test_job_cancel_unknown_and_bad_cursor(sdk: Any, conversations: Any) -> None:
    job = conversations.post_analytics_conversations_aggregates_jobs(
        {"interval": DAY, "metrics": ["nOffered"], "groupBy": ["queueId"], "pageSize": 2}
    )
    conversations.delete_analytics_conversations_aggregates_job(job.job_id)
    status = conversations.get_analytics_conversations_aggregates_job(job.job_id)
    assert status.state == "CANCELLED"
    with pytest.raises(sdk.rest.ApiException) as caught:
        conversations.get_analytics_conversations_aggregates_job_results(job.job_id)
    assert caught.value.status == 400 and "CANCELLED" in _json(caught.value.body)["message"]

    unknown = "00000000-0000-4000-8000-000000000000"
    for call in (
        conversations.get_analytics_conversations_aggregates_job,
        conversations.get_analytics_conversations_aggregates_job_results,
        conversations.delete_analytics_conversations_aggregates_job,
    ):
        with pytest.raises(sdk.rest.ApiException) as caught:
            call(unknown)
        assert caught.value.status == 404
        assert _json(caught.value.body)["code"] == "not.found"

    other = conversations.post_analytics_conversations_aggregates_jobs(
        {"interval": DAY, "metrics": ["nOffered"], "groupBy": ["queueId"], "pageSize": 2}
    )
    _wait_fulfilled(conversations, other.job_id)
    for cursor in ("not-a-cursor", "Zm9vfDI"):  # garbage, and a well-formed cursor of "foo"
        with pytest.raises(sdk.rest.ApiException) as caught:
            conversations.get_analytics_conversations_aggregates_job_results(
                other.job_id, cursor=cursor
            )
        assert caught.value.status == 400
        assert "Invalid cursor" in _json(caught.value.body)["message"]


def test_job_with_no_data_has_one_empty_page(sdk: Any, conversations: Any, raw: RawClient) -> None:
    # A day after the simulator's "now": nothing has happened yet.
    body = {"interval": "2024-11-10T00:00:00Z/2024-11-11T00:00:00Z", "metrics": ["nOffered"]}
    job = conversations.post_analytics_conversations_aggregates_jobs(body)
    _wait_fulfilled(conversations, job.job_id)
    page = raw.request(
        "GET", f"/api/v2/analytics/conversations/aggregates/jobs/{job.job_id}/results"
    )
    assert page.status == 200
    assert page.json() == {"results": []}


def test_job_body_is_validated_like_the_sync_query(sdk: Any, conversations: Any) -> None:
    for body, expected in (
        ({"interval": DAY, "metrics": ["nOfered"]}, "did you mean 'nOffered'"),
        ({"interval": DAY, "metrics": ["nOffered"], "pageSize": 0}, "Invalid pageSize"),
    ):
        with pytest.raises(sdk.rest.ApiException) as caught:
            conversations.post_analytics_conversations_aggregates_jobs(body)
        assert caught.value.status == 400
        assert expected in _json(caught.value.body)["message"]


def test_job_expires_after_its_time_to_live(sdk: Any) -> None:
    config = SimulatorConfig(
        queues=2, agents=4, conversations_per_day=100, now=NOW, job_delay_s=0.0, job_ttl_s=0.4
    )
    with Simulator(config) as short_lived:
        api = sdk.ConversationsApi(api_client(sdk, short_lived))
        job = api.post_analytics_conversations_aggregates_jobs(
            {"interval": DAY, "metrics": ["nOffered"]}
        )
        _wait_fulfilled(api, job.job_id)
        time.sleep(0.5)
        status = api.get_analytics_conversations_aggregates_job(job.job_id)
        assert status.state == "EXPIRED"
        assert status.expiration_date == NOW + timedelta(seconds=0.4)
        with pytest.raises(sdk.rest.ApiException) as caught:
            api.get_analytics_conversations_aggregates_job_results(job.job_id)
        assert caught.value.status == 400 and "EXPIRED" in _json(caught.value.body)["message"]


def _wait_fulfilled(conversations: Any, job_id: str) -> None:
    deadline = time.monotonic() + 10
    while conversations.get_analytics_conversations_aggregates_job(job_id).state != "FULFILLED":
        assert time.monotonic() < deadline, "job never fulfilled"
        time.sleep(0.05)


# --- queues, availability ------------------------------------------------------------------------


def test_routing_queues_page_by_name(sdk: Any, sim: Simulator, raw: RawClient) -> None:
    routing = sdk.RoutingApi(api_client(sdk, sim))
    seen = []
    page_number = 1
    while True:
        page = routing.get_routing_queues(page_size=3, page_number=page_number)
        assert page.total == len(sim.org.queues) == 8
        assert page.page_count == 3 and page.page_size == 3 and page.page_number == page_number
        assert page.first_uri == "/api/v2/routing/queues?pageSize=3&pageNumber=1"
        assert page.last_uri == "/api/v2/routing/queues?pageSize=3&pageNumber=3"
        assert (page.previous_uri is None) == (page_number == 1)
        seen.extend(page.entities)
        if page.next_uri is None:
            break
        assert page.next_uri == f"/api/v2/routing/queues?pageSize=3&pageNumber={page_number + 1}"
        page_number += 1
    assert page_number == 3
    names = [q.name for q in seen]
    assert names == sorted(names, key=str.lower)
    by_id = {q.id: q for q in sim.org.queues}
    for queue in seen:
        org_queue = by_id[queue.id]
        assert queue.name == org_queue.name
        assert queue.division.id == org_queue.division_id
        assert queue.member_count == len(org_queue.member_indexes)
        assert 1 <= queue.joined_member_count <= queue.member_count
        assert queue.self_uri == f"/api/v2/routing/queues/{queue.id}"

    first = raw.request("GET", "/api/v2/routing/queues?pageSize=3&pageNumber=1").json()
    assert_known_fields(sdk, first, "QueueEntityListing")
    default = raw.request("GET", "/api/v2/routing/queues").json()
    assert default["pageSize"] == 25 and len(default["entities"]) == 8
    assert "nextUri" not in default
    too_big = raw.request("GET", "/api/v2/routing/queues?pageSize=501")
    assert too_big.status == 400


def test_data_availability_follows_now(sdk: Any, sim: Simulator) -> None:
    analytics = sdk.AnalyticsApi(api_client(sdk, sim, *DETAILS_CLIENT))
    answer = analytics.get_analytics_conversations_details_jobs_availability()
    assert answer.data_availability_date == NOW - timedelta(hours=1)
    raw = RawClient(sim.base_url, *DETAILS_CLIENT)
    raw.login()
    body = raw.request("GET", "/api/v2/analytics/conversations/details/jobs/availability").json()
    assert body == {"dataAvailabilityDate": "2024-11-06T11:00:00.000Z"}
    sim.set_now(datetime(2024, 11, 6, 12, 34, 56, 789000, tzinfo=UTC))
    try:
        body = raw.request("GET", "/api/v2/analytics/conversations/details/jobs/availability")
        assert body.json() == {"dataAvailabilityDate": "2024-11-06T11:34:00.000Z"}
    finally:
        sim.set_now(NOW)


# --- auth ----------------------------------------------------------------------------------------


def test_wrong_credentials_are_401(sdk: Any, sim: Simulator) -> None:
    with pytest.raises(sdk.rest.ApiException) as caught:
        api_client(sdk, sim, sim.client_id, "wrong-secret")
    assert caught.value.status == 401
    assert _json(caught.value.body)["code"] == "bad.credentials"
    with pytest.raises(sdk.rest.ApiException) as caught:
        api_client(sdk, sim, "nobody", "nothing")
    assert caught.value.status == 401


def test_token_answer_shape(sim: Simulator) -> None:
    answer = RawClient(sim.base_url, sim.client_id, sim.client_secret).token_request()
    assert answer.status == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 86400


def test_unknown_and_invalidated_tokens_are_401(sdk: Any, sim: Simulator) -> None:
    client = sdk.ApiClient(host=sim.base_url)
    client.access_token = "made-up"
    with pytest.raises(sdk.rest.ApiException) as caught:
        sdk.RoutingApi(client).get_routing_queues()
    assert caught.value.status == 401

    config = SimulatorConfig(queues=2, agents=4, conversations_per_day=100, now=NOW)
    with Simulator(config) as own:
        routing = sdk.RoutingApi(api_client(sdk, own))
        assert routing.get_routing_queues().total == 2
        own.invalidate_tokens()
        with pytest.raises(sdk.rest.ApiException) as caught:
            routing.get_routing_queues()
        assert caught.value.status == 401
        assert _json(caught.value.body)["code"] == "bad.credentials"


def test_expired_token_is_401(sdk: Any) -> None:
    config = SimulatorConfig(queues=2, agents=4, conversations_per_day=100, token_ttl_s=0.3)
    with Simulator(config) as own:
        routing = sdk.RoutingApi(api_client(sdk, own))
        assert routing.get_routing_queues().total == 2
        time.sleep(0.4)
        with pytest.raises(sdk.rest.ApiException) as caught:
            routing.get_routing_queues()
        assert caught.value.status == 401


def test_client_without_analytics_permission_is_403(sdk: Any, sim: Simulator) -> None:
    client = api_client(sdk, sim, "reporting-reader", "reader-secret")
    with pytest.raises(sdk.rest.ApiException) as caught:
        sdk.ConversationsApi(client).post_analytics_conversations_aggregates_query(query_body(sdk))
    assert caught.value.status == 403
    error = _json(caught.value.body)
    assert error["code"] == "missing.permissions"
    assert "analytics:conversationAggregate:view" in error["message"]
    # Listing queues needs another permission, which this client has.
    assert sdk.RoutingApi(client).get_routing_queues().total == 8


def test_throttled_sdk_call_without_retry_after_raises_429(sdk: Any) -> None:
    config = SimulatorConfig(
        queues=2,
        agents=4,
        conversations_per_day=100,
        now=NOW,
        rate_limit_per_minute=2,
        send_retry_after=False,
    )
    with Simulator(config) as own:
        routing = sdk.RoutingApi(api_client(sdk, own))
        routing.get_routing_queues()
        routing.get_routing_queues()
        with pytest.raises(sdk.rest.ApiException) as caught:
            routing.get_routing_queues()
        assert caught.value.status == 429
        error = _json(caught.value.body)
        assert error["code"] == "too.many.requests"
        assert re.fullmatch(
            r"Rate limit exceeded the maximum\. Retry the request in \[\d+\] seconds",
            error["message"],
        )
        assert own.stats()["throttled"] == 1


def test_unknown_path_is_404_in_genesys_form(raw: RawClient) -> None:
    answer = raw.request("GET", "/api/v2/analytics/conversations/aggregates/nothing")
    assert answer.status == 404
    assert answer.json()["code"] == "not.found"
    answer = raw.request("GET", "/favicon.ico", auth=False)
    assert answer.status == 404 and answer.json()["status"] == 404


def _json(body: str | bytes) -> dict[str, Any]:
    import json

    return json.loads(body)


# --- answer shape: implicit mediaType, multivalued dimensions --------------------------------


def test_groups_carry_media_type_through_the_sdk_too(sdk: Any, conversations: Any) -> None:
    body = query_body(sdk, granularity="P1D", group_by=["queueId"])
    response = conversations.post_analytics_conversations_aggregates_query(body)
    assert response.results
    assert all(set(c.group) == {"queueId", "mediaType"} for c in response.results)


def test_sdk_models_take_flattened_skills_but_mangle_arrays(
    sdk: Any, sim: Simulator, conversations: Any, raw: RawClient
) -> None:
    # The SDK types a group as dict(str, str): an array arrives as its Python repr. That is why
    # the client always sends flattenMultivaluedDimensions.
    body = {
        "interval": DAY,
        "groupBy": ["requestedRoutingSkillId"],
        "metrics": ["nOffered"],
        "flattenMultivaluedDimensions": True,
    }
    flat = raw.query(body)
    assert_known_fields(sdk, flat, "ConversationAggregateQueryResponse")
    typed = conversations.post_analytics_conversations_aggregates_query(body)
    assert [c.group for c in typed.results] == [c["group"] for c in flat["results"]]
    assert any("," in c.group.get("requestedRoutingSkillId", "") for c in typed.results)

    unflattened = {**body, "flattenMultivaluedDimensions": False}
    arrays = raw.query(unflattened)
    typed = conversations.post_analytics_conversations_aggregates_query(unflattened)
    pairs = [
        (t.group.get("requestedRoutingSkillId"), r["group"].get("requestedRoutingSkillId"))
        for t, r in zip(typed.results, arrays["results"], strict=True)
    ]
    mangled = [(t, r) for t, r in pairs if isinstance(r, list)]
    assert mangled and all(t == str(r) for t, r in mangled)


def test_a_client_that_hangs_up_before_its_answer_is_not_an_error_of_the_simulator(
    start_simulator: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A step killed or timed out mid-request leaves the simulator writing to a closed socket;
    the real API does not complain to anyone about it, and neither does the simulator (a
    traceback in the test log would read as a failure)."""
    import socket
    import struct

    sim = start_simulator(latency_ms=300.0)
    for _ in range(3):
        conn = socket.create_connection(("127.0.0.1", sim.port))
        conn.sendall(b"GET /api/v2/no/such/route HTTP/1.1\r\nHost: x\r\n\r\n")
        # Reset, not a graceful close: the simulator's answer 300 ms later meets a dead peer.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    time.sleep(0.8)
    assert sum(sim.stats()["requests"].values()) == 3  # it took each and tried to answer
    assert "Traceback" not in capfd.readouterr().err
