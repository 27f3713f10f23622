//! Dialogs that ask for what a triage action needs: a note, a date, a name,
//! an export format. A dialog turns into an `Effect` only when its fields are valid.

use haetae_findings::export::{Format, Lang};
use haetae_findings::{State, Timestamp, Transition};

/// What a dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    /// False positive: a note is required.
    FalsePositive,
    /// Accepted risk: an until date is required, a note is welcome.
    AcceptRisk,
    /// Assign to someone (empty: unassign).
    Assign,
    /// Add a note.
    Note,
    /// Export: format and file.
    Export,
}

impl DialogKind {
    /// The dialog's title.
    pub fn title(self) -> &'static str {
        match self {
            DialogKind::FalsePositive => "False positive",
            DialogKind::AcceptRisk => "Accept risk",
            DialogKind::Assign => "Assign",
            DialogKind::Note => "Add a note",
            DialogKind::Export => "Export",
        }
    }
}

/// One text field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its label.
    pub label: &'static str,
    /// What was typed.
    pub value: String,
    /// What is expected.
    pub hint: &'static str,
}

impl Field {
    fn new(label: &'static str, hint: &'static str) -> Self {
        Field { label, value: String::new(), hint }
    }
}

/// An open dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// What it is for.
    pub kind: DialogKind,
    /// Its fields.
    pub fields: Vec<Field>,
    /// The field being typed in.
    pub focus: usize,
    /// Why the last submit was refused.
    pub error: Option<String>,
    /// The findings it acts on, with their current states.
    pub targets: Vec<(String, State)>,
}

/// What a submitted dialog asks the runner to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Apply transitions (one per group of findings).
    Triage(Vec<(Vec<String>, Transition)>),
    /// Export these findings.
    Export(ExportRequest),
}

/// An export the user asked for: which findings, how, where, and why those.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// Finding ids.
    pub ids: Vec<String>,
    /// Format.
    pub format: Format,
    /// Language of the report's labels.
    pub lang: Lang,
    /// File to write (the format's extension is added when it has none).
    pub path: String,
    /// What chose the findings, in words (stated in the export).
    pub filters: Vec<String>,
}

impl Dialog {
    /// A dialog of `kind` over `targets`.
    pub fn new(kind: DialogKind, targets: Vec<(String, State)>, default_file: &str) -> Self {
        let fields = match kind {
            DialogKind::FalsePositive => vec![Field::new("Note", "why it is not real (required)")],
            DialogKind::AcceptRisk => {
                vec![Field::new("Until", "YYYY-MM-DD, in the future (required)"), Field::new("Note", "why (optional)")]
            }
            DialogKind::Assign => vec![Field::new("Who", "a name; empty to unassign")],
            DialogKind::Note => vec![Field::new("Note", "the note (required)")],
            DialogKind::Export => {
                let mut format = Field::new("Format", "json, jsonl, csv, sarif, md or html");
                format.value = "html".to_owned();
                let mut lang = Field::new("Language", "en or ko (the report's labels)");
                lang.value = "en".to_owned();
                let mut file = Field::new("File", "where to write it (the format's extension is added)");
                file.value = default_file.to_owned();
                vec![format, lang, file]
            }
        };
        Dialog { kind, fields, focus: 0, error: None, targets }
    }

    /// Type a character into the focused field.
    pub fn input(&mut self, c: char) {
        if let Some(f) = self.fields.get_mut(self.focus) {
            f.value.push(c);
        }
        self.error = None;
    }

    /// Delete the focused field's last character.
    pub fn backspace(&mut self) {
        if let Some(f) = self.fields.get_mut(self.focus) {
            f.value.pop();
        }
    }

    /// Focus the next field.
    pub fn next_field(&mut self) {
        self.focus = (self.focus + 1) % self.fields.len().max(1);
    }

    fn value(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", |f| f.value.trim())
    }

    /// Validate; on success the effect to run, else the reason (also kept in `error`).
    pub fn submit(&mut self, actor: &str, now: Timestamp) -> Result<Submitted, String> {
        let r = self.build(actor, now);
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    fn build(&self, actor: &str, now: Timestamp) -> Result<Submitted, String> {
        let ids = || self.targets.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
        let note = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let one = |t: Transition| Ok(Submitted::Triage(vec![(ids(), t)]));
        match self.kind {
            DialogKind::FalsePositive => match note(self.value(0)) {
                None => Err("a false positive needs a note saying why".to_owned()),
                Some(n) => one(Transition::new(State::FalsePositive, actor).note(n)),
            },
            DialogKind::AcceptRisk => {
                let until: Timestamp = self
                    .value(0)
                    .parse()
                    .map_err(|_| format!("until: expected a date like 2026-12-31, got \"{}\"", self.value(0)))?;
                if until <= now {
                    return Err(format!("until: {} is not in the future", until.date_string()));
                }
                let mut t = Transition::new(State::AcceptedRisk, actor);
                t.until = Some(until);
                t.note = note(self.value(1));
                one(t)
            }
            DialogKind::Assign => {
                let who = self.value(0).to_owned();
                Ok(Submitted::Triage(self.per_state(|s| {
                    let mut t = Transition::new(s, actor);
                    t.assign = Some(who.clone());
                    t
                })))
            }
            DialogKind::Note => match note(self.value(0)) {
                None => Err("the note is empty".to_owned()),
                Some(n) => Ok(Submitted::Triage(self.per_state(|s| Transition::new(s, actor).note(n.clone())))),
            },
            DialogKind::Export => {
                let format: Format = self.value(0).parse().map_err(|e| format!("format: {e}"))?;
                let lang: Lang = self.value(1).parse().map_err(|e| format!("language: {e}"))?;
                let path = self.value(2).to_owned();
                if path.is_empty() {
                    return Err("file: where should the export go?".to_owned());
                }
                Ok(Submitted::Export(ExportRequest { ids: ids(), format, lang, path, filters: Vec::new() }))
            }
        }
    }

    /// One transition per current state: assigning or noting keeps the state.
    fn per_state(&self, make: impl Fn(State) -> Transition) -> Vec<(Vec<String>, Transition)> {
        let mut groups: Vec<(State, Vec<String>)> = Vec::new();
        for (id, s) in &self.targets {
            match groups.iter_mut().find(|(g, _)| g == s) {
                Some((_, ids)) => ids.push(id.clone()),
                None => groups.push((*s, vec![id.clone()])),
            }
        }
        groups.into_iter().map(|(s, ids)| (ids, make(s))).collect()
    }
}
