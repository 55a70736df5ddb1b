//! The bindings' repeated shapes, generated: read-only properties (`getters!`,
//! `setting_getters!`) and Python-style reprs (`py_repr!`). Each expands to what used to be
//! written out by hand, so that every name, docstring and repr text stays as
//! `python/riskguard/_core.pyi` documents it.

/// A value as a repr shows it, in Python's notation: numbers as Rust prints them (`50000`,
/// `NaN`, `-0`), strings quoted (Rust's escaping), `True`/`False`, `None`, lists in brackets.
pub(crate) trait PyRepr {
    fn py_repr(&self) -> String;
}

macro_rules! display_repr {
    ($($t:ty),*) => {
        $(impl PyRepr for $t {
            fn py_repr(&self) -> String {
                self.to_string()
            }
        })*
    };
}

display_repr!(f64, i64, u64, u32, usize);

impl PyRepr for bool {
    fn py_repr(&self) -> String {
        if *self { "True" } else { "False" }.into()
    }
}

impl PyRepr for str {
    fn py_repr(&self) -> String {
        format!("{self:?}")
    }
}

impl PyRepr for String {
    fn py_repr(&self) -> String {
        self.as_str().py_repr()
    }
}

impl<T: PyRepr + ?Sized> PyRepr for &T {
    fn py_repr(&self) -> String {
        (**self).py_repr()
    }
}

impl<T: PyRepr> PyRepr for Option<T> {
    fn py_repr(&self) -> String {
        match self {
            Some(v) => v.py_repr(),
            None => "None".into(),
        }
    }
}

impl<T: PyRepr> PyRepr for Vec<T> {
    fn py_repr(&self) -> String {
        let items: Vec<String> = self.iter().map(PyRepr::py_repr).collect();
        format!("[{}]", items.join(", "))
    }
}

/// `Class(a, b, key=value, opt=value)`: the positional values in `(...)`, then the keyword
/// values in `{key: value, ...}`, then the optional ones in `[key: option, ...]`, shown only when
/// `Some`. Every value goes through [`PyRepr`].
///
/// ```ignore
/// py_repr!("Reason"(self.code) { value: self.value, message: self.message })
/// ```
macro_rules! py_repr {
    (
        $class:literal
        $(( $($arg:expr),* $(,)? ))?
        $({ $($key:ident: $value:expr),* $(,)? })?
        $([ $($opt:ident: $option:expr),* $(,)? ])?
    ) => {{
        use $crate::macros::PyRepr as _;
        let mut parts: Vec<String> = Vec::new();
        $($(parts.push(($arg).py_repr());)*)?
        $($(parts.push(format!(concat!(stringify!($key), "={}"), ($value).py_repr()));)*)?
        $($(
            if let Some(v) = &$option {
                parts.push(format!(concat!(stringify!($opt), "={}"), v.py_repr()));
            }
        )*)?
        format!(concat!($class, "({})"), parts.join(", "))
    }};
}

/// Read-only properties of a pyclass, one `#[getter]` each: `name: Type = expression`, or
/// `name: Type` alone for the field `self.inner.name`. The caller's `self` is named in `|self|`,
/// because a macro cannot use its caller's `self` otherwise. Doc comments on an entry become the
/// property's docstring.
///
/// ```ignore
/// getters!(PyDecision, |self| {
///     approved: bool,
///     symbol: &str = &self.inner.symbol,
/// });
/// ```
macro_rules! getters {
    (
        $class:ty, |$this:ident| {
            $( $(#[$attr:meta])* $name:ident: $ret:ty $(= $body:expr)? ),* $(,)?
        }
    ) => {
        #[pyo3::pymethods]
        impl $class {
            $(
                $(#[$attr])*
                #[getter]
                fn $name(&$this) -> $ret {
                    $crate::macros::getter_body!($this, $name $(, $body)?)
                }
            )*
        }
    };
}

/// The body of one `getters!` entry: its expression, else the field of `inner`.
macro_rules! getter_body {
    ($this:ident, $name:ident) => {
        $this.inner.$name
    };
    ($this:ident, $name:ident, $body:expr) => {
        $body
    };
}

/// One property per named gate, sizing or exit setting (docs/gate.md, "Settings"), each the
/// value `self.setting(py, name)` gives: None when off.
macro_rules! setting_getters {
    ($class:ty: $($name:ident),* $(,)?) => {
        #[pyo3::pymethods]
        impl $class {
            $(
                #[getter]
                fn $name<'py>(
                    &self,
                    py: pyo3::Python<'py>,
                ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                    self.setting(py, stringify!($name))
                }
            )*
        }
    };
}

pub(crate) use {getter_body, getters, py_repr, setting_getters};
