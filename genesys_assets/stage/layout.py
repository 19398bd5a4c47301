"""Where each file goes in the stage. One module, so the layout is changed in one place.

    raw/<dataset>/year=YYYY/month=MM/day=DD/manifest.json             the day's pages: which, sha256
    raw/<dataset>/year=YYYY/month=MM/day=DD/<fetch id>/page-00001.json.zst
    raw/<dataset>/year=YYYY/month=MM/day=DD/<fetch id>/fetch.json     what was asked, which days
    <dataset>/year=YYYY/month=MM/day=DD/<version>.parquet             a version of the day's table
    <dataset>/year=YYYY/month=MM/day=DD/_staged.json                  which version is current
    genesys_queues/data.parquet                                       the queue dimension

An org of a datasets file of several has its own folder in each dataset's (and dimension's):
`raw/<dataset>/org=<id>/year=...`, `<dataset>/org=<id>/year=...`, `genesys_queues/org=<id>/`;
a one-org file's paths are as above (`dataset_folder`).

Nothing a reader may still use is ever overwritten: pages and Parquet versions are written
once under new names, and small pointers (the manifest, `_staged.json`) say which is current.
The warehouse records which version it loaded (see `warehouse.base`), so what it holds stays
verifiable when a later run stages a newer file and fails before loading it. Old versions are
removed by `stage.retention` once nothing points to them.

A fetch that covers several days (a backfill chunk) keeps its pages under its first day; the
manifests of the other days point there. A fetch id ends in the number of days it covers
(`-d7`), so that the listing alone says which days a folder serves. Parquet is laid out
Hive-style so that Snowflake's external stage, Spark or DuckDB can address a day by path (the
pointer's leading underscore makes Hive-style readers skip it).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, timedelta

from genesys_assets.stage.base import join

RAW = "raw"
PARQUET_NAME = "data.parquet"
MANIFEST_NAME = "manifest.json"
FETCH_RECORD_NAME = "fetch.json"
STAGED_POINTER_NAME = "_staged.json"
PARQUET_SUFFIX = ".parquet"

_STAMP = "%Y%m%dT%H%M%S"
# Milliseconds in the stamp: retention compares it with short grace periods in tests.
_VERSION = re.compile(r"^(\d{8}T\d{6})(\d{3})?Z-[0-9a-f]{8}(?:-d(\d+))?$")


def new_version(at: datetime, days: int | None = None) -> str:
    """A name no other writer will pick: a UTC time stamp, a random part, and for a raw fetch
    the number of days it covers."""
    utc = at.astimezone(UTC)
    name = f"{utc:{_STAMP}}{utc.microsecond // 1000:03d}Z-{secrets.token_hex(4)}"
    return f"{name}-d{days}" if days is not None else name


def version_time(version: str) -> datetime | None:
    """When a version was made, from its name (None for a name this module did not make)."""
    found = _VERSION.match(version)
    if found is None:
        return None
    moment = datetime.strptime(found.group(1), _STAMP).replace(tzinfo=UTC)
    return moment + timedelta(milliseconds=int(found.group(2) or 0))


def version_days(version: str) -> int | None:
    """How many days a raw fetch covers, from its name (None if the name does not say)."""
    found = _VERSION.match(version)
    return int(found.group(3)) if found is not None and found.group(3) else None


def dataset_folder(dataset: str, org: str | None = None) -> str:
    """Where a dataset's (or a dimension's) files go: its name, and for an org of a file of
    several, `org=<id>` under it (the org id, like the name, is lower_snake_case)."""
    return dataset if org is None else join(dataset, f"org={org}")


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


def parquet(dataset: str, day: date, version: str) -> str:
    return join(parquet_day_folder(dataset, day), f"{version}{PARQUET_SUFFIX}")


def staged_pointer(dataset: str, day: date) -> str:
    return join(parquet_day_folder(dataset, day), STAGED_POINTER_NAME)


def day_of_folder(folder: str) -> date | None:
    """The day of a `.../year=YYYY/month=MM/day=DD` folder key, else None."""
    found = re.search(r"year=(\d{4})/month=(\d{2})/day=(\d{2})$", folder)
    if found is None:
        return None
    return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))


def dimension(name: str) -> str:
    return join(name, PARQUET_NAME)
