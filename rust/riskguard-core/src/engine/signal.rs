//! The gate's input: a trade idea, validated on its own before the engine looks at it
//! (docs/gate.md, "`evaluate_signal`").

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RiskError, num};

use super::policy::Consensus;
use super::vocab::{MAX_QTY, check_price, in_range};

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Long,
    Short,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Self::Long => "long",
            Self::Short => "short",
        }
    }

    /// +1 for a long, −1 for a short.
    pub fn sign(self) -> f64 {
        match self {
            Self::Long => 1.0,
            Self::Short => -1.0,
        }
    }
}

impl FromStr for Side {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "long" => Ok(Self::Long),
            "short" => Ok(Self::Short),
            _ => Err(RiskError::invalid(
                "side",
                format!("must be \"long\" or \"short\", got {s:?}"),
            )),
        }
    }
}

/// A trade idea for the gate; see docs/gate.md for each field's domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub symbol: String,
    pub side: Side,
    pub entry: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub confidence: Option<f64>,
    pub consensus: Option<Consensus>,
    pub atr: Option<f64>,
    pub ema: Option<f64>,
    pub volume_24h: Option<f64>,
    pub spread_bps: Option<f64>,
    pub regime: Option<f64>,
    pub quantity: Option<f64>,
}

impl Signal {
    /// A signal with only the required fields.
    pub fn new(symbol: &str, side: Side, entry: f64) -> Self {
        Self {
            symbol: symbol.to_owned(),
            side,
            entry,
            stop: None,
            target: None,
            confidence: None,
            consensus: None,
            atr: None,
            ema: None,
            volume_24h: None,
            spread_bps: None,
            regime: None,
            quantity: None,
        }
    }

    /// Errors: see docs/gate.md, "`evaluate_signal`".
    pub fn validate(&self) -> Result<()> {
        if self.symbol.is_empty() {
            return Err(RiskError::invalid("symbol", "must not be empty"));
        }
        check_price("entry", self.entry)?;
        let s = self.side.sign();
        if let Some(stop) = self.stop {
            check_price("stop", stop)?;
            if !(s * (self.entry - stop) > 0.0) {
                return Err(RiskError::invalid(
                    "stop",
                    format!(
                        "must be {} entry {} for a {}, got {}",
                        if s > 0.0 { "below" } else { "above" },
                        num(self.entry),
                        self.side.name(),
                        num(stop)
                    ),
                ));
            }
        }
        if let Some(target) = self.target {
            check_price("target", target)?;
            if !(s * (target - self.entry) > 0.0) {
                return Err(RiskError::invalid(
                    "target",
                    format!(
                        "must be {} entry {} for a {}, got {}",
                        if s > 0.0 { "above" } else { "below" },
                        num(self.entry),
                        self.side.name(),
                        num(target)
                    ),
                ));
            }
        }
        let check = |arg: &'static str, x: Option<f64>, ok: fn(f64) -> bool, domain: &str| match x {
            Some(v) if !ok(v) => Err(RiskError::invalid(
                arg,
                format!("must be {domain}, got {}", num(v)),
            )),
            _ => Ok(()),
        };
        check(
            "confidence",
            self.confidence,
            |c| (0.0..=1.0).contains(&c),
            "in [0, 1]",
        )?;
        check("atr", self.atr, in_range, "finite and in [1e-15, 1e15]")?;
        check("ema", self.ema, in_range, "finite and in [1e-15, 1e15]")?;
        check(
            "volume_24h",
            self.volume_24h,
            |v| v.is_finite() && v >= 0.0,
            "finite and ≥ 0",
        )?;
        check(
            "spread_bps",
            self.spread_bps,
            |v| v.is_finite() && v >= 0.0,
            "finite and ≥ 0",
        )?;
        check(
            "regime",
            self.regime,
            |r| r.is_finite() && r > 0.0,
            "finite and > 0",
        )?;
        check(
            "quantity",
            self.quantity,
            |q| q > 0.0 && q <= MAX_QTY,
            "finite, > 0 and ≤ 1e15",
        )?;
        Ok(())
    }
}
