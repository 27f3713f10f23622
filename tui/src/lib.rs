//! haetae-tui: the terminal triage UI.
//!
//! The app is split the way the tests need it:
//! - [`App`] (`state.rs`) is the whole state; [`App::update`] applies an
//!   [`Action`] and may ask for an [`Effect`] (triage, export, reload).
//! - [`keymap`] (`action.rs`) turns keys into actions, and is the only place
//!   that knows the keyboard.
//! - [`draw`] is a pure function of the state.
//! - [`run`] is the main loop, generic over the ratatui backend: tests drive
//!   it with `TestBackend` and a channel of events; [`run_in_terminal`] drives
//!   it with the real terminal, restored on exit and on panic.
//! - [`Source`] is where findings come from and triage goes (the store today).
//!
//! ```
//! use haetae_findings::{Finding, Timestamp};
//! use haetae_tui::{Action, App, Row, Tab};
//!
//! let f = Finding::example();
//! let mut app = App::new(vec![Row::of(&f)], Timestamp::now(), "kim", "KR-2026-0142");
//! assert_eq!(app.selected_id(), Some(f.id.as_str()));
//! app.update(Action::Tab(2));
//! assert_eq!(app.tab, Tab::Assets);
//! ```

mod action;
mod assets;
mod dialog;
mod draw;
mod filter;
mod live;
mod row;
mod run;
mod source;
mod state;
mod terminal;
mod theme;

pub use action::{Action, KEYS, keymap};
pub use assets::AssetRow;
pub use dialog::{Dialog, DialogKind, ExportRequest, Field};
pub use draw::{draw, table_rows};
pub use filter::{Filter, StateFilter};
pub use live::{Live, Progress};
pub use row::Row;
pub use run::{Event, ExportJob, Exporter, handle, load, run, sync_detail};
pub use source::Source;
pub use state::{App, Effect, Mode, ScanStatus, Tab};
pub use terminal::run_in_terminal;

/// Why the TUI stopped.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] haetae_findings::StoreError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(String),
}
