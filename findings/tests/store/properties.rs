//! Property: any sequence of upserts, triage and scans leaves every index
//! consistent with the primary records.

use haetae_findings::{CheckId, Coverage, Selection, State, Timestamp, Transition};
use proptest::prelude::*;

use crate::support::{Backend, obs};

#[derive(Debug, Clone)]
enum Op {
    Upsert { check: usize, host: usize, evidence: u8, in_scan: bool },
    Triage { pick: usize, to: usize },
    Scan { complete: bool, cover_host: usize },
}

const CHECKS: [CheckId; 3] = [CheckId::SvcSshExposed, CheckId::DnsSpfMissing, CheckId::SvcRedisNoauth];
const HOSTS: [&str; 3] = ["a.test", "B.test.", "c.test"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, 0..3u8, any::<bool>())
            .prop_map(|(check, host, evidence, in_scan)| Op::Upsert { check, host, evidence, in_scan }),
        3 => (0..16usize, 0..5usize).prop_map(|(pick, to)| Op::Triage { pick, to }),
        1 => (any::<bool>(), 0..3usize).prop_map(|(complete, cover_host)| Op::Scan { complete, cover_host }),
    ]
}

/// The property on one backend.
fn indexes_stay_consistent(backend: &Backend, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = backend.store();
    let mut scan = store.begin_scan(vec![]).unwrap().id;
    for op in ops {
        match op {
            Op::Upsert { check, host, evidence, in_scan } => {
                let port = if check == 1 { None } else { Some(22) };
                let mut o = obs(CHECKS[check].clone(), HOSTS[host], port, "");
                o.evidence = format!("e{evidence}");
                store.upsert_batch(in_scan.then_some(scan), &[o]).unwrap();
            }
            Op::Triage { pick, to } => {
                let all = store.list(&Selection::All).unwrap().findings;
                if all.is_empty() {
                    continue;
                }
                let id = all[pick % all.len()].id.clone();
                let to = State::ALL[to];
                let t = Transition::new(to, "kim").note("prop").until(Timestamp::now().plus_days(3));
                let t = if to == State::AcceptedRisk { t } else { Transition { until: None, ..t } };
                // Illegal transitions are refused; either way the store stays consistent.
                let _ = store.triage(&[id], &t);
            }
            Op::Scan { complete, cover_host } => {
                let pairs: Vec<Coverage> = CHECKS
                    .iter()
                    .map(|c| Coverage {
                        check: c.clone(),
                        host: HOSTS[cover_host].into(),
                        port: if *c == CheckId::DnsSpfMissing { None } else { Some(22) },
                    })
                    .collect();
                store.cover(scan, &pairs).unwrap();
                store.finish_scan(scan, complete).unwrap();
                scan = store.begin_scan(vec![]).unwrap().id;
            }
        }
        let problems = store.check_integrity().unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
    }
    let all = store.list(&Selection::All).unwrap().findings.len();
    let by_state: usize =
        State::ALL.iter().map(|s| store.list(&Selection::States(vec![*s])).unwrap().findings.len()).sum();
    prop_assert_eq!(all, by_state);
    prop_assert!(all <= 9);
    Ok(())
}

mod indexes_stay_consistent {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn sled(ops in proptest::collection::vec(op(), 1..40)) {
            indexes_stay_consistent(&Backend::Sled, ops)?;
        }

        #[test]
        fn postgres(ops in proptest::collection::vec(op(), 1..40)) {
            let Some(backend) = Backend::postgres() else { return Ok(()) };
            indexes_stay_consistent(&backend, ops)?;
        }
    }
}
