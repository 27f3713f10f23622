//! The keyboard grammar: what `?` lists is what the keys do.

use haetae_tui::{Action, KEYS, Mode, keymap};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[test]
fn every_single_character_key_in_the_help_does_something() {
    let mut seen = 0;
    for (keys, _) in KEYS {
        for token in keys.split([' ', '/']).filter(|t| t.chars().count() == 1) {
            let c = token.chars().next().unwrap();
            let action = keymap(&Mode::Normal, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            assert!(action.is_some(), "`{c}` is listed in the help ({keys}) but does nothing");
            seen += 1;
        }
    }
    assert!(seen > 20, "the help lists the letter keys ({seen})");
}

#[test]
fn escape_leaves_modes_and_q_types_into_a_filter() {
    let k = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(keymap(&Mode::Normal, k('q')), Some(Action::Quit));
    assert_eq!(keymap(&Mode::Search, k('q')), Some(Action::Input('q')));
    assert_eq!(keymap(&Mode::Search, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)), Some(Action::Escape));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    for mode in [Mode::Normal, Mode::Search, Mode::Help] {
        assert_eq!(keymap(&mode, ctrl_c), Some(Action::Quit), "Ctrl-C quits from {mode:?}");
    }
}

#[test]
fn escape_clears_a_kept_text_filter() {
    use crate::fixture::{Fake, app, code, drive, key, typed};
    let src = Fake::new();
    let mut a = app(&src);
    let mut events = vec![key('/')];
    events.extend(typed("redis"));
    events.push(code(KeyCode::Enter));
    drive(&mut a, &src, 120, 30, events);
    assert_eq!((a.mode.clone(), a.shown_len()), (Mode::Normal, 1));
    drive(&mut a, &src, 120, 30, vec![code(KeyCode::Esc)]);
    assert_eq!((a.filter.text.as_str(), a.shown_len()), ("", 7));
}
