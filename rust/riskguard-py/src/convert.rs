//! Argument conversion shared by the bindings: each refuses a wrong type with a `RiskError`
//! naming the argument.

use std::borrow::Cow;

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use riskguard_core::engine::SymbolRef;

use crate::RiskError;

/// A real number argument; bools and non-numbers are refused with a `RiskError`.
pub(crate) fn real(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    if obj.is_instance_of::<PyFloat>()
        || (obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>())
    {
        return obj.extract();
    }
    obj.extract::<f64>()
        .ok()
        .filter(|_| !obj.is_instance_of::<PyBool>() && !obj.is_instance_of::<PyString>())
        .ok_or_else(|| RiskError::new_err(format!("{name} must be a number, got {}", kind(obj))))
}

/// An integer timestamp in nanoseconds.
pub(crate) fn int64(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    if obj.is_instance_of::<PyBool>() {
        return Err(RiskError::new_err(format!(
            "{name} must be an integer, got bool"
        )));
    }
    obj.extract::<i64>().map_err(|_| {
        RiskError::new_err(format!(
            "{name} must be an integer (ns since the Unix epoch) within int64, got {}",
            describe_value(obj)
        ))
    })
}

/// A str argument.
pub(crate) fn text<'a>(obj: &'a Bound<'_, PyAny>, name: &str) -> PyResult<&'a str> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?),
        Err(_) => Err(RiskError::new_err(format!(
            "{name} must be a str, got {}",
            describe_value(obj)
        ))),
    }
}

/// A bool argument; truthy values of other types are refused, so that a confirmation is
/// always explicit.
pub(crate) fn flag(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    obj.cast::<PyBool>().map(|b| b.is_true()).map_err(|_| {
        RiskError::new_err(format!(
            "{name} must be True or False, got {}",
            describe_value(obj)
        ))
    })
}

pub(crate) fn kind(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

pub(crate) fn describe_value(obj: &Bound<'_, PyAny>) -> String {
    match obj.repr() {
        Ok(r) if r.len().unwrap_or(0) <= 40 => format!("{r} ({})", kind(obj)),
        _ => kind(obj),
    }
}

/// A symbol given as a name or an interned id.
pub(crate) fn symbol<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<SymbolRef<'a>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(SymbolRef::Name(s.to_str()?));
    }
    if obj.is_instance_of::<PyInt>()
        && !obj.is_instance_of::<PyBool>()
        && let Ok(id) = obj.extract::<u32>()
    {
        return Ok(SymbolRef::Id(id));
    }
    Err(RiskError::new_err(format!(
        "symbol must be a str or an interned id (int), got {}",
        describe_value(obj)
    )))
}

/// A contiguous slice of a 1-D array of `T`, or a `RiskError` naming the expected dtype.
pub(crate) fn slice<'a, T: numpy::Element + Clone>(
    arr: &'a Option<PyReadonlyArray1<'_, T>>,
    obj: &Bound<'_, PyAny>,
    name: &str,
    dtype: &str,
) -> PyResult<Cow<'a, [T]>> {
    let arr = arr.as_ref().ok_or_else(|| {
        let got = obj
            .getattr("dtype")
            .and_then(|d| d.str())
            .map_or_else(|_| kind(obj), |d| format!("dtype {d}"));
        let ndim = obj
            .getattr("ndim")
            .ok()
            .and_then(|n| n.extract::<usize>().ok());
        let shape = match ndim {
            Some(n) if n != 1 => format!(" with {n} dimensions"),
            _ => String::new(),
        };
        RiskError::new_err(format!(
            "{name} must be a 1-D numpy array of {dtype}, got {got}{shape}"
        ))
    })?;
    Ok(match arr.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(arr.as_array().to_vec()),
    })
}
