//! What change tracking needs from a scan besides ports and certificates:
//! the banner of each endpoint (the product/version readings the probes
//! took, see `soft.rs`) and whether a name definitely has no address.

use std::collections::{BTreeMap, BTreeSet};

use crate::guard::{ChainEnd, Resolution};
use crate::software::Reading;

/// Longest banner text kept, in characters.
const MAX_BANNER: usize = 200;

/// One banner per (host, port): its distinct readings, sorted, joined by `; `.
pub(super) fn of<'a>(
    readings: impl Iterator<Item = (&'a String, u16, &'a Vec<Reading>)>,
) -> Vec<(String, u16, String)> {
    let mut by_endpoint: BTreeMap<(&str, u16), BTreeSet<&str>> = BTreeMap::new();
    for (host, port, list) in readings {
        let raws = list.iter().map(|r| r.raw.as_str()).filter(|r| !r.is_empty());
        by_endpoint.entry((host.as_str(), port)).or_default().extend(raws);
    }
    by_endpoint
        .into_iter()
        .filter(|(_, raws)| !raws.is_empty())
        .map(|((host, port), raws)| {
            let text = raws.into_iter().collect::<Vec<_>>().join("; ");
            (host.to_owned(), port, text.chars().take(MAX_BANNER).collect())
        })
        .collect()
}

/// Whether the name servers said definitely that `r` has no address:
/// NXDOMAIN or no A/AAAA, at the name itself or at the end of its CNAME
/// chain, and no address at all (not even one out of scope). A failure,
/// a loop or a name out of scope says nothing.
pub(super) fn no_address(r: &Resolution) -> bool {
    let definite = matches!(r.end, ChainEnd::NxDomain | ChainEnd::NoData | ChainEnd::Dangling { .. });
    definite && r.allowed.is_empty() && r.refused.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(raw: &str) -> Reading {
        Reading {
            name: "x".into(),
            version: crate::software::parse::Version::lenient("1.0").unwrap(),
            raw: raw.into(),
            origin: "test".into(),
            distro: None,
            windows: false,
        }
    }

    #[test]
    fn one_sorted_bounded_banner_per_endpoint() {
        let (a, b) = ("a.test".to_owned(), "b.test".to_owned());
        let one = vec![reading("nginx/1.22.1"), reading("OpenSSH_9.2")];
        let two = vec![reading("nginx/1.22.1")];
        let long = vec![reading(&"x".repeat(500))];
        let empty = vec![reading("")];
        let got = of([(&a, 443, &one), (&a, 443, &two), (&b, 22, &long), (&b, 80, &empty)].into_iter());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], (a.clone(), 443, "OpenSSH_9.2; nginx/1.22.1".to_owned()));
        assert_eq!(got[1].2.chars().count(), MAX_BANNER);
    }

    #[test]
    fn only_a_definite_answer_is_no_address() {
        let r = |end: ChainEnd| Resolution {
            name: "gone.test".into(),
            chain: Vec::new(),
            end,
            allowed: Vec::new(),
            refused: Vec::new(),
            out_of_scope_target: None,
            outside_domains: None,
            audit: Vec::new(),
        };
        assert!(no_address(&r(ChainEnd::NxDomain)));
        assert!(no_address(&r(ChainEnd::NoData)));
        assert!(!no_address(&r(ChainEnd::Failed("timeout".into()))));
        assert!(!no_address(&r(ChainEnd::TooLong)));
        assert!(!no_address(&r(ChainEnd::Addresses)));
        let mut refused = r(ChainEnd::NxDomain);
        refused.refused.push(("192.0.2.1".parse().unwrap(), "out of scope".into()));
        assert!(!no_address(&refused));
    }
}
