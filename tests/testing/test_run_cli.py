"""`riskguard run` and `riskguard demo --venue fake` as a newcomer runs them: real processes, the
real ccxt client, the fake venue on 127.0.0.1, keys from the environment, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

from riskguard.testing.fake import FakeVenue, dialect, exchange_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "cli-key-6d1f0a", "cli-secret-2c8e44"

STRATEGY = '''
import riskguard as rg


class Once:
    """Long on the first tick, with the market context the gate checks."""

    def __init__(self):
        self.done = False

    def on_tick(self, tick):
        if self.done:
            return None
        self.done = True
        p = tick.price
        return rg.Signal(tick.symbol, "long", p, stop=p * 0.97, target=p * 1.06,
                         confidence=0.9, consensus="STRONG", atr=p * 0.004, ema=p * 0.99,
                         volume_24h=1e9, spread_bps=1.0)


def make():
    return Once()
'''


def env(tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("RG_")}
    out.update(
        RG_BROKER__API_KEY=KEY,
        RG_BROKER__SECRET=SECRET,
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT / "python")]),
        COLUMNS="200",
    )
    return out


def wait(what, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(0.1)


@pytest.mark.parametrize("flatten", [False, True])
def test_run_trades_and_stops_cleanly_on_sigterm(tmp_path: Path, flatten: bool) -> None:
    (tmp_path / "once_strategy.py").write_text(STRATEGY)
    exchange = exchange_for(
        "BTCUSDT", "swap", tick=0.1, lot=0.001, min_notional=100.0, price=50_000.0
    )
    with FakeVenue([dialect("binanceusdm", exchange, api_key=KEY, secret=SECRET)]) as fake:
        journal = tmp_path / "live.db"
        config = tmp_path / "live.toml"
        config.write_text(
            textwrap.dedent(f"""
            [broker]
            type = "binanceusdm"
            symbols = ["BTC/USDT:USDT"]
            base_url = "{fake.base_url("binanceusdm")}"
            ws_url = "{fake.ws_url("binanceusdm")}"
            dead_man_s = "off"

            [journal]
            url = "sqlite:///{journal}"

            [guard]
            equity = 100000.0
            flatten_on_exit = {str(flatten).lower()}
        """)
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "riskguard",
                "run",
                "--config",
                str(config),
                "--strategy",
                "once_strategy:make",
                "--status-every",
                "1",
            ],
            env=env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        try:

            def traded() -> bool:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                exchange.set_price("BTCUSDT", 50_000.0)
                return exchange.position("BTCUSDT").qty > 0

            wait(traded)
            status = subprocess.run(
                [sys.executable, "-m", "riskguard", "status", "--journal", f"sqlite:///{journal}"],
                env=env(tmp_path),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert status.returncode == 0, status.stderr
            assert "BTC/USDT:USDT" in status.stdout
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, out
        assert "through the gateway" in out and "stopped:" in out, out
        assert KEY not in out and SECRET not in out
        held = exchange.position("BTCUSDT").qty
        if flatten:
            assert held == 0.0, out
        else:
            assert held > 0.0, "a stop without flatten_on_exit closed the position"
        assert not [o for o in exchange.open_orders() if not o.reduce_only]


def test_demo_venue_fake_runs_the_live_path_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "riskguard", "demo", "--venue", "fake", "--out", str(tmp_path)],
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.strip("│ ").split("│")[0].strip(): line for line in result.stdout.splitlines()}
    assert "yes" in lines["journal fills = venue fills, by id"], result.stdout
    assert lines["venue position after the stop"].rstrip(" │").endswith("0"), result.stdout
    assert (tmp_path / "live.db").exists()


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("*.toml")), ids=lambda p: p.name
)
def test_every_example_configuration_is_valid(example: Path) -> None:
    import riskguard as rg

    assert rg.Config.load(example).check() is not None
