"""Does the warehouse hold exactly what was loaded into it for a day?

Two comparisons, each between the staged Parquet file the warehouse's load log says the day was
loaded from (read by itself: its footer for the row count, its own columns for the totals) and
the warehouse (queried for that `partition_date` only, never a whole-table count; a range run
asks once for all of its days). The file is the one loaded, not the newest in the stage: a
later run may have staged a newer file and failed before its load, and the last good load must
still check out.
- row count parity: the same number of rows;
- totals parity: per metric, the same sum of `stat_count` (exactly) and of `stat_sum` (up to
  floating-point summation order).
A row deleted or duplicated behind the pipeline's back fails both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from genesys_assets.long_table import measure, measures
from genesys_assets.stage.base import StageError
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.warehouse.base import LoadedFile, Warehouse

# Sums of float stats may differ in the last bits with the order of addition.
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Parity:
    day: date
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    # A failure that is a warning, not an error: the source check on a day still settling.
    warn_only: bool = False


# Per day, the staged file the load log names, or the failed result that says why there is none.
LoadedFiles = Mapping[date, StagedParquet | Parity]


def loaded_staged_files(
    warehouse: Warehouse, store: ParquetStore, table: str, org: str, days: Sequence[date]
) -> dict[date, StagedParquet | Parity]:
    """Per day of `org`, the staged file the load log names (as its footer describes it), or
    the failed result that says why there is none to compare with."""
    loaded: dict[date, LoadedFile] = warehouse.loaded_files(table, org, days)
    found: dict[date, StagedParquet | Parity] = {}
    for day in days:
        entry = loaded.get(day)
        if entry is None:
            found[day] = Parity(
                day,
                False,
                f"{day}: the load log has no load of {table} for this day; materialize "
                f"{table} for partition {day}",
                {"staged_file": None},
            )
            continue
        try:
            found[day] = store.staged(entry.staged_file, f"re-materialize {table} for {day}")
        except StageError as exc:
            found[day] = Parity(
                day,
                False,
                f"{day}: the file the warehouse loaded cannot be read: {exc}",
                {"staged_file": entry.staged_file},
            )
    return found


def row_count_parity(
    warehouse: Warehouse,
    store: ParquetStore,
    table: str,
    org: str,
    days: Sequence[date],
    files: LoadedFiles | None = None,
) -> list[Parity]:
    """One result per day; the warehouse is asked once for all the days. `files`: what
    `loaded_staged_files` returned for them, when a caller runs both comparisons."""
    files = files if files is not None else loaded_staged_files(warehouse, store, table, org, days)
    in_warehouse = warehouse.partition_row_counts(table, org, list(days))
    results = []
    for day, file in files.items():
        if isinstance(file, Parity):
            results.append(file)
            continue
        rows = in_warehouse[day]
        results.append(
            Parity(
                day,
                rows == file.rows,
                f"{day}: {rows} rows in {warehouse.qualified(table)}, "
                f"{file.rows} in the footer of the file it loaded",
                {"warehouse_rows": rows, "staged_rows": file.rows, "staged_file": file.key},
            )
        )
    return results


def staged_totals(store: ParquetStore, staged: StagedParquet) -> dict[str, tuple[int, float]]:
    import pyarrow.compute as pc  # here: the check definitions import this module at load time

    table = store.read(staged.key, columns=["metric", "qualifier", "stat_count", "stat_sum"])
    grouped = table.group_by(["metric", "qualifier"]).aggregate(
        [("stat_count", "sum"), ("stat_sum", "sum")]
    )
    measures = [
        measure(m, q)
        for m, q in zip(
            grouped.column("metric").to_pylist(),
            grouped.column("qualifier").to_pylist(),
            strict=True,
        )
    ]
    counts = pc.fill_null(grouped.column("stat_count_sum"), 0).to_pylist()
    sums = pc.fill_null(grouped.column("stat_sum_sum"), 0.0).to_pylist()
    return {m: (int(c), float(s)) for m, c, s in zip(measures, counts, sums, strict=True)}


def totals_parity(
    warehouse: Warehouse,
    store: ParquetStore,
    table: str,
    org: str,
    days: Sequence[date],
    files: LoadedFiles | None = None,
) -> list[Parity]:
    """One result per day; the warehouse is asked once for all the days. `files`: what
    `loaded_staged_files` returned for them, when a caller runs both comparisons."""
    files = files if files is not None else loaded_staged_files(warehouse, store, table, org, days)
    in_warehouse = warehouse.partition_totals_by_day(table, org, list(days))
    return [
        file
        if isinstance(file, Parity)
        else _compare_totals(day, staged_totals(store, file), in_warehouse[day], file.key)
        for day, file in files.items()
    ]


def _compare_totals(
    day: date,
    in_file: dict[str, tuple[int, float]],
    in_warehouse: dict[str, tuple[int, float]],
    key: str,
) -> Parity:
    mismatches: list[dict[str, Any]] = []
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
        f"{day}: totals of {measures(len(in_file), list(in_file))} agree"
        if passed
        else f"{day}: {len(mismatches)} of "
        f"{measures(len(set(in_file) | set(in_warehouse)), list(in_file))} differ "
        f"({', '.join(m['metric'] for m in mismatches)})"
    )
    details = {"metrics": len(in_file), "mismatches": mismatches, "staged_file": key}
    return Parity(day, passed, summary, details)
