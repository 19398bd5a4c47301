"""How large a query's answer for a day is, before any of it has been fetched.

The client cuts a range into chunks whose length, number in flight and mode (synchronous
query or async job) follow from the metric rows and JSON bytes a day of the query takes. Once
an answer has come back it knows them; before that, it has two ways to tell:

- `DayBound`, measured: one small synchronous query for one day at day granularity (`P1D`)
  with the query's own metrics, grouping and filter. Its answer holds each group's day total of
  each metric, and the real query has a row for a metric only in a bucket in which the metric
  occurred: a metric that occurred n times in a group's day fills at most min(n, buckets per
  day) of its buckets. Summed over the answer, that bounds the day's rows from above (1.2-1.5x
  the real rows on the simulated org's days), from an answer a fifth to a fourteenth the size
  of the day's, in one request. An async job, the other way to learn a day's size safely,
  costs a submission, polls and its own wait.
- `expected_rows`, guessed: typical group counts of a mid-size org. Only where no bound can
  be had: a query that is already by day, or a day without data.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from genesys_assets.genesys.errors import GenesysError
from genesys_assets.genesys.query import AggregateQuery, Interval

# How many distinct values a group-by dimension typically has in a mid-size org. Only used by
# `expected_rows`; the guess errs on the large side.
_CARDINALITY_HINTS = {
    "conversationId": 50_000,
    "sessionId": 50_000,
    "userId": 500,
    "queueId": 50,
    "wrapUpCode": 30,
    "teamId": 20,
}
_DEFAULT_CARDINALITY = 3
# Share of (bucket, group) pairs that actually have data: most agents are not on every queue
# in every half hour.
_FILL_RATE = 0.25
_MAX_GROUPS = 20_000


@dataclass(frozen=True)
class DayBound:
    """At most this many metric rows, and about this much JSON, in one day's answer."""

    rows: int
    bytes: float
    groups: int  # the groups the day had (for the log)


def day_totals_query(query: AggregateQuery) -> AggregateQuery | None:
    """The query by day, or None where the query is by day (or one bucket) already: its answer
    for a day is the day's own answer, and asking it would fetch the day twice."""
    if query.buckets_per_day() <= 1:
        return None
    return dataclasses.replace(query, granularity="P1D")


def day_bound(body: bytes, buckets_per_day: int) -> DayBound | None:
    """The bound from a day-totals answer; None if the day has no data (nothing to go by)."""
    try:
        answer = json.loads(body)
        results = answer.get("results") or []
        rows = entries = 0
        for result in results:
            for bucket in result["data"]:
                stats = [metric["stats"] for metric in bucket["metrics"]]
                entries += len(stats)
                rows += _rows_of_bucket(stats, buckets_per_day)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GenesysError(
            f"the day-totals answer (granularity P1D, used to size the chunks) is not an "
            f"aggregates answer: {type(exc).__name__}: {exc}"
        ) from None
    if not entries:
        return None
    # JSON bytes per metric entry of the by-day answer: a little more than the day's own
    # (90-99 against 82-89 bytes measured), whose buckets carry the same fields.
    return DayBound(rows=rows, bytes=rows * len(body) / entries, groups=len(results))


def _rows_of_bucket(stats: list[dict[str, Any]], buckets_per_day: int) -> int:
    """The rows a group's metrics can fill in a day: each at most its occurrences.

    Occurrences are a timer's or count's `count`, or an observation's `denominator`
    (`oServiceLevel`); a metric that carries neither (`oServiceTarget`: a target) is counted as
    often as the group's most frequent metric, or in every bucket if none says.
    """
    counts = [s.get("count", s.get("denominator")) for s in stats]
    known = [int(c) for c in counts if isinstance(c, int | float)]
    most = max(known) if known else buckets_per_day
    return sum(min(buckets_per_day, int(c) if isinstance(c, int | float) else most) for c in counts)


def expected_rows(query: AggregateQuery, interval: Interval) -> float:
    """A generous guess of the metric rows a query returns."""
    groups = 1.0
    for dimension in query.group_by:
        groups *= _CARDINALITY_HINTS.get(dimension, _DEFAULT_CARDINALITY)
    buckets = (
        max(1.0, interval_days(interval) * query.buckets_per_day()) if query.granularity else 1.0
    )
    return buckets * len(query.metrics) * min(groups, _MAX_GROUPS) * _FILL_RATE


def interval_days(interval: Interval) -> float:
    """An interval's length in days (a DST day is 23/24 or 25/24), at least an hour's."""
    return max(interval.duration.total_seconds() / 86400, 1 / 24)
