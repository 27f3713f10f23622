//! Writing to the terminal: aligned tables (by display width, so Korean text
//! lines up), colour only on a terminal and never with `NO_COLOR`, and a closed
//! pipe (`haetae findings | head`) treated as a normal end.

use std::io::{IsTerminal as _, Write};

use haetae_findings::Priority;
use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};

/// Whether colour may be used on stdout.
pub(crate) fn color_enabled() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// Whether an error is only a closed stdout pipe.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// ANSI colour of a priority band.
pub(crate) fn priority_color(p: Priority) -> &'static str {
    match p {
        Priority::P1 => "\x1b[1;31m",
        Priority::P2 => "\x1b[33m",
        Priority::P3 => "\x1b[36m",
        Priority::P4 => "\x1b[2m",
    }
}

pub(crate) const RESET: &str = "\x1b[0m";

/// Cut `s` to at most `width` display columns, marking the cut with `…`.
pub(crate) fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push('…');
    out
}

/// A table whose columns are padded by display width.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<(Vec<String>, Option<&'static str>)>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Add a row, optionally coloured.
    pub(crate) fn row(&mut self, cells: Vec<String>, color: Option<&'static str>) {
        self.rows.push((cells, color));
    }

    pub(crate) fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for (cells, _) in &self.rows {
            for (i, c) in cells.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.width());
            }
        }
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                s.push_str(c);
                if i + 1 < n {
                    s.push_str(&" ".repeat(widths[i].saturating_sub(c.width()) + 2));
                }
            }
            s
        };
        writeln!(out, "{}", line(&self.header))?;
        for (cells, color) in &self.rows {
            match color {
                Some(c) => writeln!(out, "{c}{}{RESET}", line(cells))?,
                None => writeln!(out, "{}", line(cells))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_text_lines_up_by_display_width() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["관리자".into(), "x".into()], None);
        t.row(vec!["ab".into(), "y".into()], None);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let cols: Vec<usize> = text.lines().map(|l| l[..l.rfind(' ').unwrap()].width()).collect();
        assert!(cols.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert_eq!(truncate("관리자 페이지", 7), "관리자…");
        assert_eq!(truncate("short", 10), "short");
    }
}
