//! Tokenizer for Go expressions, following the Go spec's "Lexical elements".
//!
//! Newlines are plain whitespace: an expression is a single unit, so Go's
//! automatic semicolon insertion does not apply. The whole input is tokenized
//! up front; the token vector always ends with [`TokenKind::Eof`].

use crate::ast::{LitKind, Span};
use crate::diag::{column, ParseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    Break,
    Case,
    Chan,
    Const,
    Continue,
    Default,
    Defer,
    Else,
    Fallthrough,
    For,
    Func,
    Go,
    Goto,
    If,
    Import,
    Interface,
    Map,
    Package,
    Range,
    Return,
    Select,
    Struct,
    Switch,
    Type,
    Var,
}

impl Keyword {
    fn from_ident(s: &str) -> Option<Keyword> {
        use Keyword::*;
        Some(match s {
            "break" => Break,
            "case" => Case,
            "chan" => Chan,
            "const" => Const,
            "continue" => Continue,
            "default" => Default,
            "defer" => Defer,
            "else" => Else,
            "fallthrough" => Fallthrough,
            "for" => For,
            "func" => Func,
            "go" => Go,
            "goto" => Goto,
            "if" => If,
            "import" => Import,
            "interface" => Interface,
            "map" => Map,
            "package" => Package,
            "range" => Range,
            "return" => Return,
            "select" => Select,
            "struct" => Struct,
            "switch" => Switch,
            "type" => Type,
            "var" => Var,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        use Keyword::*;
        match self {
            Break => "break",
            Case => "case",
            Chan => "chan",
            Const => "const",
            Continue => "continue",
            Default => "default",
            Defer => "defer",
            Else => "else",
            Fallthrough => "fallthrough",
            For => "for",
            Func => "func",
            Go => "go",
            Goto => "goto",
            If => "if",
            Import => "import",
            Interface => "interface",
            Map => "map",
            Package => "package",
            Range => "range",
            Return => "return",
            Select => "select",
            Struct => "struct",
            Switch => "switch",
            Type => "type",
            Var => "var",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Punct {
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Caret,
    Shl,
    Shr,
    AndNot,
    AndAnd,
    OrOr,
    Arrow,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Bang,
    Assign,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Ellipsis,
    Colon,
    Semicolon,
}

impl Punct {
    pub fn as_str(self) -> &'static str {
        use Punct::*;
        match self {
            Plus => "+",
            Minus => "-",
            Star => "*",
            Slash => "/",
            Percent => "%",
            Amp => "&",
            Pipe => "|",
            Caret => "^",
            Shl => "<<",
            Shr => ">>",
            AndNot => "&^",
            AndAnd => "&&",
            OrOr => "||",
            Arrow => "<-",
            EqEq => "==",
            NotEq => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Bang => "!",
            Assign => "=",
            LParen => "(",
            RParen => ")",
            LBracket => "[",
            RBracket => "]",
            LBrace => "{",
            RBrace => "}",
            Comma => ",",
            Dot => ".",
            Ellipsis => "...",
            Colon => ":",
            Semicolon => ";",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Ident(String),
    Keyword(Keyword),
    /// A literal; its source text is `src[span]`.
    Lit(LitKind),
    Punct(Punct),
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Splits `src` into tokens, ending with an `Eof` token at `src.len()`.
pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let start = lx.pos;
        let Some(c) = lx.peek() else {
            out.push(Token { kind: TokenKind::Eof, span: Span::new(start, start) });
            return Ok(out);
        };
        let kind = if is_letter(c) {
            lx.ident()
        } else if c.is_ascii_digit() || (c == '.' && lx.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            lx.number()?
        } else if c == '"' {
            lx.string()?
        } else if c == '`' {
            lx.raw_string()?
        } else if c == '\'' {
            lx.rune()?
        } else {
            lx.punct()?
        };
        out.push(Token { kind, span: Span::new(start, lx.pos) });
    }
}

/// Go's `letter`: a Unicode letter or underscore.
fn is_letter(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

/// A character for an error message: control characters escaped.
fn shown_char(c: char) -> String {
    if c.is_control() {
        c.escape_debug().to_string()
    } else {
        c.to_string()
    }
}

fn digit_value(c: char) -> Option<u32> {
    c.to_digit(16)
}

fn base_name(base: u32) -> &'static str {
    match base {
        2 => "binary",
        8 => "octal",
        16 => "hexadecimal",
        _ => "decimal",
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..)?.chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src.get(self.pos..)?.chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn error(&self, start: usize, end: usize, msg: impl Into<String>) -> ParseError {
        ParseError { message: msg.into(), span: Span::new(start, end) }
    }

    fn col(&self, offset: usize) -> usize {
        column(self.src, offset)
    }

    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek_at(1) == Some('/') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    let start = self.pos;
                    match self.src.get(self.pos + 2..).and_then(|rest| rest.find("*/")) {
                        Some(i) => self.pos += 2 + i + 2,
                        None => {
                            return Err(self.error(start, self.src.len(), "unterminated comment"));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn ident(&mut self) -> TokenKind {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_letter(c) || c.is_numeric() {
                self.bump();
            } else {
                break;
            }
        }
        let text = &self.src[start..self.pos];
        match Keyword::from_ident(text) {
            Some(k) => TokenKind::Keyword(k),
            None => TokenKind::Ident(text.to_string()),
        }
    }

    fn punct(&mut self) -> Result<TokenKind, ParseError> {
        use Punct::*;
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Err(self.error(start, start, "unexpected end of expression"));
        };
        let p = match c {
            '+' => Plus,
            '-' => Minus,
            '*' => Star,
            '/' => Slash,
            '%' => Percent,
            '&' => {
                if self.eat('&') {
                    AndAnd
                } else if self.eat('^') {
                    AndNot
                } else {
                    Amp
                }
            }
            '|' => {
                if self.eat('|') {
                    OrOr
                } else {
                    Pipe
                }
            }
            '^' => Caret,
            '<' => {
                if self.eat('<') {
                    Shl
                } else if self.eat('=') {
                    Le
                } else if self.eat('-') {
                    Arrow
                } else {
                    Lt
                }
            }
            '>' => {
                if self.eat('>') {
                    Shr
                } else if self.eat('=') {
                    Ge
                } else {
                    Gt
                }
            }
            '=' => {
                if self.eat('=') {
                    EqEq
                } else {
                    Assign
                }
            }
            '!' => {
                if self.eat('=') {
                    NotEq
                } else {
                    Bang
                }
            }
            '(' => LParen,
            ')' => RParen,
            '[' => LBracket,
            ']' => RBracket,
            '{' => LBrace,
            '}' => RBrace,
            ',' => Comma,
            ':' => Colon,
            ';' => Semicolon,
            '.' => {
                if self.peek() == Some('.') && self.peek_at(1) == Some('.') {
                    self.pos += 2;
                    Ellipsis
                } else {
                    Dot
                }
            }
            other => {
                let shown = if other.is_control() || other.is_whitespace() {
                    format!("{:?}", other)
                } else {
                    format!("'{other}'")
                };
                return Err(self.error(
                    start,
                    self.pos,
                    format!("invalid character {shown} at column {}", self.col(start)),
                ));
            }
        };
        Ok(TokenKind::Punct(p))
    }

    /// Consumes digits (and `_`) valid in `base` plus, for bases 2 and 8,
    /// any decimal digit so that `0b12` reports an invalid digit rather than
    /// splitting into two tokens (as go/scanner does).
    fn digits(&mut self, base: u32) {
        while let Some(c) = self.peek() {
            let ok = c == '_'
                || if base == 16 { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
            if !ok {
                break;
            }
            self.bump();
        }
    }

    fn number(&mut self) -> Result<TokenKind, ParseError> {
        let start = self.pos;
        let mut base = 10;
        let mut prefixed = false;
        if self.peek() == Some('0') {
            match self.peek_at(1).map(|c| c.to_ascii_lowercase()) {
                Some('x') => base = 16,
                Some('b') => base = 2,
                Some('o') => base = 8,
                _ => {}
            }
            if base != 10 {
                self.pos += 2;
                prefixed = true;
            }
        }
        self.digits(base);
        let mut is_float = false;
        if self.peek() == Some('.') && !(self.peek_at(1) == Some('.') && self.peek_at(2) == Some('.')) {
            self.bump();
            is_float = true;
            self.digits(base);
        }
        let mantissa_end = self.pos;
        let mut has_exp = false;
        let exp_char = self.peek().map(|c| c.to_ascii_lowercase());
        if (base == 16 && exp_char == Some('p')) || (base != 16 && exp_char == Some('e')) {
            let epos = self.pos;
            self.bump();
            if !self.eat('+') {
                self.eat('-');
            }
            let dstart = self.pos;
            self.digits(10);
            if self.pos == dstart || !self.src[dstart..self.pos].bytes().any(|b| b.is_ascii_digit()) {
                return Err(self.error(
                    start,
                    self.pos,
                    format!("exponent has no digits at column {}", self.col(epos)),
                ));
            }
            is_float = true;
            has_exp = true;
        }
        let imaginary = self.eat('i');
        let text = &self.src[start..self.pos];
        let body = if imaginary { &text[..text.len() - 1] } else { text };

        self.check_separators(start, body, base, prefixed)?;

        if is_float && base != 10 && base != 16 {
            return Err(self.error(start, self.pos, format!("invalid radix point in {} literal", base_name(base))));
        }
        if base == 16 && is_float && !has_exp {
            return Err(self.error(start, self.pos, "hexadecimal mantissa requires a 'p' exponent"));
        }
        if prefixed && !self.src[start + 2..mantissa_end].chars().any(|c| c.is_ascii_hexdigit()) {
            return Err(self.error(start, self.pos, format!("{} literal has no digits", base_name(base))));
        }

        // Legacy octal: `0777`. The spec's backward-compatibility rule makes an
        // imaginary literal with only decimal digits decimal (`0123i` == 123i).
        if base == 10 && !is_float && !imaginary && body.len() > 1 && body.starts_with('0') {
            base = 8;
        }
        if base != 16 && !is_float {
            let digits = if prefixed { &body[2..] } else { body };
            if let Some(bad) = digits.chars().find(|c| c.is_ascii_digit() && c.to_digit(10).unwrap_or(0) >= base) {
                return Err(self.error(
                    start,
                    self.pos,
                    format!("invalid digit '{bad}' in {} literal", base_name(base)),
                ));
            }
        }

        let clean: String = body.chars().filter(|&c| c != '_').collect();
        let value = if is_float || (imaginary && base == 10) {
            if base == 16 && is_float {
                parse_hex_float(&clean[2..])
            } else {
                clean.parse::<f64>().map_err(|_| self.error(start, self.pos, "malformed floating-point literal"))?
            }
        } else {
            let digits = if prefixed { &clean[2..] } else { &clean[..] };
            let mut v: u128 = 0;
            for c in digits.chars() {
                let d = digit_value(c).unwrap_or(0) as u128;
                v = v
                    .checked_mul(base as u128)
                    .and_then(|v| v.checked_add(d))
                    .ok_or_else(|| self.error(start, self.pos, "integer literal too large"))?;
            }
            if !imaginary {
                return Ok(TokenKind::Lit(LitKind::Int(v)));
            }
            // Imaginary parts are floating point: u128 -> f64 rounds to nearest.
            v as f64
        };
        Ok(TokenKind::Lit(if imaginary { LitKind::Imag(value) } else { LitKind::Float(value) }))
    }

    /// Go spec: "_" may appear only between successive digits or between
    /// the base prefix and the first digit.
    fn check_separators(&self, start: usize, body: &str, base: u32, prefixed: bool) -> Result<(), ParseError> {
        let chars: Vec<char> = body.chars().collect();
        let is_digit = |c: char| if base == 16 { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
        for (i, &c) in chars.iter().enumerate() {
            if c != '_' {
                continue;
            }
            // After a hex mantissa the exponent is decimal, and 'p' is not a
            // hex digit, so `0x1p_1` is rejected like go/scanner does.
            let prev_ok = i > 0 && (is_digit(chars[i - 1]) || (prefixed && i == 2));
            let next_ok = chars.get(i + 1).is_some_and(|&n| is_digit(n));
            if !prev_ok || !next_ok {
                return Err(self.error(
                    start,
                    start + body.len(),
                    format!("'_' must separate successive digits at column {}", self.col(start + i)),
                ));
            }
        }
        Ok(())
    }

    fn string(&mut self) -> Result<TokenKind, ParseError> {
        let start = self.pos;
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some('\n') => {
                    return Err(self.error(start, self.pos, "unterminated string literal"));
                }
                Some('"') => {
                    self.bump();
                    return Ok(TokenKind::Lit(LitKind::Str(out)));
                }
                Some('\\') => {
                    self.escape('"', &mut out)?;
                }
                Some(c) => {
                    self.bump();
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    fn raw_string(&mut self) -> Result<TokenKind, ParseError> {
        let start = self.pos;
        self.bump();
        let rest = self.src.get(self.pos..).unwrap_or("");
        match rest.find('`') {
            Some(i) => {
                // Spec: carriage returns inside raw string literals are discarded.
                let value: Vec<u8> = rest[..i].bytes().filter(|&b| b != b'\r').collect();
                self.pos += i + 1;
                Ok(TokenKind::Lit(LitKind::Str(value)))
            }
            None => Err(self.error(start, self.src.len(), "unterminated raw string literal")),
        }
    }

    fn rune(&mut self) -> Result<TokenKind, ParseError> {
        let start = self.pos;
        self.bump();
        let mut value: Option<char> = None;
        let mut count = 0usize;
        loop {
            match self.peek() {
                None | Some('\n') => {
                    return Err(self.error(start, self.pos, "unterminated rune literal"));
                }
                Some('\'') => {
                    self.bump();
                    break;
                }
                Some('\\') => {
                    let mut bytes = Vec::new();
                    let esc_start = self.pos;
                    let v = self.escape('\'', &mut bytes)?;
                    // A byte-valued escape (`\xff`, `\377`) denotes that code
                    // point in a rune literal, not a UTF-8 byte.
                    let ch = char::from_u32(v).ok_or_else(|| {
                        self.error(esc_start, self.pos, "escape sequence is invalid Unicode code point")
                    })?;
                    value.get_or_insert(ch);
                    count += 1;
                }
                Some(c) => {
                    self.bump();
                    value.get_or_insert(c);
                    count += 1;
                }
            }
        }
        match (value, count) {
            (Some(c), 1) => Ok(TokenKind::Lit(LitKind::Rune(c))),
            (None, _) => Err(self.error(start, self.pos, "empty rune literal or unescaped ' in rune literal")),
            _ => Err(self.error(start, self.pos, "more than one character in rune literal")),
        }
    }

    /// Decodes one escape sequence at `self.pos` (which is a backslash),
    /// appending its bytes to `out` and returning its numeric value.
    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<u32, ParseError> {
        let start = self.pos;
        self.bump();
        let Some(c) = self.bump() else {
            return Err(self.error(start, self.pos, "escape sequence not terminated"));
        };
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(b as u32);
        }
        let (count, radix, is_byte, max) = match c {
            '0'..='7' => (3, 8, true, 255),
            'x' => (2, 16, true, 255),
            'u' => (4, 16, false, 0x10_ffff),
            'U' => (8, 16, false, 0x10_ffff),
            _ => {
                return Err(self.error(
                    start,
                    self.pos,
                    format!("unknown escape sequence '\\{}' at column {}", shown_char(c), self.col(start)),
                ));
            }
        };
        let mut v: u32 = if radix == 8 { c.to_digit(8).unwrap_or(0) } else { 0 };
        let needed = if radix == 8 { count - 1 } else { count };
        for _ in 0..needed {
            match self.peek().and_then(|d| d.to_digit(radix)) {
                Some(d) => {
                    self.bump();
                    v = v.saturating_mul(radix).saturating_add(d);
                }
                None => {
                    return Err(self.error(start, self.pos, "escape sequence has too few digits"));
                }
            }
        }
        if v > max || (0xd800..0xe000).contains(&v) {
            return Err(self.error(start, self.pos, "escape sequence is invalid Unicode code point"));
        }
        if is_byte {
            out.push(v as u8);
        } else if let Some(ch) = char::from_u32(v) {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        Ok(v)
    }
}

/// Value of a hexadecimal floating-point literal without its `0x` prefix and
/// underscores, e.g. `1.8p1` = 3.0.
fn parse_hex_float(s: &str) -> f64 {
    let (mant, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, "0"),
    };
    let mut m: u128 = 0;
    let mut shift: i64 = 0;
    let mut seen_dot = false;
    let mut sticky = false;
    for c in mant.chars() {
        if c == '.' {
            seen_dot = true;
            continue;
        }
        let d = digit_value(c).unwrap_or(0) as u128;
        if m >> 120 == 0 {
            m = (m << 4) | d;
            if seen_dot {
                shift -= 4;
            }
        } else {
            // Mantissa already far beyond f64 precision: drop the digit but
            // keep its weight (and note it was nonzero for rounding).
            sticky |= d != 0;
            if !seen_dot {
                shift += 4;
            }
        }
    }
    if sticky {
        m |= 1;
    }
    let e: i64 = exp.parse::<i64>().unwrap_or(if exp.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 });
    let total = e.saturating_add(shift).clamp(-4000, 4000) as i32;
    // Scale in steps so intermediate powers of two do not overflow/underflow
    // before the mantissa is applied.
    let mut v = m as f64;
    let mut t = total;
    while t > 0 {
        let step = t.min(1000);
        v *= 2f64.powi(step);
        t -= step;
    }
    while t < 0 {
        let step = t.max(-1000);
        v *= 2f64.powi(step);
        t -= step;
    }
    v
}
