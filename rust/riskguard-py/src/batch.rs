//! Bindings of `riskguard_core::batch`. The Python layer has already mapped portfolio ids to
//! integers and symbols to returns columns.

use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use riskguard_core::batch;

use crate::call;

#[pyfunction]
#[pyo3(signature = (portfolio, symbol, exposure, returns, confidence, method, interpolation))]
#[allow(clippy::too_many_arguments)]
fn portfolio_risk<'py>(
    py: Python<'py>,
    portfolio: PyReadonlyArray1<'py, i64>,
    symbol: PyReadonlyArray1<'py, u32>,
    exposure: PyReadonlyArray1<'py, f64>,
    returns: PyReadonlyArray2<'py, f64>,
    confidence: f64,
    method: &str,
    interpolation: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let positions = batch::Positions {
        portfolio: portfolio.as_slice()?,
        symbol: symbol.as_slice()?,
        exposure: exposure.as_slice()?,
    };
    let r = returns.as_array();
    let out = call(py, positions.portfolio.len() + r.len(), || {
        batch::portfolio_risk(
            positions,
            r,
            &batch::BatchSpec::new(confidence, method, interpolation)?,
        )
    })?;
    let d = PyDict::new(py);
    d.set_item("first_row", out.first_row.into_pyarray(py))?;
    d.set_item("n_positions", out.n_positions.into_pyarray(py))?;
    d.set_item("gross_exposure", out.gross_exposure.into_pyarray(py))?;
    d.set_item("net_exposure", out.net_exposure.into_pyarray(py))?;
    d.set_item("max_weight", out.max_weight.into_pyarray(py))?;
    d.set_item(
        "effective_positions",
        out.effective_positions.into_pyarray(py),
    )?;
    d.set_item("var", out.var.into_pyarray(py))?;
    d.set_item("cvar", out.cvar.into_pyarray(py))?;
    d.set_item("top_contributor", out.top_contributor.into_pyarray(py))?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(portfolio_risk, m)?)
}
