//! Keys become actions here, and only here: `keymap` is the whole keyboard
//! grammar, and `KEYS` is what `?` shows (a test checks they agree).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::state::Mode;

/// Something the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave the app.
    Quit,
    /// Leave the filter, dialog or help that is open.
    Escape,
    /// Move the selection.
    Up,
    /// Move the selection.
    Down,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// First row.
    Home,
    /// Last row.
    End,
    /// Next view (Findings, Scans, Assets).
    NextTab,
    /// A view by number (0-based).
    Tab(usize),
    /// Open the `/` text filter.
    Search,
    /// A character typed into the open filter or dialog field.
    Input(char),
    /// Delete the last character of the open filter or field.
    Backspace,
    /// Next dialog field.
    NextField,
    /// Accept the filter, or submit the dialog.
    Submit,
    /// Cycle the state filter.
    CycleState,
    /// Cycle the priority filter.
    CyclePriority,
    /// Cycle the severity filter.
    CycleSeverity,
    /// Filter on the selected finding's host (again: off).
    ToggleHost,
    /// Show the suppressed findings instead (again: back).
    ToggleSuppressed,
    /// Only overdue findings (again: off).
    ToggleOverdue,
    /// Clear every filter.
    ClearFilters,
    /// Mark or unmark the selected finding.
    ToggleMark,
    /// Mark every finding in the table.
    MarkAll,
    /// Clear the marks.
    ClearMarks,
    /// Triage: confirmed.
    Confirm,
    /// Triage: false positive (asks for a note).
    FalsePositive,
    /// Triage: accepted risk (asks for an until date).
    AcceptRisk,
    /// Triage: fixed.
    Fixed,
    /// Triage: open again.
    Reopen,
    /// Assign (asks who).
    Assign,
    /// Add a note (asks for it).
    Note,
    /// Export the marked, else the filtered, findings (asks the format).
    Export,
    /// Show every key.
    Help,
    /// Scroll the detail pane.
    DetailDown,
    /// Scroll the detail pane.
    DetailUp,
    /// In the assets view: show this host's findings.
    Open,
}

/// Every key of the normal mode, as `?` lists it: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("j k / Down Up", "move"),
    ("PgDn PgUp / Ctrl-f Ctrl-b", "one page"),
    ("g G / Home End", "first, last"),
    ("J K", "scroll the detail"),
    ("Tab / 1 2 3", "views: findings, scans, assets"),
    ("Enter", "assets: show the host's findings"),
    ("/", "filter by text (check, host, title, evidence)"),
    ("s p v", "cycle state, priority, severity filter"),
    ("H", "only the selected host (again: all)"),
    ("S", "suppressed findings (again: back)"),
    ("O", "only overdue (again: all)"),
    ("0", "clear every filter"),
    ("Space", "mark / unmark"),
    ("*  u", "mark all shown, clear marks"),
    ("c", "confirm"),
    ("f", "false positive (note required)"),
    ("a", "accept risk (until date)"),
    ("x", "fixed"),
    ("o", "reopen"),
    ("A", "assign"),
    ("n", "add a note"),
    ("e", "export marked, else shown, findings"),
    ("?", "this help"),
    ("Esc", "leave a dialog or help; clear the text filter"),
    ("q / Ctrl-c", "quit"),
];

/// The action of a key in a mode; `None` for keys that do nothing there.
pub fn keymap(mode: &Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match mode {
        Mode::Search => match key.code {
            KeyCode::Esc => Some(Action::Escape),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Char(c) if !ctrl => Some(Action::Input(c)),
            _ => None,
        },
        Mode::Dialog(_) => match key.code {
            KeyCode::Esc => Some(Action::Escape),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Down | KeyCode::Up => Some(Action::NextField),
            KeyCode::Char(c) if !ctrl => Some(Action::Input(c)),
            _ => None,
        },
        Mode::Help => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            _ => Some(Action::Escape),
        },
        Mode::Normal => normal(key.code, ctrl),
    }
}

fn normal(code: KeyCode, ctrl: bool) -> Option<Action> {
    use Action as A;
    Some(match code {
        KeyCode::Char('f') if ctrl => A::PageDown,
        KeyCode::Char('b') if ctrl => A::PageUp,
        _ if ctrl => return None,
        KeyCode::Char('q') => A::Quit,
        KeyCode::Esc => A::Escape,
        KeyCode::Char('j') | KeyCode::Down => A::Down,
        KeyCode::Char('k') | KeyCode::Up => A::Up,
        KeyCode::PageDown => A::PageDown,
        KeyCode::PageUp => A::PageUp,
        KeyCode::Char('g') | KeyCode::Home => A::Home,
        KeyCode::Char('G') | KeyCode::End => A::End,
        KeyCode::Char('J') => A::DetailDown,
        KeyCode::Char('K') => A::DetailUp,
        KeyCode::Tab => A::NextTab,
        KeyCode::Char('1') => A::Tab(0),
        KeyCode::Char('2') => A::Tab(1),
        KeyCode::Char('3') => A::Tab(2),
        KeyCode::Enter => A::Open,
        KeyCode::Char('/') => A::Search,
        KeyCode::Char('s') => A::CycleState,
        KeyCode::Char('p') => A::CyclePriority,
        KeyCode::Char('v') => A::CycleSeverity,
        KeyCode::Char('H') => A::ToggleHost,
        KeyCode::Char('S') => A::ToggleSuppressed,
        KeyCode::Char('O') => A::ToggleOverdue,
        KeyCode::Char('0') => A::ClearFilters,
        KeyCode::Char(' ') => A::ToggleMark,
        KeyCode::Char('*') => A::MarkAll,
        KeyCode::Char('u') => A::ClearMarks,
        KeyCode::Char('c') => A::Confirm,
        KeyCode::Char('f') => A::FalsePositive,
        KeyCode::Char('a') => A::AcceptRisk,
        KeyCode::Char('x') => A::Fixed,
        KeyCode::Char('o') => A::Reopen,
        KeyCode::Char('A') => A::Assign,
        KeyCode::Char('n') => A::Note,
        KeyCode::Char('e') => A::Export,
        KeyCode::Char('?') => A::Help,
        _ => return None,
    })
}
