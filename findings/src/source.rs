//! [`SourceError`]: an error in a file a user wrote, with the line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// An error at a position in a user's file (config, scope, rules, templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column in characters (0 when unknown).
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

impl SourceError {
    /// An error at byte `offset` of `text`.
    pub fn at_offset(path: &Path, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_col(text, offset);
        SourceError { path: path.to_owned(), line, column, message: message.into() }
    }

    /// An error with no position.
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        SourceError { path: path.to_owned(), line: 0, column: 0, message: message.into() }
    }

    /// Turn a `toml` deserialization error into a positioned error.
    pub fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim().to_owned();
        match err.span() {
            Some(span) => Self::at_offset(path, text, span.start, message),
            None => Self::whole_file(path, message),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for SourceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_not_bytes() {
        let text = "a = 1\n이름 = x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        let off = text.find('=').unwrap();
        assert_eq!(line_col(text, off), (1, 3));
        let off2 = text.rfind('x').unwrap();
        assert_eq!(line_col(text, off2), (2, 6));
        assert_eq!(line_col(text, 10_000), (3, 1));
    }
}
