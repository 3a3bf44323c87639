"""`warroom report`'s median and p90 over the archive and Temporal together: read from the
archive rank by rank, they equal the spread of every value at once."""

from __future__ import annotations

import random
from datetime import timedelta

from tests.archive.test_store import DECLARED, record
from warroom.archive.store import Archive
from warroom.record.report import _merged, report, spread


def test_merged_spreads_equal_the_spread_of_all_values(archive_url):
    archive = Archive(archive_url)
    shuffle = random.Random(19)
    archived = [float(shuffle.randint(1, 50)) for _ in range(41)]  # ties on purpose
    for n, value in enumerate(archived):
        archive.put(record(f"inc-{n}", f"r{n}", metrics={"time_to_resolve": value}))
    since = DECLARED - timedelta(days=1)
    totals = archive.totals(since)
    for ours in ([], [7.0], [1.0, 99.0, 25.0], [float(shuffle.randint(1, 60)) for _ in range(30)]):
        merged = _merged(ours, "resolve", since, (archive, totals))
        assert merged == spread(archived + ours), ours
    whole = report([], since, (archive, totals))
    assert whole.time_to["resolve"] == spread(archived)
    assert whole.time_to["mitigate"].incidents == 0 and whole.incidents == 41
    archive.close()
