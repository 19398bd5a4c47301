"""A simulator served from the benchmark process, with requests counted per dataset.

The workloads run in child processes and reach the simulator over HTTP, exactly as the pipeline
reaches Genesys Cloud (`GENESYS_CLIENT_ID`/`GENESYS_CLIENT_SECRET`/`GENESYS_API_HOST`). Serving it
from here keeps its counters readable between runs: `stats()` gives requests per endpoint and
429s. The "one request per dataset per day" target needs counts per dataset, which no endpoint
tells apart (both datasets use the same query and jobs endpoints), so each answer is also
attributed to a dataset by its query's `groupBy` (and, for job polls and pages, by the job it
belongs to). That wraps the simulator's request handler from outside; the simulator itself is
unchanged.

The simulator generates its org's traffic lazily, hour by hour, on the thread answering the
first query that needs it. `warm()` generates the benchmark's days before anything is timed, so
that what the runs wait for is the configured latency plus the answer's own aggregation (the
"server time"), the same for every repetition and for both sides of a comparison.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from genesys_assets import datasets
from genesys_assets.simulator import Simulator, SimulatorConfig
from genesys_assets.simulator.api import Request, Response
from genesys_assets.simulator.traffic import BLOCK_MS, blocks_for

TOKEN_PATH = "/oauth/token"
LOGIN = "(login)"
QUEUES = "genesys_queues"
OTHER = "(other)"


class ServedSimulator:
    """A started simulator plus per-dataset request counts."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.sim = Simulator(config)
        self._by_group = {d.group_by: d.name for d in datasets.load().datasets}
        self._lock = threading.Lock()
        self._jobs: dict[str, str] = {}
        self._requests: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        # The simulator answers every request through `Api.handle`; wrap that one method.
        api = self.sim._api
        original = api.handle

        def handle(request: Request) -> Response:
            response = original(request)
            self._tally(request, response)
            return response

        api.handle = handle  # type: ignore[method-assign]

    def __enter__(self) -> ServedSimulator:
        self.sim.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sim.stop()

    def env(self) -> dict[str, str]:
        """What points the pipeline at this simulator."""
        return {
            "GENESYS_ASSETS_DEPLOYMENT": "local",
            "GENESYS_CLIENT_ID": self.sim.client_id,
            "GENESYS_CLIENT_SECRET": self.sim.client_secret,
            "GENESYS_API_HOST": self.sim.base_url,
        }

    def warm(self, days: Iterable[date]) -> float:
        """Generate the traffic of these local days now; returns the seconds it took."""
        started = time.perf_counter()
        zone = ZoneInfo(self.config.time_zone)
        hours: set[int] = set()
        for day in days:
            start = datetime(day.year, day.month, day.day, tzinfo=zone)
            end = start + timedelta(days=1)
            first = int(start.timestamp() * 1000)
            last = int(end.timestamp() * 1000)
            hours.update(h for h in blocks_for(first, last) if h * BLOCK_MS < last)
        for hour in sorted(hours):
            self.sim.traffic.block(hour)
        return time.perf_counter() - started

    def reset(self) -> None:
        self.sim.reset_stats()
        with self._lock:
            self._requests.clear()
            self._throttled.clear()

    def counts(self) -> dict[str, Any]:
        """Requests since the last reset: API total, 429s, per endpoint and per dataset."""
        stats = self.sim.stats()
        by_template = stats["requests"]
        with self._lock:
            by_dataset = dict(self._requests)
            throttled_by_dataset = dict(self._throttled)
        return {
            "api_requests": sum(n for t, n in by_template.items() if t != TOKEN_PATH),
            "logins": by_template.get(TOKEN_PATH, 0),
            "throttled": stats["throttled"],
            "by_route": stats["requests_by_route"],
            "by_dataset": by_dataset,
            "throttled_by_dataset": throttled_by_dataset,
            "jobs_submitted": stats["jobs_submitted"],
        }

    def _tally(self, request: Request, response: Response) -> None:
        name = self._dataset_of(request, response)
        with self._lock:
            self._requests[name] += 1
            if response.status == 429:
                self._throttled[name] += 1

    def _dataset_of(self, request: Request, response: Response) -> str:
        path = request.path
        if path == TOKEN_PATH:
            return LOGIN
        if path.startswith("/api/v2/routing/queues"):
            return QUEUES
        if "/aggregates/jobs/" in path:
            job_id = path.split("/aggregates/jobs/", 1)[1].split("/", 1)[0]
            with self._lock:
                return self._jobs.get(job_id, OTHER)
        if path.endswith(("/aggregates/query", "/aggregates/jobs")):
            try:
                body = json.loads(request.body)
                name = self._by_group.get(tuple(body.get("groupBy") or ()), OTHER)
            except (ValueError, AttributeError):
                return OTHER
            if path.endswith("/jobs") and response.status == 202 and response.body:
                job_id = json.loads(response.body).get("jobId")
                if job_id:
                    with self._lock:
                        self._jobs[job_id] = name
            return name
        return OTHER


def config(**overrides: Any) -> SimulatorConfig:
    """A simulator config for benchmarks: every day of the benchmark kept in memory."""
    settings: dict[str, Any] = {"seed": 42, "day_cache_size": 120}
    settings.update(overrides)
    return SimulatorConfig(**settings)
