"""A 3-day SEV3 incident rehearsed in virtual time: prints the wall time it took and writes
JSON under bench/results/. Run: `.venv/bin/python -m bench.rehearse_3day`."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from warroom.rehearsal.runner import Rehearsal, rehearse_file, time_skipping_server

SCENARIO = """\
description: A slow SEV3 that lasts three days; updates every 4h; resolved by hand on day 3.
declare: {summary: "search relevance degraded", by: dana, severity: SEV3}
people:
  - {at: 1h, acknowledge: true, by: alice}
  - {at: 1d, note: "vendor ticket opened", by: alice}
  - {at: 2d, note: "fix scheduled", by: alice}
  - {at: 3d, approve: all-clear, by: alice}
expect:
  status: resolved
  updates: 18   # 17 on the 4h cadence, and the final one
  resolved_within: 3d1m
"""


async def _rehearse(scenario: Path) -> tuple[Rehearsal, float]:
    async with time_skipping_server() as env:
        start = time.monotonic()
        done = await rehearse_file(env, scenario, "general")
        return done, time.monotonic() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "three-days.yaml"
        scenario.write_text(SCENARIO)
        done, wall = asyncio.run(_rehearse(scenario))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "incident_hours": done.virtual.total_seconds() / 3600,
        "wall_seconds": round(wall, 2),
        "passed": done.passed,
        "mismatches": [str(m) for m in done.mismatches],
        "updates_posted": done.state.updates_posted,
    }
    folder = Path("bench/results")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rehearse_3day.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
