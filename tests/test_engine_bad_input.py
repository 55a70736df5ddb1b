"""Bad input for every public entry point of ``riskguard.RiskEngine`` and its limits
(DESIGN.md, principles 3 and 5; docs/engine.md, "Calls and time" and "Snapshots").

Every bad call raises :class:`riskguard.RiskError` (a ``ValueError``, never a ``TypeError`` or a
panic) whose message names the argument and, where it means something, the value. A call that
raises leaves the engine exactly as it was: ``to_bytes()`` is the whole state, bit for bit, so
it is compared before and after every refused call. ``snapshot()`` and ``breakers()`` are never
called between the two images, since they may refresh cached aggregates inside the image.
"""

from __future__ import annotations

import inspect
import math
import pickle
import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import riskguard as rg

try:
    from .bad_input_harness import (
        Case,
        assert_survives,
        battery_script,
        case_params,
        default_limits_dict_with,
        expect_risk_error,
        expect_unchanged,
        wrong_refusals,
    )
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from bad_input_harness import (
        Case,
        assert_survives,
        battery_script,
        case_params,
        default_limits_dict_with,
        expect_risk_error,
        expect_unchanged,
        wrong_refusals,
    )

NAN, INF = float("nan"), float("inf")
NS = 1_000_000_000
T0 = 1_641_168_000 * NS  # Monday 3 January 2022, 00:00 UTC
T1 = T0 + 60 * NS  # the clock of a make_engine() engine
BTC, ETH, SOL = 0, 1, 2  # ids in interning order; SOL is interned but never filled
HEADER = 10  # magic (8 bytes) and format version (u16) ahead of the snapshot body


def make_engine() -> rg.RiskEngine:
    """Two open positions (one with a stop), one interned symbol without a position, every
    breaker at its default."""
    e = rg.RiskEngine(equity=1_000_000.0, ts=T0)
    e.on_fill("BTC", 2.0, 40_000.0, T0)
    e.on_fill("ETH", -10.0, 3_000.0, T0 + NS)
    e.set_stop("BTC", 38_000.0)
    e.symbol_id("SOL")
    e.on_tick("BTC", 40_100.0, T1)
    e.on_tick("ETH", 2_990.0, T1)
    return e


def u32(*x: int) -> np.ndarray:
    return np.array(x, dtype=np.uint32)


def f64(*x: float) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def i64(*x: int) -> np.ndarray:
    return np.array(x, dtype=np.int64)


# --- the cases -----------------------------------------------------------------------------------
# Each case: (call on a fresh make_engine(), needles its message must contain). Cases that build
# a new object (constructor, Limits, BreakerSpec, from_bytes) ignore the engine; it must still be
# untouched afterwards.

CONSTRUCTOR: dict[str, Case] = {
    "equity 0": (lambda e: rg.RiskEngine(equity=0.0), ["equity", "0"]),
    "equity negative": (lambda e: rg.RiskEngine(equity=-1e6), ["equity", "-1000000"]),
    "equity nan": (lambda e: rg.RiskEngine(equity=NAN), ["equity", "nan"]),
    "equity inf": (lambda e: rg.RiskEngine(equity=INF), ["equity", "inf"]),
    "equity -inf": (lambda e: rg.RiskEngine(equity=-INF), ["equity", "-inf"]),
    "equity str": (lambda e: rg.RiskEngine(equity="1e6"), ["equity", "str"]),
    "equity bool": (lambda e: rg.RiskEngine(equity=True), ["equity", "bool"]),
    "equity list": (lambda e: rg.RiskEngine(equity=[1e6]), ["equity", "list"]),
    "equity complex": (lambda e: rg.RiskEngine(equity=1e6 + 0j), ["equity", "complex"]),
    "ts float": (lambda e: rg.RiskEngine(ts=1.5), ["ts", "1.5"]),
    "ts str": (lambda e: rg.RiskEngine(ts="0"), ["ts", "str"]),
    "ts bool": (lambda e: rg.RiskEngine(ts=True), ["ts", "bool"]),
    "ts above int64": (lambda e: rg.RiskEngine(ts=2**63), ["ts", str(2**63)]),
    "ts below int64": (lambda e: rg.RiskEngine(ts=-(2**63) - 1), ["ts", str(-(2**63) - 1)]),
    "limits list": (lambda e: rg.RiskEngine(limits=[0.05]), ["limits", "list"]),
    "limits str": (lambda e: rg.RiskEngine(limits="default"), ["limits", "str"]),
    "limits float": (lambda e: rg.RiskEngine(limits=0.05), ["limits", "float"]),
    "limits class": (lambda e: rg.RiskEngine(limits=rg.Limits), ["limits", "type"]),
    "limits dict bad threshold": (
        lambda e: rg.RiskEngine(limits={"daily_loss": 2.0}),
        ["daily_loss", "2"],
    ),
    "limits dict unknown name": (
        lambda e: rg.RiskEngine(limits={"dayly_loss": 0.05}),
        ["dayly_loss", "unknown"],
    ),
}

SYMBOL_ID: dict[str, Case] = {
    "None": (lambda e: e.symbol_id(None), ["symbol", "NoneType"]),
    "int": (lambda e: e.symbol_id(5), ["symbol", "int"]),
    "bytes": (lambda e: e.symbol_id(b"BTC"), ["symbol", "bytes"]),
    "float": (lambda e: e.symbol_id(1.5), ["symbol", "float"]),
    "list": (lambda e: e.symbol_id(["BTC"]), ["symbol", "list"]),
    "empty": (lambda e: e.symbol_id(""), ["symbol", "empty"]),
}


def _fill(**kw: Any) -> Callable[[rg.RiskEngine], Any]:
    args = {"symbol": "BTC", "qty": 1.0, "price": 40_000.0, "ts": T1 + NS} | kw
    return lambda e: e.on_fill(**args)


ON_FILL: dict[str, Case] = {
    "qty 0.0": (_fill(qty=0.0), ["qty", "0"]),
    "qty -0.0": (_fill(qty=-0.0), ["qty", "0"]),
    "qty int 0": (_fill(qty=0), ["qty", "0"]),
    "qty nan": (_fill(qty=NAN), ["qty", "nan"]),
    "qty inf": (_fill(qty=INF), ["qty", "inf"]),
    "qty -inf": (_fill(qty=-INF), ["qty", "-inf"]),
    "qty str": (_fill(qty="1"), ["qty", "str"]),
    "qty bool": (_fill(qty=True), ["qty", "bool"]),
    "qty None": (_fill(qty=None), ["qty", "NoneType"]),
    "qty complex": (_fill(qty=1 + 0j), ["qty", "complex"]),
    "qty 0 on a new symbol": (_fill(symbol="NEW", qty=0.0), ["qty", "0"]),
    "qty nan on a new symbol": (_fill(symbol="NEW", qty=NAN), ["qty", "nan"]),
    "price 0": (_fill(price=0.0), ["price", "0"]),
    "price negative": (_fill(price=-40_000.0), ["price", "-40000"]),
    "price nan": (_fill(price=NAN), ["price", "nan"]),
    "price inf": (_fill(price=INF), ["price", "inf"]),
    "price str": (_fill(price="40000"), ["price", "str"]),
    "price None": (_fill(price=None), ["price", "NoneType"]),
    "price bool": (_fill(price=True), ["price", "bool"]),
    "fee negative": (_fill(fee=-1.0), ["fee", "-1"]),
    "fee nan": (_fill(fee=NAN), ["fee", "nan"]),
    "fee inf": (_fill(fee=INF), ["fee", "inf"]),
    "fee str": (_fill(fee="0"), ["fee", "str"]),
    "fee bool": (_fill(fee=False), ["fee", "bool"]),
    "ts backwards": (_fill(ts=T1 - 1), ["ts", str(T1 - 1)]),
    "ts backwards, new symbol": (_fill(symbol="NEW", ts=T0), ["ts", str(T0)]),
    "ts float": (_fill(ts=float(T1)), ["ts", "float"]),
    "ts str": (_fill(ts=str(T1)), ["ts", "str"]),
    "ts None": (_fill(ts=None), ["ts", "NoneType"]),
    "ts bool": (_fill(ts=True), ["ts", "bool"]),
    "ts above int64": (_fill(ts=2**64), ["ts", str(2**64)]),
    "symbol unknown id": (_fill(symbol=99), ["symbol", "99"]),
    "symbol id 2**32": (_fill(symbol=2**32), ["symbol", str(2**32)]),
    "symbol negative id": (_fill(symbol=-1), ["symbol", "-1"]),
    "symbol None": (_fill(symbol=None), ["symbol", "None"]),
    "symbol float": (_fill(symbol=0.0), ["symbol", "float"]),
    "symbol bool": (_fill(symbol=True), ["symbol", "bool"]),
    "symbol bytes": (_fill(symbol=b"BTC"), ["symbol", "bytes"]),
    "symbol empty": (_fill(symbol=""), ["symbol", "empty"]),
    "beyond the bounds 1e300 at 1e300, new symbol": (
        _fill(symbol="NEW", qty=1e300, price=1e300),
        ["qty", "1e300"],
    ),
    "beyond the bounds 1e300 at 1e300": (_fill(qty=1e300, price=1e300), ["qty", "1e300"]),
    "beyond the bounds -1e300 at 1e300": (_fill(qty=-1e300, price=1e300), ["qty", "-1e300"]),
    "price beyond the bounds": (_fill(qty=1.0, price=1e300), ["price", "1e300"]),
    "beyond the bounds, flip": (_fill(symbol="ETH", qty=1e308, price=1e10), ["qty", "1e308"]),
}


def _stop(symbol: Any = "BTC", price: Any = 38_500.0) -> Callable[[rg.RiskEngine], Any]:
    return lambda e: e.set_stop(symbol, price)


SET_STOP: dict[str, Case] = {
    "price nan": (_stop(price=NAN), ["price", "nan"]),
    "price inf": (_stop(price=INF), ["price", "inf"]),
    "price 0": (_stop(price=0.0), ["price", "0"]),
    "price negative": (_stop(price=-1.0), ["price", "-1"]),
    "price str": (_stop(price="38500"), ["price", "str"]),
    "price bool": (_stop(price=True), ["price", "bool"]),
    "price list": (_stop(price=[38_500.0]), ["price", "list"]),
    "unknown symbol": (_stop(symbol="ZZZ"), ["symbol", "ZZZ"]),
    "unknown id": (_stop(symbol=99), ["symbol", "99"]),
    "no open position": (_stop(symbol="SOL"), ["symbol", "SOL", "no open position"]),
    "no open position, by id": (_stop(symbol=SOL), ["symbol", "SOL"]),
    "no open position, clearing": (_stop(symbol="SOL", price=None), ["symbol", "SOL"]),
    "symbol None": (_stop(symbol=None), ["symbol", "None"]),
    "symbol bool": (_stop(symbol=False), ["symbol", "bool"]),
}


def _tick(symbol: Any = "BTC", price: Any = 40_200.0, ts: Any = T1 + NS):
    return lambda e: e.on_tick(symbol, price, ts)


ON_TICK: dict[str, Case] = {
    "unknown symbol": (_tick(symbol="ZZZ"), ["symbol", "ZZZ"]),
    "unknown id": (_tick(symbol=3), ["symbol", "3"]),
    "id 2**32": (_tick(symbol=2**32), ["symbol", str(2**32)]),
    "negative id": (_tick(symbol=-1), ["symbol", "-1"]),
    "symbol empty": (_tick(symbol=""), ["symbol"]),
    "symbol None": (_tick(symbol=None), ["symbol", "None"]),
    "symbol float": (_tick(symbol=0.0), ["symbol", "float"]),
    "symbol bool": (_tick(symbol=True), ["symbol", "bool"]),
    "symbol numpy array": (_tick(symbol=u32(0)), ["symbol", "ndarray"]),
    "price 0": (_tick(price=0.0), ["price", "0"]),
    "price negative": (_tick(price=-40_200.0), ["price", "-40200"]),
    "price nan": (_tick(price=NAN), ["price", "nan"]),
    "price inf": (_tick(price=INF), ["price", "inf"]),
    "price -inf": (_tick(price=-INF), ["price", "-inf"]),
    "price str": (_tick(price="40200"), ["price", "str"]),
    "price None": (_tick(price=None), ["price", "NoneType"]),
    "price bool": (_tick(price=True), ["price", "bool"]),
    "price nan, no position": (_tick(symbol="SOL", price=NAN), ["price", "nan"]),
    "ts backwards": (_tick(ts=T1 - 1), ["ts", str(T1 - 1)]),
    "ts far back": (_tick(ts=-(2**63)), ["ts", str(-(2**63))]),
    "ts float": (_tick(ts=float(T1 + NS)), ["ts", "float"]),
    "ts numpy float": (_tick(ts=np.float64(T1 + NS)), ["ts"]),
    "ts str": (_tick(ts="now"), ["ts", "str"]),
    "ts None": (_tick(ts=None), ["ts", "NoneType"]),
    "ts bool": (_tick(ts=True), ["ts", "bool"]),
    "ts above int64": (_tick(ts=2**63), ["ts", str(2**63)]),
}

N_BATCH = 50
GOOD_IDS = np.array([k % 2 for k in range(N_BATCH)], dtype=np.uint32)
GOOD_PRICES = np.where(GOOD_IDS == 0, 40_100.0, 2_990.0) * (1 + 1e-4 * np.arange(N_BATCH))
GOOD_TS = T1 + NS * np.arange(1, N_BATCH + 1, dtype=np.int64)


def _ticks(ids: Any = None, prices: Any = None, ts: Any = None) -> Callable[[rg.RiskEngine], Any]:
    ids = GOOD_IDS if ids is None else ids
    prices = GOOD_PRICES if prices is None else prices
    ts = GOOD_TS if ts is None else ts
    return lambda e: e.on_ticks(ids, prices, ts)


def _with(base: np.ndarray, at: int, value: Any) -> np.ndarray:
    out = base.copy()
    out[at] = value
    return out


ON_TICKS: dict[str, Case] = {
    # dtypes and shapes
    "ids int64": (_ticks(ids=GOOD_IDS.astype(np.int64)), ["symbol_ids", "uint32", "int64"]),
    "ids int32": (_ticks(ids=GOOD_IDS.astype(np.int32)), ["symbol_ids", "int32"]),
    "ids uint64": (_ticks(ids=GOOD_IDS.astype(np.uint64)), ["symbol_ids", "uint64"]),
    "ids float64": (_ticks(ids=GOOD_IDS.astype(np.float64)), ["symbol_ids", "float64"]),
    "ids bool": (_ticks(ids=GOOD_IDS.astype(bool)), ["symbol_ids", "bool"]),
    "ids object": (_ticks(ids=GOOD_IDS.astype(object)), ["symbol_ids", "object"]),
    "ids big-endian": (_ticks(ids=GOOD_IDS.astype(">u4")), ["symbol_ids", ">u4"]),
    "ids list": (_ticks(ids=GOOD_IDS.tolist()), ["symbol_ids", "list"]),
    "ids None": (_ticks(ids=[None]), ["symbol_ids"]),
    "ids str": (_ticks(ids="BTC"), ["symbol_ids", "str"]),
    "ids 2-D": (_ticks(ids=GOOD_IDS.reshape(5, 10)), ["symbol_ids", "2 dimensions"]),
    "ids 0-D": (_ticks(ids=np.array(0, dtype=np.uint32)), ["symbol_ids", "0 dimensions"]),
    "prices float32": (_ticks(prices=GOOD_PRICES.astype(np.float32)), ["prices", "float32"]),
    "prices float16": (_ticks(prices=GOOD_PRICES.astype(np.float16)), ["prices", "float16"]),
    "prices int64": (_ticks(prices=GOOD_PRICES.astype(np.int64)), ["prices", "int64"]),
    "prices complex": (_ticks(prices=GOOD_PRICES.astype(complex)), ["prices", "complex128"]),
    "prices object": (_ticks(prices=GOOD_PRICES.astype(object)), ["prices", "object"]),
    "prices str": (_ticks(prices=GOOD_PRICES.astype(str)), ["prices", "<U"]),
    "prices list": (_ticks(prices=GOOD_PRICES.tolist()), ["prices", "list"]),
    "prices 2-D": (_ticks(prices=GOOD_PRICES.reshape(10, 5)), ["prices", "2 dimensions"]),
    "ts float64": (_ticks(ts=GOOD_TS.astype(np.float64)), ["ts", "int64", "float64"]),
    "ts uint64": (_ticks(ts=GOOD_TS.astype(np.uint64)), ["ts", "uint64"]),
    "ts int32": (_ticks(ts=np.arange(N_BATCH, dtype=np.int32)), ["ts", "int32"]),
    "ts datetime64": (_ticks(ts=GOOD_TS.astype("datetime64[ns]")), ["ts", "datetime64[ns]"]),
    "ts list": (_ticks(ts=GOOD_TS.tolist()), ["ts", "list"]),
    "ts 2-D": (_ticks(ts=GOOD_TS.reshape(25, 2)), ["ts", "2 dimensions"]),
    "ts None": (lambda e: e.on_ticks(GOOD_IDS, GOOD_PRICES, None), ["ts", "NoneType"]),
    # lengths
    "ids shorter": (_ticks(ids=GOOD_IDS[:-1]), ["symbol_ids", "lengths", "49, 50, 50"]),
    "prices shorter": (_ticks(prices=GOOD_PRICES[:-1]), ["prices", "lengths", "50, 49, 50"]),
    "ts shorter": (_ticks(ts=GOOD_TS[:-1]), ["ts", "lengths", "50, 50, 49"]),
    "ids empty": (_ticks(ids=u32()), ["lengths", "0, 50, 50"]),
    "prices empty": (_ticks(prices=f64()), ["lengths", "50, 0, 50"]),
    "ts empty": (_ticks(ts=i64()), ["lengths", "50, 50, 0"]),
    # one bad element in the middle of a valid batch
    "unknown id mid-batch": (_ticks(ids=_with(GOOD_IDS, 25, 3)), ["symbol_ids", "[25]", "3"]),
    "id 2**32-1 mid-batch": (
        _ticks(ids=_with(GOOD_IDS, 25, 2**32 - 1)),
        ["symbol_ids", "[25]", str(2**32 - 1)],
    ),
    "unknown id last": (_ticks(ids=_with(GOOD_IDS, 49, 7)), ["symbol_ids", "[49]", "7"]),
    "price nan mid-batch": (_ticks(prices=_with(GOOD_PRICES, 25, NAN)), ["prices", "[25]", "nan"]),
    "price inf mid-batch": (_ticks(prices=_with(GOOD_PRICES, 25, INF)), ["prices", "[25]", "inf"]),
    "price 0 mid-batch": (_ticks(prices=_with(GOOD_PRICES, 25, 0.0)), ["prices", "[25]", "0"]),
    "price negative mid-batch": (
        _ticks(prices=_with(GOOD_PRICES, 25, -1.0)),
        ["prices", "[25]", "-1"],
    ),
    "price nan first": (_ticks(prices=_with(GOOD_PRICES, 0, NAN)), ["prices", "[0]", "nan"]),
    "price -inf last": (_ticks(prices=_with(GOOD_PRICES, 49, -INF)), ["prices", "[49]", "-inf"]),
    "ts backwards mid-batch": (
        _ticks(ts=_with(GOOD_TS, 25, GOOD_TS[24] - 1)),
        ["ts", "[25]", str(GOOD_TS[24] - 1)],
    ),
    "ts backwards last": (_ticks(ts=_with(GOOD_TS, 49, T1)), ["ts", "[49]", str(T1)]),
    "ts first before the engine": (_ticks(ts=_with(GOOD_TS, 0, T1 - 1)), ["ts", "[0]"]),
    "ts all before the engine": (_ticks(ts=GOOD_TS - 3600 * NS), ["ts", "[0]"]),
    "ts int64 min mid-batch": (_ticks(ts=_with(GOOD_TS, 25, -(2**63))), ["ts", "[25]"]),
}

KILL: dict[str, Case] = {
    "ts backwards": (lambda e: e.kill("test", T1 - 1), ["ts", str(T1 - 1)]),
    "ts float": (lambda e: e.kill("test", float(T1)), ["ts", "float"]),
    "ts None": (lambda e: e.kill("test", None), ["ts", "NoneType"]),
    "ts str": (lambda e: e.kill("test", "now"), ["ts", "str"]),
    "ts bool": (lambda e: e.kill("test", False), ["ts", "bool"]),
    "reason None": (lambda e: e.kill(None, T1), ["reason", "None"]),
    "reason int": (lambda e: e.kill(5, T1), ["reason", "int"]),
    "reason bytes": (lambda e: e.kill(b"why", T1), ["reason", "bytes"]),
}

PAUSE: dict[str, Case] = {
    "ts backwards": (lambda e: e.pause("test", T1 - 1), ["ts", str(T1 - 1)]),
    "ts float": (lambda e: e.pause("test", float(T1)), ["ts", "float"]),
    "ts nan": (lambda e: e.pause("test", NAN), ["ts", "nan"]),
    "ts None": (lambda e: e.pause("test", None), ["ts", "NoneType"]),
    "ts str": (lambda e: e.pause("test", "now"), ["ts", "str"]),
    "ts bool": (lambda e: e.pause("test", True), ["ts", "bool"]),
    "ts above int64": (lambda e: e.pause("test", 2**63), ["ts", str(2**63)]),
    "reason None": (lambda e: e.pause(None, T1), ["reason", "None"]),
    "reason int": (lambda e: e.pause(5, T1), ["reason", "int"]),
    "reason bytes": (lambda e: e.pause(b"why", T1), ["reason", "bytes"]),
    "reason list": (lambda e: e.pause(["why"], T1), ["reason", "list"]),
}

RESUME: dict[str, Case] = {
    "ts backwards": (lambda e: e.resume(T1 - 1), ["ts", str(T1 - 1)]),
    "ts float": (lambda e: e.resume(float(T1)), ["ts", "float"]),
    "ts nan": (lambda e: e.resume(NAN), ["ts", "nan"]),
    "ts inf": (lambda e: e.resume(INF), ["ts", "inf"]),
    "ts None": (lambda e: e.resume(None), ["ts", "NoneType"]),
    "ts str": (lambda e: e.resume(str(T1)), ["ts", "str"]),
    "ts bool": (lambda e: e.resume(False), ["ts", "bool"]),
    "ts below int64": (lambda e: e.resume(-(2**63) - 1), ["ts", str(-(2**63) - 1)]),
}

RESET: dict[str, Case] = {
    "no confirm": (lambda e: e.reset("kill_switch", T1), ["confirm"]),
    "confirm False": (lambda e: e.reset("max_drawdown", T1, confirm=False), ["confirm"]),
    "no confirm, position_loss": (lambda e: e.reset("position_loss", T1), ["confirm"]),
    "unknown name": (lambda e: e.reset("nope", T1, confirm=True), ["name", "nope"]),
    "empty name": (lambda e: e.reset("", T1, confirm=True), ["name", '""']),
    "name in capitals": (
        lambda e: e.reset("KILL_SWITCH", T1, confirm=True),
        ["name", "KILL_SWITCH"],
    ),
    "unknown name, no confirm": (lambda e: e.reset("nope", T1), ["nope"]),
    "ts backwards": (
        lambda e: e.reset("max_drawdown", T1 - 1, confirm=True),
        ["ts", str(T1 - 1)],
    ),
    "ts float": (lambda e: e.reset("max_drawdown", float(T1), confirm=True), ["ts", "float"]),
    "ts None": (lambda e: e.reset("max_drawdown", None, confirm=True), ["ts", "NoneType"]),
    "name None": (lambda e: e.reset(None, T1, confirm=True), ["name", "None"]),
    "name int": (lambda e: e.reset(3, T1, confirm=True), ["name", "int"]),
    "confirm str": (lambda e: e.reset("kill_switch", T1, confirm="yes"), ["confirm", "str"]),
    "confirm int": (lambda e: e.reset("kill_switch", T1, confirm=1), ["confirm", "int"]),
    "confirm None": (lambda e: e.reset("kill_switch", T1, confirm=None), ["confirm", "refused"]),
    "pause is no breaker": (lambda e: e.reset("pause", T1, confirm=True), ["name", "pause"]),
}

LIMITS: dict[str, Case] = {
    "daily_loss nan": (lambda e: rg.Limits(daily_loss=NAN), ["daily_loss", "nan"]),
    "daily_loss inf": (lambda e: rg.Limits(daily_loss=INF), ["daily_loss", "inf"]),
    "daily_loss 0": (lambda e: rg.Limits(daily_loss=0.0), ["daily_loss", "0"]),
    "daily_loss -0.0": (lambda e: rg.Limits(daily_loss=-0.0), ["daily_loss", "-0"]),
    "daily_loss negative": (lambda e: rg.Limits(daily_loss=-0.05), ["daily_loss", "-0.05"]),
    "daily_loss above 1": (lambda e: rg.Limits(daily_loss=1.5), ["daily_loss", "1.5"]),
    "volatility_spike huge": (
        lambda e: rg.Limits(volatility_spike=1e155),
        ["volatility_spike", "1e155"],
    ),
    "daily_loss str": (lambda e: rg.Limits(daily_loss="0.05"), ["daily_loss", '"0.05"']),
    "daily_loss bool": (lambda e: rg.Limits(daily_loss=True), ["daily_loss", "bool"]),
    "daily_loss list": (lambda e: rg.Limits(daily_loss=[0.05]), ["daily_loss", "list"]),
    "weekly_loss nan": (lambda e: rg.Limits(weekly_loss=NAN), ["weekly_loss", "nan"]),
    "monthly_loss 2": (lambda e: rg.Limits(monthly_loss=2.0), ["monthly_loss", "2"]),
    "max_drawdown 0": (lambda e: rg.Limits(max_drawdown=0.0), ["max_drawdown", "0"]),
    "position_loss -inf": (lambda e: rg.Limits(position_loss=-INF), ["position_loss", "-inf"]),
    "volatility_spike 0": (lambda e: rg.Limits(volatility_spike=0.0), ["volatility_spike", "0"]),
    "volatility_spike inf": (
        lambda e: rg.Limits(volatility_spike=INF),
        ["volatility_spike", "inf"],
    ),
    "leverage negative": (lambda e: rg.Limits(leverage=-10.0), ["leverage", "-10"]),
    "leverage nan": (lambda e: rg.Limits(leverage=NAN), ["leverage", "nan"]),
    "concentration inf": (lambda e: rg.Limits(concentration=INF), ["concentration", "inf"]),
    "portfolio_heat 0": (lambda e: rg.Limits(portfolio_heat=0), ["portfolio_heat", "0"]),
    "consecutive_losses 0": (
        lambda e: rg.Limits(consecutive_losses=0),
        ["consecutive_losses", "0"],
    ),
    "consecutive_losses 2.5": (
        lambda e: rg.Limits(consecutive_losses=2.5),
        ["consecutive_losses", "2.5"],
    ),
    "consecutive_losses 2**32": (
        lambda e: rg.Limits(consecutive_losses=2**32),
        ["consecutive_losses", str(2**32)],
    ),
    "consecutive_losses nan": (
        lambda e: rg.Limits(consecutive_losses=NAN),
        ["consecutive_losses", "nan"],
    ),
    "unknown limit": (lambda e: rg.Limits(daily_lose=0.05), ["daily_lose", "unknown"]),
    "reset_time 24:00": (lambda e: rg.Limits(reset_time="24:00"), ["reset_time", "24:00"]),
    "reset_time 7:00": (lambda e: rg.Limits(reset_time="7:00"), ["reset_time", "7:00"]),
    "reset_time int": (lambda e: rg.Limits(reset_time=700), ["reset_time", "700"]),
    "reset_time None": (lambda e: rg.Limits(reset_time=None), ["reset_time", "None"]),
    "utc_offset +19:00": (lambda e: rg.Limits(utc_offset="+19:00"), ["utc_offset", "+19:00"]),
    "utc_offset unsigned": (lambda e: rg.Limits(utc_offset="05:00"), ["utc_offset", "05:00"]),
    "utc_offset int": (lambda e: rg.Limits(utc_offset=5), ["utc_offset", "5"]),
    "utc_offset None": (lambda e: rg.Limits(utc_offset=None), ["utc_offset", "None"]),
    "volatility_lambda 0": (lambda e: rg.Limits(volatility_lambda=0.0), ["volatility_lambda"]),
    "volatility_lambda 1": (lambda e: rg.Limits(volatility_lambda=1.0), ["volatility_lambda", "1"]),
    "volatility_lambda nan": (
        lambda e: rg.Limits(volatility_lambda=NAN),
        ["volatility_lambda", "nan"],
    ),
    "volatility_lambda negative": (
        lambda e: rg.Limits(volatility_lambda=-0.5),
        ["volatility_lambda", "-0.5"],
    ),
    "volatility_lambda str": (
        lambda e: rg.Limits(volatility_lambda="0.94"),
        ["volatility_lambda", '"0.94"'],
    ),
    "volatility_lambda bool": (
        lambda e: rg.Limits(volatility_lambda=True),
        ["volatility_lambda", "bool"],
    ),
    "volatility_warmup 0": (lambda e: rg.Limits(volatility_warmup=0), ["volatility_warmup", "0"]),
    "volatility_warmup negative": (
        lambda e: rg.Limits(volatility_warmup=-1),
        ["volatility_warmup", "-1"],
    ),
    "volatility_warmup 1.5": (
        lambda e: rg.Limits(volatility_warmup=1.5),
        ["volatility_warmup", "1.5"],
    ),
    "volatility_warmup nan": (
        lambda e: rg.Limits(volatility_warmup=NAN),
        ["volatility_warmup", "nan"],
    ),
    "volatility_warmup huge": (lambda e: rg.Limits(volatility_warmup=2**70), ["volatility_warmup"]),
    "volatility_warmup str": (
        lambda e: rg.Limits(volatility_warmup="20"),
        ["volatility_warmup", '"20"'],
    ),
    "volatility_warmup bool": (
        lambda e: rg.Limits(volatility_warmup=True),
        ["volatility_warmup", "bool"],
    ),
    "spec dict without threshold": (
        lambda e: rg.Limits(daily_loss={"action": "halt"}),
        ["daily_loss", "threshold"],
    ),
    "spec dict threshold nan": (
        lambda e: rg.Limits(daily_loss={"threshold": NAN}),
        ["daily_loss", "nan"],
    ),
    "spec dict unknown key": (
        lambda e: rg.Limits(daily_loss={"threshold": 0.05, "actoin": "halt"}),
        ["daily_loss", "actoin"],
    ),
    "spec dict action int": (
        lambda e: rg.Limits(daily_loss={"threshold": 0.05, "action": 5}),
        ["daily_loss", "action"],
    ),
    "every problem at once": (
        lambda e: rg.Limits(
            daily_loss=2.0,
            leverage=-1.0,
            nope=1.0,
            reset_time="x",
            volatility_lambda=NAN,
            volatility_spike=rg.BreakerSpec(3.0, cooldown_s=-1.0),
        ),
        [
            "daily_loss",
            "2",
            "leverage",
            "-1",
            "nope",
            "reset_time",
            '"x"',
            "volatility_lambda",
            "volatility_spike.cooldown_s",
        ],
    ),
}

BREAKER_SPEC: dict[str, Case] = {
    "threshold None": (lambda e: rg.BreakerSpec(None), ["threshold", "NoneType"]),
    "threshold str": (lambda e: rg.BreakerSpec("0.05"), ["threshold", "str"]),
    "threshold bool": (lambda e: rg.BreakerSpec(True), ["threshold", "bool"]),
    "threshold list": (lambda e: rg.BreakerSpec([0.05]), ["threshold", "list"]),
    "cooldown_s str": (lambda e: rg.BreakerSpec(3.0, cooldown_s="900"), ["cooldown_s", "str"]),
    "cooldown_s bool": (lambda e: rg.BreakerSpec(3.0, cooldown_s=True), ["cooldown_s", "bool"]),
    "fraction str": (lambda e: rg.BreakerSpec(3.0, fraction="0.5"), ["fraction", "str"]),
    "fraction list": (lambda e: rg.BreakerSpec(3.0, fraction=[0.5]), ["fraction", "list"]),
    "action int": (lambda e: rg.BreakerSpec(3.0, action=5), ["action", "int"]),
    "action list": (lambda e: rg.BreakerSpec(3.0, action=["halt"]), ["action", "list"]),
    "latched str": (lambda e: rg.BreakerSpec(3.0, latched="yes"), ["latched", "str"]),
    "latched int": (lambda e: rg.BreakerSpec(3.0, latched=1), ["latched", "int"]),
    # a spec is validated where it is used, by Limits
    "threshold nan, in Limits": (
        lambda e: rg.Limits(leverage=rg.BreakerSpec(NAN)),
        ["leverage", "threshold", "nan"],
    ),
    "threshold -inf, in Limits": (
        lambda e: rg.Limits(daily_loss=rg.BreakerSpec(-INF)),
        ["daily_loss", "threshold", "-inf"],
    ),
    "action unknown, in Limits": (
        lambda e: rg.Limits(leverage=rg.BreakerSpec(10.0, action="explode")),
        ["leverage", "action", "explode"],
    ),
    "action close_position off position_loss, in Limits": (
        lambda e: rg.Limits(leverage=rg.BreakerSpec(10.0, action="close_position")),
        ["leverage", "close_position"],
    ),
    "cooldown_s negative, in Limits": (
        lambda e: rg.Limits(volatility_spike=rg.BreakerSpec(3.0, cooldown_s=-1.0)),
        ["volatility_spike", "cooldown_s", "-1"],
    ),
    "cooldown_s nan, in Limits": (
        lambda e: rg.Limits(volatility_spike=rg.BreakerSpec(3.0, cooldown_s=NAN)),
        ["volatility_spike", "cooldown_s", "nan"],
    ),
    "cooldown_s inf, in Limits": (
        lambda e: rg.Limits(volatility_spike=rg.BreakerSpec(3.0, cooldown_s=INF)),
        ["volatility_spike", "cooldown_s", "inf"],
    ),
    "cooldown_s beyond 1e9, in Limits": (
        lambda e: rg.Limits(volatility_spike=rg.BreakerSpec(3.0, cooldown_s=2e9)),
        ["volatility_spike", "cooldown_s", "2000000000"],
    ),
    "fraction 0, in Limits": (
        lambda e: rg.Limits(leverage=rg.BreakerSpec(10.0, fraction=0.0)),
        ["leverage", "fraction", "0"],
    ),
    "fraction above 1, in Limits": (
        lambda e: rg.Limits(leverage=rg.BreakerSpec(10.0, fraction=1.5)),
        ["leverage", "fraction", "1.5"],
    ),
    "fraction nan, in Limits": (
        lambda e: rg.Limits(leverage=rg.BreakerSpec(10.0, fraction=NAN)),
        ["leverage", "fraction", "nan"],
    ),
    "position_loss latched, in Limits": (
        lambda e: rg.Limits(position_loss=rg.BreakerSpec(0.03, latched=True)),
        ["position_loss", "latched"],
    ),
    "position_loss cooldown, in Limits": (
        lambda e: rg.Limits(position_loss=rg.BreakerSpec(0.03, cooldown_s=60.0)),
        ["position_loss", "cooldown_s"],
    ),
}


LIMITS_FROM_DICT: dict[str, Case] = {
    "None": (lambda e: rg.Limits.from_dict(None), ["NoneType"]),
    "list": (lambda e: rg.Limits.from_dict([("daily_loss", 0.05)]), ["list"]),
    "str": (lambda e: rg.Limits.from_dict("daily_loss=0.05"), ["str"]),
    "Limits": (lambda e: rg.Limits.from_dict(rg.Limits()), ["Limits"]),
    "int key": (lambda e: rg.Limits.from_dict({1: 0.05}), ["int"]),
    "int key and a bad threshold, both listed": (
        lambda e: rg.Limits.from_dict({1: 0.05, "daily_loss": 2.0}),
        ["unknown limit", "1 (int)", "daily_loss.threshold", "got 2"],
    ),
    "unknown name": (lambda e: rg.Limits.from_dict({"nope": 0.05}), ["nope"]),
    "threshold nan": (lambda e: rg.Limits.from_dict({"leverage": NAN}), ["leverage", "nan"]),
    "threshold str": (lambda e: rg.Limits.from_dict({"leverage": "10"}), ["leverage", '"10"']),
    "to_dict with a bad field": (
        lambda e: rg.Limits.from_dict(
            default_limits_dict_with(
                max_drawdown={
                    "threshold": 0.15,
                    "action": "close_all_halt",
                    "cooldown_s": 0.0,
                    "latched": True,
                    "fraction": -0.5,
                }
            )
        ),
        ["max_drawdown", "fraction", "-0.5"],
    ),
    "to_dict with a bad setting": (
        lambda e: rg.Limits.from_dict(default_limits_dict_with(utc_offset="+25:00")),
        ["utc_offset", "+25:00"],
    ),
}


def _image() -> bytes:
    return make_engine().to_bytes()


def _with_crc(body: bytes) -> bytes:
    """``body`` with the CRC-32 the snapshot format appends, so corruption gets past it."""
    return body + struct.pack("<I", zlib.crc32(body))


def _pickled_with_flip() -> bytes:
    image = _image()
    data = pickle.dumps(make_engine())
    at = data.index(image) + len(image) // 2
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


FROM_BYTES: dict[str, Case] = {
    "empty": (lambda e: rg.RiskEngine.from_bytes(b""), ["snapshot", "0 bytes"]),
    "one byte": (lambda e: rg.RiskEngine.from_bytes(b"R"), ["snapshot", "1 bytes"]),
    "header only": (lambda e: rg.RiskEngine.from_bytes(_image()[:HEADER]), ["snapshot"]),
    "wrong magic": (
        lambda e: rg.RiskEngine.from_bytes(b"NOTRISKG" + _image()[8:]),
        ["snapshot", "not a riskguard"],
    ),
    "magic in lower case": (
        lambda e: rg.RiskEngine.from_bytes(_image()[:8].lower() + _image()[8:]),
        ["snapshot"],
    ),
    "wrong version": (
        lambda e: rg.RiskEngine.from_bytes(_image()[:8] + b"\x01\x00" + _image()[10:]),
        ["snapshot", "version 1"],
    ),
    "previous version, CRC fixed": (
        lambda e: rg.RiskEngine.from_bytes(_with_crc(_image()[:8] + b"\x02\x00" + _image()[10:-4])),
        ["snapshot", "version 2"],
    ),
    "wrong version, CRC fixed": (
        lambda e: rg.RiskEngine.from_bytes(_with_crc(_image()[:8] + b"\xff\xff" + _image()[10:-4])),
        ["snapshot", "version 65535"],
    ),
    "checksum flipped": (
        lambda e: rg.RiskEngine.from_bytes(_image()[:-1] + bytes([_image()[-1] ^ 1])),
        ["snapshot", "checksum"],
    ),
    "trailing byte": (lambda e: rg.RiskEngine.from_bytes(_image() + b"\x00"), ["snapshot"]),
    "trailing byte, CRC fixed": (
        lambda e: rg.RiskEngine.from_bytes(_with_crc(_image()[:-4] + b"\x00")),
        ["snapshot", "trailing"],
    ),
    "twice": (lambda e: rg.RiskEngine.from_bytes(_image() * 2), ["snapshot"]),
    "zeros": (lambda e: rg.RiskEngine.from_bytes(bytes(len(_image()))), ["snapshot"]),
    "str": (lambda e: rg.RiskEngine.from_bytes(_image().decode("latin-1")), ["data", "str"]),
    "bytearray": (lambda e: rg.RiskEngine.from_bytes(bytearray(_image())), ["data", "bytearray"]),
    "memoryview": (
        lambda e: rg.RiskEngine.from_bytes(memoryview(_image())),
        ["data", "memoryview"],
    ),
    "numpy": (lambda e: rg.RiskEngine.from_bytes(np.frombuffer(_image(), np.uint8)), ["data"]),
    "list of ints": (lambda e: rg.RiskEngine.from_bytes(list(_image())), ["data", "list"]),
    "None": (lambda e: rg.RiskEngine.from_bytes(None), ["data", "NoneType"]),
    "pickle with a corrupt image": (lambda e: pickle.loads(_pickled_with_flip()), ["snapshot"]),
}

TABLES: dict[str, dict[str, Case]] = {
    "RiskEngine": CONSTRUCTOR,
    "symbol_id": SYMBOL_ID,
    "on_fill": ON_FILL,
    "set_stop": SET_STOP,
    "on_tick": ON_TICK,
    "on_ticks": ON_TICKS,
    "kill": KILL,
    "pause": PAUSE,
    "resume": RESUME,
    "reset": RESET,
    "from_bytes": FROM_BYTES,
    "Limits": LIMITS,
    "BreakerSpec": BREAKER_SPEC,
    "Limits.from_dict": LIMITS_FROM_DICT,
}


@pytest.mark.parametrize(("call", "needles"), case_params(TABLES))
def test_bad_input_is_refused_and_changes_nothing(call, needles) -> None:
    expect_unchanged(make_engine(), call, needles)


def test_every_entry_point_has_bad_input_cases() -> None:
    views = {"snapshot", "breakers", "to_bytes", "state", "paused", "ts", "limits", "symbols"}
    # The gate's entry points have their own table in test_gate_bad_input.py.
    gate = {
        "evaluate_signal",
        "check_order",
        "on_bar",
        "indicators",
        "set_lot_size",
        "set_correlation",
        "trades",
    }
    methods = {
        name
        for name, _ in inspect.getmembers(rg.RiskEngine)
        if not name.startswith("_") and name not in views | gate
    }
    assert methods == {
        "symbol_id",
        "on_fill",
        "set_stop",
        "on_tick",
        "on_ticks",
        "kill",
        "pause",
        "resume",
        "reset",
        "from_bytes",
    }
    assert methods | {"RiskEngine", "Limits", "BreakerSpec", "Limits.from_dict"} == set(TABLES)
    assert all(len(table) >= 6 for table in TABLES.values())


# --- refusals in a tripped or engaged state ------------------------------------------------------


def test_reset_without_confirm_keeps_the_kill_switch_engaged() -> None:
    e = make_engine()
    e.kill("test", T1)
    assert e.state == rg.TradingState.HALTED
    for call in (
        lambda x: x.reset("kill_switch", T1 + NS),
        lambda x: x.reset("kill_switch", T1 + NS, confirm=False),
    ):
        expect_unchanged(e, call, ["confirm"])
    assert e.state == rg.TradingState.HALTED
    assert e.reset("kill_switch", T1 + NS, confirm=True)
    assert e.state == rg.TradingState.ACTIVE


def test_reset_without_confirm_keeps_a_latched_drawdown_halt() -> None:
    e = rg.RiskEngine(equity=100_000.0, ts=T0)
    e.on_fill("BTC", 1.0, 50_000.0, T0)
    e.on_tick("BTC", 30_000.0, T1)
    assert {b.name: b.status for b in e.breakers()}["max_drawdown"] == "tripped"
    expect_unchanged(e, lambda x: x.reset("max_drawdown", T1 + NS), ["confirm"])
    expect_unchanged(e, lambda x: x.reset("max_drawdown", T1 - 1, confirm=True), ["ts"])
    assert e.state == rg.TradingState.HALTED


ENGINE_TABLES = ("on_fill", "set_stop", "on_tick", "on_ticks", "kill", "pause", "resume", "reset")


@pytest.mark.parametrize("engaged", [False, True])
def test_bad_calls_on_a_halted_engine_change_nothing(engaged: bool) -> None:
    e = make_engine()
    if engaged:
        e.kill("test", T1)
    e.on_tick("BTC", 10_000.0, T1)  # a 6 % daily loss: HALTED
    assert e.state == rg.TradingState.HALTED
    wrong = wrong_refusals(e, TABLES, ENGINE_TABLES)
    assert not wrong, wrong


def test_bad_calls_on_a_paused_engine_change_nothing() -> None:
    e = make_engine()
    e.pause("test", T1)
    wrong = wrong_refusals(e, TABLES, ENGINE_TABLES)
    assert not wrong, wrong
    assert e.paused


def test_refusals_keep_a_restored_engine_equal_to_the_original() -> None:
    original = make_engine()
    restored = rg.RiskEngine.from_bytes(original.to_bytes())
    wrong = wrong_refusals(restored, TABLES, ENGINE_TABLES)
    assert not wrong, wrong
    assert restored.to_bytes() == original.to_bytes()
    for e in (original, restored):
        e.on_ticks(GOOD_IDS, GOOD_PRICES, GOOD_TS)
    assert restored.to_bytes() == original.to_bytes()


# --- on_ticks validates the whole batch first ----------------------------------------------------


@pytest.mark.parametrize("at", [0, 1, 2, 17, 25, 48, 49])
@pytest.mark.parametrize("what", ["id", "price", "ts"])
def test_one_bad_tick_anywhere_in_a_batch_changes_nothing(at: int, what: str) -> None:
    ids, prices, ts = GOOD_IDS, GOOD_PRICES, GOOD_TS
    if what == "id":
        ids = _with(ids, at, 3)
    elif what == "price":
        prices = _with(prices, at, NAN)
    else:
        ts = _with(ts, at, (ts[at - 1] if at else T1) - 1)
    needle = {"id": "symbol_ids", "price": "prices", "ts": "ts"}[what]
    expect_unchanged(make_engine(), lambda e: e.on_ticks(ids, prices, ts), [needle, f"[{at}]"])


def test_a_batch_that_would_trip_breakers_changes_nothing_when_its_last_tick_is_bad() -> None:
    # the valid prefix alone crashes BTC by 40 %: daily loss, drawdown, position loss and a
    # stop hit would all fire before the bad tick is reached
    ids = u32(0, 0, 0, 1)
    prices = f64(30_000.0, 25_000.0, 24_000.0, NAN)
    ts = i64(T1 + NS, T1 + 2 * NS, T1 + 3 * NS, T1 + 4 * NS)
    e = make_engine()
    expect_unchanged(e, lambda x: x.on_ticks(ids, prices, ts), ["prices", "[3]", "nan"])
    assert e.state == rg.TradingState.ACTIVE
    assert e.on_ticks(ids[:3], prices[:3], ts[:3])


def test_an_empty_batch_is_no_call() -> None:
    e = make_engine()
    before = e.to_bytes()
    assert e.on_ticks(u32(), f64(), i64()) == []
    assert e.to_bytes() == before


def test_strided_and_read_only_batches_are_accepted() -> None:
    # non-contiguous or read-only arrays are valid input: they must give the same result as
    # their contiguous copies
    ids = np.repeat(GOOD_IDS, 2)[::2]
    prices = np.repeat(GOOD_PRICES, 2)[::2]
    ts = GOOD_TS.copy()
    ts.flags.writeable = False
    a, b = make_engine(), make_engine()
    a.on_ticks(ids, prices, ts)
    b.on_ticks(GOOD_IDS, GOOD_PRICES, GOOD_TS)
    assert a.to_bytes() == b.to_bytes()


# --- values that are valid one by one but overflow together --------------------------------------


def _positions_total(e: rg.RiskEngine) -> float:
    s = e.snapshot()
    return s.cash + sum(p.qty * p.mark for p in s.positions.values())


def test_fill_overflow_refusal_does_not_intern_the_symbol() -> None:
    e = make_engine()
    expect_unchanged(e, lambda x: x.on_fill("NEW", 1e300, 1e300, T1), ["qty", "1e300"])
    assert "NEW" not in e.symbols
    expect_risk_error(lambda: e.on_tick("NEW", 1.0, T1), ["symbol", "NEW"])


def test_a_tick_that_overflows_equity_keeps_the_engine_sound() -> None:
    # qty × price is finite at the fill, but a finite tick price can push the mark to
    # infinity. Either the tick is refused, or equity stays what the definition says
    # (cash + Σ qty × mark) once the price is sane again, and the image stays restorable.
    e = rg.RiskEngine(equity=1_000_000.0, ts=T0)
    e.on_fill("A", 10.0, 1.0, T0)
    try:
        e.on_tick("A", 1e308, T0 + NS)
    except rg.RiskError:
        pass
    e.on_tick("A", 2.0, T0 + 2 * NS)
    s = e.snapshot()
    assert s.equity == _positions_total(e) == 1_000_010.0, s.to_dict()
    assert math.isfinite(s.gross_exposure) and math.isfinite(s.peak_equity), s.to_dict()
    rg.RiskEngine.from_bytes(e.to_bytes())


def test_a_fill_that_takes_the_position_beyond_the_bound_is_refused() -> None:
    e = make_engine()
    e.on_fill("A", 9e14, 1.0, T1)
    needles = ["qty", "beyond", "900000000000000"]
    expect_unchanged(e, lambda x: x.on_fill("A", 9e14, 1.0, T1), needles)


def test_the_largest_allowed_values_keep_the_engine_finite_and_restorable() -> None:
    # Prices, quantities, fees and equity are bounded so that no sum the engine keeps can
    # overflow: a book at every bound at once must stay finite.
    e = rg.RiskEngine(equity=1e20, ts=T0)
    for k in range(3):
        e.on_fill(f"S{k}", 1e15 if k % 2 else -1e15, 1e-15, T0, fee=1e20)
    e.on_ticks(
        u32(0, 1, 2, 0), f64(1e15, 1e15, 1e-15, 1e-15), i64(*(T0 + NS * j for j in range(4)))
    )
    e.set_stop("S1", 1e-15)
    rg.RiskEngine.from_bytes(e.to_bytes())
    assert all(math.isfinite(v) for v in e.snapshot().to_dict().values() if isinstance(v, float))
    expect_unchanged(e, lambda x: x.on_tick("S0", 1e16, T1), ["price", "1e16"])


def test_an_absurd_stop_does_not_poison_heat() -> None:
    # heat is kept incrementally: a stop whose heat overflows to inf, replaced later, must
    # not leave inf - inf = NaN behind (a NaN heat never trips portfolio_heat)
    e = rg.RiskEngine(equity=1_000_000.0, ts=T0)
    e.on_fill("A", -10.0, 100.0, T0)
    try:
        e.set_stop("A", 1e308)
    except rg.RiskError:
        pass
    e.set_stop("A", 101.0)
    assert e.snapshot().heat == pytest.approx(10.0 / 1_000_000.0), e.snapshot().to_dict()


# --- corrupt snapshots ---------------------------------------------------------------------------


def _exercise(e: rg.RiskEngine) -> list[str]:
    """Every call on a restored engine; returns what went wrong (any error but a RiskError
    that is not a caught panic)."""
    problems: list[str] = []

    def attempt(label: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except rg.RiskError as err:
            if "internal error" in str(err):
                problems.append(f"{label}: {err}")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # noqa: BLE001 - a panic is a BaseException
            problems.append(f"{label}: {type(err).__name__}: {err}")

    attempt("snapshot", lambda: e.snapshot().to_dict())
    attempt("breakers", lambda: [b.to_dict() for b in e.breakers()])
    attempt("repr", lambda: (repr(e), e.state, e.ts, e.symbols, e.limits.to_dict()))
    attempt("to_bytes", e.to_bytes)
    for s in range(min(len(e.symbols), 4) + 1):
        attempt(f"on_tick {s}", lambda s=s: e.on_tick(s, 41_000.0, e.ts + NS))
        attempt(f"on_fill {s}", lambda s=s: e.on_fill(s, 1.0, 100.0, e.ts + NS, fee=1.0))
        attempt(f"on_fill close {s}", lambda s=s: e.on_fill(s, -1.0, 90.0, e.ts + NS))
        attempt(f"set_stop {s}", lambda s=s: e.set_stop(s, 1.0))
        attempt(
            f"on_ticks {s}",
            lambda s=s: e.on_ticks(
                u32(s, s), f64(50.0, 60.0), i64(e.ts + NS, e.ts + 40 * 86400 * NS)
            ),
        )
    attempt("on_fill new", lambda: e.on_fill("NEW", 1.0, 1.0, e.ts + NS))
    attempt("kill", lambda: e.kill("x", e.ts))
    attempt("pause", lambda: e.pause("x", e.ts))
    attempt("paused", lambda: (e.paused, e.snapshot().paused))
    attempt("resume", lambda: e.resume(e.ts))
    for name in ("kill_switch", "max_drawdown", "position_loss", "consecutive_losses"):
        attempt(f"reset {name}", lambda name=name: e.reset(name, e.ts, confirm=True))
    attempt("snapshot after", lambda: e.snapshot().to_dict())
    attempt("breakers after", lambda: e.breakers())
    attempt("round trip", lambda: rg.RiskEngine.from_bytes(e.to_bytes()))
    return problems


def _restore(data: bytes) -> tuple[rg.RiskEngine | None, str | None]:
    """``from_bytes(data)``: the engine, or None and what went wrong if the error is not a
    plain RiskError."""
    try:
        return rg.RiskEngine.from_bytes(data), None
    except rg.RiskError as err:
        return None, (f"caught panic: {err}" if "internal error" in str(err) else None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - a panic is a BaseException
        return None, f"{type(err).__name__}: {err}"


def test_every_single_byte_flip_is_refused() -> None:
    original = make_engine()
    image = original.to_bytes()
    for at in range(len(image)):
        for mask in (0x01, 0x80, 0xFF):
            data = image[:at] + bytes([image[at] ^ mask]) + image[at + 1 :]
            expect_risk_error(lambda d=data: rg.RiskEngine.from_bytes(d), ["snapshot"])
    assert original.to_bytes() == image


def test_every_truncation_is_refused() -> None:
    image = _image()
    for n in range(len(image)):
        expect_risk_error(lambda n=n: rg.RiskEngine.from_bytes(image[:n]), ["snapshot"])
        # dropping the head instead of the tail
        expect_risk_error(lambda n=n: rg.RiskEngine.from_bytes(image[n + 1 :]), ["snapshot"])


def test_random_bytes_are_refused() -> None:
    rng = random.Random(20240611)
    image = _image()
    for _ in range(2000):
        n = rng.choice([rng.randrange(0, 32), rng.randrange(0, 2 * len(image))])
        data = rng.randbytes(n)
        if rng.random() < 0.5:
            data = image[:HEADER] + data
        expect_risk_error(lambda d=data: rg.RiskEngine.from_bytes(d), ["snapshot"])


def test_corruption_behind_a_valid_checksum_never_panics() -> None:
    # The CRC refuses accidental damage; a body that is rewritten with its checksum must still
    # be either refused with a RiskError or give an engine that every later call handles.
    image = _image()
    body = image[:-4]
    failures: list[str] = []
    accepted = 0
    for at in range(HEADER, len(body)):
        for value in {body[at] ^ 0xFF, body[at] ^ 0x01, 0x00, 0x80, 0xFF} - {body[at]}:
            data = _with_crc(body[:at] + bytes([value]) + body[at + 1 :])
            engine, problem = _restore(data)
            if problem:
                failures.append(f"byte {at} = {value:#04x}: from_bytes: {problem}")
            if engine is not None:
                accepted += 1
                failures += [f"byte {at} = {value:#04x}: {p}" for p in _exercise(engine)]
    rng = random.Random(7)
    for k in range(3000):
        mutated = bytearray(body)
        how = k % 3
        if how == 0:
            for _ in range(rng.randint(2, 8)):
                mutated[rng.randrange(HEADER, len(mutated))] = rng.randrange(256)
        elif how == 1:
            at = rng.randrange(HEADER, len(mutated))
            mutated[at:at] = rng.randbytes(rng.randint(1, 16))
        else:
            mutated = bytearray(body[:HEADER] + rng.randbytes(rng.randrange(0, 2 * len(body))))
        engine, problem = _restore(_with_crc(bytes(mutated)))
        if problem:
            failures.append(f"random {k}: from_bytes: {problem}")
        if engine is not None:
            accepted += 1
            failures += [f"random {k}: {p}" for p in _exercise(engine)]
    assert not failures, f"{len(failures)} failures, e.g.\n" + "\n".join(failures[:20])
    assert accepted > 0  # some rewritten bodies decode, so the calls above did run


def test_truncation_behind_a_valid_checksum_is_refused() -> None:
    body = _image()[:-4]
    for n in range(HEADER, len(body)):
        expect_risk_error(lambda n=n: rg.RiskEngine.from_bytes(_with_crc(body[:n])), ["snapshot"])


# --- the interpreter survives --------------------------------------------------------------------

# Run after the battery of bad_input_harness.py, which loads this file as ``cases``.
EXTREMES = {
    "battery": "",
    "corrupt snapshots": """
    image = cases._image()
    body = image[:-4]
    rng = random.Random(3)
    for k in range(4000):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 6)):
            mutated[rng.randrange(cases.HEADER, len(mutated))] = rng.randrange(256)
        data = cases._with_crc(bytes(mutated)) if k % 2 else bytes(mutated) + image[-4:]
        try:
            restored = rg.RiskEngine.from_bytes(data)
        except rg.RiskError:
            continue
        run(lambda r=restored: cases._exercise(r))
    """,
    "extreme values": """
    for price in (5e-324, 1e-300, 1e300, 1.7976931348623157e308):
        for qty in (5e-324, 1e-300, 1e300, -1e300, 1.7976931348623157e308):
            e = cases.make_engine()
            run(lambda e=e, q=qty, p=price: e.on_fill("X", q, p, cases.T1))
            run(lambda e=e, p=price: e.on_tick("X", p, cases.T1))
            run(lambda e=e, p=price: e.on_tick("BTC", p, cases.T1))
            run(lambda e=e, p=price: e.set_stop("ETH", p))
            run(lambda e=e: e.on_tick("ETH", 1.0, cases.T1))
            run(lambda e=e: (e.snapshot(), e.breakers(), rg.RiskEngine.from_bytes(e.to_bytes())))
    e = rg.RiskEngine(ts=2**63 - 1)
    run(lambda: e.on_fill("A", 1.0, 100.0, 2**63 - 1))
    run(lambda: e.on_tick("A", 1.0, 2**63 - 1))
    run(lambda: e.kill("x", 2**63 - 1))
    e = rg.RiskEngine(ts=-(2**63))
    run(lambda: e.on_fill("A", 1.0, 100.0, -(2**63)))
    run(lambda: e.on_tick("A", 1.0, 2**63 - 1))
    for lam, warmup in ((1e-300, 1), (1 - 1e-16, 10**9)):
        e = rg.RiskEngine(rg.Limits(volatility_lambda=lam, volatility_warmup=warmup))
        run(lambda e=e: e.on_fill("A", 1.0, 1.0, 0))
        for k, p in enumerate((1.0, 1.0, 1e300, 1e-300, 5e-324, 1.0)):
            run(lambda e=e, k=k, p=p: e.on_tick("A", p, k + 1))
        run(lambda e=e: e.snapshot())
    """,
}


@pytest.mark.parametrize("group", list(EXTREMES))
def test_bad_input_never_aborts_the_interpreter(group: str) -> None:
    assert_survives(battery_script(__file__, EXTREMES[group]))
