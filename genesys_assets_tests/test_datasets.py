"""The datasets file: the shipped one loads, a bad one fails with the field that is wrong."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from genesys_assets import datasets
from genesys_assets.datasets import DatasetFileError


def test_the_shipped_file_declares_the_two_default_datasets():
    loaded = datasets.load(datasets.DEFAULT_FILE)
    assert [d.name for d in loaded.datasets] == ["queue_performance", "agent_performance"]
    assert loaded.org.time_zone == "America/New_York"
    assert loaded.org.start_date == date(2024, 1, 1)
    assert loaded.schedule.refresh_days == 3
    queue = loaded.get("queue_performance")
    assert queue.group_by == ("queueId", "mediaType", "direction")
    assert queue.query.granularity == "PT30M"
    assert {
        "nOffered",
        "tAnswered",
        "tAbandon",
        "tWait",
        "tHandle",
        "tTalk",
        "tAcw",
        "tHeld",
        "nTransferred",
        "oServiceLevel",
    } <= set(queue.metrics)
    agent = loaded.get("agent_performance")
    assert agent.group_by == ("userId", "queueId", "mediaType")
    assert {"tHandle", "tTalk", "tAcw", "tHeld", "nTransferred", "tAnswered"} <= set(agent.metrics)
    assert queue.query.time_zone == agent.query.time_zone == "America/New_York"


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(datasets.DEFAULT_FILE.read_text())
    mutate(raw)
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda raw: raw["datasets"]["queue_performance"]["metrics"].__setitem__(4, "tHandel"),
            "datasets.queue_performance.metrics[4]: unknown metric 'tHandel' (did you mean 'tHandle'?)",
        ),
        (
            lambda raw: raw["datasets"]["agent_performance"].__setitem__("group_by", ["userid"]),
            "datasets.agent_performance.group_by[0]: unknown dimension 'userid' (did you mean 'userId'?)",
        ),
        (
            lambda raw: raw["datasets"]["agent_performance"]["filter"]["predicates"][0].__setitem__(
                "dimension", "usrId"
            ),
            "datasets.agent_performance.filter.predicates[0].dimension: unknown dimension 'usrId'",
        ),
        (
            lambda raw: raw["datasets"]["queue_performance"].__setitem__("granularty", "PT1H"),
            "datasets.queue_performance.granularty: unknown field (did you mean 'granularity'?)",
        ),
        (lambda raw: raw["org"].__setitem__("time_zone", "America/NewYork"), "org.time_zone"),
        (lambda raw: raw["org"].__setitem__("start_date", "2024-13-01"), "org.start_date"),
        (lambda raw: raw["schedule"].__setitem__("refresh_days", 0), "schedule.refresh_days"),
        (lambda raw: raw["schedule"].__setitem__("cron", "every day"), "schedule.cron"),
        (
            lambda raw: raw["datasets"].__setitem__("Queue-Stats", {"metrics": ["nOffered"]}),
            "datasets.Queue-Stats: a dataset name must be lower_snake_case",
        ),
        (
            lambda raw: raw["datasets"].__setitem__("genesys_queues", {"metrics": ["nOffered"]}),
            "datasets.genesys_queues: 'genesys_queues' would collide",
        ),
        (lambda raw: raw["datasets"]["queue_performance"].pop("metrics"), "metrics: missing"),
        (lambda raw: raw["datasets"]["queue_performance"].__setitem__("mode", "fast"), "mode"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path, mutate, expected):
    path = _write(tmp_path, mutate)
    with pytest.raises(DatasetFileError) as info:
        datasets.load(path)
    assert expected in str(info.value)
    assert str(info.value).startswith("datasets.yaml: ")


def test_the_environment_variable_points_at_another_file(tmp_path, monkeypatch):
    path = _write(tmp_path, lambda raw: raw["datasets"].pop("agent_performance"))
    monkeypatch.setenv(datasets.ENV_VAR, str(path))
    assert [d.name for d in datasets.load().datasets] == ["queue_performance"]
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "missing.yaml"))
    with pytest.raises(
        DatasetFileError,
        match=r"cannot read datasets file .*missing.yaml .from GENESYS_DATASETS_FILE",
    ):
        datasets.load()


def test_invalid_yaml_is_reported_as_such(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets: [unclosed\n")
    with pytest.raises(DatasetFileError, match="not valid YAML"):
        datasets.load(path)
