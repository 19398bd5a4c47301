"""Does every id in a dataset table have a name?

The aggregates carry ids only (a queue, an agent, a wrap-up code, ...); the dimension tables,
listed from Genesys on each run, carry their names. An id that is in a day's rows but in no
dimension is a row an analyst cannot label: a user the listing left out (deleted users are
listed on purpose), a queue created after the listing, or a listing that broke. This check
names those ids, per day, so that they can be looked up, instead of letting a join drop them.

Which group-by dimension resolves in which table is declared here, once; a dataset table is
checked for the dimensions it groups by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from genesys_assets import datasets
from genesys_assets.datasets import Dataset
from genesys_assets.long_table import dimension_column
from genesys_assets.parity import Parity
from genesys_assets.warehouse.base import Warehouse


@dataclass(frozen=True)
class Resolution:
    dimension: str  # the API's group-by name, e.g. userId; or the metric whose qualifier it is
    table: str  # the dimension table
    id_column: str  # its id column
    multivalued: bool = False  # a group value can be several ids, "a,b" (flattened)
    # The ids are not a group-by column but the qualifier of this metric's rows.
    in_qualifier_of: str | None = None

    def applies(self, dataset: Dataset) -> bool:
        if self.in_qualifier_of is not None:
            return self.in_qualifier_of in dataset.metrics
        return self.dimension in dataset.group_by

    def values_by_day(
        self, warehouse: Warehouse, table: str, org: str, days: Sequence[date]
    ) -> dict[date, set[str]]:
        if self.in_qualifier_of is not None:
            return warehouse.distinct_values_by_day(
                table, "qualifier", org, days, metric=self.in_qualifier_of
            )
        column = dimension_column(self.dimension)
        return warehouse.distinct_values_by_day(table, column, org, days)


RESOLUTIONS: tuple[Resolution, ...] = (
    Resolution("queueId", datasets.QUEUES_ASSET, "queue_id"),
    Resolution("userId", datasets.USERS_ASSET, "user_id"),
    # Genesys' own codes (a timed-out wrap-up) are rows of the table too (dimension_tables).
    Resolution("wrapUpCode", datasets.WRAPUP_CODES_ASSET, "wrap_up_code_id"),
    Resolution("divisionId", datasets.DIVISIONS_ASSET, "division_id"),
    Resolution("requestedRoutingSkillId", datasets.SKILLS_ASSET, "skill_id", multivalued=True),
    Resolution("requestedLanguageId", datasets.LANGUAGES_ASSET, "language_id"),
    # A status dataset's organization presences: ids in the qualifier of their metric's rows.
    Resolution(
        "tOrganizationPresence",
        datasets.PRESENCES_ASSET,
        "presence_id",
        in_qualifier_of="tOrganizationPresence",
    ),
)

# Unresolved ids listed per day and dimension at most (the count is always exact).
MAX_LISTED = 50


def resolutions(dataset: Dataset) -> list[Resolution]:
    """The dimensions of `dataset` that have a table to resolve them in."""
    return [r for r in RESOLUTIONS if r.applies(dataset)]


def resolve_days(warehouse: Warehouse, dataset: Dataset, days: Sequence[date]) -> list[Parity]:
    """One verdict per day: does every id of the day's rows resolve in its dimension (the same
    org's: ids are an org's own)?"""
    found = resolutions(dataset)
    org = dataset.org.id
    known = {
        r.dimension: (
            warehouse.distinct_values(r.table, r.id_column, org)
            if warehouse.has_table(r.table)
            else set()
        )
        for r in found
    }
    unresolved: dict[date, dict[str, list[str]]] = {day: {} for day in days}
    for r in found:
        for day, values in r.values_by_day(warehouse, dataset.name, org, days).items():
            ids = {i for v in values for i in (v.split(",") if r.multivalued else [v])}
            missing = sorted(ids - known[r.dimension])
            if missing:
                unresolved[day][r.dimension] = missing
    return [_verdict(day, unresolved[day], found, dataset.name) for day in days]


def _verdict(
    day: date, missing: dict[str, list[str]], found: Sequence[Resolution], table: str
) -> Parity:
    checked = ", ".join(f"{r.dimension} in {r.table}" for r in found)
    if not missing:
        return Parity(
            day,
            True,
            f"{day}: every id resolves ({checked})",
            {"unresolved": {}, "unresolved_count": 0},
        )
    counts = ", ".join(f"{len(ids)} {dimension}" for dimension, ids in missing.items())
    return Parity(
        day,
        False,
        f"{day}: {counts} id(s) of {table} are in no dimension table ({checked}); "
        "re-materialize the dimensions, or look the ids up in Genesys",
        {
            "unresolved": {d: ids[:MAX_LISTED] for d, ids in missing.items()},
            "unresolved_count": sum(len(ids) for ids in missing.values()),
        },
    )
