"""User aggregates as a kind of dataset: the query, the client through the real SDK, the flattener.

The client fetches a status dataset the way it fetches conversation aggregates (synchronous
queries or async jobs, chunks, sizing), from the user aggregates endpoints; the long table
keeps each status in `qualifier`; an answer of another shape is an error that names it.
"""

import json
from datetime import UTC, date, datetime

import pyarrow.compute as pc
import pytest

from genesys_assets import datasets
from genesys_assets.flatten import FlattenError, PageInput, flatten_pages
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.catalog import PERMISSION_AGGREGATES, USER_METRICS
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.errors import GenesysPermissionError
from genesys_assets.genesys.query import AggregateQuery, QueryError

from .test_client import entries

STATUS = AggregateQuery(
    metrics=USER_METRICS,
    group_by=("userId",),
    granularity="PT30M",
    time_zone="America/New_York",
    kind="users",
)
DAYS = [date(2024, 11, 4), date(2024, 11, 5), date(2024, 11, 6)]
NOW = datetime(2024, 11, 10, tzinfo=UTC)


def client_for(simulator, client_id=None, secret=None, **settings) -> GenesysClient:
    defaults = {"backoff_base_s": 0.05, "max_retry_wait_s": 2.0, "job_poll_initial_s": 0.05}
    return GenesysClient(
        simulator.base_url,
        ClientCredentials(client_id or simulator.client_id, secret or simulator.client_secret),
        ClientSettings(**{**defaults, **settings}),
    )


def routes(simulator, fragment: str) -> int:
    return sum(
        n for route, n in simulator.stats()["requests_by_route"].items() if fragment in route
    )


def test_a_status_dataset_goes_to_the_user_aggregates_and_jobs_answer_what_sync_does(
    start_simulator,
):
    simulator = start_simulator(now=NOW)
    with client_for(simulator, mode="sync") as client:
        sync = list(client.fetch_days(STATUS, DAYS))
    with client_for(simulator, mode="jobs", job_page_size=5, chunk_days=2) as client:
        jobs = list(client.fetch_days(STATUS, DAYS))
    assert [f.mode for f in sync] == ["sync"] and {f.mode for f in jobs} == {"jobs"}
    assert sum(len(f.pages) for f in jobs) > 2, "the jobs answered over several pages"
    assert entries(sync) == entries(jobs) and len(entries(sync)) > 1000
    assert routes(simulator, "/users/aggregates/query") >= 1
    assert routes(simulator, "/users/aggregates/jobs") >= 2
    assert routes(simulator, "/conversations/aggregates") == 0
    body = json.loads(sync[0].pages[0].body)
    assert sync[0].request["metrics"] == list(USER_METRICS)
    assert "systemToOrganizationMappings" in body


def test_the_pages_flatten_to_one_row_per_status_with_the_status_in_qualifier(start_simulator):
    simulator = start_simulator(now=NOW)
    with client_for(simulator, mode="sync") as client:
        [fetch] = client.fetch_days(STATUS, DAYS)
    pages = [PageInput(p.body, f"page-{p.number}") for p in fetch.pages]
    flattened = flatten_pages(pages, STATUS.group_by, STATUS.time_zone, NOW, STATUS.metrics)
    table = flattened.table
    assert table.num_rows == flattened.metric_entries == fetch.metric_entries
    assert flattened.unknown_fields == () and flattened.extra_dimensions == ()
    assert table.column("qualifier").null_count == 0
    assert set(pc.unique(table.column("metric")).to_pylist()) == set(USER_METRICS)
    routing = table.filter(pc.equal(table.column("metric"), "tAgentRoutingStatus"))
    assert "INTERACTING" in routing.column("qualifier").to_pylist()
    assert table.column("stat_count").null_count == table.num_rows, "time in status has a sum"
    assert table.column("stat_sum").null_count == 0
    # The compact page (mappings before the results) parses as the whole document would.
    pretty = [
        PageInput(json.dumps(json.loads(p.body), indent=1).encode(), p.source_file) for p in pages
    ]
    again = flatten_pages(pretty, STATUS.group_by, STATUS.time_zone, NOW, STATUS.metrics)
    assert again.table.equals(table)
    days = flattened.split_days(DAYS)
    assert all(days[d].num_rows for d in DAYS)


def test_a_status_entry_without_its_status_or_its_sum_is_an_error_naming_it():
    page = {
        "systemToOrganizationMappings": {"ON_QUEUE": ["x"]},
        "results": [
            {
                "group": {"userId": "u1"},
                "data": [
                    {
                        "interval": "2024-11-05T14:00:00.000Z/2024-11-05T14:30:00.000Z",
                        "metrics": [
                            {
                                "metric": "tAgentRoutingStatus",
                                "qualifier": "IDLE",
                                "stats": {"sum": 5},
                            },
                            {"metric": "tSystemPresence", "stats": {"sum": 5}},
                        ],
                    }
                ],
            }
        ],
    }
    args = (("userId",), "America/New_York", NOW, USER_METRICS)
    with pytest.raises(FlattenError, match=r"no qualifier.*tSystemPresence.*2024-11-05T14:00"):
        flatten_pages([PageInput(json.dumps(page).encode(), "p1")], *args)
    entry = page["results"][0]["data"][0]["metrics"][1]
    entry["qualifier"] = "ON_QUEUE"
    entry["stats"] = {"count": 1}
    with pytest.raises(FlattenError, match=r"tSystemPresence \(timer\).*missing sum"):
        flatten_pages([PageInput(json.dumps(page).encode(), "p1")], *args)


def test_a_client_without_the_user_aggregates_permission_is_told_which_one(start_simulator):
    simulator = start_simulator(
        now=NOW, extra_clients=(("convs", "convs-secret", (PERMISSION_AGGREGATES,)),)
    )
    with (
        client_for(simulator, "convs", "convs-secret", mode="sync") as client,
        pytest.raises(GenesysPermissionError, match="analytics:userAggregate:view"),
    ):
        list(client.fetch_days(STATUS, DAYS[:1]))


def test_the_datasets_file_declares_a_status_dataset_by_kind(tmp_path):
    config = datasets.load()
    status = config.get("agent_status")
    assert status.kind == "users" and set(status.metrics) == set(USER_METRICS)
    path = tmp_path / "datasets.yaml"
    body = (
        "org: {time_zone: UTC, start_date: 2024-01-01}\n"
        "datasets:\n  s:\n    kind: users\n    group_by: [userId]\n    metrics: [{metric}]\n"
    )
    path.write_text(body.replace("{metric}", "tHandle"))
    with pytest.raises(
        datasets.DatasetFileError,
        match=r"datasets.s.metrics\[0\]: 'tHandle' is a metric of conversations",
    ):
        datasets.load(path)
    path.write_text(body.replace("{metric}", "tSystemPresence").replace("[userId]", "[queueId]"))
    with pytest.raises(
        datasets.DatasetFileError, match=r"datasets.s.group_by\[0\]: 'queueId'.*takes userId"
    ):
        datasets.load(path)
    path.write_text(
        body.replace("{metric}", "tSystemPresence").replace("kind: users", "kind: user")
    )
    with pytest.raises(
        datasets.DatasetFileError,
        match=r"datasets.s.kind: unknown kind 'user'.*did you mean 'users'",
    ):
        datasets.load(path)
    with pytest.raises(QueryError, match="'tSystemPresence' is a metric of users aggregates"):
        AggregateQuery(metrics=("tSystemPresence",))
