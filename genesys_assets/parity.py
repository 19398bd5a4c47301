"""Does the warehouse hold exactly what was staged for a day?

Two comparisons, each between the staged Parquet file (read by itself: its footer for the row
count, its own columns for the totals) and the warehouse (queried for that `partition_date`
only, never a whole-table count; a range run asks once for all of its days):
- row count parity: the same number of rows;
- totals parity: per metric, the same sum of `stat_count` (exactly) and of `stat_sum` (up to
  floating-point summation order).
A row deleted or duplicated behind the pipeline's back fails both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.warehouse.base import Warehouse

# Sums of float stats may differ in the last bits with the order of addition.
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Parity:
    day: date
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def row_count_parity(
    warehouse: Warehouse, table: str, staged: Mapping[date, StagedParquet]
) -> list[Parity]:
    """One result per day; the warehouse is asked once for all the days."""
    in_warehouse = warehouse.partition_row_counts(table, list(staged))
    results = []
    for day, file in staged.items():
        rows = in_warehouse[day]
        results.append(
            Parity(
                day,
                rows == file.rows,
                f"{day}: {rows} rows in {warehouse.qualified(table)}, "
                f"{file.rows} in the staged file's footer",
                {"warehouse_rows": rows, "staged_rows": file.rows, "staged_file": file.key},
            )
        )
    return results


def staged_totals(store: ParquetStore, staged: StagedParquet) -> dict[str, tuple[int, float]]:
    import pyarrow.compute as pc  # here: the check definitions import this module at load time

    table = store.read(staged.key, columns=["metric", "stat_count", "stat_sum"])
    grouped = table.group_by("metric").aggregate([("stat_count", "sum"), ("stat_sum", "sum")])
    metrics = grouped.column("metric").to_pylist()
    counts = pc.fill_null(grouped.column("stat_count_sum"), 0).to_pylist()
    sums = pc.fill_null(grouped.column("stat_sum_sum"), 0.0).to_pylist()
    return {m: (int(c), float(s)) for m, c, s in zip(metrics, counts, sums, strict=True)}


def totals_parity(
    warehouse: Warehouse, store: ParquetStore, table: str, staged: Mapping[date, StagedParquet]
) -> list[Parity]:
    """One result per day; the warehouse is asked once for all the days."""
    in_warehouse = warehouse.partition_totals_by_day(table, list(staged))
    return [
        _compare_totals(day, staged_totals(store, file), in_warehouse[day])
        for day, file in staged.items()
    ]


def _compare_totals(
    day: date, in_file: dict[str, tuple[int, float]], in_warehouse: dict[str, tuple[int, float]]
) -> Parity:
    mismatches = []
    for metric in sorted(set(in_file) | set(in_warehouse)):
        file_count, file_sum = in_file.get(metric, (0, 0.0))
        wh_count, wh_sum = in_warehouse.get(metric, (0, 0.0))
        same_sum = math.isclose(file_sum, wh_sum, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-6)
        if file_count != wh_count or not same_sum:
            mismatches.append(
                {
                    "metric": metric,
                    "staged_count": file_count,
                    "warehouse_count": wh_count,
                    "staged_sum": file_sum,
                    "warehouse_sum": wh_sum,
                }
            )
    passed = not mismatches
    summary = (
        f"{day}: totals of {len(in_file)} metrics agree"
        if passed
        else f"{day}: {len(mismatches)} of {len(set(in_file) | set(in_warehouse))} metrics differ "
        f"({', '.join(m['metric'] for m in mismatches)})"
    )
    return Parity(day, passed, summary, {"metrics": len(in_file), "mismatches": mismatches})
