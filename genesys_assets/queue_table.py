"""The queue dimension: every routing queue as one small table, to join `queue_id` to names.

The aggregates carry only queue ids; this table, replaced whole on each run, carries the names
and divisions. pyarrow is imported here at the top: the Dagster layer imports this module inside
the asset function, never when the definitions load.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from genesys_assets.genesys.client import Queue

SCHEMA = pa.schema(
    [
        pa.field("queue_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("division_id", pa.string()),
        pa.field("division_name", pa.string()),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def queue_table(queues: Sequence[Queue], loaded_at: datetime) -> pa.Table:
    return pa.table(
        {
            "queue_id": [q.id for q in queues],
            "name": [q.name for q in queues],
            "division_id": [q.division_id for q in queues],
            "division_name": [q.division_name for q in queues],
            "loaded_at": [loaded_at] * len(queues),
        },
        schema=SCHEMA,
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
