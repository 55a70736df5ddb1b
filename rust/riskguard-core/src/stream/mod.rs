//! O(1) incremental indicators: each update takes constant time and allocates nothing.

pub mod ewma;

pub use ewma::{EwmaVariance, z_score};
