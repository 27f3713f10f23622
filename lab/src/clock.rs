//! Dates for the lab's engagement window, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// Seconds since the Unix epoch, now (negative before 1970).
pub(crate) fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01
/// (Howard Hinnant's `civil_from_days`, proleptic Gregorian).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // both are in small ranges (see above), so the casts are exact
    (year, month as u32, day as u32)
}

/// RFC 3339 UTC with seconds, e.g. `2026-11-28T05:00:00Z`.
pub(crate) fn rfc3339(unix: i64) -> String {
    let (y, mo, d) = civil_from_days(unix.div_euclid(DAY));
    let secs = unix.rem_euclid(DAY);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The lab's engagement window around `now`: (now − 1 day, now + 30 days).
pub(crate) fn window(now: i64) -> (String, String) {
    (rfc3339(now.saturating_sub(DAY)), rfc3339(now.saturating_add(30 * DAY)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339(4_107_456_000), "2100-02-28T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z"); // 2100 is not a leap year
        assert_eq!(rfc3339(1_795_842_000), "2026-11-28T05:00:00Z");
    }

    #[test]
    fn days_round_trip_through_month_ends() {
        // walking day by day, the date always moves forward by exactly one day
        let mut prev = civil_from_days(-800_000);
        for d in -799_999..800_000 {
            let cur = civil_from_days(d);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == (prev.0, prev.1, prev.2 + 1) || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }

    #[test]
    fn window_is_one_day_back_thirty_ahead() {
        let (nb, na) = window(1_795_842_000);
        assert_eq!(nb, "2026-11-27T05:00:00Z");
        assert_eq!(na, "2026-12-28T05:00:00Z");
        assert!(now_unix() > 1_700_000_000);
    }
}
