//! Bindings of the pre-trade gate, market data and trades: `Signal`, `Decision`, `Reason`,
//! `Trade`, and the `RiskEngine` methods that use them. Conversion only; every rule lives in
//! the core (docs/gate.md).

use numpy::PyReadonlyArray2;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use riskguard_core::engine::{self as core, Consensus, Side};

use crate::convert::{flag, int64, kind, real, symbol as symbol_ref, text};
use crate::engine::PyRiskEngine;
use crate::macros::{getters, py_repr};
use crate::{RiskError, call};

fn opt_real(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<f64>> {
    match obj {
        Some(o) if !o.is_none() => real(o, name).map(Some),
        _ => Ok(None),
    }
}

fn err(e: riskguard_core::RiskError) -> PyErr {
    RiskError::new_err(e.to_string())
}

/// A trade idea for `RiskEngine.evaluate_signal`.
///
/// `symbol` (str), `side` ("long" or "short"), `entry` price; optional `stop` and `target`
/// prices (on the loss and profit sides of entry), `confidence` in [0, 1], `consensus`
/// ("UNANIMOUS", "STRONG", "WEAK", "SPLIT"), market context `atr` (in price units),
/// `ema` (the trend EMA's price, `ema_period` bars), `volume_24h` (≥ 0, account currency), `spread_bps` (≥ 0),
/// `regime` (a sizing multiplier > 0), and `quantity` (> 0: the gate validates this size
/// instead of computing one). Prices lie in [1e-15, 1e15].
///
/// Raises RiskError for any value outside its domain, at construction.
#[pyclass(module = "riskguard", name = "Signal", frozen, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct PySignal {
    pub(crate) inner: core::Signal,
}

#[pymethods]
impl PySignal {
    #[new]
    #[pyo3(signature = (symbol, side, entry, stop=None, target=None, confidence=None, consensus=None, atr=None, ema=None, volume_24h=None, spread_bps=None, regime=None, quantity=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        symbol: &Bound<'_, PyAny>,
        side: &Bound<'_, PyAny>,
        entry: &Bound<'_, PyAny>,
        stop: Option<&Bound<'_, PyAny>>,
        target: Option<&Bound<'_, PyAny>>,
        confidence: Option<&Bound<'_, PyAny>>,
        consensus: Option<&Bound<'_, PyAny>>,
        atr: Option<&Bound<'_, PyAny>>,
        ema: Option<&Bound<'_, PyAny>>,
        volume_24h: Option<&Bound<'_, PyAny>>,
        spread_bps: Option<&Bound<'_, PyAny>>,
        regime: Option<&Bound<'_, PyAny>>,
        quantity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let consensus = match consensus {
            Some(c) if !c.is_none() => {
                Some(text(c, "consensus")?.parse::<Consensus>().map_err(err)?)
            }
            _ => None,
        };
        let inner = core::Signal {
            symbol: text(symbol, "symbol")?.to_owned(),
            side: text(side, "side")?.parse::<Side>().map_err(err)?,
            entry: real(entry, "entry")?,
            stop: opt_real(stop, "stop")?,
            target: opt_real(target, "target")?,
            confidence: opt_real(confidence, "confidence")?,
            consensus,
            atr: opt_real(atr, "atr")?,
            ema: opt_real(ema, "ema")?,
            volume_24h: opt_real(volume_24h, "volume_24h")?,
            spread_bps: opt_real(spread_bps, "spread_bps")?,
            regime: opt_real(regime, "regime")?,
            quantity: opt_real(quantity, "quantity")?,
        };
        inner.validate().map_err(err)?;
        Ok(Self { inner })
    }

    /// Every field by name, as `Signal(**d)` takes them.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = &self.inner;
        d.set_item("symbol", &s.symbol)?;
        d.set_item("side", s.side.name())?;
        d.set_item("entry", s.entry)?;
        d.set_item("stop", s.stop)?;
        d.set_item("target", s.target)?;
        d.set_item("confidence", s.confidence)?;
        d.set_item("consensus", s.consensus.map(Consensus::name))?;
        d.set_item("atr", s.atr)?;
        d.set_item("ema", s.ema)?;
        d.set_item("volume_24h", s.volume_24h)?;
        d.set_item("spread_bps", s.spread_bps)?;
        d.set_item("regime", s.regime)?;
        d.set_item("quantity", s.quantity)?;
        Ok(d)
    }

    /// Pickling rebuilds the signal from its fields, validating them again.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        Ok((PyTuple::empty(py), self.to_dict(py)?))
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        py_repr!("Signal"(s.symbol, s.side.name(), s.entry) [
            stop: s.stop,
            target: s.target,
            confidence: s.confidence,
            atr: s.atr,
            ema: s.ema,
            volume_24h: s.volume_24h,
            spread_bps: s.spread_bps,
            regime: s.regime,
            quantity: s.quantity,
            consensus: s.consensus.map(Consensus::name),
        ])
    }
}

getters!(PySignal, |self| {
    symbol: &str = &self.inner.symbol,
    side: &'static str = self.inner.side.name(),
    entry: f64,
    stop: Option<f64>,
    target: Option<f64>,
    confidence: Option<f64>,
    consensus: Option<&'static str> = self.inner.consensus.map(Consensus::name),
    atr: Option<f64>,
    ema: Option<f64>,
    volume_24h: Option<f64>,
    spread_bps: Option<f64>,
    regime: Option<f64>,
    quantity: Option<f64>,
});

/// One failed check: `code` (a stable SCREAMING_SNAKE name), `value` and `limit` (NaN where
/// none applies) and `message`.
#[pyclass(module = "riskguard", name = "Reason", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct PyReason {
    code: &'static str,
    value: f64,
    limit: f64,
    message: String,
}

#[pymethods]
impl PyReason {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("code", self.code)?;
        d.set_item("value", self.value)?;
        d.set_item("limit", self.limit)?;
        d.set_item("message", &self.message)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        py_repr!("Reason"(self.code) {
            value: self.value,
            limit: self.limit,
            message: self.message,
        })
    }
}

impl From<&core::Reason> for PyReason {
    fn from(r: &core::Reason) -> Self {
        Self {
            code: r.code.name(),
            value: r.value,
            limit: r.limit,
            message: r.message.clone(),
        }
    }
}

/// The gate's answer. `approved`; `symbol`; `side` ("long"/"short" for a signal, "buy"/"sell"
/// for an order); `quantity` (> 0 when approved); `entry`, `stop` and `target` prices (NaN
/// when none); `risk_amount` (quantity × distance to the stop, account currency), `risk_pct`
/// (of equity), `reward_risk`; `method` (the sizing method, "given" for a signal's own
/// quantity, "order" for `check_order`); `reasons`, every failed check in docs/gate.md's
/// order, and `codes`, their codes.
#[pyclass(module = "riskguard", name = "Decision", frozen)]
#[derive(Debug, Clone)]
pub struct PyDecision {
    inner: core::Decision,
}

getters!(PyDecision, |self| {
    approved: bool,
    symbol: &str = &self.inner.symbol,
    side: &'static str,
    quantity: f64,
    entry: f64,
    stop: f64,
    target: f64,
    risk_amount: f64,
    risk_pct: f64,
    reward_risk: f64,
    method: &'static str,
    reasons: Vec<PyReason> = self.inner.reasons.iter().map(PyReason::from).collect(),
    codes: Vec<&'static str> = self.inner.reasons.iter().map(|r| r.code.name()).collect(),
});

#[pymethods]
impl PyDecision {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let x = &self.inner;
        d.set_item("approved", x.approved)?;
        d.set_item("symbol", &x.symbol)?;
        d.set_item("side", x.side)?;
        d.set_item("quantity", x.quantity)?;
        d.set_item("entry", x.entry)?;
        d.set_item("stop", x.stop)?;
        d.set_item("target", x.target)?;
        d.set_item("risk_amount", x.risk_amount)?;
        d.set_item("risk_pct", x.risk_pct)?;
        d.set_item("reward_risk", x.reward_risk)?;
        d.set_item("method", x.method)?;
        let reasons: Vec<_> = self
            .reasons()
            .iter()
            .map(|r| r.to_dict(py))
            .collect::<PyResult<_>>()?;
        d.set_item("reasons", reasons)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let x = &self.inner;
        py_repr!("Decision" {
            approved: x.approved,
            symbol: x.symbol,
            side: x.side,
            quantity: x.quantity,
            entry: x.entry,
            stop: x.stop,
            target: x.target,
            risk_amount: x.risk_amount,
            reward_risk: x.reward_risk,
            method: x.method,
            codes: self.codes(),
        })
    }
}

/// One trade, open or closed (docs/gate.md, "Trades and exits"): `id` (opening order),
/// `symbol`, `side`, `state` (OPEN, BREAKEVEN, PARTIAL_TP, TRAILING, CLOSED_TP, CLOSED_SL,
/// CLOSED_TRAILING, CLOSED_TIME, CLOSED_BREAKER, CLOSED_MANUAL), `method`, `entry_ts`,
/// `entry_price` (average), `quantity` (the largest held), `initial_stop`, `stop`, `target`
/// (NaN when none), `exit_ts` (None while open), `exit_price` (average of the closing fills),
/// `pnl` (realized, net of fees), `r_multiple` (NaN unmanaged), `mfe` and `mae` (best and
/// worst excursion, money, ≥ 0) and `holding_ns`.
#[pyclass(module = "riskguard", name = "Trade", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct PyTrade {
    id: u64,
    symbol: String,
    side: &'static str,
    state: &'static str,
    method: &'static str,
    entry_ts: i64,
    entry_price: f64,
    quantity: f64,
    initial_stop: f64,
    stop: f64,
    target: f64,
    exit_ts: Option<i64>,
    exit_price: f64,
    pnl: f64,
    r_multiple: f64,
    mfe: f64,
    mae: f64,
    holding_ns: i64,
}

impl From<core::Trade> for PyTrade {
    fn from(t: core::Trade) -> Self {
        Self {
            id: t.id,
            symbol: t.symbol,
            side: t.side,
            state: t.state.name(),
            method: t.method,
            entry_ts: t.entry_ts,
            entry_price: t.entry_price,
            quantity: t.quantity,
            initial_stop: t.initial_stop,
            stop: t.stop,
            target: t.target,
            exit_ts: t.exit_ts,
            exit_price: t.exit_price,
            pnl: t.pnl,
            r_multiple: t.r_multiple,
            mfe: t.mfe,
            mae: t.mae,
            holding_ns: t.holding_ns,
        }
    }
}

#[pymethods]
impl PyTrade {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id)?;
        d.set_item("symbol", &self.symbol)?;
        d.set_item("side", self.side)?;
        d.set_item("state", self.state)?;
        d.set_item("method", self.method)?;
        d.set_item("entry_ts", self.entry_ts)?;
        d.set_item("entry_price", self.entry_price)?;
        d.set_item("quantity", self.quantity)?;
        d.set_item("initial_stop", self.initial_stop)?;
        d.set_item("stop", self.stop)?;
        d.set_item("target", self.target)?;
        d.set_item("exit_ts", self.exit_ts)?;
        d.set_item("exit_price", self.exit_price)?;
        d.set_item("pnl", self.pnl)?;
        d.set_item("r_multiple", self.r_multiple)?;
        d.set_item("mfe", self.mfe)?;
        d.set_item("mae", self.mae)?;
        d.set_item("holding_ns", self.holding_ns)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        py_repr!("Trade" {
            id: self.id,
            symbol: self.symbol,
            side: self.side,
            state: self.state,
            entry_price: self.entry_price,
            quantity: self.quantity,
            stop: self.stop,
            exit_price: self.exit_price,
            pnl: self.pnl,
            r_multiple: self.r_multiple,
        })
    }
}

#[pymethods]
impl PyRiskEngine {
    /// Checks, sizes and approves or refuses `signal` at `ts` (docs/gate.md): every failed
    /// check is a `Reason`, in order. An approved signal becomes its symbol's pending
    /// approval: the next fill on its side opens a managed trade with its stop and target.
    ///
    /// Raises RiskError: `signal` not a Signal; `ts` going backwards.
    fn evaluate_signal(
        &mut self,
        py: Python<'_>,
        signal: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
    ) -> PyResult<PyDecision> {
        let signal = signal.cast::<PySignal>().map_err(|_| {
            RiskError::new_err(format!("signal must be a Signal, got {}", kind(signal)))
        })?;
        let ts = int64(ts, "ts")?;
        let sig = &signal.get().inner;
        call(py, 0, || self.inner.evaluate_signal(sig, ts)).map(|inner| PyDecision { inner })
    }

    /// The order-level checks on a raw order of signed `qty` (+ buy, − sell) at `price`
    /// (docs/gate.md): state, size, notional, price collar, rate and duplicates. A reducing
    /// order gets only the collar and duplicate checks. An approved order counts toward the
    /// rate limit.
    ///
    /// Raises RiskError: an unknown id or empty name; `qty` zero or beyond ±1e15; `price` out of
    /// bounds; `ts` going backwards; `reduce_only` not a bool.
    #[pyo3(signature = (symbol, qty, price, ts, reduce_only=None))]
    fn check_order(
        &mut self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
        reduce_only: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyDecision> {
        let sym = symbol_ref(symbol)?;
        let (qty, price, ts) = (real(qty, "qty")?, real(price, "price")?, int64(ts, "ts")?);
        let reduce_only = reduce_only.map_or(Ok(false), |r| flag(r, "reduce_only"))?;
        call(py, 0, || {
            self.inner.check_order(sym, qty, price, ts, reduce_only)
        })
        .map(|inner| PyDecision { inner })
    }

    /// Feeds one bar of `symbol` to its ATR (Wilder, `atr_period`), EMA (`ema_period`) and
    /// bar-return window; `ts` is the bar's close time. A new name is interned. Marks nothing:
    /// feed ticks for that.
    ///
    /// Raises RiskError: a price out of bounds; `high < low` or open/close outside [low, high];
    /// volume negative or not finite; `ts` going backwards.
    #[allow(clippy::too_many_arguments)]
    fn on_bar(
        &mut self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let sym = symbol_ref(symbol)?;
        let (o, h, l, c) = (
            real(open, "open")?,
            real(high, "high")?,
            real(low, "low")?,
            real(close, "close")?,
        );
        let (v, ts) = (real(volume, "volume")?, int64(ts, "ts")?);
        call(py, 0, || self.inner.on_bar(sym, o, h, l, c, v, ts))
    }

    /// `{"atr": ..., "ema": ...}` of `symbol` from its bars, each None until ready.
    ///
    /// Raises RiskError: an unknown symbol.
    fn indicators<'py>(
        &self,
        py: Python<'py>,
        symbol: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let sym = symbol_ref(symbol)?;
        let (atr, ema) = call(py, 0, || self.inner.indicators(sym))?;
        let d = PyDict::new(py);
        d.set_item("atr", atr)?;
        d.set_item("ema", ema)?;
        Ok(d)
    }

    /// Sets (or clears, with None) the lot size that sizing rounds `symbol`'s quantities down
    /// to. A new name is interned.
    ///
    /// Raises RiskError: `lot_size` not finite and > 0.
    fn set_lot_size(
        &mut self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        lot_size: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let sym = symbol_ref(symbol)?;
        let lot = opt_real(Some(lot_size), "lot_size")?;
        call(py, 0, || self.inner.set_lot_size(sym, lot))
    }

    /// Correlations the gate uses for these pairs instead of its own from bar returns:
    /// `matrix[i][j]` for `symbols[i]` and `symbols[j]`. New names are interned.
    ///
    /// Raises RiskError: a matrix that is not a numeric (n, n) array-like, symmetric, with a
    /// unit diagonal and entries in [-1, 1]; duplicate or empty symbols.
    fn set_correlation(
        &mut self,
        py: Python<'_>,
        symbols: &Bound<'_, PyAny>,
        matrix: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let bad =
            |what: String| RiskError::new_err(format!("symbols must be a list of str, got {what}"));
        if symbols.is_instance_of::<pyo3::types::PyString>() {
            return Err(bad("str".into()));
        }
        let items: Vec<Bound<'_, PyAny>> = symbols
            .try_iter()
            .and_then(|it| it.collect::<PyResult<_>>())
            .map_err(|_| bad(kind(symbols)))?;
        let names = (items.iter().enumerate())
            .map(|(k, x)| {
                x.extract::<String>()
                    .map_err(|_| bad(format!("{} at [{k}]", kind(x))))
            })
            .collect::<PyResult<Vec<String>>>()?;
        let numeric = matrix
            .getattr("dtype")
            .and_then(|d| d.getattr("kind"))
            .and_then(|k| k.extract::<String>())
            .map_or(true, |k| "fiu".contains(k.as_str()));
        // Converting a complex or bool array would drop information silently: refuse it first.
        let converted = if numeric {
            py.import("numpy")?
                .call_method1("ascontiguousarray", (matrix, "float64"))
                .ok()
        } else {
            None
        };
        let m: PyReadonlyArray2<'_, f64> =
            converted.and_then(|a| a.extract().ok()).ok_or_else(|| {
                RiskError::new_err(format!(
                    "matrix must be a 2-D array-like of numbers, got {}",
                    kind(matrix)
                ))
            })?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let view = m.as_array();
        call(py, 0, || self.inner.set_correlation(&refs, view))
    }

    /// Every trade in opening order, open ones with their live stop, P&L and excursions.
    fn trades(&self) -> Vec<PyTrade> {
        self.inner.trades().into_iter().map(PyTrade::from).collect()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySignal>()?;
    m.add_class::<PyReason>()?;
    m.add_class::<PyDecision>()?;
    m.add_class::<PyTrade>()?;
    Ok(())
}
