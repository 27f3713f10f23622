//! When a `[[schedule]]` is due: pure functions of the schedule, its last
//! run and the time now (unix seconds), so they are tested without a clock.

use std::time::Duration;

use chrono::TimeZone as _;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The time zone of a cron schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "Asia/Seoul";

/// Most due times walked over after one long run (a cron every minute and a
/// run of a week is about 10,000).
const MAX_SKIPPED: u32 = 100_000;

/// How a schedule repeats.
#[derive(Debug, Clone)]
pub enum When {
    /// Every period, with a random delay of up to [`max_jitter`] so that
    /// schedules started together drift apart.
    Every(Duration),
    /// At the times a cron expression names, read in a time zone.
    Cron { expr: String, cron: Box<Cron>, tz: chrono_tz::Tz },
}

impl When {
    /// A cron expression of five fields (`"0 3 * * *"`: minute, hour, day
    /// of month, month, day of week; no seconds, so at most one run a minute)
    /// in a time zone (`"Asia/Seoul"`); the error says which of the two is wrong.
    pub fn cron(expr: &str, timezone: &str) -> Result<When, String> {
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        let cron = parser.parse(expr).map_err(|e| {
            format!("cron: \"{expr}\" is not a cron expression of five fields such as \"0 3 * * *\" ({e})")
        })?;
        let tz: chrono_tz::Tz = timezone.parse().map_err(|_| {
            format!("timezone: \"{timezone}\" is not an IANA time zone such as \"Asia/Seoul\" or \"UTC\"")
        })?;
        Ok(When::Cron { expr: expr.to_owned(), cron: Box::new(cron), tz })
    }

    /// The first time strictly after `after`, without jitter; `None` when a
    /// cron expression names no later time.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        match self {
            When::Every(period) => after.checked_add(secs(*period)),
            When::Cron { cron, tz, .. } => {
                let t = tz.timestamp_opt(after, 0).single()?;
                cron.find_next_occurrence(&t, false).ok().map(|d| d.timestamp())
            }
        }
    }

    fn jitter(&self, random: u64) -> i64 {
        match self {
            When::Every(period) => {
                let max = max_jitter(*period).as_secs();
                i64::try_from(random % (max + 1)).unwrap_or(0)
            }
            When::Cron { .. } => 0,
        }
    }
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            When::Every(p) => write!(f, "every {}s", p.as_secs()),
            When::Cron { expr, tz, .. } => write!(f, "cron \"{expr}\" ({tz})"),
        }
    }
}

/// The largest random delay of an `every` schedule: a tenth of its period,
/// at most five minutes.
pub fn max_jitter(period: Duration) -> Duration {
    (period / 10).min(Duration::from_secs(300))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// When a schedule is due next, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Unix seconds; `None`: never (a cron expression with no later time).
    pub at: Option<i64>,
    /// A due time passed while the daemon was down: this one runs at once.
    pub missed: bool,
}

/// When a schedule is first due after the daemon starts at `now`, given
/// when its last run started. A schedule that never ran runs at once when it
/// repeats by period, at its next time when it is a cron; a due time that
/// passed while the daemon was down runs once, at once (not once per time
/// missed).
pub fn first_due(when: &When, last_run: Option<i64>, now: i64, random: u64) -> Due {
    match (when, last_run) {
        (When::Every(_), None) => Due { at: Some(now), missed: false },
        (When::Cron { .. }, None) => Due { at: when.next_after(now), missed: false },
        (_, Some(last)) => match when.next_after(last) {
            Some(t) if t <= now => Due { at: Some(now), missed: true },
            Some(t) => Due { at: Some(t.saturating_add(when.jitter(random))), missed: false },
            None => Due { at: None, missed: false },
        },
    }
}

/// After a run that started at `started` and ended at `now`: when the
/// schedule is due next and how many due times passed while it ran. Those
/// are skipped, never run late or twice: one schedule never has two runs at
/// once.
pub fn after_run(when: &When, started: i64, now: i64, random: u64) -> (Option<i64>, u32) {
    let mut next = when.next_after(started);
    let mut skipped = 0;
    while let Some(t) = next
        && t <= now
        && skipped < MAX_SKIPPED
    {
        skipped += 1;
        next = when.next_after(t);
    }
    if skipped == MAX_SKIPPED {
        next = when.next_after(now);
    }
    (next.map(|t| t.saturating_add(when.jitter(random))), skipped)
}

/// What the authorization window allows at a due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Run now; the window closes at this time (the run is stopped then).
    Run { closes: i64 },
    /// Not yet: the window opens at this time.
    Wait { opens: i64 },
    /// The window has closed: no run.
    Closed { at: i64 },
}

/// The authorization window `[not_before, not_after]` at `now`.
pub fn window(now: i64, not_before: i64, not_after: i64) -> Window {
    if now < not_before {
        Window::Wait { opens: not_before }
    } else if now > not_after {
        Window::Closed { at: not_after }
    } else {
        Window::Run { closes: not_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04T00:00:00Z.
    const T0: i64 = 1_796_342_400;
    const H: i64 = 3600;

    fn cron(expr: &str, tz: &str) -> When {
        When::cron(expr, tz).unwrap()
    }

    #[test]
    fn every_is_due_a_period_after_the_last_run_plus_bounded_jitter() {
        let six = When::Every(Duration::from_secs(6 * 3600));
        assert_eq!(max_jitter(Duration::from_secs(6 * 3600)), Duration::from_secs(300));
        assert_eq!(max_jitter(Duration::from_secs(600)), Duration::from_secs(60));
        let mut seen = std::collections::BTreeSet::new();
        for r in 0..2000u64 {
            let due = first_due(&six, Some(T0), T0 + H, r.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let at = due.at.unwrap();
            assert!(!due.missed);
            assert!((T0 + 6 * H..=T0 + 6 * H + 300).contains(&at), "{at}");
            seen.insert(at - (T0 + 6 * H));
        }
        // The jitter spreads over its whole range, both ends included.
        assert!(seen.contains(&0) && seen.contains(&300), "{seen:?}");
        assert!(seen.len() > 200);
    }

    #[test]
    fn a_schedule_that_never_ran_starts_at_once_or_at_its_next_cron_time() {
        let every = When::Every(Duration::from_secs(900));
        assert_eq!(first_due(&every, None, T0, 7), Due { at: Some(T0), missed: false });
        // 03:00 in Seoul is 18:00 UTC the day before.
        let c = cron("0 3 * * *", DEFAULT_TIMEZONE);
        assert_eq!(first_due(&c, None, T0, 7), Due { at: Some(T0 + 18 * H), missed: false });
    }

    #[test]
    fn cron_times_are_read_in_the_time_zone() {
        let seoul = cron("0 3 * * *", "Asia/Seoul");
        let utc = cron("0 3 * * *", "UTC");
        assert_eq!(seoul.next_after(T0), Some(T0 + 18 * H));
        assert_eq!(utc.next_after(T0), Some(T0 + 3 * H));
        // Daylight saving: 03:00 in New York is 08:00 UTC in winter, 07:00 in summer.
        let ny = cron("0 3 * * *", "America/New_York");
        assert_eq!(ny.next_after(T0), Some(T0 + 8 * H));
        let july = 1_783_123_200; // 2026-07-04T00:00:00Z
        assert_eq!(ny.next_after(july), Some(july + 7 * H));
        // Strictly after: at 03:00 exactly the next one is tomorrow.
        assert_eq!(utc.next_after(T0 + 3 * H), Some(T0 + 27 * H));
        // No jitter on cron schedules.
        assert_eq!(first_due(&utc, Some(T0 + 3 * H), T0 + 4 * H, u64::MAX).at, Some(T0 + 27 * H));
    }

    #[test]
    fn bad_cron_or_time_zone_is_named() {
        let e = When::cron("0 3 * *", "UTC").unwrap_err();
        assert!(e.starts_with("cron: \"0 3 * *\""), "{e}");
        // Seconds are not a field: at most one run a minute.
        let e = When::cron("* * * * * *", "UTC").unwrap_err();
        assert!(e.starts_with("cron: \"* * * * * *\""), "{e}");
        assert!(When::cron("0 3 * * mon-fri", "UTC").is_ok());
        let e = When::cron("0 3 * * *", "Asia/Sejong").unwrap_err();
        assert!(e.starts_with("timezone: \"Asia/Sejong\""), "{e}");
    }

    #[test]
    fn a_run_missed_while_down_runs_once_at_start() {
        let every = When::Every(Duration::from_secs(6 * 3600));
        // Down for three days: one run now, not twelve.
        assert_eq!(first_due(&every, Some(T0), T0 + 72 * H, 9), Due { at: Some(T0 + 72 * H), missed: true });
        // Exactly at the due time counts as missed (due now).
        assert!(first_due(&every, Some(T0), T0 + 6 * H, 9).missed);
        let c = cron("0 3 * * *", "UTC");
        assert_eq!(first_due(&c, Some(T0 + 3 * H), T0 + 26 * H, 1), Due { at: Some(T0 + 27 * H), missed: false });
        assert_eq!(first_due(&c, Some(T0 + 3 * H), T0 + 28 * H, 1), Due { at: Some(T0 + 28 * H), missed: true });
    }

    #[test]
    fn a_run_still_going_when_the_next_is_due_skips_it() {
        let hourly = When::Every(Duration::from_secs(3600));
        let jitter = max_jitter(Duration::from_secs(3600)).as_secs() as i64;
        // A short run: the next is an hour after its start, nothing skipped.
        let (next, skipped) = after_run(&hourly, T0, T0 + 60, 0);
        assert_eq!((next, skipped), (Some(T0 + H), 0));
        // A run of 2.5 hours: the due times at +1h and +2h are skipped, the next is +3h.
        let (next, skipped) = after_run(&hourly, T0, T0 + 9000, 5);
        assert_eq!(skipped, 2);
        assert!((T0 + 3 * H..=T0 + 3 * H + jitter).contains(&next.unwrap()));
        let c = cron("*/15 * * * *", "UTC");
        assert_eq!(after_run(&c, T0, T0 + 50 * 60, 0), (Some(T0 + 60 * 60), 3));
    }

    #[test]
    fn the_window_decides_run_wait_or_closed() {
        assert_eq!(window(T0, T0 + H, T0 + 2 * H), Window::Wait { opens: T0 + H });
        assert_eq!(window(T0 + H, T0 + H, T0 + 2 * H), Window::Run { closes: T0 + 2 * H });
        assert_eq!(window(T0 + 2 * H, T0 + H, T0 + 2 * H), Window::Run { closes: T0 + 2 * H });
        assert_eq!(window(T0 + 2 * H + 1, T0 + H, T0 + 2 * H), Window::Closed { at: T0 + 2 * H });
    }
}
