//! The selected finding, whole: what it is, the evidence, the fix, and why it
//! has its priority (the rules that fired, as `rules explain` prints them).

use haetae_findings::Finding;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::state::App;
use crate::theme::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let borders = if app.detail_beside() { Borders::LEFT } else { Borders::TOP };
    let block = Block::default().borders(borders).title(Span::styled(" Detail (J K scroll) ", theme.heading()));
    let lines = match (&app.detail, app.selected_id()) {
        (Some(f), Some(id)) if f.id == id => lines(f, app, theme),
        (_, Some(_)) => vec![Line::from(Span::styled("loading…", theme.dim()))],
        (_, None) => vec![],
    };
    let p = Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).scroll((app.detail_scroll, 0));
    frame.render_widget(p, area);
}

fn section<'a>(out: &mut Vec<Line<'a>>, title: &'a str, theme: Theme) {
    out.push(Line::default());
    out.push(Line::from(Span::styled(title, theme.heading())));
}

fn lines<'a>(f: &'a Finding, app: &App, theme: Theme) -> Vec<Line<'a>> {
    let mut out = vec![Line::from(Span::styled(f.title.as_str(), theme.heading()))];
    out.push(Line::from(vec![
        Span::raw(format!("{} · {} · ", f.id, f.check)),
        Span::styled(f.severity.as_str(), theme.severity(f.severity)),
        Span::raw(format!(" ({}) · ", f.confidence)),
        Span::styled(f.priority.as_str(), theme.priority(f.priority)),
        Span::raw(format!(" score {:.0}", f.score)),
    ]));
    let mut state = vec![Span::raw(format!("state {}", f.state))];
    if f.suppressed {
        state.push(Span::styled(" (suppressed by a rule)", theme.dim()));
    }
    if let Some(who) = &f.assignee {
        state.push(Span::raw(format!(" · assigned to {who}")));
    }
    if let Some(until) = f.accepted_until {
        state.push(Span::raw(format!(" · accepted until {}", until.date_string())));
    }
    if let Some(due) = f.due {
        if f.is_overdue(app.now) {
            state.push(Span::styled(format!(" · due {} OVERDUE", due.date_string()), theme.bad()));
        } else {
            state.push(Span::raw(format!(" · due {}", due.date_string())));
        }
    }
    out.push(Line::from(state));
    let mut at = f.endpoint();
    if let Some(ip) = f.ip {
        at.push_str(&format!(" ({ip})"));
    }
    if let Some(url) = &f.url {
        at.push_str(&format!(" {url}"));
    } else if !f.location.is_empty() {
        at.push_str(&format!(" {}", f.location));
    }
    out.push(Line::from(at));
    out.push(Line::from(Span::styled(
        format!(
            "first seen {} · last seen {} · seen {} time(s){}",
            f.first_seen,
            f.last_seen,
            f.seen_count,
            if f.tags.is_empty() { String::new() } else { format!(" · tags {}", f.tags.join(", ")) }
        ),
        theme.dim(),
    )));
    if !f.evidence.is_empty() {
        section(&mut out, "Evidence", theme);
        out.extend(f.evidence.lines().map(|l| Line::from(format!("  {l}"))));
    }
    if !f.remediation.is_empty() {
        section(&mut out, "Remediation", theme);
        out.extend(f.remediation.lines().map(|l| Line::from(format!("  {l}"))));
    }
    if !f.references.is_empty() || f.cwe.is_some() {
        section(&mut out, "References", theme);
        if let Some(cwe) = f.cwe {
            out.push(Line::from(format!("  CWE-{cwe}")));
        }
        out.extend(f.references.iter().map(|r| Line::from(format!("  {r}"))));
    }
    section(&mut out, "Why this priority", theme);
    if f.rules.is_empty() {
        out.push(Line::from(Span::styled("  (not scored yet: run `haetae rules apply`)", theme.dim())));
    }
    for hit in &f.rules {
        out.push(Line::from(vec![
            Span::styled(format!("  {}: ", hit.name), theme.dim()),
            Span::raw(hit.effect.as_str()),
        ]));
    }
    section(&mut out, "History", theme);
    for h in &f.history {
        let from = h.from.map_or_else(|| "new".to_owned(), |s| s.to_string());
        let note = h.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
        out.push(Line::from(format!("  {} {} {from} → {}{note}", h.at, h.actor, h.to)));
    }
    out
}
