"""Answering an aggregates query from the generated traffic.

The work is done per hour of arrivals (`traffic.Block`): each conversation of the block gets a
group id (or none when the filter drops it), then every event of a requested metric is mapped
to a cell, (group, bucket) folded into one int, with C-level maps (bisect over the bucket edges,
a lookup of the conversation's group), and folded into that cell's statistics. Every event
lands in exactly one bucket by its timestamp, which is what makes hourly buckets add up to
daily ones and a 3-day query equal three 1-day queries.

Groups are keyed by the requested dimensions plus, by default, mediaType: real answers carry
mediaType in every group whatever groupBy says, and are split by it, so a client that groups by
queue alone still gets one group per queue and media type and must sum them itself.

What "now" changes about the past (`revisions.Revisions`: the service-level options, the nightly
reprocessing) is applied event by event here too, so the invariants above hold with them on.

The answer is written as JSON text directly (one string per result container) rather than via
json.dumps of nested dicts: a large tenant's day is tens of MB, and jobs page the containers
without serializing them again.
"""

from __future__ import annotations

import itertools
import json
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import add
from typing import Any

from genesys_assets.genesys.catalog import MetricKind
from genesys_assets.simulator.org import Org
from genesys_assets.simulator.query import AggregateQuery, Filter, Predicate, iso_ms
from genesys_assets.simulator.revisions import NO_REVISIONS, REPROCESSED_METRICS, Revisions
from genesys_assets.simulator.traffic import (
    BLOCK_MS,
    METRIC_SOURCES,
    MULTIVALUE_SEPARATOR,
    MULTIVALUED_DIMENSIONS,
    STREAMS,
    Block,
    Stream,
    TrafficStore,
    blocks_for,
    dimension_values,
)

_COUNT, _TIMER, _SERVICE_LEVEL, _SERVICE_TARGET = range(4)
_SEP = (",", ":")
_SHORT_ABANDON_STREAM = [name for name, _ in STREAMS].index("short_abandon")


def _kind(metric: str) -> int:
    if metric == "oServiceLevel":
        return _SERVICE_LEVEL
    if metric == "oServiceTarget":
        return _SERVICE_TARGET
    return _TIMER if MetricKind.of(metric) is MetricKind.TIMER else _COUNT


class _BlockView:
    """Dimension columns of one block, computed once per query and block."""

    def __init__(self, org: Org, block: Block) -> None:
        self.org = org
        self.block = block
        self._columns: dict[str, list[str | None] | None] = {}

    def column(self, dimension: str) -> list[str | None] | None:
        if dimension not in self._columns:
            self._columns[dimension] = dimension_values(self.org, self.block, dimension)
        return self._columns[dimension]

    def matches(self, query_filter: Filter) -> list[bool]:
        parts = [self._predicate(p) for p in query_filter.predicates]
        for clause in query_filter.clauses:
            parts.append(_combine(clause.type, [self._predicate(p) for p in clause.predicates]))
        return _combine(query_filter.type, parts)

    def _predicate(self, predicate: Predicate) -> list[bool]:
        col = self.column(predicate.dimension)
        n = self.block.count
        if predicate.operator == "exists":
            return [False] * n if col is None else [v is not None for v in col]
        if predicate.operator == "notExists":
            return [True] * n if col is None else [v is None for v in col]
        if col is None:
            return [False] * n
        wanted = predicate.value
        if predicate.dimension in MULTIVALUED_DIMENSIONS:
            # A conversation that asked for several skills matches each one of them.
            sep = MULTIVALUE_SEPARATOR
            return [v is not None and (v == wanted or wanted in v.split(sep)) for v in col]
        return [v == wanted for v in col]


def _combine(kind: str, parts: list[list[bool]]) -> list[bool]:
    if len(parts) == 1:
        return parts[0]
    test = all if kind == "and" else any
    return [test(row) for row in zip(*parts, strict=True)]


class _Cells:
    """Statistics per metric, keyed by cell = group id * width + edge index.

    The edge index is bisect_right over the bucket edges (clipped at "now"): 0 is before the
    interval, len(edges) after it or not yet happened, anything between is bucket index + 1.
    Dropped conversations get a negative key. One int per cell keeps the per-event work in C.
    """

    def __init__(self, query: AggregateQuery, cutoff: int, dimensions: tuple[str, ...]) -> None:
        self.query = query
        self.dimensions = dimensions  # what a group key is made of, in the group's key order
        self.edges = [b for b in query.bounds if b < cutoff] + [cutoff]
        self.width = len(self.edges) + 1
        self.kinds = [_kind(m) for m in query.metrics]
        self.stats: list[Any] = [
            Counter() if k == _COUNT else defaultdict(list) if k == _TIMER else {}
            for k in self.kinds
        ]


def group_dimensions(query: AggregateQuery, media_type_in_groups: bool) -> tuple[str, ...]:
    """The dimensions that key the answer's groups: groupBy, plus mediaType unless it is off."""
    if media_type_in_groups and "mediaType" not in query.group_by:
        return (*query.group_by, "mediaType")
    return query.group_by


def run_query(
    store: TrafficStore,
    query: AggregateQuery,
    now_ms: int,
    *,
    media_type_in_groups: bool = True,
    revisions: Revisions = NO_REVISIONS,
    omit_group: tuple[str, str] | None = None,
) -> list[str]:
    """The query's result containers as JSON texts, in the order the API returns them.

    Only events stamped at or before `now_ms` exist yet, so an open day answers with what has
    completed so far. `media_type_in_groups`, `omit_group` are `SimulatorConfig`'s; `revisions`
    what "now" changes about the past.
    """
    org = store.model.org
    start, end = query.bounds[0], query.bounds[-1]
    cutoff = min(end, now_ms + 1)  # exclusive upper edge of what has happened
    key_index: dict[tuple[str | None, ...], int] = {}
    if cutoff <= start:
        return []
    dimensions = group_dimensions(query, media_type_in_groups)
    cells = _Cells(query, cutoff, dimensions)
    lag = store.model.lag
    targets_by_queue = [q.service_level_target for q in org.queues]
    sources = [(mi, METRIC_SOURCES.get(m, ())) for mi, m in enumerate(query.metrics)]
    sources = [(mi, parts) for mi, parts in sources if parts]
    if not sources:
        return []
    excluding_short = revisions.excludes_short_abandons(now_ms)
    reprocessing = revisions.reprocessing
    reprocessed = (
        {mi for mi, m in enumerate(query.metrics) if m in REPROCESSED_METRICS}
        if reprocessing is not None
        else set()
    )

    for hour in blocks_for(start, cutoff):
        if hour * BLOCK_MS >= cutoff:
            break  # nobody has arrived in this hour yet
        block = store.block(hour)
        if block.count == 0:
            continue
        view = _BlockView(org, block)
        kids = _group_ids(view, query.filter, dimensions, key_index)
        if kids is None:
            continue
        width = cells.width
        # Cell base per conversation; dropped ones far enough below zero to stay negative.
        base = [k * width if k >= 0 else -2 * width for k in kids]
        targets: list[float] | None = None
        short: bytearray | None = None  # 1 for the block's short abandons
        affected: list[bool] | None = None  # the conversations reprocessing corrects
        for mi, parts in sources:
            kind = cells.kinds[mi]
            if kind >= _SERVICE_LEVEL and targets is None:
                targets = [targets_by_queue[q] for q in block.queue]
            for stream_index, column in parts:
                stream = block.streams[stream_index]
                if stream.last_ms < start or stream.first_ms >= cutoff:
                    continue
                values: Sequence[int] | None = None if column is None else stream.values[column]
                counted: list[bool] | None = None
                if kind == _SERVICE_LEVEL and excluding_short:
                    if short is None:
                        short = bytearray(block.count)
                        for ci in block.streams[_SHORT_ABANDON_STREAM].conv:
                            short[ci] = 1
                    if any(short):
                        counted = [not short[ci] for ci in stream.conv]
                if reprocessing is not None and mi in reprocessed and values is not None:
                    if affected is None:
                        affected = reprocessing.affected(block)
                    pending = reprocessing.pending(stream, now_ms, affected)
                    if pending is not None:
                        values = reprocessing.reported(values, pending)
                visible = lag.visible(stream, now_ms)
                _fold(cells, mi, kind, stream, values, base, targets, visible, counted)

    omitted = _omitted_keys(key_index, dimensions, query, omit_group)
    return _render(cells, key_index, omitted)


def _omitted_keys(
    key_index: dict[tuple[str | None, ...], int],
    dimensions: tuple[str, ...],
    query: AggregateQuery,
    omit_group: tuple[str, str] | None,
) -> set[tuple[str | None, ...]]:
    """The group keys `omit_group` leaves out: only where the query groups by its dimension,
    so an answer that is not split by it still counts that data (which lets a check see it)."""
    if omit_group is None or omit_group[0] not in query.group_by:
        return set()
    dimension, value = omit_group
    position = dimensions.index(dimension)
    multivalued = dimension in MULTIVALUED_DIMENSIONS
    omitted = set()
    for key in key_index:
        found = key[position]
        if found is None:
            continue
        if found == value or (multivalued and value in found.split(MULTIVALUE_SEPARATOR)):
            omitted.add(key)
    return omitted


def _fold(
    cells: _Cells,
    mi: int,
    kind: int,
    stream: Stream,
    values: Iterable[int] | None,
    base: list[int],
    targets: list[float] | None,
    visible: list[bool] | None,
    counted: Iterable[bool] | None = None,
) -> None:
    """Fold one stream's events into metric `mi`'s cells; the per-event work stays in C.

    `values` is the stream's value column the metric reads (None for counts), `counted` which
    events a service level's denominator counts (None: all of them).
    """
    cell_of_event = map(bisect_right, repeat(cells.edges), stream.ts)
    keys: Iterable[int] = map(add, map(base.__getitem__, stream.conv), cell_of_event)
    conv: Iterable[int] = stream.conv
    if visible is not None:  # recent events: some are not ingested yet
        keys = list(compress(keys, visible))
        conv = list(compress(conv, visible))
        values = list(compress(values, visible)) if values is not None else None
        counted = list(compress(counted, visible)) if counted is not None else None
    acc = cells.stats[mi]
    if kind == _COUNT:
        acc.update(keys)
    elif kind == _TIMER:
        assert values is not None
        for key, value in zip(keys, values, strict=True):
            acc[key].append(value)
    else:
        assert targets is not None
        _fold_service_level(acc, keys, conv, targets, values, counted)


def _fold_service_level(
    acc: dict[int, list[Any]],
    keys: Iterable[int],
    conv: Iterable[int],
    targets: list[float],
    within: Iterable[int] | None,
    counted: Iterable[bool] | None,
) -> None:
    hits = within if within is not None else repeat(0)
    # denominator, numerator, sum of targets, events the targets are of: the target is the
    # queue's setting, so it is averaged over every event, counted in the denominator or not.
    if counted is None:
        for key, ci, hit in zip(keys, conv, hits):  # noqa: B905 - repeat() is endless on purpose
            stats = acc.get(key)
            if stats is None:
                stats = acc[key] = [0, 0, 0.0, 0]
            stats[0] += 1
            stats[1] += hit
            stats[2] += targets[ci]
            stats[3] += 1
        return
    for key, ci, hit, count in zip(keys, conv, hits, counted):  # noqa: B905 - as above
        stats = acc.get(key)
        if stats is None:
            stats = acc[key] = [0, 0, 0.0, 0]
        if count:
            stats[0] += 1
            stats[1] += hit
        stats[2] += targets[ci]
        stats[3] += 1


def _group_ids(
    view: _BlockView,
    query_filter: Filter | None,
    dimensions: tuple[str, ...],
    key_index: dict[tuple[str | None, ...], int],
) -> list[int] | None:
    """Group id per conversation of the block, -1 where the filter drops it; None if all are."""
    n = view.block.count
    keep = view.matches(query_filter) if query_filter is not None else None
    if keep is not None and not any(keep):
        return None
    if not dimensions:
        kid = key_index.setdefault((), 0)
        return [kid] * n if keep is None else [kid if k else -1 for k in keep]
    columns = [view.column(d) or [None] * n for d in dimensions]
    get = key_index.get
    kids: list[int] = []
    append = kids.append
    for key in zip(*columns, strict=True):
        found = get(key)
        if found is None:
            found = key_index[key] = len(key_index)
        append(found)
    if keep is not None:
        kids = [kid if k else -1 for kid, k in zip(kids, keep, strict=True)]
    return kids


def _render(
    cells: _Cells,
    key_index: dict[tuple[str | None, ...], int],
    omitted: set[tuple[str | None, ...]],
) -> list[str]:
    query = cells.query
    width = cells.width
    last_edge = len(cells.edges)
    n_buckets = len(query.bounds) - 1
    # Groups sort by their key, a missing value (no user, no wrap-up) before any value.
    keys = sorted(
        (k for k in key_index if k not in omitted),
        key=lambda k: tuple("" if v is None else v for v in k),
    )
    base: list[int | None] = [None] * len(key_index)  # None: a group left out of the answer
    for r, key in enumerate(keys):
        base[key_index[key]] = r * n_buckets

    # Metric by metric, so each row collects its texts in the requested order; a slot is
    # (group rank, bucket) folded into one int that sorts the way the answer is ordered.
    rows: dict[int, list[str]] = {}
    get = rows.get
    for mi, acc in enumerate(cells.stats):
        kind = cells.kinds[mi]
        head = f'{{"metric":"{query.metrics[mi]}","stats":{{'
        texts = _texts(kind, head, acc, width, last_edge, base)
        for slot, text in texts:
            row = get(slot)
            if row is None:
                rows[slot] = [text]
            else:
                row.append(text)

    intervals = [f"{iso_ms(a)}/{iso_ms(b)}" for a, b in itertools.pairwise(query.bounds)]
    # Which key positions hold several values joined, to answer as arrays (unless flattened).
    split = tuple(
        d in MULTIVALUED_DIMENSIONS and not query.flatten_multivalued for d in cells.dimensions
    )
    containers: list[str] = []
    current = -1
    data: list[str] = []
    for slot in sorted(rows):
        group_rank, bucket = divmod(slot, n_buckets)
        if group_rank != current:
            if data:
                containers.append(_container(cells.dimensions, split, keys[current], data))
            current, data = group_rank, []
        data.append(f'{{"interval":"{intervals[bucket]}","metrics":[{",".join(rows[slot])}]}}')
    if data:
        containers.append(_container(cells.dimensions, split, keys[current], data))
    return containers


def _texts(
    kind: int, head: str, acc: dict[int, Any], width: int, last_edge: int, base: list[int | None]
) -> list[tuple[int, str]]:
    """(slot, metric JSON) for every cell inside the interval that has already happened."""
    out: list[tuple[int, str]] = []
    append = out.append
    for cell, stats in acc.items():
        if cell < 0:
            continue  # filtered out
        kid, edge = divmod(cell, width)
        if not 0 < edge < last_edge:
            continue  # before the interval, or not happened yet
        group_base = base[kid]
        if group_base is None:
            continue  # left out of the answer (omit_group)
        if kind == _TIMER:
            text = (
                f'{head}"max":{max(stats)},"min":{min(stats)},'
                f'"count":{len(stats)},"sum":{sum(stats)}}}}}'
            )
        elif kind == _COUNT:
            text = f'{head}"count":{stats}}}}}'
        else:
            observed = _observation_text(head, kind, stats)
            if observed is None:
                continue
            text = observed
        append((group_base + edge - 1, text))
    return out


def _container(
    dimensions: tuple[str, ...],
    split: tuple[bool, ...],
    key: tuple[str | None, ...],
    data: list[str],
) -> str:
    group: dict[str, str | list[str]] = {}
    for dimension, multivalued, value in zip(dimensions, split, key, strict=True):
        if value is None:
            continue
        # One value stays a plain string; only several come as an array.
        if multivalued and MULTIVALUE_SEPARATOR in value:
            group[dimension] = value.split(MULTIVALUE_SEPARATOR)
        else:
            group[dimension] = value
    return f'{{"group":{json.dumps(group, separators=_SEP)},"data":[{",".join(data)}]}}'


def _observation_text(head: str, kind: int, stats: list[Any]) -> str | None:
    """The observation's JSON; None for a service level with nothing left to count (every
    event of the cell a short abandon that the org's options exclude)."""
    denominator, numerator, target_sum, events = stats
    # Groups mixing queues with different targets report the mean target of their events.
    target = round(target_sum / events, 6)
    if kind == _SERVICE_TARGET:
        return f'{head}"target":{target!r}}}}}'
    if denominator == 0:
        return None
    ratio = numerator / denominator
    return (
        f'{head}"ratio":{ratio!r},"numerator":{numerator},'
        f'"denominator":{denominator},"target":{target!r}}}}}'
    )


def results_document(
    containers: list[str],
    cursor: str | None = None,
    mappings: dict[str, list[str]] | None = None,
) -> bytes:
    """The `{"results": [...]}` body around rendered containers (plus a job page's cursor, and
    a user aggregates answer's `systemToOrganizationMappings`, which comes first)."""
    head = ""
    if mappings is not None:
        head = f'"systemToOrganizationMappings":{json.dumps(mappings, separators=_SEP)},'
    tail = f',"cursor":{json.dumps(cursor)}' if cursor is not None else ""
    return f'{{{head}"results":[{",".join(containers)}]{tail}}}'.encode()
