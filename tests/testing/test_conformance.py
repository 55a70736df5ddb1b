"""The conformance suite (riskguard.testing.conformance) on every venue, through its real client
library against the fake venue on 127.0.0.1, and on the paper venue for the cases without
faults."""

from __future__ import annotations

import asyncio

import pytest
from riskguard.testing.conformance import CASES, FAULTED, VENUES, check

pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

RUNS = [
    (venue, case)
    for venue in VENUES
    for case in sorted(CASES)
    if not (venue == "paper" and case in FAULTED)  # the paper venue has no faults to script
]


@pytest.mark.parametrize(("venue", "case"), RUNS)
def test_conformance(venue: str, case: str) -> None:
    asyncio.run(asyncio.wait_for(check(venue, case), 60.0))
