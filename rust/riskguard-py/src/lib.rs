//! `riskguard._core`: PyO3 bindings over riskguard-core. Argument conversion, GIL release and
//! error mapping only; every rule lives in the core.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

mod analytics;
mod batch;
mod convert;
mod engine;
mod gate;
mod macros;
mod replay;
mod sizing;

create_exception!(
    riskguard,
    RiskError,
    PyValueError,
    "Base class of every error riskguard raises for bad input or state. A ValueError."
);

/// Inputs at least this large run with the GIL released.
const GIL_RELEASE_MIN: usize = 10_000;

fn to_py(err: riskguard_core::RiskError) -> PyErr {
    RiskError::new_err(err.to_string())
}

/// Runs a core call, releasing the GIL for large inputs, so that neither a core error nor a
/// panic escapes as anything but a `RiskError`.
pub(crate) fn call<T: Send>(
    py: Python<'_>,
    size: usize,
    f: impl FnOnce() -> riskguard_core::Result<T> + Send,
) -> PyResult<T> {
    let guarded = || catch_unwind(AssertUnwindSafe(f));
    let outcome = if size >= GIL_RELEASE_MIN {
        py.detach(guarded)
    } else {
        guarded()
    };
    match outcome {
        Ok(result) => result.map_err(to_py),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(RiskError::new_err(format!(
                "internal error in riskguard core: {what}"
            )))
        }
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RiskError", m.py().get_type::<RiskError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    analytics::register(m)?;
    batch::register(m)?;
    engine::register(m)?;
    gate::register(m)?;
    replay::register(m)?;
    sizing::register(m)
}
