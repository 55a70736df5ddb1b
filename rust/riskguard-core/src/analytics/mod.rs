//! Stateless risk kernels over return matrices `(T, N)`: time on axis 0, one result per column.
//!
//! Conventions (DESIGN.md): simple returns; VaR, CVaR and drawdown are positive losses; NaN
//! marks a missing observation and is omitted per column; infinities are errors.

pub mod args;
pub mod columns;
pub mod contributions;
pub mod correlation;
pub mod drawdown;
pub mod moments;
pub mod montecarlo;
pub mod parametric;
pub mod quantile;
pub mod ratios;
pub mod rolling;
pub mod stress;
pub mod tail;
