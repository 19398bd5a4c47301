"""The KPI views: what contact-center teams report on, derived from the long tables in SQL.

Service level, abandon rate, average speed of answer, handle times: each is a ratio of sums of
the long table's `stat_count`, `stat_sum` (and oServiceLevel's numerator and denominator),
which people get wrong by hand (an average of half-hourly ratios is not the day's ratio). Each
view is one SQL file in `genesys_assets/kpis/`, with its formulas at the top, written to run
on DuckDB and Snowflake alike: read it, change it, the next materialization replaces the view.
Views, not tables: they are always computed from the rows the checks vouch for, a re-loaded
day included, with nothing of their own to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from genesys_assets import datasets
from genesys_assets.kpi_charts import HalfHour
from genesys_assets.long_table import DEFAULT_ORG
from genesys_assets.warehouse.base import Warehouse, as_date, as_timestamp

SQL_FOLDER = Path(__file__).with_name("kpis")


@dataclass(frozen=True)
class KpiView:
    name: str
    description: str
    datasets: tuple[str, ...]  # the dataset tables its rows come from: it must have their days
    reads: tuple[str, ...]  # the tables and views its SQL names, as {placeholders}
    ratios: tuple[str, ...]  # columns that must lie within [0, 1]
    shown: tuple[str, ...]  # the columns of its preview in the catalog
    # Whether its materialization carries the picture of the newest day (`day_chart`).
    chart: bool = False

    @property
    def path(self) -> Path:
        return SQL_FOLDER / f"{self.name}.sql"

    def sql(self, warehouse: Warehouse) -> str:
        """The view's SELECT, its tables named as the warehouse names them."""
        return self.path.read_text().format(**{n: warehouse.qualified(n) for n in self.reads})


KPI_VIEWS: tuple[KpiView, ...] = (
    KpiView(
        "kpi_queue_interval",
        "Queue KPIs per queue, media type and half hour: offered, answered, abandoned, abandon "
        "rate, service level, average speed of answer, average handle / talk / hold / "
        "after-call time, transfer rate; queue names joined.",
        ("queue_performance",),
        ("queue_performance", datasets.QUEUES_ASSET),
        # Not transfer_rate: transfers and answers fall in different half hours (see the SQL).
        ("abandon_rate", "service_level"),
        (
            "partition_date",
            "org",
            "interval_start",
            "queue_name",
            "media_type",
            "offered",
            "answered",
            "abandon_rate",
            "service_level",
            "asa_s",
            "aht_s",
        ),
        chart=True,
    ),
    KpiView(
        "kpi_queue_day",
        "Queue KPIs per queue and day (the day's own ratios, not averages of half hours).",
        ("queue_performance",),
        ("kpi_queue_interval",),
        ("abandon_rate", "service_level", "transfer_rate"),
        (
            "partition_date",
            "org",
            "queue_name",
            "offered",
            "answered",
            "abandon_rate",
            "service_level",
            "asa_s",
            "aht_s",
        ),
    ),
    KpiView(
        "kpi_agent_day",
        "Agent KPIs per agent and day: handled, answered, average handle / talk / hold / "
        "after-call time and their totals, transfer rate, time logged in, on queue and in each "
        "routing status, occupancy; agent names joined (agents who left included).",
        ("agent_performance", "agent_status"),
        ("agent_performance", "agent_status", datasets.USERS_ASSET),
        ("transfer_rate", "occupancy"),
        (
            "partition_date",
            "org",
            "agent_name",
            "agent_state",
            "handled",
            "aht_s",
            "avg_acw_s",
            "on_queue_s",
            "occupancy",
        ),
    ),
)


def preview(warehouse: Warehouse, view: KpiView, rows: int = 10) -> list[dict[str, Any]]:
    """The newest rows of the view, its `shown` columns."""
    sql = (
        f"SELECT {', '.join(view.shown)} FROM {warehouse.qualified(view.name)} "
        f"ORDER BY partition_date DESC, {view.shown[1]}, {view.shown[2]} LIMIT {int(rows)}"
    )
    return [dict(zip(view.shown, row, strict=True)) for row in warehouse.select(view.name, sql)]


def newest_day_half_hours(
    warehouse: Warehouse, view: KpiView, org: str
) -> tuple[date, list[HalfHour]] | None:
    """The org's newest day of a half-hourly view, offered and answered per half hour, all
    queues together (what `kpi_charts` draws); None while the view has no rows of the org."""
    table = warehouse.qualified(view.name)
    rows = warehouse.select(
        view.name,
        f"SELECT partition_date, interval_start, SUM(offered), SUM(answered) FROM {table} "
        f"WHERE org = ? AND partition_date = (SELECT MAX(partition_date) FROM {table} "
        "WHERE org = ?) GROUP BY partition_date, interval_start ORDER BY interval_start",
        [org, org],
    )
    if not rows:
        return None
    buckets = [
        HalfHour(as_timestamp(start), float(offered or 0), float(answered or 0))
        for _, start, offered, answered in rows
    ]
    return as_date(rows[0][0]), buckets


def views_for(config: datasets.DatasetsFile) -> list[KpiView]:
    """The views whose datasets the datasets file declares, all of them (a file without them
    has none: kpi_agent_day needs agent_status beside agent_performance)."""
    names = {dataset.name for dataset in config.datasets}
    return [view for view in KPI_VIEWS if names.issuperset(view.datasets)]


@dataclass(frozen=True)
class ViewCheck:
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _org_day(org: Any, day: Any) -> str:
    """A day of an org as the check lists it: the day alone for a one-org file's org."""
    return str(day) if org == DEFAULT_ORG else f"{org}/{day}"


def ratios_in_range(warehouse: Warehouse, view: KpiView) -> ViewCheck:
    """Every ratio of the view within [0, 1]; the offending rows' days and ratios named."""
    outside = " OR ".join(f"{c} < 0 OR {c} > 1" for c in view.ratios)
    rows = warehouse.select(
        view.name,
        f"SELECT partition_date, {', '.join(view.ratios)} FROM {warehouse.qualified(view.name)} "
        f"WHERE {outside} ORDER BY partition_date LIMIT 20",
    )
    if not rows:
        return ViewCheck(True, f"{view.name}: {', '.join(view.ratios)} within [0, 1] everywhere")
    shown = [
        {"partition_date": str(row[0]), **dict(zip(view.ratios, row[1:], strict=True))}
        for row in rows
    ]
    return ViewCheck(
        False,
        f"{view.name}: rows with a ratio outside [0, 1], first on {rows[0][0]}: check the "
        f"formulas in {view.path.name}",
        {"rows": shown},
    )


def days_complete(warehouse: Warehouse, view: KpiView) -> ViewCheck:
    """The view has every org's day its dataset tables have (a join must not lose a day)."""
    source: set[str] = set()
    for dataset in view.datasets:
        source |= {
            _org_day(org, day)
            for org, day in warehouse.select(
                dataset,
                f"SELECT DISTINCT org, partition_date FROM {warehouse.qualified(dataset)}",
            )
        }
    present = warehouse.select(
        view.name, f"SELECT DISTINCT org, partition_date FROM {warehouse.qualified(view.name)}"
    )
    missing = sorted(source - {_org_day(org, day) for org, day in present})
    tables = " and ".join(view.datasets)
    if not missing:
        return ViewCheck(
            True,
            f"{view.name}: all {len(source)} days of {tables}",
            {"days": len(source), "missing": []},
        )
    return ViewCheck(
        False,
        f"{view.name}: {len(missing)} day(s) of {tables} missing, first {missing[0]}",
        {"days": len(source), "missing": missing[:50]},
    )
