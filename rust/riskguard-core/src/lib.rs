//! riskguard-core: the deterministic risk kernels behind riskguard.
//!
//! The crate knows nothing of Python, files or the wall clock. Every kernel takes plain slices or
//! `ndarray` views and returns values or a [`RiskError`] naming the argument at fault; the
//! [`engine`] takes every timestamp as an argument.

pub mod analytics;
pub mod batch;
pub mod engine;
pub mod error;
pub mod replay;
pub mod stream;

pub use error::{Result, RiskError};
