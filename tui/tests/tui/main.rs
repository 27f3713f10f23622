//! TUI tests: every view drawn on ratatui's `TestBackend`, key sequences that
//! triage through a real store, live updates, small and huge inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixture;
mod keys;
mod live;
mod triage;
mod views;
