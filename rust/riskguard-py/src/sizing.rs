//! Bindings of the sizing functions (`riskguard.sizing` wraps them). Conversion only.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use riskguard_core::engine::Combine;
use riskguard_core::engine::sizing::{self, VolRegime};

use crate::call;

#[pyfunction]
fn fixed_fractional(
    py: Python<'_>,
    equity: f64,
    risk: f64,
    entry: f64,
    stop: f64,
) -> PyResult<f64> {
    call(py, 0, || {
        sizing::fixed_fractional(equity, risk, entry, stop)
    })
}

#[pyfunction]
fn fixed_amount(py: Python<'_>, amount: f64, price: f64) -> PyResult<f64> {
    call(py, 0, || sizing::fixed_amount(amount, price))
}

#[pyfunction]
fn kelly(
    py: Python<'_>,
    win_rate: f64,
    win_loss_ratio: f64,
    fraction: f64,
    cap: f64,
) -> PyResult<f64> {
    call(py, 0, || {
        sizing::kelly(win_rate, win_loss_ratio, fraction, cap)
    })
}

#[pyfunction]
fn volatility_target(
    py: Python<'_>,
    equity: f64,
    target_volatility: f64,
    volatility: f64,
    price: f64,
) -> PyResult<f64> {
    call(py, 0, || {
        sizing::volatility_target(equity, target_volatility, volatility, price)
    })
}

#[pyfunction]
fn atr(py: Python<'_>, equity: f64, risk: f64, atr: f64, k: f64) -> PyResult<f64> {
    call(py, 0, || sizing::atr(equity, risk, atr, k))
}

#[pyfunction]
fn inverse_volatility<'py>(
    py: Python<'py>,
    volatilities: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let v = volatilities.as_array();
    Ok(call(py, 0, || sizing::inverse_volatility(v))?.into_pyarray(py))
}

#[pyfunction]
fn risk_parity<'py>(
    py: Python<'py>,
    covariance: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let c = covariance.as_array();
    Ok(call(py, 0, || sizing::risk_parity(c))?.into_pyarray(py))
}

#[pyfunction]
#[pyo3(signature = (sizes, how, weights=None))]
fn consensus(
    py: Python<'_>,
    sizes: Vec<f64>,
    how: &str,
    weights: Option<Vec<f64>>,
) -> PyResult<f64> {
    call(py, 0, || {
        sizing::consensus(&sizes, how.parse::<Combine>()?, weights.as_deref())
    })
}

#[pyfunction]
fn regime_based(
    py: Python<'_>,
    quantity: f64,
    regime: f64,
    trend_aligned: bool,
    volatility: &str,
    performance: f64,
) -> PyResult<f64> {
    call(py, 0, || {
        sizing::regime_based(
            quantity,
            regime,
            trend_aligned,
            VolRegime::parse(volatility)?,
            performance,
        )
    })
}

#[pyfunction]
#[pyo3(signature = (quantity, confidence, consecutive_losses, drawdown))]
fn adjust_size(
    py: Python<'_>,
    quantity: f64,
    confidence: Option<f64>,
    consecutive_losses: u32,
    drawdown: f64,
) -> PyResult<f64> {
    call(py, 0, || {
        sizing::adjust_size(quantity, confidence, consecutive_losses, drawdown)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let s = PyModule::new(m.py(), "sizing")?;
    s.add_function(wrap_pyfunction!(fixed_fractional, &s)?)?;
    s.add_function(wrap_pyfunction!(fixed_amount, &s)?)?;
    s.add_function(wrap_pyfunction!(kelly, &s)?)?;
    s.add_function(wrap_pyfunction!(volatility_target, &s)?)?;
    s.add_function(wrap_pyfunction!(atr, &s)?)?;
    s.add_function(wrap_pyfunction!(inverse_volatility, &s)?)?;
    s.add_function(wrap_pyfunction!(risk_parity, &s)?)?;
    s.add_function(wrap_pyfunction!(consensus, &s)?)?;
    s.add_function(wrap_pyfunction!(regime_based, &s)?)?;
    s.add_function(wrap_pyfunction!(adjust_size, &s)?)?;
    m.add("_sizing", s)
}
