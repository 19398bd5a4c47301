"""`python -m genesys_assets.simulator --port 0`: serve until interrupted.

Prints the base URL and the credentials as KEY=value lines (and flushes) so a parent process,
a Makefile or a human can pick them up; Ctrl-C or SIGTERM stops it cleanly with status 0.

`--org NAME:TIME_ZONE:SEED[:AGENTS[:QUEUES[:CONVERSATIONS_PER_DAY]]]`, repeated, serves several
orgs on the one port instead, as one region does (`region.SimulatedRegion`): each org logs in
with a client of its own, printed as GENESYS_<NAME>_CLIENT_ID / _CLIENT_SECRET, the variables a
datasets file of several orgs names by default; every other option applies to each org.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
import sys
import threading
from datetime import datetime
from types import FrameType
from typing import NamedTuple

from genesys_assets.simulator.config import SERVER_ERROR_CODES, SimulatorConfig
from genesys_assets.simulator.region import SimulatedRegion
from genesys_assets.simulator.server import Simulator

_DEFAULTS = SimulatorConfig()
# An org's name is also an org id of a datasets file (lower_snake_case), so that its printed
# variables are the ones such a file names by default: GENESYS_<ID>_CLIENT_ID.
_ORG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Options that name one org's clients or pick one org: with --org each org has its own.
_ONE_ORG_OPTIONS = (
    ("client_id", "--client-id"),
    ("client_secret", "--client-secret"),
    ("restricted_client", "--restricted-client"),
    ("extra_client", "--extra-client"),
    ("seed", "--seed"),
    ("time_zone", "--time-zone"),
)


class OrgSpec(NamedTuple):
    """One --org: its name, time zone and seed; a size left out is the --queues, --agents or
    --conversations-per-day one."""

    name: str
    time_zone: str
    seed: int
    agents: int | None = None
    queues: int | None = None
    conversations_per_day: int | None = None


def _aware(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date-time: {text!r}") from None
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"needs a UTC offset or Z: {text!r}")
    return moment


def _client(text: str) -> tuple[str, str]:
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError(f"expected ID:SECRET, got {text!r}")
    return client_id, secret


def _extra_client(text: str) -> tuple[str, str, tuple[str, ...]]:
    # Permission names hold colons themselves: the id and secret are the first two fields.
    client_id, _, rest = text.partition(":")
    secret, _, permissions = rest.partition(":")
    names = tuple(p.strip() for p in permissions.split(",") if p.strip())
    if not client_id or not secret or not names:
        raise argparse.ArgumentTypeError(f"expected ID:SECRET:PERMISSION[,PERMISSION...]: {text!r}")
    return client_id, secret, names


def _group(text: str) -> tuple[str, str]:
    dimension, sep, value = text.partition("=")
    if not sep or not dimension or not value:
        raise argparse.ArgumentTypeError(f"expected DIMENSION=VALUE, got {text!r}")
    return dimension, value


def _org(text: str) -> OrgSpec:
    # Time zone names hold slashes, never colons, so the fields split cleanly.
    fields = text.split(":")
    usage = "expected NAME:TIME_ZONE:SEED[:AGENTS[:QUEUES[:CONVERSATIONS_PER_DAY]]]"
    if not 3 <= len(fields) <= 6:
        raise argparse.ArgumentTypeError(f"{usage}, got {text!r}")
    name, time_zone, *numbers = fields
    if not _ORG_NAME.match(name):
        raise argparse.ArgumentTypeError(
            f"org name {name!r} must be lower_snake_case (letters, digits, _), as an org id is"
        )
    if not time_zone:
        raise argparse.ArgumentTypeError(f"{usage}: the time zone is missing in {text!r}")
    try:
        # An empty size field (eu:Europe/Berlin:7::4) keeps the default, as a missing one does.
        values = [int(n) if n else None for n in numbers]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{usage}: whole numbers after the time zone") from None
    if values[0] is None:
        raise argparse.ArgumentTypeError(f"{usage}: the seed is missing in {text!r}")
    return OrgSpec(name, time_zone, values[0], *values[1:])


def _codes(text: str) -> tuple[int, ...]:
    try:
        codes = tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected codes like 500,503: {text!r}") from None
    if not codes or any(c not in SERVER_ERROR_CODES for c in codes):
        raise argparse.ArgumentTypeError(f"codes must be among {SERVER_ERROR_CODES}")
    return codes


def build_parser() -> argparse.ArgumentParser:
    d = _DEFAULTS
    p = argparse.ArgumentParser(
        prog="python -m genesys_assets.simulator",
        description="A local Genesys Cloud Analytics API backed by a simulated org.",
    )
    p.add_argument("--port", type=int, default=d.port, help="TCP port; 0 picks a free one")
    # None: not given (then the config's default), so that --org can refuse them.
    p.add_argument("--seed", type=int, default=None, help=f"default {d.seed}")
    p.add_argument("--queues", type=int, default=d.queues)
    p.add_argument("--agents", type=int, default=d.agents)
    p.add_argument("--conversations-per-day", type=int, default=d.conversations_per_day)
    p.add_argument(
        "--time-zone", default=None, help=f"the org's local IANA time zone (default {d.time_zone})"
    )
    p.add_argument("--weekend-factor", type=float, default=d.weekend_factor)
    p.add_argument("--client-id", default=None, help=f"default {d.client_id}")
    p.add_argument("--client-secret", default=None, help=f"default {d.client_secret}")
    p.add_argument(
        "--org",
        type=_org,
        action="append",
        default=[],
        metavar="NAME:TIME_ZONE:SEED[:AGENTS[:QUEUES[:CONVERSATIONS_PER_DAY]]]",
        help="serve this org too, on the same port, as one region serves several (repeatable); "
        "its client is simulator-NAME / simulator-NAME-secret; a size left out is --agents, "
        "--queues or --conversations-per-day; not with --seed, --time-zone or the client options",
    )
    p.add_argument(
        "--restricted-client",
        type=_client,
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="a client without analytics:conversationAggregate:view (repeatable)",
    )
    p.add_argument(
        "--client-permission",
        action="append",
        default=None,
        metavar="PERMISSION",
        help="a permission of the main client (repeatable; replaces the default "
        f"{', '.join(d.client_permissions)})",
    )
    p.add_argument(
        "--extra-client",
        type=_extra_client,
        action="append",
        default=[],
        metavar="ID:SECRET:PERMISSION[,PERMISSION...]",
        help="another client with exactly these permissions (repeatable)",
    )
    p.add_argument("--token-ttl", type=float, default=d.token_ttl_s, help="seconds")
    p.add_argument("--rate-limit-per-minute", type=int, default=d.rate_limit_per_minute)
    p.add_argument("--rate-limit-window", type=float, default=d.rate_limit_window_s, help="s")
    p.add_argument("--no-retry-after", action="store_true", help="429s without Retry-After")
    p.add_argument("--now", type=_aware, default=None, help="freeze 'now' (ISO-8601, offset)")
    p.add_argument("--availability-lag-minutes", type=float, default=d.availability_lag_minutes)
    p.add_argument("--ingestion-lag", type=float, default=d.ingestion_lag_s, help="median, s")
    p.add_argument(
        "--late-event-share",
        type=float,
        default=d.late_event_share,
        help="share of events ingested only --late-event-delay-hours after their moment",
    )
    p.add_argument("--late-event-delay-hours", type=float, default=d.late_event_delay_hours)
    p.add_argument(
        "--service-level-change-at",
        type=_aware,
        default=None,
        metavar="ISO-8601",
        help="from then on, oServiceLevel leaves short abandons out, for past dates too",
    )
    p.add_argument(
        "--reprocessing-after-hours",
        type=float,
        default=d.reprocessing_after_hours,
        help="each day is reprocessed this long after its local midnight (off if unset)",
    )
    p.add_argument(
        "--reprocessing-share",
        type=float,
        default=d.reprocessing_share,
        help="share of a day's conversations whose talk and handle times read short until then",
    )
    p.add_argument("--max-interval-days", type=float, default=d.max_interval_days)
    p.add_argument(
        "--media-type-in-groups",
        action=argparse.BooleanOptionalAction,
        default=d.media_type_in_groups,
        help="every group carries mediaType and answers are split by it, as real ones are",
    )
    p.add_argument("--job-delay", type=float, default=d.job_delay_s, help="seconds")
    p.add_argument("--job-ttl", type=float, default=d.job_ttl_s, help="seconds")
    p.add_argument("--page-size", type=int, default=d.default_page_size, help="jobs default")
    p.add_argument("--error-rate", type=float, default=d.error_rate)
    p.add_argument("--error-codes", type=_codes, default=d.error_codes, help="e.g. 500,503")
    p.add_argument("--latency-ms", type=float, default=d.latency_ms, help="median")
    p.add_argument("--latency-sigma", type=float, default=d.latency_sigma)
    p.add_argument("--slow-rate", type=float, default=d.slow_rate)
    p.add_argument("--slow-ms", type=float, default=d.slow_ms)
    p.add_argument("--truncate-rate", type=float, default=d.truncate_rate)
    p.add_argument("--drop-rate", type=float, default=d.drop_rate)
    p.add_argument(
        "--omit-group",
        type=_group,
        default=None,
        metavar="DIMENSION=VALUE",
        help="answers grouped by DIMENSION silently leave out the group with that value",
    )
    p.add_argument(
        "--short-cursor-pages",
        type=int,
        default=d.short_cursor_pages,
        metavar="N",
        help="job results silently end after N pages",
    )
    p.add_argument("--day-cache-size", type=int, default=d.day_cache_size)
    p.add_argument(
        "--remember-answers",
        action="store_true",
        help="serve a settled query's answer again instead of aggregating it anew",
    )
    p.add_argument("--log-requests", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        port=args.port,
        seed=args.seed if args.seed is not None else _DEFAULTS.seed,
        queues=args.queues,
        agents=args.agents,
        conversations_per_day=args.conversations_per_day,
        time_zone=args.time_zone if args.time_zone is not None else _DEFAULTS.time_zone,
        weekend_factor=args.weekend_factor,
        client_id=args.client_id if args.client_id is not None else _DEFAULTS.client_id,
        client_secret=(
            args.client_secret if args.client_secret is not None else _DEFAULTS.client_secret
        ),
        client_permissions=(
            tuple(args.client_permission)
            if args.client_permission is not None
            else _DEFAULTS.client_permissions
        ),
        restricted_clients=tuple(args.restricted_client),
        extra_clients=tuple(args.extra_client),
        token_ttl_s=args.token_ttl,
        rate_limit_per_minute=args.rate_limit_per_minute,
        rate_limit_window_s=args.rate_limit_window,
        send_retry_after=not args.no_retry_after,
        now=args.now,
        availability_lag_minutes=args.availability_lag_minutes,
        ingestion_lag_s=args.ingestion_lag,
        late_event_share=args.late_event_share,
        late_event_delay_hours=args.late_event_delay_hours,
        service_level_change_at=args.service_level_change_at,
        reprocessing_after_hours=args.reprocessing_after_hours,
        reprocessing_share=args.reprocessing_share,
        max_interval_days=args.max_interval_days,
        media_type_in_groups=args.media_type_in_groups,
        job_delay_s=args.job_delay,
        job_ttl_s=args.job_ttl,
        default_page_size=args.page_size,
        error_rate=args.error_rate,
        error_codes=args.error_codes,
        latency_ms=args.latency_ms,
        latency_sigma=args.latency_sigma,
        slow_rate=args.slow_rate,
        slow_ms=args.slow_ms,
        truncate_rate=args.truncate_rate,
        drop_rate=args.drop_rate,
        omit_group=args.omit_group,
        short_cursor_pages=args.short_cursor_pages,
        day_cache_size=args.day_cache_size,
        remember_answers=args.remember_answers,
        log_requests=args.log_requests,
    )


def org_configs_from_args(args: argparse.Namespace) -> list[tuple[str, SimulatorConfig]]:
    """Each --org's name and config: the other options' config with the org's seed, time zone,
    sizes and a client of its own. ValueError for what cannot be served together."""
    given = [flag for dest, flag in _ONE_ORG_OPTIONS if getattr(args, dest) not in (None, [])]
    if given:
        raise ValueError(
            f"{', '.join(given)} cannot be combined with --org: each org has its own seed, time "
            "zone and client (simulator-NAME / simulator-NAME-secret)"
        )
    base = config_from_args(args)
    configs: list[tuple[str, SimulatorConfig]] = []
    for spec in args.org:
        if spec.name in (name for name, _ in configs):
            raise ValueError(f"--org {spec.name!r} is given twice")
        try:
            config = dataclasses.replace(
                base,
                seed=spec.seed,
                time_zone=spec.time_zone,
                agents=spec.agents if spec.agents is not None else base.agents,
                queues=spec.queues if spec.queues is not None else base.queues,
                conversations_per_day=(
                    spec.conversations_per_day
                    if spec.conversations_per_day is not None
                    else base.conversations_per_day
                ),
                client_id=f"simulator-{spec.name}",
                client_secret=f"simulator-{spec.name}-secret",
            )
        except ValueError as exc:
            # The config's message names the field; say which --org it came from.
            raise ValueError(f"--org {spec.name}: {exc}") from None
        configs.append((spec.name, config))
    return configs


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    served: Simulator | SimulatedRegion
    try:
        if args.org:
            served = SimulatedRegion(org_configs_from_args(args), port=args.port)
        else:
            served = Simulator(config_from_args(args))
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    served.start()
    try:
        print(f"GENESYS_API_HOST={served.base_url}")
        if isinstance(served, Simulator):
            print(f"GENESYS_CLIENT_ID={served.client_id}")
            print(f"GENESYS_CLIENT_SECRET={served.client_secret}")
        else:
            for org in served.orgs:
                print(f"GENESYS_{org.name.upper()}_CLIENT_ID={org.client_id}")
                print(f"GENESYS_{org.name.upper()}_CLIENT_SECRET={org.client_secret}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        served.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
