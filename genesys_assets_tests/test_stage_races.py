"""Two runs on the same days at once: neither breaks the stage, neither makes the other fail.

Real processes (a schedule and a backfill are two runs, each its own process) write the same
seven days through `RawPageStore` and `ParquetStore`, a third collects garbage as a load step
does, and a fourth reads every day the way the next asset does, all at once and for many
rounds. Before, each writer's clean-up deleted the other's pages, and about one round in fifty
ended with a manifest pointing at a deleted page.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from genesys_assets.genesys.pages import Fetch, RawPage
from genesys_assets.stage import LocalStage, Stage, retention
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.raw_pages import RawPageStore
from genesys_assets.stage.s3 import S3Stage

pytest_plugins = ["genesys_assets_tests.stand_ins"]

DAYS = [date(2024, 11, 1) + timedelta(days=n) for n in range(7)]
ROUNDS = 40
# Short, so that the collector really deletes during the race; far longer than one round.
GRACE = timedelta(seconds=1)
DEADLINE_S = 120


def open_stage(where: dict[str, str]) -> Stage:
    if where["kind"] == "local":
        return LocalStage(where["root"])
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=where["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return S3Stage(client, where["bucket"], where["prefix"])


def fetch_of(days: list[date], writer: int, round_: int) -> Fetch:
    body = f'{{"results":[],"writer":{writer},"round":{round_}}}'.encode()
    pages = tuple(RawPage(body, n, None, None, None, 1, 0.0) for n in (1, 2))
    return Fetch(
        days=tuple(days),
        time_zone="UTC",
        request={"interval": "x"},
        mode="sync",
        job_id=None,
        pages=pages,
        fetched_at=datetime.now(UTC),
        elapsed_s=0.0,
        requests=1,
        retries=0,
        throttled=0,
    )


def writer(where: dict[str, str], number: int, errors: Any) -> None:
    """A run: fetch a chunk (sometimes the week, sometimes a few days), stage it, flatten it."""
    try:
        stage = open_stage(where)
        raw, parquet = RawPageStore(stage), ParquetStore(stage)
        for round_ in range(ROUNDS):
            # A window of days that moves on every few rounds, so that days fall quiet and the
            # collector really deletes while the other writer is busy with its own window.
            start = (round_ // 10 + number * 2) % 5
            days = DAYS if round_ % 20 == 0 else DAYS[start : start + 3]
            for manifest in raw.write_fetch("ds", fetch_of(days, number, round_)):
                table = pa.table({"metric": [f"w{number}r{round_}"]})
                parquet.write_day("ds", manifest.day, table, source=manifest.folder)
            time.sleep(0.1)  # runs take a while: older rounds pass the grace period meanwhile
    except Exception:
        errors.put(f"writer {number}: {traceback.format_exc()}")


def collector(where: dict[str, str], stop: Any, errors: Any, deleted: Any) -> None:
    try:
        stage = open_stage(where)
        count = 0
        while not stop.is_set():
            count += len(retention.collect(stage, "ds", {}, grace=GRACE).deleted)
        deleted.put(count)
    except Exception:
        errors.put(f"collector: {traceback.format_exc()}")


def reader(where: dict[str, str], stop: Any, errors: Any) -> None:
    """The next asset: a day's manifest, then every page it names; the day's file, then its
    footer. A missing or wrong object is the failure this test is about."""
    try:
        stage = open_stage(where)
        raw, parquet = RawPageStore(stage), ParquetStore(stage)
        while not stop.is_set():
            for day in DAYS:
                manifest = raw.manifest("ds", day)
                if manifest is not None:
                    assert len(list(raw.read_pages(manifest))) == 2
                if parquet.pointer("ds", day) is not None:
                    assert parquet.staged_day("ds", day).rows == 1
    except Exception:
        errors.put(f"reader: {traceback.format_exc()}")


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path) -> dict[str, str]:
    if request.param == "local":
        return {"kind": "local", "root": str(tmp_path / "stage")}
    bucket = request.getfixturevalue("s3_bucket")
    return {
        "kind": "s3",
        "endpoint": bucket.endpoint_url,
        "bucket": bucket.name,
        "prefix": bucket.prefix,
    }


def test_racing_runs_never_leave_a_manifest_pointing_at_gone_pages(where):
    context = multiprocessing.get_context("spawn")
    errors, stop, deleted = context.Queue(), context.Event(), context.Queue()
    writers = [context.Process(target=writer, args=(where, n, errors)) for n in (1, 2)]
    others = [
        context.Process(target=collector, args=(where, stop, errors, deleted)),
        context.Process(target=reader, args=(where, stop, errors)),
    ]
    for process in [*writers, *others]:
        process.start()
    deadline = time.monotonic() + DEADLINE_S - 20
    for process in writers:
        process.join(max(1.0, deadline - time.monotonic()))
    # The collector and the reader go on a while: the last rounds' leftovers fall past the
    # grace period and are deleted while the reader still reads every day.
    time.sleep(GRACE.total_seconds() * 3)
    stop.set()
    for process in others:
        process.join(10)
    for process in [*writers, *others]:
        if process.is_alive():
            process.kill()
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, "\n".join(found)
    assert all(p.exitcode == 0 for p in writers), "both writers finished every round"
    assert deleted.get(timeout=10) > 0, "the collector really deleted during the race"

    # Afterwards every day is whole, and once the grace period has passed the collector
    # leaves exactly what the pointers name.
    stage = open_stage(where)
    raw, parquet = RawPageStore(stage), ParquetStore(stage)
    for day in DAYS:
        assert len(list(raw.read_pages(raw.require_manifest("ds", day)))) == 2
        assert parquet.staged_day("ds", day).rows == 1
    later = datetime.now(UTC) + GRACE * 2
    retention.collect(stage, "ds", {}, now=later, grace=GRACE)
    folders = {m.folder for m in (raw.require_manifest("ds", d) for d in DAYS)}
    left = {k.rsplit("/", 1)[0] for k in stage.list("raw/ds/") if not k.endswith("manifest.json")}
    assert left == folders
    assert len([k for k in stage.list("ds/") if k.endswith(".parquet")]) == len(DAYS)


def test_the_race_test_would_see_a_deleted_page(tmp_path):
    """The reader's check is real: a page deleted under a manifest fails it."""
    where = {"kind": "local", "root": str(tmp_path / "stage")}
    stage = open_stage(where)
    raw = RawPageStore(stage)
    [manifest] = raw.write_fetch("ds", fetch_of(DAYS[:1], 1, 0))
    os.remove(Path(where["root"]) / manifest.pages[0].key)
    context = multiprocessing.get_context("spawn")
    errors, stop = context.Queue(), context.Event()
    stop_soon = context.Process(target=reader, args=(where, stop, errors))
    stop_soon.start()
    stop_soon.join(30)
    stop.set()
    assert "is not in the stage" in errors.get(timeout=10)
