//! Fixed findings (fixed times, so snapshots are stable) and a `Source`
//! over them.

use std::cell::RefCell;
use std::sync::mpsc;

use haetae_findings::{
    AssetRecord, Baseline, ChangeKind, CheckId, Finding, HistoryEntry, Priority, RuleHit, ScanCounts, ScanRun,
    Severity, State, StoreError, Timestamp, Transition, lifecycle,
};
use haetae_tui::{App, Event, Row, Source};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(crate) fn now() -> Timestamp {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A finding with fixed times.
pub(crate) fn finding(
    id: &str,
    check: CheckId,
    sev: Severity,
    pri: Priority,
    score: f64,
    host: &str,
    port: Option<u16>,
) -> Finding {
    let mut f = Finding::example();
    f.id = id.to_owned();
    f.title = check.meta().map_or("", |m| m.title).to_owned();
    f.check = check;
    f.severity = sev;
    f.priority = pri;
    f.score = score;
    f.host = host.to_owned();
    f.port = port;
    f.url = None;
    f.location = "/".to_owned();
    f.first_seen = at("2026-11-20T08:00:00Z");
    f.last_seen = at("2026-11-29T11:00:00Z");
    f.due = Some(f.first_seen.plus_days(14));
    f.last_scan = Some(3);
    f.history = vec![HistoryEntry {
        at: f.first_seen,
        actor: "scanner".to_owned(),
        from: None,
        to: State::Open,
        note: Some("first seen by scan 1".to_owned()),
    }];
    f.rules = vec![
        RuleHit { name: "default".to_owned(), effect: format!("score {score:.0}") },
        RuleHit { name: "result".to_owned(), effect: format!("score {score:.0} -> {pri}") },
    ];
    f
}

/// Eight findings over four hosts, in every priority; one Korean.
pub(crate) fn findings() -> Vec<Finding> {
    let mut v = vec![
        finding(
            "a1",
            CheckId::SvcRedisNoauth,
            Severity::Critical,
            Priority::P1,
            110.0,
            "redis.agency.test",
            Some(6379),
        ),
        finding("a2", CheckId::HttpExposedEnv, Severity::High, Priority::P1, 96.0, "portal.agency.test", Some(443)),
        finding("a3", CheckId::TlsCertExpired, Severity::High, Priority::P2, 64.0, "www.agency.test", Some(443)),
        finding(
            "a4",
            CheckId::HttpDirectoryListing,
            Severity::Medium,
            Priority::P2,
            40.0,
            "portal.agency.test",
            Some(443),
        ),
        finding("a5", CheckId::HttpCspMissing, Severity::Low, Priority::P3, 12.0, "www.agency.test", Some(443)),
        finding("a6", CheckId::DnsSpfMissing, Severity::Low, Priority::P3, 10.0, "agency.test", None),
        finding("a7", CheckId::DnsCaaMissing, Severity::Info, Priority::P4, 2.0, "agency.test", None),
        finding("a8", CheckId::HttpVersionDisclosure, Severity::Low, Priority::P4, 8.0, "민원.agency.test", Some(80)),
    ];
    v[1].baseline = Baseline::Reopened;
    v[2].baseline = Baseline::Unchanged;
    v[2].due = Some(at("2026-11-25T00:00:00Z"));
    v[7].title = "서버 버전 정보 노출 (민원 포털)".to_owned();
    v[7].evidence = "Server: Apache/2.4.41 — 민원 처리 시스템".to_owned();
    v[6].suppressed = true;
    v
}

pub(crate) fn scans() -> Vec<ScanRun> {
    (1..=3)
        .map(|id| ScanRun {
            id,
            started: at("2026-11-27T09:00:00Z").plus_days(id as i64 - 1),
            ended: Some(at("2026-11-27T09:05:00Z").plus_days(id as i64 - 1)),
            targets: vec!["agency.test".to_owned()],
            complete: true,
            counts: ScanCounts { new: 8 / id, seen: 8, updated: 0, fixed: id - 1, reopened: u64::from(id == 3) },
            failed: if id == 3 {
                vec![haetae_findings::FailedUnit {
                    checks: "tls.*".to_owned(),
                    host: "slow.agency.test".to_owned(),
                    port: Some(443),
                    reason: "TLS1.2 hello: no answer within 5000 ms".to_owned(),
                }]
            } else {
                Vec::new()
            },
            failed_total: u64::from(id == 3),
            checks: Vec::new(),
            skip_checks: Vec::new(),
            schedule: None,
        })
        .collect()
}

pub(crate) fn assets() -> Vec<AssetRecord> {
    let rec = |kind, host: &str, port, value: &str, expires: Option<&str>| AssetRecord {
        kind,
        host: host.to_owned(),
        port,
        value: value.to_owned(),
        first_seen: at("2026-11-20T08:00:00Z"),
        last_seen: at("2026-11-29T11:00:00Z"),
        expires: expires.map(at),
    };
    vec![
        rec(ChangeKind::Addresses, "portal.agency.test", None, "127.77.1.50", None),
        rec(ChangeKind::Addresses, "www.agency.test", None, "127.77.1.10,127.77.1.11", None),
        rec(ChangeKind::Certificate, "www.agency.test", Some(443), "aa", Some("2026-11-01T00:00:00Z")),
        rec(ChangeKind::Certificate, "portal.agency.test", Some(443), "bb", Some("2027-03-01T00:00:00Z")),
        rec(ChangeKind::Port, "portal.agency.test", Some(443), "127.77.1.50", None),
        rec(ChangeKind::Port, "portal.agency.test", Some(80), "127.77.1.50", None),
        rec(ChangeKind::Port, "www.agency.test", Some(443), "127.77.1.10", None),
    ]
}

/// Findings in memory; triage goes through the real lifecycle.
pub(crate) struct Fake {
    pub(crate) findings: RefCell<Vec<Finding>>,
}

impl Fake {
    pub(crate) fn new() -> Self {
        Fake { findings: RefCell::new(findings()) }
    }
}

impl Source for Fake {
    fn rows(&self) -> Result<Vec<Row>, StoreError> {
        Ok(self.findings.borrow().iter().map(Row::of).collect())
    }
    fn finding(&self, id: &str) -> Result<Option<Finding>, StoreError> {
        Ok(self.findings.borrow().iter().find(|f| f.id == id).cloned())
    }
    fn triage(&self, ids: &[String], t: &Transition) -> Result<Vec<Finding>, StoreError> {
        let mut out = Vec::new();
        for f in self.findings.borrow_mut().iter_mut().filter(|f| ids.contains(&f.id)) {
            lifecycle::apply(f, t, now()).map_err(StoreError::from)?;
            out.push(f.clone());
        }
        Ok(out)
    }
    fn assets(&self) -> Result<Vec<AssetRecord>, StoreError> {
        Ok(assets())
    }
    fn scans(&self) -> Result<Vec<ScanRun>, StoreError> {
        Ok(scans())
    }
}

/// An app over `source`, loaded, at the fixed time.
pub(crate) fn app(source: &dyn Source) -> App {
    let mut app = App::new(Vec::new(), now(), "kim", "KR-2026-0142");
    haetae_tui::load(&mut app, source).unwrap();
    app
}

pub(crate) fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub(crate) fn code(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub(crate) fn typed(s: &str) -> Vec<Event> {
    s.chars().map(key).collect()
}

fn no_export(_: &haetae_tui::ExportJob<'_>) -> Result<String, String> {
    Err("no exports in this test".to_owned())
}

/// Run the app on a `width` x `height` test terminal through `events`, then
/// return the terminal.
pub(crate) fn drive(
    app: &mut App,
    source: &dyn Source,
    width: u16,
    height: u16,
    events: Vec<Event>,
) -> Terminal<TestBackend> {
    drive_with(app, source, width, height, events, &no_export)
}

pub(crate) fn drive_with(
    app: &mut App,
    source: &dyn Source,
    width: u16,
    height: u16,
    events: Vec<Event>,
    exporter: haetae_tui::Exporter<'_>,
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let (tx, rx) = mpsc::channel();
    for e in events {
        tx.send(e).unwrap();
    }
    drop(tx);
    haetae_tui::run(&mut terminal, app, source, &rx, exporter).unwrap();
    terminal
}

/// The screen as text, one line per row (wide characters once).
pub(crate) fn screen(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut x = 0;
        while x < buf.area.width {
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            x += u16::try_from(unicode_width(sym)).unwrap_or(1).max(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Display width of a cell's symbol (1, or 2 for Hangul and other wide text).
pub(crate) fn unicode_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{1100}'..='\u{115F}').contains(&c)
                || ('\u{2E80}'..='\u{A4CF}').contains(&c)
                || ('\u{AC00}'..='\u{D7A3}').contains(&c)
                || ('\u{F900}'..='\u{FAFF}').contains(&c)
                || ('\u{FF00}'..='\u{FF60}').contains(&c)
            {
                2
            } else {
                1
            }
        })
        .sum()
}
