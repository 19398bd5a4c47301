"""A local Genesys Cloud Analytics API: OAuth, conversation aggregates (sync and async jobs),
the directory listings (routing queues, users, wrap-up codes, divisions, routing skills and
languages) and data availability, answered from a deterministic simulated org.

    from genesys_assets.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(seed=7, queues=12, agents=60)) as sim:
        sim.base_url, sim.client_id, sim.client_secret

Standard library only (plus the shared metric catalog), so it starts in a fraction of a second
in tests, benchmarks and `python -m genesys_assets.simulator`.
"""

from genesys_assets.simulator.config import SimulatorConfig
from genesys_assets.simulator.errors import ApiError
from genesys_assets.simulator.org import (
    Agent,
    Division,
    Org,
    Queue,
    RoutingLanguage,
    RoutingSkill,
    Team,
    User,
    WrapUpCode,
)
from genesys_assets.simulator.server import Simulator
from genesys_assets.simulator.traffic import IMPLEMENTED_METRICS

__all__ = [
    "IMPLEMENTED_METRICS",
    "Agent",
    "ApiError",
    "Division",
    "Org",
    "Queue",
    "RoutingLanguage",
    "RoutingSkill",
    "Simulator",
    "SimulatorConfig",
    "Team",
    "User",
    "WrapUpCode",
]
