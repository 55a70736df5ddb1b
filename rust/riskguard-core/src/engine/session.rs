//! The session clock: which day, week and month a timestamp falls in, on the limits' local
//! clock (UTC offset, daily reset time).

use serde::{Deserialize, Serialize};

const NS: i64 = 1_000_000_000;
const DAY_S: i64 = 86_400;

/// Session keys of one instant: day number, Monday-based week number, and `12 * year + month - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionKeys {
    pub day: i64,
    pub week: i64,
    pub month: i64,
}

/// Maps timestamps to session keys, with the next day boundary cached so that the common case
/// is one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionClock {
    /// `utc_offset_s - reset_s`: added to UTC seconds, it gives seconds since the local reset.
    shift_s: i64,
}

impl SessionClock {
    pub fn new(reset_s: i64, utc_offset_s: i64) -> Self {
        Self {
            shift_s: utc_offset_s - reset_s,
        }
    }

    /// The session day of `ts` (ns).
    #[inline]
    pub fn day(&self, ts: i64) -> i64 {
        (ts.div_euclid(NS) + self.shift_s).div_euclid(DAY_S)
    }

    /// All three keys of `ts` (ns).
    pub fn keys(&self, ts: i64) -> SessionKeys {
        let day = self.day(ts);
        let (y, m) = civil_year_month(day);
        SessionKeys {
            day,
            week: (day + 3).div_euclid(7),
            month: 12 * y + m - 1,
        }
    }

    /// The first timestamp (ns) of the session day after `day`, saturating at `i64::MAX`.
    pub fn next_day_start(&self, day: i64) -> i64 {
        let s = (day as i128 + 1) * DAY_S as i128 - self.shift_s as i128;
        (s * NS as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
}

/// Year and month (1-12) of a day number counted from 1970-01-01 (proleptic Gregorian).
fn civil_year_month(day: i64) -> (i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_S * NS;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_year_month(0), (1970, 1));
        assert_eq!(civil_year_month(31), (1970, 2));
        assert_eq!(civil_year_month(-1), (1969, 12));
        assert_eq!(civil_year_month(19_037), (2022, 2)); // 2022-02-14
        assert_eq!(civil_year_month(11_016), (2000, 2)); // 2000-02-29
        assert_eq!(civil_year_month(11_017), (2000, 3));
    }

    #[test]
    fn weeks_start_on_monday_and_offsets_shift_days() {
        let c = SessionClock::new(0, 0);
        // 1970-01-04 was a Sunday, 1970-01-05 a Monday.
        assert_eq!(c.keys(3 * D).week, c.keys(0).week);
        assert_eq!(c.keys(4 * D).week, c.keys(0).week + 1);
        // A 17:00 New York reset (UTC-5): 21:59 UTC is the old day, 22:00 UTC the new one.
        let ny = SessionClock::new(17 * 3600, -5 * 3600);
        let t = 10 * D + 22 * 3600 * NS;
        assert_eq!(ny.day(t - NS), ny.day(t) - 1);
        assert_eq!(ny.next_day_start(ny.day(t - NS)), t);
    }
}
