//! Export benchmark: 100k findings in every format, written to a byte
//! counter (no disk), each with every text passed through the redactor.
//!
//! Run with `cargo bench -p haetae-findings --bench export`. Target on the
//! 2-core reference machine: under 2 s each for json, jsonl and csv.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{self, Write};
use std::time::Instant;

use haetae_findings::export::{self, Format, Lang, Report, ReportEngagement};
use haetae_findings::{CheckId, Finding, HistoryEntry, Priority, RuleHit, State, Timestamp};

/// The same allocator as the `haetae` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOTAL: usize = 100_000;

/// Counts what is written.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn findings() -> Vec<Finding> {
    let t = Timestamp::from_unix(1_800_000_000);
    (0..TOTAL)
        .map(|i| {
            let mut f = Finding::example();
            let check = &CheckId::BUILTIN[i % CheckId::BUILTIN.len()];
            f.id = format!("{i:016x}");
            f.check = check.clone();
            f.title = check.meta().map(|m| m.title.to_owned()).unwrap_or_default();
            f.host = format!("h{}.portal.agency.test", i / 20);
            f.url = Some(format!("https://{}/path/{i}", f.host));
            f.location = f.url.clone().unwrap_or_default();
            f.evidence = format!("{}: 200; Server: nginx/1.18.0, \"quoted\" value {i}", f.location);
            f.priority = Priority::ALL[i % 4];
            f.state = State::ALL[i % 5];
            f.first_seen = t;
            f.last_seen = t;
            f.rules = vec![RuleHit { name: "default".into(), effect: "+42".into() }];
            f.history = vec![HistoryEntry { at: t, actor: "scanner".into(), from: None, to: State::Open, note: None }];
            if i % 100 == 0 {
                f.evidence.push_str(" password=hunter2hunter2");
            }
            f
        })
        .collect()
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
    let findings = findings();
    let report = Report {
        engagement: ReportEngagement {
            id: "KR-BENCH".into(),
            agency: "Ministry of Example".into(),
            not_before: None,
            not_after: None,
        },
        generated_at: Timestamp::from_unix(1_800_000_000),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        filters: vec!["state: all".into()],
        findings: &findings,
        lang: Lang::En,
    };
    for format in Format::ALL {
        let mut out = io::BufWriter::with_capacity(1 << 16, Counter(0));
        let t = Instant::now();
        export::write(&report, *format, &mut out).expect("export");
        out.flush().expect("flush");
        let took = t.elapsed();
        let bytes = out.get_ref().0;
        println!(
            "export {:<5} {TOTAL} findings: {:>6.2} s ({:>7.0} findings/s, {:.1} MB)",
            format.as_str(),
            took.as_secs_f64(),
            TOTAL as f64 / took.as_secs_f64(),
            bytes as f64 / 1e6
        );
        if matches!(format.as_str(), "json" | "jsonl" | "csv") {
            bench_line(
                &format!("export {} {TOTAL} findings (time)", format.as_str()),
                took.as_secs_f64(),
                2.0,
                "s",
                "<= 1.0",
            );
        }
    }
}
