"""A process tree and its memory, read from /proc (psutil is not available here).

Both benchmarks that watch Dagster's processes need this: under the multiprocess executor a
run's steps are forked by a forkserver, so a run's memory is only seen by walking its tree.
"""

from __future__ import annotations

import os


def kib(pid: int, file: str, key: str) -> int:
    """One `Key:   N kB` line of /proc/PID/FILE (`smaps_rollup`, `status`), or 0 if the
    process is gone."""
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, as of now (read once, walk many trees)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces: the fields follow its last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """The processes below `root` (not `root` itself)."""
    children = children_by_parent() if children is None else children
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found
