//! Mail domains below the zone apexes: every in-scope name that owns an MX
//! record or a `v=spf1` TXT record gets the SPF and DMARC checks the apexes
//! get (`zone.rs`).
//!
//! Which names: those that own the records themselves (an MX or SPF record
//! reached through a CNAME belongs to the alias target, not to the name, and
//! is not judged). A null MX (`MX 0 .`, RFC 7505) says the name takes no mail,
//! so it does not make the name a mail domain. An MX target (`mail.agency.test`
//! in `agency.test MX 10 mail.agency.test`) is a host, not a mail domain: it is
//! judged only if it owns MX or SPF records itself.
//!
//! DMARC follows RFC 7489 section 6.6.3: with no record at `_dmarc.<name>`, the
//! organizational domain's record applies, its `sp=` for a subdomain (else its
//! `p=`). Without a Public Suffix List, the organizational domain is the
//! highest `domains` entry of the scope the name falls under (the shortest
//! one): an engagement's domains are registered domains or names below them.
//! A name that is itself that entry has no other record to fall back on.

use haetae_findings::{CheckId, Observation};

use super::mail::{Dmarc, Spf, analyze_dmarc, analyze_dmarc_for_subdomain, analyze_spf};
use crate::dns::{RData, Rcode, Response};
use crate::guard::{GuardError, QueryResult};

/// The TXT strings `owner` has in `r`, following CNAMEs inside the answer
/// from `owner` (at most 8): a `_dmarc` name may be an alias of a record kept
/// elsewhere.
pub(crate) fn txts_at(r: &Response, owner: &str) -> Vec<String> {
    let mut name = owner.to_owned();
    for _ in 0..8 {
        let here: Vec<String> = r
            .answers
            .iter()
            .filter(|rec| rec.name == name)
            .filter_map(|rec| match &rec.data {
                RData::Txt(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        if !here.is_empty() {
            return here;
        }
        match r.answers.iter().find_map(|rec| match &rec.data {
            RData::Cname(t) if rec.name == name => Some(t.clone()),
            _ => None,
        }) {
            Some(next) => name = next,
            None => break,
        }
    }
    Vec::new()
}

/// The TXT strings owned by `owner` itself (no alias followed).
pub(crate) fn own_txts(r: &Response, owner: &str) -> Vec<String> {
    r.answers
        .iter()
        .filter(|rec| rec.name == owner)
        .filter_map(|rec| match &rec.data {
            RData::Txt(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// A definite answer (NOERROR or NXDOMAIN), or `None` (timeout, SERVFAIL ...).
pub(crate) fn definite(q: &QueryResult) -> Option<&Response> {
    q.response.as_ref().ok().filter(|r| matches!(r.rcode, Rcode::NoError | Rcode::NxDomain))
}

/// Whether a query failed because the authorization window closed.
pub(crate) fn window_closed(q: &QueryResult) -> Option<String> {
    match &q.response {
        Err(e @ GuardError::Window(_)) => Some(e.to_string()),
        _ => None,
    }
}

/// Whether `name` owns a real MX record (not a null MX) in `r`.
pub(crate) fn has_mx(r: &Response, name: &str) -> bool {
    r.answers.iter().any(|rec| {
        rec.name == name && matches!(&rec.data, RData::Mx { exchange, .. } if !exchange.is_empty() && exchange != ".")
    })
}

/// Whether `name` is a mail domain: `Some(true)` when it owns an MX or SPF
/// record, `Some(false)` when both answers say it owns neither, `None` when
/// what is known does not decide.
pub(crate) fn is_mail_domain(mx: Option<&Response>, txt: Option<&Response>, name: &str) -> Option<bool> {
    let mx = mx.map(|r| has_mx(r, name));
    let spf = txt.map(|r| !matches!(analyze_spf(&own_txts(r, name)), Spf::Missing));
    match (mx, spf) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// The organizational domain of `name` for DMARC: the shortest `domains`
/// entry it falls under (see the module documentation), if any.
pub(crate) fn organizational_domain<'a>(domains: &'a [String], name: &str) -> Option<&'a str> {
    domains
        .iter()
        .map(|d| d.trim_end_matches('.'))
        .filter(|d| name == *d || name.strip_suffix(*d).is_some_and(|head| head.ends_with('.')))
        .min_by_key(|d| d.len())
}

/// The SPF finding of `name`, from its own TXT strings: (check, evidence).
pub(crate) fn judge_spf(name: &str, records: &[String]) -> Option<(CheckId, String)> {
    match analyze_spf(records) {
        Spf::Missing => Some((CheckId::DnsSpfMissing, format!("{name} publishes no v=spf1 TXT record"))),
        Spf::Multiple(n) => Some((
            CheckId::DnsSpfMissing,
            format!("{name} publishes {n} v=spf1 records; receivers treat that as permerror (no policy)"),
        )),
        Spf::PassAll(r) => Some((CheckId::DnsSpfPermissive, format!("\"{r}\": any host passes"))),
        Spf::Neutral(r) => {
            Some((CheckId::DnsSpfPermissive, format!("\"{r}\": unlisted hosts get neutral, the same as ?all")))
        }
        Spf::Restrictive(_) => None,
    }
}

/// The DMARC finding of `name` (RFC 7489 section 6.6.3): `own` the DMARC
/// strings at `_dmarc.<name>`; `org`, when `name` has none and is below its
/// organizational domain, that domain and the strings at `_dmarc.<org>`.
pub(crate) fn judge_dmarc(name: &str, own: &[String], org: Option<(&str, &[String])>) -> Option<(CheckId, String)> {
    let owner = format!("_dmarc.{name}");
    match analyze_dmarc(own) {
        Dmarc::Enforced(_) => return None,
        Dmarc::Monitor(r) => {
            return Some((CheckId::DnsDmarcWeak, format!("\"{r}\": policy none, spoofed mail is delivered")));
        }
        Dmarc::Multiple(n) => {
            return Some((
                CheckId::DnsDmarcMissing,
                format!("{owner} has {n} DMARC records; receivers ignore them all"),
            ));
        }
        Dmarc::Missing => {}
    }
    let Some((org, org_txts)) = org else {
        return Some((CheckId::DnsDmarcMissing, format!("{owner} has no v=DMARC1 record")));
    };
    let head = format!("no record at {owner}; organizational domain {org}");
    let (verdict, why) = analyze_dmarc_for_subdomain(org_txts);
    match verdict {
        Dmarc::Enforced(_) => None,
        Dmarc::Monitor(r) => {
            Some((CheckId::DnsDmarcWeak, format!("{head}: {r} → {why}; spoofed mail from {name} is delivered")))
        }
        Dmarc::Missing => {
            Some((CheckId::DnsDmarcMissing, format!("{head} has no v=DMARC1 record at _dmarc.{org} either")))
        }
        Dmarc::Multiple(n) => Some((
            CheckId::DnsDmarcMissing,
            format!("{head} has {n} DMARC records at _dmarc.{org}; receivers ignore them all"),
        )),
    }
}

/// Organizational domain → its DMARC strings and the audit ids of the query
/// (`None`: no definite answer), so each is asked once per scan pass.
pub(crate) type OrgCache = std::collections::HashMap<String, Option<(Vec<String>, Vec<u64>)>>;

/// What the DMARC check of one name gave.
#[derive(Debug, Default)]
pub(crate) struct DmarcOutcome {
    /// The finding, if any.
    pub(crate) observation: Option<Observation>,
    /// Both needed answers were definite: the check covers the name.
    pub(crate) definite: bool,
    /// The authorization window closed while asking.
    pub(crate) window_closed: Option<String>,
}

/// Ask for `_dmarc.<name>` and, when it has none and `org` is another name,
/// for `_dmarc.<org>` (the answer kept in `org_cache` for the next name), and
/// judge. `org_cache` maps an organizational domain to its DMARC strings and
/// audit ids (`None`: no definite answer).
pub(crate) async fn dmarc(
    guard: &crate::guard::ScopeGuard,
    name: &str,
    org: Option<&str>,
    org_cache: &mut OrgCache,
    eng: &str,
) -> DmarcOutcome {
    let mut out = DmarcOutcome::default();
    let owner = format!("_dmarc.{name}");
    let q = guard.query(&owner, crate::dns::RecordType::Txt).await;
    out.window_closed = window_closed(&q);
    let Some(r) = definite(&q) else { return out };
    let own = txts_at(r, &owner);
    let mut audit = q.audit.clone();
    let org = org.filter(|o| *o != name);
    let org_txts = match (org, analyze_dmarc(&own)) {
        (Some(o), Dmarc::Missing) => {
            if !org_cache.contains_key(o) {
                let oq = guard.query(&format!("_dmarc.{o}"), crate::dns::RecordType::Txt).await;
                if out.window_closed.is_none() {
                    out.window_closed = window_closed(&oq);
                }
                let got = definite(&oq).map(|r| (txts_at(r, &format!("_dmarc.{o}")), oq.audit.clone()));
                org_cache.insert(o.to_owned(), got);
            }
            match org_cache.get(o) {
                Some(Some((txts, a))) => {
                    audit.extend(a);
                    Some((o, txts.clone()))
                }
                // No definite answer for the organizational domain: nothing known.
                _ => return out,
            }
        }
        _ => None,
    };
    out.definite = true;
    if let Some((check, evidence)) = judge_dmarc(name, &own, org_txts.as_ref().map(|(o, t)| (*o, t.as_slice()))) {
        let asset = haetae_findings::Asset { host: name.to_owned(), ip: None, port: None };
        out.observation = Some(super::observe(check, eng, asset, "_dmarc TXT", evidence, &audit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Rec;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_owned()).collect()
    }

    fn response(answers: Vec<Rec>) -> Response {
        Response {
            id: 1,
            rcode: Rcode::NoError,
            authoritative: true,
            truncated: false,
            question: None,
            question_type: None,
            answers,
            authority: Vec::new(),
        }
    }

    fn rec(name: &str, data: RData) -> Rec {
        Rec { name: name.to_owned(), ttl: 300, data }
    }

    #[test]
    fn a_subdomain_without_its_own_record_gets_the_organizational_sp() {
        let (check, ev) =
            judge_dmarc("mail.agency.test", &[], Some(("agency.test", &v(&["v=DMARC1; p=reject; sp=none"])))).unwrap();
        assert_eq!(check, CheckId::DnsDmarcWeak);
        assert_eq!(
            ev,
            "no record at _dmarc.mail.agency.test; organizational domain agency.test: v=DMARC1; p=reject; sp=none \
             → sp=none applies; spoofed mail from mail.agency.test is delivered"
        );
        let (check, ev) =
            judge_dmarc("news.agency.test", &[], Some(("agency.test", &v(&["v=DMARC1; p=none"])))).unwrap();
        assert_eq!(check, CheckId::DnsDmarcWeak);
        assert!(ev.contains("no sp= tag, so p=none applies"), "{ev}");
        let (check, ev) = judge_dmarc("news.agency.test", &[], Some(("agency.test", &[]))).unwrap();
        assert_eq!(check, CheckId::DnsDmarcMissing);
        assert!(ev.contains("no v=DMARC1 record at _dmarc.agency.test either"), "{ev}");
        let two = v(&["v=DMARC1; p=reject", "v=DMARC1; p=none"]);
        let (check, _) = judge_dmarc("news.agency.test", &[], Some(("agency.test", &two))).unwrap();
        assert_eq!(check, CheckId::DnsDmarcMissing);
    }

    #[test]
    fn a_subdomain_under_an_enforcing_organizational_record_is_silent() {
        assert_eq!(judge_dmarc("mail.hardened.test", &[], Some(("hardened.test", &v(&["v=DMARC1; p=reject"])))), None);
        let quarantine = v(&["v=DMARC1; p=none; sp=quarantine"]);
        assert_eq!(judge_dmarc("mail.hardened.test", &[], Some(("hardened.test", &quarantine))), None);
        // Its own enforcing record wins over a weak organizational one.
        let own = v(&["v=DMARC1; p=reject"]);
        assert_eq!(judge_dmarc("x.agency.test", &own, Some(("agency.test", &v(&["v=DMARC1; p=none"])))), None);
    }

    #[test]
    fn a_subdomain_own_record_is_judged_by_its_p() {
        // sp= in the name's own record is about its subdomains, not itself.
        let own = v(&["v=DMARC1; p=none; sp=reject"]);
        let (check, _) =
            judge_dmarc("x.agency.test", &own, Some(("agency.test", &v(&["v=DMARC1; p=reject"])))).unwrap();
        assert_eq!(check, CheckId::DnsDmarcWeak);
        // An organizational domain with no record.
        let (check, ev) = judge_dmarc("agency.test", &[], None).unwrap();
        assert_eq!(check, CheckId::DnsDmarcMissing);
        assert_eq!(ev, "_dmarc.agency.test has no v=DMARC1 record");
    }

    #[test]
    fn spf_judgement() {
        assert_eq!(judge_spf("a.test", &v(&["v=spf1 mx -all"])), None);
        assert_eq!(judge_spf("a.test", &v(&["v=spf1 mx ~all"])), None);
        assert_eq!(judge_spf("a.test", &v(&["v=spf1 +all"])).unwrap().0, CheckId::DnsSpfPermissive);
        assert_eq!(judge_spf("a.test", &v(&["hello"])).unwrap().0, CheckId::DnsSpfMissing);
    }

    #[test]
    fn organizational_domain_is_the_highest_domains_entry() {
        let domains = v(&["agency.test", "mail.agency.test", "other.test", "gency.test"]);
        assert_eq!(organizational_domain(&domains, "x.mail.agency.test"), Some("agency.test"));
        assert_eq!(organizational_domain(&domains, "agency.test"), Some("agency.test"));
        assert_eq!(organizational_domain(&domains, "mail.other.test"), Some("other.test"));
        assert_eq!(organizational_domain(&domains, "xagency.test"), None, "a label boundary is needed");
        assert_eq!(organizational_domain(&domains, "example.test"), None);
    }

    #[test]
    fn mail_domains_own_mx_or_spf() {
        let name = "news.agency.test";
        let mx = response(vec![rec(name, RData::Mx { preference: 10, exchange: "mail.agency.test".into() })]);
        let none = response(Vec::new());
        assert_eq!(is_mail_domain(Some(&mx), Some(&none), name), Some(true));
        assert_eq!(is_mail_domain(Some(&mx), None, name), Some(true), "MX alone decides");
        let spf = response(vec![rec(name, RData::Txt("v=spf1 -all".into()))]);
        assert_eq!(is_mail_domain(None, Some(&spf), name), Some(true), "SPF alone decides");
        assert_eq!(is_mail_domain(Some(&none), Some(&none), name), Some(false));
        assert_eq!(is_mail_domain(None, Some(&none), name), None, "a failed MX query decides nothing");
        let null_mx = response(vec![rec(name, RData::Mx { preference: 0, exchange: String::new() })]);
        assert_eq!(is_mail_domain(Some(&null_mx), Some(&none), name), Some(false), "a null MX takes no mail");
        // Records reached through an alias belong to the alias target.
        let aliased = response(vec![
            rec(name, RData::Cname("elsewhere.example".into())),
            rec("elsewhere.example", RData::Mx { preference: 10, exchange: "mx.example".into() }),
        ]);
        assert_eq!(is_mail_domain(Some(&aliased), Some(&none), name), Some(false));
    }

    #[test]
    fn dmarc_strings_follow_an_alias_in_the_answer() {
        let r = response(vec![
            rec("_dmarc.a.test", RData::Cname("_dmarc.b.test".into())),
            rec("_dmarc.b.test", RData::Txt("v=DMARC1; p=reject".into())),
        ]);
        assert_eq!(txts_at(&r, "_dmarc.a.test"), v(&["v=DMARC1; p=reject"]));
        assert!(own_txts(&r, "_dmarc.a.test").is_empty());
    }
}
