//! Breaker limits: which breakers are on, their thresholds, actions and cooldowns, and the
//! session clock. Defaults follow DESIGN.md's default-limits table.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RiskError, num};

use super::policy::{Knob, Policy, SWITCHES};
// In vocab.rs, and here too so that `engine::limits::Breaker` still names them.
pub use super::vocab::{Action, Breaker, LimitValue, PartialSpec};

/// What limits say about each breaker: its default spec and the thresholds it accepts.
impl Breaker {
    /// The default spec of a configurable breaker (DESIGN.md's table).
    pub fn default_spec(self) -> Option<BreakerSpec> {
        let spec = |threshold, action| BreakerSpec {
            threshold,
            action,
            cooldown_s: 0.0,
            latched: false,
            fraction: 0.5,
        };
        Some(match self {
            Self::DailyLoss => spec(0.05, Action::CloseAllHalt),
            Self::WeeklyLoss => spec(0.10, Action::Halt),
            Self::MonthlyLoss => spec(0.20, Action::Halt),
            Self::MaxDrawdown => BreakerSpec {
                latched: true,
                ..spec(0.15, Action::CloseAllHalt)
            },
            Self::PositionLoss => spec(0.03, Action::ClosePosition),
            Self::VolatilitySpike => BreakerSpec {
                cooldown_s: 900.0,
                ..spec(3.0, Action::Reduce)
            },
            Self::Leverage => spec(10.0, Action::Reduce),
            Self::Concentration => spec(0.40, Action::Alert),
            Self::PortfolioHeat => spec(0.10, Action::Alert),
            Self::ConsecutiveLosses => BreakerSpec {
                cooldown_s: 14_400.0,
                ..spec(3.0, Action::Halt)
            },
            Self::KillSwitch => return None,
        })
    }

    /// The valid threshold range, as a predicate and its description.
    fn threshold_domain(self) -> (fn(f64) -> bool, &'static str) {
        match self {
            Self::DailyLoss
            | Self::WeeklyLoss
            | Self::MonthlyLoss
            | Self::MaxDrawdown
            | Self::PositionLoss => (|t| t > 0.0 && t <= 1.0, "in (0, 1]"),
            Self::ConsecutiveLosses => (
                |t| t >= 1.0 && t.fract() == 0.0 && t <= u32::MAX as f64,
                "a whole number ≥ 1",
            ),
            // Bounded so that its square, which the tick path compares against, is finite.
            Self::VolatilitySpike => (|t| t > 0.0 && t <= 1e6, "in (0, 1e6] sigmas"),
            _ => (|t| t.is_finite() && t > 0.0, "finite and > 0"),
        }
    }
}

/// One breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BreakerSpec {
    /// The metric trips the breaker when it reaches this value (`>=`).
    pub threshold: f64,
    pub action: Action,
    /// Minimum time tripped before the breaker may re-arm, in seconds.
    pub cooldown_s: f64,
    /// Only an explicit reset re-arms a latched breaker.
    pub latched: bool,
    /// The fraction a `reduce` action asks to cut, in (0, 1].
    pub fraction: f64,
}

impl BreakerSpec {
    /// The cooldown in nanoseconds (validated to fit).
    pub fn cooldown_ns(&self) -> i64 {
        (self.cooldown_s * 1e9).round() as i64
    }
}

/// Every breaker's settings and the session clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    specs: [Option<BreakerSpec>; 10],
    /// Seconds after local midnight at which the daily session starts.
    pub reset_s: i64,
    /// The session clock's offset from UTC, in seconds (east positive).
    pub utc_offset_s: i64,
    /// EWMA decay of the volatility-spike variance.
    pub volatility_lambda: f64,
    /// Returns per symbol before volatility spikes are scored.
    pub volatility_warmup: u64,
    /// Gate, sizing and exit settings (docs/gate.md).
    pub policy: Policy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            specs: Breaker::CONFIGURABLE.map(Breaker::default_spec),
            reset_s: 0,
            utc_offset_s: 0,
            volatility_lambda: 0.94,
            volatility_warmup: 20,
            policy: Policy::default(),
        }
    }
}

/// Entries of [`Limits::build`] that are not breakers.
pub const SETTINGS: [&str; 4] = [
    "reset_time",
    "utc_offset",
    "volatility_lambda",
    "volatility_warmup",
];

impl Limits {
    /// The spec of a breaker, or `None` when it is off (always `None` for the kill switch,
    /// which is not configurable).
    #[inline]
    pub fn spec(&self, b: Breaker) -> Option<&BreakerSpec> {
        self.specs.get(b.index()).and_then(Option::as_ref)
    }

    /// Defaults overridden by `entries` (name, value). Every problem is reported at once, in
    /// one [`RiskError::InvalidLimits`].
    pub fn build<'a>(entries: impl IntoIterator<Item = (&'a str, LimitValue)>) -> Result<Self> {
        let mut limits = Self::default();
        let mut errors = Vec::new();
        for (name, value) in entries {
            if let Err(e) = limits.set(name, value) {
                errors.push(e);
            }
        }
        errors.extend(limits.problems());
        if errors.is_empty() {
            Ok(limits)
        } else {
            Err(RiskError::InvalidLimits(errors))
        }
    }

    fn set(&mut self, name: &str, value: LimitValue) -> std::result::Result<(), String> {
        let wrong = |expected: &str, value: &LimitValue| {
            format!("{name}: must be {expected}, got {}", value.describe())
        };
        if let Some(result) = self.policy.set(name, value.clone()) {
            return result;
        }
        match name {
            "reset_time" => match value {
                LimitValue::Text(s) => self.reset_s = parse_reset_time(&s)?,
                v => return Err(wrong("a time of day such as \"17:00\"", &v)),
            },
            "utc_offset" => match value {
                LimitValue::Text(s) => self.utc_offset_s = parse_utc_offset(&s)?,
                v => return Err(wrong("an offset such as \"+05:30\"", &v)),
            },
            "volatility_lambda" => match value {
                LimitValue::Number(x) => self.volatility_lambda = x,
                v => return Err(wrong("a number in (0, 1)", &v)),
            },
            "volatility_warmup" => match value {
                LimitValue::Number(x) if x >= 1.0 && x.fract() == 0.0 && x <= 1e9 => {
                    self.volatility_warmup = x as u64
                }
                v => return Err(wrong("a whole number ≥ 1", &v)),
            },
            _ => {
                let breaker = Breaker::from_str(name)
                    .ok()
                    .filter(|b| b.default_spec().is_some())
                    .ok_or_else(|| {
                        let mut names: Vec<_> =
                            Breaker::CONFIGURABLE.iter().map(|b| b.name()).collect();
                        names.extend(SETTINGS);
                        names.extend(Knob::ALL.map(Knob::name));
                        names.extend(SWITCHES);
                        format!("unknown limit {name:?}; known: {}", names.join(", "))
                    })?;
                let default = breaker.default_spec().expect("configurable");
                self.specs[breaker.index()] = match value {
                    LimitValue::Off => None,
                    LimitValue::Number(threshold) => Some(BreakerSpec {
                        threshold,
                        ..default
                    }),
                    LimitValue::Spec(p) => Some(BreakerSpec {
                        threshold: p.threshold,
                        action: match p.action {
                            Some(a) => Action::from_str(&a).map_err(|e| format!("{name}.{e}"))?,
                            None => default.action,
                        },
                        cooldown_s: p.cooldown_s.unwrap_or(default.cooldown_s),
                        latched: p.latched.unwrap_or(default.latched),
                        fraction: p.fraction.unwrap_or(default.fraction),
                    }),
                    LimitValue::Malformed(m) => return Err(format!("{name}.{m}")),
                    v => return Err(wrong("a threshold, a BreakerSpec or None", &v)),
                };
            }
        }
        Ok(())
    }

    /// Checks every range; all problems are reported together.
    pub fn validate(self) -> Result<Self> {
        let errors = self.problems();
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(RiskError::InvalidLimits(errors))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for b in Breaker::CONFIGURABLE {
            let Some(s) = self.spec(b) else { continue };
            let (ok, domain) = b.threshold_domain();
            if !ok(s.threshold) {
                errors.push(format!(
                    "{b}.threshold: must be {domain}, got {}",
                    num(s.threshold)
                ));
            }
            if !(s.cooldown_s.is_finite() && (0.0..=1e9).contains(&s.cooldown_s)) {
                errors.push(format!(
                    "{b}.cooldown_s: must be in [0, 1e9] seconds, got {}",
                    num(s.cooldown_s)
                ));
            }
            if !(s.fraction > 0.0 && s.fraction <= 1.0) {
                errors.push(format!(
                    "{b}.fraction: must be in (0, 1], got {}",
                    num(s.fraction)
                ));
            }
            let position = b == Breaker::PositionLoss;
            if s.action == Action::ClosePosition && !position {
                errors.push(format!(
                    "{b}.action: close_position applies to position_loss only"
                ));
            }
            if position && (s.latched || s.cooldown_s != 0.0) {
                errors.push(format!(
                    "{b}: re-arms when its position closes; latched and cooldown_s do not apply"
                ));
            }
        }
        if self.volatility_warmup < 1 {
            errors.push(format!(
                "volatility_warmup: must be a whole number ≥ 1, got {}",
                self.volatility_warmup
            ));
        }
        if !(0..86_400).contains(&self.reset_s) || self.utc_offset_s.abs() > 18 * 3600 {
            errors.push(format!(
                "session clock out of range: reset {} s, offset {} s",
                self.reset_s, self.utc_offset_s
            ));
        }
        errors.extend(self.policy.problems());
        if !(self.volatility_lambda > 0.0 && self.volatility_lambda < 1.0) {
            errors.push(format!(
                "volatility_lambda: must be in (0, 1), got {}",
                num(self.volatility_lambda)
            ));
        }
        errors
    }

    /// The daily reset time as `"HH:MM"` (or `"HH:MM:SS"`).
    pub fn reset_time(&self) -> String {
        let (h, m, s) = (
            self.reset_s / 3600,
            self.reset_s / 60 % 60,
            self.reset_s % 60,
        );
        if s == 0 {
            format!("{h:02}:{m:02}")
        } else {
            format!("{h:02}:{m:02}:{s:02}")
        }
    }

    /// The UTC offset as `"+HH:MM"`.
    pub fn utc_offset(&self) -> String {
        let sign = if self.utc_offset_s < 0 { '-' } else { '+' };
        let a = self.utc_offset_s.abs();
        format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    }
}

fn parse_clock(s: &str, what: &str) -> std::result::Result<i64, String> {
    let bad = || format!("{what}: must look like \"HH:MM\" or \"HH:MM:SS\", got {s:?}");
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    let n: Vec<i64> = parts.iter().map(|p| p.parse().unwrap_or(99)).collect();
    let (h, m, sec) = (n[0], n[1], n.get(2).copied().unwrap_or(0));
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60 + sec)
}

/// `"HH:MM"` or `"HH:MM:SS"` → seconds after midnight.
pub fn parse_reset_time(s: &str) -> std::result::Result<i64, String> {
    parse_clock(s, "reset_time")
}

/// `"+HH:MM"`, `"-HH:MM"` or `"Z"` → seconds east of UTC, within ±18 h.
pub fn parse_utc_offset(s: &str) -> std::result::Result<i64, String> {
    if s == "Z" || s == "UTC" {
        return Ok(0);
    }
    let bad = || format!("utc_offset: must look like \"+05:30\" or \"-04:00\", got {s:?}");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let secs = parse_clock(rest, "utc_offset").map_err(|_| bad())?;
    if secs > 18 * 3600 || secs % 60 != 0 {
        return Err(bad());
    }
    Ok(sign * secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design_table() {
        let l = Limits::default();
        let dd = l.spec(Breaker::MaxDrawdown).unwrap();
        assert_eq!(
            (dd.threshold, dd.action, dd.latched),
            (0.15, Action::CloseAllHalt, true)
        );
        assert_eq!(
            l.spec(Breaker::ConsecutiveLosses).unwrap().cooldown_s,
            14_400.0
        );
        assert!(l.spec(Breaker::KillSwitch).is_none());
    }

    #[test]
    fn every_error_is_listed() {
        let err = Limits::build([
            ("daily_loss", LimitValue::Number(1.5)),
            ("leverage", LimitValue::Number(-1.0)),
            ("nope", LimitValue::Number(1.0)),
        ])
        .unwrap_err();
        let RiskError::InvalidLimits(errs) = err else {
            panic!("{err}")
        };
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("unknown limit \"nope\""));
        assert!(errs[1].starts_with("daily_loss.threshold: must be in (0, 1], got 1.5"));
    }

    #[test]
    fn clocks_round_trip() {
        let l = Limits::build([
            ("reset_time", LimitValue::Text("17:00".into())),
            ("utc_offset", LimitValue::Text("-05:00".into())),
        ])
        .unwrap();
        assert_eq!((l.reset_s, l.utc_offset_s), (61_200, -18_000));
        assert_eq!(
            (l.reset_time(), l.utc_offset()),
            ("17:00".into(), "-05:00".into())
        );
        assert!(parse_utc_offset("+5").is_err());
        assert!(parse_reset_time("24:00").is_err());
    }
}
