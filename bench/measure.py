"""What the benchmarks measure with: CPU seconds of this process and of its children (the dev
server), peak memory, percentiles, and a table printer. Linux /proc, no extra dependency."""

from __future__ import annotations

import os
import resource
import statistics
from collections.abc import Sequence
from pathlib import Path


def process_cpu() -> float:
    """CPU seconds (user + system) this process has used, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far."""
    # Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds used so far by this process's running children (and theirs): the dev server."""
    total = 0.0
    pending = _children(os.getpid())
    while pending:
        pid = pending.pop()
        try:
            total += cpu_of(pid)
            pending += _children(pid)
        except (OSError, IndexError, ValueError):
            continue  # it ended meanwhile
    return total


def peak_rss_bytes(pid: int | None = None) -> int:
    """Peak resident memory (VmHWM) of a process, this one by default."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolated; 0.0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[min(max(int(p), 1), 99) - 1]


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells as aligned columns; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
