//! Boxes drawn over the view: the key list and dialogs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::action::KEYS;
use crate::dialog::Dialog;
use crate::theme::Theme;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(v);
    h
}

pub(super) fn help(frame: &mut Frame<'_>, area: Rect, theme: Theme) {
    let keys_width = KEYS.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![Span::styled(format!(" {k:<keys_width$}  "), theme.heading()), Span::raw(*what)])
        })
        .collect();
    lines.push(Line::from(Span::styled(" any key closes this", theme.dim())));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let box_area = centered(area, 80, height);
    frame.render_widget(Clear, box_area);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Keys ")), box_area);
}

pub(super) fn dialog(frame: &mut Frame<'_>, area: Rect, d: &Dialog, theme: Theme) {
    let n = d.targets.len();
    let mut lines = vec![Line::from(Span::styled(format!(" {} finding(s)", n), theme.dim()))];
    for (i, f) in d.fields.iter().enumerate() {
        let cursor = if i == d.focus { "█" } else { "" };
        let label = if i == d.focus { theme.selected() } else { theme.heading() };
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", f.label), label),
            Span::raw(format!(" {}{cursor}", f.value)),
        ]));
        lines.push(Line::from(Span::styled(format!("   {}", f.hint), theme.dim())));
    }
    if let Some(e) = &d.error {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(format!(" {e}"), theme.bad())));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(" Enter: save · Tab: next field · Esc: cancel", theme.dim())));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let box_area = centered(area, 64, height);
    frame.render_widget(Clear, box_area);
    let block = Block::bordered().title(Span::styled(format!(" {} ", d.kind.title()), theme.heading()));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), box_area);
}
