"""Flattening: raw pages -> Arrow -> Parquet bytes, against two references on the same bytes.

One day of the agent dataset of a large org (hundreds of queues, thousands of agents, PT30M,
its 12 metrics: tens of MB of JSON) is fetched once from the simulator, through the real client,
and kept in memory. Then, repetition by repetition, interleaved so that a noisy moment hits all
three alike, the same bytes go through:

- ours: `flatten_pages` + `pq.write_table(..., compression="snappy")` into a buffer, exactly
  what the `<dataset>_parquet` asset and its IO manager do per day;
- the naive flattener (`bench.naive`): `json.loads`, one dict per row, `Table.from_pylist`,
  the same Parquet write;
- the bare parse by `pyarrow.json.read_json` of each page (one block, types inferred): no
  flattener, nothing written, the floor no flattener that parses the JSON can beat.

The ratios are taken within each repetition. The same day as async-job pages (many pages of a
few MB, what `auto` mode fetches for this dataset) is measured too, for ours and the bare parse.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from bench.naive import flatten_naive
from bench.report import BenchResult, Figure, median
from genesys_assets import datasets
from genesys_assets.flatten import PageInput, flatten_pages
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.simulator import Simulator, SimulatorConfig

DATASET = "agent_performance"
DAY = date(2024, 11, 6)  # a Wednesday: a full weekday of traffic
LARGE_ORG = {"seed": 7, "queues": 300, "agents": 3000, "conversations_per_day": 100_000}
QUICK_ORG = {"seed": 7, "queues": 60, "agents": 600, "conversations_per_day": 20_000}
NAIVE_TARGET = 5.0  # ours at least this many times faster than the naive flattener
BARE_TARGET = 2.5  # ours within this many times the bare parse


def fetch_pages(org: dict[str, Any], mode: str) -> list[PageInput]:
    """One day of the dataset from a fresh simulator, as the client receives it."""
    query = datasets.load().get(DATASET).query
    config = SimulatorConfig(**org, job_delay_s=0.2, latency_ms=0.0)
    with Simulator(config) as sim:
        settings = ClientSettings(mode=mode, requests_per_minute=6000)
        credentials = ClientCredentials(sim.client_id, sim.client_secret)
        with GenesysClient(sim.base_url, credentials, settings) as client:
            fetch = next(client.fetch_days(query, [DAY]))
    return [PageInput(p.body, f"raw/{DATASET}/page-{p.number:05d}.json.zst") for p in fetch.pages]


class Timing(NamedTuple):
    total_s: float  # flattening and, for the flatteners, the Parquet write
    flatten_s: float  # before the Parquet write
    rows: int


def ours(pages: Sequence[PageInput], loaded_at: datetime) -> pa.Table:
    dataset = datasets.load().get(DATASET)
    return flatten_pages(pages, dataset.group_by, dataset.query.time_zone, loaded_at).table


def naive(pages: Sequence[PageInput], loaded_at: datetime) -> pa.Table:
    dataset = datasets.load().get(DATASET)
    return flatten_naive(pages, dataset.group_by, dataset.query.time_zone, loaded_at)


def bare(pages: Sequence[PageInput], loaded_at: datetime) -> None:
    for page in pages:
        pj.read_json(
            pa.BufferReader(page.body),
            read_options=pj.ReadOptions(block_size=len(page.body) + 1),
        )


def timed(
    fn: Callable[[Sequence[PageInput], datetime], pa.Table | None],
    pages: Sequence[PageInput],
    loaded_at: datetime,
) -> tuple[Timing, pa.Table | None]:
    """One timed call; a flattener's table is also written as snappy Parquet to a buffer."""
    gc.collect()  # outside the timing: no run pays for the previous one's garbage
    start = time.perf_counter()
    table = fn(pages, loaded_at)
    flattened = time.perf_counter()
    if table is not None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="snappy")
        sink.getvalue()
    end = time.perf_counter()
    rows = table.num_rows if table is not None else 0
    return Timing(end - start, flattened - start, rows), table


def same_table(a: pa.Table, b: pa.Table) -> bool:
    """The naive reference produced exactly our table (else the comparison would be unfair)."""
    keys = [(c, "ascending") for c in ("user_id", "queue_id", "media_type", "interval_start")]
    keys.append(("metric", "ascending"))
    return a.schema.equals(b.schema) and a.sort_by(keys).equals(b.sort_by(keys))


def run(quick: bool = False) -> BenchResult:
    reps = 2 if quick else 3
    org = QUICK_ORG if quick else LARGE_ORG
    result = BenchResult(
        name="flattening",
        title="1. Flattening: pages -> Arrow -> Parquet",
        method=(
            f"One day ({DAY}) of `{DATASET}` (group by userId, queueId, mediaType; PT30M; 12 "
            f"metrics) for a simulated org of {org['queues']} queues, {org['agents']} agents and "
            f"{org['conversations_per_day']:,} conversations a day, fetched once through "
            "`GenesysClient` and kept in memory. On the same bytes, interleaved per repetition: "
            "ours (`flatten_pages` + snappy `pq.write_table` to a buffer), the naive flattener "
            "(`json.loads`, a dict per row, `Table.from_pylist`, same write; `bench/naive.py`) "
            "and the bare `pyarrow.json.read_json` of each page. Ratios per repetition."
        ),
    )
    started = time.perf_counter()
    print(f"  fetching one day of {DATASET} (sync: one page) ...", flush=True)
    sync_pages = fetch_pages(org, "sync")
    print(f"  fetching the same day as async-job pages ... ({time.perf_counter() - started:.0f} s)")
    job_pages = fetch_pages(org, "jobs")
    mb = sum(len(p.body) for p in sync_pages) / 1e6
    job_mb = sum(len(p.body) for p in job_pages) / 1e6
    print(f"  {mb:.1f} MB in 1 page; {job_mb:.1f} MB in {len(job_pages)} job pages", flush=True)
    # A warm-up, untimed: a first call pays one-time costs (regexes, Arrow's memory pool).
    loaded_at = datetime.now(UTC)
    timed(ours, sync_pages, loaded_at)
    timed(bare, sync_pages, loaded_at)

    samples: dict[str, list[Timing]] = {"ours": [], "naive": [], "bare": []}
    job_samples: dict[str, list[Timing]] = {"ours": [], "bare": []}
    identical = False
    for rep in range(reps):
        tables: dict[str, pa.Table | None] = {}
        for name, fn in (("ours", ours), ("naive", naive), ("bare", bare)):
            timing, tables[name] = timed(fn, sync_pages, loaded_at)
            samples[name].append(timing)
        if rep == 0:
            ours_table, naive_table = tables["ours"], tables["naive"]
            assert ours_table is not None and naive_table is not None
            identical = same_table(ours_table, naive_table)
        tables.clear()
        for name, fn in (("ours", ours), ("bare", bare)):
            job_samples[name].append(timed(fn, job_pages, loaded_at)[0])
        o, n, b = (samples[k][-1].total_s for k in ("ours", "naive", "bare"))
        print(
            f"  rep {rep + 1}/{reps}: ours {o:.2f} s, naive {n:.2f} s, bare parse {b:.2f} s",
            flush=True,
        )

    rows = samples["ours"][0].rows
    seconds = {k: [s.total_s for s in v] for k, v in samples.items()}
    result.add(
        Figure("ours: metric rows / s", "rows/s", [rows / s for s in seconds["ours"]], digits=0)
    )
    result.add(Figure("ours: JSON MB / s", "MB/s", [mb / s for s in seconds["ours"]], digits=1))
    result.add(
        Figure(
            "ours: flatten only (before Parquet), MB / s",
            "MB/s",
            [mb / s.flatten_s for s in samples["ours"]],
            digits=1,
        )
    )
    result.add(
        Figure("naive: metric rows / s", "rows/s", [rows / s for s in seconds["naive"]], digits=0)
    )
    result.add(Figure("naive: JSON MB / s", "MB/s", [mb / s for s in seconds["naive"]], digits=1))
    result.add(
        Figure("bare parse: JSON MB / s", "MB/s", [mb / s for s in seconds["bare"]], digits=1)
    )
    speedup = [n / o for n, o in zip(seconds["naive"], seconds["ours"], strict=True)]
    to_floor = [o / b for o, b in zip(seconds["ours"], seconds["bare"], strict=True)]
    result.add(
        Figure(
            "ours vs naive (naive time / ours)",
            "x",
            speedup,
            target=f">= {NAIVE_TARGET:g}x",
            met=median(speedup) >= NAIVE_TARGET,
        )
    )
    result.add(
        Figure(
            "ours vs bare parse (ours time / bare)",
            "x",
            to_floor,
            target=f"<= {BARE_TARGET:g}x",
            met=median(to_floor) <= BARE_TARGET,
        )
    )
    job_seconds = {k: [s.total_s for s in v] for k, v in job_samples.items()}
    result.add(
        Figure(
            f"job pages ({len(job_pages)}): ours JSON MB / s",
            "MB/s",
            [job_mb / s for s in job_seconds["ours"]],
            digits=1,
        )
    )
    result.add(
        Figure(
            f"job pages ({len(job_pages)}): ours vs bare parse",
            "x",
            [o / b for o, b in zip(job_seconds["ours"], job_seconds["bare"], strict=True)],
        )
    )
    result.notes.append(
        f"{rows:,} metric rows from {mb:.1f} MB of JSON (one page); the naive flattener's "
        f"table is {'identical to ours' if identical else 'NOT identical to ours'} "
        "(same schema, same rows)."
    )
    result.details = {
        "org": org,
        "day": DAY.isoformat(),
        "rows": rows,
        "json_mb": mb,
        "job_pages": len(job_pages),
        "job_json_mb": job_mb,
        "naive_table_identical": identical,
        "seconds": seconds,
        "ours_flatten_seconds": [s.flatten_s for s in samples["ours"]],
        "naive_flatten_seconds": [s.flatten_s for s in samples["naive"]],
        "job_pages_seconds": job_seconds,
    }
    result.seconds = time.perf_counter() - started
    return result
