"""Several simulated orgs behind one API host, as the orgs of one Genesys Cloud region are.

Every org of a region is reached at the same `api.<region>` and `login.<region>`; what tells
them apart is the OAuth client: a token request belongs to the org that owns its client id,
and a bearer token to the org that issued it. So the orgs here share one server and one port,
and each keeps everything else of its own (data, clock, tokens, rate limiter, jobs, faults,
counters), so that a pipeline reading several orgs of a region can be run against them.

    from genesys_assets.simulator import SimulatedRegion, SimulatorConfig

    with SimulatedRegion({
        "eu": SimulatorConfig(seed=1, time_zone="Europe/Berlin", client_id="eu", ...),
        "us": SimulatorConfig(seed=2, time_zone="America/Chicago", client_id="us", ...),
    }) as region:
        region.base_url, region.org("eu").client_id, region.org("us").stats()
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from genesys_assets.simulator.api import Request, match_route
from genesys_assets.simulator.config import SimulatorConfig
from genesys_assets.simulator.server import ServedOrg, _Serving
from genesys_assets.simulator.stats import StatsRecorder

OrgConfigs = Mapping[str, SimulatorConfig] | Iterable[SimulatorConfig | tuple[str, SimulatorConfig]]


class SimulatedRegion(_Serving):
    """Several orgs, each with its own `SimulatorConfig`, served on one port of 127.0.0.1.

    `orgs` maps names to configs, or lists configs (each then named by its main client id)
    or (name, config) pairs. The region listens on `port` (0: a free one); an org's own
    `config.port` must be 0 or that same port, since there is one server. No two orgs may
    share a client id: the client id is what picks the org. Requests are logged if
    `log_requests`, by default if any org's config asks for it.

    A request no org claims (a client or token no org knows, no credentials, a path outside
    the API) gets the same error a single org gives, is counted in `unclaimed_stats()` and
    draws no fault: faults, scripted or by rate, are an org's, for its own requests.
    """

    def __init__(
        self, orgs: OrgConfigs, *, port: int = 0, log_requests: bool | None = None
    ) -> None:
        named = _named(orgs)
        if not named:
            raise ValueError("a SimulatedRegion needs at least one org")
        _check(named, port)
        self._orgs: dict[str, ServedOrg] = {name: ServedOrg(config, name) for name, config in named}
        self._by_client = {
            client_id: served for served in self._orgs.values() for client_id in served.client_ids
        }
        first = next(iter(self._orgs.values()))
        super().__init__(
            port,
            log_requests if log_requests is not None else any(c.log_requests for _, c in named),
            unclaimed_api=first._api,
            unclaimed_stats=StatsRecorder(),
        )
        for served in self._orgs.values():
            served._served_by = self

    @property
    def orgs(self) -> tuple[ServedOrg, ...]:
        """Every org, in the order they were given."""
        return tuple(self._orgs.values())

    def org(self, name: str) -> ServedOrg:
        try:
            return self._orgs[name]
        except KeyError:
            raise KeyError(
                f"no org {name!r} in this region; it has {', '.join(map(repr, self._orgs))}"
            ) from None

    def unclaimed_stats(self) -> dict[str, Any]:
        """The counters of the requests no org claimed: an unknown client or token, a request
        without credentials, a path outside the API, a malformed request."""
        return self._unclaimed_stats.snapshot()

    def reset_stats(self) -> None:
        """Reset every org's counters and the unclaimed ones."""
        for served in self._orgs.values():
            served.reset_stats()
        self._unclaimed_stats.reset()

    def _owner(self, request: Request) -> ServedOrg | None:
        authorization = request.headers.get("Authorization")
        if not authorization:
            return None
        if request.path.startswith("/api/v2/"):
            for served in self._orgs.values():
                if served.holds_token(authorization):
                    return served
            return None
        route, _ = match_route(request.method, request.path)
        if route is not None and route.name == "token":
            client_id = _basic_client_id(authorization)
            return self._by_client.get(client_id) if client_id is not None else None
        return None


def _named(orgs: OrgConfigs) -> list[tuple[str, SimulatorConfig]]:
    if isinstance(orgs, Mapping):
        return list(orgs.items())
    named: list[tuple[str, SimulatorConfig]] = []
    for item in orgs:
        if isinstance(item, SimulatorConfig):
            named.append((item.client_id, item))
        else:
            name, config = item
            named.append((name, config))
    return named


def _check(named: list[tuple[str, SimulatorConfig]], port: int) -> None:
    """Refuse, before any org is generated, what would make a request's org ambiguous."""
    names: set[str] = set()
    owners: dict[str, str] = {}
    for name, config in named:
        if not isinstance(name, str) or not name:
            raise ValueError(f"an org's name must be non-empty text, got {name!r}")
        if not isinstance(config, SimulatorConfig):
            raise TypeError(f"org {name!r}: expected a SimulatorConfig, got {config!r}")
        if name in names:
            raise ValueError(f"two orgs are named {name!r}")
        names.add(name)
        if config.port not in (0, port):
            raise ValueError(
                f"org {name!r} asks for port {config.port}, but a region serves all its orgs on "
                f"one port: pass port={config.port} to SimulatedRegion"
            )
        client_ids = [config.client_id]
        client_ids += [client_id for client_id, _ in config.restricted_clients]
        client_ids += [client[0] for client in config.extra_clients]
        for client_id in client_ids:
            if client_id in owners:
                raise ValueError(
                    f"orgs {owners[client_id]!r} and {name!r} share the client id "
                    f"{client_id!r}: the client id is what picks a request's org, so each "
                    "org needs its own"
                )
            owners[client_id] = name


def _basic_client_id(authorization: str) -> str | None:
    """The client id of an HTTP Basic header, parsed as `TokenStore.verify_client` parses it
    (a header it would refuse as malformed names no client)."""
    if not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    client_id, sep, _ = decoded.partition(":")
    return client_id if sep else None


__all__ = ["SimulatedRegion"]
