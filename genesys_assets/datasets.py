"""The datasets file: which aggregates queries to load, and the org's calendar.

Users add datasets without writing Python, so this loader is the only guard between a typo and a
run: it checks every field on load and names the one that is wrong, file and path included
(`datasets.yaml: datasets.queue_performance.metrics[3]: unknown metric 'tHandel' (did you mean
'tHandle'?)`). Nothing here imports Dagster or the Genesys SDK; loading the file is cheap enough
to happen every time the code location loads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from genesys_assets.genesys import catalog
from genesys_assets.genesys.query import AggregateQuery, Filter, QueryError

DEFAULT_FILE = Path(__file__).with_name("datasets.yaml")
ENV_VAR = "GENESYS_DATASETS_FILE"
QUEUES_ASSET = "genesys_queues"
MODES = ("auto", "sync", "jobs")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


class DatasetFileError(ValueError):
    """A datasets file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Dataset:
    name: str
    query: AggregateQuery
    description: str = ""
    mode: str | None = None  # overrides the client's query mode for this dataset

    @property
    def group_by(self) -> tuple[str, ...]:
        return self.query.group_by

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.query.metrics


@dataclass(frozen=True)
class OrgCalendar:
    time_zone: str
    start_date: date


@dataclass(frozen=True)
class Schedule:
    cron: str
    refresh_days: int


@dataclass(frozen=True)
class DatasetsFile:
    path: Path
    org: OrgCalendar
    schedule: Schedule
    datasets: tuple[Dataset, ...]

    def get(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise KeyError(name)


def load(path: str | os.PathLike[str] | None = None) -> DatasetsFile:
    """Read and validate the datasets file (default: $GENESYS_DATASETS_FILE or the built-in)."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        where = f" (from {ENV_VAR})" if path is None and os.environ.get(ENV_VAR) else ""
        raise DatasetFileError(
            f"cannot read datasets file {chosen}{where}: {exc.strerror}"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DatasetFileError(f"{chosen.name}: not valid YAML: {exc}") from None
    return parse(raw, chosen)


def parse(raw: Any, path: Path) -> DatasetsFile:
    def fail(field: str, problem: str) -> DatasetFileError:
        return DatasetFileError(f"{path.name}: {field}: {problem} (file: {path})")

    if not isinstance(raw, Mapping):
        raise fail("(top level)", "must be a mapping with 'org', 'schedule' and 'datasets'")
    _known_keys(raw, ("org", "schedule", "datasets"), "", fail)

    org_raw = _mapping(raw.get("org"), "org", fail)
    _known_keys(org_raw, ("time_zone", "start_date"), "org.", fail)
    time_zone = org_raw.get("time_zone")
    try:
        ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("org.time_zone", f"'{time_zone}' is not an IANA time zone") from None
    org = OrgCalendar(str(time_zone), _date(org_raw.get("start_date"), "org.start_date", fail))

    schedule_raw = _mapping(raw.get("schedule", {}), "schedule", fail)
    _known_keys(schedule_raw, ("cron", "refresh_days"), "schedule.", fail)
    cron = str(schedule_raw.get("cron", "0 4 * * *"))
    fields = cron.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise fail("schedule.cron", f"'{cron}' is not a 5-field cron expression")
    refresh_days = schedule_raw.get("refresh_days", 3)
    if not isinstance(refresh_days, int) or isinstance(refresh_days, bool) or refresh_days < 1:
        raise fail(
            "schedule.refresh_days", f"must be a whole number of days >= 1, got {refresh_days!r}"
        )
    schedule = Schedule(cron, refresh_days)

    datasets_raw = _mapping(raw.get("datasets"), "datasets", fail)
    if not datasets_raw:
        raise fail("datasets", "declare at least one dataset")
    datasets = tuple(
        _dataset(name, spec, org.time_zone, fail) for name, spec in datasets_raw.items()
    )
    return DatasetsFile(path, org, schedule, datasets)


def _dataset(name: Any, spec: Any, time_zone: str, fail: Any) -> Dataset:
    where = f"datasets.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(
            where,
            "a dataset name must be lower_snake_case (letters, digits, _), it names "
            "assets and a table",
        )
    if name == QUEUES_ASSET or name.endswith(("_raw_pages", "_parquet")):
        raise fail(where, f"'{name}' would collide with the names of other assets")
    spec = _mapping(spec, where, fail)
    _known_keys(
        spec, ("description", "group_by", "granularity", "metrics", "filter", "mode"),
        f"{where}.", fail,
    )  # fmt: skip
    for key in ("metrics", "group_by"):
        if key in spec and not isinstance(spec[key], list):
            raise fail(f"{where}.{key}", "must be a list")
    if "metrics" not in spec:
        raise fail(f"{where}.metrics", "missing: list the metrics to load")
    mode = spec.get("mode")
    if mode is not None and mode not in MODES:
        raise fail(f"{where}.mode", f"must be one of {', '.join(MODES)}, got '{mode}'")
    try:
        query = AggregateQuery(
            metrics=tuple(spec["metrics"]),
            group_by=tuple(spec.get("group_by") or ()),
            granularity=spec.get("granularity", "PT30M"),
            time_zone=time_zone,
            filter=Filter.from_mapping(spec["filter"]) if spec.get("filter") is not None else None,
        )
    except QueryError as exc:
        raise fail(f"{where}.{exc.field}", exc.problem) from None
    return Dataset(name, query, str(spec.get("description") or "").strip(), mode)


def _mapping(value: Any, field: str, fail: Any) -> Mapping[str, Any]:
    if value is None:
        raise fail(field, "missing")
    if not isinstance(value, Mapping):
        raise fail(field, f"must be a mapping, got {type(value).__name__}")
    return value


def _known_keys(raw: Mapping[str, Any], known: tuple[str, ...], prefix: str, fail: Any) -> None:
    for key in raw:
        if key not in known:
            raise fail(f"{prefix}{key}", f"unknown field{catalog.suggest(str(key), known)}")


def _date(value: Any, field: str, fail: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise fail(field, f"'{value}' is not a date (YYYY-MM-DD)") from None
