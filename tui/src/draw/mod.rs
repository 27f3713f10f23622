//! Drawing: a pure function of the `App`. Nothing here changes state or
//! talks to the store, so a snapshot of the state is a snapshot of the screen.

mod assets;
mod detail;
mod findings;
mod overlay;
mod scans;

use haetae_findings::Timestamp;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::{App, Mode, Tab};
use crate::theme::Theme;

/// Where each part of the screen goes.
pub(crate) struct Areas {
    pub(crate) title: Rect,
    pub(crate) body: Rect,
    pub(crate) status: Rect,
    pub(crate) input: Rect,
}

pub(crate) fn areas(area: Rect) -> Areas {
    let [title, body, status, input] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1), Constraint::Length(1)])
            .areas(area);
    Areas { title, body, status, input }
}

/// The findings view's table and detail areas.
pub(crate) fn findings_areas(body: Rect, beside: bool) -> (Rect, Option<Rect>) {
    if beside {
        let [table, detail] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(body);
        return (table, Some(detail));
    }
    if body.height < 14 {
        return (body, None);
    }
    let [table, detail] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
    (table, Some(detail))
}

/// Table rows that fit in a terminal of `size` (the header takes one line).
pub fn table_rows(size: (u16, u16), beside: bool) -> usize {
    let a = areas(Rect::new(0, 0, size.0, size.1));
    let (table, _) = findings_areas(a.body, beside);
    usize::from(table.height.saturating_sub(1))
}

/// Draw the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let theme = Theme::new(app.color);
    let a = areas(frame.area());
    title_bar(frame, a.title, app, theme);
    match app.tab {
        Tab::Findings => findings::draw(frame, a.body, app, theme),
        Tab::Scans => scans::draw(frame, a.body, app, theme),
        Tab::Assets => assets::draw(frame, a.body, app, theme),
    }
    status_line(frame, a.status, app, theme);
    input_line(frame, a.input, app, theme);
    match &app.mode {
        Mode::Help => overlay::help(frame, frame.area(), theme),
        Mode::Dialog(d) => overlay::dialog(frame, frame.area(), d, theme),
        Mode::Normal | Mode::Search => {}
    }
}

fn title_bar(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let mut spans = vec![Span::styled(" haetae ", theme.heading())];
    for (i, t) in Tab::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, t.name());
        spans.push(if *t == app.tab { Span::styled(label, theme.selected()) } else { Span::raw(label) });
    }
    spans.push(Span::styled(format!("  {}", app.engagement), theme.dim()));
    if app.scan.running {
        let id = app.scan.id.map(|i| i.to_string()).unwrap_or_default();
        spans.push(Span::styled(format!("  scan {id} running"), theme.news()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_line(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let counts = app.counts();
    let mut spans = Vec::new();
    for (p, n) in haetae_findings::Priority::ALL.iter().zip(counts) {
        spans.push(Span::styled(format!("{p} {n}"), theme.priority(*p)));
        spans.push(Span::raw("  "));
    }
    spans.push(Span::raw(format!("│ {} of {} shown", app.shown_len(), app.rows().len())));
    if !app.marks.is_empty() {
        spans.push(Span::styled(format!(" │ {} marked", app.marks.len()), theme.news()));
    }
    spans.push(Span::styled(format!(" │ {}", app.filter.describe().join(" · ")), theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn input_line(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let line = match (&app.mode, &app.message) {
        (Mode::Search, _) => Line::from(vec![
            Span::styled("/", theme.heading()),
            Span::raw(app.filter.text.clone()),
            Span::styled("█", Style::new()),
            Span::styled("   Enter keeps it · Esc clears it", theme.dim()),
        ]),
        (_, Some((true, m))) => Line::from(Span::styled(m.clone(), theme.bad())),
        (_, Some((false, m))) => Line::from(Span::raw(m.clone())),
        _ => Line::from(Span::styled(
            "? keys · / filter · s p v state/priority/severity · Space mark · c f a x o triage · e export · q quit",
            theme.dim(),
        )),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// "5m", "3h", "2d": how long before `now` `t` was.
pub(crate) fn ago(now: Timestamp, t: Timestamp) -> String {
    let s = now.unix().saturating_sub(t.unix()).max(0);
    match s {
        0..60 => "now".to_owned(),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
