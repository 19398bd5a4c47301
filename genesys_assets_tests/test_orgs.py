"""Several orgs in one project: the datasets file, the definitions, and two orgs loaded side by
side into the same tables, over HTTP from one simulated region (each org its own client, time
zone and size), on the embedded defaults.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from genesys_assets import datasets
from genesys_assets.datasets import DatasetFileError
from genesys_assets.definitions import build_definitions
from genesys_assets.pipeline.environment import SettingsError, resources
from genesys_assets.simulator import SimulatedRegion

from .raw_http import RawClient
from .run_events import check_evaluations

DAY = date(2024, 11, 1)
ORGS = """
orgs:
  emea:
    time_zone: Europe/Berlin
    start_date: 2024-01-01
    region: mypurecloud.de
    credentials: {client_id: GENESYS_EMEA_CLIENT_ID, client_secret: GENESYS_EMEA_CLIENT_SECRET}
    fetch_slots: 2
    simulator: {seed: 3, agents: 16, queues: 5, conversations_per_day: 600}
  amer:
    time_zone: America/Chicago
    start_date: 2024-06-01
    api_host: https://api.usw2.pure.cloud
    credentials: {client_id: GENESYS_AMER_CLIENT_ID, client_secret: GENESYS_AMER_CLIENT_SECRET}
    simulator: {seed: 5, agents: 10, queues: 3, conversations_per_day: 300}
"""
DATASETS = """
datasets:
  queue_performance:
    group_by: [queueId, mediaType]
    metrics: [nOffered, tAnswered, tAbandon, tHandle, oServiceLevel]
  agent_performance:
    group_by: [userId, queueId, mediaType]
    metrics: [tAnswered, tHandle, tTalk, tAcw, tHeld, nTransferred]
    filter: {type: and, predicates: [{dimension: userId, operator: exists}]}
  agent_status:
    kind: users
    group_by: [userId]
    metrics: [tAgentRoutingStatus, tSystemPresence, tOrganizationPresence]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def two_orgs(tmp_path, clean_env, monkeypatch) -> datasets.DatasetsFile:
    path = write(tmp_path, ORGS + DATASETS)
    monkeypatch.setenv("GENESYS_DATASETS_FILE", str(path))
    return datasets.load()


# -- the datasets file ----------------------------------------------------------------------


def test_each_org_has_its_calendar_connection_and_datasets(two_orgs):
    emea, amer = two_orgs.orgs
    assert (emea.id, emea.time_zone, emea.region, emea.fetch_slots) == (
        "emea",
        "Europe/Berlin",
        "mypurecloud.de",
        2,
    )
    assert (amer.api_host, amer.start_date, amer.fetch_slots) == (
        "https://api.usw2.pure.cloud",
        date(2024, 6, 1),
        None,
    )
    assert amer.client_secret_env == "GENESYS_AMER_CLIENT_SECRET" and amer.prefixed
    assert [d.label for d in two_orgs.datasets] == [
        "emea/queue_performance",
        "emea/agent_performance",
        "emea/agent_status",
        "amer/queue_performance",
        "amer/agent_performance",
        "amer/agent_status",
    ]
    assert two_orgs.get("agent_status", "amer").query.time_zone == "America/Chicago"
    assert two_orgs.get("agent_status", "emea").query.kind == "users"


def test_a_one_org_file_stays_as_it_was():
    config = datasets.load(datasets.DEFAULT_FILE)
    [org] = config.orgs
    assert (org.id, org.prefixed, org.client_id_env) == ("default", False, "GENESYS_CLIENT_ID")
    assert [d.label for d in config.datasets] == [d.name for d in config.datasets]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace(
                "orgs:\n", "org: {time_zone: UTC, start_date: 2024-01-01}\norgs:\n"
            ),
            "orgs: declare either 'org' (one org) or 'orgs' (several by id), not both",
        ),
        (
            lambda t: t.replace("  amer:", "  Amer:"),
            "orgs.Amer: an org id must be lower_snake_case",
        ),
        (
            lambda t: t.replace("    api_host: https://api.usw2.pure.cloud\n", ""),
            "orgs.amer: give the org's 'region' (e.g. mypurecloud.de) or its 'api_host'",
        ),
        (
            lambda t: t.replace("GENESYS_AMER_CLIENT_SECRET}", "hunter2}"),
            "orgs.amer.credentials.client_secret: the name of the environment variable",
        ),
        (
            lambda t: t.replace("GENESYS_AMER_CLIENT_ID", "GENESYS_EMEA_CLIENT_ID").replace(
                "GENESYS_AMER_CLIENT_SECRET", "GENESYS_EMEA_CLIENT_SECRET"
            ),
            "orgs.amer.credentials: the same variables as org 'emea'",
        ),
        (lambda t: t.replace("fetch_slots: 2", "fetch_slots: 0"), "orgs.emea.fetch_slots: must be"),
        (
            lambda t: t.replace("seed: 5,", "sead: 5,"),
            "orgs.amer.simulator.sead: unknown field (did you mean 'seed'?)",
        ),
    ],
)
def test_a_wrong_org_is_named_with_its_field(tmp_path, edit, expected):
    with pytest.raises(DatasetFileError) as caught:
        datasets.load(write(tmp_path, edit(ORGS + DATASETS)))
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value), "a value pasted as a variable name is not echoed"


def test_production_names_each_orgs_missing_variables(two_orgs, monkeypatch):
    monkeypatch.setenv("GENESYS_EMEA_CLIENT_ID", "x")
    with pytest.raises(SettingsError) as caught:
        resources(orgs=two_orgs.orgs)
    text = str(caught.value)
    for name in ("GENESYS_EMEA_CLIENT_SECRET", "GENESYS_AMER_CLIENT_ID", "S3_BUCKET"):
        assert name in text


# -- the definitions ------------------------------------------------------------------------


def test_every_org_gets_its_own_keys_partitions_jobs_pool_and_automation(two_orgs):
    defs = build_definitions(two_orgs)
    repository = defs.get_repository_def()
    keys = {k.to_user_string() for k in repository.asset_graph.get_all_asset_keys()}
    for org in ("emea", "amer"):
        assert {
            f"{org}/queue_performance_raw_pages",
            f"{org}/queue_performance_parquet",
            f"{org}/queue_performance",
            f"{org}/agent_status",
            f"{org}/genesys_users",
            f"{org}/genesys_presences",
        } <= keys
    assert {"kpi_queue_day", "kpi_agent_day"} <= keys, "one view over every org's rows"
    jobs = {job.name for job in defs.jobs or []}
    assert {"emea__genesys_job", "amer__genesys_job", "emea__genesys_checks_job"} <= jobs
    assert {"amer__agent_status_job"} <= jobs and "genesys_job" not in jobs
    emea_job = defs.resolve_job_def("emea__genesys_job")
    assert emea_job.tags["genesys/org"] == "emea"
    assert emea_job.partitions_def is not None
    assert emea_job.partitions_def.timezone == "Europe/Berlin"
    amer_job = defs.resolve_job_def("amer__genesys_job")
    assert amer_job.partitions_def.get_first_partition_key() == "2024-06-01"
    fetch = repository.assets_defs_by_key[AssetKey(["emea", "queue_performance_raw_pages"])]
    assert fetch.op.pool == "genesys_api_emea"
    sensors = {s.name for s in defs.sensors or []}
    schedules = {s.name for s in defs.schedules or []}
    assert sensors == {
        "emea__genesys_settling",
        "amer__genesys_settling",
        "genesys_run_failure_alerts",  # one each, watching every org's runs and checks
        "genesys_check_alerts",
    }
    assert "amer__queue_performance_daily_refresh" in schedules


# -- two orgs, one table --------------------------------------------------------------------


def totals(client: RawClient, zone: str, kind: str, group_by: list[str], metrics: list[str]) -> Any:
    """The org's own totals of DAY (P1D) by `group_by`: {key: {metric: count or sum}}."""
    from zoneinfo import ZoneInfo

    start = date(2024, 11, 1)
    first = start.isoformat() + "T00:00:00"
    offset = ZoneInfo(zone).utcoffset(__import__("datetime").datetime(2024, 11, 1, 12))
    hours = int(offset.total_seconds() // 3600) if offset else 0
    tz = f"{hours:+03d}:00"
    interval = f"{first}{tz}/2024-11-02T00:00:00{tz}"
    answer = client.query(
        {
            "interval": interval,
            "granularity": "P1D",
            "timeZone": zone,
            "groupBy": group_by,
            "metrics": metrics,
        },
        kind=kind,
    )
    out: dict[Any, dict[str, float]] = {}
    for result in answer["results"]:
        key = tuple(result.get("group", {}).get(d) for d in group_by)
        for bucket in result["data"]:
            for entry in bucket["metrics"]:
                stats = entry["stats"]
                name = entry["metric"] + (f"[{entry['qualifier']}]" if "qualifier" in entry else "")
                value = stats.get("count", stats.get("sum", 0))
                out.setdefault(key, {})[name] = out.get(key, {}).get(name, 0) + value
    return out


def test_two_orgs_load_side_by_side_into_one_table_each_with_its_own_totals(two_orgs, clean_env):
    defs = build_definitions(two_orgs)
    instance = DagsterInstance.ephemeral()
    results = {}
    for org in ("emea", "amer"):
        results[org] = defs.resolve_job_def(f"{org}__genesys_job").execute_in_process(
            partition_key=DAY.isoformat(), instance=instance, raise_on_error=False
        )
        assert results[org].success, org
        found = check_evaluations(results[org])
        assert all(c.passed for c in found.values()), org
        assert found[f"{org}/queue_performance.source_parity"].partition == DAY.isoformat()
    path = f"{clean_env['GENESYS_ASSETS_HOME']}/warehouse.duckdb"
    with duckdb.connect(path, read_only=True) as con:
        by_org = dict(
            con.execute("SELECT org, count(*) FROM genesys.queue_performance GROUP BY 1").fetchall()
        )
        loads = con.execute(
            "SELECT org, dataset FROM genesys.genesys_loads ORDER BY 1, 2"
        ).fetchall()
        users = dict(
            con.execute("SELECT org, count(*) FROM genesys.genesys_users GROUP BY 1").fetchall()
        )
        answered = {
            (org, queue): total
            for org, queue, total in con.execute(
                "SELECT org, queue_id, sum(stat_count) FROM genesys.queue_performance "
                "WHERE metric = 'tAnswered' AND partition_date = ? GROUP BY 1, 2",
                [DAY],
            ).fetchall()
        }
        kpis = dict(
            con.execute(
                "SELECT org, sum(offered) FROM genesys.kpi_queue_day WHERE partition_date = ? "
                "GROUP BY 1",
                [DAY],
            ).fetchall()
        )
    assert set(by_org) == {"emea", "amer"} and all(by_org.values())
    assert loads == [(o, d) for o in ("amer", "emea") for d in sorted(two_orgs.names)]
    # Each org's dimension listed from its own org: sizes differ (16 agents vs 10).
    assert users["emea"] > users["amer"]
    # Every org's warehouse totals equal that org's own API totals, asked with its own client.
    region = SimulatedRegion([(org.id, _config(org)) for org in two_orgs.orgs]).start()
    try:
        for org in two_orgs.orgs:
            served = region.org(org.id)
            client = RawClient(region.base_url, served.client_id, served.client_secret)
            client.login()
            api = totals(client, org.time_zone, "conversations", ["queueId"], ["tAnswered"])
            ours = {q: n for (o, q), n in answered.items() if o == org.id}
            assert ours == {q: stats["tAnswered"] for (q,), stats in api.items()}, org.id
            offered = totals(client, org.time_zone, "conversations", [], ["nOffered"])
            assert kpis[org.id] == sum(stats["nOffered"] for stats in offered.values())
    finally:
        region.stop()
    # Re-loading one org's day leaves the other org's rows as they were.
    with duckdb.connect(path, read_only=True) as con:
        before = con.execute(
            "SELECT count(*), sum(stat_count) FROM genesys.agent_status WHERE org = 'amer'"
        ).fetchall()
    again = defs.resolve_job_def("emea__agent_status_job").execute_in_process(
        partition_key=DAY.isoformat(), instance=instance, raise_on_error=False
    )
    assert again.success
    with duckdb.connect(path, read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*), sum(stat_count) FROM genesys.agent_status WHERE org = 'amer'"
            ).fetchall()
            == before
        )


def _config(org: datasets.Org) -> Any:
    """The simulated org the embedded defaults start for `org` (what the pipeline loaded)."""
    from genesys_assets.pipeline.environment import genesys_resource
    from genesys_assets.pipeline.resources import GenesysSimulatorResource

    resource = genesys_resource({}, "simulator", 1, (org,))
    assert isinstance(resource, GenesysSimulatorResource)
    spec = resource.orgs[org.id]
    from genesys_assets.simulator import SimulatorConfig

    sizes: dict[str, Any] = {
        k: v
        for k, v in (
            ("queues", spec.queues),
            ("agents", spec.agents),
            ("conversations_per_day", spec.conversations_per_day),
        )
        if v is not None
    }
    return SimulatorConfig(
        seed=spec.seed,
        time_zone=spec.time_zone,
        client_id=f"simulator-{org.id}",
        client_secret=f"simulator-{org.id}-secret",
        **sizes,
    )


# -- a table from before orgs ---------------------------------------------------------------


def test_rows_from_before_orgs_become_the_one_orgs_and_several_orgs_refuse_them(
    tmp_path,
):
    from genesys_assets import long_table
    from genesys_assets.flatten import PageInput, flatten_pages
    from genesys_assets.stage import LocalStage
    from genesys_assets.stage.parquet_files import ParquetStore
    from genesys_assets.warehouse.base import WarehouseError
    from genesys_assets.warehouse.duckdb import DuckDBWarehouse

    stage = LocalStage(tmp_path / "stage")
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", stage)
    page = PageInput(
        b'{"results":[{"group":{"queueId":"q1"},"data":[{"interval":'
        b'"2024-11-01T05:00:00.000Z/2024-11-01T06:00:00.000Z","metrics":[{"metric":"nOffered",'
        b'"stats":{"count":4}}]}]}]}',
        "raw/p1",
    )
    table = flatten_pages([page], ["queueId"], "UTC", __import__("datetime").datetime.now()).table
    # A table as it was before orgs: no org column, one day's rows.
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        legacy = table.drop_columns(["org"])  # noqa: F841 (read by DuckDB by name)
        con.execute("CREATE SCHEMA genesys")
        con.execute("CREATE TABLE genesys.ds AS SELECT * FROM legacy")
    next_day = PageInput(page.body.replace(b"2024-11-01T", b"2024-11-02T"), "raw/p2")
    table = flatten_pages([next_day], ["queueId"], "UTC", __import__("datetime").datetime.now())
    staged = ParquetStore(stage).write_day("ds", date(2024, 11, 2), table.table)
    schema = long_table.schema(["queueId"])
    several = dataclasses.replace(datasets.PLAIN_ORG, id="emea", prefixed=True)
    with pytest.raises(WarehouseError, match="1 rows from before orgs were declared"):
        warehouse.replace_partition("ds", schema, date(2024, 11, 2), staged, several)
    one = datasets.PLAIN_ORG
    warehouse.replace_partition("ds", schema, date(2024, 11, 2), staged, one)
    assert warehouse.partition_row_counts(
        "ds", "default", [date(2024, 11, 1), date(2024, 11, 2)]
    ) == {date(2024, 11, 1): 1, date(2024, 11, 2): 1}, "the day loaded before orgs is the org's"


def test_a_dimension_table_from_before_orgs_is_counted_as_the_one_orgs(tmp_path):
    """The shrink guard counts a dimension's rows before its replace; a table from before orgs
    (no org column) counts whole, as the replace will claim it, instead of failing on the
    missing column (what `make demo` did on a warehouse from before orgs)."""
    from genesys_assets.stage import LocalStage
    from genesys_assets.warehouse.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", LocalStage(tmp_path / "stage"))
    assert warehouse.table_row_count("genesys_queues", "default") is None
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute("CREATE SCHEMA genesys")
        con.execute(
            "CREATE TABLE genesys.genesys_queues AS SELECT 'q1' AS queue_id UNION ALL SELECT 'q2'"
        )
    assert warehouse.table_row_count("genesys_queues", "default") == 2
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:  # a load added the column since
        con.execute("ALTER TABLE genesys.genesys_queues ADD COLUMN org VARCHAR")
        con.execute("INSERT INTO genesys.genesys_queues VALUES ('q3', 'emea')")
    assert warehouse.table_row_count("genesys_queues", "default") == 2
    assert warehouse.table_row_count("genesys_queues", "emea") == 3
