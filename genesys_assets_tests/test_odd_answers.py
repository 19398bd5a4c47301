"""Answers we did not expect, over the real protocol: the run fails naming them, or keeps them
faithfully, and never loads NULLs or merged rows.

The client runs its whole stack (SDK, login, retries) against the simulator through a proxy that
rewrites the answers a test asks it to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance

from genesys_assets import datasets
from genesys_assets.definitions import MAIN_JOB, build_definitions
from genesys_assets.stage import layout

AGGREGATES_QUERY = "/api/v2/analytics/conversations/aggregates/query"
QUEUES = "/api/v2/routing/queues"
DAY = "2024-11-01"


def run(defs, **kwargs: Any):
    return defs.resolve_job_def(MAIN_JOB).execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False, **kwargs
    )


def failure_message(result) -> str:
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    return str(failure.step_failure_data.error)


def table_rows(env: dict[str, str], sql: str) -> list[tuple]:
    with duckdb.connect(f"{env['GENESYS_ASSETS_HOME']}/warehouse.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def entries(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for result in doc["results"]:
        for bucket in result["data"]:
            yield from bucket["metrics"]


def rename_count(doc: dict[str, Any]) -> dict[str, Any]:
    for entry in entries(doc):
        if entry["metric"] == "nOffered":
            entry["stats"] = {"cnt": entry["stats"]["count"]}
    return doc


def drop_stats(doc: dict[str, Any]) -> dict[str, Any]:
    for entry in entries(doc):
        if entry["metric"] == "tHandle":
            del entry["stats"]
    return doc


@pytest.mark.parametrize(
    ("rewrite", "expected"),
    [
        (rename_count, r"nOffered \(count\) in the bucket .* has no statistics, missing count"),
        (drop_stats, r"tHandle \(timer\) in the bucket .* missing count, sum, min, max"),
    ],
    ids=["count-renamed", "stats-missing"],
)
def test_entries_without_their_stats_fail_and_the_previous_day_stays(
    proxy, clean_env, rewrite, expected
):
    defs = build_definitions(datasets.load())
    assert run(defs, partition_key=DAY).success
    before = table_rows(
        clean_env, "SELECT count(*), sum(stat_count) FROM genesys.queue_performance"
    )
    stage = Path(clean_env["GENESYS_ASSETS_HOME"]) / "stage"
    pointer = stage / layout.staged_pointer("queue_performance", date.fromisoformat(DAY))
    staged_before = pointer.read_text()

    proxy.rewrite(AGGREGATES_QUERY, rewrite)
    result = run(defs, partition_key=DAY)
    assert not result.success
    message = failure_message(result)
    assert re.search(r"page raw/\w+_performance/year=2024/month=11/day=01/", message), message
    assert re.search(expected, message), message
    assert "nothing was written" in message
    assert (
        table_rows(clean_env, "SELECT count(*), sum(stat_count) FROM genesys.queue_performance")
        == before
    )
    assert pointer.read_text() == staged_before, "no new Parquet file for the day"
    assert table_rows(
        clean_env,
        "SELECT count(*) FROM genesys.queue_performance WHERE metric = 'nOffered' "
        "AND stat_count IS NULL",
    ) == [(0,)]


def test_an_empty_queue_listing_does_not_blank_the_queue_names(proxy, clean_env):
    defs = build_definitions(datasets.load())
    assert run(defs, partition_key=DAY).success
    [(queues,)] = table_rows(clean_env, "SELECT count(*) FROM genesys.genesys_queues")
    assert queues > 0

    proxy.rewrite(QUEUES, lambda doc: {**doc, "entities": [], "total": 0, "pageCount": 0})
    result = run(defs, partition_key=DAY)
    assert not result.success
    message = failure_message(result)
    assert f"genesys_queues: the API listed 0 rows where the table holds {queues}" in message
    assert "GENESYS_DIMENSION_MAX_SHRINK=1" in message
    assert table_rows(clean_env, "SELECT count(*) FROM genesys.genesys_queues") == [(queues,)]
    # The dimensions share a step: the other listings were still replaced, the queues' alone not.
    replaced = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "genesys_queues" not in replaced
    assert {"genesys_users", "genesys_wrapup_codes", "genesys_presences"} <= replaced


def test_a_group_key_nobody_asked_for_is_a_column_never_merged(proxy, clean_env, tmp_path):
    """The simulator answers like the real API: `mediaType` in every group, even when the
    dataset groups by queue only. Rows of different media types stay apart."""
    text = datasets.DEFAULT_FILE.read_text().replace(
        "group_by: [queueId, mediaType, direction]", "group_by: [queueId]"
    )
    path = tmp_path / "by_queue.yaml"
    path.write_text(text)
    defs = build_definitions(datasets.load(path))
    result = run(defs, partition_key=DAY)
    assert result.success
    rows = table_rows(
        clean_env,
        "SELECT media_type, count(*) FROM genesys.queue_performance GROUP BY 1 ORDER BY 1",
    )
    assert len(rows) > 1 and all(media is not None for media, _ in rows)
    duplicates = table_rows(
        clean_env,
        "SELECT count(*) FROM (SELECT queue_id, media_type, interval_start, metric, count(*) n "
        "FROM genesys.queue_performance GROUP BY ALL HAVING n > 1)",
    )
    assert duplicates == [(0,)], "one row per queue, media type, bucket and metric"
    parquet = next(
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
        and e.event_specific_data.materialization.asset_key.path == ["queue_performance_parquet"]
    )
    assert parquet.metadata["unrequested_dimensions"].value == ["mediaType"]


def test_a_multivalued_dimension_arrives_as_one_text_per_group(proxy, clean_env, tmp_path):
    text = datasets.DEFAULT_FILE.read_text().replace(
        "group_by: [queueId, mediaType, direction]",
        "group_by: [queueId, mediaType, requestedRoutingSkillId]",
    )
    path = tmp_path / "by_skill.yaml"
    path.write_text(text)
    defs = build_definitions(datasets.load(path))
    assert run(defs, partition_key=DAY).success
    skills = [
        value
        for (value,) in table_rows(
            clean_env,
            "SELECT DISTINCT requested_routing_skill_id FROM genesys.queue_performance "
            "WHERE requested_routing_skill_id IS NOT NULL",
        )
    ]
    assert any("," in value for value in skills), "sets of two skills, joined"
    assert not any(value.startswith("[") for value in skills)
