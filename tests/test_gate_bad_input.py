"""Bad input for the pre-trade gate, the trade lifecycle and position sizing (docs/gate.md; the
same principles as tests/test_engine_bad_input.py).

Every bad call raises :class:`riskguard.RiskError` (a ``ValueError``, never a ``TypeError`` or a
panic) whose message names the argument and, where it means something, the value. A malformed
signal or order is an error, never a refused ``Decision``: a refusal is the gate's answer to a
well-formed request, an error says the request itself is wrong. A call that raises leaves the
engine exactly as it was, so ``to_bytes()`` is compared before and after every refused call
(including the ones that build a new object and never touch the engine).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from pathlib import Path
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
    from .engine_reference import canonical
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
    from engine_reference import canonical

NAN, INF = float("nan"), float("inf")
NS = 1_000_000_000
T0 = 1_641_168_000 * NS  # Monday 3 January 2022, 00:00 UTC
T1 = T0 + 60 * NS  # the clock of a make_engine() engine
TS = T1 + NS  # a valid timestamp for every call below
BTC, ETH, SOL = 0, 1, 2  # ids in interning order
N_BARS = 20  # enough for the default 14-bar ATR; the 200-bar EMA stays unready
DOCS = Path(__file__).resolve().parents[1] / "docs" / "gate.md"

SOL_SIGNAL: dict[str, Any] = {
    "symbol": "SOL",
    "side": "long",
    "entry": 100.0,
    "stop": 95.0,
    "target": 115.0,
    "confidence": 0.9,
    "consensus": "STRONG",
    "atr": 2.0,
    "ema": 98.0,
    "volume_24h": 5e6,
    "spread_bps": 5.0,
}
ETH_SHORT: dict[str, Any] = SOL_SIGNAL | {
    "symbol": "ETH",
    "side": "short",
    "entry": 3_000.0,
    "stop": 3_100.0,
    "target": 2_700.0,
    "atr": 40.0,
    "ema": 3_050.0,
}
CORRELATION = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])


def _bar(previous: float, close: float) -> tuple[float, float, float, float]:
    return previous, max(previous, close) * 1.001, min(previous, close) * 0.999, close


def make_engine() -> rg.RiskEngine:
    """Every kind of state the gate keeps: bars (a ready ATR on BTC and ETH), two unmanaged
    positions (BTC long with a stop, ETH short), a lot size and caller-given correlations, a
    managed SOL trade opened through an approved signal, and an accepted order on record."""
    e = rg.RiskEngine(equity=1_000_000.0, ts=T0)
    previous = {"BTC": 40_000.0, "ETH": 3_000.0}
    for k in range(N_BARS):
        for j, (symbol, base) in enumerate(previous.items()):
            close = base * (1 + 0.004 * math.sin(k + 2 * j))
            e.on_bar(symbol, *_bar(previous[symbol], close), 10.0 + k, T0 + (k + 1) * NS)
            previous[symbol] = close
    e.symbol_id("SOL")
    e.on_fill("BTC", 2.0, 40_000.0, T0 + 30 * NS)
    e.on_fill("ETH", -10.0, 3_000.0, T0 + 31 * NS)
    e.set_stop("BTC", 38_000.0)
    e.set_lot_size("SOL", 0.01)
    e.set_correlation(["BTC", "ETH", "SOL"], CORRELATION)
    decision = e.evaluate_signal(rg.Signal(**SOL_SIGNAL), T0 + 40 * NS)
    if decision.approved:  # test_the_fixture_holds_a_managed_trade says why if not
        e.on_fill("SOL", decision.quantity, 100.0, T0 + 41 * NS)
    e.check_order("BTC", 0.01, 40_050.0, T0 + 50 * NS)
    e.on_tick("BTC", 40_100.0, T1)
    e.on_tick("ETH", 2_990.0, T1)
    e.on_tick("SOL", 100.5, T1)
    return e


def f64(*x: float) -> np.ndarray:
    return np.array(x, dtype=np.float64)


# --- the cases -----------------------------------------------------------------------------------
# Each case: (call on a fresh make_engine(), needles its message must contain). Arguments go by
# position, as docs/gate.md lists them, except the documented keywords.


def _signal(base: dict[str, Any] = SOL_SIGNAL, **kw: Any) -> Callable[[rg.RiskEngine], Any]:
    fields = base | kw
    return lambda e: rg.Signal(**fields)


def _number_cases(make: Callable[..., Callable], arg: str, bad: dict[str, Any]) -> dict[str, Case]:
    """The cases of one numeric argument: each bad value, with the value's text (or type
    name) as the second needle."""
    out: dict[str, Case] = {}
    for label, (value, needle) in bad.items():
        out[f"{arg} {label}"] = (make(**{arg: value}), [arg, needle])
    return out


# a price or level in [1e-15, 1e15]
PRICE_BAD: dict[str, tuple[Any, str]] = {
    "0": (0.0, "0"),
    "negative": (-100.0, "-100"),
    "nan": (NAN, "nan"),
    "inf": (INF, "inf"),
    "-inf": (-INF, "-inf"),
    "above 1e15": (1e16, "1e16"),
    "below 1e-15": (1e-16, "1e-16"),
    "str": ("100", "str"),
    "bool": (True, "bool"),
    "list": ([100.0], "list"),
}
# an optional positive market-data field: None is "not given", so it is no bad value here
POSITIVE_BAD: dict[str, tuple[Any, str]] = {
    "0": (0.0, "0"),
    "negative": (-1.0, "-1"),
    "nan": (NAN, "nan"),
    "inf": (INF, "inf"),
    "str": ("1", "str"),
    "bool": (True, "bool"),
    "list": ([1.0], "list"),
}
NON_NEGATIVE_BAD = {k: v for k, v in POSITIVE_BAD.items() if k != "0"}
# a value that must be a number, never absent
NUMBER_BAD: dict[str, tuple[Any, str]] = POSITIVE_BAD | {"None": (None, "None")}


SIGNAL: dict[str, Case] = {
    "symbol empty": (_signal(symbol=""), ["symbol", "empty"]),
    "symbol None": (_signal(symbol=None), ["symbol", "None"]),
    "symbol bool": (_signal(symbol=True), ["symbol", "bool"]),
    "symbol float": (_signal(symbol=1.5), ["symbol", "float"]),
    "symbol bytes": (_signal(symbol=b"SOL"), ["symbol", "bytes"]),
    "symbol list": (_signal(symbol=["SOL"]), ["symbol", "list"]),
    "side buy": (_signal(side="buy"), ["side", "buy"]),
    "side sell": (_signal(side="sell"), ["side", "sell"]),
    "side in capitals": (_signal(side="LONG"), ["side", "LONG"]),
    "side empty": (_signal(side=""), ["side"]),
    "side None": (_signal(side=None), ["side", "None"]),
    "side int": (_signal(side=1), ["side", "int"]),
    "side bool": (_signal(side=True), ["side", "bool"]),
    **_number_cases(_signal, "entry", PRICE_BAD | {"None": (None, "None")}),
    **_number_cases(_signal, "stop", PRICE_BAD),
    "stop above a long's entry": (_signal(stop=105.0), ["stop", "105"]),
    "stop at a long's entry": (_signal(stop=100.0), ["stop", "100"]),
    "stop below a short's entry": (_signal(ETH_SHORT, stop=2_900.0), ["stop", "2900"]),
    "stop at a short's entry": (_signal(ETH_SHORT, stop=3_000.0), ["stop", "3000"]),
    "stop a hair above a long's entry": (_signal(stop=100.0 + 1e-9), ["stop"]),
    **_number_cases(_signal, "target", PRICE_BAD),
    "target below a long's entry": (_signal(target=90.0), ["target", "90"]),
    "target at a long's entry": (_signal(target=100.0), ["target", "100"]),
    "target below a long's stop": (_signal(target=94.0), ["target", "94"]),
    "target above a short's entry": (_signal(ETH_SHORT, target=3_200.0), ["target", "3200"]),
    "target at a short's entry": (_signal(ETH_SHORT, target=3_000.0), ["target", "3000"]),
    "confidence above 1": (_signal(confidence=1.5), ["confidence", "1.5"]),
    "confidence a hair above 1": (_signal(confidence=1.0 + 2**-52), ["confidence"]),
    "confidence negative": (_signal(confidence=-0.1), ["confidence", "-0.1"]),
    "confidence as a percentage": (_signal(confidence=85.0), ["confidence", "85"]),
    "confidence nan": (_signal(confidence=NAN), ["confidence", "nan"]),
    "confidence inf": (_signal(confidence=INF), ["confidence", "inf"]),
    "confidence str": (_signal(confidence="0.9"), ["confidence", "str"]),
    "confidence bool": (_signal(confidence=True), ["confidence", "bool"]),
    "consensus unknown": (_signal(consensus="MAJORITY"), ["consensus", "MAJORITY"]),
    "consensus in lower case": (_signal(consensus="strong"), ["consensus", "strong"]),
    "consensus empty": (_signal(consensus=""), ["consensus"]),
    "consensus int": (_signal(consensus=1), ["consensus", "int"]),
    "consensus list": (_signal(consensus=["STRONG"]), ["consensus", "list"]),
    **_number_cases(_signal, "atr", POSITIVE_BAD),
    **_number_cases(_signal, "ema", POSITIVE_BAD),
    **_number_cases(_signal, "volume_24h", NON_NEGATIVE_BAD),
    **_number_cases(_signal, "spread_bps", NON_NEGATIVE_BAD),
    **_number_cases(_signal, "regime", POSITIVE_BAD),
    **_number_cases(_signal, "quantity", POSITIVE_BAD),
    "quantity above 1e15": (_signal(quantity=2e15), ["quantity", "2000000000000000"]),
}


def _evaluate(signal: Any = None, ts: Any = TS, **kw: Any) -> Callable[[rg.RiskEngine], Any]:
    """``evaluate_signal`` of ``signal``, else of SOL_SIGNAL with ``kw``, built inside the call:
    a malformed one must be answered with an error, never with a refused decision."""
    fields = SOL_SIGNAL | kw
    if signal is None:
        return lambda e: e.evaluate_signal(rg.Signal(**fields), ts)
    return lambda e: e.evaluate_signal(signal, ts)


class _NotASignal:
    symbol, side, entry, stop, target = "SOL", "long", 100.0, 95.0, 115.0


EVALUATE_SIGNAL: dict[str, Case] = {
    "signal None": (lambda e: e.evaluate_signal(None, TS), ["signal", "None"]),
    "signal str": (lambda e: e.evaluate_signal("SOL long 100", TS), ["signal", "str"]),
    "signal int": (lambda e: e.evaluate_signal(5, TS), ["signal", "int"]),
    "signal tuple": (lambda e: e.evaluate_signal(("SOL", "long", 100.0), TS), ["signal", "tuple"]),
    "signal look-alike": (lambda e: e.evaluate_signal(_NotASignal(), TS), ["signal"]),
    "ts backwards": (_evaluate(ts=T1 - 1), ["ts", str(T1 - 1)]),
    "ts far back": (_evaluate(ts=-(2**63)), ["ts", str(-(2**63))]),
    "ts float": (_evaluate(ts=float(TS)), ["ts", "float"]),
    "ts str": (_evaluate(ts=str(TS)), ["ts", "str"]),
    "ts None": (_evaluate(ts=None), ["ts", "None"]),
    "ts bool": (_evaluate(ts=True), ["ts", "bool"]),
    "ts above int64": (_evaluate(ts=2**63), ["ts", str(2**63)]),
    "ts backwards, new symbol": (_evaluate(ts=T0, symbol="NEW"), ["ts", str(T0)]),
    "stop on the wrong side": (_evaluate(stop=101.0), ["stop", "101"]),
    "target on the wrong side": (_evaluate(target=99.0), ["target", "99"]),
    "confidence above 1": (_evaluate(confidence=1.01), ["confidence", "1.01"]),
    "confidence negative": (_evaluate(confidence=-0.5), ["confidence", "-0.5"]),
    "side unknown": (_evaluate(side="flat"), ["side", "flat"]),
    "consensus unknown": (_evaluate(consensus="UNSURE"), ["consensus", "UNSURE"]),
    # both levels are on the wrong side; which one the message names is the engine's choice
    "short with a long's levels": (_evaluate(side="short"), []),
}


def _order(
    symbol: Any = "BTC", qty: Any = 0.01, price: Any = 40_050.0, ts: Any = TS, **kw: Any
) -> Callable[[rg.RiskEngine], Any]:
    return lambda e: e.check_order(symbol, qty, price, ts, **kw)


CHECK_ORDER: dict[str, Case] = {
    "symbol unknown id": (_order(symbol=99), ["symbol", "99"]),
    "symbol id 2**32": (_order(symbol=2**32), ["symbol", str(2**32)]),
    "symbol negative id": (_order(symbol=-1), ["symbol", "-1"]),
    "symbol empty": (_order(symbol=""), ["symbol", "empty"]),
    "symbol None": (_order(symbol=None), ["symbol", "None"]),
    "symbol float": (_order(symbol=0.0), ["symbol", "float"]),
    "symbol bool": (_order(symbol=True), ["symbol", "bool"]),
    "symbol bytes": (_order(symbol=b"BTC"), ["symbol", "bytes"]),
    "symbol list": (_order(symbol=["BTC"]), ["symbol", "list"]),
    "qty 0.0": (_order(qty=0.0), ["qty", "0"]),
    "qty -0.0": (_order(qty=-0.0), ["qty", "0"]),
    "qty int 0": (_order(qty=0), ["qty", "0"]),
    "qty nan": (_order(qty=NAN), ["qty", "nan"]),
    "qty inf": (_order(qty=INF), ["qty", "inf"]),
    "qty -inf": (_order(qty=-INF), ["qty", "-inf"]),
    "qty beyond 1e15": (_order(qty=2e15), ["qty", "2000000000000000"]),
    "qty beyond -1e15": (_order(qty=-2e15), ["qty", "-2000000000000000"]),
    "qty str": (_order(qty="0.01"), ["qty", "str"]),
    "qty bool": (_order(qty=True), ["qty", "bool"]),
    "qty None": (_order(qty=None), ["qty", "None"]),
    "qty complex": (_order(qty=1 + 0j), ["qty", "complex"]),
    "qty list": (_order(qty=[0.01]), ["qty", "list"]),
    "qty nan, reducing": (_order(symbol="ETH", qty=NAN, price=2_990.0), ["qty", "nan"]),
    "qty 0, new symbol": (_order(symbol="NEW", qty=0.0), ["qty", "0"]),
    "price 0": (_order(price=0.0), ["price", "0"]),
    "price negative": (_order(price=-40_050.0), ["price", "-40050"]),
    "price nan": (_order(price=NAN), ["price", "nan"]),
    "price inf": (_order(price=INF), ["price", "inf"]),
    "price above 1e15": (_order(price=1e16), ["price", "1e16"]),
    "price below 1e-15": (_order(price=1e-16), ["price", "1e-16"]),
    "price str": (_order(price="40050"), ["price", "str"]),
    "price None": (_order(price=None), ["price", "None"]),
    "price bool": (_order(price=True), ["price", "bool"]),
    "price nan, new symbol": (_order(symbol="NEW", price=NAN), ["price", "nan"]),
    "ts backwards": (_order(ts=T1 - 1), ["ts", str(T1 - 1)]),
    "ts backwards, reducing": (
        _order(symbol="ETH", qty=5.0, price=2_990.0, ts=T1 - 1),
        ["ts", str(T1 - 1)],
    ),
    "ts backwards, new symbol": (_order(symbol="NEW", ts=T0), ["ts", str(T0)]),
    "ts float": (_order(ts=float(TS)), ["ts", "float"]),
    "ts str": (_order(ts=str(TS)), ["ts", "str"]),
    "ts None": (_order(ts=None), ["ts", "None"]),
    "ts bool": (_order(ts=True), ["ts", "bool"]),
    "ts above int64": (_order(ts=2**63), ["ts", str(2**63)]),
    "reduce_only str": (_order(reduce_only="yes"), ["reduce_only", "str"]),
    "reduce_only int": (_order(reduce_only=1), ["reduce_only", "int"]),
    "reduce_only list": (_order(reduce_only=[True]), ["reduce_only", "list"]),
}


BAR = {
    "symbol": "BTC",
    "open": 40_000.0,
    "high": 40_200.0,
    "low": 39_900.0,
    "close": 40_100.0,
    "volume": 12.0,
    "ts": TS,
}


def _on_bar(**kw: Any) -> Callable[[rg.RiskEngine], Any]:
    args = tuple((BAR | kw).values())
    return lambda e: e.on_bar(*args)


ON_BAR: dict[str, Case] = {
    "symbol unknown id": (_on_bar(symbol=99), ["symbol", "99"]),
    "symbol negative id": (_on_bar(symbol=-1), ["symbol", "-1"]),
    "symbol empty": (_on_bar(symbol=""), ["symbol", "empty"]),
    "symbol None": (_on_bar(symbol=None), ["symbol", "None"]),
    "symbol float": (_on_bar(symbol=0.0), ["symbol", "float"]),
    "symbol bool": (_on_bar(symbol=True), ["symbol", "bool"]),
    "symbol bytes": (_on_bar(symbol=b"BTC"), ["symbol", "bytes"]),
    **{
        f"{price} {label}": (_on_bar(**{price: value}), [price, needle])
        for price in ("open", "high", "low", "close")
        for label, (value, needle) in (PRICE_BAD | {"None": (None, "None")}).items()
    },
    "high below low": (_on_bar(open=40_000.0, high=39_950.0, low=40_050.0), ["high", "low"]),
    "close above high": (_on_bar(close=40_300.0), ["close", "40300"]),
    "close below low": (_on_bar(close=39_800.0), ["close", "39800"]),
    "close nan, new symbol": (_on_bar(symbol="NEW", close=NAN), ["close", "nan"]),
    "close above high, new symbol": (_on_bar(symbol="NEW", close=40_300.0), ["close"]),
    **_number_cases(_on_bar, "volume", NON_NEGATIVE_BAD | {"None": (None, "None")}),
    "ts backwards": (_on_bar(ts=T1 - 1), ["ts", str(T1 - 1)]),
    "ts backwards, new symbol": (_on_bar(symbol="NEW", ts=T0), ["ts", str(T0)]),
    "ts float": (_on_bar(ts=float(TS)), ["ts", "float"]),
    "ts str": (_on_bar(ts=str(TS)), ["ts", "str"]),
    "ts None": (_on_bar(ts=None), ["ts", "None"]),
    "ts bool": (_on_bar(ts=True), ["ts", "bool"]),
    "ts above int64": (_on_bar(ts=2**63), ["ts", str(2**63)]),
}


def _lot(symbol: Any = "SOL", lot_size: Any = 0.01) -> Callable[[rg.RiskEngine], Any]:
    return lambda e: e.set_lot_size(symbol, lot_size)


SET_LOT_SIZE: dict[str, Case] = {
    "lot_size 0": (_lot(lot_size=0.0), ["lot_size", "0"]),
    "lot_size negative": (_lot(lot_size=-0.01), ["lot_size", "-0.01"]),
    "lot_size nan": (_lot(lot_size=NAN), ["lot_size", "nan"]),
    "lot_size inf": (_lot(lot_size=INF), ["lot_size", "inf"]),
    "lot_size str": (_lot(lot_size="0.01"), ["lot_size", "str"]),
    "lot_size bool": (_lot(lot_size=True), ["lot_size", "bool"]),
    "lot_size list": (_lot(lot_size=[0.01]), ["lot_size", "list"]),
    "symbol unknown id": (_lot(symbol=99), ["symbol", "99"]),
    "symbol negative id": (_lot(symbol=-1), ["symbol", "-1"]),
    "symbol empty": (_lot(symbol=""), ["symbol", "empty"]),
    "symbol None": (_lot(symbol=None), ["symbol", "None"]),
    "symbol float": (_lot(symbol=2.0), ["symbol", "float"]),
    "symbol bool": (_lot(symbol=False), ["symbol", "bool"]),
    "symbol bytes": (_lot(symbol=b"SOL"), ["symbol", "bytes"]),
    "lot_size nan, new symbol": (_lot(symbol="NEW", lot_size=NAN), ["lot_size", "nan"]),
}


PAIR = ["BTC", "ETH"]


def _m2(a: float, b: float, c: float, d: float) -> np.ndarray:
    return np.array([[a, b], [c, d]])


PAIR_MATRIX = np.array([[1.0, 0.5], [0.5, 1.0]])


def _corr(symbols: Any = PAIR, matrix: Any = PAIR_MATRIX) -> Callable[[rg.RiskEngine], Any]:
    return lambda e: e.set_correlation(symbols, matrix)


SET_CORRELATION: dict[str, Case] = {
    "symbols None": (_corr(symbols=None), ["symbols", "None"]),
    "symbols str": (_corr(symbols="BTC"), ["symbols", "str"]),
    "symbols int": (_corr(symbols=2), ["symbols", "int"]),
    "symbols with None": (_corr(symbols=["BTC", None]), ["symbols"]),
    "symbols with bytes": (_corr(symbols=["BTC", b"ETH"]), ["symbols"]),
    "symbols with an empty name": (_corr(symbols=["BTC", ""]), ["symbol", "empty"]),
    "symbols with an id": (_corr(symbols=["BTC", 99]), ["symbol"]),
    "symbols repeated": (_corr(symbols=["BTC", "BTC"]), ["symbol", "BTC"]),
    "symbols fewer than the matrix": (_corr(symbols=["BTC"]), ["matrix", "symbols"]),
    "symbols more than the matrix": (
        _corr(symbols=["BTC", "ETH", "SOL"]),
        ["matrix", "symbols"],
    ),
    "matrix None": (_corr(matrix=None), ["matrix", "None"]),
    "matrix str": (_corr(matrix="identity"), ["matrix"]),
    "matrix 1-D": (_corr(matrix=[1.0, 0.5]), ["matrix"]),
    "matrix 3-D": (_corr(matrix=np.ones((2, 2, 2))), ["matrix"]),
    "matrix 2×3": (_corr(matrix=[[1.0, 0.5, 0.1], [0.5, 1.0, 0.1]]), ["matrix"]),
    "matrix empty": (_corr(matrix=np.zeros((0, 0))), ["matrix"]),
    "matrix ragged": (_corr(matrix=[[1.0, 0.5], [0.5]]), ["matrix"]),
    "matrix nan": (_corr(matrix=_m2(1.0, NAN, NAN, 1.0)), ["matrix", "nan"]),
    "matrix inf": (_corr(matrix=_m2(1.0, INF, INF, 1.0)), ["matrix", "inf"]),
    "matrix above 1": (_corr(matrix=_m2(1.0, 1.5, 1.5, 1.0)), ["matrix", "1.5"]),
    "matrix below -1": (_corr(matrix=_m2(1.0, -1.5, -1.5, 1.0)), ["matrix", "-1.5"]),
    "matrix not symmetric": (_corr(matrix=_m2(1.0, 0.5, 0.4, 1.0)), ["matrix", "symmetric"]),
    "matrix diagonal not 1": (_corr(matrix=_m2(0.5, 0.2, 0.2, 1.0)), ["matrix"]),
    "matrix str dtype": (_corr(matrix=np.array([["1", "0.5"], ["0.5", "1"]])), ["matrix"]),
    "matrix object dtype": (_corr(matrix=np.array([[1.0, None], [None, 1.0]])), ["matrix"]),
    "matrix complex dtype": (_corr(matrix=np.eye(2, dtype=complex)), ["matrix"]),
    "matrix bool dtype": (_corr(matrix=np.eye(2, dtype=bool)), ["matrix"]),
    "matrix nan, new symbols": (
        _corr(symbols=["NEW1", "NEW2"], matrix=_m2(1.0, NAN, NAN, 1.0)),
        ["matrix", "nan"],
    ),
}


def _indicators(symbol: Any) -> Callable[[rg.RiskEngine], Any]:
    return lambda e: e.indicators(symbol)


INDICATORS: dict[str, Case] = {
    "unknown symbol": (_indicators("ZZZ"), ["symbol", "ZZZ"]),
    "unknown id": (_indicators(99), ["symbol", "99"]),
    "id 2**32": (_indicators(2**32), ["symbol", str(2**32)]),
    "negative id": (_indicators(-1), ["symbol", "-1"]),
    "symbol empty": (_indicators(""), ["symbol", '""']),
    "symbol None": (_indicators(None), ["symbol", "None"]),
    "symbol float": (_indicators(0.0), ["symbol", "float"]),
    "symbol bool": (_indicators(True), ["symbol", "bool"]),
    "symbol bytes": (_indicators(b"BTC"), ["symbol", "bytes"]),
}


# --- Limits: every setting of docs/gate.md's table -----------------------------------------------
# kind, then the out-of-domain values with the text the message must show for each. Every numeric
# setting also gets NaN, ±inf and the wrong types; None is not bad for them (it switches them off).

SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "sizing": ("method", {}),
    "risk_per_trade": ("real", {"0": 0.0, "-0.01": -0.01, "1.5": 1.5}),
    "trade_amount": ("real", {"0": 0.0, "-1000": -1000.0}),
    "kelly_fraction": ("real", {"0": 0.0, "-0.5": -0.5, "1.5": 1.5}),
    "kelly_cap": ("real", {"0": 0.0, "1.01": 1.01}),
    "kelly_min_trades": ("whole", {"0": 0, "-1": -1}),
    "target_volatility": ("real", {"0": 0.0, "-0.01": -0.01}),
    "consensus_methods": ("methods", {}),
    "consensus_mode": ("mode", {}),
    "max_risk_per_trade": ("real", {"0": 0.0, "1.5": 1.5}),
    "max_position_pct": ("real", {"0": 0.0, "-0.1": -0.1}),
    "max_position_notional": ("real", {"0": 0.0, "-1": -1.0}),
    "min_notional": ("real", {"0": 0.0, "-5": -5.0}),
    "min_reward_risk": ("real", {"0": 0.0, "-1.5": -1.5}),
    "max_heat": ("real", {"0": 0.0, "-0.1": -0.1}),
    "max_positions": ("whole", {"0": 0, "-5": -5}),
    "max_exposure": ("real", {"0": 0.0, "-0.8": -0.8}),
    "max_correlation": ("real", {"1.5": 1.5, "-1.5": -1.5}),
    "correlation_window": ("whole", {"1": 1, "0": 0}),
    "correlation_min_obs": ("whole", {"1": 1, "0": 0}),
    "signal_filters": ("bool", {}),
    "min_confidence": ("real", {"-0.1": -0.1, "1.1": 1.1}),
    "high_vol_confidence": ("real", {"-0.1": -0.1, "1.5": 1.5}),
    "max_atr_ratio": ("real", {"0": 0.0, "-0.05": -0.05}),
    "allowed_consensus": ("consensus", {}),
    "require_trend": ("bool", {}),
    "min_volume_24h": ("real", {"-1": -1.0}),
    "max_spread_bps": ("real", {"-50": -50.0}),
    "price_collar": ("real", {"0": 0.0, "-0.05": -0.05}),
    "max_orders_per_second": ("whole", {"0": 0, "-10": -10}),
    "duplicate_window_s": ("real", {"0": 0.0, "-1": -1.0}),
    "atr_period": ("whole", {"0": 0, "-14": -14}),
    "ema_period": ("whole", {"0": 0, "-200": -200}),
    "sl_atr": ("real", {"0": 0.0, "-1.5": -1.5}),
    "tp_atr": ("real", {"0": 0.0, "-3.75": -3.75}),
    "breakeven_r": ("real", {"0": 0.0, "-1": -1.0}),
    "breakeven_offset": ("real", {"1": 1.0, "-0.001": -0.001, "1.5": 1.5}),
    "partial_tp_r": ("real", {"0": 0.0, "-2": -2.0}),
    "partial_tp_fraction": ("real", {"0": 0.0, "1": 1.0, "1.5": 1.5}),
    "trail_start_r": ("real", {"0": 0.0, "-2": -2.0}),
    "trail_atr": ("real", {"0": 0.0, "-1": -1.0}),
    "max_hours_no_progress": ("real", {"0": 0.0, "-24": -24.0, "2000000": 2e6}),
    "max_bars_no_progress": ("whole", {"0": 0, "2.5": 2.5, "-3": -3}),
    "high_vol_atr_ratio": ("real", {"0": 0.0, "-0.03": -0.03}),
}

_KIND_BAD: dict[str, dict[str, tuple[Any, str]]] = {
    "real": {
        "nan": (NAN, "nan"),
        "inf": (INF, "inf"),
        "-inf": (-INF, "-inf"),
        "str": ("0.5", "0.5"),
        "bool": (True, "True"),
        "list": ([0.5], "list"),
        "complex": (0.5 + 0j, "complex"),
    },
    "whole": {
        "2.5": (2.5, "2.5"),
        "nan": (NAN, "nan"),
        "inf": (INF, "inf"),
        "huge": (2**70, str(2**70)),
        "str": ("20", "20"),
        "bool": (True, "True"),
        "list": ([20], "list"),
    },
    "bool": {
        "str": ("yes", "yes"),
        "int": (1, "1"),
        "float": (1.0, "1"),
        "None": (None, "None"),
        "list": ([True], "True"),
    },
    "method": {
        "unknown": ("martingale", "martingale"),
        "empty": ("", '""'),
        "in capitals": ("FIXED_FRACTIONAL", "FIXED_FRACTIONAL"),
        "None": (None, "None"),
        "int": (1, "1"),
        "list": (["atr"], "atr"),
    },
    "mode": {
        "unknown": ("max", "max"),
        "empty": ("", '""'),
        "None": (None, "None"),
        "int": (1, "1"),
        "list": (["min"], "min"),
    },
    "methods": {
        "a str": ("atr", ""),
        "unknown method": (["fixed_fractional", "martingale"], "martingale"),
        "empty": ([], ""),
        "None": (None, "None"),
        "an int": (["atr", 1], "non-str"),
        "a dict": ({"atr": 1.0}, "dict"),
    },
    "consensus": {
        "a str": ("STRONG", ""),
        "unknown name": (["UNANIMOUS", "MAJORITY"], "MAJORITY"),
        "in lower case": (["unanimous"], "unanimous"),
        "an empty name": (["STRONG", ""], '""'),
        "an int": (["STRONG", 1], "non-str"),
        "a dict": ({"STRONG": 1}, "dict"),
    },
}


def _limits_cases() -> dict[str, Case]:
    out: dict[str, Case] = {}
    for name, (kind, domain) in SETTINGS.items():
        for label, value in domain.items():
            out[f"{name} {label}"] = (lambda e, kw={name: value}: rg.Limits(**kw), [name, label])
        for label, (value, needle) in _KIND_BAD[kind].items():
            needles = [name] if label == "huge" else [name, needle]
            out[f"{name} {label}"] = (lambda e, kw={name: value}: rg.Limits(**kw), needles)
    return out


LIMITS: dict[str, Case] = {
    **_limits_cases(),
    "unknown setting near a real one": (
        lambda e: rg.Limits(risk_per_trades=0.01),
        ["risk_per_trades", "unknown"],
    ),
    "every problem at once": (
        lambda e: rg.Limits(
            risk_per_trade=2.0,
            max_positions=0,
            sizing="martingale",
            consensus_mode="max",
            consensus_methods=["nope"],
            signal_filters="yes",
            max_correlation=NAN,
            partial_tp_fraction=1.0,
            allowed_consensus="STRONG",
            daily_loss=2.0,
            nope=1.0,
        ),
        [
            "risk_per_trade",
            "max_positions",
            "sizing",
            "martingale",
            "consensus_mode",
            "consensus_methods",
            "signal_filters",
            "max_correlation",
            "partial_tp_fraction",
            "allowed_consensus",
            "daily_loss",
            "nope",
        ],
    ),
    "from_dict with a bad setting": (
        lambda e: rg.Limits.from_dict(default_limits_dict_with(risk_per_trade=-1.0)),
        ["risk_per_trade", "-1"],
    ),
    "from_dict with a bad method": (
        lambda e: rg.Limits.from_dict(default_limits_dict_with(sizing="martingale")),
        ["sizing", "martingale"],
    ),
    "from_dict with methods as a str": (
        lambda e: rg.Limits.from_dict(default_limits_dict_with(consensus_methods="atr")),
        ["consensus_methods"],
    ),
    "from_dict with a flag as an int": (
        lambda e: rg.Limits.from_dict(default_limits_dict_with(require_trend=1)),
        ["require_trend", "1"],
    ),
    "from_dict with every problem at once": (
        lambda e: rg.Limits.from_dict(
            default_limits_dict_with(max_heat=-1.0, atr_period=0, consensus_mode=None)
        ),
        ["max_heat", "atr_period", "consensus_mode"],
    ),
    "engine with a bad setting in a dict": (
        lambda e: rg.RiskEngine(limits={"max_positions": 0}),
        ["max_positions", "0"],
    ),
}


# --- rg.sizing -----------------------------------------------------------------------------------


def _call(fn: str, *args: Any, **kw: Any) -> Callable[[rg.RiskEngine], Any]:
    return lambda e: getattr(rg.sizing, fn)(*args, **kw)


def _scalar_cases(
    fn: str, names: list[str], good: list[Any], bad: dict, skip: frozenset | set = frozenset()
) -> dict[str, Case]:
    """``fn`` with one argument at a time replaced by each bad value, but the (name, label)
    pairs in ``skip``."""
    out: dict[str, Case] = {}
    for i, name in enumerate(names):
        for label, (value, needle) in bad.items():
            if (name, label) in skip:
                continue
            args = [*good[:i], value, *good[i + 1 :]]
            out[f"{fn} {name} {label}"] = (_call(fn, *args), [name, needle])
    return out


SCALAR_BAD: dict[str, tuple[Any, str]] = {
    "0": (0.0, "0"),
    "negative": (-1.0, "-1"),
    "nan": (NAN, "nan"),
    "inf": (INF, "inf"),
    "-inf": (-INF, "-inf"),
    "str": ("1", "str"),
    "bool": (True, "bool"),
    "None": (None, "None"),
    "list of str": (["1"], "list"),
}

FF = [1_000_000.0, 0.01, 100.0, 95.0]  # fixed_fractional(equity, risk, entry, stop)
VT = [1_000_000.0, 0.01, 0.02, 100.0]  # volatility_target(equity, target_volatility, vol, price)
ATR = [1_000_000.0, 0.01, 2.0]  # atr(equity, risk, atr)

SIZING: dict[str, Case] = {
    **_scalar_cases("fixed_fractional", ["equity", "risk", "entry", "stop"], FF, SCALAR_BAD),
    "fixed_fractional entry equals stop": (
        _call("fixed_fractional", 1e6, 0.01, 100.0, 100.0),
        ["stop"],
    ),
    "fixed_fractional empty entry": (
        _call("fixed_fractional", 1e6, 0.01, f64(), 95.0),
        ["entry"],
    ),
    "fixed_fractional entry with a nan": (
        _call("fixed_fractional", 1e6, 0.01, f64(100.0, NAN), 95.0),
        ["entry"],
    ),
    "fixed_fractional entry and stop of different lengths": (
        _call("fixed_fractional", 1e6, 0.01, f64(100.0, 101.0), f64(95.0, 96.0, 97.0)),
        ["entry"],
    ),
    "fixed_fractional entry str dtype": (
        _call("fixed_fractional", 1e6, 0.01, np.array(["100", "101"]), 95.0),
        ["entry"],
    ),
    "fixed_fractional entry object dtype": (
        _call("fixed_fractional", 1e6, 0.01, np.array([100.0, None]), 95.0),
        ["entry"],
    ),
    **_scalar_cases("fixed_amount", ["amount", "price"], [1000.0, 100.0], SCALAR_BAD),
    "fixed_amount price complex": (_call("fixed_amount", 1000.0, 100 + 0j), ["price", "complex"]),
    "fixed_amount empty price": (_call("fixed_amount", 1000.0, f64()), ["price"]),
    **_scalar_cases(
        "kelly",
        ["win_rate", "win_loss_ratio", "fraction", "cap"],
        [0.55, 1.5, 0.5, 0.25],
        SCALAR_BAD,
        # a win rate of 0 is a probability like any other (it sizes 0), and an infinite
        # win/loss ratio is a record without losses
        skip={("win_rate", "0"), ("win_loss_ratio", "inf")},
    ),
    "kelly win_rate above 1": (_call("kelly", 1.5, 1.5), ["win_rate", "1.5"]),
    "kelly fraction keyword nan": (_call("kelly", 0.55, 1.5, fraction=NAN), ["fraction", "nan"]),
    "kelly cap keyword 0": (_call("kelly", 0.55, 1.5, cap=0.0), ["cap", "0"]),
    **_scalar_cases(
        "volatility_target",
        ["equity", "target_volatility", "volatility", "price"],
        VT,
        SCALAR_BAD,
    ),
    **_scalar_cases("atr", ["equity", "risk", "atr"], ATR, SCALAR_BAD),
    "atr k 0": (_call("atr", *ATR, k=0.0), ["k", "0"]),
    "atr k negative": (_call("atr", *ATR, k=-1.5), ["k", "-1.5"]),
    "atr k nan": (_call("atr", *ATR, k=NAN), ["k", "nan"]),
    "atr k inf": (_call("atr", *ATR, k=INF), ["k", "inf"]),
    "atr k str": (_call("atr", *ATR, k="1.5"), ["k", "str"]),
    "atr k None": (_call("atr", *ATR, k=None), ["k", "None"]),
    **{
        f"inverse_volatility {label}": (_call("inverse_volatility", value), ["volatilities", *n])
        for label, (value, n) in {
            "empty": (f64(), ["empty"]),
            "empty list": ([], []),
            "2-D": (np.array([[0.1, 0.2], [0.3, 0.4]]), ["2"]),
            "a zero": (f64(0.1, 0.0), ["0"]),
            "a negative": (f64(0.1, -0.2), ["-0.2"]),
            "a nan": (f64(0.1, NAN), ["nan"]),
            "an inf": (f64(0.1, INF), ["inf"]),
            "str": ("0.1", []),
            "None": (None, []),
            "list with a str": ([0.1, "0.2"], []),
            "str dtype": (np.array(["0.1", "0.2"]), []),
            "object dtype": (np.array([0.1, None]), []),
            "complex dtype": (f64(0.1, 0.2).astype(complex), ["complex"]),
            "bool dtype": (np.array([True, True]), ["bool"]),
        }.items()
    },
    **{
        f"risk_parity {label}": (_call("risk_parity", value), ["covariance", *n])
        for label, (value, n) in {
            "empty": (np.zeros((0, 0)), []),
            "1-D": (f64(0.04, 0.09), []),
            "3-D": (np.ones((2, 2, 2)) * 0.04, []),
            "2×3": (np.full((2, 3), 0.01), []),
            "a nan": (np.array([[0.04, NAN], [NAN, 0.09]]), []),
            "an inf": (np.array([[0.04, 0.0], [0.0, INF]]), []),
            "not symmetric": (np.array([[0.04, 0.01], [0.02, 0.09]]), []),
            "a zero variance": (np.array([[0.0, 0.0], [0.0, 0.09]]), []),
            "a negative variance": (np.array([[-0.04, 0.0], [0.0, 0.09]]), []),
            "str": ("cov", []),
            "None": (None, []),
            "str dtype": (np.array([["0.04", "0"], ["0", "0.09"]]), []),
            "complex dtype": (np.eye(2, dtype=complex) * 0.04, ["complex"]),
        }.items()
    },
    **{
        f"consensus sizes {label}": (_call("consensus", value), ["sizes", *n])
        for label, (value, n) in {
            "empty": (f64(), ["empty"]),
            "2-D": (np.array([[1.0, 2.0], [3.0, 4.0]]), []),
            "a nan": (f64(10.0, NAN), ["nan"]),
            "an inf": (f64(10.0, INF), ["inf"]),
            "a negative": (f64(10.0, -5.0), ["-5"]),
            "str": ("10", []),
            "None": (None, []),
            "str dtype": (np.array(["10", "20"]), []),
            "object dtype": (np.array([10.0, None]), []),
        }.items()
    },
    "consensus how unknown": (_call("consensus", f64(10.0, 20.0), how="max"), ["how", "max"]),
    "consensus how empty": (_call("consensus", f64(10.0, 20.0), how=""), ["how"]),
    "consensus how None": (_call("consensus", f64(10.0, 20.0), how=None), ["how", "None"]),
    "consensus how int": (_call("consensus", f64(10.0, 20.0), how=1), ["how", "int"]),
    **{
        f"consensus weights {label}": (
            _call("consensus", f64(10.0, 20.0, 30.0), how="mean", weights=value),
            ["weights", *n],
        )
        for label, (value, n) in {
            "shorter than sizes": (f64(1.0, 1.0), []),
            "longer than sizes": (f64(1.0, 1.0, 1.0, 1.0), []),
            "a negative": (f64(1.0, -1.0, 1.0), []),
            "a nan": (f64(1.0, NAN, 1.0), []),
            "an inf": (f64(1.0, INF, 1.0), []),
            "all zero": (f64(0.0, 0.0, 0.0), []),
            "2-D": (np.ones((3, 1)), []),
            "str": ("equal", []),
            "str dtype": (np.array(["1", "1", "1"]), []),
        }.items()
    },
    **{
        f"regime_based quantity {label}": (_call("regime_based", value), ["quantity", needle])
        for label, (value, needle) in {
            "negative": (-1.0, "-1"),
            "nan": (NAN, "nan"),
            "inf": (INF, "inf"),
        }.items()
    },
    **{
        f"regime_based {arg} {label}": (_call("regime_based", 100.0, **{arg: value}), [arg, needle])
        for arg in ("regime", "performance")
        for label, (value, needle) in {
            "0": (0.0, "0"),
            "negative": (-1.0, "-1"),
            "nan": (NAN, "nan"),
            "inf": (INF, "inf"),
        }.items()
    },
    "regime_based quantity str": (_call("regime_based", "100"), ["quantity", "str"]),
    "regime_based quantity None": (_call("regime_based", None), ["quantity", "None"]),
    "regime_based quantity bool": (_call("regime_based", True), ["quantity", "bool"]),
    "regime_based regime str": (_call("regime_based", 100.0, regime="1"), ["regime", "str"]),
    "regime_based trend_aligned str": (
        _call("regime_based", 100.0, trend_aligned="yes"),
        ["trend_aligned", "str"],
    ),
    "regime_based trend_aligned int": (
        _call("regime_based", 100.0, trend_aligned=1),
        ["trend_aligned", "int"],
    ),
    "regime_based trend_aligned None": (
        _call("regime_based", 100.0, trend_aligned=None),
        ["trend_aligned", "None"],
    ),
    "regime_based volatility unknown": (
        _call("regime_based", 100.0, volatility="extreme"),
        ["volatility", "extreme"],
    ),
    "regime_based volatility None": (
        _call("regime_based", 100.0, volatility=None),
        ["volatility", "None"],
    ),
    "regime_based volatility a number": (
        _call("regime_based", 100.0, volatility=0.7),
        ["volatility", "float"],
    ),
    "regime_based performance str": (
        _call("regime_based", 100.0, performance="1"),
        ["performance", "str"],
    ),
    "adjust_size quantity negative": (_call("adjust_size", -1.0), ["quantity", "-1"]),
    "adjust_size quantity nan": (_call("adjust_size", NAN), ["quantity", "nan"]),
    "adjust_size quantity inf": (_call("adjust_size", INF), ["quantity", "inf"]),
    "adjust_size quantity str": (_call("adjust_size", "100"), ["quantity", "str"]),
    "adjust_size quantity None": (_call("adjust_size", None), ["quantity", "None"]),
    "adjust_size quantity bool": (_call("adjust_size", True), ["quantity", "bool"]),
    "adjust_size confidence above 1": (
        _call("adjust_size", 100.0, confidence=1.5),
        ["confidence", "1.5"],
    ),
    "adjust_size confidence negative": (
        _call("adjust_size", 100.0, confidence=-0.1),
        ["confidence", "-0.1"],
    ),
    "adjust_size confidence nan": (
        _call("adjust_size", 100.0, confidence=NAN),
        ["confidence", "nan"],
    ),
    "adjust_size confidence str": (
        _call("adjust_size", 100.0, confidence="0.9"),
        ["confidence", "str"],
    ),
    "adjust_size consecutive_losses negative": (
        _call("adjust_size", 100.0, consecutive_losses=-1),
        ["consecutive_losses", "-1"],
    ),
    "adjust_size consecutive_losses 1.5": (
        _call("adjust_size", 100.0, consecutive_losses=1.5),
        ["consecutive_losses", "1.5"],
    ),
    "adjust_size consecutive_losses nan": (
        _call("adjust_size", 100.0, consecutive_losses=NAN),
        ["consecutive_losses", "nan"],
    ),
    "adjust_size consecutive_losses str": (
        _call("adjust_size", 100.0, consecutive_losses="3"),
        ["consecutive_losses", "3"],
    ),
    "adjust_size consecutive_losses bool": (
        _call("adjust_size", 100.0, consecutive_losses=True),
        ["consecutive_losses", "True"],
    ),
    "adjust_size consecutive_losses None": (
        _call("adjust_size", 100.0, consecutive_losses=None),
        ["consecutive_losses", "None"],
    ),
    "adjust_size drawdown negative": (
        _call("adjust_size", 100.0, drawdown=-0.1),
        ["drawdown", "-0.1"],
    ),
    "adjust_size drawdown nan": (_call("adjust_size", 100.0, drawdown=NAN), ["drawdown", "nan"]),
    "adjust_size drawdown inf": (_call("adjust_size", 100.0, drawdown=INF), ["drawdown", "inf"]),
    "adjust_size drawdown str": (_call("adjust_size", 100.0, drawdown="0.02"), ["drawdown", "str"]),
}

TABLES: dict[str, dict[str, Case]] = {
    "Signal": SIGNAL,
    "evaluate_signal": EVALUATE_SIGNAL,
    "check_order": CHECK_ORDER,
    "on_bar": ON_BAR,
    "set_lot_size": SET_LOT_SIZE,
    "set_correlation": SET_CORRELATION,
    "indicators": INDICATORS,
    "Limits": LIMITS,
    "sizing": SIZING,
}
ENGINE_TABLES = (
    "evaluate_signal",
    "check_order",
    "on_bar",
    "set_lot_size",
    "set_correlation",
    "indicators",
)
SIZING_FUNCTIONS = {
    "fixed_fractional",
    "fixed_amount",
    "kelly",
    "volatility_target",
    "atr",
    "inverse_volatility",
    "risk_parity",
    "consensus",
    "regime_based",
    "adjust_size",
}


@pytest.mark.parametrize(("call", "needles"), case_params(TABLES))
def test_bad_input_is_refused_and_changes_nothing(call, needles) -> None:
    expect_unchanged(make_engine(), call, needles)


# --- coverage of the cases -----------------------------------------------------------------------


def test_every_new_entry_point_has_bad_input_cases() -> None:
    # the engine's entry points before the gate, and its read-only views
    older = {
        "symbol_id",
        "on_fill",
        "set_stop",
        "on_tick",
        "on_ticks",
        "kill",
        "pause",
        "resume",
        "reset",
    }
    views = {
        "snapshot",
        "breakers",
        "to_bytes",
        "from_bytes",
        "state",
        "paused",
        "ts",
        "limits",
        "symbols",
    }
    methods = {
        name
        for name, _ in inspect.getmembers(rg.RiskEngine)
        if not name.startswith("_") and name not in older | views
    }
    assert methods == set(ENGINE_TABLES) | {"trades"}
    functions = getattr(rg.sizing, "__all__", None) or [
        name
        for name in dir(rg.sizing)
        if not name.startswith("_")
        and inspect.isroutine(fn := getattr(rg.sizing, name))
        and getattr(fn, "__module__", "").startswith("riskguard")
    ]
    assert set(functions) == SIZING_FUNCTIONS
    covered = {name.split()[0] for name in SIZING}
    assert covered == SIZING_FUNCTIONS
    assert all(len(table) >= 6 for table in TABLES.values())


def _documented_settings() -> list[str]:
    """The first column of the settings table in docs/gate.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)


def test_every_documented_setting_has_bad_input_cases() -> None:
    documented = _documented_settings()
    assert len(documented) >= 40, documented
    assert set(documented) == set(SETTINGS), set(documented) ^ set(SETTINGS)
    for name in documented:
        cases = [k for k in LIMITS if k.split()[0] == name]
        assert len(cases) >= 5, (name, cases)


REQUIRED = {
    "risk_per_trade",
    "trade_amount",
    "kelly_fraction",
    "kelly_cap",
    "kelly_min_trades",
    "target_volatility",
    "correlation_window",
    "correlation_min_obs",
    "atr_period",
    "ema_period",
}


@pytest.mark.parametrize(
    "name", [n for n, (kind, _) in SETTINGS.items() if kind in ("real", "whole")]
)
def test_none_switches_a_numeric_setting_off(name: str) -> None:
    # docs/gate.md: a numeric setting is switched off with None, except the required ones
    if name in REQUIRED:
        with pytest.raises(rg.RiskError, match=f"{name}: cannot be switched off"):
            rg.Limits(**{name: None})
        return
    limits = rg.Limits(**{name: None})
    assert limits.to_dict()[name] is None
    assert getattr(limits, name) is None
    assert rg.Limits.from_dict(limits.to_dict()) == limits


# --- the fixture is what it claims to be ---------------------------------------------------------


def test_the_fixture_holds_a_managed_trade() -> None:
    e = make_engine()
    assert e.symbols == ["BTC", "ETH", "SOL"]
    trades = e.trades()
    assert [t.symbol for t in trades] == ["BTC", "ETH", "SOL"], [t.to_dict() for t in trades]
    sol = trades[-1]
    assert sol.state == "OPEN", sol.to_dict()
    assert sol.method == "fixed_fractional", sol.to_dict()
    assert (sol.initial_stop, sol.stop, sol.target) == (95.0, 95.0, 115.0), sol.to_dict()
    assert all(math.isnan(t.r_multiple) for t in trades[:2])  # unmanaged
    assert e.indicators("BTC")["atr"] is not None
    assert e.indicators("BTC")["ema"] is None  # 20 bars, a 200-bar EMA


def test_views_change_nothing() -> None:
    e = make_engine()
    before = e.to_bytes()
    for _ in range(2):
        [t.to_dict() for t in e.trades()]
        for s in ("BTC", "ETH", "SOL", BTC, SOL):
            e.indicators(s)
    assert e.to_bytes() == before


def test_refusals_leave_the_trades_as_they_were() -> None:
    e = make_engine()
    want = [t.to_dict() for t in e.trades()]
    for entry in ENGINE_TABLES:
        for call, _ in TABLES[entry].values():
            try:
                call(e)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: BLE001 - a panic is a BaseException; its type is
                pass  # the parametrized test's business
    got = [t.to_dict() for t in e.trades()]
    assert canonical(got) == canonical(want)


# --- a malformed request is an error, a refused one is a Decision --------------------------------


def test_a_well_formed_signal_the_gate_refuses_is_a_decision_not_an_error() -> None:
    # the same shapes as the error cases above, but valid: the gate must answer, not raise
    e = make_engine()
    d = e.evaluate_signal(rg.Signal(**(SOL_SIGNAL | {"confidence": 0.1})), TS)
    assert isinstance(d, rg.Decision) and not d.approved
    assert "CONFIDENCE_TOO_LOW" in d.codes
    d = e.evaluate_signal(rg.Signal(**(SOL_SIGNAL | {"consensus": "SPLIT"})), TS)
    assert not d.approved and "CONSENSUS_TOO_WEAK" in d.codes
    d = e.evaluate_signal(rg.Signal("NEW", "short", 50.0), TS)
    assert not d.approved and "MISSING_MARKET_DATA" in d.codes


def test_a_non_reducing_reduce_only_order_is_a_decision_not_an_error() -> None:
    e = make_engine()
    d = e.check_order("BTC", 0.01, 40_100.0, TS, reduce_only=True)
    assert isinstance(d, rg.Decision) and not d.approved
    assert "REDUCE_ONLY" in d.codes


def test_a_correlation_matrix_may_be_any_2d_array_like() -> None:
    # the API takes a 2-D array-like, as every array argument of riskguard does
    e = make_engine()
    e.set_correlation(["BTC", "ETH"], [[1.0, 0.25], [0.25, 1.0]])
    e.set_correlation(["BTC", "SOL"], np.array([[1, 0], [0, 1]]))
    e.set_correlation(["ETH", "SOL"], np.asfortranarray([[1.0, -0.5], [-0.5, 1.0]]))


def test_signal_values_at_their_bounds_are_accepted() -> None:
    for fields in (
        {"entry": 1e15, "stop": 9e14, "target": None},
        {"entry": 1e-14, "stop": 1e-15, "target": 2e-14},
        {"confidence": 0.0},
        {"confidence": 1.0},
        {"volume_24h": 0.0, "spread_bps": 0.0},
        {"quantity": 1e15},
        {"consensus": "WEAK"},
        {"consensus": "UNANIMOUS"},
        {"consensus": "SPLIT"},
    ):
        rg.Signal(**(SOL_SIGNAL | fields))
    short = rg.Signal("ETH", "short", 3_000.0, stop=3_000.0 * (1 + 1e-12), target=1e-15)
    assert short.side == "short"


# --- refusals in other states --------------------------------------------------------------------


@pytest.mark.parametrize("engaged", [False, True])
def test_bad_calls_on_a_halted_engine_change_nothing(engaged: bool) -> None:
    # a halted gate refuses every signal; a malformed one must still be an error, not a
    # TRADING_HALTED decision
    e = make_engine()
    if engaged:
        e.kill("test", T1)
    e.on_tick("BTC", 10_000.0, T1)  # a 6 % daily loss: HALTED
    assert e.state == rg.TradingState.HALTED
    wrong = wrong_refusals(e, TABLES, ("Signal", *ENGINE_TABLES))
    assert not wrong, wrong


def test_refusals_keep_a_restored_engine_equal_to_the_original() -> None:
    original = make_engine()
    restored = rg.RiskEngine.from_bytes(original.to_bytes())
    assert restored.to_bytes() == original.to_bytes(), "the image does not round-trip"
    wrong = wrong_refusals(restored, TABLES, ENGINE_TABLES)
    assert not wrong, wrong
    assert restored.to_bytes() == original.to_bytes()
    for e in (original, restored):
        e.evaluate_signal(rg.Signal(**ETH_SHORT), TS)
        e.check_order("BTC", 0.02, 40_100.0, TS)
        e.on_bar("SOL", 100.0, 101.0, 99.5, 100.5, 1e5, TS)
        e.on_tick("SOL", 104.0, TS + NS)
    assert restored.to_bytes() == original.to_bytes()


def test_a_refused_signal_or_order_for_a_new_symbol_does_not_intern_it() -> None:
    e = make_engine()
    expect_unchanged(e, _evaluate(ts=T0, symbol="NEW"), ["ts"])
    expect_unchanged(e, _order(symbol="NEW", qty=NAN), ["qty"])
    expect_unchanged(e, _on_bar(symbol="NEW", high=1.0, low=2.0), ["high"])
    expect_unchanged(e, _corr(symbols=["NEW1", "NEW2"], matrix=_m2(1.0, 2.0, 2.0, 1.0)), [])
    assert "NEW" not in e.symbols and "NEW1" not in e.symbols
    expect_risk_error(lambda: e.on_tick("NEW", 1.0, TS), ["symbol", "NEW"])


# --- the interpreter survives --------------------------------------------------------------------

# Run after the battery of bad_input_harness.py, which loads this file as ``cases``.
EXTREMES = {
    "battery": "",
    "extreme values": """
    tiny, huge = 5e-324, 1.7976931348623157e308
    for x in (tiny, 1e-300, 1e-15, 1e15, 1e300, huge, -huge):
        e = cases.make_engine()
        t = cases.TS
        run(lambda e=e, x=x: e.evaluate_signal(rg.Signal("X", "long", x), t))
        run(lambda e=e, x=x: e.evaluate_signal(rg.Signal("SOL", "long", 100.0, stop=x), t))
        run(lambda e=e, x=x: e.evaluate_signal(rg.Signal("SOL", "long", 100.0, atr=x), t))
        run(lambda e=e, x=x: e.evaluate_signal(rg.Signal("SOL", "long", 100.0, quantity=x), t))
        run(lambda e=e, x=x: e.evaluate_signal(rg.Signal("SOL", "short", 100.0, ema=x), t))
        run(lambda e=e, x=x: e.check_order("BTC", x, 40_000.0, t))
        run(lambda e=e, x=x: e.check_order("X", 1.0, x, t))
        run(lambda e=e, x=x: e.check_order("ETH", x, 3_000.0, t, reduce_only=True))
        run(lambda e=e, x=x: e.on_bar("X", x, x, x, x, x, t))
        run(lambda e=e, x=x: e.on_bar("BTC", 1.0, x, 1e-15, 1.0, 0.0, t))
        run(lambda e=e, x=x: e.set_lot_size("SOL", x))
        run(lambda e=e, x=x: e.set_correlation(["A", "B"], [[1.0, x], [x, 1.0]]))
        run(lambda e=e: e.evaluate_signal(rg.Signal(**cases.SOL_SIGNAL), t))
        run(lambda e=e: e.on_tick("SOL", 100.0, t))
        run(lambda e=e: (e.trades(), e.indicators("BTC"), e.snapshot(), e.to_bytes()))
        run(lambda e=e: rg.RiskEngine.from_bytes(e.to_bytes()))
        for fn, args in (
            ("fixed_fractional", (x, x, x, 1.0)),
            ("fixed_amount", (x, x)),
            ("kelly", (0.5, x, x, x)),
            ("volatility_target", (x, x, x, x)),
            ("atr", (x, x, x, x)),
            ("inverse_volatility", (np.full(3, x),)),
            ("risk_parity", (np.eye(3) * x,)),
            ("consensus", (np.full(3, x), "mean", np.full(3, x))),
            ("regime_based", (x, x, True, "low", x)),
            ("adjust_size", (x, 1.0, 10, 0.5)),
        ):
            run(lambda fn=fn, args=args: getattr(rg.sizing, fn)(*args))
    run(lambda: rg.sizing.risk_parity(np.eye(300) + 1e-3))
    run(lambda: rg.sizing.inverse_volatility(np.full(100_000, 0.01)))
    """,
}


@pytest.mark.parametrize("group", list(EXTREMES))
def test_bad_input_never_aborts_the_interpreter(group: str) -> None:
    assert_survives(battery_script(__file__, EXTREMES[group]))
