//! O(1) incremental indicators: each update takes constant time and allocates nothing.

pub mod atr;
pub mod ema;
pub mod ewma;

pub use atr::Atr;
pub use ema::Ema;
pub use ewma::{EwmaVariance, z_score};
