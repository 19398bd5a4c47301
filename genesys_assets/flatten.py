"""Raw aggregates pages -> the long table, vectorized with Arrow.

A page is `{"results": [{"group": {...}, "data": [{"interval": ..., "metrics": [{"metric",
"qualifier", "stats": {...}}]}]}]}`, three levels of lists. Arrow's JSON reader parses it against
an explicit schema (in C++), and the lists are unnested with `list_flatten` and
`list_parent_indices`: no Python object per row. Interval strings repeat for every group and
metric of a bucket, so only the distinct ones (48 a day at PT30M) are parsed in Python.

A page is one JSON document on one line, which Arrow parses on one thread. When the page is in
the compact form the API sends, its result containers are first put on lines of their own (the
bytes between them, `},{"group":`, can only occur there), so the reader parses blocks of them in
parallel; any other form is parsed whole.

Every metric entry must become exactly one row: the entries are counted again straight from the
bytes (the key `"metric"` can only be a key, every quote inside a JSON string is escaped), and a
page whose counts differ fails the run instead of losing rows quietly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from genesys_assets import long_table
from genesys_assets.genesys.pages import count_metric_entries
from genesys_assets.long_table import PARTITION_COLUMN, STAT_COLUMNS, interval_type, stat_type


class FlattenError(ValueError):
    """A page that cannot be turned into rows faithfully."""


@dataclass(frozen=True)
class PageInput:
    body: bytes
    source_file: str  # the page's key in the stage, kept on every row as lineage


@dataclass
class Flattened:
    table: pa.Table
    pages: int
    metric_entries: int
    unknown_fields: tuple[str, ...] = field(default=())

    def split_days(self, days: Sequence[date]) -> dict[date, pa.Table]:
        """One table per local day; a row outside `days` means the query and the answer disagree."""
        dates = self.table.column(PARTITION_COLUMN)
        found = set(pc.unique(dates).to_pylist())
        stray = sorted(found - set(days))
        if stray:
            raise FlattenError(
                f"the pages hold buckets for {', '.join(map(str, stray))}, outside the fetched "
                f"days {days[0]}..{days[-1]}: the query interval and the time zone disagree"
            )
        return {
            day: self.table.filter(pc.equal(dates, pa.scalar(day, pa.date32()))) for day in days
        }


def page_schema(group_by: Sequence[str]) -> pa.Schema:
    """The JSON shape of a page, as Arrow types (what the reader parses against)."""
    stats = pa.struct([(stat, stat_type(stat)) for stat, _ in STAT_COLUMNS])
    metric = pa.struct([("metric", pa.string()), ("qualifier", pa.string()), ("stats", stats)])
    data = pa.struct([("interval", pa.string()), ("metrics", pa.list_(metric))])
    result_fields: list[tuple[str, pa.DataType]] = [("data", pa.list_(data))]
    if group_by:
        result_fields.insert(0, ("group", pa.struct([(d, pa.string()) for d in group_by])))
    return pa.schema([("results", pa.list_(pa.struct(result_fields)))])


def flatten_pages(
    pages: Iterable[PageInput],
    group_by: Sequence[str],
    time_zone: str,
    loaded_at: datetime,
) -> Flattened:
    """All pages of one fetch as one long table (columns in `long_table.schema` order)."""
    target = long_table.schema(group_by)
    expected = page_schema(group_by)
    zone = ZoneInfo(time_zone)
    tables: list[pa.Table] = []
    unknown: set[str] = set()
    entries = 0
    count = 0
    for page in pages:
        count += 1
        containers = _parse(page, expected)
        unknown.update(_diff(expected.field("results").type.value_type, containers.type, "results"))
        table = _flatten_containers(containers, page, group_by, zone, loaded_at, target)
        in_bytes = count_metric_entries(page.body)
        if table.num_rows != in_bytes:
            raise FlattenError(
                f"page {page.source_file}: {in_bytes} metric entries in the bytes but "
                f"{table.num_rows} rows after flattening; the page is kept as received, "
                "nothing was written"
            )
        entries += in_bytes
        tables.append(table)
    table = pa.concat_tables(tables) if tables else target.empty_table()
    return Flattened(table, count, entries, tuple(sorted(unknown)))


_TRAILER = re.compile(rb'\s*(,\s*"cursor"\s*:\s*"(?:[^"\\]|\\.)*"\s*)?}\s*$')
_LEADER = re.compile(rb'^\s*{\s*("cursor"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*)?"results":\[')


def _container_lines(body: bytes) -> tuple[bytes, bytes] | None:
    """The result containers one per line, and the key they start with; None if not compact.

    Only the exact shapes `{"results":[...]}` and `{"results":[...],"cursor":"..."}` (cursor
    first also accepted) qualify; everything else is parsed as one document.
    """
    leader = _LEADER.match(body)
    end = body.rfind(b"]")
    if leader is None or end < leader.end() or not _TRAILER.fullmatch(body, end + 1):
        return None
    inner = body[leader.end() : end]
    if not inner:
        return b"", b""
    first_key = re.match(rb'{"(group|data)":', inner)
    if first_key is None:
        return None
    separator = b'},{"' + first_key.group(1) + b'":'
    return inner.replace(separator, b'}\n{"' + first_key.group(1) + b'":'), first_key.group(1)


def _parse(page: PageInput, expected: pa.Schema) -> pa.StructArray:
    """The page's result containers as one struct array."""
    container_type: pa.StructType = expected.field("results").type.value_type
    split = _container_lines(page.body)
    if split is not None:
        lines, _ = split
        if not lines:
            return pa.array([], container_type)
        try:
            table = _read(lines, pa.schema(list(container_type)), block_size=1 << 22)
        except pa.ArrowInvalid:
            pass  # not what it looked like; the whole-document parse below says what is wrong
        else:
            return table.to_struct_array().combine_chunks()
    body = page.body
    # Arrow reads newline-delimited JSON; a pretty-printed page is one document over many lines.
    # Raw newlines cannot occur inside JSON strings, so turning them into spaces is lossless.
    if b"\n" in body or b"\r" in body:
        body = body.replace(b"\r", b" ").replace(b"\n", b" ")
    try:
        table = _read(body, expected, block_size=len(body) + 1)
    except pa.ArrowInvalid as exc:
        raise FlattenError(f"page {page.source_file} is not valid aggregates JSON: {exc}") from None
    return pc.list_flatten(table.column("results").combine_chunks())


def _read(body: bytes, schema: pa.Schema, block_size: int) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(body),
        read_options=pj.ReadOptions(block_size=max(block_size, 1 << 16)),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
    )


def _flatten_containers(
    containers: pa.StructArray,
    page: PageInput,
    group_by: Sequence[str],
    zone: ZoneInfo,
    loaded_at: datetime,
    target: pa.Schema,
) -> pa.Table:
    data = pc.struct_field(containers, "data")
    data_parent = pc.list_parent_indices(data)
    buckets = pc.list_flatten(data)
    metrics = pc.struct_field(buckets, "metrics")
    metric_parent = pc.list_parent_indices(metrics)
    entries = pc.list_flatten(metrics)
    rows = len(entries)
    container_of_row = pc.take(data_parent, metric_parent)

    starts, ends, days, interval_of_bucket = _intervals(
        pc.struct_field(buckets, "interval"), zone, page
    )
    interval_of_row = pc.take(interval_of_bucket, metric_parent)
    columns: dict[str, pa.Array] = {
        PARTITION_COLUMN: pc.take(days, interval_of_row),
        "interval_start": pc.take(starts, interval_of_row),
        "interval_end": pc.take(ends, interval_of_row),
    }
    if group_by:
        groups = pc.struct_field(containers, "group")
        for dimension in group_by:
            values = pc.struct_field(groups, dimension)
            columns[long_table.dimension_column(dimension)] = pc.take(values, container_of_row)
    metric = pc.struct_field(entries, "metric")
    if metric.null_count:
        raise FlattenError(
            f"page {page.source_file}: {metric.null_count} metric entries have no name"
        )
    columns["metric"] = metric
    columns["qualifier"] = pc.struct_field(entries, "qualifier")
    stats = pc.struct_field(entries, "stats")
    for stat, column in STAT_COLUMNS:
        columns[column] = pc.struct_field(stats, stat)
    columns["source_file"] = pa.repeat(pa.scalar(page.source_file, pa.string()), rows)
    columns["loaded_at"] = pa.repeat(pa.scalar(loaded_at, target.field("loaded_at").type), rows)
    return pa.Table.from_arrays([columns[name] for name in target.names], schema=target)


def _intervals(
    intervals: pa.Array, zone: ZoneInfo, page: PageInput
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Distinct interval strings parsed once: (starts, ends, local days, index of each bucket)."""
    if intervals.null_count:
        raise FlattenError(
            f"page {page.source_file}: {intervals.null_count} buckets have no interval"
        )
    encoded = pc.dictionary_encode(intervals)
    starts, ends, days = [], [], []
    for text in encoded.dictionary.to_pylist():
        try:
            start_text, end_text = text.split("/")
            start = datetime.fromisoformat(start_text)
            end = datetime.fromisoformat(end_text)
        except ValueError:
            raise FlattenError(f"page {page.source_file}: unreadable interval '{text}'") from None
        starts.append(start)
        ends.append(end)
        days.append(start.astimezone(zone).date())
    return (
        pa.array(starts, interval_type()),
        pa.array(ends, interval_type()),
        pa.array(days, pa.date32()),
        encoded.indices,
    )


def _diff(expected: pa.DataType, actual: pa.DataType, path: str) -> list[str]:
    if pa.types.is_list(expected) and pa.types.is_list(actual):
        return _diff(expected.value_type, actual.value_type, path)
    if pa.types.is_struct(expected) and pa.types.is_struct(actual):
        known = {expected.field(i).name: expected.field(i).type for i in range(expected.num_fields)}
        extra = []
        for i in range(actual.num_fields):
            child = actual.field(i)
            if child.name not in known:
                extra.append(f"{path}.{child.name}")
            else:
                extra.extend(_diff(known[child.name], child.type, f"{path}.{child.name}"))
        return extra
    return []
