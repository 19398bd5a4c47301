"""Two orgs in the production deployment: backfills launched through the webserver, run by the
daemon through the queue, each org's fetches held to its pool, every org's days equal to its
own Genesys' totals.

The stack is deploy/dagster.yaml in PostgreSQL with a code server, the daemon and the webserver
(genesys_assets_tests/deployment.py); Genesys is one simulated region serving both orgs, reached
as real orgs are (each org's credentials in its own variables, the region's URL as the orgs'
`api_host`), into the local stage and DuckDB.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus

from genesys_assets.simulator import SimulatedRegion, SimulatorConfig

from .deployment import (
    DagsterStack,
    dagster_stack,
    step_windows,
    steps_in_pool,
    wait_for,
    wait_for_runs,
)
from .raw_http import RawClient

pytestmark = pytest.mark.deployment

DAYS = [date(2024, 11, 1) + timedelta(days=n) for n in range(3)]
EXTRA_DAY = date(2024, 11, 5)  # a second run of one org, to contend for its pool
# (id, time zone, seed, fetch slots): emea's fetches go one at a time, amer's two at a time.
ORGS = (("emea", "Europe/Berlin", 3, 1), ("amer", "America/Chicago", 5, 2))
DATASETS: dict[str, dict[str, Any]] = {
    "queue_performance": {
        "group_by": ["queueId", "mediaType"],
        "metrics": ["nOffered", "tAnswered", "tAbandon", "tHandle"],
    },
    "agent_status": {
        "kind": "users",
        "group_by": ["userId"],
        "metrics": ["tAgentRoutingStatus", "tSystemPresence"],
    },
}


@dataclass
class Deployed:
    stack: DagsterStack
    region: SimulatedRegion
    instance: DagsterInstance
    backfills: dict[str, str]  # org -> backfill id
    backfill_runs: dict[str, list[str]]  # org -> its runs
    contending: str  # the second run of emea


def datasets_file(path: Path, region_url: str) -> Path:
    import yaml

    orgs = {
        org: {
            "time_zone": zone,
            "start_date": "2024-01-01",
            "api_host": region_url,
            "credentials": {
                "client_id": f"GENESYS_{org.upper()}_CLIENT_ID",
                "client_secret": f"GENESYS_{org.upper()}_CLIENT_SECRET",
            },
            "fetch_slots": slots,
        }
        for org, zone, _, slots in ORGS
    }
    path.write_text(yaml.safe_dump({"orgs": orgs, "datasets": DATASETS}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    configs = [
        (
            org,
            SimulatorConfig(
                seed=seed,
                time_zone=zone,
                queues=4,
                agents=12,
                conversations_per_day=400,
                client_id=f"{org}-client",
                client_secret=f"{org}-secret",
                job_delay_s=0.2,
            ),
        )
        for org, zone, seed, _ in ORGS
    ]
    with SimulatedRegion(configs) as region:
        env = {"GENESYS_ASSETS_DEPLOYMENT": "local"}
        for org, _, _, _ in ORGS:
            served = region.org(org)
            env[f"GENESYS_{org.upper()}_CLIENT_ID"] = served.client_id
            env[f"GENESYS_{org.upper()}_CLIENT_SECRET"] = served.client_secret
        path = datasets_file(tmp_path_factory.mktemp("orgs") / "datasets.yaml", region.base_url)
        with (
            dagster_stack(env=env, datasets_file=path, daemon_interval_s=2) as stack,
            pytest.MonkeyPatch.context() as patch,
        ):
            for name, value in stack.instance_env.items():
                patch.setenv(name, value)
            with DagsterInstance.get() as instance:
                yield _launch(stack, region, instance)


def _launch(stack: DagsterStack, region: SimulatedRegion, instance: DagsterInstance) -> Deployed:
    """One backfill per org over the days (as the UI's "Launch backfill" does), and while they
    run a second run of emea for another day: three runs in the queue at once."""
    backfills = {}
    for org, _, _, _ in ORGS:
        backfills[org] = stack.launch_backfill(
            [
                [org, f"{name}{suffix}"]
                for name in DATASETS
                for suffix in ("_raw_pages", "_parquet", "")
            ],
            [d.isoformat() for d in DAYS],
            {"genesys/org": org},
        )
    contending = stack.submit(
        "emea__queue_performance_job",
        {"dagster/partition": EXTRA_DAY.isoformat(), "genesys/org": "emea"},
    )

    def finished(backfill_id: str) -> bool:
        backfill = instance.get_backfill(backfill_id)
        return backfill is not None and backfill.status in (
            BulkActionStatus.COMPLETED_SUCCESS,
            BulkActionStatus.COMPLETED_FAILED,
            BulkActionStatus.FAILED,
            BulkActionStatus.COMPLETED,
            BulkActionStatus.CANCELED,
        )

    for backfill_id in backfills.values():
        wait_for(partial(_done_or_none, finished, backfill_id), 420, f"backfill {backfill_id}")
    runs = {
        org: [r.run_id for r in instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))]
        for org, backfill_id in backfills.items()
    }
    wait_for_runs(instance, [*itertools.chain(*runs.values()), contending], timeout=300)
    return Deployed(stack, region, instance, backfills, runs, contending)


@pytest.mark.timeout(600)
def test_a_backfill_of_each_org_runs_through_the_queue_and_every_run_finishes(
    deployed: Deployed,
) -> None:
    instance = deployed.instance
    for org, backfill_id in deployed.backfills.items():
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None and backfill.status == BulkActionStatus.COMPLETED_SUCCESS
        runs = deployed.backfill_runs[org]
        # The single-run backfill policy: the org's days in one run, its own tag on it.
        assert len(runs) == 1, runs
        run = instance.get_run_by_id(runs[0])
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert run.tags["genesys/org"] == org
        assert (
            run.tags["dagster/asset_partition_range_start"],
            run.tags["dagster/asset_partition_range_end"],
        ) == (DAYS[0].isoformat(), DAYS[-1].isoformat())
    contending = instance.get_run_by_id(deployed.contending)
    assert contending is not None and contending.status == DagsterRunStatus.SUCCESS
    # Their records are in PostgreSQL, read with queries of our own.
    stack = deployed.stack
    tagged = stack.pg.query(
        stack.database,
        "SELECT value, count(*) FROM run_tags WHERE key = 'genesys/org' GROUP BY value",
    )
    assert dict(tagged) == {"emea": 2, "amer": 1}
    [(backfills,)] = stack.pg.query(stack.database, "SELECT count(*) FROM bulk_actions")
    assert backfills == 2


def test_no_org_fetches_more_at_once_than_its_pool_allows(deployed: Deployed) -> None:
    instance = deployed.instance
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    runs = {
        "emea": [*deployed.backfill_runs["emea"], deployed.contending],
        "amer": deployed.backfill_runs["amer"],
    }
    for org, run_ids in runs.items():
        for run_id in run_ids:
            windows = step_windows(instance, run_id)
            for step in steps_in_pool(instance, run_id, f"genesys_api_{org}"):
                start, end = windows[step]
                assert end is not None
                spans[org].append((start, end))
    assert len(spans["emea"]) == 3 and len(spans["amer"]) == 2
    for org, _, _, slots in ORGS:
        # The most fetch steps of the org in progress at any moment.
        most = max(sum(s <= t < e for s, e in spans[org]) for t, _ in spans[org])
        assert most <= slots, (org, most)
    emea = sorted(spans["emea"])
    # emea's three fetches (two datasets in the backfill run, one in the other run) queued for
    # its one slot, one after another.
    for (_, end), (start, _) in itertools.pairwise(emea):
        assert end <= start


def test_every_orgs_days_in_the_warehouse_equal_its_own_genesys_totals(deployed: Deployed) -> None:
    warehouse = Path(deployed.stack.env["GENESYS_ASSETS_HOME"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        queues = con.execute(
            "SELECT org, partition_date, metric, sum(stat_count) FROM genesys.queue_performance "
            "GROUP BY 1, 2, 3"
        ).fetchall()
        statuses = con.execute(
            "SELECT org, partition_date, metric, qualifier, sum(stat_sum) "
            "FROM genesys.agent_status GROUP BY 1, 2, 3, 4"
        ).fetchall()
    ours_queues = {(o, d, m): int(n) for o, d, m, n in queues}
    ours_status = {(o, d, f"{m}[{q}]"): int(n) for o, d, m, q, n in statuses}
    for org, zone, _, _ in ORGS:
        served = deployed.region.org(org)
        client = RawClient(deployed.region.base_url, served.client_id, served.client_secret)
        client.login()
        for day in [*DAYS, *([EXTRA_DAY] if org == "emea" else [])]:
            theirs = _day_totals(client, zone, day, "conversations", DATASETS["queue_performance"])
            mine = {m: n for (o, d, m), n in ours_queues.items() if o == org and d == day}
            assert mine == theirs and mine, (org, day)
        for day in DAYS:
            theirs = _day_totals(client, zone, day, "users", DATASETS["agent_status"])
            mine = {m: n for (o, d, m), n in ours_status.items() if o == org and d == day}
            assert mine == theirs and mine, (org, day)


def _done_or_none(finished: Callable[[str], bool], backfill_id: str) -> bool | None:
    return finished(backfill_id) or None


def _day_totals(
    client: RawClient, zone: str, day: date, kind: str, dataset: dict[str, Any]
) -> dict[str, int]:
    """The org's own totals of a local day, by metric (and status), no group-by."""
    start = datetime.combine(day, datetime.min.time(), ZoneInfo(zone))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(zone))
    answer = client.query(
        {
            "interval": f"{start.isoformat()}/{end.isoformat()}",
            "granularity": "P1D",
            "timeZone": zone,
            "metrics": dataset["metrics"],
        },
        kind=kind,
    )
    totals: dict[str, int] = defaultdict(int)
    for result in answer["results"]:
        for bucket in result["data"]:
            for entry in bucket["metrics"]:
                name = entry["metric"]
                if "qualifier" in entry:
                    totals[f"{name}[{entry['qualifier']}]"] += entry["stats"]["sum"]
                else:
                    totals[name] += entry["stats"]["count"]
    return dict(totals)
