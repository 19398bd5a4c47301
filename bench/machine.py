"""What the figures were measured on: a figure without its machine means little.

Read from /proc and the standard library only (no psutil on these machines), so it works in
the bare virtualenv the benchmarks run in.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict[str, Any]:
    """The machine and the moment, as JSON-able values."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "os": _os_name(),
        "kernel": platform.release(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": _load_average(),
    }


def one_line(info: dict[str, Any]) -> str:
    """The machine line under the tables."""
    ram = f"{info['ram_gib']} GiB RAM" if info.get("ram_gib") else "RAM unknown"
    return (
        f"{info['cpu']}, {info['cores']} cores, {ram}, {info['os']} (Linux {info['kernel']}), "
        f"Python {info['python']}, {info['date']}"
    )
