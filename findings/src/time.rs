//! [`Timestamp`]: UTC instants, written as RFC 3339 everywhere they leave the process.

use std::fmt;
use std::str::FromStr;

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time, UtcOffset};

/// A UTC instant with second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// Text that is neither an RFC 3339 time nor a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time `{0}`: expected a date `YYYY-MM-DD` or an RFC 3339 time such as `2026-12-31T23:59:59Z`")]
pub struct ParseTimeError(pub String);

impl Timestamp {
    /// Now, truncated to the second.
    pub fn now() -> Self {
        Self::from_unix(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// From seconds since the Unix epoch (clamped to the representable range).
    pub fn from_unix(secs: i64) -> Self {
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Timestamp(t)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// This instant plus whole days (saturating).
    pub fn plus_days(self, days: i64) -> Self {
        Timestamp(self.0.saturating_add(Duration::days(days)))
    }

    /// Whole days from `earlier` to `self` (negative if `earlier` is later).
    pub fn days_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).whole_days()
    }

    /// `YYYY-MM-DD`.
    pub fn date_string(self) -> String {
        let d = self.0.date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The form every record holds, written directly (the general
        // formatter allocates); the same text RFC 3339 formatting gives.
        let (d, t) = (self.0.date(), self.0.time());
        if (0..=9999).contains(&d.year()) && self.0.offset().is_utc() {
            let (y, mo, day) = (d.year(), u8::from(d.month()), d.day());
            let (h, mi, sec) = (t.hour(), t.minute(), t.second());
            return write!(f, "{y:04}-{mo:02}-{day:02}T{h:02}:{mi:02}:{sec:02}Z");
        }
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "@{}", self.unix()),
        }
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimeError;

    /// Accepts RFC 3339, or a bare date meaning the end of that day (UTC), which is
    /// what a person means by "accepted until 2026-12-31".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(t) = parse_utc_seconds(s) {
            return Ok(t);
        }
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(Timestamp(t.to_offset(UtcOffset::UTC).replace_nanosecond(0).unwrap_or(t)));
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let date = Date::parse(s, &fmt).map_err(|_| ParseTimeError(s.to_owned()))?;
        let end = Time::from_hms(23, 59, 59).map_err(|_| ParseTimeError(s.to_owned()))?;
        Ok(Timestamp(date.with_time(end).assume_utc()))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form every stored record holds, without the
/// general RFC 3339 parser (a third of the time of decoding a listing went
/// there). Anything else is left to it.
fn parse_utc_seconds(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let month = time::Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(num(0, 4)?).ok()?, month, u8::try_from(num(8, 10)?).ok()?).ok()?;
    let hms = |a, b| num(a, b).and_then(|n| u8::try_from(n).ok());
    let t = Time::from_hms(hms(11, 13)?, hms(14, 16)?, hms(17, 19)?).ok()?;
    Some(Timestamp(date.with_time(t).assume_utc()))
}

crate::serde_as_string!(Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_as_end_of_day_and_round_trips() {
        let t: Timestamp = "2026-12-31".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-31T23:59:59Z");
        let u: Timestamp = "2026-11-01T09:00:00+09:00".parse().unwrap();
        assert_eq!(u.to_string(), "2026-11-01T00:00:00Z");
        assert_eq!(u.to_string().parse::<Timestamp>().unwrap(), u);
        assert!("tomorrow".parse::<Timestamp>().is_err());
        assert_eq!(t.days_since(u), 60);
    }

    proptest::proptest! {
        #[test]
        fn the_fast_forms_agree_with_rfc3339(secs in -62_135_596_800i64..253_402_300_799) {
            let t = Timestamp::from_unix(secs);
            let general = t.0.format(&Rfc3339).unwrap();
            proptest::prop_assert_eq!(t.to_string(), general.clone());
            proptest::prop_assert_eq!(parse_utc_seconds(&general), Some(t));
            proptest::prop_assert_eq!(general.parse::<Timestamp>().unwrap(), t);
        }

        #[test]
        fn the_fast_parser_refuses_what_rfc3339_refuses(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z") {
            let general = OffsetDateTime::parse(&s, &Rfc3339).ok().map(Timestamp);
            // RFC 3339 allows a leap second (:60); we do not store one, and
            // `time` keeps it as :59, so only compare where it is absent.
            if !s.ends_with(":60Z") {
                proptest::prop_assert_eq!(parse_utc_seconds(&s), general);
            }
        }
    }
}
