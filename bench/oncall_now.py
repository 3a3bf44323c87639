"""Who is on call, for 1,000 schedules of 3 layers each (weekly rotation, a daily one
restricted to weeknights, a 12-hour one restricted to weekends; five time zones), at 1,000
instants: `.venv/bin/python -m bench.oncall_now`. Target: all 1,000 schedules in under 100 ms.
Prints the times, writes bench/results/oncall_now.json."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from bench.machine import write_results
from warroom.language.oncall import Layer, Override, Restrict, Rotation, Schedule
from warroom.language.oncall_time import ScheduleClock, who_is_on_call

SCHEDULES = 1_000
ROUNDS = 20
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]
PEOPLE = [f"person-{i}" for i in range(50)]


def schedule(rng: random.Random) -> Schedule:
    def members() -> list[str]:
        return rng.sample(PEOPLE, rng.randint(2, 6))

    start = date(2026, 1, 5) + timedelta(days=rng.randint(0, 300))
    return Schedule(
        timezone=rng.choice(ZONES),
        layers=[
            Layer(
                rotation=Rotation(every="1w", handoff="mon 09:00", start=start), members=members()
            ),
            Layer(
                rotation=Rotation(every="1d", handoff="18:00"),
                members=members(),
                restrict=Restrict(
                    days=["mon", "tue", "wed", "thu", "fri"], from_="18:00", to="09:00"
                ),
            ),
            Layer(
                rotation=Rotation(every="12h", handoff="08:00"),
                members=members(),
                restrict=Restrict(days=["sat", "sun"]),
            ),
        ],
    )


def main() -> None:
    rng = random.Random(21)
    plans = [schedule(rng) for _ in range(SCHEDULES)]
    overrides = [
        Override(
            id="o",
            who="person-1",
            start=datetime(2026, 12, 24, tzinfo=UTC),
            end=datetime(2026, 12, 27, tzinfo=UTC),
            by="bench",
            reason="bench",
        )
    ]
    instants = [
        datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 10**6))
        for _ in range(ROUNDS)
    ]
    cold, warm = [], []
    for at in instants:
        began = time.perf_counter()
        for p in plans:  # from the models each time
            who_is_on_call(p, overrides, at)
        cold.append(time.perf_counter() - began)
    clocks = [ScheduleClock(p) for p in plans]
    for at in instants:
        began = time.perf_counter()
        for c in clocks:
            c.on_call(at, overrides)
        warm.append(time.perf_counter() - began)
    result = {
        "schedules": SCHEDULES,
        "layers_each": 3,
        "rounds": ROUNDS,
        "median_ms_from_models": round(statistics.median(cold) * 1000, 2),
        "median_ms_prepared": round(statistics.median(warm) * 1000, 2),
        "max_ms_from_models": round(max(cold) * 1000, 2),
        "target_ms": 100,
    }
    print(
        f"who_is_on_call for {SCHEDULES} schedules of 3 layers: "
        f"{result['median_ms_from_models']} ms (median of {ROUNDS}, from the models), "
        f"{result['median_ms_prepared']} ms prepared (ScheduleClock); target < 100 ms"
    )
    write_results("oncall_now", result)


if __name__ == "__main__":
    main()
