"""Pictures of the KPI views, for what a table says less well than a line.

The one a contact-center lead looks at first: the day's offered and answered conversations per
half hour, all queues together, in the org's local time (the gap between the two lines is the
day's abandons and the queue still waiting). Drawn with matplotlib's Agg backend into a PNG
(no display needed), which the Dagster layer shows in the view's metadata as a Markdown image.
matplotlib is imported here, when a picture is drawn, never when the definitions load.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class HalfHour:
    start: datetime  # the bucket's start, aware
    offered: float
    answered: float


def offered_vs_answered_png(day: date, time_zone: str, buckets: Sequence[HalfHour]) -> bytes:
    """The day's offered and answered per bucket as a PNG (a few tens of kB)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must come before pyplot
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    zone = ZoneInfo(time_zone)
    ordered = sorted(buckets, key=lambda b: b.start)
    # Naive local times on the axis: matplotlib would otherwise label them in UTC.
    starts = mdates.date2num([b.start.astimezone(zone).replace(tzinfo=None) for b in ordered])
    figure, axes = plt.subplots(figsize=(9, 3.2), dpi=100)
    try:
        offered = [b.offered for b in ordered]
        answered = [b.answered for b in ordered]
        axes.fill_between(
            starts,
            answered,
            offered,
            where=[o > a for o, a in zip(offered, answered, strict=True)],
            interpolate=True,
            color="#C44E52",
            alpha=0.2,
            label="offered, not answered in the half hour",
        )
        axes.plot(starts, offered, label="offered", color="#4C72B0")
        axes.plot(starts, answered, label="answered", color="#55A868")
        axes.set_title(f"Offered vs answered per half hour, {day.isoformat()} ({time_zone})")
        axes.set_ylabel("conversations")
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper left", fontsize="small")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(figure)
