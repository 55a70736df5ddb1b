//! Bindings of `riskguard_core::replay`: `ReplayInstrument`, `replay` and `replay_sweep`.
//! Conversion, GIL release and error mapping only; the rules are in the core (docs/engine.md,
//! "Replay").

use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray3};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyDict, PyList};
use riskguard_core::engine::Consensus;
use riskguard_core::replay::{
    self as core, AccountSettings, BarColumns, Commission, ReplaySettings, SignalColumns, Slippage,
};

use crate::convert::{describe_value, flag, real, slice, text};
use crate::engine::PyLimits;
use crate::gate::PyTrade;
use crate::{RiskError, call};

fn floats<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Vec<f64>> {
    let arr: Option<PyReadonlyArray1<'py, f64>> = obj.extract().ok();
    Ok(slice(&arr, obj, name, "float64")?.into_owned())
}

fn optional_floats(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<Vec<f64>>> {
    match obj {
        Some(o) if !o.is_none() => floats(o, name).map(Some),
        _ => Ok(None),
    }
}

/// One instrument's bars and the signals issued at their closes, checked once for any number
/// of replays.
///
/// `ts` (int64 ns, never decreasing), `open`, `high`, `low`, `close`, `volume` (float64, one
/// per bar; volume 0 when unknown); `signal_bar` (int64, the bar whose close issues each
/// signal: its entry is that close) and `signal_side` (int8, 1 long, -1 short); the optional
/// signal columns (float64, NaN where a signal has none; `consensus` a sequence of str or
/// None). A signal whose fields do not make a valid `Signal` is kept and counted as
/// `INVALID_SIGNAL`.
///
/// Raises RiskError naming the argument (and the index): another dtype or shape, unequal
/// lengths, a bad bar, a signal bar out of range, a side other than ±1, an unknown consensus.
#[pyclass(module = "riskguard", name = "ReplayInstrument", frozen)]
pub struct PyInstrument {
    inner: core::Instrument,
}

#[pymethods]
impl PyInstrument {
    #[new]
    #[pyo3(signature = (symbol, ts, open, high, low, close, volume, signal_bar, signal_side, *, stop=None, target=None, confidence=None, consensus=None, atr=None, ema=None, volume_24h=None, spread_bps=None, quantity=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        symbol: &Bound<'_, PyAny>,
        ts: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
        signal_bar: &Bound<'_, PyAny>,
        signal_side: &Bound<'_, PyAny>,
        stop: Option<&Bound<'_, PyAny>>,
        target: Option<&Bound<'_, PyAny>>,
        confidence: Option<&Bound<'_, PyAny>>,
        consensus: Option<&Bound<'_, PyAny>>,
        atr: Option<&Bound<'_, PyAny>>,
        ema: Option<&Bound<'_, PyAny>>,
        volume_24h: Option<&Bound<'_, PyAny>>,
        spread_bps: Option<&Bound<'_, PyAny>>,
        quantity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let symbol = text(symbol, "symbol")?;
        let ts_arr: Option<PyReadonlyArray1<'_, i64>> = ts.extract().ok();
        let ts = slice(&ts_arr, ts, "ts", "int64")?;
        let bar_arr: Option<PyReadonlyArray1<'_, i64>> = signal_bar.extract().ok();
        let bar = slice(&bar_arr, signal_bar, "signal_bar", "int64")?;
        let side_arr: Option<PyReadonlyArray1<'_, i8>> = signal_side.extract().ok();
        let side = slice(&side_arr, signal_side, "signal_side", "int8")?;
        let (open, high, low, close, volume) = (
            floats(open, "open")?,
            floats(high, "high")?,
            floats(low, "low")?,
            floats(close, "close")?,
            floats(volume, "volume")?,
        );
        let consensus = match consensus {
            Some(c) if !c.is_none() => Some(consensus_column(c)?),
            _ => None,
        };
        let columns = [
            optional_floats(stop, "stop")?,
            optional_floats(target, "target")?,
            optional_floats(confidence, "confidence")?,
            optional_floats(atr, "atr")?,
            optional_floats(ema, "ema")?,
            optional_floats(volume_24h, "volume_24h")?,
            optional_floats(spread_bps, "spread_bps")?,
            optional_floats(quantity, "quantity")?,
        ];
        let [
            stop,
            target,
            confidence,
            atr,
            ema,
            volume_24h,
            spread_bps,
            quantity,
        ] = columns.each_ref().map(Option::as_deref);
        let bars = BarColumns {
            ts: &ts,
            open: &open,
            high: &high,
            low: &low,
            close: &close,
            volume: &volume,
        };
        let signals = SignalColumns {
            bar: &bar,
            side: &side,
            stop,
            target,
            confidence,
            consensus: consensus.as_deref(),
            atr,
            ema,
            volume_24h,
            spread_bps,
            quantity,
        };
        let inner = call(py, ts.len(), || {
            core::Instrument::new(symbol, bars, signals)
        })?;
        Ok(Self { inner })
    }

    /// The instrument's symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.inner.symbol
    }

    /// The number of signals (invalid ones included).
    #[getter]
    fn signals(&self) -> usize {
        self.inner.signals.len()
    }

    /// The number of bars.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "ReplayInstrument({:?}, {} bars, {} signals)",
            self.inner.symbol,
            self.inner.len(),
            self.inner.signals.len()
        )
    }
}

fn consensus_column(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Consensus>>> {
    let items: Vec<Bound<'_, PyAny>> = obj
        .try_iter()
        .and_then(|it| it.collect::<PyResult<_>>())
        .map_err(|_| {
            RiskError::new_err(format!(
                "consensus must be a sequence of str or None, got {}",
                describe_value(obj)
            ))
        })?;
    (items.iter().enumerate())
        .map(|(k, item)| {
            if item.is_none() {
                return Ok(None);
            }
            let name = format!("consensus[{k}]");
            text(item, &name)?
                .parse::<Consensus>()
                .map(Some)
                .map_err(|e| RiskError::new_err(format!("consensus[{k}]: {e}")))
        })
        .collect()
}

/// The keyword arguments `replay` and `replay_sweep` share: the venue's settings, each None
/// (or left out) for its default.
struct BrokerArgs<'a, 'py> {
    cash: Option<&'a Bound<'py, PyAny>>,
    equity: Option<&'a Bound<'py, PyAny>>,
    slippage_bps: Option<&'a Bound<'py, PyAny>>,
    commission: Option<&'a Bound<'py, PyAny>>,
    commission_rate: Option<&'a Bound<'py, PyAny>>,
    maker: Option<&'a Bound<'py, PyAny>>,
    taker: Option<&'a Bound<'py, PyAny>>,
    minimum: Option<&'a Bound<'py, PyAny>>,
    allow_short: Option<&'a Bound<'py, PyAny>>,
    fractional: Option<&'a Bound<'py, PyAny>>,
    max_leverage: Option<&'a Bound<'py, PyAny>>,
}

fn given<'a, 'py>(x: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    x.filter(|o| !o.is_none())
}

fn number(x: Option<&Bound<'_, PyAny>>, name: &str, default: f64) -> PyResult<f64> {
    given(x).map_or(Ok(default), |o| real(o, name))
}

fn boolean(x: Option<&Bound<'_, PyAny>>, name: &str, default: bool) -> PyResult<bool> {
    given(x).map_or(Ok(default), |o| flag(o, name))
}

impl BrokerArgs<'_, '_> {
    fn settings(&self) -> PyResult<ReplaySettings> {
        let model = match given(self.commission) {
            Some(c) => text(c, "commission")?,
            None => "none",
        };
        let commission = Commission::named(
            model,
            number(self.commission_rate, "commission_rate", 0.0)?,
            number(self.maker, "maker", 0.0)?,
            number(self.taker, "taker", 0.0)?,
            number(self.minimum, "minimum", 0.0)?,
        )
        .map_err(|e| RiskError::new_err(e.to_string()))?;
        let default = AccountSettings::default();
        let account = AccountSettings {
            cash: number(self.cash, "cash", default.cash)?,
            slippage: Slippage::from_bps(number(self.slippage_bps, "slippage_bps", 0.0)?),
            commission,
            allow_short: boolean(self.allow_short, "allow_short", default.allow_short)?,
            fractional: boolean(self.fractional, "fractional", default.fractional)?,
            max_leverage: number(self.max_leverage, "max_leverage", default.max_leverage)?,
        }
        .validate()
        .map_err(|e| RiskError::new_err(e.to_string()))?;
        let equity = given(self.equity).map(|e| real(e, "equity")).transpose()?;
        Ok(ReplaySettings { account, equity })
    }
}

fn limits_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<riskguard_core::engine::Limits>> {
    let list = obj.cast::<PyList>().map_err(|_| {
        RiskError::new_err(format!(
            "limits must be a list of riskguard.Limits, got {}",
            describe_value(obj)
        ))
    })?;
    (list.iter().enumerate())
        .map(|(k, item)| {
            item.cast::<PyLimits>()
                .map(|l| l.get().inner.clone())
                .map_err(|_| {
                    RiskError::new_err(format!(
                        "limits[{k}] must be a riskguard.Limits, got {}",
                        describe_value(&item)
                    ))
                })
        })
        .collect()
}

/// Replays `instrument` under `limits` through the engine and a paper account (docs/engine.md,
/// "Replay"): what a backtest's Guard run gives for one symbol, at engine speed.
///
/// The account: `cash`, `slippage_bps` (fixed, on taker fills), `commission` (`"none"`,
/// `"percent_of_notional"` with `commission_rate`, `"maker_taker"` with `maker` and `taker`,
/// `"per_share"` with `commission_rate` and `minimum`), `allow_short`, `fractional`,
/// `max_leverage`; `equity` is the engine's starting equity (default: `cash`).
///
/// Returns a dict: `equity` (float64, after every bar), `trades` (list of Trade, open ones
/// included), `fills` (a dict of arrays: `bar`, `qty`, `price`, `fee`, `maker`), `decisions`
/// (by reason code, `APPROVED` and `INVALID_SIGNAL` included), `trips` (dicts of `ts`,
/// `breaker`, `message`) and `dropped` (reducing orders the account ended unfilled).
///
/// Raises RiskError: bad settings, named; what the engine refuses mid-run.
#[pyfunction]
#[pyo3(signature = (instrument, limits, *, cash=None, equity=None, slippage_bps=None, commission=None, commission_rate=None, maker=None, taker=None, minimum=None, allow_short=None, fractional=None, max_leverage=None))]
#[allow(clippy::too_many_arguments)]
fn replay<'py>(
    py: Python<'py>,
    instrument: &Bound<'py, PyAny>,
    limits: &Bound<'py, PyAny>,
    cash: Option<&Bound<'py, PyAny>>,
    equity: Option<&Bound<'py, PyAny>>,
    slippage_bps: Option<&Bound<'py, PyAny>>,
    commission: Option<&Bound<'py, PyAny>>,
    commission_rate: Option<&Bound<'py, PyAny>>,
    maker: Option<&Bound<'py, PyAny>>,
    taker: Option<&Bound<'py, PyAny>>,
    minimum: Option<&Bound<'py, PyAny>>,
    allow_short: Option<&Bound<'py, PyAny>>,
    fractional: Option<&Bound<'py, PyAny>>,
    max_leverage: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let inst = instrument_ref(instrument, "instrument")?;
    let limits = limits
        .cast::<PyLimits>()
        .map_err(|_| {
            RiskError::new_err(format!(
                "limits must be a riskguard.Limits, got {}",
                describe_value(limits)
            ))
        })?
        .get()
        .inner
        .clone();
    let settings = BrokerArgs {
        cash,
        equity,
        slippage_bps,
        commission,
        commission_rate,
        maker,
        taker,
        minimum,
        allow_short,
        fractional,
        max_leverage,
    }
    .settings()?;
    let inner = &inst.get().inner;
    let out = call(py, inner.len(), || core::replay(inner, &limits, &settings))?;
    let d = PyDict::new(py);
    d.set_item("equity", out.equity.into_pyarray(py))?;
    let trades: Vec<PyTrade> = out.trades.into_iter().map(PyTrade::from).collect();
    d.set_item("trades", trades)?;
    let fills = PyDict::new(py);
    let f = &out.fills;
    let bars: Vec<i64> = f.iter().map(|x| x.bar as i64).collect();
    fills.set_item("bar", bars.into_pyarray(py))?;
    let column = |g: fn(&core::BarFill) -> f64| f.iter().map(g).collect::<Vec<f64>>();
    fills.set_item("qty", column(|x| x.fill.qty).into_pyarray(py))?;
    fills.set_item("price", column(|x| x.fill.price).into_pyarray(py))?;
    fills.set_item("fee", column(|x| x.fill.fee).into_pyarray(py))?;
    let maker: Vec<bool> = (f.iter())
        .map(|x| x.fill.liquidity == core::Liquidity::Maker)
        .collect();
    fills.set_item("maker", maker.into_pyarray(py))?;
    d.set_item("fills", fills)?;
    d.set_item(
        "decisions",
        out.decisions
            .into_iter()
            .collect::<Vec<_>>()
            .into_py_dict(py)?,
    )?;
    let trips = PyList::empty(py);
    for t in out.trips {
        let trip = PyDict::new(py);
        trip.set_item("ts", t.ts)?;
        trip.set_item("breaker", t.breaker)?;
        trip.set_item("message", t.message)?;
        trips.append(trip)?;
    }
    d.set_item("trips", trips)?;
    d.set_item("dropped", out.dropped)?;
    Ok(d)
}

/// Replays every instrument under every one of `limits` on each of its `segments` (an int64
/// array of shape (instruments, segments, 2) of bar ranges `[start, end)`; default the whole
/// series), each from a fresh engine and account, in parallel with the GIL released. The
/// result is the same whatever the number of threads.
///
/// Returns a dict of float64 arrays of shape (limits, instruments, segments): `total_return`,
/// `cagr`, `max_drawdown`, `sharpe`, `calmar` (as `riskguard.performance.summary` computes
/// them on the replay's equity curve; NaN where it gives NaN) and `trades` (closed trades).
/// The account's keywords are `replay`'s.
///
/// Raises RiskError: an item that is not a ReplayInstrument or a Limits (named by index),
/// segments of another shape or outside the bars, bad settings; what a replay raises.
#[pyfunction]
#[pyo3(signature = (instruments, limits, segments=None, *, cash=None, equity=None, slippage_bps=None, commission=None, commission_rate=None, maker=None, taker=None, minimum=None, allow_short=None, fractional=None, max_leverage=None))]
#[allow(clippy::too_many_arguments)]
fn replay_sweep<'py>(
    py: Python<'py>,
    instruments: &Bound<'py, PyAny>,
    limits: &Bound<'py, PyAny>,
    segments: Option<&Bound<'py, PyAny>>,
    cash: Option<&Bound<'py, PyAny>>,
    equity: Option<&Bound<'py, PyAny>>,
    slippage_bps: Option<&Bound<'py, PyAny>>,
    commission: Option<&Bound<'py, PyAny>>,
    commission_rate: Option<&Bound<'py, PyAny>>,
    maker: Option<&Bound<'py, PyAny>>,
    taker: Option<&Bound<'py, PyAny>>,
    minimum: Option<&Bound<'py, PyAny>>,
    allow_short: Option<&Bound<'py, PyAny>>,
    fractional: Option<&Bound<'py, PyAny>>,
    max_leverage: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let list = instruments.cast::<PyList>().map_err(|_| {
        RiskError::new_err(format!(
            "instruments must be a list of riskguard.ReplayInstrument, got {}",
            describe_value(instruments)
        ))
    })?;
    let held: Vec<Bound<'py, PyInstrument>> = (list.iter().enumerate())
        .map(|(k, item)| instrument_ref(&item, &format!("instruments[{k}]")))
        .collect::<PyResult<_>>()?;
    let insts: Vec<&core::Instrument> = held.iter().map(|b| &b.get().inner).collect();
    let limits = limits_list(limits)?;
    let segments = match segments {
        Some(s) if !s.is_none() => segment_ranges(s, insts.len())?,
        _ => insts.iter().map(|i| vec![(0, i.len())]).collect(),
    };
    let settings = BrokerArgs {
        cash,
        equity,
        slippage_bps,
        commission,
        commission_rate,
        maker,
        taker,
        minimum,
        allow_short,
        fractional,
        max_leverage,
    }
    .settings()?;
    // Saturating: the core refuses a range that runs backwards; this is only a size hint.
    let work: usize = segments
        .iter()
        .flatten()
        .map(|(a, b)| b.saturating_sub(*a))
        .sum::<usize>()
        .saturating_mul(limits.len());
    let out = call(py, work, || {
        core::sweep(&insts, &limits, &settings, &segments)
    })?;
    let (nl, ni, ns) = out.shape;
    let d = PyDict::new(py);
    let fields: [(&str, Figure); 6] = [
        ("total_return", |s| s.total_return),
        ("cagr", |s| s.cagr),
        ("max_drawdown", |s| s.max_drawdown),
        ("sharpe", |s| s.sharpe),
        ("calmar", |s| s.calmar),
        ("trades", |s| s.trades),
    ];
    for (name, get) in fields {
        let flat: Vec<f64> = out.scores.iter().map(get).collect();
        let arr = numpy::ndarray::Array3::from_shape_vec((nl, ni, ns), flat)
            .expect("the sweep's shape")
            .into_pyarray(py);
        d.set_item(name, arr)?;
    }
    Ok(d)
}

/// How a sweep's figure is read from a replay's scores.
type Figure = fn(&core::Scores) -> f64;

fn instrument_ref<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyInstrument>> {
    obj.cast::<PyInstrument>().cloned().map_err(|_| {
        RiskError::new_err(format!(
            "{name} must be a riskguard.ReplayInstrument, got {}",
            describe_value(obj)
        ))
    })
}

fn segment_ranges(obj: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<Vec<(usize, usize)>>> {
    let arr: PyReadonlyArray3<'_, i64> = obj.extract().map_err(|_| {
        RiskError::new_err(format!(
            "segments must be an int64 array of shape (instruments, segments, 2), got {}",
            describe_value(obj)
        ))
    })?;
    let a = arr.as_array();
    let (ni, ns, two) = a.dim();
    if ni != n || two != 2 {
        return Err(RiskError::new_err(format!(
            "segments must have shape ({n}, segments, 2), got ({ni}, {ns}, {two})"
        )));
    }
    (0..ni)
        .map(|i| {
            (0..ns)
                .map(|s| {
                    let (lo, hi) = (a[[i, s, 0]], a[[i, s, 1]]);
                    match (usize::try_from(lo), usize::try_from(hi)) {
                        (Ok(lo), Ok(hi)) => Ok((lo, hi)),
                        _ => Err(RiskError::new_err(format!(
                            "segments[{i}, {s}] must be bar indices ≥ 0, got ({lo}, {hi})"
                        ))),
                    }
                })
                .collect()
        })
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyInstrument>()?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(replay_sweep, m)?)
}
