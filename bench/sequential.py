"""The sequential per-day loop: the reference a Dagster backfill must beat by 3x.

`python -m bench.sequential START END` loads every day from START to END (inclusive) of both
default datasets, one day after another, one request at a time, doing per day exactly what the
pipeline does per day, through the same core objects and the same stage and warehouse:

    fetch (chunk_days=1, max_concurrency=1, mode="sync": one aggregates query per dataset-day)
    -> RawPageStore.write_fetch (zstd pages + manifest) -> read back, sha256-verified
    -> flatten_pages -> ParquetStore.write_day -> DuckDBWarehouse.replace_partition
    -> row_count_parity and totals_parity against the staged file's footer and columns
    -> source_parity against Genesys' day totals (one more query per dataset-day)

plus the queue dimension once, as the Dagster run does. No Dagster: this is what a plain script
would do, and like one it keeps one warehouse connection for the whole loop
(`Warehouse.connected()`). It reads the pipeline's own variables (GENESYS_CLIENT_ID,
GENESYS_CLIENT_SECRET, GENESYS_API_HOST, GENESYS_ASSETS_HOME) and prints one JSON line: wall time
per step and per day.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from genesys_assets import datasets, long_table
from genesys_assets.datasets import QUEUES_ASSET
from genesys_assets.dimension_tables import QUEUE_COLUMNS, queues_table
from genesys_assets.dimension_tables import schema as dimension_schema
from genesys_assets.flatten import PageInput, flatten_pages
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.parity import row_count_parity, totals_parity
from genesys_assets.settling import settling_since
from genesys_assets.source_parity import compare_with_source
from genesys_assets.stage import LocalStage, layout
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.raw_pages import RawPageStore
from genesys_assets.warehouse.duckdb import DuckDBWarehouse

SETTINGS = ClientSettings(chunk_days=1, max_concurrency=1, mode="sync")


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def load(first: date, last: date) -> dict[str, Any]:
    home = Path(os.environ["GENESYS_ASSETS_HOME"])
    stage = LocalStage(home / "stage")
    raw_store = RawPageStore(stage)
    parquet_store = ParquetStore(stage)
    warehouse = DuckDBWarehouse(home / "warehouse.duckdb", stage)
    config = datasets.load()
    credentials = ClientCredentials(
        os.environ["GENESYS_CLIENT_ID"], os.environ["GENESYS_CLIENT_SECRET"]
    )
    since = settling_since(datetime.now(ZoneInfo(config.org.time_zone)).date(), config.settling)
    steps: dict[str, float] = defaultdict(float)
    per_day: list[float] = []
    rows = 0
    failures: list[str] = []

    def timed(step: str, started: float) -> float:
        now = time.perf_counter()
        steps[step] += now - started
        return now

    with (
        GenesysClient(os.environ["GENESYS_API_HOST"], credentials, SETTINGS) as client,
        warehouse.connected(),
    ):
        t = time.perf_counter()
        queues = client.list_queues()
        t = timed("queues: fetch", t)
        dimension = queues_table(queues, datetime.now(UTC))
        staged_queues = parquet_store.write(layout.dimension(QUEUES_ASSET), dimension)
        warehouse.replace_org_rows(
            QUEUES_ASSET, dimension_schema(QUEUE_COLUMNS), staged_queues, config.org
        )
        timed("queues: stage and load", t)

        for day in days_between(first, last):
            day_started = time.perf_counter()
            for dataset in config.datasets:
                org = dataset.org.id
                t = time.perf_counter()
                fetch = next(client.fetch_days(dataset.query, [day], mode="sync"))
                t = timed("fetch", t)
                (manifest,) = raw_store.write_fetch(dataset.name, fetch)
                t = timed("raw pages: store", t)
                pages = [PageInput(body, e.key) for e, body in raw_store.read_pages(manifest)]
                flat = flatten_pages(
                    pages,
                    dataset.group_by,
                    dataset.query.time_zone,
                    datetime.now(UTC),
                    metrics=dataset.metrics,
                    org=org,
                )
                table = flat.split_days([day])[day]
                t = timed("raw pages: read + flatten", t)
                parquet_store.write_day(dataset.name, day, table, source=manifest.folder)
                t = timed("parquet: write", t)
                staged = parquet_store.staged_day(dataset.name, day)
                warehouse.replace_partition(
                    dataset.name,
                    long_table.schema(dataset.group_by),
                    day,
                    staged,
                    dataset.org,
                )
                t = timed("warehouse: replace day", t)
                checks = (
                    *row_count_parity(warehouse, parquet_store, dataset.name, org, [day]),
                    *totals_parity(warehouse, parquet_store, dataset.name, org, [day]),
                    *compare_with_source(client, warehouse, dataset, [day], since).verdicts,
                )
                timed("checks", t)
                failures += [c.summary for c in checks if not c.passed]
                rows += staged.rows
            per_day.append(time.perf_counter() - day_started)
    return {
        "days": len(per_day),
        "rows": rows,
        "steps": {k: round(v, 3) for k, v in steps.items()},
        "per_day_seconds": [round(s, 3) for s in per_day],
        "requests": {
            name: getattr(client.stats, name, None) for name in ("requests", "retries", "throttled")
        },
        "check_failures": failures,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.sequential FIRST_DAY LAST_DAY", file=sys.stderr)
        return 2
    started = time.perf_counter()
    summary = load(date.fromisoformat(argv[0]), date.fromisoformat(argv[1]))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(summary))
    return 1 if summary["check_failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
