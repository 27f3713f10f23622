//! Live updates: findings a running scan writes appear without a restart and
//! without moving the selection; 100k findings load.

use haetae_findings::{CheckId, Priority, Severity};
use haetae_tui::{App, Event, Live, Row};

use crate::fixture::{Fake, app, drive, finding, key, now, screen};

#[test]
fn new_findings_appear_and_the_selection_stays_on_its_finding() {
    let src = Fake::new();
    let mut a = app(&src);
    // A short terminal: 4 table rows. Select the third row (a3, P2).
    drive(&mut a, &src, 120, 8, vec![key('j'), key('j')]);
    assert_eq!((a.page, a.selected_id(), a.offset), (4, Some("a3"), 0));
    // The scan writes two P1 findings that sort above it, and changes a3.
    let mut hot =
        finding("a0", CheckId::SvcDockerApi, Severity::Critical, Priority::P1, 120.0, "docker.agency.test", Some(2375));
    hot.last_scan = Some(4);
    let hot2 = finding(
        "a00",
        CheckId::SvcKubernetesApi,
        Severity::Critical,
        Priority::P1,
        115.0,
        "k8s.agency.test",
        Some(6443),
    );
    let mut a3 = src.findings.borrow()[2].clone();
    a3.seen_count = 7;
    src.findings.borrow_mut().extend([hot, hot2]);
    src.findings.borrow_mut()[2] = a3;
    let changed = |ids: &[&str]| vec![Event::Live(Live::Changed(ids.iter().map(|s| (*s).to_owned()).collect()))];
    let t = drive(&mut a, &src, 120, 8, changed(&["a0", "a00", "a3"]));
    assert_eq!(a.selected_id(), Some("a3"), "the selection stays on its finding");
    assert_eq!(a.rows().len(), 10);
    assert_eq!(a.detail.as_ref().map(|d| d.seen_count), Some(7), "the detail shows the new state");
    // At the top, the table stays at the top: the new P1s come into view,
    // and the selection is still on screen (last line).
    let s = screen(&t);
    assert!(s.contains("k8s.agency.test:6443") && s.contains("tls.cert-expired"), "{s}");
    assert_eq!(a.shown_at(0).map(|r| r.id.as_str()), Some("a0"), "the newest P1 sorts first");
    assert_eq!((a.cursor, a.offset), (4, 1));

    // Scrolled, the selection keeps its screen line.
    drive(&mut a, &src, 120, 8, vec![key('j'), key('j'), key('j')]);
    let (id, line) = (a.selected_id().unwrap().to_owned(), a.cursor - a.offset);
    assert!(a.offset > 0);
    src.findings.borrow_mut().push(finding(
        "a000",
        CheckId::SvcRedisNoauth,
        Severity::Critical,
        Priority::P1,
        130.0,
        "r2.agency.test",
        Some(6379),
    ));
    drive(&mut a, &src, 120, 8, changed(&["a000"]));
    assert_eq!((a.selected_id(), a.cursor - a.offset), (Some(id.as_str()), line));
}

#[test]
fn requests_per_second_come_from_the_progress_reports() {
    let src = Fake::new();
    let mut a = app(&src);
    let p = |requests, elapsed_ms| {
        Event::Live(Live::Progress(haetae_tui::Progress { requests, elapsed_ms, ..Default::default() }))
    };
    drive(&mut a, &src, 120, 30, vec![Event::Live(Live::Started { id: 9, targets: 1 }), p(100, 1000), p(1100, 2000)]);
    assert!(a.scan.running);
    assert!((a.scan.rps - 1000.0).abs() < 1e-6, "{}", a.scan.rps);
    drive(&mut a, &src, 120, 30, vec![Event::Live(Live::Finished { id: 9, summary: "scan 9 complete".into() })]);
    assert!(!a.scan.running);
    assert_eq!(a.message, Some((false, "scan 9 complete".to_owned())));
}

#[test]
fn a_hundred_thousand_findings_load_filter_and_draw() {
    let base = finding("x", CheckId::HttpCspMissing, Severity::Low, Priority::P3, 10.0, "h.agency.test", Some(443));
    let rows: Vec<Row> = (0..100_000)
        .map(|i| {
            let mut f = base.clone();
            f.id = format!("{i:016x}");
            f.host = format!("h{}.agency.test", i % 997);
            f.priority = Priority::ALL[i % 4];
            f.score = (i % 100) as f64;
            Row::of(&f)
        })
        .collect();
    let mut a = App::new(rows, now(), "kim", "KR");
    assert_eq!(a.shown_len(), 100_000);
    let src = Fake::new();
    let mut events = vec![key('/')];
    events.extend(crate::fixture::typed("h42."));
    let t = drive(&mut a, &src, 160, 40, events);
    assert_eq!(a.shown_len(), 100_000 / 997 + 1);
    assert!(screen(&t).contains("h42.agency.test:443"));
    assert_eq!(a.shown().next().map(|r| r.priority), Some(Priority::P1), "sorted by priority");
}
