"""Figures, their medians, and the two files a run leaves: `latest.json` and `latest.md`.

A figure keeps every sample, not only its median: on a shared machine the spread says how much
to trust the median. Ratios are figures of their own, computed repetition by repetition from
measurements made side by side, then their median taken; a ratio of two medians would pair a
quiet moment of one side with a noisy moment of the other.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    name: str
    unit: str
    samples: list[float]
    _: KW_ONLY
    target: str | None = None  # as a reader states it, e.g. ">= 5x the naive flattener"
    met: bool | None = None  # None: no target, or not decidable
    digits: int = 2
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples) if self.samples else None,
            "max": max(self.samples) if self.samples else None,
            "runs": len(self.samples),
            "samples": self.samples,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


@dataclass
class BenchResult:
    name: str  # what --only takes
    title: str
    method: str  # one paragraph: what was measured and how
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # raw per-run data
    seconds: float = 0.0  # how long the benchmark itself took

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def figure(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "method": self.method,
            "figures": [f.to_json() for f in self.figures],
            "targets": [
                {"figure": f.name, "target": f.target, "median": f.median, "met": f.met}
                for f in self.figures
                if f.target
            ],
            "notes": self.notes,
            "details": self.details,
            "seconds": round(self.seconds, 1),
        }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _number(value: float, digits: int) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _status(figure: Figure) -> str:
    if not figure.target:
        return ""
    if figure.met is None:
        return "n/a"
    return "met" if figure.met else "**missed**"


def markdown(results: Sequence[BenchResult], machine_line: str, total_s: float) -> str:
    lines = [
        "# genesys_assets benchmarks",
        "",
        f"Machine: {machine_line}.",
        f"`make bench` took {total_s / 60:.1f} min. Every figure is the median of the runs "
        "shown (min–max beside it); ratios are taken run by run from measurements made side by "
        "side, then their median. Absolute times on a shared machine mean little; ratios mean "
        "a lot.",
        "",
    ]
    for result in results:
        lines += [f"## {result.title}", "", result.method, ""]
        lines += [
            "| figure | median | min–max | runs | target | |",
            "|---|---:|---:|---:|---|---|",
        ]
        for f in result.figures:
            spread = (
                f"{_number(min(f.samples), f.digits)}–{_number(max(f.samples), f.digits)}"
                if len(f.samples) > 1
                else ""
            )
            unit = f" {f.unit}" if f.unit else ""
            lines.append(
                f"| {f.name} | {_number(f.median, f.digits)}{unit} | {spread} | "
                f"{len(f.samples)} | {f.target or ''} | {_status(f)} |"
            )
        noted = [f"- {f.name}: {f.note}." for f in result.figures if f.note]
        if result.notes or noted:
            lines.append("")
            lines += noted + [f"- {note}" for note in result.notes]
        lines.append("")
    return "\n".join(lines)


def write(
    results: Sequence[BenchResult],
    machine: dict[str, Any],
    machine_line: str,
    total_s: float,
    settings: dict[str, Any],
    directory: Path = RESULTS,
    stem: str = "latest",
) -> tuple[Path, Path]:
    """Write <stem>.json and <stem>.md atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine,
        "settings": settings,
        "total_seconds": round(total_s, 1),
        "benchmarks": {r.name: r.to_json() for r in results},
    }
    paths = []
    for name, text in (
        (f"{stem}.json", json.dumps(document, indent=2, default=str) + "\n"),
        (f"{stem}.md", markdown(results, machine_line, total_s)),
    ):
        path = directory / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    return paths[0], paths[1]
