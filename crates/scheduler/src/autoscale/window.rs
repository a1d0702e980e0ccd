//! Which [`PolicyWindow`] is in effect at a moment: weekday and minute of the day in UTC, from
//! milliseconds since the Unix epoch (1970-01-01 was a Thursday).

use super::{PolicyWindow, PoolPolicy};
use crate::Millis;

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// Weekday (0 = Monday … 6 = Sunday) and minute of the day (0..1440), UTC.
pub(super) fn weekday_minute(now: Millis) -> (u8, u16) {
    let days = now.0.div_euclid(DAY_MS);
    let weekday = (days + 3).rem_euclid(7);
    let minute = now.0.rem_euclid(DAY_MS) / MINUTE_MS;
    // Both are in range by construction: weekday < 7, minute < 1440.
    (weekday as u8, minute as u16)
}

/// The first window matching `now`, if any.
pub(super) fn window_at(policy: &PoolPolicy, now: Millis) -> Option<&PolicyWindow> {
    let (day, minute) = weekday_minute(now);
    policy.windows.iter().find(|w| w.days.contains(&day) && w.from_minute <= minute && minute < w.to_minute)
}

/// The idle time in effect at `now`: the matching window's, else the policy's.
pub(super) fn idle_time_at(policy: &PoolPolicy, now: Millis) -> i64 {
    window_at(policy, now).and_then(|w| w.idle_time_ms).unwrap_or(policy.idle_time_ms)
}
