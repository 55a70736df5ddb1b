//! The single error type of the core. Bindings map it to `riskguard.RiskError`.

/// Shorthand for results whose error is a [`RiskError`].
pub type Result<T, E = RiskError> = std::result::Result<T, E>;

/// Why a core call refused its input. The message names the argument and the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RiskError {
    /// An argument lies outside its domain (range, shape, finiteness, spelling).
    #[error("{arg} {message}")]
    InvalidArgument { arg: &'static str, message: String },
    /// A numerical precondition on the data failed, e.g. a covariance that is not positive
    /// semi-definite.
    #[error("{0}")]
    Numerical(String),
    /// Limits that fail validation; every problem is listed.
    #[error("invalid limits: {}", .0.join("; "))]
    InvalidLimits(Vec<String>),
    /// A call the engine's state does not allow, e.g. a reset without confirmation.
    #[error("{0}")]
    Refused(String),
    /// Snapshot bytes that are corrupt, truncated or of an unknown version.
    #[error("corrupt snapshot: {0}")]
    CorruptSnapshot(String),
}

impl RiskError {
    /// An [`RiskError::InvalidArgument`] for `arg`; `message` continues the sentence after the
    /// argument's name, e.g. `"must be in (0, 1), got 1.5"`.
    pub fn invalid(arg: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            arg,
            message: message.into(),
        }
    }

    /// A stable SCREAMING_SNAKE code that callers may branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Self::Numerical(_) => "NUMERICAL_ERROR",
            Self::InvalidLimits(_) => "INVALID_LIMITS",
            Self::Refused(_) => "REFUSED",
            Self::CorruptSnapshot(_) => "CORRUPT_SNAPSHOT",
        }
    }
}

/// A float as messages show it: plain for everyday magnitudes, scientific beyond them, so that
/// `1e300` does not print as three hundred digits.
pub fn num(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-6..1e16).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
