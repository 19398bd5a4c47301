"""An aggregates query, validated before anything is sent.

A query is what a dataset declares (its kind, metrics, group-by, filter, granularity) plus the
time zone its days are cut in. The kind says which API it goes to: conversation aggregates
(queue and agent handling metrics) or user aggregates (time in a presence or routing status).
It is checked on construction, so a typo in a dataset file fails at load time with the field
that is wrong, long before a request or a write. The time window is not part
of the query: the client asks for a day, a run of days or an explicit interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from genesys_assets.genesys import catalog

FLATTEN = "flattenMultivaluedDimensions"


class QueryError(ValueError):
    """A query that the API would reject; `field` says where (e.g. `metrics[2]`)."""

    def __init__(self, field_path: str, problem: str) -> None:
        super().__init__(f"{field_path}: {problem}")
        self.field = field_path
        self.problem = problem


@dataclass(frozen=True)
class Predicate:
    dimension: str
    operator: str = "matches"
    value: str | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "dimension",
            "dimension": self.dimension,
            "operator": self.operator,
        }
        if self.value is not None:
            body["value"] = self.value
        return body


@dataclass(frozen=True)
class Clause:
    type: str
    predicates: tuple[Predicate, ...]

    def to_api(self) -> dict[str, Any]:
        return {"type": self.type, "predicates": [p.to_api() for p in self.predicates]}


@dataclass(frozen=True)
class Filter:
    type: str = "and"
    predicates: tuple[Predicate, ...] = ()
    clauses: tuple[Clause, ...] = ()

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type}
        if self.clauses:
            body["clauses"] = [c.to_api() for c in self.clauses]
        if self.predicates:
            body["predicates"] = [p.to_api() for p in self.predicates]
        return body

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], path: str = "filter") -> Filter:
        """Build from the API's own JSON shape (as written in a dataset file)."""
        if not isinstance(raw, Mapping):
            raise QueryError(path, "must be a mapping with 'type' and 'predicates' or 'clauses'")
        _reject_unknown_keys(raw, {"type", "predicates", "clauses"}, path)
        clauses = []
        for i, c in enumerate(_as_list(raw.get("clauses", []), f"{path}.clauses")):
            where = f"{path}.clauses[{i}]"
            if not isinstance(c, Mapping):
                raise QueryError(where, "must be a mapping with 'type' and 'predicates'")
            _reject_unknown_keys(c, {"type", "predicates"}, where)
            clauses.append(
                Clause(
                    type=str(c.get("type", "and")),
                    predicates=_predicates(c.get("predicates", []), f"{where}.predicates"),
                )
            )
        return cls(
            type=str(raw.get("type", "and")),
            predicates=_predicates(raw.get("predicates", []), f"{path}.predicates"),
            clauses=tuple(clauses),
        )


def _as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise QueryError(path, f"must be a list, got {type(value).__name__}")
    return value


def _reject_unknown_keys(raw: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            hint = catalog.suggest(str(key), tuple(sorted(allowed)))
            raise QueryError(f"{path}.{key}", f"unknown field{hint}")


def _predicates(raw: Any, path: str) -> tuple[Predicate, ...]:
    out = []
    for i, p in enumerate(_as_list(raw if raw is not None else [], path)):
        where = f"{path}[{i}]"
        if not isinstance(p, Mapping):
            raise QueryError(where, "must be a mapping with 'dimension', 'operator', 'value'")
        _reject_unknown_keys(p, {"type", "dimension", "operator", "value"}, where)
        if p.get("type", "dimension") != "dimension":
            raise QueryError(f"{where}.type", "only 'dimension' predicates are supported")
        value = p.get("value")
        out.append(
            Predicate(
                dimension=str(p.get("dimension", "")),
                operator=str(p.get("operator", "matches")),
                value=None if value is None else str(value),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Interval:
    """A half-open time window with offsets, as the API's `interval` field wants it."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds need a time zone")
        if self.duration <= timedelta(0):
            raise ValueError(f"interval end {self.end} is not after its start {self.start}")

    def to_api(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def duration(self) -> timedelta:
        # In UTC: two datetimes sharing a tzinfo subtract by wall clock, a DST day would be 24 h.
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)


def day_interval(first: date, time_zone: str, last: date | None = None) -> Interval:
    """Local midnight of `first` to local midnight after `last` (default: `first`).

    The offsets are the zone's at each bound, so the day a clock goes back is 25 hours long and
    the API cuts 25 hourly buckets out of it.
    """
    zone = ZoneInfo(time_zone)
    last = last or first
    return Interval(
        start=datetime.combine(first, time(0), tzinfo=zone),
        end=datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
    )


def consecutive_chunks(days: Iterable[date], chunk_days: int) -> list[tuple[date, ...]]:
    """Split days into runs of consecutive days, each at most `chunk_days` long, in order.

    A gap always starts a new chunk: one query must not silently fetch days nobody asked for.
    """
    if chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, got {chunk_days}")
    chunks: list[list[date]] = []
    for day in sorted(set(days)):
        if chunks and len(chunks[-1]) < chunk_days and chunks[-1][-1] + timedelta(days=1) == day:
            chunks[-1].append(day)
        else:
            chunks.append([day])
    return [tuple(c) for c in chunks]


@dataclass(frozen=True)
class AggregateQuery:
    """What to ask for: metrics, grouping, filter, bucket size, and the zone days are cut in."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    granularity: str | None = "PT30M"
    time_zone: str = "UTC"
    filter: Filter | None = None
    # Extra body fields passed through as-is (e.g. `queryType`). Not
    # `flattenMultivaluedDimensions`: that one is always true (see `definition`).
    extra: Mapping[str, Any] = field(default_factory=dict)
    kind: str = catalog.CONVERSATIONS.name  # see catalog.KINDS

    @property
    def api(self) -> catalog.Kind:
        return catalog.KINDS[self.kind]

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "group_by", tuple(self.group_by))
        self.validate()

    def validate(self) -> None:
        if self.kind not in catalog.KINDS:
            raise QueryError(
                "kind",
                f"unknown kind '{self.kind}'; use {' or '.join(catalog.KINDS)}"
                f"{catalog.suggest(str(self.kind), tuple(catalog.KINDS))}",
            )
        api = self.api
        if not self.metrics:
            raise QueryError("metrics", "at least one metric is required")
        _check_names(self.metrics, "metrics", api.metrics, "metric", api)
        _check_names(self.group_by, "group_by", api.dimensions, "dimension", api)
        known = catalog.GRANULARITIES
        if self.granularity is not None and self.granularity not in known:
            raise QueryError(
                "granularity",
                f"unsupported granularity '{self.granularity}'; use one of {', '.join(known)}"
                f"{catalog.suggest(self.granularity, known)}",
            )
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise QueryError("time_zone", f"unknown IANA time zone '{self.time_zone}'") from None
        if self.filter is not None:
            _check_filter(self.filter, api)
        if self.extra.get(FLATTEN, True) is not True:
            raise QueryError(
                f"extra.{FLATTEN}",
                "must stay true: without it a multivalued group value is an array, which the "
                "flattener and the SDK's models (dict of str) cannot hold",
            )

    def definition(self) -> dict[str, Any]:
        """The query in the API's field names, without the time window."""
        body: dict[str, Any] = {}
        if self.granularity:
            body["granularity"] = self.granularity
        body["timeZone"] = self.time_zone
        if self.group_by:
            body["groupBy"] = list(self.group_by)
        if self.filter is not None:
            body["filter"] = self.filter.to_api()
        body["metrics"] = list(self.metrics)
        # Always: a multivalued dimension (requestedRoutingSkillId, ...) then comes as 'a,b'
        # rather than ["a","b"], so every group value is a string, whatever a dataset groups by.
        body[FLATTEN] = True
        body.update(self.extra)
        return body

    def body(self, interval: Interval, **extra: Any) -> dict[str, Any]:
        """The JSON request body for one interval."""
        return {"interval": interval.to_api(), **self.definition(), **extra}

    def buckets_per_day(self) -> int:
        """Roughly how many buckets one day yields (used to size a query, not to parse one)."""
        return {"PT15M": 96, "PT30M": 48, "PT1H": 24}.get(self.granularity or "", 1)


def _check_names(
    names: Sequence[str], path: str, known: tuple[str, ...], what: str, api: catalog.Kind
) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in known:
            raise QueryError(f"{path}[{i}]", _unknown(what, name, known, api))
        if name in seen:
            raise QueryError(f"{path}[{i}]", f"{what} '{name}' is listed twice")
        seen.add(name)


def _unknown(what: str, name: Any, known: tuple[str, ...], api: catalog.Kind) -> str:
    """Why a name is refused; a name of the other kind says which kind it belongs to."""
    other = [
        kind.name
        for kind in catalog.KINDS.values()
        if kind is not api and name in (kind.metrics if what == "metric" else kind.dimensions)
    ]
    if other:
        listed = ", ".join(known) if len(known) <= 5 else f"the {api.name} {what}s"
        return (
            f"'{name}' is a {what} of {other[0]} aggregates; a query of kind '{api.name}' takes "
            f"{listed}"
        )
    return f"unknown {what} '{name}'{catalog.suggest(str(name), known)}"


def _check_filter(flt: Filter, api: catalog.Kind) -> None:
    if flt.type not in catalog.FILTER_TYPES:
        raise QueryError("filter.type", f"must be 'and' or 'or', got '{flt.type}'")
    if not flt.predicates and not flt.clauses:
        raise QueryError("filter", "needs at least one predicate or clause")
    groups = [("filter.predicates", flt.predicates)] + [
        (f"filter.clauses[{i}].predicates", c.predicates) for i, c in enumerate(flt.clauses)
    ]
    for i, clause in enumerate(flt.clauses):
        if clause.type not in catalog.FILTER_TYPES:
            raise QueryError(
                f"filter.clauses[{i}].type", f"must be 'and' or 'or', got '{clause.type}'"
            )
        if not clause.predicates:
            raise QueryError(f"filter.clauses[{i}].predicates", "needs at least one predicate")
    for path, predicates in groups:
        for j, p in enumerate(predicates):
            where = f"{path}[{j}]"
            if p.dimension not in api.dimensions:
                raise QueryError(
                    f"{where}.dimension", _unknown("dimension", p.dimension, api.dimensions, api)
                )
            if p.operator not in catalog.FILTER_OPERATORS:
                raise QueryError(
                    f"{where}.operator",
                    f"unknown operator '{p.operator}'; use one of "
                    f"{', '.join(catalog.FILTER_OPERATORS)}",
                )
            if p.operator == "matches" and not p.value:
                raise QueryError(f"{where}.value", "'matches' needs a value")
            if p.operator != "matches" and p.value is not None:
                raise QueryError(f"{where}.value", f"'{p.operator}' takes no value")
