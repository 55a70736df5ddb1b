//! Bindings of `riskguard_core::analytics`. Inputs arrive as float64 arrays already shaped
//! `(T, N)` by the Python layer.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use riskguard_core::analytics::{
    contributions, correlation as corr, drawdown, montecarlo, parametric, quantile, ratios,
    rolling, stress, tail,
};

use crate::call;

type Arr1<'py> = Bound<'py, PyArray1<f64>>;

fn vec1(py: Python<'_>, v: Vec<f64>) -> Arr1<'_> {
    v.into_pyarray(py)
}

#[pyfunction]
#[pyo3(signature = (returns, confidence, horizon, interpolation, scaling))]
fn var_historical<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    confidence: f64,
    horizon: i64,
    interpolation: &str,
    scaling: &str,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        quantile::var_historical(
            x,
            &quantile::TailSpec::new(confidence, horizon, interpolation, scaling)?,
        )
    })?;
    Ok(vec1(py, out))
}

#[pyfunction]
#[pyo3(signature = (returns, confidence, horizon, interpolation, scaling))]
fn cvar_historical<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    confidence: f64,
    horizon: i64,
    interpolation: &str,
    scaling: &str,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        quantile::cvar_historical(
            x,
            &quantile::TailSpec::new(confidence, horizon, interpolation, scaling)?,
        )
    })?;
    Ok(vec1(py, out))
}

#[pyfunction]
#[pyo3(signature = (returns, confidence, horizon, interpolation, scaling))]
fn tail_risk<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    confidence: f64,
    horizon: i64,
    interpolation: &str,
    scaling: &str,
) -> PyResult<(Arr1<'py>, Arr1<'py>)> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        tail::tail_risk(
            x,
            &quantile::TailSpec::new(confidence, horizon, interpolation, scaling)?,
        )
    })?;
    let (var, cvar) = out.into_iter().unzip();
    Ok((vec1(py, var), vec1(py, cvar)))
}

#[pyfunction]
#[pyo3(signature = (returns, confidence, horizon, method))]
fn var_parametric<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    confidence: f64,
    horizon: i64,
    method: &str,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        parametric::var_parametric(x, confidence, horizon, method.parse()?)
    })?;
    Ok(vec1(py, out))
}

#[pyfunction]
#[pyo3(signature = (returns, confidence, horizon))]
fn cvar_parametric<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    confidence: f64,
    horizon: i64,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        parametric::cvar_parametric(x, confidence, horizon)
    })?;
    Ok(vec1(py, out))
}

#[pyfunction]
#[pyo3(signature = (returns, weights, confidence, horizon, n_paths, seed, method, cov, repair))]
#[allow(clippy::too_many_arguments)]
fn var_monte_carlo<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    weights: PyReadonlyArray1<'py, f64>,
    confidence: f64,
    horizon: i64,
    n_paths: i64,
    seed: u64,
    method: &str,
    cov: Option<PyReadonlyArray2<'py, f64>>,
    repair: bool,
) -> PyResult<(f64, f64)> {
    let x = returns.as_array();
    let w = weights.as_array().to_vec();
    let cov = cov.as_ref().map(|c| c.as_array());
    call(py, usize::MAX, || {
        let spec = montecarlo::McSpec::new(confidence, horizon, n_paths, seed, method, repair)?;
        montecarlo::var_monte_carlo(x, &w, cov, &spec)
    })
}

#[pyfunction]
fn max_drawdown<'py>(py: Python<'py>, returns: PyReadonlyArray2<'py, f64>) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    Ok(vec1(py, call(py, x.len(), || drawdown::max_drawdown(x))?))
}

/// Per column: `(depth, peak, trough, recovery, duration)` tuples, `peak`/`recovery` maybe None.
type Period = (f64, Option<usize>, usize, Option<usize>, usize);

#[pyfunction]
fn drawdown_details<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
) -> PyResult<Vec<Vec<Period>>> {
    let x = returns.as_array();
    let cols = call(py, x.len(), || drawdown::drawdown_details(x))?;
    Ok(cols
        .into_iter()
        .map(|c| {
            c.into_iter()
                .map(|p| (p.depth, p.peak, p.trough, p.recovery, p.duration))
                .collect()
        })
        .collect())
}

#[pyfunction]
#[pyo3(signature = (returns, risk_free, periods_per_year))]
fn sharpe_ratio<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    risk_free: f64,
    periods_per_year: f64,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    Ok(vec1(
        py,
        call(py, x.len(), || {
            ratios::sharpe_ratio(x, risk_free, periods_per_year)
        })?,
    ))
}

#[pyfunction]
#[pyo3(signature = (returns, required_return, periods_per_year))]
fn sortino_ratio<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    required_return: f64,
    periods_per_year: f64,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    Ok(vec1(
        py,
        call(py, x.len(), || {
            ratios::sortino_ratio(x, required_return, periods_per_year)
        })?,
    ))
}

#[pyfunction]
#[pyo3(signature = (returns, periods_per_year))]
fn calmar_ratio<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    periods_per_year: f64,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    Ok(vec1(
        py,
        call(py, x.len(), || ratios::calmar_ratio(x, periods_per_year))?,
    ))
}

#[pyfunction]
#[pyo3(signature = (returns, periods_per_year))]
fn annual_volatility<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    periods_per_year: f64,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    Ok(vec1(
        py,
        call(py, x.len(), || {
            ratios::annual_volatility(x, periods_per_year)
        })?,
    ))
}

#[pyfunction]
#[pyo3(signature = (returns, periods_per_year))]
fn cagr<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    periods_per_year: f64,
) -> PyResult<Arr1<'py>> {
    let x = returns.as_array();
    Ok(vec1(
        py,
        call(py, x.len(), || ratios::cagr(x, periods_per_year))?,
    ))
}

#[pyfunction]
#[pyo3(signature = (returns, benchmark, annualize, periods_per_year))]
fn information_ratio<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    benchmark: PyReadonlyArray2<'py, f64>,
    annualize: bool,
    periods_per_year: f64,
) -> PyResult<Arr1<'py>> {
    let (x, b) = (returns.as_array(), benchmark.as_array());
    Ok(vec1(
        py,
        call(py, x.len(), || {
            ratios::information_ratio(x, b, annualize, periods_per_year)
        })?,
    ))
}

#[pyfunction]
#[pyo3(signature = (returns, method, halflife))]
fn covariance<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    method: &str,
    halflife: Option<f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        corr::covariance(x, corr::CovMethod::new(method, halflife)?)
    })?;
    Ok(out.into_pyarray(py))
}

#[pyfunction]
#[pyo3(signature = (returns, method, halflife))]
fn correlation<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    method: &str,
    halflife: Option<f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        corr::correlation(x, corr::CovMethod::new(method, halflife)?)
    })?;
    Ok(out.into_pyarray(py))
}

#[pyfunction]
#[pyo3(signature = (weights, cov, confidence))]
fn risk_contributions<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, f64>,
    cov: PyReadonlyArray2<'py, f64>,
    confidence: f64,
) -> PyResult<(f64, f64, Arr1<'py>, Arr1<'py>)> {
    let w = weights.as_array().to_vec();
    let c = cov.as_array();
    let rc = call(py, c.len(), || {
        contributions::risk_contributions(&w, c, confidence)
    })?;
    Ok((
        rc.var,
        rc.volatility,
        vec1(py, rc.marginal),
        vec1(py, rc.component),
    ))
}

#[pyfunction]
fn diversification_ratio<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, f64>,
    cov: PyReadonlyArray2<'py, f64>,
) -> PyResult<f64> {
    let w = weights.as_array().to_vec();
    let c = cov.as_array();
    call(py, c.len(), || contributions::diversification_ratio(&w, c))
}

#[pyfunction]
fn herfindahl<'py>(py: Python<'py>, weights: PyReadonlyArray1<'py, f64>) -> PyResult<f64> {
    let w = weights.as_array().to_vec();
    call(py, w.len(), || contributions::herfindahl(&w))
}

#[pyfunction]
fn effective_positions<'py>(py: Python<'py>, weights: PyReadonlyArray1<'py, f64>) -> PyResult<f64> {
    let w = weights.as_array().to_vec();
    call(py, w.len(), || contributions::effective_positions(&w))
}

#[pyfunction]
fn stress_pnl<'py>(
    py: Python<'py>,
    exposures: PyReadonlyArray1<'py, f64>,
    shocks: PyReadonlyArray2<'py, f64>,
) -> PyResult<Arr1<'py>> {
    let e = exposures.as_array().to_vec();
    let s = shocks.as_array();
    Ok(vec1(py, call(py, s.len(), || stress::stress_pnl(&e, s))?))
}

#[pyfunction]
#[pyo3(signature = (returns, horizon, n))]
fn worst_periods<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray1<'py, f64>,
    horizon: i64,
    n: i64,
) -> PyResult<Vec<(f64, usize, usize)>> {
    let r = returns.as_array().to_vec();
    let out = call(py, r.len(), || stress::worst_periods(&r, horizon, n))?;
    Ok(out.into_iter().map(|w| (w.loss, w.start, w.end)).collect())
}

fn rolling_tail<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    window: i64,
    confidence: f64,
    min_periods: Option<i64>,
    interpolation: &str,
    stat: rolling::TailStat,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        rolling::rolling_tail(
            x,
            window,
            confidence,
            min_periods,
            interpolation.parse()?,
            stat,
        )
    })?;
    Ok(out.into_pyarray(py))
}

#[pyfunction]
#[pyo3(signature = (returns, window, confidence, min_periods, interpolation))]
fn rolling_var<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    window: i64,
    confidence: f64,
    min_periods: Option<i64>,
    interpolation: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    rolling_tail(
        py,
        returns,
        window,
        confidence,
        min_periods,
        interpolation,
        rolling::TailStat::Var,
    )
}

#[pyfunction]
#[pyo3(signature = (returns, window, confidence, min_periods, interpolation))]
fn rolling_cvar<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    window: i64,
    confidence: f64,
    min_periods: Option<i64>,
    interpolation: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    rolling_tail(
        py,
        returns,
        window,
        confidence,
        min_periods,
        interpolation,
        rolling::TailStat::Cvar,
    )
}

#[pyfunction]
#[pyo3(signature = (returns, window, min_periods))]
fn rolling_correlation<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    window: i64,
    min_periods: Option<i64>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let x = returns.as_array();
    let out = call(py, x.len(), || {
        rolling::rolling_correlation(x, window, min_periods)
    })?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(var_historical, m)?)?;
    m.add_function(wrap_pyfunction!(cvar_historical, m)?)?;
    m.add_function(wrap_pyfunction!(tail_risk, m)?)?;
    m.add_function(wrap_pyfunction!(var_parametric, m)?)?;
    m.add_function(wrap_pyfunction!(cvar_parametric, m)?)?;
    m.add_function(wrap_pyfunction!(var_monte_carlo, m)?)?;
    m.add_function(wrap_pyfunction!(max_drawdown, m)?)?;
    m.add_function(wrap_pyfunction!(drawdown_details, m)?)?;
    m.add_function(wrap_pyfunction!(sharpe_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(sortino_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(calmar_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(annual_volatility, m)?)?;
    m.add_function(wrap_pyfunction!(cagr, m)?)?;
    m.add_function(wrap_pyfunction!(information_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(covariance, m)?)?;
    m.add_function(wrap_pyfunction!(correlation, m)?)?;
    m.add_function(wrap_pyfunction!(risk_contributions, m)?)?;
    m.add_function(wrap_pyfunction!(diversification_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(herfindahl, m)?)?;
    m.add_function(wrap_pyfunction!(effective_positions, m)?)?;
    m.add_function(wrap_pyfunction!(stress_pnl, m)?)?;
    m.add_function(wrap_pyfunction!(worst_periods, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_var, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_cvar, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_correlation, m)?)?;
    Ok(())
}
