"""What goes wrong on the way to a production API, on purpose.

Every `/api/v2/...` request draws its fate in arrival order from an RNG seeded from the config
seed, so a failing run can be replayed; a scripted queue overrides the draw for tests that need
an exact sequence ("503, 503, then success").
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from genesys_assets.simulator.config import SCRIPTABLE_FAULTS, SimulatorConfig

DROP = "drop"
TRUNCATE = "truncate"
SLOW = "slow"
ERROR = "error"
THROTTLE = "throttle"


@dataclass(frozen=True)
class FaultPlan:
    kind: str | None  # None, DROP, TRUNCATE, SLOW, ERROR or THROTTLE
    status: int | None = None  # for ERROR
    delay_s: float = 0.0  # latency plus, for SLOW, the slow delay


class FaultInjector:
    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._rng = random.Random(f"{config.seed}:faults")
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._rates = (
            (DROP, config.drop_rate),
            (TRUNCATE, config.truncate_rate),
            (ERROR, config.error_rate),
            (SLOW, config.slow_rate),
        )
        self._any_rate = any(rate > 0 for _, rate in self._rates)

    def script(self, faults: Iterable[str]) -> None:
        """Give the next API requests exactly these faults, one each, in arrival order."""
        items = [str(f) for f in faults]
        unknown = [f for f in items if f not in SCRIPTABLE_FAULTS]
        if unknown:
            raise ValueError(f"Unknown faults {unknown}; expected some of {SCRIPTABLE_FAULTS}")
        with self._lock:
            self._script.extend(items)

    def next(self) -> FaultPlan:
        config = self._config
        with self._lock:
            delay = self._latency_s()
            if self._script:
                return self._scripted(self._script.popleft(), delay)
            if not self._any_rate:
                return FaultPlan(None, delay_s=delay)
            kind = self._pick(self._rng.random())
            if kind is None:
                return FaultPlan(None, delay_s=delay)
            if kind == ERROR:
                return FaultPlan(ERROR, self._rng.choice(config.error_codes), delay)
            if kind == SLOW:
                return FaultPlan(SLOW, delay_s=delay + config.slow_ms / 1000)
            return FaultPlan(kind, delay_s=delay)

    def _pick(self, draw: float) -> str | None:
        # The rates share one draw: [0, drop) drops, the next truncate_rate truncates, ...
        for kind, rate in self._rates:
            if draw < rate:
                return kind
            draw -= rate
        return None

    def _latency_s(self) -> float:
        config = self._config
        if config.latency_ms <= 0:
            return 0.0
        if config.latency_sigma <= 0:
            return config.latency_ms / 1000
        # Lognormal with the configured median: most requests near it, a long slow tail.
        return self._rng.lognormvariate(math.log(config.latency_ms), config.latency_sigma) / 1000

    def _scripted(self, fault: str, delay: float) -> FaultPlan:
        if fault == "429":
            return FaultPlan(THROTTLE, 429, delay)
        if fault.isdigit():
            return FaultPlan(ERROR, int(fault), delay)
        if fault == SLOW:
            return FaultPlan(SLOW, delay_s=delay + self._config.slow_ms / 1000)
        return FaultPlan(fault, delay_s=delay)
