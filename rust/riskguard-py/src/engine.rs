//! Bindings of `riskguard_core::engine`: the risk engine, its limits, events and snapshots.
//! Conversion only; every rule lives in the core.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple, PyType};
use riskguard_core::engine::{
    self as core, Breaker, LimitValue, PartialSpec, RiskEngine as CoreEngine, SettingValue,
};

use crate::convert::{describe_value, flag, int64, kind, real, slice, symbol, text};
use crate::macros::{PyRepr, getters, py_repr, setting_getters};
use crate::{RiskError, call};

/// The engine's trading state.
#[pyclass(module = "riskguard", name = "TradingState", eq, eq_int, frozen, hash)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum PyTradingState {
    /// Normal trading.
    ACTIVE,
    /// Only risk-reducing orders.
    REDUCING,
    /// No new risk; exits allowed.
    HALTED,
}

impl From<core::TradingState> for PyTradingState {
    fn from(s: core::TradingState) -> Self {
        match s {
            core::TradingState::Active => Self::ACTIVE,
            core::TradingState::Reducing => Self::REDUCING,
            core::TradingState::Halted => Self::HALTED,
        }
    }
}

#[pymethods]
impl PyTradingState {
    /// `"ACTIVE"`, `"REDUCING"` or `"HALTED"`.
    #[getter]
    fn name(&self) -> &'static str {
        match self {
            Self::ACTIVE => "ACTIVE",
            Self::REDUCING => "REDUCING",
            Self::HALTED => "HALTED",
        }
    }

    fn __str__(&self) -> &'static str {
        self.name()
    }
}

/// Reprs show the state by its bare name (`state=HALTED`), as `str(state)` does.
impl PyRepr for PyTradingState {
    fn py_repr(&self) -> String {
        self.name().into()
    }
}

/// A breaker's settings: `threshold`, plus optional overrides of its default `action`,
/// `cooldown_s`, `latched` and `fraction`. Fields left `None` take the breaker's defaults
/// when the spec is given to `Limits`, which also validates it.
#[pyclass(module = "riskguard", name = "BreakerSpec", frozen, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct PyBreakerSpec {
    #[pyo3(get)]
    threshold: f64,
    #[pyo3(get)]
    action: Option<String>,
    #[pyo3(get)]
    cooldown_s: Option<f64>,
    #[pyo3(get)]
    latched: Option<bool>,
    #[pyo3(get)]
    fraction: Option<f64>,
}

#[pymethods]
impl PyBreakerSpec {
    #[new]
    #[pyo3(signature = (threshold, *, action=None, cooldown_s=None, latched=None, fraction=None))]
    fn new(
        threshold: &Bound<'_, PyAny>,
        action: Option<&Bound<'_, PyAny>>,
        cooldown_s: Option<&Bound<'_, PyAny>>,
        latched: Option<&Bound<'_, PyAny>>,
        fraction: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        fn given<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
            v.filter(|v| !v.is_none())
        }
        Ok(Self {
            threshold: real(threshold, "threshold")?,
            action: given(action)
                .map(|a| text(a, "action").map(str::to_owned))
                .transpose()?,
            cooldown_s: given(cooldown_s)
                .map(|c| real(c, "cooldown_s"))
                .transpose()?,
            latched: given(latched).map(|l| flag(l, "latched")).transpose()?,
            fraction: given(fraction).map(|f| real(f, "fraction")).transpose()?,
        })
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("threshold", self.threshold)?;
        d.set_item("action", &self.action)?;
        d.set_item("cooldown_s", self.cooldown_s)?;
        d.set_item("latched", self.latched)?;
        d.set_item("fraction", self.fraction)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        py_repr!("BreakerSpec"(self.threshold) [
            action: self.action,
            cooldown_s: self.cooldown_s,
            latched: self.latched,
            fraction: self.fraction,
        ])
    }
}

impl From<&core::BreakerSpec> for PyBreakerSpec {
    fn from(s: &core::BreakerSpec) -> Self {
        Self {
            threshold: s.threshold,
            action: Some(s.action.name().to_owned()),
            cooldown_s: Some(s.cooldown_s),
            latched: Some(s.latched),
            fraction: Some(s.fraction),
        }
    }
}

fn limit_value(name: &str, obj: &Bound<'_, PyAny>) -> LimitValue {
    if obj.is_none() {
        return LimitValue::Off;
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return LimitValue::Bool(b.is_true());
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return match obj.extract::<Vec<String>>() {
            Ok(names) => LimitValue::List(names),
            Err(_) => LimitValue::Invalid(format!("{} of non-str items", kind(obj))),
        };
    }
    if let Ok(spec) = obj.cast::<PyBreakerSpec>() {
        return LimitValue::Spec(spec.get().partial());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        if !Breaker::CONFIGURABLE.iter().any(|b| b.name() == name) {
            return LimitValue::Invalid("dict".into());
        }
        return match PyBreakerSpec::new_from_dict(d) {
            Ok(s) => LimitValue::Spec(s.partial()),
            Err(e) => LimitValue::Malformed(e.value(obj.py()).to_string()),
        };
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return LimitValue::Text(s.to_string());
    }
    match real(obj, "value") {
        Ok(x) => LimitValue::Number(x),
        Err(_) => LimitValue::Invalid(kind(obj)),
    }
}

impl PyBreakerSpec {
    fn partial(&self) -> PartialSpec {
        PartialSpec {
            threshold: self.threshold,
            action: self.action.clone(),
            cooldown_s: self.cooldown_s,
            latched: self.latched,
            fraction: self.fraction,
        }
    }

    fn new_from_dict(d: &Bound<'_, PyDict>) -> PyResult<Self> {
        const KEYS: [&str; 5] = ["threshold", "action", "cooldown_s", "latched", "fraction"];
        for k in d.keys() {
            if !k.extract::<&str>().is_ok_and(|k| KEYS.contains(&k)) {
                return Err(RiskError::new_err(format!(
                    "{} is not a field; fields are {}",
                    describe_value(&k),
                    KEYS.join(", ")
                )));
            }
        }
        let get = |k| d.get_item(k).ok().flatten();
        let threshold =
            get("threshold").ok_or_else(|| RiskError::new_err("threshold is missing"))?;
        Self::new(
            &threshold,
            get("action").as_ref(),
            get("cooldown_s").as_ref(),
            get("latched").as_ref(),
            get("fraction").as_ref(),
        )
    }
}

/// Every breaker's limits, the session clock and the gate, sizing and exit settings,
/// validated with every problem listed at once.
///
/// `Limits(**kwargs)` or `Limits.from_dict(d)`. Each breaker keyword (`daily_loss`,
/// `weekly_loss`, `monthly_loss`, `max_drawdown`, `position_loss`, `volatility_spike`,
/// `leverage`, `concentration`, `portfolio_heat`, `consecutive_losses`) takes a threshold, None
/// to switch it off, or a `BreakerSpec` (or its dict) for full control; unnamed breakers keep
/// their defaults (DESIGN.md's table). The session clock: `reset_time` ("HH:MM", when the
/// daily session starts) and `utc_offset` ("+HH:MM"); weeks start on Monday, months on the
/// 1st. `volatility_lambda` (0.94) and `volatility_warmup` (20 returns) tune the
/// volatility-spike score.
///
/// Thresholds: losses, drawdown and position loss in (0, 1]; volatility spike in sigmas, in
/// (0, 1e6]; leverage as a multiple, concentration and heat as fractions of equity, all > 0;
/// consecutive losses a whole number ≥ 1.
///
/// Gate, sizing and exit settings (`risk_per_trade`, `max_position_pct`, `sizing`, `sl_atr`,
/// ...) are keywords too, and attributes: docs/gate.md lists each with its default and domain.
/// A numeric one is switched off with None. Raises RiskError listing every problem.
#[pyclass(module = "riskguard", name = "Limits", frozen, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct PyLimits {
    pub(crate) inner: core::Limits,
}

impl PyLimits {
    fn spec(&self, b: Breaker) -> Option<PyBreakerSpec> {
        self.inner.spec(b).map(PyBreakerSpec::from)
    }

    fn build(entries: Vec<(String, Bound<'_, PyAny>)>) -> riskguard_core::Result<Self> {
        let values: Vec<(String, LimitValue)> = entries
            .iter()
            .map(|(k, v)| (k.clone(), limit_value(k, v)))
            .collect();
        let inner = core::Limits::build(values.iter().map(|(k, v)| (k.as_str(), v.clone())))?;
        Ok(Self { inner })
    }

    /// The entries of a dict; a key that is not a str goes through as its repr, so the core
    /// lists it as an unknown name together with every other problem.
    fn entries<'py>(d: &Bound<'py, PyAny>) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
        let d = d.cast::<PyDict>().map_err(|_| {
            RiskError::new_err(format!("d must be a dict, got {}", describe_value(d)))
        })?;
        Ok(d.iter()
            .map(|(k, v)| {
                let name = k.extract::<String>().unwrap_or_else(|_| describe_value(&k));
                (name, v)
            })
            .collect())
    }
}

#[pymethods]
impl PyLimits {
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::from_dict(kwargs.unwrap_or(&PyDict::new(py)))
    }

    /// Limits from a mapping such as `to_dict()` gives: a breaker maps to a threshold, `None`,
    /// a `BreakerSpec` or a dict of its fields.
    #[staticmethod]
    fn from_dict(d: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::build(Self::entries(d)?).map_err(|e| RiskError::new_err(e.to_string()))
    }

    /// Every problem `Limits.from_dict(d)` would raise, one string each, each starting with
    /// the name it concerns; empty when `d` is valid.
    ///
    /// Raises RiskError: `d` not a dict.
    #[staticmethod]
    fn problems(d: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        Ok(match Self::build(Self::entries(d)?) {
            Ok(_) => Vec::new(),
            Err(riskguard_core::RiskError::InvalidLimits(problems)) => problems,
            Err(e) => vec![e.to_string()],
        })
    }

    /// Plain data: each breaker as a dict of its fields (or `None` when off), then the session
    /// settings. `Limits.from_dict(l.to_dict()) == l`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for b in Breaker::CONFIGURABLE {
            match self.spec(b) {
                Some(s) => d.set_item(b.name(), s.to_dict(py)?)?,
                None => d.set_item(b.name(), py.None())?,
            }
        }
        d.set_item("reset_time", self.inner.reset_time())?;
        d.set_item("utc_offset", self.inner.utc_offset())?;
        d.set_item("volatility_lambda", self.inner.volatility_lambda)?;
        d.set_item("volatility_warmup", self.inner.volatility_warmup)?;
        for (name, value) in self.inner.policy.entries() {
            d.set_item(name, setting(py, value)?)?;
        }
        Ok(d)
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyDict>,))> {
        let ctor = py.get_type::<PyLimits>().getattr("from_dict")?;
        Ok((ctor, (self.to_dict(py)?,)))
    }

    fn __repr__(&self) -> String {
        let specs: Vec<String> = Breaker::CONFIGURABLE
            .iter()
            .map(|&b| match self.spec(b) {
                Some(s) => format!("{}={}", b.name(), s.__repr__()),
                None => format!("{}=None", b.name()),
            })
            .collect();
        // Settings show only where they differ from the defaults, to keep the repr readable.
        let defaults = core::policy::Policy::default().entries();
        let settings: String = (self.inner.policy.entries().into_iter().zip(defaults))
            .filter(|(a, b)| a != b)
            .map(|((name, v), _)| format!(", {name}={}", show_setting(&v)))
            .collect();
        format!(
            "Limits({}, reset_time={:?}, utc_offset={:?}, volatility_lambda={}, volatility_warmup={}{settings})",
            specs.join(", "),
            self.inner.reset_time(),
            self.inner.utc_offset(),
            self.inner.volatility_lambda,
            self.inner.volatility_warmup
        )
    }
}

getters!(PyLimits, |self| {
    daily_loss: Option<PyBreakerSpec> = self.spec(Breaker::DailyLoss),
    weekly_loss: Option<PyBreakerSpec> = self.spec(Breaker::WeeklyLoss),
    monthly_loss: Option<PyBreakerSpec> = self.spec(Breaker::MonthlyLoss),
    max_drawdown: Option<PyBreakerSpec> = self.spec(Breaker::MaxDrawdown),
    position_loss: Option<PyBreakerSpec> = self.spec(Breaker::PositionLoss),
    volatility_spike: Option<PyBreakerSpec> = self.spec(Breaker::VolatilitySpike),
    leverage: Option<PyBreakerSpec> = self.spec(Breaker::Leverage),
    concentration: Option<PyBreakerSpec> = self.spec(Breaker::Concentration),
    portfolio_heat: Option<PyBreakerSpec> = self.spec(Breaker::PortfolioHeat),
    consecutive_losses: Option<PyBreakerSpec> = self.spec(Breaker::ConsecutiveLosses),
    reset_time: String = self.inner.reset_time(),
    utc_offset: String = self.inner.utc_offset(),
    volatility_lambda: f64,
    volatility_warmup: u64,
});

impl PyLimits {
    fn setting<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let (_, value) = (self.inner.policy.entries().into_iter())
            .find(|(n, _)| *n == name)
            .expect("every getter names a setting");
        setting(py, value)
    }
}

setting_getters!(PyLimits:
    risk_per_trade,
    trade_amount,
    kelly_fraction,
    kelly_cap,
    kelly_min_trades,
    target_volatility,
    max_risk_per_trade,
    max_position_pct,
    max_position_notional,
    min_notional,
    min_reward_risk,
    max_heat,
    max_positions,
    max_exposure,
    max_correlation,
    correlation_window,
    correlation_min_obs,
    min_confidence,
    high_vol_confidence,
    max_atr_ratio,
    min_volume_24h,
    max_spread_bps,
    price_collar,
    max_orders_per_second,
    duplicate_window_s,
    atr_period,
    ema_period,
    sl_atr,
    tp_atr,
    breakeven_r,
    breakeven_offset,
    partial_tp_r,
    partial_tp_fraction,
    trail_start_r,
    trail_atr,
    max_hours_no_progress,
    max_bars_no_progress,
    high_vol_atr_ratio,
    sizing,
    consensus_methods,
    consensus_mode,
    allowed_consensus,
    signal_filters,
    require_trend,
);

fn setting<'py>(py: Python<'py>, value: SettingValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        SettingValue::Number(x) => x.into_pyobject(py)?.into_any(),
        SettingValue::Whole(x) => x.into_pyobject(py)?.into_any(),
        SettingValue::Text(t) => t.into_pyobject(py)?.into_any(),
        SettingValue::List(l) => l.into_pyobject(py)?.into_any(),
        SettingValue::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
    })
}

fn show_setting(value: &SettingValue) -> String {
    let names = |l: &[&str]| {
        l.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match value {
        SettingValue::Number(Some(x)) => format!("{x}"),
        SettingValue::Whole(Some(x)) => format!("{x}"),
        SettingValue::Number(None) | SettingValue::Whole(None) | SettingValue::List(None) => {
            "None".into()
        }
        SettingValue::Text(t) => format!("{t:?}"),
        SettingValue::List(Some(l)) => format!("[{}]", names(l)),
        SettingValue::Bool(b) => if *b { "True" } else { "False" }.into(),
    }
}

/// Something the engine reported.
///
/// - `kind`: `breaker_tripped`, `breaker_recovered`, `state_changed`, `stop_hit`,
///   `kill_switch`, `flatten_requested`, `reduce_requested`, `exit_signal`, `paused` or
///   `resumed` (stable names);
/// - `breaker`: the breaker concerned or causing it, else None; `symbol`: or None;
/// - `value`: the metric, mark, quantity held or fraction to cut; `threshold`: the threshold
///   or stop; NaN where they do not apply;
/// - `action`: the breaker's action; `ts`: ns; `state`: the trading state after the event;
///   `message`: for people;
/// - `reason`: for `exit_signal`, why (`stop_loss`, `breakeven_stop`, `trailing_stop`,
///   `take_profit`, `partial_take_profit`, `time`), with `value` the quantity to close and
///   `threshold` the level crossed; else None.
#[pyclass(module = "riskguard", name = "Event", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct PyEvent {
    kind: &'static str,
    breaker: Option<&'static str>,
    symbol: Option<String>,
    value: f64,
    threshold: f64,
    action: Option<&'static str>,
    ts: i64,
    message: String,
    state: PyTradingState,
    reason: Option<&'static str>,
}

#[pymethods]
impl PyEvent {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind)?;
        d.set_item("breaker", self.breaker)?;
        d.set_item("symbol", &self.symbol)?;
        d.set_item("value", self.value)?;
        d.set_item("threshold", self.threshold)?;
        d.set_item("action", self.action)?;
        d.set_item("ts", self.ts)?;
        d.set_item("message", &self.message)?;
        d.set_item("state", self.state.name())?;
        d.set_item("reason", self.reason)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        py_repr!("Event" {
            kind: self.kind,
            breaker: self.breaker,
            symbol: self.symbol,
            value: self.value,
            threshold: self.threshold,
            action: self.action,
            ts: self.ts,
            state: self.state,
            reason: self.reason,
            message: self.message,
        })
    }
}

/// One open position: signed `qty`, `avg_price`, `mark`, `unrealized_pnl`, `realized_pnl`
/// (since it opened, net of fees) and `stop` (or None).
#[pyclass(module = "riskguard", name = "PositionSnapshot", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct PyPositionSnapshot {
    symbol: String,
    qty: f64,
    avg_price: f64,
    mark: f64,
    unrealized_pnl: f64,
    realized_pnl: f64,
    stop: Option<f64>,
}

#[pymethods]
impl PyPositionSnapshot {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("symbol", &self.symbol)?;
        d.set_item("qty", self.qty)?;
        d.set_item("avg_price", self.avg_price)?;
        d.set_item("mark", self.mark)?;
        d.set_item("unrealized_pnl", self.unrealized_pnl)?;
        d.set_item("realized_pnl", self.realized_pnl)?;
        d.set_item("stop", self.stop)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        py_repr!("PositionSnapshot" {
            symbol: self.symbol,
            qty: self.qty,
            avg_price: self.avg_price,
            mark: self.mark,
            unrealized_pnl: self.unrealized_pnl,
            realized_pnl: self.realized_pnl,
            stop: self.stop,
        })
    }
}

/// The engine's state at its last timestamp `ts`. Losses, drawdown, leverage, concentration
/// and heat are fractions of equity; session-open equity is the equity carried into the day,
/// week or month. `paused` is whether new risk is paused (`RiskEngine.pause`), which `state`
/// does not show. `positions` maps each symbol with an open position to its
/// `PositionSnapshot`. `to_dict()` gives the same as plain data.
#[pyclass(module = "riskguard", name = "Snapshot", frozen, get_all)]
pub struct PySnapshot {
    ts: i64,
    equity: f64,
    cash: f64,
    peak_equity: f64,
    drawdown: f64,
    day_open_equity: f64,
    day_loss: f64,
    week_open_equity: f64,
    week_loss: f64,
    month_open_equity: f64,
    month_loss: f64,
    gross_exposure: f64,
    net_exposure: f64,
    leverage: f64,
    concentration: f64,
    heat: f64,
    state: PyTradingState,
    paused: bool,
    consecutive_losses: u32,
    realized_pnl: f64,
    positions: Py<PyDict>,
}

#[pymethods]
impl PySnapshot {
    /// The same fields as a dict; `state` as its name, positions as dicts.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let scalars = [
            ("equity", self.equity),
            ("cash", self.cash),
            ("peak_equity", self.peak_equity),
            ("drawdown", self.drawdown),
            ("day_open_equity", self.day_open_equity),
            ("day_loss", self.day_loss),
            ("week_open_equity", self.week_open_equity),
            ("week_loss", self.week_loss),
            ("month_open_equity", self.month_open_equity),
            ("month_loss", self.month_loss),
            ("gross_exposure", self.gross_exposure),
            ("net_exposure", self.net_exposure),
            ("leverage", self.leverage),
            ("concentration", self.concentration),
            ("heat", self.heat),
        ];
        d.set_item("ts", self.ts)?;
        for (k, v) in scalars {
            d.set_item(k, v)?;
        }
        d.set_item("state", self.state.name())?;
        d.set_item("paused", self.paused)?;
        d.set_item("consecutive_losses", self.consecutive_losses)?;
        d.set_item("realized_pnl", self.realized_pnl)?;
        let positions = PyDict::new(py);
        for (k, v) in self.positions.bind(py).iter() {
            positions.set_item(k, v.cast::<PyPositionSnapshot>()?.get().to_dict(py)?)?;
        }
        d.set_item("positions", positions)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        py_repr!("Snapshot" {
            ts: self.ts,
            state: self.state,
            paused: self.paused,
            equity: self.equity,
            drawdown: self.drawdown,
            day_loss: self.day_loss,
            gross_exposure: self.gross_exposure,
            leverage: self.leverage,
            heat: self.heat,
            positions: self.positions.bind(py).len(),
        })
    }
}

/// One breaker's status: `status` is `"off"`, `"armed"` or `"tripped"`; `value` its current
/// metric; `tripped_at` and `cooldown_until` (ns) while tripped.
#[pyclass(module = "riskguard", name = "BreakerStatus", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct PyBreakerStatus {
    name: &'static str,
    status: &'static str,
    value: f64,
    threshold: f64,
    action: Option<&'static str>,
    latched: bool,
    tripped_at: Option<i64>,
    cooldown_until: Option<i64>,
}

#[pymethods]
impl PyBreakerStatus {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("name", self.name)?;
        d.set_item("status", self.status)?;
        d.set_item("value", self.value)?;
        d.set_item("threshold", self.threshold)?;
        d.set_item("action", self.action)?;
        d.set_item("latched", self.latched)?;
        d.set_item("tripped_at", self.tripped_at)?;
        d.set_item("cooldown_until", self.cooldown_until)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        py_repr!("BreakerStatus" {
            name: self.name,
            status: self.status,
            value: self.value,
            threshold: self.threshold,
            action: self.action,
            tripped_at: self.tripped_at,
        })
    }
}

/// The risk engine: a deterministic state machine that marks a portfolio to market on every
/// tick and fill and runs every circuit breaker in the same step.
///
/// `RiskEngine(limits=None, equity=100_000.0, ts=0)` starts flat with `equity` in cash at `ts`.
/// `limits` is a `Limits`, a dict for `Limits.from_dict`, or None for the defaults.
///
/// Conventions (docs/engine.md has the full contract):
/// - every timestamp `ts` is int nanoseconds since the Unix epoch, UTC, and may not go
///   backwards (equal is allowed);
/// - a symbol is a str or the int id `symbol_id` interned for it;
/// - quantities are signed (+ long, − short), within ±1e15; prices and stops lie in
///   [1e-15, 1e15]; fees and the starting equity in [0, 1e20], so no sum can overflow;
/// - losses, drawdown, leverage, concentration and heat are fractions of equity (0.05 = 5 %);
/// - every call that fails raises `RiskError` and leaves the engine exactly as it was.
///
/// The state survives restarts through `to_bytes()`/`from_bytes()` (pickle too): latched
/// breakers and the kill switch stay engaged until `reset(..., confirm=True)`, and a `pause`
/// stays in force until `resume`.
#[pyclass(module = "riskguard", name = "RiskEngine")]
pub struct PyRiskEngine {
    pub(crate) inner: CoreEngine,
}

impl PyRiskEngine {
    pub(crate) fn events(&self, events: Vec<core::Event>) -> Vec<PyEvent> {
        events
            .into_iter()
            .map(|e| PyEvent {
                kind: e.kind.name(),
                breaker: e.breaker.map(Breaker::name),
                symbol: e
                    .symbol
                    .and_then(|i| self.inner.symbols().get(i as usize).cloned()),
                value: e.value,
                threshold: e.threshold,
                action: e.action.map(core::Action::name),
                ts: e.ts,
                message: self.inner.describe(&e),
                state: e.state.into(),
                reason: e.reason.map(core::ExitReason::name),
            })
            .collect()
    }
}

#[pymethods]
impl PyRiskEngine {
    #[new]
    #[pyo3(signature = (limits=None, equity=None, ts=None))]
    fn new(
        py: Python<'_>,
        limits: Option<&Bound<'_, PyAny>>,
        equity: Option<&Bound<'_, PyAny>>,
        ts: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let limits = match limits {
            None => core::Limits::default(),
            Some(l) if l.is_none() => core::Limits::default(),
            Some(l) => match l.cast::<PyLimits>() {
                Ok(l) => l.get().inner.clone(),
                Err(_) => match l.cast::<PyDict>() {
                    Ok(d) => PyLimits::from_dict(d)?.inner,
                    Err(_) => {
                        return Err(RiskError::new_err(format!(
                            "limits must be a Limits or a dict, got {}",
                            kind(l)
                        )));
                    }
                },
            },
        };
        let equity = equity.map_or(Ok(100_000.0), |e| real(e, "equity"))?;
        let ts = ts.map_or(Ok(0), |t| int64(t, "ts"))?;
        let inner = call(py, 0, || CoreEngine::new(limits, equity, ts))?;
        Ok(Self { inner })
    }

    /// The int id of `symbol`, interning it on first use. Ids index the arrays of `on_ticks`.
    ///
    /// Raises RiskError: `symbol` not a non-empty str.
    fn symbol_id(&mut self, py: Python<'_>, symbol: &Bound<'_, PyAny>) -> PyResult<u32> {
        let name = symbol
            .cast::<PyString>()
            .map_err(|_| RiskError::new_err(format!("symbol must be a str, got {}", kind(symbol))))?
            .to_str()?;
        call(py, 0, || self.inner.symbol_id(name))
    }

    /// Records a fill of signed `qty` (+ buy, − sell) at `price`, paying `fee` (≥ 0, in
    /// account currency), then runs every breaker. Tracks the average price, realized P&L
    /// (net of fees), partial closes and flips; a close counts toward the losing streak. The
    /// fill's price becomes the symbol's mark. A new str symbol is interned.
    ///
    /// Returns the events, in order. Raises RiskError: `qty` zero or out of bounds (alone or
    /// with the position held); `price` or `fee` out of bounds; `ts` going backwards; an
    /// unknown id.
    #[pyo3(signature = (symbol, qty, price, ts, fee=None))]
    fn on_fill(
        &mut self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
        fee: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyEvent>> {
        let sym = self::symbol(symbol)?;
        let (qty, price, ts) = (real(qty, "qty")?, real(price, "price")?, int64(ts, "ts")?);
        let fee = fee.map_or(Ok(0.0), |f| real(f, "fee"))?;
        let mut out = Vec::new();
        call(py, 0, || {
            self.inner.on_fill(sym, qty, price, ts, fee, &mut out)
        })?;
        Ok(self.events(out))
    }

    /// Sets the stop of an open position (or clears it with None). Heat uses it at once; the
    /// next tick reports `stop_hit` once when a long's mark is at or below it (a short's at or
    /// above). A close clears the stop.
    ///
    /// Raises RiskError: an unknown symbol; no open position; a price out of bounds.
    #[pyo3(signature = (symbol, price))]
    fn set_stop(
        &mut self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let sym = self::symbol(symbol)?;
        let stop = price.map(|p| real(p, "price")).transpose()?;
        call(py, 0, || self.inner.set_stop(sym, stop))
    }

    /// Marks `symbol` to `price` at `ts`, updates every metric (equity, peak, session losses,
    /// exposure, heat, the symbol's EWMA volatility) and runs every breaker.
    ///
    /// Returns the events, in order: empty on a quiet tick. A trip is reported once per
    /// transition. Raises RiskError: an unknown symbol; `price` NaN, infinite or outside
    /// [1e-15, 1e15]; `ts` going backwards.
    fn on_tick(
        &mut self,
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PyEvent>> {
        let sym = self::symbol(symbol)?;
        let (price, ts) = (real(price, "price")?, int64(ts, "ts")?);
        let mut out = Vec::new();
        call(py, 0, || self.inner.on_tick(sym, price, ts, &mut out))?;
        Ok(self.events(out))
    }

    /// `on_tick` over arrays: `symbol_ids` (uint32), `prices` (float64), `ts` (int64), all 1-D
    /// and of equal length. The whole batch is checked first, then applied, with the GIL
    /// released for batches of 10,000 ticks or more; the result equals calling `on_tick` in a
    /// loop. Another thread must not write to the arrays during the call.
    ///
    /// Raises RiskError: another dtype or shape; unequal lengths; any unknown id, bad price or
    /// timestamp going backwards (named with its index). Nothing is applied then.
    fn on_ticks(
        &mut self,
        py: Python<'_>,
        symbol_ids: &Bound<'_, PyAny>,
        prices: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PyEvent>> {
        let (a, b, c) = (
            symbol_ids.extract().ok(),
            prices.extract().ok(),
            ts.extract().ok(),
        );
        let ids = slice::<u32>(&a, symbol_ids, "symbol_ids", "uint32")?;
        let px = slice::<f64>(&b, prices, "prices", "float64")?;
        let t = slice::<i64>(&c, ts, "ts", "int64")?;
        let mut out = Vec::new();
        let engine = &mut self.inner;
        call(py, ids.len(), || engine.on_ticks(&ids, &px, &t, &mut out))?;
        Ok(self.events(out))
    }

    /// Engages the latched kill switch: HALTED, and `flatten_requested` for every open
    /// position. Only `reset("kill_switch", ts, confirm=True)` disengages it, and it survives
    /// `to_bytes`/`from_bytes`. Killing an engaged engine does nothing.
    ///
    /// Raises RiskError: `reason` not a str; `ts` going backwards.
    fn kill(
        &mut self,
        py: Python<'_>,
        reason: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PyEvent>> {
        let reason = text(reason, "reason")?;
        let ts = int64(ts, "ts")?;
        let mut out = Vec::new();
        call(py, 0, || self.inner.kill(reason, ts, &mut out))?;
        Ok(self.events(out))
    }

    /// Pauses new risk: until `resume`, `evaluate_signal` and `check_order` refuse it with
    /// `TRADING_PAUSED`, while risk-reducing orders still pass. The trading state is unchanged
    /// and nothing is flattened: a pause is not a breaker, and `reset` does not lift it. It
    /// survives `to_bytes`/`from_bytes`. Returns one `paused` event; pausing a paused engine
    /// does nothing (the first reason is kept).
    ///
    /// Raises RiskError: `reason` not a str; `ts` going backwards.
    fn pause(
        &mut self,
        py: Python<'_>,
        reason: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PyEvent>> {
        let reason = text(reason, "reason")?;
        let ts = int64(ts, "ts")?;
        let mut out = Vec::new();
        call(py, 0, || self.inner.pause(reason, ts, &mut out))?;
        Ok(self.events(out))
    }

    /// Lifts a `pause`. Returns one `resumed` event; resuming an engine that is not paused
    /// does nothing.
    ///
    /// Raises RiskError: `ts` going backwards.
    fn resume(&mut self, py: Python<'_>, ts: &Bound<'_, PyAny>) -> PyResult<Vec<PyEvent>> {
        let ts = int64(ts, "ts")?;
        let mut out = Vec::new();
        call(py, 0, || self.inner.resume(ts, &mut out))?;
        Ok(self.events(out))
    }

    /// Re-arms breaker `name` (a `Limits` name, or `"kill_switch"`) and returns the events.
    /// `max_drawdown` re-bases the peak to the current equity; `consecutive_losses` clears the
    /// streak; `position_loss` re-arms every position. A breaker that is not tripped gives no
    /// event.
    ///
    /// Raises RiskError: `confirm` not True (a bool is required); an unknown name; `ts` going
    /// backwards.
    #[pyo3(signature = (name, ts, confirm=None))]
    fn reset(
        &mut self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
        confirm: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyEvent>> {
        let name = text(name, "name")?;
        let confirm = confirm.map_or(Ok(false), |c| flag(c, "confirm"))?;
        let ts = int64(ts, "ts")?;
        let mut out = Vec::new();
        call(py, 0, || self.inner.reset(name, ts, confirm, &mut out))?;
        Ok(self.events(out))
    }

    /// The state at the last timestamp, as a `Snapshot`.
    fn snapshot(&self, py: Python<'_>) -> PyResult<PySnapshot> {
        let s = self.inner.snapshot();
        let positions = PyDict::new(py);
        for p in s.positions {
            let symbol = p.symbol.clone();
            let p = PyPositionSnapshot {
                symbol: p.symbol,
                qty: p.qty,
                avg_price: p.avg_price,
                mark: p.mark,
                unrealized_pnl: p.unrealized_pnl,
                realized_pnl: p.realized_pnl,
                stop: p.stop,
            };
            positions.set_item(symbol, p)?;
        }
        Ok(PySnapshot {
            ts: s.ts,
            equity: s.equity,
            cash: s.cash,
            peak_equity: s.peak_equity,
            drawdown: s.drawdown,
            day_open_equity: s.day_open_equity,
            day_loss: s.day_loss,
            week_open_equity: s.week_open_equity,
            week_loss: s.week_loss,
            month_open_equity: s.month_open_equity,
            month_loss: s.month_loss,
            gross_exposure: s.gross_exposure,
            net_exposure: s.net_exposure,
            leverage: s.leverage,
            concentration: s.concentration,
            heat: s.heat,
            state: s.state.into(),
            paused: s.paused,
            consecutive_losses: s.consecutive_losses,
            realized_pnl: s.realized_pnl,
            positions: positions.unbind(),
        })
    }

    /// Every breaker's status, in evaluation order, the kill switch last.
    fn breakers(&self) -> Vec<PyBreakerStatus> {
        self.inner
            .breaker_statuses()
            .into_iter()
            .map(|b| PyBreakerStatus {
                name: b.breaker.name(),
                status: b.status.name(),
                value: b.value,
                threshold: b.threshold,
                action: b.action.map(core::Action::name),
                latched: b.latched,
                tripped_at: b.tripped_at,
                cooldown_until: b.cooldown_until,
            })
            .collect()
    }

    /// The whole state as versioned, CRC-32-checked bytes (limits included, floats bit for
    /// bit).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// Restores an engine from `to_bytes()`; it answers every later call exactly as the
    /// original would.
    ///
    /// Raises RiskError: bytes that are not a snapshot, truncated or corrupt bytes, another
    /// format version, or an inconsistent state.
    #[classmethod]
    fn from_bytes(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let data = data
            .cast::<PyBytes>()
            .map_err(|_| RiskError::new_err(format!("data must be bytes, got {}", kind(data))))?
            .as_bytes();
        let inner = call(py, 0, || CoreEngine::from_bytes(data))?;
        Ok(Self { inner })
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let ctor = py.get_type::<PyRiskEngine>().getattr("from_bytes")?;
        Ok((ctor, (self.to_bytes(py),)))
    }

    fn __repr__(&self) -> String {
        py_repr!("RiskEngine" {
            state: PyTradingState::from(self.inner.state()),
            paused: self.inner.paused(),
            symbols: self.inner.symbols().len(),
            ts: self.inner.ts(),
        })
    }
}

getters!(PyRiskEngine, |self| {
    /// Interned symbols, in id order.
    symbols: Vec<String> = self.inner.symbols().to_vec(),
    /// The trading state: the most severe action among the tripped breakers.
    state: PyTradingState = self.inner.state().into(),
    /// Whether new risk is paused (`pause` until `resume`).
    paused: bool = self.inner.paused(),
    /// The last timestamp seen (ns).
    ts: i64 = self.inner.ts(),
    /// The engine's limits.
    limits: PyLimits = PyLimits {
        inner: self.inner.limits().clone(),
    },
});

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTradingState>()?;
    m.add_class::<PyBreakerSpec>()?;
    m.add_class::<PyLimits>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyPositionSnapshot>()?;
    m.add_class::<PySnapshot>()?;
    m.add_class::<PyBreakerStatus>()?;
    m.add_class::<PyRiskEngine>()?;
    Ok(())
}
