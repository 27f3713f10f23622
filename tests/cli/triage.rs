use haetae_findings::State;

use crate::support::{code, haetae, open, seeded, stderr, stdout};

#[test]
fn triage_records_state_actor_and_note() {
    let s = seeded();
    let o = haetae(&s.path(), &["triage", &s.env, "--state", "confirmed", "--note", "reproduced", "--assign", "park"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("open -> confirmed"), "{}", stdout(&o));
    let f = open(&s.path()).get(&s.env).unwrap().unwrap();
    assert_eq!(f.state, State::Confirmed);
    assert_eq!(f.assignee.as_deref(), Some("park"));
    let h = f.history.last().unwrap();
    assert_eq!((h.actor.as_str(), h.from, h.to), ("kim", Some(State::Open), State::Confirmed));
    assert_eq!(h.note.as_deref(), Some("reproduced (assigned to park)"));
}

#[test]
fn illegal_or_incomplete_triage_is_refused_and_changes_nothing() {
    let s = seeded();
    let o = haetae(&s.path(), &["triage", &s.ssh, "--state", "false-positive"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("needs a note"), "{}", stderr(&o));
    let o = haetae(&s.path(), &["triage", &s.ssh, "--state", "accepted-risk"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--until"), "{}", stderr(&o));
    let o = haetae(&s.path(), &["triage", &s.spf, "--state", "confirmed"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("cannot go from fixed to confirmed"), "{}", stderr(&o));
    let o = haetae(&s.path(), &["triage", &s.ssh, "--state", "resolved"]);
    assert_eq!(code(&o), 2);
    let o = haetae(&s.path(), &["triage", &s.ssh, "--state", "accepted-risk", "--until", "next week"]);
    assert_eq!(code(&o), 2);
    // One unknown id: exit 1 naming it, and the known one is untouched.
    let o = haetae(&s.path(), &["triage", &s.ssh, "0123456789abcdef", "--state", "confirmed"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("0123456789abcdef"), "{}", stderr(&o));
    let store = open(&s.path());
    assert_eq!(store.get(&s.ssh).unwrap().unwrap().state, State::Open);
    assert_eq!(store.get(&s.ssh).unwrap().unwrap().history.len(), 1);
}

#[test]
fn accepted_risk_until_a_date_then_listed_under_its_state() {
    let s = seeded();
    let o = haetae(
        &s.path(),
        &[
            "triage",
            &s.ssh,
            &s.env,
            "--state",
            "accepted-risk",
            "--until",
            "2099-01-31",
            "--note",
            "compensating control",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let f = open(&s.path()).get(&s.ssh).unwrap().unwrap();
    assert_eq!(f.accepted_until.unwrap().to_string(), "2099-01-31T23:59:59Z");
    let o = haetae(&s.path(), &["findings", "--state", "accepted-risk"]);
    assert!(stdout(&o).contains(&s.ssh) && stdout(&o).contains(&s.env));
}
