"""Which recent days to compare with Genesys, and which of them to re-load.

Closed days still change for a while: Genesys ingests some events late, reprocesses recent
days at night, and applies some org settings (the service-level calculation options) to past
dates. No finality signal for aggregates is documented, so the only way to know that a day is
right is to ask: each round compares the day totals of the last `Settling.days` complete days
with the warehouse (`genesys_assets.source_parity`) and names the days that differ, each with
a fingerprint of Genesys' totals, so that a request to re-load "this day, as it is now" can be
made idempotent. A day whose totals have matched for `Settling.matched_for_hours` is settled
and no longer asked about. The state between rounds is a small JSON text (a sensor's cursor).

No Dagster here: `genesys_assets.pipeline.automation` turns a round into run requests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from genesys_assets.datasets import Dataset, Settling
from genesys_assets.genesys.client import GenesysClient
from genesys_assets.source_parity import compare_with_source, fingerprint, not_comparable
from genesys_assets.warehouse.base import Warehouse


def recent_days(today: date, count: int, first_day: date) -> list[date]:
    """The last `count` complete local days before `today`, oldest first, none before
    `first_day` (the settling window; the refresh schedule's days)."""
    days = [today - timedelta(days=n) for n in range(count, 0, -1)]
    return [day for day in days if day >= first_day]


def settling_since(today: date, settling: Settling) -> date:
    """The oldest day still settling on `today`: a difference on it is a warning, not an error."""
    return today - timedelta(days=settling.days)


@dataclass(frozen=True)
class Reload:
    """A day that differs from Genesys: re-load it, as Genesys has it now."""

    dataset: str
    day: date
    fingerprint: str  # of Genesys' totals for the day: the same change, the same fingerprint
    reason: str


@dataclass
class SettlingState:
    """Per dataset and day, since when its totals have matched Genesys' (UTC)."""

    matched_since: dict[str, dict[date, datetime]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SettlingState:
        if not cursor:
            return cls()
        try:
            raw = json.loads(cursor)
            return cls(
                {
                    name: {
                        date.fromisoformat(day): datetime.fromisoformat(since)
                        for day, since in days.items()
                    }
                    for name, days in raw["matched_since"].items()
                }
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            # A cursor of another version: start over; the next round compares every day.
            return cls()

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "matched_since": {
                    name: {day.isoformat(): since.isoformat() for day, since in sorted(d.items())}
                    for name, d in sorted(self.matched_since.items())
                }
            },
            separators=(",", ":"),
        )

    def settled(self, dataset: str, day: date, now: datetime, settling: Settling) -> bool:
        since = self.matched_since.get(dataset, {}).get(day)
        return since is not None and now - since >= timedelta(hours=settling.matched_for_hours)


@dataclass
class Round:
    """What one round compared, what it found, and why it asks for what it asks."""

    reloads: list[Reload] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    requests: int = 0  # Genesys requests the comparison took


def compare_round(
    client: GenesysClient,
    warehouse: Warehouse,
    datasets: Sequence[Dataset],
    state: SettlingState,
    now: datetime,
    today: date,
    settling: Settling,
    first_day: date,
) -> Round:
    """Compare every dataset's unsettled days of the window; `state` is updated in place."""
    days = recent_days(today, settling.days, first_day)
    result = Round()
    if not days:
        result.lines.append(f"no complete day since {first_day} yet: nothing to compare")
        return result
    for dataset in datasets:
        reason = not_comparable(dataset)
        if reason is not None:
            result.lines.append(f"{dataset.name}: not compared, {reason}")
            continue
        known = state.matched_since.setdefault(dataset.name, {})
        for day in [d for d in known if d not in days]:
            del known[day]  # out of the window: no longer tracked
        polled = [d for d in days if not state.settled(dataset.name, d, now, settling)]
        if not polled:
            result.lines.append(
                f"{dataset.name}: all {len(days)} days of the window have settled "
                f"(matched Genesys for {settling.matched_for_hours:g} h); nothing asked"
            )
            continue
        since = settling_since(today, settling)
        compared = compare_with_source(client, warehouse, dataset, polled, since)
        result.requests += compared.requests
        differing = []
        for verdict in compared.verdicts:
            if verdict.passed:
                known.setdefault(verdict.day, now)
                continue
            known.pop(verdict.day, None)
            differing.append(verdict.day)
            result.reloads.append(
                Reload(
                    dataset.name,
                    verdict.day,
                    fingerprint(compared.genesys[verdict.day]),
                    f"{', '.join(verdict.details['differing'])} differ: "
                    f"{verdict.details['difference']}",
                )
            )
        settled = len(days) - len(polled)
        result.lines.append(
            f"{dataset.name}: compared {_span(polled)} with Genesys' day totals in "
            f"{compared.requests} request(s) ({settled} settled day(s) not asked): "
            + (
                f"{len(polled)} agree"
                if not differing
                else f"{len(polled) - len(differing)} agree, {len(differing)} differ "
                f"({', '.join(map(str, differing))}): re-load requested"
            )
        )
    return result


def _span(days: Sequence[date]) -> str:
    if len(days) == 1:
        return f"1 day ({days[0]})"
    return f"{len(days)} days ({days[0]}..{days[-1]})"
