"""What the workflow sandbox runs for each incident, and that the code it runs is deterministic.

The workflow's rooms (workflows/*.py but incident.py) and the warroom modules they use are passed
through the sandbox: imported once per worker, and run without the sandbox's own checks on the
clock, the environment, randomness and I/O. So their source is checked here instead: every
module in workflows/ and every project module they import, directly or not.
"""

from __future__ import annotations

import ast
import importlib._bootstrap_external as bootstrap_external
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from warroom.contract.converter import data_converter
from workflows.incident import IncidentWorkflow

ROOT = Path(__file__).resolve().parents[2]
#: Top-level packages of this project: imports of anything else are third-party or stdlib.
PROJECT = ("workflows", "warroom", "activities")

#: Modules workflow code may not import: randomness, network, processes.
BANNED_MODULES = {
    "random": "randomness (use workflow.random())",
    "secrets": "randomness (use workflow.random())",
    "socket": "the network",
    "ssl": "the network",
    "httpx": "the network",
    "requests": "the network",
    "aiohttp": "the network",
    "urllib.request": "the network",
    "http.client": "the network",
    "subprocess": "processes",
}
#: Attribute uses workflow code may not make, by their last two names (`datetime.now` also
#: catches `datetime.datetime.now`).
BANNED_ATTRIBUTES = {
    "datetime.now": "the clock (use workflow.now())",
    "datetime.utcnow": "the clock (use workflow.now())",
    "datetime.today": "the clock (use workflow.now())",
    "date.today": "the clock (use workflow.now())",
    "time.time": "the clock (use workflow.now())",
    "time.time_ns": "the clock (use workflow.now())",
    "time.monotonic": "the clock (use workflow.now())",
    "time.monotonic_ns": "the clock (use workflow.now())",
    "time.perf_counter": "the clock (use workflow.now())",
    "time.sleep": "blocking sleep (use workflow.sleep())",
    "asyncio.sleep": "a real timer (use workflow.sleep())",
    "os.environ": "the environment",
    "os.getenv": "the environment",
    "os.urandom": "randomness (use workflow.random())",
    "uuid.uuid1": "randomness (use workflow.uuid4())",
    "uuid.uuid4": "randomness (use workflow.uuid4())",
}
#: `from X import name` forms of the same.
BANNED_NAMES = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "sleep"),
    ("asyncio", "sleep"),
    ("os", "environ"),
    ("os", "getenv"),
    ("os", "urandom"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
}
#: Calls that read or write files, by the called name.
FILE_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}

#: Known uses in modules the workflow imports but in code it never calls, each with the reason;
#: an allowance that no longer matches anything fails the test too, so the list cannot rot.
ALLOWED = {
    # The render budget of `render_value`, which only activities call: the workflow renders
    # `when` and `note` templates with warroom.expressions.dataflow's own environment.
    "warroom/expressions/templating.py: _Budget.__post_init__: time.monotonic",
    "warroom/expressions/templating.py: _Budget.tick: time.monotonic",
    # Secrets resolve on the worker, in the activity, never in the workflow.
    "warroom/expressions/redaction.py: Secrets.__init__: os.environ",
}


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_names(tree: ast.Module, name: str, is_package: bool) -> Iterator[str]:
    """Every module name an import in `tree` may load (`from a import b` may load `a.b`)."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def workflow_code() -> dict[str, ast.Module]:
    """The workflow modules and every project module they import, transitively, by file."""
    todo = [f"workflows.{path.stem}" for path in sorted((ROOT / "workflows").glob("*.py"))]
    found: dict[str, ast.Module] = {}
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name.split(".")[0] not in PROJECT:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue  # `from package import name` where name is not a module
        tree = ast.parse(path.read_text(), str(path))
        found[str(path.relative_to(ROOT))] = tree
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        todo.extend(imported_names(tree, name, path.name == "__init__.py"))
    return found


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for an attribute chain on a name, else None."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    names.append(node.id)
    return ".".join(reversed(names))


class Scan(ast.NodeVisitor):
    """Collects `path: qualname: what` for each banned use in one module."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.scope: list[str] = []
        self.found: list[str] = []

    def add(self, what: str) -> None:
        self.found.append(f"{self.path}: {'.'.join(self.scope) or '<module>'}: {what}")

    def scoped(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = scoped

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in BANNED_MODULES or alias.name.split(".")[0] in BANNED_MODULES:
                self.add(f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and (module in BANNED_MODULES or module.split(".")[0] in BANNED_MODULES):
            self.add(f"from {module} import")
        for alias in node.names:
            if node.level == 0 and (module, alias.name) in BANNED_NAMES:
                self.add(f"from {module} import {alias.name}")
            if node.level == 0 and f"{module}.{alias.name}" in BANNED_MODULES:
                self.add(f"from {module} import {alias.name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = dotted(node)
        if name is not None:
            last_two = ".".join(name.split(".")[-2:])
            if last_two in BANNED_ATTRIBUTES:
                self.add(last_two)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called in FILE_CALLS:
            self.add(f"{called}()")
        self.generic_visit(node)


def violations(code: dict[str, ast.Module]) -> list[str]:
    found: list[str] = []
    for path, tree in sorted(code.items()):
        scan = Scan(path)
        scan.visit(tree)
        found.extend(scan.found)
    return found


def test_the_scan_covers_the_rooms_and_what_they_pass_through():
    code = workflow_code()
    rooms = {p for p in code if p.startswith("workflows/")}
    assert rooms == {f"workflows/{p.name}" for p in (ROOT / "workflows").glob("*.py")}
    assert len(rooms) >= 7, rooms  # incident.py and its rooms
    assert {
        "warroom/contract/models.py",
        "warroom/expressions/dataflow.py",
        "warroom/language/runbook.py",
        "warroom/language/template_refs.py",
    } <= set(code)


def test_workflow_code_touches_no_clock_environment_randomness_files_or_network():
    found = violations(workflow_code())
    unexpected = [v for v in found if v not in ALLOWED]
    assert not unexpected, "non-deterministic code the workflow runs:\n" + "\n".join(unexpected)
    stale = sorted(ALLOWED - set(found))
    assert not stale, "allowances that match nothing any more (remove them):\n" + "\n".join(stale)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from datetime import datetime\nx = datetime.now()", "datetime.now"),
        ("import datetime\nx = datetime.datetime.utcnow()", "datetime.utcnow"),
        ("import time\ndef f():\n    time.sleep(1)", "f: time.sleep"),
        ("from time import monotonic", "from time import monotonic"),
        (
            "import os\nclass C:\n    def f(self):\n        return os.environ['X']",
            "C.f: os.environ",
        ),
        ("import os\nx = os.getenv('X')", "os.getenv"),
        ("import random", "import random"),
        ("from random import choice", "from random import"),
        ("import uuid\nx = uuid.uuid4()", "uuid.uuid4"),
        ("import httpx", "import httpx"),
        ("import socket", "import socket"),
        ("x = open('f').read()", "open()"),
        ("from pathlib import Path\nx = Path('f').read_text()", "read_text()"),
        ("import asyncio\nasync def f():\n    await asyncio.sleep(1)", "f: asyncio.sleep"),
        ("from urllib.request import urlopen", "from urllib.request import"),
    ],
)
def test_the_scan_finds_each_kind_of_violation(source: str, expected: str):
    found = violations({"workflows/bad.py": ast.parse(source)})
    assert len(found) == 1 and found[0].endswith(expected), found


def test_the_scan_lets_workflow_apis_be():
    ok = """
from datetime import datetime, timedelta
from temporalio import workflow
async def f(self):
    now = workflow.now()
    await workflow.sleep(timedelta(seconds=1))
    self.time = datetime(2026, 1, 1)
    workflow.uuid4(), workflow.random().random()
    return now
"""
    assert violations({"workflows/ok.py": ast.parse(ok)}) == []


# ---- what the sandbox executes per workflow run --------------------------------------


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts module bodies executed from source or bytecode while the test runs."""
    counts: Counter[str] = Counter()
    original = bootstrap_external._LoaderBasics.exec_module

    def exec_module(loader: Any, module: Any) -> None:
        counts[module.__name__] += 1
        original(loader, module)

    monkeypatch.setattr(bootstrap_external._LoaderBasics, "exec_module", exec_module)
    return counts


async def test_each_run_executes_only_the_thin_workflow_module(executed: Counter[str]):
    """The rooms are passed through (imported once per worker); the sandbox executes only
    workflows/incident.py (and its empty package) afresh for each run it replays or starts."""
    histories = [
        WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        for path in sorted((Path(__file__).parent / "histories").glob("*-v3.json"))
    ]
    assert len(histories) >= 4
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=data_converter())
    for _round in (1, 2):  # the first round also imports what the host had not imported yet
        executed.clear()
        for history in histories:
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None, result.replay_failure
    # Each replay creates the workflow in a sandbox twice (the replayer's worker validates it
    # first): both times only the thin module and its empty package run, never a room.
    assert set(executed) == {"workflows", "workflows.incident"}, executed
    assert executed["workflows.incident"] >= len(histories), executed
