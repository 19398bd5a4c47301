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
from pathlib import Path
from typing import Any

from genesys_assets import datasets
from genesys_assets.warehouse.base import Warehouse

SQL_FOLDER = Path(__file__).with_name("kpis")


@dataclass(frozen=True)
class KpiView:
    name: str
    description: str
    dataset: str  # the dataset table its rows come from: the view must have its days
    reads: tuple[str, ...]  # the tables and views its SQL names, as {placeholders}
    ratios: tuple[str, ...]  # columns that must lie within [0, 1]
    shown: tuple[str, ...]  # the columns of its preview in the catalog

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
        "queue_performance",
        ("queue_performance", datasets.QUEUES_ASSET),
        # Not transfer_rate: transfers and answers fall in different half hours (see the SQL).
        ("abandon_rate", "service_level"),
        (
            "partition_date",
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
    ),
    KpiView(
        "kpi_queue_day",
        "Queue KPIs per queue and day (the day's own ratios, not averages of half hours).",
        "queue_performance",
        ("kpi_queue_interval",),
        ("abandon_rate", "service_level", "transfer_rate"),
        (
            "partition_date",
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
        "after-call time and their totals, transfer rate; agent names joined (agents who "
        "left included).",
        "agent_performance",
        ("agent_performance", datasets.USERS_ASSET),
        ("transfer_rate",),
        (
            "partition_date",
            "agent_name",
            "agent_state",
            "handled",
            "aht_s",
            "avg_talk_s",
            "avg_acw_s",
        ),
    ),
)


def preview(warehouse: Warehouse, view: KpiView, rows: int = 10) -> list[dict[str, Any]]:
    """The newest rows of the view, its `shown` columns."""
    sql = (
        f"SELECT {', '.join(view.shown)} FROM {warehouse.qualified(view.name)} "
        f"ORDER BY partition_date DESC, {view.shown[1]} LIMIT {int(rows)}"
    )
    return [dict(zip(view.shown, row, strict=True)) for row in warehouse.select(view.name, sql)]


def views_for(config: datasets.DatasetsFile) -> list[KpiView]:
    """The views whose dataset the datasets file declares (a file without it has none)."""
    names = {dataset.name for dataset in config.datasets}
    return [view for view in KPI_VIEWS if view.dataset in names]


@dataclass(frozen=True)
class ViewCheck:
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


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
    """The view has every day its dataset table has (a join must not lose a day)."""
    source = warehouse.select(
        view.dataset,
        f"SELECT DISTINCT partition_date FROM {warehouse.qualified(view.dataset)}",
    )
    present = warehouse.select(
        view.name, f"SELECT DISTINCT partition_date FROM {warehouse.qualified(view.name)}"
    )
    missing = sorted({str(d) for (d,) in source} - {str(d) for (d,) in present})
    if not missing:
        return ViewCheck(
            True,
            f"{view.name}: all {len(source)} days of {view.dataset}",
            {"days": len(source), "missing": []},
        )
    return ViewCheck(
        False,
        f"{view.name}: {len(missing)} day(s) of {view.dataset} missing, first {missing[0]}",
        {"days": len(source), "missing": missing[:50]},
    )
