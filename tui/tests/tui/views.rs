//! Each view drawn, as text snapshots; tiny and resized terminals; NO_COLOR;
//! Korean text by display width.

use haetae_tui::{Event, Mode, Tab};
use ratatui::crossterm::event::KeyCode;
use ratatui::style::Color;

use crate::fixture::{Fake, app, code, drive, key, screen, typed, unicode_width};

#[test]
fn findings_view_wide_has_the_detail_beside() {
    let src = Fake::new();
    let mut a = app(&src);
    let t = drive(&mut a, &src, 200, 30, vec![]);
    insta::assert_snapshot!("findings_wide", screen(&t));
}

#[test]
fn findings_view_narrow_has_the_detail_below() {
    let src = Fake::new();
    let mut a = app(&src);
    let t = drive(&mut a, &src, 120, 34, vec![key('j')]);
    insta::assert_snapshot!("findings_narrow", screen(&t));
}

#[test]
fn scans_view() {
    let src = Fake::new();
    let mut a = app(&src);
    let events = vec![
        Event::Live(haetae_tui::Live::Started { id: 4, targets: 2 }),
        Event::Live(haetae_tui::Live::Progress(haetae_tui::Progress {
            hosts_done: 3,
            hosts: 4,
            ports_done: 50,
            ports_total: 80,
            open_ports: 6,
            requests: 1200,
            findings: 9,
            elapsed_ms: 2000,
        })),
        key('2'),
    ];
    let t = drive(&mut a, &src, 120, 20, events);
    insta::assert_snapshot!("scans", screen(&t));
}

#[test]
fn assets_view() {
    let src = Fake::new();
    let mut a = app(&src);
    let t = drive(&mut a, &src, 120, 12, vec![key('3'), key('j')]);
    insta::assert_snapshot!("assets", screen(&t));
}

#[test]
fn help_lists_every_key() {
    let src = Fake::new();
    let mut a = app(&src);
    let t = drive(&mut a, &src, 100, 34, vec![key('?')]);
    assert_eq!(a.mode, Mode::Help);
    let s = screen(&t);
    for (keys, what) in haetae_tui::KEYS {
        assert!(s.contains(keys) && s.contains(what), "help lacks {keys}: {what}\n{s}");
    }
    insta::assert_snapshot!("help", s);
}

#[test]
fn dialog_and_filter_line() {
    let src = Fake::new();
    let mut a = app(&src);
    let mut events = vec![key('/')];
    events.extend(typed("portal"));
    events.push(code(KeyCode::Enter));
    events.push(key('a'));
    events.extend(typed("2026-12-31"));
    events.push(code(KeyCode::Tab));
    events.extend(typed("이관 후 조치 예정"));
    let t = drive(&mut a, &src, 100, 24, events);
    insta::assert_snapshot!("dialog", screen(&t));
}

#[test]
fn the_assets_view_opens_a_host_in_the_findings() {
    let src = Fake::new();
    let mut a = app(&src);
    // Hosts are sorted: agency.test, portal…, redis…, www…, 민원…
    drive(&mut a, &src, 120, 30, vec![key('3'), key('j'), code(KeyCode::Enter)]);
    assert_eq!(a.tab, Tab::Findings);
    assert_eq!(a.filter.host.as_deref(), Some("portal.agency.test"));
    assert_eq!(a.shown().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a2", "a4"]);
}

#[test]
fn tiny_terminals_and_resizes_do_not_panic() {
    let src = Fake::new();
    let mut a = app(&src);
    let mut events = Vec::new();
    for (w, h) in [(40, 10), (1, 1), (0, 0), (200, 60), (40, 10), (12, 3)] {
        events.push(Event::Resize(w, h));
        for k in ['1', 'j', 'G', '2', '3', 'j', '?', 'x', 'f', 'z'] {
            events.push(key(k));
        }
        events.push(code(KeyCode::Esc));
        events.push(code(KeyCode::PageDown));
    }
    let t = drive(&mut a, &src, 40, 10, events);
    assert_eq!(t.backend().buffer().area.width, 40);
}

#[test]
fn no_color_draws_without_colours() {
    let src = Fake::new();
    for color in [true, false] {
        let mut a = app(&src);
        a.color = color;
        let t = drive(&mut a, &src, 160, 30, vec![]);
        let buf = t.backend().buffer();
        let coloured = buf.content().iter().filter(|c| c.fg != Color::Reset || c.bg != Color::Reset).count();
        if color {
            assert!(coloured > 0, "colours are on");
        } else {
            assert_eq!(coloured, 0, "NO_COLOR: no cell has a colour");
        }
    }
}

#[test]
fn korean_text_lines_up_by_display_width() {
    let src = Fake::new();
    let mut a = app(&src);
    // Select the Korean finding: filter on its host, then add a Korean note.
    let mut events = vec![key('/')];
    events.extend(typed("민원"));
    events.push(code(KeyCode::Enter));
    events.push(key('n'));
    events.extend(typed("담당자 확인 중"));
    let t = drive(&mut a, &src, 100, 30, events);
    let s = screen(&t);
    // Every line of the dialog box ends at the same column, measured in
    // display width: a byte or char count would be off for Hangul.
    let rights: Vec<usize> = s
        .lines()
        .skip_while(|l| !l.contains("┌ Add a note"))
        .skip(1)
        .take_while(|l| !l.contains('└'))
        .map(|l| {
            let end = l.rfind('│').unwrap();
            unicode_width(&l[..end])
        })
        .collect();
    assert!(rights.len() >= 4, "the dialog is drawn:\n{s}");
    assert!(rights.windows(2).all(|w| w[0] == w[1]), "the box's right edge is straight: {rights:?}\n{s}");
    assert!(s.contains("담당자 확인 중"), "{s}");
    // The table's columns line up after a Korean host.
    let header = s.lines().find(|l| l.contains("Host:port")).unwrap();
    let row = s.lines().find(|l| l.contains("민원.agency.test")).unwrap();
    let col = |l: &str, what: &str| unicode_width(&l[..l.find(what).unwrap()]);
    assert_eq!(col(header, "State"), col(row, "open"), "\n{header}\n{row}");
}
