"""The datasets file: which aggregates queries to load, and the org's calendar.

Users add datasets without writing Python, so this loader is the only guard between a typo and a
run: it checks every field on load and names the one that is wrong, file and path included
(`datasets.yaml: datasets.queue_performance.metrics[3]: unknown metric 'tHandel' (did you mean
'tHandle'?)`). Nothing here imports Dagster or the Genesys SDK; loading the file is cheap enough
to happen every time the code location loads.

The YAML is read with a stricter loader than `yaml.safe_load`, because plain YAML lets a file
mean something other than what it shows: a repeated key silently replaces the first, aliases can
expand a few hundred bytes into gigabytes, and `2024-02-30` becomes a bare ValueError from the
timestamp resolver. Each of those is refused, with the file, the field and the line, before the
content is looked at.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from genesys_assets.genesys import catalog
from genesys_assets.genesys.query import AggregateQuery, Filter, QueryError
from genesys_assets.long_table import DEFAULT_ORG

DEFAULT_FILE = Path(__file__).with_name("datasets.yaml")
ENV_VAR = "GENESYS_DATASETS_FILE"
QUEUES_ASSET = "genesys_queues"
# The other dimensions, names for the ids in the dataset tables (dimension_tables.py).
USERS_ASSET = "genesys_users"
WRAPUP_CODES_ASSET = "genesys_wrapup_codes"
DIVISIONS_ASSET = "genesys_divisions"
SKILLS_ASSET = "genesys_skills"
LANGUAGES_ASSET = "genesys_languages"
PRESENCES_ASSET = "genesys_presences"
DIMENSION_ASSETS: tuple[str, ...] = (
    QUEUES_ASSET,
    USERS_ASSET,
    WRAPUP_CODES_ASSET,
    DIVISIONS_ASSET,
    SKILLS_ASSET,
    LANGUAGES_ASSET,
    PRESENCES_ASSET,
)
# The load log the warehouse writes in the same transaction as the rows (warehouse/base.py).
LOADS_TABLE = "genesys_loads"
# Names the pipeline gives its own assets and tables: a dataset of that name would overwrite one.
# The stage's raw pages live under raw/, a dataset's Parquet under <name>/: a dataset named raw
# would list (and let retention judge) every dataset's pages as its own.
RAW_PREFIX = "raw"
RESERVED_NAMES: tuple[str, ...] = (*DIMENSION_ASSETS, LOADS_TABLE, RAW_PREFIX)
MODES = ("auto", "sync", "jobs")

# Rows are filed under the day their bucket starts, so a bucket must fit inside one day: the
# catalog's P7D and P1M (and no granularity: one bucket for the whole query interval) are valid
# API queries that would put a week's or a month's numbers under its first day.
DATASET_GRANULARITIES: tuple[str, ...] = ("PT15M", "PT30M", "PT1H", "P1D")
DEFAULT_GRANULARITY = "PT30M"

# A real datasets file is a few kilobytes; the cap keeps a wrong path (a log, a dump) from being
# read whole into memory and parsed.
MAX_FILE_BYTES = 1 << 20
# The deepest real path (datasets.x.filter.clauses[0].predicates[0].value) is 8 levels; PyYAML's
# composer recurses per level, so an unbounded `[[[[...` would end in a RecursionError.
MAX_DEPTH = 20

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Only the date-only form the YAML timestamp resolver took, now that dates arrive as strings.
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$", re.ASCII)


class DatasetFileError(ValueError):
    """A datasets file that cannot be used; the message names the file and the field."""


DEFAULT_ORG_ID = DEFAULT_ORG
# The environment variables a one-org file's credentials are read from (a file of several orgs
# names its own per org).
CLIENT_ID_ENV = "GENESYS_CLIENT_ID"
CLIENT_SECRET_ENV = "GENESYS_CLIENT_SECRET"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_SIMULATED_SIZES = ("queues", "agents", "conversations_per_day")


@dataclass(frozen=True)
class SimulatedOrg:
    """How the built-in simulator plays an org (local deployments only): its seed and size."""

    seed: int | None = None  # None: the deployment's GENESYS_SIMULATOR_SEED
    queues: int | None = None  # None: the simulator's defaults
    agents: int | None = None
    conversations_per_day: int | None = None


@dataclass(frozen=True)
class Org:
    """A Genesys Cloud org: its calendar (days are cut in its time zone, from its first day),
    how to reach it, and what its runs may take of shared limits.

    A one-org file's org reads its credentials from GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET
    and its region from the environment, as it always has, and its assets keep their plain
    names; in a file of several, each org names its own variables and region, and its assets'
    keys start with its id. Every org's rows carry its id in the tables' `org` column.
    """

    id: str
    time_zone: str
    start_date: date
    prefixed: bool = False  # its asset keys start with its id (a file of several orgs)
    region: str | None = None  # None: GENESYS_REGION / GENESYS_API_HOST (one-org files)
    api_host: str | None = None
    client_id_env: str = CLIENT_ID_ENV
    client_secret_env: str = CLIENT_SECRET_ENV
    # Fetch steps of this org that may run at once across all runs (its Dagster pool);
    # None: one per dataset, so that a run's datasets fetch side by side.
    fetch_slots: int | None = None
    simulated: SimulatedOrg = SimulatedOrg()

    @property
    def api_pool(self) -> str:
        """The Dagster concurrency pool of this org's fetch steps (its Genesys API)."""
        return f"genesys_api_{self.id}"


# An org with the defaults (UTC): for the core's callers that work on one org without a datasets
# file (the benchmarks' loops, tests).
PLAIN_ORG = Org(DEFAULT_ORG_ID, "UTC", date(2024, 1, 1))


@dataclass(frozen=True)
class Dataset:
    """A declared aggregates query, for one org (its time zone is in the query)."""

    name: str
    query: AggregateQuery
    description: str = ""
    mode: str | None = None  # overrides the client's query mode for this dataset
    org: Org = PLAIN_ORG

    @property
    def group_by(self) -> tuple[str, ...]:
        return self.query.group_by

    @property
    def label(self) -> str:
        """How log lines and errors name it: its name, with its org's id in a file of several."""
        return f"{self.org.id}/{self.name}" if self.org.prefixed else self.name

    @property
    def kind(self) -> str:
        """conversations or users: which aggregates API the dataset reads (catalog.KINDS)."""
        return self.query.kind

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.query.metrics


@dataclass(frozen=True)
class Schedule:
    cron: str
    refresh_days: int


@dataclass(frozen=True)
class Settling:
    """How long closed days are compared with Genesys' own totals (see pipeline/automation.py).

    Closed days still change (ingestion lag, Genesys' nightly reprocessing, org settings such
    as the service-level options that apply to past dates): for `days` days after a day ends, a
    difference from Genesys is expected news, a warning and a reason to re-load; after that it
    is an error.
    """

    days: int = 7
    matched_for_hours: float = 24.0  # a day that has matched this long is no longer polled
    interval_minutes: int = 60  # how often the settling sensor compares


@dataclass(frozen=True)
class DatasetsFile:
    path: Path
    orgs: tuple[Org, ...]
    schedule: Schedule
    # Every dataset of every org, org by org, in the file's order (each with its org's zone).
    datasets: tuple[Dataset, ...]
    settling: Settling = Settling()

    @property
    def org(self) -> Org:
        """The org of a one-org file (the first of several)."""
        return self.orgs[0]

    @property
    def names(self) -> tuple[str, ...]:
        """The datasets' names (the tables), each once."""
        return tuple(dict.fromkeys(d.name for d in self.datasets))

    def datasets_of(self, org: Org) -> tuple[Dataset, ...]:
        return tuple(d for d in self.datasets if d.org.id == org.id)

    def get(self, name: str, org: str | None = None) -> Dataset:
        """The dataset `name` of `org` (by id; the first org's if not given)."""
        wanted = org if org is not None else self.orgs[0].id
        for dataset in self.datasets:
            if dataset.name == name and dataset.org.id == wanted:
                return dataset
        raise KeyError(name if org is None else f"{org}/{name}")


def load(path: str | os.PathLike[str] | None = None) -> DatasetsFile:
    """Read and validate the datasets file (default: $GENESYS_DATASETS_FILE or the built-in)."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_FILE)
    try:
        with chosen.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        where = f" (from {ENV_VAR})" if path is None and os.environ.get(ENV_VAR) else ""
        raise DatasetFileError(
            f"cannot read datasets file {chosen}{where}: {exc.strerror}"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise _error(
            chosen,
            "(file)",
            f"larger than {MAX_FILE_BYTES:,} bytes; a datasets file is a few kilobytes, is this "
            "the right file?",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _error(
            chosen, "(file)", f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader, made stricter
    except _Refused as exc:
        raise _error(chosen, exc.field or "(top level)", exc.problem) from None
    except yaml.YAMLError as exc:
        raise DatasetFileError(f"{chosen.name}: not valid YAML: {exc}") from None
    return parse(raw, chosen)


def parse(raw: Any, path: Path) -> DatasetsFile:
    def fail(field: str, problem: str) -> DatasetFileError:
        return _error(path, field, problem)

    if not isinstance(raw, Mapping):
        raise fail("(top level)", "must be a mapping with 'org', 'schedule' and 'datasets'")
    _known_keys(raw, ("org", "orgs", "schedule", "settling", "datasets"), "", fail)
    orgs = _orgs(raw, fail)

    schedule_raw = _mapping(raw.get("schedule", {}), "schedule", fail)
    _known_keys(schedule_raw, ("cron", "refresh_days"), "schedule.", fail)
    cron = str(schedule_raw.get("cron", "0 4 * * *"))
    problem = _cron_problem(cron)
    if problem is not None:
        raise fail("schedule.cron", problem)
    refresh_days = schedule_raw.get("refresh_days", 3)
    if not isinstance(refresh_days, int) or isinstance(refresh_days, bool) or refresh_days < 1:
        raise fail(
            "schedule.refresh_days", f"must be a whole number of days >= 1, got {refresh_days!r}"
        )
    schedule = Schedule(cron, refresh_days)
    settling = _settling(_mapping(raw.get("settling", {}), "settling", fail), fail)

    datasets_raw = _mapping(raw.get("datasets"), "datasets", fail)
    if not datasets_raw:
        raise fail("datasets", "declare at least one dataset")
    declared = [
        _dataset(name, spec, orgs[0].time_zone, fail) for name, spec in datasets_raw.items()
    ]
    datasets = tuple(
        dataclasses.replace(
            dataset,
            org=org,
            query=dataclasses.replace(dataset.query, time_zone=org.time_zone),
        )
        for org in orgs
        for dataset in declared
    )
    return DatasetsFile(path, orgs, schedule, datasets, settling)


def _orgs(raw: Mapping[str, Any], fail: Any) -> tuple[Org, ...]:
    """`org:` (one org, as every file before several could be declared) or `orgs:` (several,
    by id); not both."""
    if "org" in raw and "orgs" in raw:
        raise fail("orgs", "declare either 'org' (one org) or 'orgs' (several by id), not both")
    if "orgs" not in raw:
        org_raw = _mapping(raw.get("org"), "org", fail)
        _known_keys(org_raw, ("id", "time_zone", "start_date", "simulator"), "org.", fail)
        org_id = org_raw.get("id", DEFAULT_ORG_ID)
        _org_id(org_id, "org.id", fail)
        return (_org(org_id, org_raw, "org", fail, prefixed=False),)
    orgs_raw = _mapping(raw["orgs"], "orgs", fail)
    if not orgs_raw:
        raise fail("orgs", "declare at least one org")
    orgs = []
    for org_id, spec in orgs_raw.items():
        _org_id(org_id, f"orgs.{org_id}", fail)
        where = f"orgs.{org_id}"
        spec = _mapping(spec, where, fail)
        _known_keys(
            spec,
            ("time_zone", "start_date", "region", "api_host", "credentials", "fetch_slots",
             "simulator"),
            f"{where}.",
            fail,
        )  # fmt: skip
        orgs.append(_org(org_id, spec, where, fail, prefixed=True))
    for a, b in itertools.combinations(orgs, 2):
        if (a.client_id_env, a.client_secret_env) == (b.client_id_env, b.client_secret_env):
            raise fail(
                f"orgs.{b.id}.credentials",
                f"the same variables as org '{a.id}': each org logs in with its own OAuth client",
            )
    return tuple(orgs)


def _org_id(value: Any, field: str, fail: Any) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise fail(
            field,
            "an org id must be lower_snake_case (letters, digits, _): it prefixes asset keys, "
            "names a pool and fills the tables' org column",
        )


def _org(org_id: str, spec: Mapping[str, Any], where: str, fail: Any, *, prefixed: bool) -> Org:
    time_zone = spec.get("time_zone")
    try:
        ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"{where}.time_zone", f"'{time_zone}' is not an IANA time zone") from None
    start = _date(spec.get("start_date"), f"{where}.start_date", fail)
    simulated = _simulated(spec.get("simulator"), f"{where}.simulator", fail)
    if not prefixed:
        return Org(org_id, str(time_zone), start, simulated=simulated)
    region, api_host = spec.get("region"), spec.get("api_host")
    if (region is None) == (api_host is None):
        raise fail(
            where,
            "give the org's 'region' (e.g. mypurecloud.de) or its 'api_host' (a base URL), one "
            "of them",
        )
    for value, field in ((region, "region"), (api_host, "api_host")):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise fail(f"{where}.{field}", "must be text")
    credentials = _mapping(spec.get("credentials"), f"{where}.credentials", fail)
    _known_keys(credentials, ("client_id", "client_secret"), f"{where}.credentials.", fail)
    names = []
    for key in ("client_id", "client_secret"):
        name = credentials.get(key)
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise fail(
                f"{where}.credentials.{key}",
                "the name of the environment variable that holds it (e.g. "
                f"GENESYS_{org_id.upper()}_{key.upper()}), never the value itself",
            )
        names.append(name)
    slots = spec.get("fetch_slots")
    if slots is not None and (not _whole(slots) or slots < 1):
        raise fail(f"{where}.fetch_slots", f"must be a whole number >= 1, got {slots!r}")
    return Org(
        org_id,
        str(time_zone),
        start,
        prefixed=True,
        region=region,
        api_host=api_host,
        client_id_env=names[0],
        client_secret_env=names[1],
        fetch_slots=slots,
        simulated=simulated,
    )


def _simulated(raw: Any, where: str, fail: Any) -> SimulatedOrg:
    if raw is None:
        return SimulatedOrg()
    raw = _mapping(raw, where, fail)
    _known_keys(raw, ("seed", *_SIMULATED_SIZES), f"{where}.", fail)
    for key, value in raw.items():
        least = 0 if key == "seed" else 1
        if not _whole(value) or value < least:
            raise fail(f"{where}.{key}", f"must be a whole number >= {least}, got {value!r}")
    return SimulatedOrg(**raw)


def _settling(raw: Mapping[str, Any], fail: Any) -> Settling:
    _known_keys(raw, ("days", "matched_for_hours", "interval_minutes"), "settling.", fail)
    default = Settling()
    days = raw.get("days", default.days)
    if not _whole(days) or not 1 <= days <= 31:
        raise fail("settling.days", f"must be a whole number of days from 1 to 31, got {days!r}")
    hours = raw.get("matched_for_hours", default.matched_for_hours)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
        raise fail("settling.matched_for_hours", f"must be a number of hours >= 0, got {hours!r}")
    minutes = raw.get("interval_minutes", default.interval_minutes)
    if not _whole(minutes) or minutes < 1:
        raise fail(
            "settling.interval_minutes", f"must be a whole number of minutes >= 1, got {minutes!r}"
        )
    return Settling(days, float(hours), minutes)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dataset(name: Any, spec: Any, time_zone: str, fail: Any) -> Dataset:
    where = f"datasets.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(
            where,
            "a dataset name must be lower_snake_case (letters, digits, _), it names "
            "assets and a table",
        )
    if name in RESERVED_NAMES or name.endswith(("_raw_pages", "_parquet")):
        raise fail(
            where, f"'{name}' would collide with the names of the pipeline's own assets and tables"
        )
    spec = _mapping(spec, where, fail)
    _known_keys(
        spec, ("description", "kind", "group_by", "granularity", "metrics", "filter", "mode"),
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
    granularity = spec.get("granularity", DEFAULT_GRANULARITY)
    if granularity not in DATASET_GRANULARITIES:
        raise fail(f"{where}.granularity", _granularity_problem(granularity))
    try:
        query = AggregateQuery(
            metrics=tuple(spec["metrics"]),
            group_by=tuple(spec.get("group_by") or ()),
            granularity=granularity,
            time_zone=time_zone,
            filter=Filter.from_mapping(spec["filter"]) if spec.get("filter") is not None else None,
            kind=str(spec.get("kind", catalog.CONVERSATIONS.name)),
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
    # A date object comes only from a caller of parse() that built the mapping itself: the loader
    # leaves dates as strings, so that a bad one gets this message and not PyYAML's ValueError.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if value is None:
        raise fail(field, "missing: the first day to load, YYYY-MM-DD")
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise fail(field, f"'{value}' is not a date (YYYY-MM-DD)")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError as exc:
        raise fail(field, f"'{value}' is not a date (YYYY-MM-DD): {exc}") from None


def _error(path: Path, field: str, problem: str) -> DatasetFileError:
    return DatasetFileError(f"{path.name}: {field}: {problem} (file: {path})")


def _one_of(options: tuple[str, ...]) -> str:
    return f"{', '.join(options[:-1])} or {options[-1]}"


def _granularity_problem(granularity: Any) -> str:
    allowed = _one_of(DATASET_GRANULARITIES)
    if granularity is None:
        return (
            "null means one bucket for the whole query interval, which cannot be filed under one "
            f"daily partition; use {allowed} (or leave the key out for {DEFAULT_GRANULARITY})"
        )
    if granularity in catalog.GRANULARITIES:
        return (
            f"'{granularity}' buckets are longer than a day and cannot be filed under one daily "
            f"partition; use {allowed}"
        )
    return (
        f"unsupported granularity '{granularity}'; use {allowed}"
        f"{catalog.suggest(str(granularity), DATASET_GRANULARITIES)}"
    )


# --- The YAML reader --------------------------------------------------------------------------

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_YAML_TAGS = "tag:yaml.org,2002:"


class _Refused(Exception):
    """A YAML construct a datasets file may not use; `field` is the path it was found at."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without the parts of YAML that let a file say something other than it shows.

    Anchors, aliases, tags and nesting are refused on parser events, before the node they start
    is composed, so an alias bomb costs the few events before its first anchor, never its
    expansion. Duplicate keys are refused as each mapping is constructed, naming both lines.
    """

    # No implicit timestamps: a date stays a string for `_date`, whose error names the field,
    # where PyYAML's resolver would raise a bare ValueError for 2024-02-30.
    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class-level table, replaced whole
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path_stack: list[str] = []  # the path of each node being composed, outermost first
        self._node_paths: dict[int, str] = {}  # id(mapping node) -> its path, for duplicate keys

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        path = self._child_path(parent, index)
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(path, _no_aliases(line, f"alias *{event.anchor}"))
        if event.anchor is not None:
            raise _Refused(path, _no_aliases(line, f"anchor &{event.anchor}"))
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = tag.replace(_YAML_TAGS, "!!", 1) if tag.startswith(_YAML_TAGS) else tag
            raise _Refused(
                path, f"line {line}: tags ({shown}) are not allowed in a datasets file; remove it"
            )
        if len(self._path_stack) >= MAX_DEPTH:
            raise _Refused(path, f"line {line}: nested deeper than {MAX_DEPTH} levels")
        self._path_stack.append(path)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path_stack.pop()
        if isinstance(node, MappingNode):
            self._node_paths[id(node)] = path
        return node

    def _child_path(self, parent: Node | None, index: Any) -> str:
        if parent is None:
            return ""
        outer = self._path_stack[-1]
        if isinstance(index, int):
            return f"{outer}[{index}]"
        if isinstance(index, ScalarNode):  # a mapping value, index is its key node
            return f"{outer}.{index.value}" if outer else str(index.value)
        return outer  # a mapping key (index None) belongs to its mapping

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        path = self._node_paths.get(id(node), "")
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                # Merging exists to reuse anchored mappings, and it lets later keys override
                # merged ones silently: the duplicate-key problem by other means.
                raise _Refused(
                    path or "(top level)",
                    f"line {line}: merge keys (<<) are not allowed in a datasets file; write the "
                    "keys out",
                )
            key = self.construct_object(key_node, deep=deep)
            try:
                first = first_lines.get(key)
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error names it
            if first is not None:
                where = f"{path}.{key}" if path else str(key)
                on = f"twice on line {line}" if first == line else f"on lines {first} and {line}"
                raise _Refused(where, f"duplicate key '{key}' {on}")
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


def _no_aliases(line: int, what: str) -> str:
    return (
        f"line {line}: {what}: aliases (*name) are not allowed in a datasets file, nor the "
        "anchors (&name) they point to; write the value out"
    )


# --- Cron -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CronField:
    label: str
    low: int
    high: int
    names: Mapping[str, int]
    extra: tuple[str, ...] = ()  # forms besides numbers, ranges and steps, for the message


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS = (
    _CronField("minute", 0, 59, {}),
    _CronField("hour", 0, 23, {}),
    _CronField("day of month", 1, 31, {}, ("L (the last day)", "? (alone)")),
    _CronField("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    _CronField(
        "day of week", 0, 7, {n: i for i, n in enumerate(_WEEKDAYS)},
        ("d#k (the k-th weekday d of the month)", "? (alone)"),
    ),
)  # fmt: skip
_DAY, _WEEKDAY = _CRON_FIELDS[2], _CRON_FIELDS[4]
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February as in a leap year

# `*`, `a` or `a-b`, then an optional `/n`; what each part may be is checked after the match.
_CRON_ITEM = re.compile(r"^(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?$", re.ASCII)
_NTH_WEEKDAY = re.compile(r"^([0-9A-Za-z]+)#([0-9]+)$", re.ASCII)


class _CronProblem(Exception):
    """One part of a cron expression that is wrong; the message says which and why."""


def _cron_problem(cron: str) -> str | None:
    """What is wrong with a 5-field cron expression, or None.

    As strict as Dagster (which refuses a bad cron only when the schedule is built, after the
    file has loaded) and stricter where Dagster's croniter takes a likely mistake: a range that
    runs backwards, a step without a range, a step wider than the field, a day no chosen month
    has (even beside a day of week). Of the non-standard characters only those Dagster accepts
    and schedules by are taken: L for the day of month, d#n for the day of week and ? for
    either; W and dL are refused, as Dagster does.
    """
    parts = cron.split()
    if len(parts) != len(_CRON_FIELDS):
        return (
            f"'{cron}' is not a 5-field cron expression (minute hour day-of-month month "
            "day-of-week)"
        )
    try:
        chosen = [
            _cron_values(part, field) for part, field in zip(parts, _CRON_FIELDS, strict=True)
        ]
    except _CronProblem as exc:
        return f"'{cron}': {exc}"
    days, months = chosen[2], chosen[3]
    # Dagster refuses the 30th of February even with a day of week beside it (cron would run on
    # either); a day no chosen month has is refused in general, as it is surely a mistake.
    if (
        days is not None
        and months is not None
        and min(days) > max(_DAYS_IN_MONTH[m - 1] for m in months)
    ):
        return f"'{cron}': no month in '{parts[3]}' has a day '{parts[2]}'"
    return None


def _cron_values(part: str, field: _CronField) -> set[int] | None:
    """The values one field selects; None for every value, or for days only known at run time."""
    if part == "*" or (part == "?" and (field is _DAY or field is _WEEKDAY)):
        return None
    values: set[int] | None = set()
    for item in part.split(","):
        if not item:
            raise _CronProblem(f"{field.label} '{part}' has an empty list item")
        if field is _DAY and item.upper() == "L":
            values = None  # the last day exists in every month
            continue
        nth = _NTH_WEEKDAY.match(item) if field is _WEEKDAY else None
        if nth is not None:
            _cron_value(nth.group(1), field)
            if not 1 <= int(nth.group(2)) <= 5:
                raise _CronProblem(
                    f"{field.label} '{item}': the week {int(nth.group(2))} is outside 1-5"
                )
            continue
        match = _CRON_ITEM.match(item)
        if match is None:
            forms = _one_of(("n", "a-b", "*", "*/n", "a-b/n", *field.extra))
            raise _CronProblem(f"{field.label} '{item}' is not one of {forms}")
        star, first, last, step = match.groups()
        if step is not None and not 1 <= int(step) <= field.high - field.low:
            raise _CronProblem(
                f"{field.label} step {int(step)} is outside 1-{field.high - field.low}"
            )
        if star:
            low, high = field.low, field.high
        else:
            low = _cron_value(first, field)
            high = _cron_value(last, field) if last is not None else low
            if step is not None and last is None:
                raise _CronProblem(
                    f"{field.label} '{item}': a step needs a range, e.g. "
                    f"{first}-{field.high}/{step}"
                )
            if high < low:
                raise _CronProblem(
                    f"{field.label} range {first}-{last} runs backwards; write it as two ranges "
                    "or a list"
                )
        if values is not None:
            values.update(range(low, high + 1, int(step or 1)))
    return values


def _cron_value(token: str, field: _CronField) -> int:
    if token.isdigit():
        value = int(token)
        if not field.low <= value <= field.high:
            raise _CronProblem(f"{field.label} {value} is outside {field.low}-{field.high}")
        return value
    if token.upper() in field.names:
        return field.names[token.upper()]
    names = f" or {next(iter(field.names))}-{list(field.names)[-1]}" if field.names else ""
    # Quartz's 15W (nearest weekday) and 5L (last Friday): Dagster refuses both.
    quartz = token[:1].isdigit() and token[-1:].upper() in ("L", "W")
    unsupported = f" ({token[-1:].upper()} after a number is not supported)" if quartz else ""
    raise _CronProblem(
        f"{field.label} '{token}' is not a number {field.low}-{field.high}{names}{unsupported}"
    )
