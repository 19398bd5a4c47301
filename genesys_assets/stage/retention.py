"""When old raw pages and Parquet versions leave the stage, and why that is safe.

Writers never delete (see `raw_pages` and `parquet_files`): a run that stages a day only adds
files under new names and moves the day's pointer. This module removes what is left behind,
and only what nobody can still use. An object (a raw fetch folder, a Parquet version) goes when
all of these hold:

- no current pointer names it: no day's manifest points at the fetch folder, the day's
  `_staged.json` does not name the Parquet file;
- the warehouse's load log does not name it: rows that were loaded from a file, and the pages
  that file was made from, stay verifiable for as long as the rows are there;
- it was made more than `grace` ago: a run still uploading it has not published it yet;
- every day it serves has been quiet for `grace`: its pointers and its last load are all older
  than that, so a run that read an older pointer (and may be reading the object now) did so
  more than `grace` ago.

So two runs on the same days at once never delete each other's files, whatever the
interleaving, as long as no run takes longer than `grace` between reading a pointer and reading
what it names (the default, a day, is far beyond any run). Names this project did not make are
never touched.

Finding candidates costs one listing of the dataset's prefixes; only the days that hold more
than their current objects are read further (a manifest or pointer each).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from genesys_assets.stage import layout
from genesys_assets.stage.base import Stage
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.raw_pages import RawPageStore

DEFAULT_GRACE = timedelta(hours=24)
# A Parquet file of the layout before versions (`data.parquet`): made long ago.
_LEGACY_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class Loaded(Protocol):
    """What the warehouse's load log says a day holds (`warehouse.base.LoadedFile` is one)."""

    @property
    def staged_file(self) -> str: ...
    @property
    def raw_fetch(self) -> str | None: ...
    @property
    def loaded_at(self) -> datetime | None: ...


@dataclass
class Collected:
    deleted: list[str] = field(default_factory=list)  # object keys
    kept_recent: int = 0  # unreferenced, but inside the grace period


def collect(
    stage: Stage,
    dataset: str,
    loaded: Mapping[date, Loaded],
    *,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> Collected:
    """Delete the dataset's raw fetch folders and Parquet versions nothing can still use."""
    now = now or datetime.now(UTC)
    cutoff = now - grace
    result = Collected()
    _collect_raw(stage, dataset, loaded, cutoff, result)
    _collect_parquet(stage, dataset, loaded, cutoff, result)
    return result


def _old(moment: datetime | None, cutoff: datetime) -> bool:
    if moment is None:
        return True
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware <= cutoff


def _collect_raw(
    stage: Stage, dataset: str, loaded: Mapping[date, Loaded], cutoff: datetime, out: Collected
) -> None:
    prefix = f"{layout.RAW}/{dataset}/"
    folders: dict[str, list[str]] = defaultdict(list)  # fetch folder -> its keys
    with_manifest: set[date] = set()
    for key in stage.list(prefix):
        day_folder, _, rest = key.rpartition("/")
        if rest == layout.MANIFEST_NAME and (day := layout.day_of_folder(day_folder)):
            with_manifest.add(day)
            continue
        folder = day_folder
        if layout.day_of_folder(folder.rpartition("/")[0]) is not None:
            folders[folder].append(key)
    # Which days each folder serves: from its name (`-d7`), or its record for older names.
    serves: dict[str, list[date]] = {}
    covering: dict[date, list[str]] = defaultdict(list)
    for folder, keys in folders.items():
        first = layout.day_of_folder(folder.rpartition("/")[0])
        assert first is not None
        count = layout.version_days(folder.rpartition("/")[2])
        if count is None:
            record = f"{folder}/{layout.FETCH_RECORD_NAME}"
            if record in keys:
                days = [date.fromisoformat(d) for d in json.loads(stage.get(record))["days"]]
            else:
                days = [first]
        else:
            days = [first + timedelta(days=n) for n in range(count)]
        serves[folder] = days
        for day in days:
            covering[day].append(folder)
    suspect = {d for d, fs in covering.items() if len(fs) > 1 or d not in with_manifest}
    candidates = [f for f, days in serves.items() if any(d in suspect for d in days)]
    if not candidates:
        return
    store = RawPageStore(stage)
    manifests = {}
    in_use = {v.raw_fetch for v in loaded.values() if v.raw_fetch}
    for folder in candidates:
        created = layout.version_time(folder.rpartition("/")[2])
        if created is None or folder in in_use:
            continue  # not a name we made, or the warehouse holds rows made from it
        referenced = False
        quiet = _old(created, cutoff)
        for day in serves[folder]:
            if day not in manifests:
                manifests[day] = store.manifest(dataset, day)
            current = manifests[day]
            if current is not None:
                referenced |= current.folder == folder
                quiet &= _old(current.published_at or current.fetched_at, cutoff)
            if day in loaded:
                quiet &= _old(loaded[day].loaded_at, cutoff)
        if referenced:
            continue
        if not quiet:
            out.kept_recent += 1
            continue
        stage.delete(folders[folder])
        out.deleted.extend(folders[folder])


def _collect_parquet(
    stage: Stage, dataset: str, loaded: Mapping[date, Loaded], cutoff: datetime, out: Collected
) -> None:
    files: dict[date, list[str]] = defaultdict(list)
    pointed: set[date] = set()
    for key in stage.list(f"{dataset}/"):
        folder, _, name = key.rpartition("/")
        day = layout.day_of_folder(folder)
        if day is None:
            continue
        if name == layout.STAGED_POINTER_NAME:
            pointed.add(day)
        elif name.endswith(layout.PARQUET_SUFFIX):
            files[day].append(key)
    store = ParquetStore(stage)
    for day, keys in files.items():
        if len(keys) == 1 and day in pointed:
            continue  # only the current file
        pointer = store.pointer(dataset, day) or {}
        published = pointer.get("published_at")
        quiet = _old(datetime.fromisoformat(str(published)) if published else None, cutoff)
        if day in loaded:
            quiet &= _old(loaded[day].loaded_at, cutoff)
        keep = {pointer.get("file"), loaded[day].staged_file if day in loaded else None}
        for key in keys:
            if key in keep:
                continue
            name = key.rpartition("/")[2]
            if name == layout.PARQUET_NAME:
                created: datetime | None = _LEGACY_TIME
            else:
                created = layout.version_time(name.removesuffix(layout.PARQUET_SUFFIX))
            if created is None:
                continue  # not a name we made
            if not (quiet and _old(created, cutoff)):
                out.kept_recent += 1
                continue
            stage.delete([key])
            out.deleted.append(key)
