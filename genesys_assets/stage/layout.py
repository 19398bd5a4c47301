"""Where each file goes in the stage. One module, so the layout is changed in one place.

    raw/<dataset>/year=YYYY/month=MM/day=DD/manifest.json             the day's pages: which, sha256
    raw/<dataset>/year=YYYY/month=MM/day=DD/<fetch id>/page-00001.json.zst
    raw/<dataset>/year=YYYY/month=MM/day=DD/<fetch id>/fetch.json     what was asked, which days
    <dataset>/year=YYYY/month=MM/day=DD/data.parquet                  the day's long table
    genesys_queues/data.parquet                                       the queue dimension

A fetch that covers several days (a backfill chunk) keeps its pages under its first day; the
manifests of the other days point there. Parquet is laid out Hive-style so that Snowflake's
external stage, Spark or DuckDB can address a day by path.
"""

from __future__ import annotations

from datetime import date

from genesys_assets.stage.base import join

RAW = "raw"
PARQUET_NAME = "data.parquet"
MANIFEST_NAME = "manifest.json"
FETCH_RECORD_NAME = "fetch.json"


def day_folder(day: date) -> str:
    return f"year={day.year:04d}/month={day.month:02d}/day={day.day:02d}"


def raw_day(dataset: str, day: date) -> str:
    return join(RAW, dataset, day_folder(day))


def manifest(dataset: str, day: date) -> str:
    return join(raw_day(dataset, day), MANIFEST_NAME)


def fetch_folder(dataset: str, first_day: date, fetch_id: str) -> str:
    return join(raw_day(dataset, first_day), fetch_id)


def page(dataset: str, first_day: date, fetch_id: str, number: int) -> str:
    return join(fetch_folder(dataset, first_day, fetch_id), f"page-{number:05d}.json.zst")


def fetch_record(dataset: str, first_day: date, fetch_id: str) -> str:
    return join(fetch_folder(dataset, first_day, fetch_id), FETCH_RECORD_NAME)


def parquet_day_folder(dataset: str, day: date) -> str:
    return join(dataset, day_folder(day))


def parquet(dataset: str, day: date) -> str:
    return join(parquet_day_folder(dataset, day), PARQUET_NAME)


def dimension(name: str) -> str:
    return join(name, PARQUET_NAME)
