"""Reading and checking an aggregates query body, and cutting its interval into buckets.

The real API rejects what it does not understand with HTTP 400, and a client developed against
a lenient fake only finds out in production. So this is strict where Genesys is (names,
interval, granularity, time zone, filter shape) and names the problem in the message, with a
did-you-mean for names, because that message is what ends up in a pipeline's failure log.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from genesys_assets.genesys.catalog import (
    CONVERSATIONS,
    FILTER_OPERATORS,
    FILTER_TYPES,
    GRANULARITIES,
    KINDS,
    suggest,
)
from genesys_assets.simulator.errors import bad_request

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_QUERY_FIELDS = frozenset(
    {
        "interval", "granularity", "timeZone", "groupBy", "filter", "metrics",
        "flattenMultivaluedDimensions", "views", "alternateTimeDimension", "queryType",
        "sortMetric", "limit",
    }
)  # fmt: skip
_JOB_FIELDS = _QUERY_FIELDS | {"pageSize"}
_FIXED_STEPS_MS = {"PT15M": 900_000, "PT30M": 1_800_000, "PT1H": 3_600_000}
MAX_PAGE_SIZE = 10_000


@dataclass(frozen=True)
class Predicate:
    dimension: str
    operator: str  # matches | exists | notExists
    value: str | None


@dataclass(frozen=True)
class Clause:
    type: str  # and | or
    predicates: tuple[Predicate, ...]


@dataclass(frozen=True)
class Filter:
    type: str
    predicates: tuple[Predicate, ...]
    clauses: tuple[Clause, ...]

    def dimensions(self) -> set[str]:
        found = {p.dimension for p in self.predicates}
        for clause in self.clauses:
            found |= {p.dimension for p in clause.predicates}
        return found


@dataclass(frozen=True)
class AggregateQuery:
    interval: str
    start_ms: int
    end_ms: int
    granularity: str | None
    time_zone: str
    group_by: tuple[str, ...]
    filter: Filter | None
    metrics: tuple[str, ...]
    bounds: tuple[int, ...]  # bucket edges in epoch ms: bucket i is [bounds[i], bounds[i+1])
    page_size: int | None = None  # async jobs only
    # flattenMultivaluedDimensions: a multivalued group value as 'a,b' rather than ["a","b"].
    flatten_multivalued: bool = False
    kind: str = CONVERSATIONS.name  # which endpoint it came to: conversations or users


def to_ms(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as Genesys writes instants: UTC, milliseconds, a Z."""
    moment = EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def parse_query(
    body: object,
    *,
    max_interval_days: float,
    job: bool = False,
    default_page_size: int = 100,
    kind: str = CONVERSATIONS.name,
) -> AggregateQuery:
    """The query of a request body to the `kind` endpoint (conversations or users)."""
    api = KINDS[kind]
    if not isinstance(body, Mapping):
        raise bad_request("The request body must be a JSON object.")
    allowed = _JOB_FIELDS if job else _QUERY_FIELDS
    for key in body:
        if key not in allowed:
            raise bad_request(f"Unrecognized field '{key}'{suggest(str(key), tuple(allowed))}")

    interval = body.get("interval")
    if interval is None:
        raise bad_request("Missing required field 'interval'")
    start, end = _parse_interval(interval)
    span_days = (end - start) / timedelta(days=1)
    if span_days > max_interval_days:
        raise bad_request(
            f"Interval '{interval}' spans {span_days:g} days; "
            f"the maximum is {max_interval_days:g} days"
        )

    granularity = body.get("granularity")
    if granularity is not None and granularity not in GRANULARITIES:
        raise bad_request(
            f"Invalid granularity '{granularity}'{suggest(str(granularity), GRANULARITIES)};"
            f" supported: {', '.join(GRANULARITIES)}"
        )

    time_zone = body.get("timeZone", "UTC")
    if time_zone is None:
        time_zone = "UTC"
    zone = _zone(time_zone)

    group_by = _names(body.get("groupBy"), "groupBy", required=False)
    for name in group_by:
        if name not in api.dimensions:
            raise bad_request(
                f"Unknown dimension '{name}' in groupBy{suggest(name, api.dimensions)}"
            )

    metrics = _names(body.get("metrics"), "metrics", required=True)
    for name in metrics:
        if name not in api.metrics:
            raise bad_request(f"Unknown metric '{name}'{suggest(name, api.metrics)}")

    raw_filter = body.get("filter")
    query_filter = _parse_filter(raw_filter, api.dimensions) if raw_filter is not None else None

    _check_unsupported(body)

    page_size = None
    if job:
        page_size = body.get("pageSize", default_page_size)
        if page_size is None:
            page_size = default_page_size
        if (
            not isinstance(page_size, int)
            or isinstance(page_size, bool)
            or not (1 <= page_size <= MAX_PAGE_SIZE)
        ):
            raise bad_request(f"Invalid pageSize '{page_size}': must be 1 to {MAX_PAGE_SIZE}")

    return AggregateQuery(
        interval=interval,
        start_ms=to_ms(start),
        end_ms=to_ms(end),
        granularity=granularity,
        time_zone=time_zone,
        group_by=group_by,
        filter=query_filter,
        metrics=metrics,
        bounds=bucket_bounds(start, end, granularity, zone),
        page_size=page_size,
        flatten_multivalued=body.get("flattenMultivaluedDimensions") is True,
        kind=kind,
    )


def bucket_bounds(
    start: datetime, end: datetime, granularity: str | None, zone: zoneinfo.ZoneInfo
) -> tuple[int, ...]:
    """Bucket edges: sub-day steps are fixed durations from the start (a DST day has 23 or 25
    hours); days, weeks and months step on the calendar of `zone`."""
    start_ms, end_ms = to_ms(start), to_ms(end)
    if granularity is None:
        return (start_ms, end_ms)
    step = _FIXED_STEPS_MS.get(granularity)
    if step is not None:
        return (*range(start_ms, end_ms, step), end_ms)
    wall = start.astimezone(zone).replace(tzinfo=None)
    edges = [start_ms]
    k = 1
    while True:
        if granularity == "P1D":
            nxt = wall + timedelta(days=k)
        elif granularity == "P7D":
            nxt = wall + timedelta(days=7 * k)
        else:  # P1M
            nxt = _add_months(wall, k)
        edge = to_ms(nxt.replace(tzinfo=zone))
        k += 1
        if edge >= end_ms:
            break
        if edge > edges[-1]:  # a wall time inside a DST gap must not step backwards
            edges.append(edge)
    edges.append(end_ms)
    return tuple(edges)


def _add_months(wall: datetime, months: int) -> datetime:
    index = wall.month - 1 + months
    year, month = wall.year + index // 12, index % 12 + 1
    days_in_month = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return wall.replace(year=year, month=month, day=min(wall.day, days_in_month))


def _parse_interval(interval: object) -> tuple[datetime, datetime]:
    example = "e.g. 2024-11-01T00:00:00-05:00/2024-11-02T00:00:00-05:00"
    if not isinstance(interval, str) or interval.count("/") != 1:
        raise bad_request(
            f"Invalid interval '{interval}': expected ISO-8601 'start/end' with offsets, {example}"
        )
    parts = interval.split("/")
    moments = []
    for label, text in zip(("start", "end"), parts, strict=True):
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise bad_request(
                f"Invalid interval '{interval}': the {label} '{text}' is not an ISO-8601 "
                f"date-time, {example}"
            ) from None
        if moment.utcoffset() is None:
            raise bad_request(
                f"Invalid interval '{interval}': the {label} '{text}' has no UTC offset "
                f"(add Z or an offset such as -05:00)"
            )
        moments.append(moment)
    start, end = moments
    if end <= start:
        raise bad_request(f"Invalid interval '{interval}': the end must be after the start")
    return start, end


@lru_cache(maxsize=256)
def _load_zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _zone(name: object) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name:
        raise bad_request(f"Invalid timeZone '{name}': expected an IANA time zone name")
    try:
        return _load_zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise bad_request(
            f"Invalid timeZone '{name}': not an IANA time zone name (e.g. America/New_York)"
        ) from None


def _names(raw: object, field: str, *, required: bool) -> tuple[str, ...]:
    if raw is None:
        if required:
            raise bad_request(f"Missing required field '{field}'")
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise bad_request(f"Invalid '{field}': expected a list of names")
    if required and not raw:
        raise bad_request(f"Invalid '{field}': at least one is required")
    return tuple(dict.fromkeys(raw))  # duplicates collapse, order stays


def _parse_filter(raw: object, dimensions: tuple[str, ...]) -> Filter:
    if not isinstance(raw, Mapping):
        raise bad_request("Invalid filter: expected an object with 'type' and 'predicates'")
    _only(raw, {"type", "predicates", "clauses"}, "filter")
    kind = _filter_type(raw.get("type"), "filter")
    predicates = tuple(
        _parse_predicate(p, dimensions) for p in _list(raw.get("predicates"), "filter")
    )
    clauses = []
    for item in _list(raw.get("clauses"), "filter"):
        if not isinstance(item, Mapping):
            raise bad_request("Invalid filter clause: expected an object")
        _only(item, {"type", "predicates"}, "filter clause")
        clause_type = _filter_type(item.get("type"), "filter clause")
        clause_predicates = tuple(
            _parse_predicate(p, dimensions) for p in _list(item.get("predicates"), "filter clause")
        )
        if not clause_predicates:
            raise bad_request("Invalid filter clause: it needs at least one predicate")
        clauses.append(Clause(clause_type, clause_predicates))
    if not predicates and not clauses:
        raise bad_request("Invalid filter: it needs at least one predicate or clause")
    return Filter(kind, predicates, tuple(clauses))


def _parse_predicate(raw: object, dimensions: tuple[str, ...]) -> Predicate:
    if not isinstance(raw, Mapping):
        raise bad_request("Invalid filter predicate: expected an object")
    _only(raw, {"type", "dimension", "operator", "value", "range"}, "filter predicate")
    kind = raw.get("type", "dimension") or "dimension"
    if kind != "dimension":
        raise bad_request(
            f"Unsupported filter predicate type '{kind}': this org answers dimension predicates"
        )
    if raw.get("range") is not None:
        raise bad_request("Invalid filter predicate: 'range' applies to metric predicates only")
    dimension = raw.get("dimension")
    if not isinstance(dimension, str):
        raise bad_request("Invalid filter predicate: missing 'dimension'")
    if dimension not in dimensions:
        hint = suggest(dimension, dimensions)
        raise bad_request(f"Unknown dimension '{dimension}' in filter{hint}")
    operator = raw.get("operator", "matches") or "matches"
    if operator not in FILTER_OPERATORS:
        raise bad_request(
            f"Invalid filter operator '{operator}'{suggest(str(operator), FILTER_OPERATORS)};"
            f" supported: {', '.join(FILTER_OPERATORS)}"
        )
    value = raw.get("value")
    if operator == "matches":
        if not isinstance(value, str) or not value:
            raise bad_request(
                f"Invalid filter predicate on '{dimension}': operator 'matches' needs a 'value'"
            )
    else:
        value = None  # exists/notExists test presence only
    return Predicate(dimension, operator, value)


def _filter_type(raw: object, where: str) -> str:
    if raw not in FILTER_TYPES:
        raise bad_request(
            f"Invalid {where} type '{raw}'{suggest(str(raw), FILTER_TYPES)};"
            f" expected one of: {', '.join(FILTER_TYPES)}"
        )
    return str(raw)


def _list(raw: object, where: str) -> list[object]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request(f"Invalid {where}: 'predicates' and 'clauses' must be lists")
    return raw


def _only(raw: Mapping[str, object], allowed: set[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise bad_request(f"Unrecognized field '{key}' in {where}")


def _check_unsupported(body: Mapping[str, object]) -> None:
    # Accepted by the real API but changing the answer's shape; better a clear 400 than data
    # that silently differs from production.
    query_type = body.get("queryType")
    if query_type not in (None, "groupBy"):
        raise bad_request(f"Unsupported queryType '{query_type}': only 'groupBy' is simulated")
    if body.get("views"):
        raise bad_request("Unsupported field 'views': metric views are not simulated")
    alternate = body.get("alternateTimeDimension")
    if alternate not in (None, "eventTime"):
        raise bad_request(
            f"Invalid alternateTimeDimension '{alternate}': the only value is 'eventTime'"
        )
    flatten = body.get("flattenMultivaluedDimensions")
    if flatten is not None and not isinstance(flatten, bool):
        raise bad_request("Invalid flattenMultivaluedDimensions: expected true or false")
    limit = body.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise bad_request(f"Invalid limit '{limit}': expected a positive integer")
