"""A local Genesys Cloud Analytics API: OAuth, conversation aggregates (sync and async jobs),
the directory listings (routing queues, users, wrap-up codes, divisions, routing skills and
languages) and data availability, answered from a deterministic simulated org.

    from genesys_assets.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(seed=7, queues=12, agents=60)) as sim:
        sim.base_url, sim.client_id, sim.client_secret

Several orgs on one port, told apart by their OAuth clients as the orgs of one region are:

    with SimulatedRegion({"eu": SimulatorConfig(client_id="eu", ...), "us": ...}) as region:
        region.base_url, region.org("eu").client_id, region.org("us").stats()

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
from genesys_assets.simulator.region import SimulatedRegion
from genesys_assets.simulator.server import ServedOrg, Simulator
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
    "ServedOrg",
    "SimulatedRegion",
    "Simulator",
    "SimulatorConfig",
    "Team",
    "User",
    "WrapUpCode",
]
