"""Memory: peak memory of one day and of the backfills, from the runs the other benchmarks made.

No extra runs: every Dagster run of the day and backfill benchmarks is a child process whose
whole process tree `bench.procs` samples (the multiprocess executor runs each step in a process
of its own, up to four at once, forked from a preloaded forkserver): the peak of the tree's
summed PSS is the figure, the summed RSS (shared pages counted once per process, an upper bound)
and the largest single process's peak RSS are shown beside it. Growth with the number of days is
judged on one simulated org (the backfills'): its one-day run, the 30-day run at 30 requests/min
and the 90-day run. A pipeline that streams day by day holds at most a few chunks at a time, so
its peak stays flat once a run spans more than a chunk; anything proportional to the days (all
pages, all tables, per-partition bookkeeping) shows as a slope between 30 and 90 days.
"""

from __future__ import annotations

from typing import Any

from bench import procs
from bench.day import PEAK
from bench.report import BenchResult, Figure, median

# "It must not grow with the number of days": the 90-day peak at most this many times the 30-day
# peak. Both runs span several fetch chunks; a one-day run holds one day where a longer run holds
# a chunk of days (GENESYS_CHUNK_DAYS) at a time, so the step from one day to the first chunk is
# a fixed working set, reported beside it but not growth with days.
GROWTH_TARGET = 1.15


def summarize(memory: dict[str, Any], day: BenchResult | None) -> BenchResult:
    result = BenchResult(
        name="memory",
        title="4. Memory: peak of the whole process tree",
        method=(
            "Peak memory of each Dagster run above, all of its processes together (the "
            "`dagster` process, the forkserver and every step process): the summed PSS of the "
            "process tree, sampled every "
            f"{procs.SAMPLE_S:g} s by a wrapper process that runs only that command (shared "
            "pages counted once); the summed RSS (an upper bound) and the largest single "
            "process's peak RSS (its VmHWM, or `ru_maxrss`) beside it. One day, the backfill "
            "(b) and (a) ranges, on the backfill's simulated org; the mid-size one-day run and "
            "the sequential loop for reference."
        ),
    )
    one = memory["one_day_mb"]
    longest = memory["range_a_mb"]
    result.add(Figure("1 day (backfill org)", "MB", one, digits=0))
    result.add(
        Figure(f"{memory['days_b']} days (backfill b)", "MB", memory["range_b_mb"], digits=0)
    )
    result.add(Figure(f"{memory['days_a']} days (backfill a)", "MB", longest, digits=0))
    result.add(Figure(f"{memory['days_a']} days / 1 day", "x", [a / median(one) for a in longest]))
    growth = [a / median(memory["range_b_mb"]) for a in longest]
    result.add(
        Figure(
            f"{memory['days_a']} days / {memory['days_b']} days",
            "x",
            growth,
            target=f"<= {GROWTH_TARGET:g}x (flat)",
            met=median(growth) <= GROWTH_TARGET,
        )
    )
    rss = memory.get("rss_sum_mb", {})
    largest = memory.get("largest_process_mb", {})
    for key, label in (
        ("one_day", "1 day"),
        ("range_b", f"{memory['days_b']} days"),
        ("range_a", f"{memory['days_a']} days"),
    ):
        if rss.get(key):
            result.add(Figure(f"{label}: summed RSS (upper bound)", "MB", rss[key], digits=0))
        if largest.get(key):
            result.add(Figure(f"{label}: largest single process", "MB", largest[key], digits=0))
    result.notes.append(
        "From one day to a range, the peak rises once by a fixed working set: a range run "
        "flattens one fetch chunk (7 days by default) at a time instead of one day, and loads "
        "all of its days into the warehouse in one statement. "
        + (
            "From 30 to 90 days it stays flat: what a run holds is bounded by the chunk and the "
            "fetch window, not by its days."
            if median(growth) <= GROWTH_TARGET
            else f"From 30 to 90 days it grew {median(growth):.2f}x: something the run holds "
            "grows with its days (see the per-run details)."
        )
    )
    if day is not None:
        result.add(
            Figure("1 day (mid-size org, benchmark 2)", "MB", day.figure(PEAK).samples, digits=0)
        )
    result.add(
        Figure(
            f"sequential loop, {memory['days_a']} days (no Dagster)",
            "MB",
            memory["sequential_mb"],
            digits=0,
        )
    )
    result.details = memory
    return result
