"""The queue dimension: every routing queue as one small table, to join `queue_id` to names.

The aggregates carry only queue ids; this table, replaced whole on each run, carries the names
and divisions. Its columns are listed without pyarrow (the catalog shows them when the
definitions load); the Arrow table is built when a run needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from genesys_assets.long_table import Column, arrow_schema

if TYPE_CHECKING:
    import pyarrow as pa

    from genesys_assets.genesys.client import Queue

COLUMNS: tuple[Column, ...] = (
    Column("queue_id", "string", False, "the routing queue's id (queue_id in the dataset tables)"),
    Column("name", "string", True, "the queue's name as it is now"),
    Column("division_id", "string", True, "the division the queue belongs to"),
    Column("division_name", "string", True, "the division's name"),
    Column("loaded_at", "timestamp_us", False, "when the listing was taken, UTC"),
)


def schema() -> pa.Schema:
    return arrow_schema(COLUMNS)


def queue_table(queues: Sequence[Queue], loaded_at: datetime) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "queue_id": [q.id for q in queues],
            "name": [q.name for q in queues],
            "division_id": [q.division_id for q in queues],
            "division_name": [q.division_name for q in queues],
            "loaded_at": [loaded_at] * len(queues),
        },
        schema=schema(),
    )


DEFAULT_MAX_SHRINK = 0.5


class DimensionShrinkError(RuntimeError):
    """A dimension listing much smaller than the table it would replace."""


def refuse_shrink(table: str, current: int | None, new: int, max_shrink: float) -> None:
    """Fail before anything is written if `new` rows would replace `current` and lose more than
    `max_shrink` of them (1 allows anything, an empty table included).

    An org's queues do not vanish overnight; an empty or much shorter listing is far more
    likely a permission, a division filter or an API fault, and replacing the table with it
    would blank every queue name in every report without a sign.
    """
    if current is None or current == 0 or max_shrink >= 1:
        return
    lost = (current - new) / current
    if new == 0 or lost > max_shrink:
        raise DimensionShrinkError(
            f"{table}: the API listed {new} rows where the table holds {current} "
            f"({lost:.0%} fewer, more than the {max_shrink:.0%} allowed); nothing was replaced. "
            "If the org really lost them, set GENESYS_DIMENSION_MAX_SHRINK=1 for this run (or "
            "a share such as 0.9) and run it again"
        )
