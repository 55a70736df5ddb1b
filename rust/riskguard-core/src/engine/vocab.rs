//! The engine's vocabulary: the names and shared types every other engine file speaks in —
//! trading and trade states, event kinds, breakers and their actions, exit reasons, denial
//! codes, limits entries as users give them — and the numeric domain of prices and quantities.
//!
//! This file imports nothing else of the engine, so that the engine's files form no cycle: each
//! of them may use these words without depending on the others (DESIGN.md, "Layout";
//! `tests/engine_layering.rs` checks it). The rules that give the words meaning live where they
//! are applied: a breaker's defaults and threshold domain in limits.rs, its evaluation in
//! breakers.rs, a code's check in checks.rs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, RiskError, num};

/// Prices and stops lie in `[MIN_PRICE, MAX_PRICE]`, quantities within `MAX_QTY`, and fees
/// and the starting equity within `MAX_AMOUNT`, so that no sum the engine keeps can overflow and
/// every log return is finite. The ranges cover every traded instrument.
pub const MIN_PRICE: f64 = 1e-15;
pub const MAX_PRICE: f64 = 1e15;
pub const MAX_QTY: f64 = 1e15;
pub const MAX_AMOUNT: f64 = 1e20;

#[inline]
pub(crate) fn in_range(price: f64) -> bool {
    (MIN_PRICE..=MAX_PRICE).contains(&price)
}

/// A fill or order quantity: non-zero and within ±`MAX_QTY`.
pub(crate) fn check_qty(qty: f64) -> Result<()> {
    if qty != 0.0 && qty.abs() <= MAX_QTY {
        Ok(())
    } else {
        Err(RiskError::invalid(
            "qty",
            format!(
                "must be finite, non-zero and within ±{MAX_QTY:e}, got {}",
                num(qty)
            ),
        ))
    }
}

pub(crate) fn check_price(arg: &'static str, price: f64) -> Result<()> {
    if in_range(price) {
        Ok(())
    } else {
        Err(RiskError::invalid(
            arg,
            format!(
                "must be finite and in [{MIN_PRICE:e}, {MAX_PRICE:e}], got {}",
                num(price)
            ),
        ))
    }
}

/// No open trade.
pub(crate) const NO_TRADE: u32 = u32::MAX;

/// Closed trades whose P&L Kelly and regime sizing look back on.
pub(crate) const RECENT_TRADES: usize = 100;

/// A symbol given by interned id or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolRef<'a> {
    Id(u32),
    Name(&'a str),
}

/// The engine's trading state, in increasing severity (NautilusTrader's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TradingState {
    /// Normal trading.
    Active,
    /// Only risk-reducing orders.
    Reducing,
    /// No new risk; exits allowed.
    Halted,
}

impl TradingState {
    /// `"ACTIVE"`, `"REDUCING"` or `"HALTED"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Reducing => "REDUCING",
            Self::Halted => "HALTED",
        }
    }
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of an [`Event`](super::Event); its name is a stable snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    BreakerTripped,
    BreakerRecovered,
    StateChanged,
    StopHit,
    KillSwitch,
    FlattenRequested,
    ReduceRequested,
    /// The exit policy asks to close some or all of a trade.
    ExitSignal,
    /// New risk is paused by hand; the trading state is unchanged.
    Paused,
    Resumed,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::BreakerTripped => "breaker_tripped",
            Self::BreakerRecovered => "breaker_recovered",
            Self::StateChanged => "state_changed",
            Self::StopHit => "stop_hit",
            Self::KillSwitch => "kill_switch",
            Self::FlattenRequested => "flatten_requested",
            Self::ReduceRequested => "reduce_requested",
            Self::ExitSignal => "exit_signal",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A circuit breaker. The order of [`Breaker::CONFIGURABLE`] is the evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Breaker {
    DailyLoss,
    WeeklyLoss,
    MonthlyLoss,
    MaxDrawdown,
    PositionLoss,
    VolatilitySpike,
    Leverage,
    Concentration,
    PortfolioHeat,
    ConsecutiveLosses,
    KillSwitch,
}

impl Breaker {
    /// Every breaker [`Limits`](super::Limits) configures, in evaluation order.
    pub const CONFIGURABLE: [Breaker; 10] = [
        Breaker::DailyLoss,
        Breaker::WeeklyLoss,
        Breaker::MonthlyLoss,
        Breaker::MaxDrawdown,
        Breaker::PositionLoss,
        Breaker::VolatilitySpike,
        Breaker::Leverage,
        Breaker::Concentration,
        Breaker::PortfolioHeat,
        Breaker::ConsecutiveLosses,
    ];
    /// Every breaker, the manual kill switch last.
    pub const ALL: [Breaker; 11] = [
        Breaker::DailyLoss,
        Breaker::WeeklyLoss,
        Breaker::MonthlyLoss,
        Breaker::MaxDrawdown,
        Breaker::PositionLoss,
        Breaker::VolatilitySpike,
        Breaker::Leverage,
        Breaker::Concentration,
        Breaker::PortfolioHeat,
        Breaker::ConsecutiveLosses,
        Breaker::KillSwitch,
    ];

    /// The stable snake_case name used in limits, events and configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::DailyLoss => "daily_loss",
            Self::WeeklyLoss => "weekly_loss",
            Self::MonthlyLoss => "monthly_loss",
            Self::MaxDrawdown => "max_drawdown",
            Self::PositionLoss => "position_loss",
            Self::VolatilitySpike => "volatility_spike",
            Self::Leverage => "leverage",
            Self::Concentration => "concentration",
            Self::PortfolioHeat => "portfolio_heat",
            Self::ConsecutiveLosses => "consecutive_losses",
            Self::KillSwitch => "kill_switch",
        }
    }

    /// Position in [`Breaker::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The session a loss breaker measures: 0 day, 1 week, 2 month.
    pub fn session(self) -> Option<usize> {
        match self {
            Self::DailyLoss => Some(0),
            Self::WeeklyLoss => Some(1),
            Self::MonthlyLoss => Some(2),
            _ => None,
        }
    }
}

impl fmt::Display for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Breaker {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        parse_named("name", &Self::ALL, Self::name, s)
    }
}

/// The member of `all` whose name is `s`, or an error listing the names.
pub(crate) fn parse_named<T: Copy>(
    arg: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
    s: &str,
) -> Result<T> {
    all.iter().copied().find(|&x| name(x) == s).ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|&x| name(x)).collect();
        RiskError::invalid(
            arg,
            format!("must be one of {}, got {s:?}", names.join(", ")),
        )
    })
}

/// What a tripped breaker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Flatten every open position and halt.
    CloseAllHalt,
    /// Halt: no new risk; exits allowed.
    Halt,
    /// Reduce every position by the spec's fraction; only risk-reducing orders.
    Reduce,
    /// Flatten the offending position (position loss only).
    ClosePosition,
    /// Report only.
    Alert,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::CloseAllHalt,
        Action::Halt,
        Action::Reduce,
        Action::ClosePosition,
        Action::Alert,
    ];

    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CloseAllHalt => "close_all_halt",
            Self::Halt => "halt",
            Self::Reduce => "reduce",
            Self::ClosePosition => "close_position",
            Self::Alert => "alert",
        }
    }

    /// The trading state this action holds the engine in while its breaker is tripped.
    pub fn state(self) -> TradingState {
        match self {
            Self::CloseAllHalt | Self::Halt => TradingState::Halted,
            Self::Reduce => TradingState::Reducing,
            Self::ClosePosition | Self::Alert => TradingState::Active,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Action {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        parse_named("action", &Self::ALL, Self::name, s)
    }
}

/// Why an exit was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitReason {
    StopLoss,
    BreakevenStop,
    TrailingStop,
    TakeProfit,
    PartialTakeProfit,
    Time,
}

impl ExitReason {
    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::StopLoss => "stop_loss",
            Self::BreakevenStop => "breakeven_stop",
            Self::TrailingStop => "trailing_stop",
            Self::TakeProfit => "take_profit",
            Self::PartialTakeProfit => "partial_take_profit",
            Self::Time => "time",
        }
    }
}

/// The first cause of a trade's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseCause {
    Exit(ExitReason),
    /// A breaker's (or the kill switch's) flatten request.
    Breaker,
    /// The stop of an unmanaged position was hit.
    Stop,
}

/// Where a trade is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TradeState {
    Open,
    Breakeven,
    PartialTp,
    Trailing,
    ClosedTp,
    ClosedSl,
    ClosedTrailing,
    ClosedTime,
    ClosedBreaker,
    ClosedManual,
}

impl TradeState {
    /// The stable SCREAMING_SNAKE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Breakeven => "BREAKEVEN",
            Self::PartialTp => "PARTIAL_TP",
            Self::Trailing => "TRAILING",
            Self::ClosedTp => "CLOSED_TP",
            Self::ClosedSl => "CLOSED_SL",
            Self::ClosedTrailing => "CLOSED_TRAILING",
            Self::ClosedTime => "CLOSED_TIME",
            Self::ClosedBreaker => "CLOSED_BREAKER",
            Self::ClosedManual => "CLOSED_MANUAL",
        }
    }
}

/// A stable denial code; a code never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)]
pub enum Code {
    TradingPaused,
    TradingHalted,
    ReduceOnly,
    LosingStreakPause,
    DailyLossLimit,
    WeeklyLossLimit,
    MonthlyLossLimit,
    DrawdownLimit,
    KillSwitch,
    ConsensusTooWeak,
    ConfidenceTooLow,
    TrendMisaligned,
    VolatilityTooHigh,
    VolumeTooLow,
    SpreadTooWide,
    PositionSizeExceeded,
    RiskPerTradeExceeded,
    RewardRiskTooLow,
    PortfolioHeatExceeded,
    MaxPositions,
    ExposureExceeded,
    LeverageExceeded,
    ConcentrationExceeded,
    CorrelationTooHigh,
    NotionalTooSmall,
    NotionalTooLarge,
    PriceCollar,
    RateLimited,
    DuplicateOrder,
    MissingMarketData,
}

impl Code {
    /// The SCREAMING_SNAKE name callers branch on.
    pub fn name(self) -> &'static str {
        match self {
            Self::TradingPaused => "TRADING_PAUSED",
            Self::TradingHalted => "TRADING_HALTED",
            Self::ReduceOnly => "REDUCE_ONLY",
            Self::LosingStreakPause => "LOSING_STREAK_PAUSE",
            Self::DailyLossLimit => "DAILY_LOSS_LIMIT",
            Self::WeeklyLossLimit => "WEEKLY_LOSS_LIMIT",
            Self::MonthlyLossLimit => "MONTHLY_LOSS_LIMIT",
            Self::DrawdownLimit => "DRAWDOWN_LIMIT",
            Self::KillSwitch => "KILL_SWITCH",
            Self::ConsensusTooWeak => "CONSENSUS_TOO_WEAK",
            Self::ConfidenceTooLow => "CONFIDENCE_TOO_LOW",
            Self::TrendMisaligned => "TREND_MISALIGNED",
            Self::VolatilityTooHigh => "VOLATILITY_TOO_HIGH",
            Self::VolumeTooLow => "VOLUME_TOO_LOW",
            Self::SpreadTooWide => "SPREAD_TOO_WIDE",
            Self::PositionSizeExceeded => "POSITION_SIZE_EXCEEDED",
            Self::RiskPerTradeExceeded => "RISK_PER_TRADE_EXCEEDED",
            Self::RewardRiskTooLow => "REWARD_RISK_TOO_LOW",
            Self::PortfolioHeatExceeded => "PORTFOLIO_HEAT_EXCEEDED",
            Self::MaxPositions => "MAX_POSITIONS",
            Self::ExposureExceeded => "EXPOSURE_EXCEEDED",
            Self::LeverageExceeded => "LEVERAGE_EXCEEDED",
            Self::ConcentrationExceeded => "CONCENTRATION_EXCEEDED",
            Self::CorrelationTooHigh => "CORRELATION_TOO_HIGH",
            Self::NotionalTooSmall => "NOTIONAL_TOO_SMALL",
            Self::NotionalTooLarge => "NOTIONAL_TOO_LARGE",
            Self::PriceCollar => "PRICE_COLLAR",
            Self::RateLimited => "RATE_LIMITED",
            Self::DuplicateOrder => "DUPLICATE_ORDER",
            Self::MissingMarketData => "MISSING_MARKET_DATA",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A breaker's settings as a user gives them: a threshold plus any fields to override.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialSpec {
    pub threshold: f64,
    pub action: Option<String>,
    pub cooldown_s: Option<f64>,
    pub latched: Option<bool>,
    pub fraction: Option<f64>,
}

/// One user-supplied limits entry, before validation. Both the breakers' limits (limits.rs)
/// and the gate's settings (policy.rs) read them.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitValue {
    /// Switches a breaker off.
    Off,
    Number(f64),
    Spec(PartialSpec),
    Text(String),
    /// A value of a type no entry accepts; the string names the type.
    Invalid(String),
    /// A spec whose fields could not be read; the string says which and why.
    Malformed(String),
    Bool(bool),
    /// A list of names.
    List(Vec<String>),
}

impl LimitValue {
    /// The value as an error message shows it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Off => "None".to_string(),
            Self::Number(x) => num(*x),
            Self::Spec(_) => "a BreakerSpec".to_string(),
            Self::Text(s) => format!("{s:?}"),
            Self::Invalid(t) => format!("a value of type {t}"),
            Self::Malformed(m) => m.clone(),
            Self::Bool(b) => format!("{} (a bool)", if *b { "True" } else { "False" }),
            Self::List(l) => format!("{l:?}"),
        }
    }
}
