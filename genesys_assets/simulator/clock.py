"""The simulator's idea of "now".

Real data arrives late: a metric exists only once its value is complete. Tests pin "now" to see
a day fill up step by step; left unset, the wall clock drives it like a live org.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from genesys_assets.simulator.query import to_ms


class SimClock:
    def __init__(self, fixed: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._fixed: datetime | None = None
        self.set(fixed)

    def set(self, moment: datetime | None) -> None:
        """Freeze "now" at `moment` (timezone-aware), or follow the wall clock with None."""
        if moment is not None and moment.utcoffset() is None:
            raise ValueError("now must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")
        with self._lock:
            self._fixed = moment.astimezone(UTC) if moment is not None else None

    def now(self) -> datetime:
        fixed = self._fixed
        return fixed if fixed is not None else datetime.now(UTC)

    def now_ms(self) -> int:
        return to_ms(self.now())

    @property
    def frozen(self) -> bool:
        return self._fixed is not None
