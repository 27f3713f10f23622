//! No export contains a secret that was planted in a finding, whatever field
//! holds it and whatever the format does to text on the way out.

use proptest::prelude::*;

use super::{fixture, render};
use crate::export::{Format, Lang};
use crate::model::{Finding, HistoryEntry, RuleHit, State};
use crate::redact::secrets::{any_secret, embed};

/// Plant `text` in every free text of a finding.
fn plant(mut f: Finding, text: &str) -> Finding {
    f.title = format!("Exposed {text}");
    f.evidence = format!("https://portal.agency.test/.env: 200; {text}");
    f.url = Some(format!("https://portal.agency.test/{text}"));
    f.location = text.to_owned();
    f.remediation = format!("Rotate {text}");
    f.references.push(text.to_owned());
    f.tags.push(text.to_owned());
    f.assignee = Some(text.to_owned());
    f.rules.push(RuleHit { name: text.to_owned(), effect: text.to_owned() });
    f.history.push(HistoryEntry {
        at: f.last_seen,
        actor: "kim".into(),
        from: Some(State::Open),
        to: State::Confirmed,
        note: Some(format!("found {text} in the page")),
    });
    f.host = format!("{text}.agency.test");
    f
}

/// The text as a reader could recover it: as written, without Markdown's
/// backslashes, and with SARIF's percent-encoding undone.
fn readings(out: &str) -> [String; 3] {
    let mut bytes = Vec::with_capacity(out.len());
    let raw = out.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if raw[i] == b'%'
            && let (Some(h), Some(l)) = (raw.get(i + 1).and_then(|b| hex(*b)), raw.get(i + 2).and_then(|b| hex(*b)))
        {
            bytes.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    [out.to_owned(), out.replace('\\', ""), String::from_utf8_lossy(&bytes).into_owned()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_format_holds_a_planted_secret((text, secret) in any_secret().prop_flat_map(|(t, s)| (embed(t), Just(s)))) {
        let base = fixture();
        let findings = vec![plant(base[0].clone(), &text), plant(base[3].clone(), &text)];
        for format in Format::ALL {
            for lang in [Lang::En, Lang::Ko] {
                let out = render(&findings, *format, lang);
                for reading in readings(&out) {
                    prop_assert!(!reading.contains(&secret), "{format}: {secret:?} in\n{out}");
                }
            }
        }
    }
}
