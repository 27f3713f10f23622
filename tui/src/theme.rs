//! Colours, in one place, and none under `NO_COLOR` (selection and emphasis
//! then use reverse video and bold, which every terminal shows).

use haetae_findings::{Priority, Severity};
use ratatui::style::{Color, Modifier, Style};

/// The styles the views use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Theme {
    color: bool,
}

impl Theme {
    /// With colours, or not.
    pub(crate) fn new(color: bool) -> Self {
        Theme { color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    /// A priority band.
    pub(crate) fn priority(self, p: Priority) -> Style {
        match p {
            Priority::P1 => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Priority::P2 => self.fg(Color::LightRed),
            Priority::P3 => self.fg(Color::Yellow),
            Priority::P4 => self.fg(Color::Gray),
        }
    }

    /// A severity.
    pub(crate) fn severity(self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::High => self.fg(Color::LightRed),
            Severity::Medium => self.fg(Color::Yellow),
            Severity::Low => self.fg(Color::Cyan),
            Severity::Info => self.fg(Color::Gray),
        }
    }

    /// Headings and titles.
    pub(crate) fn heading(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected line.
    pub(crate) fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Errors and overdue dates.
    pub(crate) fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Soon due or soon expiring.
    pub(crate) fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// New and reopened marks, good news.
    pub(crate) fn news(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }

    /// Less important text.
    pub(crate) fn dim(self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new().add_modifier(Modifier::DIM) }
    }
}
