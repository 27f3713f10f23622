//! The Scans view: the scan being followed, live, and the scans before it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Row, Table};

use crate::state::App;
use crate::theme::Theme;

fn ratio(done: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { (done as f64 / total as f64).clamp(0.0, 1.0) }
}

pub(super) fn draw(frame: &mut Frame<'_>, body: Rect, app: &App, theme: Theme) {
    let [current, past] = Layout::vertical([Constraint::Length(6), Constraint::Min(0)]).areas(body);
    let s = &app.scan;
    let block = Block::default().borders(Borders::BOTTOM).title(Span::styled(" Current scan ", theme.heading()));
    let inner = block.inner(current);
    frame.render_widget(block, current);
    let Some(id) = s.id else {
        let text = "No scan is running in this session. `haetae tui --scan` runs one and shows it here live.";
        frame.render_widget(Paragraph::new(text).style(theme.dim()), inner);
        past_scans(frame, past, app, theme);
        return;
    };
    let p = &s.progress;
    let [head, hosts, ports, counters] = Layout::vertical([Constraint::Length(1); 4]).areas(inner);
    let state = if s.running { Span::styled("running", theme.news()) } else { Span::raw("finished") };
    let mut head_line = vec![Span::raw(format!("scan {id} · {} target(s) · ", s.targets)), state];
    if let Some(summary) = &s.summary {
        head_line.push(Span::raw(format!(" · {summary}")));
    }
    frame.render_widget(Paragraph::new(Line::from(head_line)), head);
    let gauge = |label: String, r: f64| Gauge::default().ratio(r).label(label).gauge_style(theme.heading());
    frame.render_widget(gauge(format!("hosts {}/{}", p.hosts_done, p.hosts), ratio(p.hosts_done, p.hosts)), hosts);
    frame.render_widget(
        gauge(format!("ports {}/{}", p.ports_done, p.ports_total), ratio(p.ports_done, p.ports_total)),
        ports,
    );
    let secs = p.elapsed_ms / 1000;
    frame.render_widget(
        Paragraph::new(format!(
            "requests {} · {:.0} req/s · open ports {} · findings so far {} · elapsed {}:{:02}",
            p.requests,
            s.rps,
            p.open_ports,
            p.findings,
            secs / 60,
            secs % 60
        )),
        counters,
    );
    past_scans(frame, past, app, theme);
}

fn past_scans(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    // The latest scan's failed units (no definite answer: they covered and
    // closed nothing), under the table.
    let latest_failed = app.scans.last().filter(|s| s.failed_total > 0);
    let area = match latest_failed {
        Some(s) => {
            let shown = s.failed.len().min(5);
            let more = usize::try_from(s.failed_total).unwrap_or(usize::MAX) > shown;
            let lines = 1 + shown + usize::from(more);
            let [table, failed] = Layout::vertical([Constraint::Min(3), Constraint::Length(lines as u16)]).areas(area);
            let mut text = vec![Line::styled(
                format!(
                    " Scan {}: {} unit(s) failed (no definite answer; they covered and closed nothing)",
                    s.id, s.failed_total
                ),
                theme.heading(),
            )];
            text.extend(s.failed.iter().take(shown).map(|u| Line::raw(format!("   {u}"))));
            if more {
                text.push(Line::raw(format!("   +{} more in the audit log", s.failed_total - shown as u64)));
            }
            frame.render_widget(Paragraph::new(text), failed);
            table
        }
        None => area,
    };
    let header =
        Row::new(["Scan", "Started", "Ended", "Result", "New", "Seen", "Fixed", "Reopened", "Failed", "Targets"])
            .style(theme.heading());
    let rows: Vec<Row> = app
        .scans
        .iter()
        .rev()
        .map(|s| {
            let result = match (s.ended, s.complete) {
                (None, _) => "unfinished",
                (Some(_), true) => "complete",
                (Some(_), false) => "incomplete",
            };
            Row::new(vec![
                s.id.to_string(),
                s.started.to_string(),
                s.ended.map(|e| e.to_string()).unwrap_or_default(),
                result.to_owned(),
                s.counts.new.to_string(),
                s.counts.seen.to_string(),
                s.counts.fixed.to_string(),
                s.counts.reopened.to_string(),
                s.failed_total.to_string(),
                s.targets.join(" "),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(20),
        Constraint::Length(20),
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    let block = Block::default().title(Span::styled(" Scans in this store ", theme.heading()));
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
