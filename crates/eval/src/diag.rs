//! Syntax errors and source positions, shared by the lexer and the parser.

use crate::ast::Span;

/// A syntax error with the byte span it refers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub span: Span,
}

impl ParseError {
    /// The message followed by the source line and a caret line under the
    /// offending span:
    ///
    /// ```text
    /// expected ')' at column 7, found end of expression
    ///     (1 + 2
    ///           ^
    /// ```
    pub fn render(&self, src: &str) -> String {
        let start = clamp_to_boundary(src, self.span.start);
        let end = clamp_to_boundary(src, self.span.end.max(start));
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let line = &src[line_start..line_end];
        let mut caret = String::new();
        for c in src[line_start..start].chars() {
            // Keep tabs so the caret lines up however the terminal renders them.
            caret.push(if c == '\t' { '\t' } else { ' ' });
        }
        let width = src[start..end.min(line_end)].chars().count().max(1);
        caret.push_str(&"^".repeat(width));
        format!("{}\n    {}\n    {}", self.message, line, caret)
    }
}

fn clamp_to_boundary(src: &str, mut i: usize) -> usize {
    i = i.min(src.len());
    while i > 0 && !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based column (in characters) of byte `offset` in `src`.
pub fn column(src: &str, offset: usize) -> usize {
    let offset = clamp_to_boundary(src, offset);
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    src[line_start..offset].chars().count() + 1
}

