//! The findings table: only the rows on screen are built, so 100k findings
//! draw as fast as 30.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table};

use super::{ago, detail, findings_areas};
use crate::row::Row;
use crate::state::App;
use crate::theme::Theme;

const WIDTHS: [Constraint; 9] = [
    Constraint::Length(2),
    Constraint::Length(3),
    Constraint::Length(8),
    Constraint::Length(28),
    Constraint::Min(16),
    Constraint::Length(14),
    Constraint::Length(4),
    Constraint::Length(4),
    Constraint::Length(10),
];

pub(super) fn draw(frame: &mut Frame<'_>, body: Rect, app: &App, theme: Theme) {
    let (table_area, detail_area) = findings_areas(body, app.detail_beside());
    if app.rows().is_empty() {
        let text = "No findings in this store yet. Run `haetae scan` (or `haetae tui --scan`) and they appear here.";
        frame.render_widget(Paragraph::new(text).style(theme.dim()), table_area);
    } else {
        table(frame, table_area, app, theme);
    }
    if let Some(area) = detail_area {
        detail::draw(frame, area, app, theme);
    }
}

fn table(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let header = TableRow::new(["", "Pri", "Severity", "Check", "Host:port", "State", "Age", "Seen", "SLA due"])
        .style(theme.heading());
    let visible = usize::from(area.height.saturating_sub(1));
    let rows: Vec<TableRow> = (app.offset..app.offset + visible)
        .filter_map(|i| app.shown_at(i).map(|r| (i, r)))
        .map(|(i, r)| {
            let row = line(r, app, theme);
            if i == app.cursor { row.style(theme.selected()) } else { row }
        })
        .collect();
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("Nothing matches the filters (0 clears them).").style(theme.dim()),
            Rect { y: area.y.saturating_add(1), height: area.height.saturating_sub(1), ..area },
        );
    }
    frame.render_widget(Table::new(rows, WIDTHS).header(header).column_spacing(1), area);
}

fn line<'a>(r: &'a Row, app: &App, theme: Theme) -> TableRow<'a> {
    let mark = if app.marks.contains(&r.id) { "*" } else { " " };
    let news = match r.baseline {
        haetae_findings::Baseline::Reopened if r.is_news(app.latest_scan) => "R",
        _ if r.is_news(app.latest_scan) => "N",
        _ => " ",
    };
    let due = match r.due {
        None => Cell::from(""),
        Some(_) if r.is_overdue(app.now) => Cell::from(Span::styled("OVERDUE", theme.bad())),
        Some(d) if r.state.is_active() && d.days_since(app.now) < 7 => {
            Cell::from(Span::styled(d.date_string(), theme.warn()))
        }
        Some(d) => Cell::from(d.date_string()),
    };
    TableRow::new(vec![
        Cell::from(Line::from(vec![Span::raw(mark), Span::styled(news, theme.news())])),
        Cell::from(Span::styled(r.priority.as_str(), theme.priority(r.priority))),
        Cell::from(Span::styled(r.severity.as_str(), theme.severity(r.severity))),
        Cell::from(r.check.as_str()),
        Cell::from(r.endpoint()),
        Cell::from(Span::styled(r.state.as_str(), if r.state.is_active() { Style::new() } else { theme.dim() })),
        Cell::from(ago(app.now, r.first_seen)),
        Cell::from(ago(app.now, r.last_seen)),
        due,
    ])
}
