//! haetae-rules: how findings are ranked.
//!
//! The documented default scorer, [`DefaultScorer`], and the team's own CEL
//! rules from `rules.toml`, [`RuleSet`], which build on it.
//!
//! Default score = severity weight × confidence factor + age bonus:
//!
//! | severity | weight |   | confidence | factor |
//! |----------|--------|---|------------|--------|
//! | critical | 100    |   | certain    | 1.0    |
//! | high     | 70     |   | firm       | 0.8    |
//! | medium   | 40     |   | tentative  | 0.5    |
//! | low      | 15     |   |            |        |
//! | info     | 5      |   |            |        |
//!
//! Age bonus: +1 per full week since `first_seen`, at most +10, so an old
//! weakness slowly climbs. Bands: P1 ≥ 80, P2 ≥ 50, P3 ≥ 25, else P4.
//!
//! ```
//! use haetae_findings::{Confidence, Priority, Severity};
//! use haetae_rules::DefaultScorer;
//! assert_eq!(DefaultScorer::base(Severity::Critical, Confidence::Firm), 80.0);
//! assert_eq!(DefaultScorer::band(80.0), Priority::P1);
//! assert_eq!(DefaultScorer::band(49.9), Priority::P3);
//! ```

use haetae_findings::{Confidence, Finding, Prioritizer, Priority, RuleHit, Severity, Timestamp};

mod ruleset;

pub use ruleset::{DEFAULT_SLA_DAYS, EXPOSURE_BONUS, Rule, RuleSet};

/// Name under which the default scorer appears in a finding's `rules`.
pub const DEFAULT_RULE: &str = "default";

/// The built-in scorer: severity × confidence plus age, then a band.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultScorer;

impl DefaultScorer {
    /// Severity weight.
    pub fn weight(s: Severity) -> f64 {
        match s {
            Severity::Critical => 100.0,
            Severity::High => 70.0,
            Severity::Medium => 40.0,
            Severity::Low => 15.0,
            Severity::Info => 5.0,
        }
    }

    /// Confidence factor.
    pub fn factor(c: Confidence) -> f64 {
        match c {
            Confidence::Certain => 1.0,
            Confidence::Firm => 0.8,
            Confidence::Tentative => 0.5,
        }
    }

    /// Severity weight × confidence factor.
    pub fn base(s: Severity, c: Confidence) -> f64 {
        Self::weight(s) * Self::factor(c)
    }

    /// Age bonus for a finding first seen `days` ago.
    pub fn age_bonus(days: i64) -> f64 {
        (days.max(0) / 7).min(10) as f64
    }

    /// The band a score falls in.
    pub fn band(score: f64) -> Priority {
        if score >= 80.0 {
            Priority::P1
        } else if score >= 50.0 {
            Priority::P2
        } else if score >= 25.0 {
            Priority::P3
        } else {
            Priority::P4
        }
    }
}

impl Prioritizer for DefaultScorer {
    fn prioritize(&self, f: &mut Finding, now: Timestamp) {
        let base = Self::base(f.severity, f.confidence);
        let age = Self::age_bonus(now.days_since(f.first_seen));
        let score = base + age;
        f.score = (score * 10.0).round() / 10.0;
        f.priority = Self::band(f.score);
        f.suppressed = false;
        f.rules = vec![RuleHit {
            name: DEFAULT_RULE.into(),
            effect: format!(
                "{} ({}) x {} ({}) = {base}; age +{age}; score {} -> {}",
                f.severity,
                Self::weight(f.severity),
                f.confidence,
                Self::factor(f.confidence),
                f.score,
                f.priority
            ),
        }];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haetae_findings::{Asset, CheckId, Observation, Store};
    use std::sync::Arc;

    #[test]
    fn bands_follow_the_documented_table() {
        let cases = [
            (Severity::Critical, Confidence::Certain, Priority::P1),
            (Severity::Critical, Confidence::Firm, Priority::P1),
            (Severity::Critical, Confidence::Tentative, Priority::P2),
            (Severity::High, Confidence::Certain, Priority::P2),
            (Severity::Medium, Confidence::Certain, Priority::P3),
            (Severity::Medium, Confidence::Tentative, Priority::P4),
            (Severity::Low, Confidence::Certain, Priority::P4),
            (Severity::Info, Confidence::Certain, Priority::P4),
        ];
        for (s, c, p) in cases {
            assert_eq!(DefaultScorer::band(DefaultScorer::base(s, c)), p, "{s} {c}");
        }
        assert_eq!(DefaultScorer::age_bonus(-3), 0.0);
        assert_eq!(DefaultScorer::age_bonus(13), 1.0);
        assert_eq!(DefaultScorer::age_bonus(700), 10.0);
    }

    #[test]
    fn store_assigns_priority_and_explains_it() {
        let store = Store::temporary(Arc::new(DefaultScorer)).unwrap();
        let mut obs = Observation::new(
            CheckId::HttpExposedEnv,
            Asset { host: "www.agency.test".into(), ip: None, port: Some(443) },
            "https://www.agency.test/.env",
            "KR-1",
        );
        obs.confidence = Confidence::Certain;
        let (id, _) = store.upsert(&obs).unwrap();
        let f = store.get(&id).unwrap().unwrap();
        assert_eq!(f.priority, Priority::P1);
        assert_eq!(f.score, 100.0);
        assert_eq!(f.rules.len(), 1);
        assert!(f.rules[0].effect.contains("critical (100) x certain (1) = 100"), "{}", f.rules[0].effect);
        // An old finding climbs with age.
        let mut old = f.clone();
        old.severity = Severity::High;
        old.first_seen = Timestamp::now().plus_days(-70);
        DefaultScorer.prioritize(&mut old, Timestamp::now());
        assert_eq!((old.score, old.priority), (80.0, Priority::P1));
    }
}
