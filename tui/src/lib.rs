//! haetae-tui: the terminal triage UI.
//!
//! This crate will hold the ratatui application the team triages in: state
//! separate from drawing, keys turned into actions, a main loop generic over the
//! backend. It reads findings through [`haetae_findings::Store`] and explains
//! priorities with `haetae-rules`.
//!
//! Nothing is implemented yet: the UI arrives with issue 7.
