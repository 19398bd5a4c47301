"""The result containers of an aggregates query, for the query route and for async jobs alike,
conversation aggregates (`aggregation`) and user aggregates (`presence`) alike.

By default every query is aggregated from the traffic when it is asked, which is what the tests
exercise. `remember_answers` keeps the answer of a settled query (its interval closed and past
the longest ingestion lag, late events included, and beyond the reach of every revision: its
last day reprocessed, no service-level change still ahead; so nothing about it can change) and
serves it again when the same query comes back. That is for the benchmarks: the simulator runs
on the same cores as the pipeline it serves, and its own aggregation (up to a few hundred ms for
a week of hourly agent data, all of it holding one interpreter lock) would otherwise be measured
as the pipeline's time, slowing most the run that asks the most queries at once; a real API
computes on its own servers. The CPU time it spent computing is counted, so that a benchmark
can say what it left out.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from genesys_assets.genesys.catalog import USERS
from genesys_assets.simulator.aggregation import run_query
from genesys_assets.simulator.presence import user_containers
from genesys_assets.simulator.query import AggregateQuery
from genesys_assets.simulator.revisions import NO_REVISIONS, Revisions
from genesys_assets.simulator.traffic import TrafficStore


class Answers:
    def __init__(
        self,
        traffic: TrafficStore,
        *,
        media_type_in_groups: bool,
        remember: bool = False,
        revisions: Revisions = NO_REVISIONS,
        omit_group: tuple[str, str] | None = None,
    ) -> None:
        self._traffic = traffic
        self._media_type_in_groups = media_type_in_groups
        self._revisions = revisions
        self._omit_group = omit_group
        self._remembered: dict[AggregateQuery, list[str]] | None = {} if remember else None
        self._lock = threading.Lock()
        self.computed = 0  # answers aggregated from the traffic
        self.computed_s = 0.0  # the CPU time that took (each thread's own, summed)
        self.served_remembered = 0

    def __call__(self, query: AggregateQuery, now_ms: int) -> list[str]:
        """The query's result containers as JSON texts (see `aggregation.run_query`)."""
        # The page size only cuts a job's answer into pages: the same containers either way.
        key = dataclasses.replace(query, page_size=None)
        memory = self._remembered if self.settled(query, now_ms) else None
        if memory is not None:
            with self._lock:
                found = memory.get(key)
                if found is not None:
                    self.served_remembered += 1
                    return found
        started = time.thread_time()
        if query.kind == USERS.name:
            containers = user_containers(self._traffic, query, now_ms)
        else:
            containers = run_query(
                self._traffic,
                query,
                now_ms,
                media_type_in_groups=self._media_type_in_groups,
                revisions=self._revisions,
                omit_group=self._omit_group,
            )
        elapsed = time.thread_time() - started
        with self._lock:
            self.computed += 1
            self.computed_s += elapsed
            if memory is not None:
                memory[key] = containers
        return containers

    def settled(self, query: AggregateQuery, now_ms: int) -> bool:
        """Whether every event the query can see has happened and been ingested by `now_ms`,
        and no revision can still change what they say."""
        ingested = query.bounds[-1] + self._traffic.model.lag.max_ms <= now_ms
        return ingested and self._revisions.settled(query, now_ms)

    def reset_counts(self) -> None:
        with self._lock:
            self.computed = 0
            self.computed_s = 0.0
            self.served_remembered = 0
