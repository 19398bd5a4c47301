"""Does the warehouse hold what Genesys has for a day?

The row-count and totals checks (`genesys_assets.parity`) prove that the warehouse holds what
was staged. This one asks the source: for each day, Genesys' own totals of the dataset's
metrics (the same metrics and filter, by day, no group-by: an independent question, answered
for up to a month of days in one small synchronous request), against the warehouse's per-metric
sums of the additive statistics (`stat_count`, `stat_sum`, and `oServiceLevel`'s numerator and
denominator). A job cursor that stopped early, a group an answer left out, a day that changed
after it was loaded: each passes the other two checks and fails this one.

Why the two sides must agree: each event of a metric falls in exactly one bucket of the day and
in one group of the dataset's grouping, so the additive statistics of the buckets and groups
sum to the day's. Not so for a multivalued dimension (a conversation that asked for two skills
is in two groups): a dataset grouped by one has no source check (`not_comparable`).

Closed days still change for a while (ingestion lag, Genesys' nightly reprocessing, org
settings such as the service-level options that apply to past dates): inside the settling
window a difference is a warning, and the settling sensor re-loads the day; older, it fails.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from genesys_assets.datasets import Dataset
from genesys_assets.genesys.client import GenesysClient
from genesys_assets.genesys.pages import RawPage
from genesys_assets.genesys.query import AggregateQuery
from genesys_assets.long_table import measure, measures
from genesys_assets.parity import RELATIVE_TOLERANCE, Parity
from genesys_assets.warehouse.base import ADDITIVE_STATS, Warehouse

# Dimensions whose group values are lists (flattened to "a,b"): their groups overlap.
MULTIVALUED_DIMENSIONS = frozenset({"requestedRoutingSkillId"})

# Per measure (a metric, or a metric and its status: long_table.measure), the total of each
# additive statistic it has.
DayTotals = Mapping[str, Mapping[str, float]]


def totals_query(query: AggregateQuery) -> AggregateQuery:
    """The dataset's query as day totals: same metrics, filter and zone; by day; no group-by."""
    return dataclasses.replace(query, group_by=(), granularity="P1D")


def not_comparable(dataset: Dataset) -> str | None:
    """Why the dataset's groups cannot be summed to Genesys' day totals, if they cannot."""
    overlapping = sorted(MULTIVALUED_DIMENSIONS.intersection(dataset.group_by))
    if overlapping:
        return (
            f"{dataset.name} is grouped by {', '.join(overlapping)}, a multivalued dimension: a "
            "conversation is in one group per value, so its groups add up to more than the day"
        )
    return None


def answer_totals(
    pages: Sequence[RawPage], query: AggregateQuery, days: Sequence[date]
) -> Mapping[date, DayTotals]:
    """Per day, the totals of a `totals_query` answer, summed over its groups (real answers
    split even an ungrouped query by mediaType).

    The answer goes through the same flattener as the dataset's pages: a field, a metric or a
    day it did not ask for is an error that names it, never a silent zero.
    """
    from genesys_assets.flatten import PageInput, flatten_pages

    flattened = flatten_pages(
        [PageInput(page.body, f"day totals answer {n}") for n, page in enumerate(pages, 1)],
        (),
        query.time_zone,
        datetime.now(UTC),
        query.metrics,
    )
    flattened.split_days(list(days))  # refuses buckets outside the days or longer than a day
    columns = [f"stat_{stat}" for stat in ADDITIVE_STATS]
    table = flattened.table.select(["partition_date", "metric", "qualifier", *columns])
    grouped = table.group_by(["partition_date", "metric", "qualifier"]).aggregate(
        [(column, "sum") for column in columns]
    )
    # A sum over only NULLs is NULL: the metric does not have that statistic.
    totals: dict[date, dict[str, Mapping[str, float]]] = {day: {} for day in days}
    for row in grouped.to_pylist():
        totals[row["partition_date"]][measure(row["metric"], row["qualifier"])] = {
            stat: float(row[f"stat_{stat}_sum"])
            for stat in ADDITIVE_STATS
            if row[f"stat_{stat}_sum"] is not None
        }
    return totals


def compare(
    day: date, genesys: DayTotals, warehouse: DayTotals, *, settling: bool, table: str
) -> Parity:
    """One day's verdict, both sides per metric in the details.

    `settling`: the day is inside the settling window, where a difference is expected news (a
    warning, and a re-load by the settling sensor) rather than a failure.
    """
    per_metric: list[dict[str, Any]] = []
    differing: list[str] = []
    for metric in sorted(set(genesys) | set(warehouse)):
        source = genesys.get(metric, {})
        loaded = warehouse.get(metric, {})
        entry: dict[str, Any] = {"metric": metric}
        same = True
        for stat in ADDITIVE_STATS:
            if stat not in source and stat not in loaded:
                continue
            theirs, ours = source.get(stat, 0.0), loaded.get(stat, 0.0)
            entry[f"genesys_{stat}"] = _number(theirs)
            entry[f"warehouse_{stat}"] = _number(ours)
            if not math.isclose(theirs, ours, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-6):
                same = False
        entry["agrees"] = same
        per_metric.append(entry)
        if not same:
            differing.append(metric)
    passed = not differing
    if genesys and not warehouse:
        shown = f"the warehouse has no rows for the day, Genesys has {len(genesys)} metrics"
    else:
        shown = "; ".join(_difference(e) for e in per_metric if not e["agrees"])
    compared = measures(len(per_metric), [e["metric"] for e in per_metric])
    if passed:
        summary = f"{day}: the totals of {compared} agree with Genesys"
    else:
        summary = (
            f"{day}: {len(differing)} of {compared} differ from Genesys' day totals ({shown})"
            + (
                ": the day is still settling; the settling sensor re-loads it"
                if settling
                else f": re-materialize {table} for partition {day}"
            )
        )
    details: dict[str, Any] = {
        "metrics_compared": len(per_metric),
        "metrics_differing": len(differing),
        "both_sides": _table(per_metric),
        "metrics": per_metric,
        "settling": settling,
    }
    if differing:
        details.update(differing=differing, difference=shown)
    return Parity(day, passed, summary, details, warn_only=settling)


def _table(per_metric: Sequence[Mapping[str, Any]]) -> str:
    """Both sides per metric as a Markdown table (what the UI shows without a click)."""
    lines = [
        "| metric | stat | Genesys | warehouse | agrees |",
        "|---|---|---:|---:|---|",
    ]
    for entry in per_metric:
        for stat in ADDITIVE_STATS:
            if f"genesys_{stat}" in entry:
                lines.append(
                    f"| {entry['metric']} | {stat} | {entry[f'genesys_{stat}']:,} | "
                    f"{entry[f'warehouse_{stat}']:,} | {'yes' if entry['agrees'] else '**no**'} |"
                )
    return "\n".join(lines)


@dataclass(frozen=True)
class SourceComparison:
    verdicts: list[Parity]  # one per day
    genesys: Mapping[date, DayTotals]
    requests: int  # to Genesys


def compare_with_source(
    client: GenesysClient,
    warehouse: Warehouse,
    dataset: Dataset,
    days: Sequence[date],
    settling_since: date,
) -> SourceComparison:
    """Ask Genesys for the days' totals and compare the warehouse's with them."""
    query = totals_query(dataset.query)
    pages = client.day_totals(query, days)
    genesys = answer_totals(pages, query, days)
    loaded = (
        warehouse.partition_stat_totals(dataset.name, dataset.org.id, days)
        if warehouse.has_table(dataset.name)
        else {}
    )
    verdicts = source_parity(genesys, loaded, days, settling_since, dataset.name)
    return SourceComparison(verdicts, genesys, len(pages))


def source_parity(
    genesys: Mapping[date, DayTotals],
    warehouse: Mapping[date, DayTotals],
    days: Sequence[date],
    settling_since: date,
    table: str,
) -> list[Parity]:
    """One verdict per day; days on or after `settling_since` are still settling."""
    return [
        compare(
            day,
            genesys.get(day, {}),
            warehouse.get(day, {}),
            settling=day >= settling_since,
            table=table,
        )
        for day in days
    ]


def fingerprint(totals: DayTotals) -> str:
    """A short, stable digest of a day's Genesys totals: the same change gives the same one."""
    import hashlib
    import json

    canonical = json.dumps(
        {m: {s: round(v, 6) for s, v in sorted(stats.items())} for m, stats in totals.items()},
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _difference(entry: Mapping[str, Any]) -> str:
    parts = [
        f"{stat} {entry[f'genesys_{stat}']} in Genesys vs {entry[f'warehouse_{stat}']}"
        for stat in ADDITIVE_STATS
        if f"genesys_{stat}" in entry
        and not math.isclose(
            entry[f"genesys_{stat}"],
            entry[f"warehouse_{stat}"],
            rel_tol=RELATIVE_TOLERANCE,
            abs_tol=1e-6,
        )
    ]
    return f"{entry['metric']} " + ", ".join(parts)
