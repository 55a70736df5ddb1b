//! The paper venue's cost models, as `riskguard.venues.paper.costs` computes them: slippage on
//! taker fills (adverse, a fraction of the reference price) and commission on every fill.

use crate::error::{Result, RiskError, num};

/// Whether a fill took liquidity (market and stop orders, and a limit marketable on arrival) or
/// made it (a limit order that rested past its first price point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liquidity {
    Maker,
    Taker,
}

impl Liquidity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Maker => "maker",
            Self::Taker => "taker",
        }
    }
}

/// Slippage of a taker fill (`FixedBps`, `NoSlippage`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slippage {
    None,
    /// Basis points of the reference price (1 bp = 0.0001).
    FixedBps(f64),
}

impl Slippage {
    /// Fixed basis points; 0 is no slippage (both fill at the same price).
    pub fn from_bps(bps: f64) -> Self {
        if bps == 0.0 {
            Self::None
        } else {
            Self::FixedBps(bps)
        }
    }

    /// The adverse fraction of the reference price.
    #[inline]
    pub fn fraction(self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::FixedBps(bps) => bps / 10_000.0,
        }
    }

    /// Errors: basis points not finite and ≥ 0.
    pub fn validate(self) -> Result<Self> {
        if let Self::FixedBps(bps) = self {
            non_negative("slippage_bps", bps)?;
        }
        Ok(self)
    }
}

/// Commission of one fill, in quote currency (`NoCommission`, `PercentOfNotional`,
/// `MakerTaker`, `PerShare`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Commission {
    None,
    /// `rate × |qty| × price`.
    Percent(f64),
    /// The maker or the taker rate times `|qty| × price`, by the fill's liquidity.
    MakerTaker {
        maker: f64,
        taker: f64,
    },
    /// `max(minimum, rate × |qty|)`.
    PerShare {
        rate: f64,
        minimum: f64,
    },
}

impl Commission {
    /// The model named as the paper venue's configuration names it (`"none"`,
    /// `"percent_of_notional"` with `rate`, `"maker_taker"` with `maker` and `taker`,
    /// `"per_share"` with `rate` and `minimum`); the values are checked by [`Self::validate`].
    ///
    /// Errors: an unknown name.
    pub fn named(name: &str, rate: f64, maker: f64, taker: f64, minimum: f64) -> Result<Self> {
        Ok(match name {
            "none" => Self::None,
            "percent_of_notional" => Self::Percent(rate),
            "maker_taker" => Self::MakerTaker { maker, taker },
            "per_share" => Self::PerShare { rate, minimum },
            other => {
                return Err(RiskError::invalid(
                    "commission",
                    format!(
                        "must be one of none, percent_of_notional, maker_taker, per_share, \
                         got {other:?}"
                    ),
                ));
            }
        })
    }

    /// The fee of a fill of signed `qty` at `price`; the products are taken in the order the
    /// Python models take them, so that fees agree to the last bit.
    #[inline]
    pub fn fee(self, qty: f64, price: f64, liquidity: Liquidity) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Percent(rate) => rate * qty.abs() * price,
            Self::MakerTaker { maker, taker } => {
                let rate = if liquidity == Liquidity::Maker {
                    maker
                } else {
                    taker
                };
                rate * qty.abs() * price
            }
            Self::PerShare { rate, minimum } => minimum.max(rate * qty.abs()),
        }
    }

    /// Errors: a rate or minimum not finite and ≥ 0.
    pub fn validate(self) -> Result<Self> {
        match self {
            Self::None => {}
            Self::Percent(rate) => non_negative("commission_rate", rate)?,
            Self::MakerTaker { maker, taker } => {
                non_negative("maker", maker)?;
                non_negative("taker", taker)?;
            }
            Self::PerShare { rate, minimum } => {
                non_negative("commission_rate", rate)?;
                non_negative("minimum", minimum)?;
            }
        }
        Ok(self)
    }
}

fn non_negative(arg: &'static str, x: f64) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(RiskError::invalid(
            arg,
            format!("must be finite and ≥ 0, got {}", num(x)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_follow_the_python_models() {
        let pct = Commission::Percent(0.001);
        assert_eq!(pct.fee(-2.0, 50.0, Liquidity::Taker), 0.001 * 2.0 * 50.0);
        let mt = Commission::MakerTaker {
            maker: 0.0002,
            taker: 0.0005,
        };
        assert_eq!(mt.fee(1.0, 100.0, Liquidity::Maker), 0.0002 * 100.0);
        assert_eq!(mt.fee(1.0, 100.0, Liquidity::Taker), 0.0005 * 100.0);
        let ps = Commission::PerShare {
            rate: 0.005,
            minimum: 1.0,
        };
        assert_eq!(ps.fee(10.0, 100.0, Liquidity::Taker), 1.0);
        assert_eq!(ps.fee(1000.0, 100.0, Liquidity::Taker), 5.0);
        assert_eq!(Slippage::FixedBps(5.0).fraction(), 0.0005);
    }

    #[test]
    fn bad_rates_are_named() {
        let e = Commission::Percent(-1.0).validate().unwrap_err();
        assert!(e.to_string().starts_with("commission_rate must be"), "{e}");
        let e = Slippage::FixedBps(f64::NAN).validate().unwrap_err();
        assert!(e.to_string().starts_with("slippage_bps must be"), "{e}");
    }
}
