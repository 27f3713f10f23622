//! TUI benchmark with 100k findings in the store.
//!
//! Run with `cargo bench -p haetae-tui --bench tui`. Prints the time from
//! opening the store to the first frame, and from a keystroke (a `/` filter
//! being typed, a move, a quick filter) to the redrawn frame, on a 200x50
//! `TestBackend`. Targets on the 2-core reference machine: first frame under
//! 300 ms, keystroke to frame under 30 ms.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae_findings::{Asset, CheckId, Confidence, Finding, Observation, Severity, Store, Timestamp};
use haetae_rules::DefaultScorer;
use haetae_tui::{App, Event, draw, handle, sync_detail};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOTAL: usize = 100_000;

fn fill(store: &Store) {
    let checks = [
        CheckId::HttpExposedEnv,
        CheckId::DnsCaaMissing,
        CheckId::TlsCertExpiring,
        CheckId::SvcSshExposed,
        CheckId::HttpCspMissing,
    ];
    let sevs = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];
    let mut batch = Vec::with_capacity(1000);
    for i in 0..TOTAL {
        let host = format!("h{}.agency.test", i % 997);
        let mut o = Observation::new(
            checks[i % checks.len()].clone(),
            Asset { host, ip: None, port: Some(443) },
            format!("/p{i}"),
            "KR-BENCH",
        );
        o.severity = sevs[i % sevs.len()];
        o.confidence = Confidence::Firm;
        o.evidence = format!("https://h{}.agency.test/p{i}: 200; server nginx/1.22.1", i % 997);
        batch.push(o);
        if batch.len() == 1000 {
            store.upsert_batch(None, &batch).unwrap();
            batch.clear();
        }
    }
}

fn no_export(_: &haetae_tui::ExportJob<'_>) -> Result<String, String> {
    Ok(String::new())
}

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = Store::open(&path, Arc::new(DefaultScorer)).unwrap();
        fill(&store);
    }
    // Time to first frame: open the store, load, sort, draw.
    let mut firsts = Vec::new();
    let mut parts = (Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        let t = Instant::now();
        let store = Store::open(&path, Arc::new(DefaultScorer)).unwrap();
        let opened = t.elapsed();
        let mut app = App::new(Vec::new(), Timestamp::now(), "bench", "KR-BENCH");
        haetae_tui::load(&mut app, &store).unwrap();
        let loaded = t.elapsed();
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        app.resize(200, 50);
        sync_detail(&mut app, &store);
        terminal.draw(|f| draw(f, &app)).unwrap();
        firsts.push(t.elapsed());
        parts = (opened, loaded - opened);
        println!(
            "  run {}: open {:.0} ms, load {:.0} ms, frame {:.0} ms",
            firsts.len(),
            ms(opened),
            ms(loaded - opened),
            ms(t.elapsed())
        );
        assert_eq!(app.rows().len(), TOTAL);
        drop(store);
    }
    let store = Store::open(&path, Arc::new(DefaultScorer)).unwrap();
    let t = Instant::now();
    let rows = haetae_tui::Source::rows(&store).unwrap();
    let decode = t.elapsed();
    let t = Instant::now();
    let app0 = App::new(rows, Timestamp::now(), "bench", "KR-BENCH");
    let build = t.elapsed();
    drop(app0);
    let t = Instant::now();
    let (full, _) = store.list_all_as::<Finding>().unwrap();
    let whole = t.elapsed();
    drop(full);
    let mut app = App::new(Vec::new(), Timestamp::now(), "bench", "KR-BENCH");
    haetae_tui::load(&mut app, &store).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    app.resize(200, 50);

    // Keystroke to frame.
    let mut run = |events: Vec<Event>| -> Vec<Duration> {
        events
            .into_iter()
            .map(|ev| {
                let t = Instant::now();
                handle(&mut app, &store, &no_export, ev);
                sync_detail(&mut app, &store);
                terminal.draw(|f| draw(f, &app)).unwrap();
                t.elapsed()
            })
            .collect()
    };
    let mut typing = vec![key(KeyCode::Char('/'))];
    typing.extend("h42.agency".chars().map(|c| key(KeyCode::Char(c))));
    typing.extend((0..10).map(|_| key(KeyCode::Backspace)));
    typing.push(key(KeyCode::Esc));
    let filter = run(typing);
    let moves = run((0..200).map(|i| key(if i % 10 == 9 { KeyCode::PageDown } else { KeyCode::Char('j') })).collect());
    let quick = run("ppppsssssssvvvvvv0".chars().map(|c| key(KeyCode::Char(c))).collect());
    let stat = |name: &str, v: &[Duration]| {
        let max = v.iter().max().copied().unwrap_or_default();
        let mean = v.iter().sum::<Duration>() / u32::try_from(v.len().max(1)).unwrap();
        println!("  {name:<34} mean {:>6.2} ms   max {:>6.2} ms   ({} keys)", ms(mean), ms(max), v.len());
    };
    println!("tui: {TOTAL} findings in the store, 200x50 terminal (TestBackend)");
    let best = firsts.iter().min().copied().unwrap_or_default();
    let worst = firsts.iter().max().copied().unwrap_or_default();
    println!(
        "  first frame (open, load, sort, draw): best {:.0} ms, worst {:.0} ms of {}  (last: open {:.0} ms, load {:.0} ms)",
        ms(best),
        ms(worst),
        firsts.len(),
        ms(parts.0),
        ms(parts.1)
    );
    println!(
        "  of which: rows decoded and indexed {:.0} ms (whole findings would take {:.0} ms); sorted and filtered {:.0} ms",
        ms(decode),
        ms(whole),
        ms(build)
    );
    stat("/ filter typed, then erased", &filter);
    stat("j and PgDn", &moves);
    stat("p s v quick filters, 0 clears", &quick);
    println!("  targets: first frame under 300 ms, keystroke to frame under 30 ms");
    bench_line(&format!("tui first frame, {TOTAL} findings (worst time)"), ms(worst), 300.0, "ms", "<= 1.0");
    let slowest = filter.iter().chain(&moves).chain(&quick).max().copied().unwrap_or_default();
    bench_line("tui keystroke to frame (max time)", ms(slowest), 30.0, "ms", "<= 1.0");
}
