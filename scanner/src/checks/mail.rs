//! SPF (RFC 7208) and DMARC (RFC 7489) policy analysis: pure functions over
//! the TXT strings of a domain, so they are tested without any network.

/// What a domain's SPF policy means for unmatched senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spf {
    /// No `v=spf1` record.
    Missing,
    /// More than one `v=spf1` record: receivers return permerror (RFC 7208 section 4.5).
    Multiple(usize),
    /// Unmatched senders pass (`+all` or a bare `all`).
    PassAll(String),
    /// Unmatched senders are neutral (`?all`, or no `all` and no `redirect`).
    Neutral(String),
    /// A policy that fails or soft-fails unmatched senders, or delegates with
    /// `redirect=` (judged at the target, not here).
    Restrictive(String),
}

fn is_spf(txt: &str) -> bool {
    let t = txt.trim_start();
    // By bytes: a TXT string is the server's, and its sixth byte may fall
    // inside a multi-byte character (Korean text), where a `str` slice panics.
    let b = t.as_bytes();
    b.get(..6).is_some_and(|p| p.eq_ignore_ascii_case(b"v=spf1")) && b.get(6).is_none_or(|&c| c == b' ')
}

/// Classify the SPF policy among a domain's TXT strings.
pub fn analyze_spf(txts: &[String]) -> Spf {
    let records: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
    match records.as_slice() {
        [] => Spf::Missing,
        [one] => classify_spf(one),
        many => Spf::Multiple(many.len()),
    }
}

fn classify_spf(record: &str) -> Spf {
    let mut redirect = false;
    for term in record.split_ascii_whitespace().skip(1) {
        let lower = term.to_ascii_lowercase();
        if lower.starts_with("redirect=") {
            redirect = true;
            continue;
        }
        let (qualifier, mech) = match lower.chars().next() {
            Some(q @ ('+' | '-' | '~' | '?')) => (q, &lower[1..]),
            _ => ('+', lower.as_str()),
        };
        if mech == "all" {
            // Terms after `all` are never evaluated (RFC 7208 section 5.1).
            return match qualifier {
                '+' => Spf::PassAll(record.to_owned()),
                '?' => Spf::Neutral(record.to_owned()),
                _ => Spf::Restrictive(record.to_owned()),
            };
        }
    }
    if redirect { Spf::Restrictive(record.to_owned()) } else { Spf::Neutral(record.to_owned()) }
}

/// A domain's DMARC policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dmarc {
    /// No `v=DMARC1` record at `_dmarc.<domain>`.
    Missing,
    /// More than one record: receivers ignore them all (RFC 7489 section 6.6.3).
    Multiple(usize),
    /// `p=none`, or no valid `p` tag (treated as none).
    Monitor(String),
    /// `p=quarantine` or `p=reject`.
    Enforced(String),
}

fn dmarc_tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase()))
        })
        .collect()
}

/// Classify the DMARC policy among the TXT strings at `_dmarc.<domain>`.
pub fn analyze_dmarc(txts: &[String]) -> Dmarc {
    let records: Vec<&String> =
        txts.iter().filter(|t| dmarc_tags(t).first().is_some_and(|(k, v)| k == "v" && v == "dmarc1")).collect();
    let record = match records.as_slice() {
        [] => return Dmarc::Missing,
        [one] => *one,
        many => return Dmarc::Multiple(many.len()),
    };
    let policy = dmarc_tags(record).into_iter().find(|(k, _)| k == "p").map(|(_, v)| v);
    match policy.as_deref() {
        Some("quarantine" | "reject") => Dmarc::Enforced(record.clone()),
        _ => Dmarc::Monitor(record.clone()),
    }
}

/// The policy an organizational domain's DMARC record sets for its
/// subdomains (RFC 7489 section 6.3 `sp`, section 6.6.3 step 6): `sp=` when
/// present, else `p=`; an `sp=` that is not a policy makes receivers act as
/// for `p=none`. With the tag that decided, in words (`sp=none applies`).
pub fn analyze_dmarc_for_subdomain(txts: &[String]) -> (Dmarc, String) {
    let record = match analyze_dmarc(txts) {
        Dmarc::Monitor(r) | Dmarc::Enforced(r) => r,
        other => return (other, String::new()),
    };
    let tags = dmarc_tags(&record);
    let tag = |name: &str| tags.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match (tag("sp"), tag("p")) {
        (Some(sp), _) => match sp.as_str() {
            "quarantine" | "reject" => (Dmarc::Enforced(record), format!("sp={sp} applies")),
            "none" => (Dmarc::Monitor(record), "sp=none applies".to_owned()),
            other => {
                (Dmarc::Monitor(record), format!("sp={other} is not a policy, so receivers treat the record as p=none"))
            }
        },
        (None, Some(p)) if p == "quarantine" || p == "reject" => {
            (Dmarc::Enforced(record), format!("no sp= tag, so p={p} applies"))
        }
        (None, Some(p)) if p == "none" => (Dmarc::Monitor(record), "no sp= tag, so p=none applies".to_owned()),
        (None, _) => (Dmarc::Monitor(record), "no sp= tag and no valid p= tag: treated as p=none".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn multibyte_txt_strings_do_not_panic() {
        // The sixth byte falls inside a Hangul syllable (3 bytes each).
        assert_eq!(analyze_spf(&v(&["v=s한국어 메일 정책"])), Spf::Missing);
        assert_eq!(analyze_spf(&v(&["메일정책 v=spf1 -all"])), Spf::Missing);
        assert_eq!(analyze_spf(&v(&["v=spf1한 -all"])), Spf::Missing);
        assert_eq!(analyze_dmarc(&v(&["v=DMA한국; p=none"])), Dmarc::Missing);
        assert!(matches!(analyze_spf(&v(&["v=spf1 한국 -all"])), Spf::Restrictive(_)));
    }

    proptest::proptest! {
        /// No TXT content a server can send panics the mail analysis.
        #[test]
        fn mail_analysis_never_panics(txts in proptest::collection::vec(".{0,40}", 0..4), prefix in "(v=spf1|v=DMARC1;|V=sPf1 |)") {
            let mut all = txts.clone();
            all.extend(txts.iter().map(|t| format!("{prefix}{t}")));
            let _ = analyze_spf(&all);
            let _ = analyze_dmarc(&all);
        }
    }

    #[test]
    fn spf_policies() {
        assert_eq!(analyze_spf(&v(&["google-site-verification=x"])), Spf::Missing);
        assert!(matches!(analyze_spf(&v(&["v=spf1 ip4:1.2.3.4 +all"])), Spf::PassAll(_)));
        assert!(matches!(analyze_spf(&v(&["v=spf1 all"])), Spf::PassAll(_)));
        assert!(matches!(analyze_spf(&v(&["V=SPF1 mx ?all"])), Spf::Neutral(_)));
        assert!(matches!(analyze_spf(&v(&["v=spf1 mx"])), Spf::Neutral(_)));
        assert!(matches!(analyze_spf(&v(&["v=spf1 mx -all"])), Spf::Restrictive(_)));
        assert!(matches!(analyze_spf(&v(&["v=spf1 mx ~all +all"])), Spf::Restrictive(_)), "first all wins");
        assert!(matches!(analyze_spf(&v(&["v=spf1 redirect=_spf.example.test"])), Spf::Restrictive(_)));
        assert!(matches!(analyze_spf(&v(&["v=spf10 +all"])), Spf::Missing), "not an SPF record");
        assert_eq!(analyze_spf(&v(&["v=spf1 -all", "v=spf1 +all"])), Spf::Multiple(2));
        assert!(matches!(analyze_spf(&v(&["v=spf1 include:allmail.test -all"])), Spf::Restrictive(_)));
    }

    #[test]
    fn subdomain_policy_is_sp_when_present_else_p() {
        let (d, why) = analyze_dmarc_for_subdomain(&v(&["v=DMARC1; p=reject; sp=none"]));
        assert!(matches!(d, Dmarc::Monitor(_)));
        assert_eq!(why, "sp=none applies");
        let (d, why) = analyze_dmarc_for_subdomain(&v(&["v=DMARC1; p=reject"]));
        assert!(matches!(d, Dmarc::Enforced(_)), "p=reject covers subdomains without sp=");
        assert_eq!(why, "no sp= tag, so p=reject applies");
        let (d, why) = analyze_dmarc_for_subdomain(&v(&["v=DMARC1; p=none; sp=Quarantine"]));
        assert!(matches!(d, Dmarc::Enforced(_)));
        assert_eq!(why, "sp=quarantine applies");
        let (d, why) = analyze_dmarc_for_subdomain(&v(&["v=DMARC1; p=none"]));
        assert!(matches!(d, Dmarc::Monitor(_)));
        assert_eq!(why, "no sp= tag, so p=none applies");
        let (d, why) = analyze_dmarc_for_subdomain(&v(&["v=DMARC1; p=reject; sp=bogus"]));
        assert!(matches!(d, Dmarc::Monitor(_)), "an invalid sp= is p=none");
        assert!(why.contains("sp=bogus is not a policy"), "{why}");
        assert_eq!(analyze_dmarc_for_subdomain(&v(&["nothing"])).0, Dmarc::Missing);
        assert_eq!(analyze_dmarc_for_subdomain(&v(&["v=DMARC1; p=reject", "v=DMARC1; p=none"])).0, Dmarc::Multiple(2));
    }

    #[test]
    fn dmarc_policies() {
        assert_eq!(analyze_dmarc(&v(&["something else"])), Dmarc::Missing);
        assert!(matches!(analyze_dmarc(&v(&["v=DMARC1; p=none; rua=mailto:a@b.test"])), Dmarc::Monitor(_)));
        assert!(matches!(analyze_dmarc(&v(&["v=DMARC1; rua=mailto:a@b.test"])), Dmarc::Monitor(_)));
        assert!(matches!(analyze_dmarc(&v(&["v=DMARC1;p=reject"])), Dmarc::Enforced(_)));
        assert!(matches!(analyze_dmarc(&v(&["v=DMARC1; p=Quarantine; pct=50"])), Dmarc::Enforced(_)));
        assert!(matches!(analyze_dmarc(&v(&["p=reject; v=DMARC1"])), Dmarc::Missing), "v must come first");
        assert_eq!(analyze_dmarc(&v(&["v=DMARC1; p=reject", "v=DMARC1; p=none"])), Dmarc::Multiple(2));
    }
}
