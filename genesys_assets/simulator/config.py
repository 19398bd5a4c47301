"""Every knob of the simulator, in one frozen value.

A frozen dataclass so that one config can be shared by the server threads, the traffic
generator and the tests without anyone mutating it behind the others' backs; what has to
change at run time ("now", scripted faults, tokens) lives on the `Simulator`, not here.
"""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from genesys_assets.genesys.catalog import is_dimension
from genesys_assets.simulator.auth import DEFAULT_CLIENT_PERMISSIONS

# Faults a test can script one by one (`Simulator.script_faults`). "429" is a throttle answer,
# the status codes are server errors, the rest are connection-level misbehaviour.
SCRIPTABLE_FAULTS: tuple[str, ...] = ("500", "502", "503", "504", "429", "drop", "truncate", "slow")
SERVER_ERROR_CODES: tuple[int, ...] = (500, 502, 503, 504)


@dataclass(frozen=True)
class SimulatorConfig:
    # --- network ---------------------------------------------------------------------------
    port: int = 0  # 0 = let the OS pick a free port (the server only ever binds 127.0.0.1)

    # --- the org -------------------------------------------------------------------------
    seed: int = 7
    queues: int = 12
    agents: int = 60
    conversations_per_day: int = 2000
    time_zone: str = "America/New_York"  # the org's local time: drives the daily arrival curve
    weekend_factor: float = 1.0  # traffic on local Saturdays/Sundays relative to weekdays

    # --- auth ----------------------------------------------------------------------------
    client_id: str = "simulator-client"
    client_secret: str = "simulator-secret"
    # What the main client may do. Each route checks the permission the real API needs for it
    # (api.ROUTES); the default, aggregates and queues, lacks analytics:conversationDetail:view,
    # which the details jobs availability route needs, as an OAuth client set up for an
    # aggregates pipeline would.
    client_permissions: tuple[str, ...] = DEFAULT_CLIENT_PERMISSIONS
    # Clients that can log in and list queues but lack analytics:conversationAggregate:view.
    restricted_clients: tuple[tuple[str, str], ...] = ()
    # More clients, each (id, secret, permissions), for whoever needs another set of them.
    extra_clients: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    token_ttl_s: float = 86400.0

    # --- rate limiting -------------------------------------------------------------------
    rate_limit_per_minute: int = 300
    rate_limit_window_s: float = 60.0  # tests shorten it to see a window reset
    send_retry_after: bool = True

    # --- clock and data availability ------------------------------------------------------
    now: datetime | None = None  # None = wall clock; an aware datetime freezes "now" there
    availability_lag_minutes: float = 60.0
    # Median delay before an event is visible to queries (lognormal, capped at 40x the median):
    # a bucket that just closed can still grow. 0 = visible the moment it happens.
    ingestion_lag_s: float = 15.0

    # --- late data: a closed day whose numbers change later (all off by default) -----------
    # This share of the events (picked by hashing, independently of the ingestion lag) is
    # visible only late_event_delay_hours after its moment: an ingestion backlog, so a day
    # pulled just after midnight misses those of its last hours and gains them later.
    late_event_share: float = 0.0
    late_event_delay_hours: float = 6.0
    # From this moment of the simulator's clock on (aware), the org's service-level options
    # exclude short abandons from oServiceLevel's denominator, for every date, past ones too,
    # as Genesys applies them; before it the default (answered + abandoned). None = never.
    service_level_change_at: datetime | None = None
    # A nightly reprocessing pass corrects each local day this many hours after the midnight
    # ending it; until then reprocessing_share of its conversations report tTalk, tTalkComplete
    # and tHandle short (revisions.py). Counts never change. None = no reprocessing.
    reprocessing_after_hours: float | None = None
    reprocessing_share: float = 0.1

    # --- query limits and answer shape ------------------------------------------------------
    max_interval_days: float = 31.0
    # Every group carries mediaType and the answer is split by it, whatever groupBy names, as
    # real answers are (likely, not documented). False: groups hold exactly the groupBy keys.
    media_type_in_groups: bool = True

    # --- async jobs ----------------------------------------------------------------------
    job_delay_s: float = 2.0  # QUEUED for the first half, PENDING for the second, then FULFILLED
    job_ttl_s: float = 3600.0  # counted from submission; after it the job is EXPIRED
    default_page_size: int = 100

    # --- faults (all off by default) ------------------------------------------------------
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = SERVER_ERROR_CODES
    latency_ms: float = 0.0  # median of a lognormal per-request delay
    latency_sigma: float = 0.0  # lognormal shape; 0 = every request waits exactly latency_ms
    slow_rate: float = 0.0
    slow_ms: float = 5000.0
    truncate_rate: float = 0.0
    drop_rate: float = 0.0
    # Silent faults in answers, as a broken service would give them (no error either way):
    # (dimension, value) leaves the groups whose key has that value out of every answer that
    # groups by the dimension (groupBy names it); an answer not grouped by it still counts it.
    omit_group: tuple[str, str] | None = None
    # An async job's results end after this many pages, the last without a cursor, although
    # more containers remain. Sync queries are unaffected.
    short_cursor_pages: int | None = None

    # --- performance -----------------------------------------------------------------------
    day_cache_size: int = 8  # generated days kept in memory (LRU)
    # Serve a settled query's answer again instead of aggregating it anew (see answers.py):
    # for benchmarks, so that they time the pipeline and not the simulator's own work.
    remember_answers: bool = False
    log_requests: bool = False  # one line per request on stderr

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port {self.port} is not a TCP port")
        for name in ("queues", "agents", "conversations_per_day"):
            value = getattr(self, name)
            minimum = 0 if name == "conversations_per_day" else 1
            if value < minimum:
                problems.append(f"{name} must be >= {minimum}, got {value}")
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone {self.time_zone!r}")
        if self.weekend_factor < 0:
            problems.append("weekend_factor must be >= 0")
        if not self.client_id or not self.client_secret:
            problems.append("client_id and client_secret must not be empty")
        ids = [self.client_id] + [cid for cid, _ in self.restricted_clients]
        ids += [client[0] for client in self.extra_clients]
        if len(set(ids)) != len(ids):
            problems.append("client ids must be unique")
        permission_sets = [self.client_permissions]
        for client in self.extra_clients:
            if len(client) != 3 or not client[0] or not client[1]:
                problems.append(f"extra client {client!r} must be (id, secret, permissions)")
            else:
                permission_sets.append(client[2])
        for permissions in permission_sets:
            # A bare string would pass as a tuple of one-letter "permissions".
            if not isinstance(permissions, tuple) or not all(
                isinstance(p, str) and p for p in permissions
            ):
                problems.append(f"permissions must be a tuple of names, got {permissions!r}")
        if self.token_ttl_s <= 0:
            problems.append("token_ttl_s must be > 0")
        if self.rate_limit_per_minute < 1:
            problems.append("rate_limit_per_minute must be >= 1")
        if self.rate_limit_window_s <= 0:
            problems.append("rate_limit_window_s must be > 0")
        if self.now is not None and self.now.utcoffset() is None:
            problems.append("now must be timezone-aware")
        if self.availability_lag_minutes < 0 or self.ingestion_lag_s < 0:
            problems.append("availability_lag_minutes and ingestion_lag_s must be >= 0")
        if not 0.0 <= self.late_event_share <= 1.0:
            problems.append("late_event_share must be within [0, 1]")
        if not (math.isfinite(self.late_event_delay_hours) and self.late_event_delay_hours >= 0):
            problems.append("late_event_delay_hours must be a finite number >= 0")
        change = self.service_level_change_at
        if change is not None and (not isinstance(change, datetime) or change.utcoffset() is None):
            problems.append("service_level_change_at must be a timezone-aware datetime")
        after = self.reprocessing_after_hours
        if after is not None and not (math.isfinite(after) and after >= 0):
            problems.append("reprocessing_after_hours must be None or a finite number >= 0")
        if not 0.0 <= self.reprocessing_share <= 1.0:
            problems.append("reprocessing_share must be within [0, 1]")
        if self.max_interval_days <= 0:
            problems.append("max_interval_days must be > 0")
        if not isinstance(self.media_type_in_groups, bool):
            # A truthy string ("false") from a config file would silently mean True.
            problems.append(
                f"media_type_in_groups must be a bool, got {self.media_type_in_groups!r}"
            )
        if self.job_delay_s < 0 or self.job_ttl_s <= 0:
            problems.append("job_delay_s must be >= 0 and job_ttl_s > 0")
        if self.default_page_size < 1:
            problems.append("default_page_size must be >= 1")
        rates = ("error_rate", "slow_rate", "truncate_rate", "drop_rate")
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be within [0, 1]")
        if sum(getattr(self, name) for name in rates) > 1.0:
            problems.append("error_rate + slow_rate + truncate_rate + drop_rate must be <= 1")
        if not self.error_codes or any(c not in SERVER_ERROR_CODES for c in self.error_codes):
            problems.append(f"error_codes must be a non-empty subset of {SERVER_ERROR_CODES}")
        if self.latency_ms < 0 or self.latency_sigma < 0 or self.slow_ms < 0:
            problems.append("latency_ms, latency_sigma and slow_ms must be >= 0")
        if self.omit_group is not None:
            if len(self.omit_group) != 2 or not all(
                isinstance(part, str) and part for part in self.omit_group
            ):
                problems.append(f"omit_group must be (dimension, value), got {self.omit_group!r}")
            elif not is_dimension(self.omit_group[0]):
                problems.append(f"omit_group: unknown dimension {self.omit_group[0]!r}")
        if self.short_cursor_pages is not None and self.short_cursor_pages < 1:
            problems.append("short_cursor_pages must be None or >= 1")
        if self.day_cache_size < 1:
            problems.append("day_cache_size must be >= 1")
        if problems:
            raise ValueError("Invalid SimulatorConfig: " + "; ".join(problems))
