"""The Dagster layer on the embedded defaults: materialize(), re-runs, ranges, DST, checks.

Genesys is the simulator (started by the resource, or by the test and reached through the same
code path a real org uses), the stage a temporary folder and the warehouse a DuckDB file.
"""

import json
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    build_schedule_context,
    materialize,
)

from genesys_assets import datasets
from genesys_assets.definitions import CHECKS_JOB, MAIN_JOB, build_definitions
from genesys_assets.pipeline.environment import SettingsError, resources
from genesys_assets.stage import layout

from .run_events import check_evaluations

DAY = "2024-11-01"
RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2024-11-04",
    "dagster/asset_partition_range_end": "2024-11-06",
}


@pytest.fixture
def defs(clean_env):
    return build_definitions(datasets.load())


def home(env) -> str:
    return env["GENESYS_ASSETS_HOME"]


def run(defs, **kwargs):
    job = defs.resolve_job_def(MAIN_JOB)
    return job.execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False, **kwargs
    )


def warehouse_rows(env, table: str, day: str) -> list[tuple]:
    with duckdb.connect(f"{home(env)}/warehouse.duckdb") as con:
        rows = con.execute(
            f'SELECT * EXCLUDE (loaded_at, source_file) FROM genesys."{table}" '
            "WHERE partition_date = ? ORDER BY ALL",
            [date.fromisoformat(day)],
        ).fetchall()
    return rows


def materializations(result, key: str) -> list:
    return [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
        and e.event_specific_data.materialization.asset_key == AssetKey(key)
    ]


def test_every_asset_for_one_day_on_the_embedded_defaults(defs, clean_env):
    result = run(defs, partition_key=DAY)
    assert result.success
    stage = f"{home(clean_env)}/stage"
    day = date.fromisoformat(DAY)

    for dataset in ("queue_performance", "agent_performance", "agent_status"):
        manifest = json.loads(Path(f"{stage}/{layout.manifest(dataset, day)}").read_text())
        assert manifest["day"] == DAY and manifest["page_count"] == len(manifest["pages"]) >= 1
        assert (
            manifest["query"]["interval"] == "2024-11-01T00:00:00-04:00/2024-11-02T00:00:00-04:00"
        )
        assert all(len(p["sha256"]) == 64 for p in manifest["pages"])

        parquet_path = f"{stage}/{staged_file(stage, dataset, day)}"
        footer = pq.ParquetFile(parquet_path).metadata
        assert footer.row_group(0).column(0).compression == "SNAPPY"
        rows = warehouse_rows(clean_env, dataset, DAY)
        assert len(rows) == footer.num_rows > 0

        [raw] = materializations(result, f"{dataset}_raw_pages")
        assert raw.partition == DAY
        fetch = raw.metadata["fetch"].value
        for key in ("pages", "bytes", "requests", "retries", "throttled_429", "api_seconds"):
            assert key in fetch, key
        assert fetch["days"] == [DAY] and fetch["pages"] == len(manifest["pages"])
        assert unquote(raw.metadata["manifest"].value).endswith(layout.manifest(dataset, day))
        assert "query" in raw.metadata and "SIMULATED" in raw.metadata["source"].value
        [parquet] = materializations(result, f"{dataset}_parquet")
        assert parquet.metadata["dagster/row_count"].value == footer.num_rows
        assert "preview" in parquet.metadata and "bytes" in parquet.metadata
        [table] = materializations(result, dataset)
        assert table.metadata["dagster/row_count"].value == footer.num_rows
        assert unquote(table.metadata["staged_file"].value).endswith(
            staged_file(stage, dataset, day)
        )
        assert table.metadata["dagster/table_name"].value == f"genesys.{dataset}"
        assert "| partition_date" in table.metadata["preview"].value

    modes = {
        materializations(result, f"{d}_raw_pages")[0].metadata["fetch"].value["mode"]
        for d in ("queue_performance", "agent_performance", "agent_status")
    }
    # Sized by one day-totals query each, the small org's days go as one synchronous query.
    assert modes == {"sync"}
    checks = check_evaluations(result)
    assert len(checks) == 18 and all(c.passed for c in checks.values())  # tables and views
    assert checks["queue_performance.row_count_parity"].partition == DAY
    queues = materializations(result, "genesys_queues")[0]
    assert queues.metadata["dagster/row_count"].value == 12


def test_rerunning_a_day_gives_the_same_rows_not_twice(defs, clean_env):
    assert run(defs, partition_key=DAY).success
    first = warehouse_rows(clean_env, "agent_performance", DAY)
    assert run(defs, partition_key=DAY).success
    assert warehouse_rows(clean_env, "agent_performance", DAY) == first
    [table] = [m for m in materializations(run(defs, partition_key=DAY), "agent_performance")]
    assert table.metadata["dagster/row_count"].value == len(first)
    assert warehouse_rows(clean_env, "agent_performance", DAY) == first


def test_async_jobs_give_the_same_rows_as_the_synchronous_query(defs, clean_env, monkeypatch):
    assert run(defs, partition_key=DAY).success
    synchronous = {
        t: warehouse_rows(clean_env, t, DAY) for t in ("queue_performance", "agent_performance")
    }
    monkeypatch.setenv("GENESYS_QUERY_MODE", "jobs")
    result = run(build_definitions(datasets.load()), partition_key=DAY)
    assert result.success
    for table, rows in synchronous.items():
        [raw] = materializations(result, f"{table}_raw_pages")
        assert raw.metadata["fetch"].value["mode"] == "jobs"
        assert warehouse_rows(clean_env, table, DAY) == rows


def test_a_day_across_the_dst_change(defs, clean_env):
    assert run(defs, partition_key="2024-11-03").success
    with duckdb.connect(f"{home(clean_env)}/warehouse.duckdb") as con:
        first, last, buckets, days = con.execute(
            "SELECT min(interval_start), max(interval_end), count(DISTINCT interval_start), "
            "count(DISTINCT partition_date) FROM genesys.queue_performance"
        ).fetchone()
    assert first == datetime(2024, 11, 3, 4, 0, tzinfo=UTC)  # local midnight, EDT
    assert last == datetime(2024, 11, 4, 5, 0, tzinfo=UTC)  # next local midnight, EST
    assert 45 <= buckets <= 50  # 25 hours of half hours (a quiet night may leave one empty)
    assert days == 1
    with duckdb.connect(f"{home(clean_env)}/warehouse.duckdb") as con:
        off_grid = con.execute(
            "SELECT count(*) FROM genesys.queue_performance "
            "WHERE epoch(interval_start) % 1800 <> 0 OR epoch(interval_end - interval_start) <> 1800"
        ).fetchone()[0]
    assert off_grid == 0


def staged_file(stage: str, dataset: str, day: date) -> str:
    """The key of the day's current Parquet file, as its pointer names it."""
    return json.loads(Path(f"{stage}/{layout.staged_pointer(dataset, day)}").read_text())["file"]


def test_a_range_of_days_in_one_run_writes_one_file_per_day(defs, clean_env):
    result = run(defs, tags=RANGE_TAGS)
    assert result.success
    stage = f"{home(clean_env)}/stage"
    days = [date(2024, 11, 4), date(2024, 11, 5), date(2024, 11, 6)]
    fetch_ids = set()
    for day in days:
        manifest = json.loads(
            Path(f"{stage}/{layout.manifest('queue_performance', day)}").read_text()
        )
        fetch_ids.add(manifest["fetch_id"])
        table = pq.read_table(f"{stage}/{staged_file(stage, 'queue_performance', day)}")
        assert set(table.column("partition_date").to_pylist()) == {day}
        assert (
            len(warehouse_rows(clean_env, "queue_performance", day.isoformat())) == table.num_rows
        )
    # Consecutive days share fetches: the client sends a probe chunk first, then sizes the rest
    # from the memory budget and the bytes per day the probe returned.
    assert len(fetch_ids) < len(days), "consecutive days are fetched in multi-day chunks"
    assert {m.partition for m in materializations(result, "queue_performance")} == {
        d.isoformat() for d in days
    }
    checks = check_evaluations(result)
    assert checks and all(c.passed for c in checks.values())


def test_a_rerun_of_one_day_after_a_range_keeps_the_others(defs, clean_env):
    assert run(defs, tags=RANGE_TAGS).success
    before = warehouse_rows(clean_env, "queue_performance", "2024-11-04")
    assert run(defs, partition_key="2024-11-05").success
    assert run(defs, partition_key="2024-11-05").success
    assert warehouse_rows(clean_env, "queue_performance", "2024-11-04") == before
    assert warehouse_rows(clean_env, "queue_performance", "2024-11-05")


def test_both_checks_fail_when_a_row_disappears_behind_the_pipelines_back(defs, clean_env):
    assert run(defs, partition_key=DAY).success
    with duckdb.connect(f"{home(clean_env)}/warehouse.duckdb") as con:
        con.execute(
            "DELETE FROM genesys.queue_performance WHERE rowid = "
            "(SELECT min(rowid) FROM genesys.queue_performance WHERE metric = 'nOffered')"
        )
    result = defs.resolve_job_def(CHECKS_JOB).execute_in_process(
        tags={"dagster/partition": DAY}, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    checks = check_evaluations(result)
    counted = checks["queue_performance.row_count_parity"]
    assert not counted.passed
    rows = counted.metadata["warehouse_rows"].value
    assert counted.metadata["staged_rows"].value == rows + 1
    totals = checks["queue_performance.totals_parity"]
    assert not totals.passed
    [mismatch] = totals.metadata["mismatches"].value
    assert mismatch["metric"] == "nOffered"
    assert mismatch["staged_count"] > mismatch["warehouse_count"]
    assert check_evaluations(result)["agent_performance.row_count_parity"].passed


def test_a_failed_fetch_leaves_the_previous_day_in_place(start_simulator, clean_env, monkeypatch):
    simulator = start_simulator(job_delay_s=0.1)
    monkeypatch.setenv("GENESYS_ASSETS_DEPLOYMENT", "local")
    monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
    monkeypatch.setenv("GENESYS_API_HOST", simulator.base_url)
    monkeypatch.setenv("GENESYS_MAX_ATTEMPTS", "2")
    defs = build_definitions(datasets.load())
    assert run(defs, partition_key=DAY).success
    manifest_path = (
        f"{home(clean_env)}/stage/{layout.manifest('queue_performance', date(2024, 11, 1))}"
    )
    manifest_before = Path(manifest_path).read_text()
    rows_before = warehouse_rows(clean_env, "queue_performance", DAY)

    simulator.script_faults(["503"] * 50)
    result = run(defs, partition_key=DAY)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    error = failure.step_failure_data.error
    # The asset's own error, Genesys' message first: not a Dagster wrapper around an IO manager.
    assert failure.step_key.endswith("_fetch_and_flatten") and error.cls_name == "Failure"
    dataset = failure.step_key.removesuffix("_fetch_and_flatten")
    assert error.message.startswith(
        f"dagster._core.definitions.events.Failure: {dataset}: fetching and flattening {DAY}: "
    ), error.message
    assert "gave up after 2 attempts" in error.message and "HandleOutput" not in error.message
    assert failure.step_failure_data.user_failure_data.metadata["error"].value == (
        "GenesysRetriesExhausted"
    )
    assert Path(manifest_path).read_text() == manifest_before
    assert warehouse_rows(clean_env, "queue_performance", DAY) == rows_before


def test_a_dataset_file_with_a_typo_fails_before_anything_is_written(
    clean_env, tmp_path, monkeypatch
):
    bad = tmp_path / "datasets.yaml"
    bad.write_text(datasets.DEFAULT_FILE.read_text().replace("- tHandle\n", "- tHandel\n", 1))
    monkeypatch.setenv(datasets.ENV_VAR, str(bad))
    with pytest.raises(
        datasets.DatasetFileError,
        match=r"datasets.queue_performance.metrics\[6\]: unknown metric 'tHandel' \(did you mean 'tHandle'\?\)",
    ):
        build_definitions(datasets.load())
    assert not (tmp_path / "home").exists()


def test_settings_that_cannot_work_name_the_variable(clean_env, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "acme")
    with pytest.raises(SettingsError, match="set S3_BUCKET"):
        resources()
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT")
    monkeypatch.setenv("GENESYS_ASSETS_DEPLOYMENT", "local")
    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    with pytest.raises(SettingsError, match="set GENESYS_CLIENT_SECRET"):
        resources()
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "secret")
    with pytest.raises(SettingsError, match="GENESYS_REGION"):
        resources()
    monkeypatch.setenv("GENESYS_REGION", "mypurecloud.ie")
    monkeypatch.setenv("GENESYS_MAX_CONCURRENCY", "four")
    with pytest.raises(
        SettingsError, match="GENESYS_MAX_CONCURRENCY must be a whole number, got 'four'"
    ):
        resources()


def test_the_schedule_reloads_the_last_complete_days(defs):
    schedule = defs.resolve_schedule_def("queue_performance_daily_refresh")
    assert schedule.execution_timezone == "America/New_York"
    context = build_schedule_context(
        scheduled_execution_time=datetime(2024, 11, 10, 9, 0, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2024-11-07", "2024-11-08", "2024-11-09"]
    assert len({r.run_key for r in requests}) == 3


def test_each_asset_materializes_on_its_own_through_the_stage(defs, clean_env):
    """One asset per run: each reads what the previous run left in the stage."""
    env_resources = resources()

    def materialize_one(key: str):
        """The one asset (and the checks on it); raw pages and Parquet share a step."""
        result = materialize(
            [*defs.assets, *defs.asset_checks],
            selection=AssetSelection.assets(key),
            partition_key=None if key == "genesys_queues" else DAY,
            resources=env_resources,
            instance=DagsterInstance.ephemeral(),
        )
        assert result.success
        assert {e.asset_key for e in result.get_asset_materialization_events()} == {
            AssetKey(key)
        }, "only the selected asset"
        return result

    raw = materialize_one("queue_performance_raw_pages")
    assert (
        materializations(raw, "queue_performance_raw_pages")[0].metadata["fetch"].value["pages"]
        == 1
    )
    parquet = materialize_one("queue_performance_parquet")
    rows = (
        materializations(parquet, "queue_performance_parquet")[0]
        .metadata["dagster/row_count"]
        .value
    )
    table = materialize_one("queue_performance")
    assert (
        materializations(table, "queue_performance")[0].metadata["dagster/row_count"].value == rows
    )
    checks = check_evaluations(table)
    assert len(checks) == 4
    assert all(c.passed for name, c in checks.items() if not name.endswith(".ids_resolve"))
    # The queue names are not loaded yet: the queue ids resolve in nothing, which is reported
    # without failing the run (the check is not blocking).
    unnamed = checks["queue_performance.ids_resolve"]
    assert not unnamed.passed and unnamed.metadata["unresolved_count"].value > 0
    queues = materialize_one("genesys_queues")
    assert materializations(queues, "genesys_queues")[0].metadata["dagster/row_count"].value == 12
    with duckdb.connect(f"{home(clean_env)}/warehouse.duckdb") as con:
        named = con.execute(
            "SELECT count(*) FROM genesys.queue_performance p JOIN genesys.genesys_queues q USING (queue_id)"
        ).fetchone()[0]
    assert named == rows, "every row's queue has a name"


def test_the_last_good_load_stays_verifiable_when_the_stage_runs_ahead(
    defs, clean_env, monkeypatch
):
    """A later run stages newer pages and a newer file for the day, then fails before its load:
    the checks still compare the table with the file it loaded, and the pages its rows name
    stay in the stage."""
    assert run(defs, partition_key=DAY).success
    day = date.fromisoformat(DAY)
    stage = f"{home(clean_env)}/stage"
    loaded = staged_file(stage, "queue_performance", day)
    # The stage runs ahead: raw pages and Parquet of a newer fetch (the org's numbers changed
    # since: another simulated org), no load.
    monkeypatch.setenv("GENESYS_SIMULATOR_SEED", "7")
    changed = build_definitions(datasets.load())
    ahead = changed.resolve_job_def(MAIN_JOB).get_subset(
        asset_selection={
            AssetKey("queue_performance_raw_pages"),
            AssetKey("queue_performance_parquet"),
        }
    )
    assert ahead.execute_in_process(partition_key=DAY, instance=DagsterInstance.ephemeral()).success
    newer = staged_file(stage, "queue_performance", day)
    assert pq.ParquetFile(f"{stage}/{newer}").metadata.num_rows != len(
        warehouse_rows(clean_env, "queue_performance", DAY)
    )
    # Then a load of another day runs, and with it the stage's clean-up.
    assert run(defs, partition_key="2024-11-02").success

    result = defs.resolve_job_def(CHECKS_JOB).execute_in_process(
        tags={"dagster/partition": DAY}, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    checks = check_evaluations(result)
    assert checks["queue_performance.row_count_parity"].metadata["staged_file"].value == loaded
    with duckdb.connect(f"{home(clean_env)}/warehouse.duckdb", read_only=True) as con:
        sources = con.execute(
            "SELECT DISTINCT source_file FROM genesys.queue_performance WHERE partition_date = ?",
            [day],
        ).fetchall()
    assert sources and all(Path(f"{stage}/{source}").is_file() for (source,) in sources)
