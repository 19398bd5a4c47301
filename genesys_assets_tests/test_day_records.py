"""What Dagster records for each day, whatever range a run covers.

A day of a 9-day run in 4-day chunks must read in the instance exactly as a one-day run would:
its own materialization of each asset with its own row count, and one evaluation of each check
with that day's partition and figures. The checks job re-verifies a day picked like any other
partition, and a range whose later chunk fails records and publishes nothing for any of its
days.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
)

from genesys_assets import datasets
from genesys_assets.definitions import CHECKS_JOB, MAIN_JOB, build_definitions
from genesys_assets.stage import layout

FIRST = date(2024, 11, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(9)]
DATASETS = ("queue_performance", "agent_performance", "agent_status")
CHECKS = ("row_count_parity", "totals_parity", "source_parity", "ids_resolve")
AGGREGATES_QUERY = "/api/v2/analytics/conversations/aggregates/query"


def range_tags(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def rows_by_day(home: str, table: str) -> dict[date, int]:
    with duckdb.connect(f"{home}/warehouse.duckdb", read_only=True) as con:
        return dict(
            con.execute(
                f"SELECT partition_date, count(*) FROM genesys.{table} GROUP BY 1"
            ).fetchall()
        )


def day_materializations(instance: DagsterInstance, key: str, day: date) -> list[Any]:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(key), asset_partitions=[day.isoformat()]),
        limit=100,
    ).records
    return [r.asset_materialization for r in records]


def check_history(instance: DagsterInstance, dataset: str, check: str) -> list[Any]:
    """What the UI reads for a check: its executions, newest first, each with its partition."""
    key = AssetCheckKey(AssetKey(dataset), check)
    return list(instance.event_log_storage.get_asset_check_execution_history(key, limit=1000))


def assert_each_day_checked_and_current(
    instance: DagsterInstance, dataset: str, check: str, days: list[date]
) -> None:
    """What the check's Partitions tab shows: Passed per day, against the day's latest
    materialization (otherwise the UI counts the day as Missing)."""
    key = AssetCheckKey(AssetKey(dataset), check)
    infos = {
        i.partition_key: i for i in instance.event_log_storage.get_asset_check_partition_info([key])
    }
    for day in days:
        info = infos[day.isoformat()]
        assert info.latest_execution_status.value == "SUCCEEDED", (dataset, check, day)
        assert info.is_current, f"{dataset}:{check} {day} would show as Missing"


def assert_each_day_recorded_as_its_own(instance: DagsterInstance, home: str) -> None:
    for dataset in DATASETS:
        in_table = rows_by_day(home, dataset)
        assert set(in_table) == set(DAYS)
        for day in DAYS:
            [table] = day_materializations(instance, dataset, day)
            assert table.partition == day.isoformat()
            assert table.metadata["dagster/row_count"].value == in_table[day], (dataset, day)
            [parquet] = day_materializations(instance, f"{dataset}_parquet", day)
            assert parquet.metadata["dagster/row_count"].value == in_table[day]
            [raw] = day_materializations(instance, f"{dataset}_raw_pages", day)
            assert day.isoformat() in raw.metadata["fetch"].value["days"]
            start, end = raw.metadata["query"].value["interval"].split("/")
            assert start[:10] <= day.isoformat() < end[:10], "the day's own fetch's request"
        assert len(set(in_table.values())) > 1, "days differ, so a shared figure would show"
        for check in CHECKS:
            history = check_history(instance, dataset, check)
            by_day = {h.partition: h for h in history}
            assert len(history) == len(DAYS) == len(by_day), (dataset, check)
            assert set(by_day) == {d.isoformat() for d in DAYS}
            assert {h.status.value for h in history} == {"SUCCEEDED"}
            for day in DAYS:
                evaluation = by_day[day.isoformat()].event.asset_check_evaluation
                assert evaluation.partition == day.isoformat() and evaluation.passed
                if check == "row_count_parity":
                    assert evaluation.metadata["warehouse_rows"].value == in_table[day]
            assert_each_day_checked_and_current(instance, dataset, check, DAYS)


@pytest.fixture
def four_day_chunks(clean_env, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("GENESYS_CHUNK_DAYS", "4")
    return {**clean_env, "GENESYS_CHUNK_DAYS": "4"}


def fetch_ids(home: str, dataset: str) -> set[str]:
    stage = Path(home) / "stage"
    return {json.loads((stage / layout.manifest(dataset, d)).read_text())["fetch_id"] for d in DAYS}


def test_a_multi_chunk_range_records_every_day_as_its_own(four_day_chunks):
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(datasets.load())
    result = defs.resolve_job_def(MAIN_JOB).execute_in_process(
        instance=instance, tags=range_tags(DAYS[0], DAYS[-1]), raise_on_error=False
    )
    assert result.success
    home = four_day_chunks["GENESYS_ASSETS_HOME"]
    assert len(fetch_ids(home, "queue_performance")) >= 3, "9 days in 4-day chunks"
    assert_each_day_recorded_as_its_own(instance, home)


def test_a_multi_chunk_range_from_the_command_line(four_day_chunks, tmp_path):
    """The CLI, with the definitions' own executor (a process per step) and a real instance."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {**four_day_chunks, "DAGSTER_HOME": str(dagster_home), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            *("asset", "materialize", "-m", "genesys_assets", "--select", "*"),
            *("--partition-range", f"{DAYS[0]}...{DAYS[-1]}"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("RUN_SUCCESS") == 1
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert_each_day_recorded_as_its_own(instance, four_day_chunks["GENESYS_ASSETS_HOME"])


def test_the_checks_job_reverifies_one_day_picked_as_a_partition(clean_env):
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(datasets.load())
    day = "2024-11-01"
    assert (
        defs.resolve_job_def(MAIN_JOB)
        .execute_in_process(instance=instance, partition_key=day)
        .success
    )
    checks_job = defs.resolve_job_def(CHECKS_JOB)
    assert checks_job.partitions_def is not None, "the Launchpad offers a day picker"
    result = checks_job.execute_in_process(instance=instance, partition_key=day)
    assert result.success
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert sorted((e.asset_key.to_user_string(), e.check_name) for e in evaluations) == sorted(
        (d, c) for d in DATASETS for c in CHECKS
    )
    assert {e.partition for e in evaluations} == {day} and all(e.passed for e in evaluations)
    for dataset in DATASETS:
        for check in CHECKS:
            latest = check_history(instance, dataset, check)[0]
            assert latest.partition == day and latest.run_id == result.run_id
            assert_each_day_checked_and_current(instance, dataset, check, [date(2024, 11, 1)])


def test_a_checks_backfill_over_a_range_records_each_day(clean_env):
    """A backfill of the checks job is one run per day: each day's evaluations are its own."""
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(datasets.load())
    days = DAYS[:3]
    assert (
        defs.resolve_job_def(MAIN_JOB)
        .execute_in_process(instance=instance, tags=range_tags(days[0], days[-1]))
        .success
    )
    for day in days:
        assert (
            defs.resolve_job_def(CHECKS_JOB)
            .execute_in_process(instance=instance, partition_key=day.isoformat())
            .success
        )
    history = check_history(instance, "queue_performance", "row_count_parity")
    assert sorted(h.partition for h in history) == sorted(d.isoformat() for d in days * 2)


def break_from(first_broken: date):
    """Rename a stat in every answer whose buckets start on or after `first_broken`."""

    def rewrite(doc: dict[str, Any]) -> dict[str, Any]:
        for result in doc.get("results", []):
            for bucket in result["data"]:
                if bucket["interval"][:10] >= first_broken.isoformat():
                    for entry in bucket["metrics"]:
                        entry["stats"] = {"cnt": 1}
        return doc

    return rewrite


def test_a_range_whose_later_chunk_fails_publishes_and_records_nothing(proxy, four_day_chunks):
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(datasets.load())
    days = DAYS[:8]
    tags = range_tags(days[0], days[-1])
    job = defs.resolve_job_def(MAIN_JOB)
    assert job.execute_in_process(instance=instance, tags=tags).success
    stage = Path(four_day_chunks["GENESYS_ASSETS_HOME"]) / "stage"
    pointers = {
        d: (stage / layout.staged_pointer("queue_performance", d)).read_text() for d in days
    }
    manifests = {d: (stage / layout.manifest("queue_performance", d)).read_text() for d in days}
    first_day_folder = stage / layout.parquet_day_folder("queue_performance", days[0])
    versions_before = len(list(first_day_folder.glob("*.parquet")))
    before = rows_by_day(four_day_chunks["GENESYS_ASSETS_HOME"], "queue_performance")

    # Buckets are stamped in UTC: from the 6th on, only a later chunk (local days 5 to 8
    # at most) has them, so the first chunk flattens and stages fine before one fails.
    proxy.rewrite(AGGREGATES_QUERY, break_from(days[5]))
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert not result.success
    failure = next(
        e
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE
        and e.step_key == "queue_performance_fetch_and_flatten"
    )
    error = failure.step_failure_data.error
    assert error.cls_name == "Failure", "the flattener's message, not a Dagster wrapper"
    # The chunk that fails is a later one (its first day is after the range's first).
    assert re.match(
        r"dagster\._core\.definitions\.events\.Failure: queue_performance: fetching and "
        r"flattening 8 "
        rf"days {days[0]}\.\.{days[-1]}: page raw/queue_performance/year=2024/month=11/"
        r"day=0[2-8]/",
        error.message,
    ), error.message
    assert "has no statistics" in error.message
    assert failure.step_failure_data.user_failure_data.metadata["error"].value == ("FlattenError")
    assert len(list(first_day_folder.glob("*.parquet"))) == versions_before + 1, (
        "the first chunk was flattened and staged before the second failed"
    )
    for day in days:
        assert (stage / layout.staged_pointer("queue_performance", day)).read_text() == (
            pointers[day]
        ), f"{day}: the first chunk's files were flattened but not published"
        assert (stage / layout.manifest("queue_performance", day)).read_text() == (
            manifests[day]
        ), f"{day}: the pages were fetched and staged but not published"
        for asset in ("queue_performance_raw_pages", "queue_performance_parquet"):
            newest = day_materializations(instance, asset, day)
            assert len(newest) == 1, f"{day}: nothing recorded of {asset} for the failed run"
    assert rows_by_day(four_day_chunks["GENESYS_ASSETS_HOME"], "queue_performance") == before
