//! The Assets view: each host with its addresses, open ports, certificate
//! expiry and open findings.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::state::App;
use crate::theme::Theme;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    if app.assets.is_empty() {
        frame.render_widget(Paragraph::new("No hosts recorded yet: a scan records them.").style(theme.dim()), area);
        return;
    }
    let header =
        Row::new(["Host", "Addresses", "Open ports", "Certificate expires", "Open findings"]).style(theme.heading());
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let offset = app.asset_cursor.saturating_sub(visible - 1);
    let rows: Vec<Row> = app
        .assets
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(i, a)| {
            let ports: Vec<String> = a.ports.iter().map(u16::to_string).collect();
            let cert = match a.cert_expiry {
                None => Cell::from(""),
                Some((t, port)) => {
                    let days = t.days_since(app.now);
                    let text = format!("{} (:{port}, {days}d)", t.date_string());
                    let style = if days < 0 {
                        theme.bad()
                    } else if days < 30 {
                        theme.warn()
                    } else {
                        ratatui::style::Style::new()
                    };
                    Cell::from(Span::styled(text, style))
                }
            };
            let row = Row::new(vec![
                Cell::from(a.host.as_str()),
                Cell::from(a.addresses.join(", ")),
                Cell::from(ports.join(", ")),
                cert,
                Cell::from(a.open_findings.to_string()),
            ]);
            if i == app.asset_cursor { row.style(theme.selected()) } else { row }
        })
        .collect();
    let widths = [
        Constraint::Min(20),
        Constraint::Length(24),
        Constraint::Length(22),
        Constraint::Length(26),
        Constraint::Length(13),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), area);
}
