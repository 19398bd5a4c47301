"""Why a closed day's numbers still change, beyond its last events arriving late.

Genesys says so itself (help center, "Why can my data change?"): a nightly reprocessing pass
corrects some of a day's values, and org settings such as the service-level calculation
options apply to past dates too. A pipeline that loads a day once, right after midnight, keeps
the numbers it saw then; these let a test see that happen. (Events that are merely ingested
late, the third way, are `traffic.IngestionLag`'s: they change when an event is visible at all.)

Both are pure functions of the simulator's "now" and the event, like everything else an answer
is made of, so the same query at the same "now" gets the same answer, sync or job, and an
answer can be called final (`Revisions.settled`) once neither can change it any more.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from genesys_assets.simulator.query import AggregateQuery, to_ms
from genesys_assets.simulator.traffic import Block, Stream, share_hash, share_threshold

# The timers a reprocessing pass corrects, and how far off they are until it has: the first
# ingestion of an affected conversation carries a provisional end of its talk (the media
# server's final timestamp comes later), so its talk, and the handle time that contains it,
# read short. Counts do not change: the conversation was talked and handled either way.
REPROCESSED_METRICS: frozenset[str] = frozenset({"tTalk", "tTalkComplete", "tHandle"})
PROVISIONAL_SHARE = (3, 4)  # a provisional value is 3/4 of the true one (whole milliseconds)
_REPROCESSING_SALT = 0xC0FFEE
SERVICE_LEVEL = "oServiceLevel"


class Reprocessing:
    """The nightly pass: day D's events are corrected `after_ms` after the local midnight
    ending D (in the org's time zone), for `share` of the conversations, picked by hashing."""

    def __init__(self, zone: ZoneInfo, after_ms: int, share: float) -> None:
        self.zone = zone
        self.after_ms = after_ms
        self._threshold = share_threshold(share)
        self._midnights: dict[date, int] = {}
        self._lock = threading.Lock()

    def day_end_ms(self, t_ms: int) -> int:
        """The org's local midnight that ends the day `t_ms` falls on."""
        day = datetime.fromtimestamp(t_ms / 1000, self.zone).date()
        found = self._midnights.get(day)
        if found is None:
            found = to_ms(datetime.combine(day + timedelta(days=1), time(), tzinfo=self.zone))
            with self._lock:
                self._midnights[day] = found
        return found

    def pass_ms(self, t_ms: int) -> int:
        """When the event at `t_ms` gets its corrected value."""
        return self.day_end_ms(t_ms) + self.after_ms

    def affected(self, block: Block) -> list[bool]:
        """Which conversations of `block` report provisional values until their day's pass."""
        threshold, hour = self._threshold, block.hour
        salt = _REPROCESSING_SALT
        return [share_hash(hour, c, salt) < threshold for c in range(block.count)]

    def pending(self, stream: Stream, now_ms: int, affected: Sequence[bool]) -> list[bool] | None:
        """Which events of `stream` still report provisional values at `now_ms`; None: none."""
        if now_ms >= self.pass_ms(stream.last_ms) or not any(affected):
            return None
        first_end = self.day_end_ms(stream.first_ms)
        if now_ms < first_end + self.after_ms:
            # Not even the first day's pass has run, so no later one has either.
            return [affected[c] for c in stream.conv]
        # A block's events span a few hours, so at most two local days: the first day's pass
        # has run, the second's (the last day's) has not.
        return [affected[c] and t >= first_end for t, c in zip(stream.ts, stream.conv, strict=True)]

    @staticmethod
    def reported(values: Sequence[int], pending: Sequence[bool]) -> list[int]:
        """The values as they read before the pass (provisional where `pending`)."""
        num, den = PROVISIONAL_SHARE
        return [v * num // den if p else v for v, p in zip(values, pending, strict=True)]


@dataclass(frozen=True)
class Revisions:
    """What can change an answer about the past: both off unless configured."""

    # From this moment of the simulator's clock on, the org's service-level options exclude
    # short abandons (traffic.SHORT_ABANDON_MS) from oServiceLevel's denominator, for every
    # date; before it, the default calculation (answered + abandoned).
    service_level_change_ms: int | None = None
    reprocessing: Reprocessing | None = None

    def excludes_short_abandons(self, now_ms: int) -> bool:
        change = self.service_level_change_ms
        return change is not None and now_ms >= change

    def settled(self, query: AggregateQuery, now_ms: int) -> bool:
        """Whether neither can change the query's answer after `now_ms` any more."""
        change = self.service_level_change_ms
        if change is not None and now_ms < change and SERVICE_LEVEL in query.metrics:
            return False
        reprocessing = self.reprocessing
        if reprocessing is not None and not REPROCESSED_METRICS.isdisjoint(query.metrics):
            # The last day the interval touches is the last to be reprocessed.
            return now_ms >= reprocessing.pass_ms(query.bounds[-1] - 1)
        return True


NO_REVISIONS = Revisions()
