//! Key sequences that triage findings in a real store: the store then holds
//! the new state and the history says who did it and why.

use std::sync::Arc;

use haetae_findings::export::{Format, Lang};
use haetae_findings::{Asset, CheckId, Observation, State, Store};
use haetae_rules::DefaultScorer;
use haetae_tui::{App, ExportJob, Mode, Source};
use ratatui::crossterm::event::KeyCode;

use crate::fixture::{code, drive, key, typed};

fn store(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("store"), Arc::new(DefaultScorer)).unwrap();
    let obs: Vec<Observation> = ["a.agency.test", "b.agency.test", "c.agency.test"]
        .iter()
        .map(|h| {
            let asset = Asset { host: (*h).to_owned(), ip: None, port: Some(6379) };
            Observation::new(CheckId::SvcRedisNoauth, asset, "", "KR-T")
        })
        .collect();
    store.upsert_batch(None, &obs).unwrap();
    store
}

fn open_app(store: &Store) -> App {
    let mut app = App::new(Vec::new(), haetae_findings::Timestamp::now(), "kim", "KR-T");
    haetae_tui::load(&mut app, store).unwrap();
    app
}

fn last_note(store: &Store, id: &str) -> (State, String, Option<String>) {
    let f = store.get(id).unwrap().unwrap();
    let h = f.history.last().unwrap();
    (f.state, h.actor.clone(), h.note.clone())
}

#[test]
fn confirm_false_positive_and_accept_risk_from_the_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut app = open_app(&store);
    let ids: Vec<String> = app.shown().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 3);

    // c: confirm the first.
    drive(&mut app, &store, 120, 30, vec![key('c')]);
    assert_eq!(last_note(&store, &ids[0]).0, State::Confirmed);

    // f without a note is refused and nothing changes; with one it lands.
    drive(&mut app, &store, 120, 30, vec![key('j'), key('f'), code(KeyCode::Enter)]);
    assert!(matches!(&app.mode, Mode::Dialog(d) if d.error.as_deref().is_some_and(|e| e.contains("note"))));
    assert_eq!(store.get(&ids[1]).unwrap().unwrap().state, State::Open);
    let mut events = typed("test instance, 비밀번호 설정됨");
    events.push(code(KeyCode::Enter));
    drive(&mut app, &store, 120, 30, events);
    assert_eq!(
        last_note(&store, &ids[1]),
        (State::FalsePositive, "kim".to_owned(), Some("test instance, 비밀번호 설정됨".to_owned()))
    );
    assert_eq!(app.mode, Mode::Normal);

    // a: accepted risk needs a future date.
    let mut events = vec![key('j'), key('a')];
    events.extend(typed("2020-01-01"));
    events.push(code(KeyCode::Enter));
    drive(&mut app, &store, 120, 30, events);
    assert!(
        matches!(&app.mode, Mode::Dialog(d) if d.error.as_deref().is_some_and(|e| e.contains("not in the future")))
    );
    let mut events: Vec<_> = (0..10).map(|_| code(KeyCode::Backspace)).collect();
    events.extend(typed("2099-12-31"));
    events.push(code(KeyCode::Enter));
    drive(&mut app, &store, 120, 30, events);
    let f = store.get(&ids[2]).unwrap().unwrap();
    assert_eq!(f.state, State::AcceptedRisk);
    assert_eq!(f.accepted_until.map(|t| t.date_string()), Some("2099-12-31".to_owned()));
    assert!(store.check_integrity().unwrap().is_empty());
}

#[test]
fn marked_findings_are_assigned_and_noted_together_then_fixed_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut app = open_app(&store);
    let ids: Vec<String> = app.shown().map(|r| r.id.clone()).collect();
    // Space marks and moves down: mark the first two, assign both.
    let mut events = vec![key(' '), key(' '), key('A')];
    events.extend(typed("이수진"));
    events.push(code(KeyCode::Enter));
    drive(&mut app, &store, 120, 30, events);
    for id in &ids[..2] {
        assert_eq!(store.get(id).unwrap().unwrap().assignee.as_deref(), Some("이수진"));
    }
    assert_eq!(store.get(&ids[2]).unwrap().unwrap().assignee, None, "the unmarked one is untouched");
    assert!(app.marks.is_empty(), "marks clear after the action");

    // A note on the selected (third) finding; x fixes it; o reopens it.
    let mut events = vec![key('n')];
    events.extend(typed("patched in change 4411"));
    events.push(code(KeyCode::Enter));
    events.push(key('x'));
    drive(&mut app, &store, 120, 30, events);
    assert_eq!(last_note(&store, &ids[2]).0, State::Fixed);
    let notes: Vec<Option<String>> =
        store.get(&ids[2]).unwrap().unwrap().history.iter().map(|h| h.note.clone()).collect();
    assert!(notes.contains(&Some("patched in change 4411".to_owned())), "{notes:?}");
    // Fixed is out of the default view; show all states to reopen it.
    drive(&mut app, &store, 120, 30, vec![key('s'), key('s'), key('s'), key('s'), key('s'), key('s')]);
    assert_eq!(app.selected_id(), Some(ids[2].as_str()), "the selection followed the finding");
    drive(&mut app, &store, 120, 30, vec![key('o')]);
    assert_eq!(last_note(&store, &ids[2]).0, State::Open);
}

#[test]
fn an_illegal_transition_is_reported_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut app = open_app(&store);
    let id = app.selected_id().unwrap().to_owned();
    // Reopening an open finding is no change.
    drive(&mut app, &store, 120, 30, vec![key('o')]);
    let (is_error, text) = app.message.clone().unwrap();
    assert!(is_error, "{text}");
    assert_eq!(store.get(&id).unwrap().unwrap().history.len(), 1);
}

#[test]
fn e_exports_the_marked_findings() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut app = open_app(&store);
    app.export_dir = dir.path().display().to_string();
    let ids: Vec<String> = app.shown().map(|r| r.id.clone()).collect();
    let got = std::cell::RefCell::new(Vec::new());
    let exporter = |job: &ExportJob<'_>| {
        let ids: Vec<String> = job.findings.iter().map(|f| f.id.clone()).collect();
        got.borrow_mut().push((ids, job.format, job.lang, job.path.to_owned(), job.filters.to_vec()));
        Ok(format!("exported {}", job.findings.len()))
    };
    let mut events = vec![key(' '), key('e')];
    // Format: csv instead of html; language: ko.
    events.extend((0..4).map(|_| code(KeyCode::Backspace)));
    events.extend(typed("csv"));
    events.push(code(KeyCode::Tab));
    events.extend([code(KeyCode::Backspace), code(KeyCode::Backspace)]);
    events.extend(typed("ko"));
    events.push(code(KeyCode::Enter));
    crate::fixture::drive_with(&mut app, &store, 120, 30, events, &exporter);
    let got = got.into_inner();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, vec![ids[0].clone()]);
    assert_eq!((got[0].1, got[0].2), (Format::Csv, Lang::Ko));
    assert_eq!(got[0].3, dir.path().join("haetae-KR-T.csv"));
    assert_eq!(got[0].4, vec!["marked in the TUI: 1 finding(s)".to_owned()]);
    assert_eq!(app.message, Some((false, "exported 1".to_owned())));
    // Without marks, the shown findings.
    let got = std::cell::RefCell::new(0);
    let exporter = |job: &ExportJob<'_>| {
        *got.borrow_mut() = job.findings.len();
        assert_eq!(job.filters, ["state: open, confirmed, accepted-risk".to_owned()], "the filters are stated");
        Ok(String::new())
    };
    assert_eq!(app.marks.len(), 1, "exporting keeps the marks");
    crate::fixture::drive_with(&mut app, &store, 120, 30, vec![key('u'), key('e'), code(KeyCode::Enter)], &exporter);
    assert_eq!(*got.borrow(), 3);
    let _ = store.rows().unwrap();
    // A format that does not exist is refused in the dialog.
    let mut events = vec![key('e')];
    events.extend((0..4).map(|_| code(KeyCode::Backspace)));
    events.extend(typed("pdf"));
    events.push(code(KeyCode::Enter));
    crate::fixture::drive_with(&mut app, &store, 120, 30, events, &exporter);
    assert!(
        matches!(&app.mode, Mode::Dialog(d) if d.error.as_deref().is_some_and(|e| e.starts_with("format:"))),
        "{:?}",
        app.mode
    );
}
