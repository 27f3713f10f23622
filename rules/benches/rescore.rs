//! Re-scoring benchmark: 100k stored findings, 50 rules.
//!
//! Run with `cargo bench -p haetae-rules --bench rescore`. Prints the time to
//! score 100k findings in memory (what `rules apply` computes), and the time
//! of `Store::reprioritize` (score, then write back every changed finding).
//! Target on the 2-core reference machine: re-scoring under 1 s.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use haetae_findings::{Asset, CheckId, Confidence, Finding, Observation, Prioritizer, Severity, Store, Timestamp};
use haetae_rules::{DefaultScorer, RuleSet};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOTAL: usize = 100_000;

/// 50 rules of the shapes teams write: checks, hosts, tags, severities, ports.
fn rules_text() -> String {
    let checks = ["http.exposed-env", "dns.caa-missing", "tls.cert-expiring", "svc.ssh-exposed", "http.csp-missing"];
    let mut s = String::new();
    for i in 0..50 {
        let when = match i % 5 {
            0 => format!("finding.check == \"{}\"", checks[i / 5 % checks.len()]),
            1 => format!("asset.host.endsWith(\"h{i}.agency.test\")"),
            2 => format!("\"tag{i}\" in asset.tags"),
            3 => "finding.severity == \"critical\" && asset.port > 0".to_owned(),
            _ => format!("asset.port == {} || finding.age_days > {}", 8000 + i, 300 + i),
        };
        let action = match i % 4 {
            0 => "add = 5".to_owned(),
            1 => "priority = \"P2\"".to_owned(),
            2 => format!("tag = \"t{i}\""),
            _ => "sla_days = 14".to_owned(),
        };
        s.push_str(&format!("[[rule]]\nname = \"rule {i}\"\nwhen = '{when}'\n{action}\n\n"));
    }
    s
}

/// One machine-readable line per measured row, collected by `scripts/bench.sh`:
/// no peer here, so the "peer" is the absolute target and the ratio is against it.
fn bench_line(work: &str, haetae: f64, goal: f64, unit: &str, target: &str) {
    println!(
        "BENCH {{\"work\":\"{work}\",\"haetae\":{haetae:.4},\"peer\":{goal:.4},\"peer_name\":\"target\",\"unit\":\"{unit}\",\"ratio\":{:.4},\"target\":\"{target}\",\"kind\":\"absolute\"}}",
        haetae / goal
    );
}

fn main() {
    let rules = RuleSet::parse(Path::new("rules.toml"), &rules_text()).expect("the bench rules compile");
    assert_eq!(rules.rules().len(), 50);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store"), Arc::new(DefaultScorer)).unwrap();
    let checks = [CheckId::HttpExposedEnv, CheckId::DnsCaaMissing, CheckId::TlsCertExpiring, CheckId::SvcSshExposed];
    let sevs = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];
    let mut batch = Vec::with_capacity(1000);
    for i in 0..TOTAL {
        let host = format!("h{}.agency.test", i % 500);
        let mut o = Observation::new(
            checks[i % checks.len()].clone(),
            Asset { host, ip: None, port: Some(8000 + (i % 100) as u16) },
            format!("/p{i}"),
            "KR-BENCH",
        );
        o.severity = sevs[i % sevs.len()];
        o.confidence = Confidence::Firm;
        if i % 3 == 0 {
            o.tags.push(format!("tag{}", i % 50));
        }
        batch.push(o);
        if batch.len() == 1000 {
            store.upsert_batch(None, &batch).unwrap();
            batch.clear();
        }
    }
    let findings = store.list(&haetae_findings::Selection::All).unwrap().findings;
    assert_eq!(findings.len(), TOTAL);
    let now = Timestamp::now();

    // In memory, one thread.
    let t = Instant::now();
    let mut fired = 0usize;
    for f in &findings {
        let mut f: Finding = f.clone();
        rules.prioritize(&mut f, now);
        fired += f.rules.len();
    }
    let one = t.elapsed();
    // In memory, one thread per core.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in findings.chunks(findings.len().div_ceil(cores)) {
            let rules = &rules;
            s.spawn(move || {
                for f in part {
                    let mut f = f.clone();
                    rules.prioritize(&mut f, now);
                }
            });
        }
    });
    let parallel = t.elapsed();
    drop(store);
    // Through the store: score and write back every changed finding.
    let store = Store::open(&dir.path().join("store"), Arc::new(rules)).unwrap();
    let t = Instant::now();
    let listed = store.list(&haetae_findings::Selection::All).unwrap().findings.len();
    let list = t.elapsed();
    let t = Instant::now();
    let changed = store.reprioritize().unwrap();
    let stored = t.elapsed();
    // Again: nothing changes, nothing is written.
    let t = Instant::now();
    let unchanged = store.reprioritize().unwrap();
    let again = t.elapsed();
    println!("rescore: {TOTAL} findings x 50 rules ({fired} rule lines)");
    println!(
        "  in memory, 1 thread:       {:>7.3} s  ({:.0} findings/s)",
        one.as_secs_f64(),
        TOTAL as f64 / one.as_secs_f64()
    );
    println!("  in memory, {cores} threads:      {:>7.3} s", parallel.as_secs_f64());
    println!("  reading all {listed} back:   {:>7.3} s", list.as_secs_f64());
    println!("  Store::reprioritize:       {:>7.3} s  ({changed} changed and written)", stored.as_secs_f64());
    println!("  the same again:            {:>7.3} s  ({unchanged} changed)", again.as_secs_f64());
    println!("  target: under 1 s");
    bench_line(&format!("rules re-score {TOTAL} stored (time)"), stored.as_secs_f64(), 1.0, "s", "<= 1.0");
}
