//! Gate, sizing and exit settings (docs/gate.md, "Settings"): named numeric knobs that can be
//! switched off, the sizing method and the signal-quality switches.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RiskError, num};

use super::vocab::{LimitValue, RECENT_TRADES, parse_named};

/// A numeric setting. `None` in [`Policy`] means off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Knob {
    RiskPerTrade,
    TradeAmount,
    KellyFraction,
    KellyCap,
    KellyMinTrades,
    TargetVolatility,
    MaxRiskPerTrade,
    MaxPositionPct,
    MaxPositionNotional,
    MinNotional,
    MinRewardRisk,
    MaxHeat,
    MaxPositions,
    MaxExposure,
    MaxCorrelation,
    CorrelationWindow,
    CorrelationMinObs,
    MinConfidence,
    HighVolConfidence,
    MaxAtrRatio,
    MinVolume24h,
    MaxSpreadBps,
    PriceCollar,
    MaxOrdersPerSecond,
    DuplicateWindowS,
    AtrPeriod,
    EmaPeriod,
    SlAtr,
    TpAtr,
    BreakevenR,
    BreakevenOffset,
    PartialTpR,
    PartialTpFraction,
    TrailStartR,
    TrailAtr,
    MaxHoursNoProgress,
    // Added in snapshot format 4: a format-3 image has no value for them (see `Policy::upgrade`).
    MaxBarsNoProgress,
    HighVolAtrRatio,
}

const N: usize = 38;
/// The knobs of snapshot format 3, the first `N3` of [`Knob::ALL`].
pub const N3: usize = 36;

/// The valid values of a knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    /// (0, 1]
    Fraction,
    /// [0, 1]
    Unit,
    /// [0, 1)
    HalfOpen,
    /// (0, 1)
    Open,
    /// [-1, 1]
    Correlation,
    /// finite and > 0
    Positive,
    /// finite and ≥ 0
    NonNegative,
    /// a whole number ≥ `min`, ≤ 1e9
    Whole(u32),
    /// (0, 1e6]
    Hours,
}

impl Domain {
    fn holds(self, x: f64) -> bool {
        match self {
            Self::Fraction => x > 0.0 && x <= 1.0,
            Self::Unit => (0.0..=1.0).contains(&x),
            Self::HalfOpen => (0.0..1.0).contains(&x),
            Self::Open => x > 0.0 && x < 1.0,
            Self::Correlation => (-1.0..=1.0).contains(&x),
            Self::Positive => x.is_finite() && x > 0.0,
            Self::NonNegative => x.is_finite() && x >= 0.0,
            Self::Whole(min) => x >= f64::from(min) && x <= 1e9 && x.fract() == 0.0,
            Self::Hours => x > 0.0 && x <= 1e6,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Fraction => "in (0, 1]".into(),
            Self::Unit => "in [0, 1]".into(),
            Self::HalfOpen => "in [0, 1)".into(),
            Self::Open => "in (0, 1)".into(),
            Self::Correlation => "in [-1, 1]".into(),
            Self::Positive => "finite and > 0".into(),
            Self::NonNegative => "finite and ≥ 0".into(),
            Self::Whole(min) => format!("a whole number ≥ {min}"),
            Self::Hours => "in (0, 1e6] hours".into(),
        }
    }
}

impl Knob {
    pub const ALL: [Knob; N] = [
        Knob::RiskPerTrade,
        Knob::TradeAmount,
        Knob::KellyFraction,
        Knob::KellyCap,
        Knob::KellyMinTrades,
        Knob::TargetVolatility,
        Knob::MaxRiskPerTrade,
        Knob::MaxPositionPct,
        Knob::MaxPositionNotional,
        Knob::MinNotional,
        Knob::MinRewardRisk,
        Knob::MaxHeat,
        Knob::MaxPositions,
        Knob::MaxExposure,
        Knob::MaxCorrelation,
        Knob::CorrelationWindow,
        Knob::CorrelationMinObs,
        Knob::MinConfidence,
        Knob::HighVolConfidence,
        Knob::MaxAtrRatio,
        Knob::MinVolume24h,
        Knob::MaxSpreadBps,
        Knob::PriceCollar,
        Knob::MaxOrdersPerSecond,
        Knob::DuplicateWindowS,
        Knob::AtrPeriod,
        Knob::EmaPeriod,
        Knob::SlAtr,
        Knob::TpAtr,
        Knob::BreakevenR,
        Knob::BreakevenOffset,
        Knob::PartialTpR,
        Knob::PartialTpFraction,
        Knob::TrailStartR,
        Knob::TrailAtr,
        Knob::MaxHoursNoProgress,
        Knob::MaxBarsNoProgress,
        Knob::HighVolAtrRatio,
    ];

    /// The stable snake_case name used in limits and configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::RiskPerTrade => "risk_per_trade",
            Self::TradeAmount => "trade_amount",
            Self::KellyFraction => "kelly_fraction",
            Self::KellyCap => "kelly_cap",
            Self::KellyMinTrades => "kelly_min_trades",
            Self::TargetVolatility => "target_volatility",
            Self::MaxRiskPerTrade => "max_risk_per_trade",
            Self::MaxPositionPct => "max_position_pct",
            Self::MaxPositionNotional => "max_position_notional",
            Self::MinNotional => "min_notional",
            Self::MinRewardRisk => "min_reward_risk",
            Self::MaxHeat => "max_heat",
            Self::MaxPositions => "max_positions",
            Self::MaxExposure => "max_exposure",
            Self::MaxCorrelation => "max_correlation",
            Self::CorrelationWindow => "correlation_window",
            Self::CorrelationMinObs => "correlation_min_obs",
            Self::MinConfidence => "min_confidence",
            Self::HighVolConfidence => "high_vol_confidence",
            Self::MaxAtrRatio => "max_atr_ratio",
            Self::MinVolume24h => "min_volume_24h",
            Self::MaxSpreadBps => "max_spread_bps",
            Self::PriceCollar => "price_collar",
            Self::MaxOrdersPerSecond => "max_orders_per_second",
            Self::DuplicateWindowS => "duplicate_window_s",
            Self::AtrPeriod => "atr_period",
            Self::EmaPeriod => "ema_period",
            Self::SlAtr => "sl_atr",
            Self::TpAtr => "tp_atr",
            Self::BreakevenR => "breakeven_r",
            Self::BreakevenOffset => "breakeven_offset",
            Self::PartialTpR => "partial_tp_r",
            Self::PartialTpFraction => "partial_tp_fraction",
            Self::TrailStartR => "trail_start_r",
            Self::TrailAtr => "trail_atr",
            Self::MaxHoursNoProgress => "max_hours_no_progress",
            Self::MaxBarsNoProgress => "max_bars_no_progress",
            Self::HighVolAtrRatio => "high_vol_atr_ratio",
        }
    }

    /// The default value (`None`: off by default).
    pub fn default_value(self) -> Option<f64> {
        Some(match self {
            Self::RiskPerTrade => 0.01,
            Self::TradeAmount => 1000.0,
            Self::KellyFraction => 0.5,
            Self::KellyCap => 0.25,
            Self::KellyMinTrades => 20.0,
            Self::TargetVolatility => 0.01,
            Self::MaxRiskPerTrade => 0.02,
            Self::MaxPositionPct => 0.10,
            Self::MaxPositionNotional => return None,
            Self::MinNotional => 5.0,
            Self::MinRewardRisk => 1.5,
            Self::MaxHeat => 0.10,
            Self::MaxPositions => 5.0,
            Self::MaxExposure => 0.80,
            Self::MaxCorrelation => 0.70,
            Self::CorrelationWindow => 100.0,
            Self::CorrelationMinObs => 20.0,
            Self::MinConfidence => 0.70,
            Self::HighVolConfidence => 0.80,
            Self::MaxAtrRatio => 0.05,
            Self::MinVolume24h => 1_000_000.0,
            Self::MaxSpreadBps => 50.0,
            Self::PriceCollar => 0.05,
            Self::MaxOrdersPerSecond => 10.0,
            Self::DuplicateWindowS => 1.0,
            Self::AtrPeriod => 14.0,
            Self::EmaPeriod => 200.0,
            Self::SlAtr => 1.5,
            Self::TpAtr => 3.75,
            Self::BreakevenR => 1.0,
            Self::BreakevenOffset => 0.001,
            Self::PartialTpR => 2.0,
            Self::PartialTpFraction => 0.5,
            Self::TrailStartR => 2.0,
            Self::TrailAtr => 1.0,
            // Counted in bars, so that a daily trade is not closed after one bar; an hours
            // window (the intraday profile's 24 h) is for whoever asks for one.
            Self::MaxHoursNoProgress => return None,
            Self::MaxBarsNoProgress => 24.0,
            Self::HighVolAtrRatio => 0.03,
        })
    }

    fn domain(self) -> Domain {
        match self {
            Self::RiskPerTrade | Self::KellyFraction | Self::KellyCap | Self::MaxRiskPerTrade => {
                Domain::Fraction
            }
            Self::MinConfidence | Self::HighVolConfidence => Domain::Unit,
            Self::BreakevenOffset => Domain::HalfOpen,
            Self::PartialTpFraction => Domain::Open,
            Self::MaxCorrelation => Domain::Correlation,
            Self::KellyMinTrades
            | Self::MaxPositions
            | Self::MaxOrdersPerSecond
            | Self::AtrPeriod
            | Self::EmaPeriod
            | Self::MaxBarsNoProgress => Domain::Whole(1),
            Self::CorrelationWindow | Self::CorrelationMinObs => Domain::Whole(2),
            Self::MinVolume24h | Self::MaxSpreadBps => Domain::NonNegative,
            Self::MaxHoursNoProgress => Domain::Hours,
            _ => Domain::Positive,
        }
    }

    /// Whether the knob is a whole number (shown as an integer).
    pub fn is_whole(self) -> bool {
        matches!(self.domain(), Domain::Whole(_))
    }

    /// Knobs that cannot be switched off: the sizing inputs and the indicator windows.
    fn required(self) -> bool {
        matches!(
            self,
            Self::RiskPerTrade
                | Self::TradeAmount
                | Self::KellyFraction
                | Self::KellyCap
                | Self::KellyMinTrades
                | Self::TargetVolatility
                | Self::CorrelationWindow
                | Self::CorrelationMinObs
                | Self::AtrPeriod
                | Self::EmaPeriod
        )
    }
}

/// How `evaluate_signal` sizes a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    FixedFractional,
    FixedAmount,
    Kelly,
    VolatilityTarget,
    Atr,
    RiskParity,
    Consensus,
    RegimeBased,
}

impl Method {
    pub const ALL: [Method; 8] = [
        Method::FixedFractional,
        Method::FixedAmount,
        Method::Kelly,
        Method::VolatilityTarget,
        Method::Atr,
        Method::RiskParity,
        Method::Consensus,
        Method::RegimeBased,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::FixedFractional => "fixed_fractional",
            Self::FixedAmount => "fixed_amount",
            Self::Kelly => "kelly",
            Self::VolatilityTarget => "volatility_target",
            Self::Atr => "atr",
            Self::RiskParity => "risk_parity",
            Self::Consensus => "consensus",
            Self::RegimeBased => "regime_based",
        }
    }
}

impl FromStr for Method {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        parse_named("sizing", &Self::ALL, Self::name, s)
    }
}

/// How `consensus` sizing combines its methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Combine {
    Min,
    Median,
    Mean,
}

impl Combine {
    pub const ALL: [Combine; 3] = [Combine::Min, Combine::Median, Combine::Mean];

    pub fn name(self) -> &'static str {
        match self {
            Self::Min => "min",
            Self::Median => "median",
            Self::Mean => "mean",
        }
    }
}

impl FromStr for Combine {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        parse_named("how", &Self::ALL, Self::name, s)
    }
}

/// How many of a signal's sources agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Consensus {
    Unanimous,
    Strong,
    Weak,
    Split,
}

impl Consensus {
    pub const ALL: [Consensus; 4] = [
        Consensus::Unanimous,
        Consensus::Strong,
        Consensus::Weak,
        Consensus::Split,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Unanimous => "UNANIMOUS",
            Self::Strong => "STRONG",
            Self::Weak => "WEAK",
            Self::Split => "SPLIT",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl FromStr for Consensus {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        parse_named("consensus", &Self::ALL, Self::name, s)
    }
}

impl fmt::Display for Consensus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A setting's value as the bindings show it.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    Number(Option<f64>),
    Whole(Option<u64>),
    Text(&'static str),
    List(Option<Vec<&'static str>>),
    Bool(bool),
}

/// The names of every setting that is not a knob, in display order.
pub const SWITCHES: [&str; 6] = [
    "sizing",
    "consensus_methods",
    "consensus_mode",
    "allowed_consensus",
    "signal_filters",
    "require_trend",
];

/// Every gate, sizing and exit setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Indexed by [`Knob`]; a `Vec` because serde stops at arrays of 32.
    knobs: Vec<Option<f64>>,
    pub sizing: Method,
    pub consensus_methods: Vec<Method>,
    pub consensus_mode: Combine,
    /// Bit per allowed [`Consensus`]; `None` switches the check off.
    allowed_consensus: Option<u8>,
    pub signal_filters: bool,
    pub require_trend: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            knobs: Knob::ALL.map(Knob::default_value).to_vec(),
            sizing: Method::FixedFractional,
            consensus_methods: vec![
                Method::FixedFractional,
                Method::Atr,
                Method::VolatilityTarget,
            ],
            consensus_mode: Combine::Min,
            allowed_consensus: Some(Consensus::Unanimous.bit() | Consensus::Strong.bit()),
            signal_filters: true,
            require_trend: true,
        }
    }
}

impl Policy {
    /// A policy read from a format-3 snapshot, made to answer as it did then: the knobs added
    /// since are off (no bar-counted time exit), and the one ATR ratio of format 3, which only
    /// raised the confidence floor, becomes `high_vol_atr_ratio` (the floor), with no ratio
    /// refused outright. A policy of the current format is left as it is.
    pub(crate) fn upgrade_from_3(&mut self) {
        if self.knobs.len() != N3 {
            return;
        }
        let ratio = self.knobs[Knob::MaxAtrRatio as usize];
        self.knobs.resize(N, None);
        self.knobs[Knob::MaxAtrRatio as usize] = None;
        self.knobs[Knob::HighVolAtrRatio as usize] = ratio;
    }

    /// The policy as format 3 stored it (the inverse of [`Policy::upgrade_from_3`]), for the
    /// tests of reading old images.
    #[cfg(test)]
    pub(crate) fn downgrade_to_3(&mut self) {
        let floor = self.knobs[Knob::HighVolAtrRatio as usize];
        self.knobs.truncate(N3);
        self.knobs[Knob::MaxAtrRatio as usize] = floor;
    }

    /// The knob's value, `None` when off.
    #[inline]
    pub fn get(&self, k: Knob) -> Option<f64> {
        self.knobs[k as usize]
    }

    /// A knob that cannot be off.
    #[inline]
    pub fn req(&self, k: Knob) -> f64 {
        self.knobs[k as usize].unwrap_or(f64::NAN)
    }

    /// Whether `c` passes the consensus check (always, when the check is off).
    pub fn allows(&self, c: Consensus) -> bool {
        self.allowed_consensus.is_none_or(|m| m & c.bit() != 0)
    }

    pub fn consensus_check(&self) -> bool {
        self.allowed_consensus.is_some()
    }

    /// Sets the setting `name`; `None` when no setting has that name.
    pub(crate) fn set(
        &mut self,
        name: &str,
        value: LimitValue,
    ) -> Option<std::result::Result<(), String>> {
        let wrong = |expected: &str, value: &LimitValue| {
            Err(format!(
                "{name}: must be {expected}, got {}",
                value.describe()
            ))
        };
        if let Some(k) = Knob::ALL.into_iter().find(|k| k.name() == name) {
            return Some(match value {
                LimitValue::Number(x) => {
                    self.knobs[k as usize] = Some(x);
                    Ok(())
                }
                LimitValue::Off if !k.required() => {
                    self.knobs[k as usize] = None;
                    Ok(())
                }
                LimitValue::Off => Err(format!("{name}: cannot be switched off")),
                v => {
                    let domain = k.domain().describe();
                    let expected = if k.is_whole() {
                        domain
                    } else {
                        format!("a number {domain}")
                    };
                    wrong(&expected, &v)
                }
            });
        }
        Some(match (name, value) {
            ("sizing", LimitValue::Text(s)) => s
                .parse()
                .map(|m| self.sizing = m)
                .map_err(|e| problem("sizing", e)),
            ("sizing", v) => wrong("a method name", &v),
            ("consensus_mode", LimitValue::Text(s)) => s
                .parse()
                .map(|c| self.consensus_mode = c)
                .map_err(|e| problem("consensus_mode", e)),
            ("consensus_mode", v) => wrong("\"min\", \"median\" or \"mean\"", &v),
            ("consensus_methods", LimitValue::List(list)) => {
                parse_all(name, &list).map(|v| self.consensus_methods = v)
            }
            ("consensus_methods", v) => wrong("a list of method names", &v),
            ("allowed_consensus", LimitValue::Off) => {
                self.allowed_consensus = None;
                Ok(())
            }
            ("allowed_consensus", LimitValue::List(list)) => parse_all::<Consensus>(name, &list)
                .map(|v| self.allowed_consensus = Some(v.iter().fold(0, |a, c| a | c.bit()))),
            ("allowed_consensus", v) => wrong("a list of consensus names or None", &v),
            ("signal_filters", LimitValue::Bool(b)) => {
                self.signal_filters = b;
                Ok(())
            }
            ("require_trend", LimitValue::Bool(b)) => {
                self.require_trend = b;
                Ok(())
            }
            ("signal_filters" | "require_trend", v) => wrong("True or False", &v),
            _ => return None,
        })
    }

    pub(crate) fn problems(&self) -> Vec<String> {
        if self.knobs.len() != N {
            return vec![format!(
                "settings: expected {N} numeric settings, got {}",
                self.knobs.len()
            )];
        }
        let mut errors = Vec::new();
        for k in Knob::ALL {
            match self.get(k) {
                Some(x) if !k.domain().holds(x) => errors.push(format!(
                    "{}: must be {}, got {}",
                    k.name(),
                    k.domain().describe(),
                    num(x)
                )),
                None if k.required() => {
                    errors.push(format!("{}: cannot be switched off", k.name()))
                }
                _ => {}
            }
        }
        if let Some(n) = self.get(Knob::KellyMinTrades)
            && n > RECENT_TRADES as f64
        {
            errors.push(format!(
                "kelly_min_trades: must not exceed the {RECENT_TRADES} trades Kelly looks back on, got {n}"
            ));
        }
        if self.consensus_methods.is_empty() || self.consensus_methods.contains(&Method::Consensus)
        {
            errors.push(
                "consensus_methods: must list at least one method other than consensus".into(),
            );
        }
        // The gate's two ATR ratios: the floor rises below the one that refuses, or never acts.
        if let (Some(high), Some(max)) =
            (self.get(Knob::HighVolAtrRatio), self.get(Knob::MaxAtrRatio))
            && high >= max
        {
            errors.push(format!(
                "high_vol_atr_ratio: must be below max_atr_ratio ({max}), got {high}; above \
                 max_atr_ratio a signal is refused, so the confidence floor would never rise"
            ));
        }
        if let (Some(lo), Some(n)) = (
            self.get(Knob::CorrelationMinObs),
            self.get(Knob::CorrelationWindow),
        ) && lo > n
        {
            errors.push(format!(
                "correlation_min_obs: must not exceed correlation_window ({n}), got {lo}"
            ));
        }
        errors
    }

    /// Every setting with its value, knobs first, in display order.
    pub fn entries(&self) -> Vec<(&'static str, SettingValue)> {
        let mut out: Vec<_> = Knob::ALL
            .into_iter()
            .map(|k| {
                let v = self.get(k);
                let value = if k.is_whole() {
                    SettingValue::Whole(v.map(|x| x as u64))
                } else {
                    SettingValue::Number(v)
                };
                (k.name(), value)
            })
            .collect();
        out.push(("sizing", SettingValue::Text(self.sizing.name())));
        out.push((
            "consensus_methods",
            SettingValue::List(Some(
                self.consensus_methods.iter().map(|m| m.name()).collect(),
            )),
        ));
        out.push((
            "consensus_mode",
            SettingValue::Text(self.consensus_mode.name()),
        ));
        out.push((
            "allowed_consensus",
            SettingValue::List(self.allowed_consensus.map(|m| {
                Consensus::ALL
                    .into_iter()
                    .filter(|c| m & c.bit() != 0)
                    .map(Consensus::name)
                    .collect()
            })),
        ));
        out.push(("signal_filters", SettingValue::Bool(self.signal_filters)));
        out.push(("require_trend", SettingValue::Bool(self.require_trend)));
        out
    }
}

/// Every name of `list` parsed, or the first that is not one.
fn parse_all<T: FromStr<Err = RiskError>>(
    name: &str,
    list: &[String],
) -> std::result::Result<Vec<T>, String> {
    list.iter()
        .map(|s| s.parse().map_err(|e| problem(name, e)))
        .collect()
}

/// A limits problem as `name: message`, whichever argument the parse error names.
fn problem(name: &str, e: RiskError) -> String {
    match e {
        RiskError::InvalidArgument { message, .. } => format!("{name}: {message}"),
        e => format!("{name}: {e}"),
    }
}
