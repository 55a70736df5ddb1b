"""Where the real data the tests use lives: ``tests/data``, inside the repository (see
``tests/data/SOURCES.md``)."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
BTC_CSV = DATA / "btcusdt-perp-1m-2022-01.csv.gz"
GBPUSD_CSV = DATA / "gbpusd-m1-bid-2012-02.csv.gz"
USDJPY_CSV = DATA / "usdjpy-ticks-2013-01-01.csv.gz"
