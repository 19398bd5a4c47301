"""The datasets file: the shipped one loads, a bad one fails with the field that is wrong."""

import warnings
from datetime import date
from pathlib import Path

import pytest
import yaml

from genesys_assets import datasets
from genesys_assets.datasets import DatasetFileError


def test_the_shipped_file_declares_the_three_default_datasets():
    loaded = datasets.load(datasets.DEFAULT_FILE)
    assert [d.name for d in loaded.datasets] == [
        "queue_performance",
        "agent_performance",
        "agent_status",
    ]
    assert loaded.org.time_zone == "America/New_York"
    assert loaded.org.start_date == date(2024, 1, 1)
    assert loaded.schedule.refresh_days == 3
    assert loaded.settling == datasets.Settling(days=7, matched_for_hours=24, interval_minutes=60)
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
    status = loaded.get("agent_status")
    assert status.kind == "users" and agent.kind == queue.kind == "conversations"
    assert status.group_by == ("userId",)
    assert set(status.metrics) == {
        "tAgentRoutingStatus",
        "tSystemPresence",
        "tOrganizationPresence",
    }


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
        (lambda raw: raw["settling"].__setitem__("days", 0), "settling.days: must be a whole"),
        (lambda raw: raw["settling"].__setitem__("days", 40), "from 1 to 31, got 40"),
        (lambda raw: raw["settling"].__setitem__("matched_for_hours", -1), "matched_for_hours"),
        (lambda raw: raw["settling"].__setitem__("interval_minutes", 0.5), "interval_minutes"),
        (lambda raw: raw["settling"].__setitem__("window", 7), "settling.window"),
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
    assert sorted(d.name for d in datasets.load().datasets) == ["agent_status", "queue_performance"]
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


# A small file written as text, so a test can put YAML constructs (duplicates, aliases, tags) at
# known lines; yaml.safe_dump would normalise them away.
MINIMAL = """\
org:
  time_zone: America/New_York
  start_date: 2024-01-01
schedule:
  cron: "0 4 * * *"
  refresh_days: 3
datasets:
  queue_performance:
    group_by: [queueId]
    metrics: [nOffered]
"""


def _load_text(tmp_path: Path, text: str | bytes) -> datasets.DatasetsFile:
    path = tmp_path / "datasets.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return datasets.load(path)


def _error(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(DatasetFileError) as info:
        _load_text(tmp_path, text)
    message = str(info.value)
    assert message.startswith("datasets.yaml: ")
    assert message.endswith(f"(file: {tmp_path / 'datasets.yaml'})")
    return message


def test_the_minimal_file_loads(tmp_path):
    loaded = _load_text(tmp_path, MINIMAL)
    assert [d.name for d in loaded.datasets] == ["queue_performance"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "  queue_performance:\n    metrics: [tHandle]\n",
            "datasets.queue_performance: duplicate key 'queue_performance' on lines 8 and 11",
        ),
        (
            "    metrics: [tHandle]\n",
            "datasets.queue_performance.metrics: duplicate key 'metrics' on lines 10 and 11",
        ),
        (
            "org:\n  time_zone: UTC\n  start_date: 2024-01-01\n",
            "org: duplicate key 'org' on lines 1 and 11",
        ),
        (
            "    filter:\n      type: and\n"
            "      predicates: [{dimension: queueId, dimension: userId, operator: exists}]\n",
            "datasets.queue_performance.filter.predicates[0].dimension: duplicate key "
            "'dimension' twice on line 13",
        ),
    ],
)
def test_a_duplicate_key_names_its_path_and_both_lines(tmp_path, extra, expected):
    message = _error(tmp_path, MINIMAL + extra)
    assert message.startswith(f"datasets.yaml: {expected} (file: ")


def test_a_merge_key_is_refused(tmp_path):
    # `<<` lets one mapping silently override another's keys: a duplicate by other means.
    text = MINIMAL + "  agent_performance:\n    <<: {metrics: [tHandle]}\n    metrics: [tTalk]\n"
    message = _error(tmp_path, text)
    assert "datasets.agent_performance: line 12: merge keys (<<) are not allowed" in message


def _bomb(levels: int = 9, width: int = 10) -> str:
    """A "billion laughs" description: each level is `width` aliases of the one before."""
    ladder = ["&l0 lol"]
    for level in range(1, levels + 1):
        ladder.append(f"&l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return MINIMAL + f"    description: [{', '.join(ladder)}]\n"


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many scalars constructing `node` would produce, counted on the shared node graph."""
    if id(node) not in memo:
        if isinstance(node, yaml.ScalarNode):
            memo[id(node)] = 1
        else:
            items = node.value if isinstance(node, yaml.SequenceNode) else sum(node.value, ())
            memo[id(node)] = sum(_expanded_size(child, memo) for child in items)
    return memo[id(node)]


def test_a_billion_laughs_file_is_refused_before_anything_expands(tmp_path):
    text = _bomb()
    # It is a real bomb: under 1 KB of text, over a billion strings once expanded.
    assert len(text.encode()) < 1024
    assert _expanded_size(yaml.compose(text, Loader=yaml.SafeLoader), {}) > 10**9
    message = _error(tmp_path, text)
    assert (
        "datasets.queue_performance.description[0]: line 11: anchor &l0: "
        "aliases (*name) are not allowed in a datasets file" in message
    )


def test_an_alias_is_refused_naming_its_line(tmp_path):
    text = MINIMAL.replace("group_by: [queueId]", "group_by: *dims")
    message = _error(tmp_path, text)
    assert (
        "datasets.queue_performance.group_by: line 9: alias *dims: "
        "aliases (*name) are not allowed in a datasets file" in message
    )


def test_an_explicit_tag_is_refused_naming_its_line(tmp_path):
    # `!!int x` made PyYAML raise a bare ValueError with neither file nor field.
    text = MINIMAL.replace("refresh_days: 3", "refresh_days: !!int x")
    message = _error(tmp_path, text)
    assert (
        "schedule.refresh_days: line 6: tags (!!int) are not allowed in a datasets file" in message
    )


def test_a_file_nested_too_deep_is_refused_instead_of_blowing_the_stack(tmp_path):
    text = MINIMAL + "    description: " + "[" * 5000 + "]" * 5000 + "\n"
    message = _error(tmp_path, text)
    assert "line 11: nested deeper than 20 levels" in message


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    text = MINIMAL + ("# padding\n" * (datasets.MAX_FILE_BYTES // 10 + 1))
    message = _error(tmp_path, text)
    assert "datasets.yaml: (file): larger than 1,048,576 bytes" in message


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    message = _error(tmp_path, MINIMAL.encode() + b"# caf\xe9\n")
    assert "datasets.yaml: (file): line 11: not UTF-8 text (byte 0xe9" in message


def test_an_impossible_start_date_names_the_field(tmp_path):
    # The implicit timestamp resolver used to raise a bare "day is out of range for month".
    message = _error(tmp_path, MINIMAL.replace("2024-01-01", "2024-02-30"))
    assert message.startswith(
        "datasets.yaml: org.start_date: '2024-02-30' is not a date (YYYY-MM-DD): "
        "day is out of range for month (file: "
    )


def test_a_start_date_with_a_time_is_refused(tmp_path):
    # A timestamp used to come through as a datetime, which is also a date.
    message = _error(tmp_path, MINIMAL.replace("2024-01-01", "2024-01-01 04:00:00"))
    assert "org.start_date: '2024-01-01 04:00:00' is not a date (YYYY-MM-DD)" in message


@pytest.mark.parametrize("written", ["2024-01-01", "'2024-01-01'", '"2024-01-01"'])
def test_a_valid_start_date_loads_as_a_date(tmp_path, written):
    loaded = _load_text(tmp_path, MINIMAL.replace("2024-01-01", written))
    assert loaded.org.start_date == date(2024, 1, 1)
    assert type(loaded.org.start_date) is date


def _with_cron(cron: str) -> dict:
    raw = yaml.safe_load(datasets.DEFAULT_FILE.read_text())
    raw["schedule"]["cron"] = cron
    return raw


def _cron_error(cron: str) -> str | None:
    try:
        datasets.parse(_with_cron(cron), Path("datasets.yaml"))
    except DatasetFileError as exc:
        return str(exc)
    return None


def _dagster_accepts(cron: str) -> bool:
    """Whether Dagster builds a schedule from `cron`; that is where it refuses a bad one."""
    import dagster

    try:
        with warnings.catch_warnings():
            # Dagster warns, not fails, for a step wider than its field (it fires more often).
            warnings.simplefilter("ignore" if cron in WARNED_BY_DAGSTER else "error")
            dagster.ScheduleDefinition(name="x", cron_schedule=cron, job_name="j")
    except dagster.DagsterInvalidDefinitionError:
        return False
    return True


GOOD_CRONS = [
    "0 4 * * *",
    "*/15 * * * *",
    "0-30/5 * * * *",
    "00 04 * * *",
    "0 4 1,15 * *",
    "0 4 1-31/2 * *",
    "0 4 29 2 *",
    "0 4 * jan *",
    "0 4 1 JAN-MAR *",
    "0 4 1 FEB-3 *",
    "0 4 * * MON-FRI",
    "0 4 * * mon,wed",
    "0 0 * * 0-7",
    "0 0 * * 7",
    "0 4 * * 1-7/2",
    "0 4 L * *",
    "0 4 1,L * *",
    "0 4 L 2 *",
    "0 4 * * 1#2",
    "0 4 * * MON#1,fri#5",
    "0 4 ? * *",
    "0 4 * * ?",
]

# (cron, what the message says after "schedule.cron: "); Dagster rejects each one too.
BAD_CRONS = [
    ("99 99 * * *", "'99 99 * * *': minute 99 is outside 0-59"),
    ("60 * * * *", "'60 * * * *': minute 60 is outside 0-59"),
    ("0-60 * * * *", "'0-60 * * * *': minute 60 is outside 0-59"),
    ("0 24 * * *", "'0 24 * * *': hour 24 is outside 0-23"),
    ("0 4 0 * *", "'0 4 0 * *': day of month 0 is outside 1-31"),
    ("0 4 32 * *", "'0 4 32 * *': day of month 32 is outside 1-31"),
    ("0 4 * 13 *", "'0 4 * 13 *': month 13 is outside 1-12"),
    ("0 4 * 0 *", "'0 4 * 0 *': month 0 is outside 1-12"),
    ("0 4 * * 8", "'0 4 * * 8': day of week 8 is outside 0-7"),
    ("0 4 1 JANUARY *", "'0 4 1 JANUARY *': month 'JANUARY' is not a number 1-12 or JAN-DEC"),
    ("0 four * * *", "'0 four * * *': hour 'four' is not a number 0-23"),
    ("*/0 * * * *", "'*/0 * * * *': minute step 0 is outside 1-59"),
    ("1-5/0 * * * *", "'1-5/0 * * * *': minute step 0 is outside 1-59"),
    ("0 4 15W * *", "'0 4 15W * *': day of month '15W' is not"),
    ("0 4 LW * *", "'0 4 LW * *': day of month 'LW' is not"),
    ("0 4 L-2 * *", "'0 4 L-2 * *': day of month 'L' is not a number 1-31"),
    ("0 4 * * 5L", "'0 4 * * 5L': day of week '5L' is not"),
    ("0 4 * * L", "'0 4 * * L': day of week 'L' is not"),
    ("0 4 * * 1#6", "'0 4 * * 1#6': day of week '1#6': the week 6 is outside 1-5"),
    ("0 4 * * 1#0", "'0 4 * * 1#0': day of week '1#0': the week 0 is outside 1-5"),
    ("0 4 * * 8#1", "'0 4 * * 8#1': day of week 8 is outside 0-7"),
    ("? 4 * * *", "'? 4 * * *': minute '?' is not"),
    ("0 ? * * *", "'0 ? * * *': hour '?' is not"),
    ("0 4 30 2 *", "'0 4 30 2 *': no month in '2' has a day '30'"),
    ("0 4 30 2 1", "'0 4 30 2 1': no month in '2' has a day '30'"),
    (", * * * *", "', * * * *': minute ',' has an empty list item"),
    ("1,,2 * * * *", "'1,,2 * * * *': minute '1,,2' has an empty list item"),
    ("0 4 * * 1-", "'0 4 * * 1-': day of week '1-' is not"),
    ("0 4 * * /2", "'0 4 * * /2': day of week '/2' is not"),
    ("0 4 * * 1-2-3", "'0 4 * * 1-2-3': day of week '1-2-3' is not"),
    ("0 4 * * 1/2/3", "'0 4 * * 1/2/3': day of week '1/2/3' is not"),
    ("0 4 * * */2-3", "'0 4 * * */2-3': day of week '*/2-3' is not"),
    ("0 4 ** * *", "'0 4 ** * *': day of month '**' is not"),
    ("0 4 * * * *", "'0 4 * * * *' is not a 5-field cron expression"),
    ("every day", "'every day' is not a 5-field cron expression"),
]

# Dagster takes these, but each is a likely mistake, so the file refuses them with a fix.
STRICTER_THAN_DAGSTER = [
    ("30-10 * * * *", "'30-10 * * * *': minute range 30-10 runs backwards"),
    ("0 4 * DEC-JAN *", "'0 4 * DEC-JAN *': month range DEC-JAN runs backwards"),
    ("0 4 * * SAT-SUN", "'0 4 * * SAT-SUN': day of week range SAT-SUN runs backwards"),
    ("5/10 * * * *", "'5/10 * * * *': minute '5/10': a step needs a range, e.g. 5-59/10"),
    ("0 4 31 4 *", "'0 4 31 4 *': no month in '4' has a day '31'"),
    ("0 4 30,31 2 *", "'0 4 30,31 2 *': no month in '2' has a day '30,31'"),
    ("0 4 31 4 1", "'0 4 31 4 1': no month in '4' has a day '31'"),
    ("@daily", "'@daily' is not a 5-field cron expression"),
    ("*/60 * * * *", "'*/60 * * * *': minute step 60 is outside 1-59"),
]
WARNED_BY_DAGSTER = {"*/60 * * * *"}


@pytest.mark.parametrize("cron", GOOD_CRONS)
def test_a_good_cron_loads(cron):
    assert _cron_error(cron) is None


@pytest.mark.parametrize(("cron", "expected"), BAD_CRONS + STRICTER_THAN_DAGSTER)
def test_a_bad_cron_says_which_part_is_wrong(cron, expected):
    message = _cron_error(cron)
    assert message is not None, f"{cron!r} was accepted"
    assert message.startswith(f"datasets.yaml: schedule.cron: {expected}")


def test_the_cron_check_agrees_with_dagster():
    assert [c for c in GOOD_CRONS if not _dagster_accepts(c)] == []
    assert [c for c, _ in BAD_CRONS if _dagster_accepts(c)] == []
    # Should Dagster start refusing one of these, move it to BAD_CRONS.
    assert [c for c, _ in STRICTER_THAN_DAGSTER if not _dagster_accepts(c)] == []
    ours = {c: _cron_error(c) is None for c in GOOD_CRONS + [c for c, _ in BAD_CRONS]}
    assert ours == {c: _dagster_accepts(c) for c in ours}


def test_the_core_module_does_not_import_dagster():
    import subprocess
    import sys

    code = "import sys, genesys_assets.datasets; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        (
            "P7D",
            "'P7D' buckets are longer than a day and cannot be filed under one daily partition; "
            "use PT15M, PT30M, PT1H or P1D",
        ),
        (
            "P1M",
            "'P1M' buckets are longer than a day and cannot be filed under one daily partition; "
            "use PT15M, PT30M, PT1H or P1D",
        ),
        (
            None,
            "null means one bucket for the whole query interval, which cannot be filed under one "
            "daily partition; use PT15M, PT30M, PT1H or P1D (or leave the key out for PT30M)",
        ),
        (
            "PT30",
            "unsupported granularity 'PT30'; use PT15M, PT30M, PT1H or P1D (did you mean 'PT30M'?)",
        ),
    ],
)
def test_a_granularity_longer_than_a_day_is_refused(tmp_path, granularity, expected):
    path = _write(
        tmp_path,
        lambda raw: raw["datasets"]["queue_performance"].__setitem__("granularity", granularity),
    )
    with pytest.raises(DatasetFileError) as info:
        datasets.load(path)
    assert str(info.value).startswith(
        f"datasets.yaml: datasets.queue_performance.granularity: {expected} (file: "
    )


@pytest.mark.parametrize("granularity", ["PT15M", "PT30M", "PT1H", "P1D"])
def test_a_day_or_shorter_granularity_loads(tmp_path, granularity):
    path = _write(
        tmp_path,
        lambda raw: raw["datasets"]["queue_performance"].__setitem__("granularity", granularity),
    )
    assert datasets.load(path).get("queue_performance").query.granularity == granularity


def test_a_missing_granularity_is_half_hours(tmp_path):
    path = _write(tmp_path, lambda raw: raw["datasets"]["queue_performance"].pop("granularity"))
    assert datasets.load(path).get("queue_performance").query.granularity == "PT30M"


def test_the_dataset_granularities_are_ones_the_api_takes():
    from genesys_assets.genesys import catalog

    assert set(datasets.DATASET_GRANULARITIES) <= set(catalog.GRANULARITIES)


@pytest.mark.parametrize("name", ["genesys_queues", "genesys_users", "genesys_loads", "raw"])
def test_the_pipelines_own_names_are_reserved(tmp_path, name):
    path = _write(
        tmp_path, lambda raw: raw["datasets"].__setitem__(name, {"metrics": ["nOffered"]})
    )
    with pytest.raises(DatasetFileError, match=f"datasets.{name}: '{name}' would collide"):
        datasets.load(path)


def test_the_reserved_names_are_the_pipelines_tables():
    from genesys_assets.dimensions import all_dimensions
    from genesys_assets.warehouse import base

    dimensions = tuple(d.name for d in all_dimensions())
    assert (*dimensions, datasets.LOADS_TABLE, "raw") == datasets.RESERVED_NAMES
    assert datasets.LOADS_TABLE == base.LOADS_TABLE == "genesys_loads"
