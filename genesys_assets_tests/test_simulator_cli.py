"""`python -m genesys_assets.simulator`: prints where it listens and with which credentials,
serves, and exits 0 on SIGTERM or Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .raw_http import RawClient

ROOT = Path(__file__).resolve().parents[1]


def launch(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "genesys_assets.simulator", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_settings(process: subprocess.Popen[str], count: int = 3, timeout: float = 10) -> dict:
    """The KEY=value lines the simulator prints at startup (read on a thread: a pipe read has
    no timeout of its own, and a hung child must fail the test, not hang it)."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    settings: dict[str, str] = {}
    while len(settings) < count:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no startup lines within {timeout}s (exit code {process.poll()})")
        key, _, value = line.strip().partition("=")
        settings[key] = value
    return settings


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_settings_serves_and_exits_cleanly(stop_signal: signal.Signals) -> None:
    process = launch(
        *("--port", "0", "--seed", "3", "--queues", "4", "--agents", "10"),
        *("--conversations-per-day", "300", "--now", "2024-11-05T12:00:00Z"),
        *("--client-id", "cli-client", "--client-secret", "cli-secret"),
        *("--restricted-client", "reader:reader-secret", "--token-ttl", "600"),
        *("--extra-client", "details:details-secret:analytics:conversationDetail:view"),
    )
    try:
        settings = read_settings(process)
        assert settings["GENESYS_API_HOST"].startswith("http://127.0.0.1:")
        assert settings["GENESYS_CLIENT_ID"] == "cli-client"
        assert settings["GENESYS_CLIENT_SECRET"] == "cli-secret"

        client = RawClient(settings["GENESYS_API_HOST"], "cli-client", "cli-secret", timeout=10)
        token = client.token_request()
        assert token.status == 200 and token.json()["expires_in"] == 600
        client.access_token = token.json()["access_token"]
        queues = client.request("GET", "/api/v2/routing/queues").json()
        assert queues["total"] == 4
        # The availability route needs the details permission: the main client lacks it.
        availability_path = "/api/v2/analytics/conversations/details/jobs/availability"
        assert client.request("GET", availability_path).status == 403
        details = RawClient(settings["GENESYS_API_HOST"], "details", "details-secret", timeout=10)
        details.login()
        availability = details.request("GET", availability_path)
        assert availability.json() == {"dataAvailabilityDate": "2024-11-05T11:00:00.000Z"}

        reader = RawClient(settings["GENESYS_API_HOST"], "reader", "reader-secret", timeout=10)
        reader.login()
        denied = reader.request(
            "POST",
            "/api/v2/analytics/conversations/aggregates/query",
            {"interval": "2024-11-04T00:00:00Z/2024-11-05T00:00:00Z", "metrics": ["nOffered"]},
        )
        assert denied.status == 403
    finally:
        process.send_signal(stop_signal)
        try:
            code = process.wait(timeout=10)
        finally:
            process.kill()
    assert code == 0, process.stderr.read() if process.stderr else ""


def test_cli_rejects_bad_settings() -> None:
    process = launch("--time-zone", "Mars/Olympus_Mons")
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "unknown time zone" in stderr


def test_media_type_in_groups_is_on_by_default_and_can_be_switched_off() -> None:
    from genesys_assets.simulator.__main__ import build_parser, config_from_args
    from genesys_assets.simulator.config import SimulatorConfig

    parser = build_parser()
    assert config_from_args(parser.parse_args([])).media_type_in_groups is True
    off = config_from_args(parser.parse_args(["--no-media-type-in-groups"]))
    assert off.media_type_in_groups is False
    assert config_from_args(parser.parse_args(["--media-type-in-groups"])).media_type_in_groups
    assert "--no-media-type-in-groups" in parser.format_help()
    with pytest.raises(ValueError, match="media_type_in_groups must be a bool"):
        SimulatorConfig(media_type_in_groups="false")  # type: ignore[arg-type]


def test_late_data_fault_and_permission_flags_reach_the_config() -> None:
    from datetime import UTC, datetime

    from genesys_assets.simulator.__main__ import build_parser, config_from_args
    from genesys_assets.simulator.config import SimulatorConfig

    parser = build_parser()
    defaults = config_from_args(parser.parse_args([]))
    assert defaults == SimulatorConfig(), "no flag, the config's own defaults"
    config = config_from_args(
        parser.parse_args(
            [
                *("--late-event-share", "0.1", "--late-event-delay-hours", "3"),
                *("--service-level-change-at", "2024-11-20T09:00:00Z"),
                *("--reprocessing-after-hours", "4", "--reprocessing-share", "0.2"),
                *("--omit-group", "queueId=q-1", "--short-cursor-pages", "2"),
                *("--client-permission", "analytics:conversationAggregate:view"),
                *("--client-permission", "analytics:conversationDetail:view"),
                *(
                    "--extra-client",
                    "ops:ops-secret:routing:queue:view,analytics:conversationDetail:view",
                ),
            ]
        )
    )
    assert (config.late_event_share, config.late_event_delay_hours) == (0.1, 3.0)
    assert config.service_level_change_at == datetime(2024, 11, 20, 9, tzinfo=UTC)
    assert (config.reprocessing_after_hours, config.reprocessing_share) == (4.0, 0.2)
    assert config.omit_group == ("queueId", "q-1") and config.short_cursor_pages == 2
    assert config.client_permissions == (
        "analytics:conversationAggregate:view",
        "analytics:conversationDetail:view",
    )
    assert config.extra_clients == (
        ("ops", "ops-secret", ("routing:queue:view", "analytics:conversationDetail:view")),
    )
    for bad in (
        ["--omit-group", "queueId"],
        ["--extra-client", "ops:ops-secret"],
        ["--service-level-change-at", "2024-11-20T09:00:00"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
