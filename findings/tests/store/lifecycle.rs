use haetae_findings::lifecycle::apply;
use haetae_findings::{CheckId, SCANNER, State, Store, Timestamp, Transition, TransitionError};

use crate::support::{Backend, obs, on_both_backends};

/// The finding of one observation, read back from `store`, put in `state`.
fn finding_in(store: &Store, state: State) -> haetae_findings::Finding {
    let (id, _) = store.upsert(&obs(CheckId::SvcSshExposed, "a.test", Some(22), "")).unwrap();
    let mut f = store.get(&id).unwrap().unwrap();
    f.state = state;
    if state == State::AcceptedRisk {
        f.accepted_until = Some(Timestamp::now().plus_days(5));
    }
    f
}

/// The full matrix: which (from, to) pairs a person may make, given what each needs.
fn every_transition_is_allowed_or_refused_as_documented(backend: &Backend) {
    let store = backend.store();
    use State::*;
    let now = Timestamp::now();
    let legal = |from: State, to: State| -> bool {
        !matches!(
            (from, to),
            (FalsePositive, AcceptedRisk) | (FalsePositive, Fixed) | (Fixed, Confirmed) | (Fixed, AcceptedRisk)
        ) && from != to
    };
    for &from in State::ALL {
        for &to in State::ALL {
            let mut f = finding_in(&store, from);
            let before = f.clone();
            let mut t = Transition::new(to, "kim").note("checked by hand");
            if to == AcceptedRisk {
                t = t.until(now.plus_days(30));
            }
            let r = apply(&mut f, &t, now);
            if from == to && to != AcceptedRisk {
                // Same state with a note is allowed: it records the note.
                assert!(r.is_ok(), "{from} -> {to} with note: {r:?}");
                continue;
            }
            if from == to {
                assert!(r.is_ok(), "extending an acceptance: {r:?}");
                assert_eq!(f.accepted_until, Some(now.plus_days(30)));
                continue;
            }
            if legal(from, to) {
                assert!(r.is_ok(), "{from} -> {to} should be legal: {r:?}");
                assert_eq!(f.state, to);
                let h = f.history.last().unwrap();
                assert_eq!((h.from, h.to, h.actor.as_str()), (Some(from), to, "kim"));
                assert!(h.note.as_deref().unwrap().starts_with("checked by hand"));
                assert_eq!(f.history.len(), before.history.len() + 1);
            } else {
                assert!(matches!(r, Err(TransitionError::Illegal { .. })), "{from} -> {to}: {r:?}");
                assert_eq!(f, before, "a refused transition changes nothing");
            }
        }
    }
}

fn false_positive_needs_a_note(backend: &Backend) {
    let store = backend.store();
    let mut f = finding_in(&store, State::Open);
    let r = apply(&mut f, &Transition::new(State::FalsePositive, "kim"), Timestamp::now());
    assert!(matches!(r, Err(TransitionError::NoteRequired { .. })), "{r:?}");
    let r = apply(&mut f, &Transition::new(State::FalsePositive, "kim").note("  "), Timestamp::now());
    assert!(matches!(r, Err(TransitionError::NoteRequired { .. })), "blank note: {r:?}");
    assert_eq!(f.state, State::Open);
}

fn accepted_risk_needs_a_future_until(backend: &Backend) {
    let store = backend.store();
    let now = Timestamp::now();
    let mut f = finding_in(&store, State::Open);
    for t in [
        Transition::new(State::AcceptedRisk, "kim"),
        Transition::new(State::AcceptedRisk, "kim").until(now.plus_days(-1)),
    ] {
        let r = apply(&mut f, &t, now);
        assert!(matches!(r, Err(TransitionError::UntilRequired { .. })), "{r:?}");
    }
    let r = apply(&mut f, &Transition::new(State::Confirmed, "kim").until(now.plus_days(3)), now);
    assert!(matches!(r, Err(TransitionError::UntilNotApplicable { .. })), "{r:?}");
    apply(&mut f, &Transition::new(State::AcceptedRisk, "kim").until(now.plus_days(3)), now).unwrap();
    assert_eq!(f.accepted_until, Some(now.plus_days(3)));
    assert!(f.history.last().unwrap().note.as_deref().unwrap().contains("until"));
    // Leaving accepted risk clears the expiry.
    apply(&mut f, &Transition::new(State::Open, "kim"), now).unwrap();
    assert_eq!(f.accepted_until, None);
}

fn same_state_without_anything_to_record_is_refused(backend: &Backend) {
    let store = backend.store();
    let mut f = finding_in(&store, State::Confirmed);
    let r = apply(&mut f, &Transition::new(State::Confirmed, "kim"), Timestamp::now());
    assert!(matches!(r, Err(TransitionError::NoChange { .. })), "{r:?}");
    let mut t = Transition::new(State::Confirmed, "kim");
    t.assign = Some("park".into());
    apply(&mut f, &t, Timestamp::now()).unwrap();
    assert_eq!(f.assignee.as_deref(), Some("park"));
    assert_eq!(f.history.last().unwrap().note.as_deref(), Some("assigned to park"));
}

fn the_scanner_only_closes_and_reopens(backend: &Backend) {
    let store = backend.store();
    let now = Timestamp::now();
    for to in [State::Confirmed, State::FalsePositive, State::AcceptedRisk] {
        let mut f = finding_in(&store, State::Open);
        let mut t = Transition::new(to, SCANNER).note("n");
        if to == State::AcceptedRisk {
            t = t.until(now.plus_days(1));
        }
        let r = apply(&mut f, &t, now);
        assert!(matches!(r, Err(TransitionError::ScannerNotAllowed { .. })), "{to}: {r:?}");
    }
    let mut f = finding_in(&store, State::Open);
    apply(&mut f, &Transition::new(State::Fixed, SCANNER), now).unwrap();
    apply(&mut f, &Transition::new(State::Open, SCANNER), now).unwrap();
    let r = apply(&mut f, &Transition::new(State::Fixed, " "), now);
    assert!(matches!(r, Err(TransitionError::NoActor { .. })), "{r:?}");
}

on_both_backends!(
    every_transition_is_allowed_or_refused_as_documented,
    false_positive_needs_a_note,
    accepted_risk_needs_a_future_until,
    same_state_without_anything_to_record_is_refused,
    the_scanner_only_closes_and_reopens,
);
