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
