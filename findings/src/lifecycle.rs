//! The one place where a finding changes state.
//!
//! [`apply`] checks a [`Transition`] against the lifecycle, refuses illegal ones
//! with a [`TransitionError`] that says why, and appends a [`HistoryEntry`].
//!
//! | from \ to      | open | confirmed | false-positive | accepted-risk | fixed |
//! |----------------|------|-----------|----------------|---------------|-------|
//! | open           | -    | yes       | note           | until         | yes   |
//! | confirmed      | yes  | -         | note           | until         | yes   |
//! | false-positive | yes  | yes       | -              | no            | no    |
//! | accepted-risk  | yes  | yes       | note           | until (extend)| yes   |
//! | fixed          | yes  | no        | note           | no            | -     |
//!
//! "note" means a note is required, "until" a future expiry date. Staying in the
//! same state is allowed only to assign, extend an acceptance or add a note.
//! The scanner (actor [`SCANNER`]) may only close (→ fixed) and reopen (→ open).

use crate::model::{Finding, HistoryEntry, State};
use crate::time::Timestamp;

/// The actor name the scanner uses in history entries.
pub const SCANNER: &str = "scanner";

/// The actor name `haetae daemon` uses for what it does on its own (an
/// accepted risk whose date passed returns to open).
pub const DAEMON: &str = "daemon";

/// A requested change of a finding's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Target state.
    pub to: State,
    /// Who asks (a person, or [`SCANNER`]).
    pub actor: String,
    /// Why.
    pub note: Option<String>,
    /// For accepted risk: when the acceptance ends.
    pub until: Option<Timestamp>,
    /// Assign the finding to someone.
    pub assign: Option<String>,
}

impl Transition {
    /// A transition with no note, expiry or assignment.
    pub fn new(to: State, actor: impl Into<String>) -> Self {
        Transition { to, actor: actor.into(), note: None, until: None, assign: None }
    }

    /// Add a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Set the acceptance expiry.
    pub fn until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The lifecycle has no such edge.
    #[error("finding {id}: cannot go from {from} to {to}: {why}")]
    Illegal {
        /// Finding id.
        id: String,
        /// Current state.
        from: State,
        /// Requested state.
        to: State,
        /// What the lifecycle says.
        why: &'static str,
    },
    /// The transition needs a note.
    #[error("finding {id}: moving to {to} needs a note saying why (--note)")]
    NoteRequired {
        /// Finding id.
        id: String,
        /// Requested state.
        to: State,
    },
    /// Accepted risk without a future expiry.
    #[error("finding {id}: accepted risk needs an expiry date in the future (--until YYYY-MM-DD)")]
    UntilRequired {
        /// Finding id.
        id: String,
    },
    /// `--until` given for a state other than accepted risk.
    #[error("finding {id}: --until only applies to accepted-risk")]
    UntilNotApplicable {
        /// Finding id.
        id: String,
    },
    /// Nothing would change.
    #[error("finding {id} is already {state}; give --note, --assign or a new --until to record something")]
    NoChange {
        /// Finding id.
        id: String,
        /// Its state.
        state: State,
    },
    /// The scanner may only close and reopen.
    #[error("finding {id}: the scanner may not set {to}; only a person triages")]
    ScannerNotAllowed {
        /// Finding id.
        id: String,
        /// Requested state.
        to: State,
    },
    /// No actor named.
    #[error("finding {id}: a transition needs an actor")]
    NoActor {
        /// Finding id.
        id: String,
    },
}

fn edge(from: State, to: State) -> Result<(), &'static str> {
    use State::*;
    match (from, to) {
        (FalsePositive, AcceptedRisk) => Err("a false positive has no risk to accept; reopen it first"),
        (FalsePositive, Fixed) => Err("a false positive was never a weakness, so it cannot be fixed"),
        (Fixed, Confirmed) => Err("a fixed finding must be reopened (open) before it is confirmed"),
        (Fixed, AcceptedRisk) => Err("a fixed finding has no risk left to accept"),
        _ => Ok(()),
    }
}

/// Check `t` against the lifecycle and apply it to `f` at time `now`.
/// On error `f` is unchanged.
pub fn apply(f: &mut Finding, t: &Transition, now: Timestamp) -> Result<(), TransitionError> {
    let id = || f.id.clone();
    let from = f.state;
    let to = t.to;
    let actor = t.actor.trim();
    if actor.is_empty() {
        return Err(TransitionError::NoActor { id: id() });
    }
    let note = t.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if actor == SCANNER && !matches!(to, State::Open | State::Fixed) {
        return Err(TransitionError::ScannerNotAllowed { id: id(), to });
    }
    if t.until.is_some() && to != State::AcceptedRisk {
        return Err(TransitionError::UntilNotApplicable { id: id() });
    }
    if from == to {
        let extends = to == State::AcceptedRisk && t.until.is_some() && t.until != f.accepted_until;
        if !extends && note.is_none() && t.assign.is_none() {
            return Err(TransitionError::NoChange { id: id(), state: from });
        }
    } else {
        edge(from, to).map_err(|why| TransitionError::Illegal { id: id(), from, to, why })?;
    }
    if to == State::FalsePositive && note.is_none() && from != to {
        return Err(TransitionError::NoteRequired { id: id(), to });
    }
    if to == State::AcceptedRisk {
        match t.until {
            Some(u) if u > now => {}
            None if from == State::AcceptedRisk => {}
            _ => return Err(TransitionError::UntilRequired { id: id() }),
        }
    }

    if to == State::AcceptedRisk {
        if let Some(u) = t.until {
            f.accepted_until = Some(u);
        }
    } else {
        f.accepted_until = None;
    }
    if let Some(who) = &t.assign {
        let who = who.trim();
        f.assignee = if who.is_empty() { None } else { Some(who.to_owned()) };
    }
    let mut note = note.map(str::to_owned);
    let mut append = |line: String| {
        note = Some(match note.take() {
            Some(n) => format!("{n} ({line})"),
            None => line,
        });
    };
    if let Some(who) = &t.assign {
        append(format!("assigned to {}", if who.trim().is_empty() { "nobody" } else { who.trim() }));
    }
    if to == State::AcceptedRisk
        && let Some(u) = f.accepted_until
    {
        append(format!("until {}", u.date_string()));
    }
    f.state = to;
    f.history.push(HistoryEntry { at: now, actor: actor.to_owned(), from: Some(from), to, note });
    Ok(())
}
