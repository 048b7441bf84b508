//! Precedence-climbing parser for Go expressions (the subset Delve's `print`
//! accepts), plus `lhs = rhs` for the `set` command.
//!
//! Grammar follows the Go spec ("Expressions", "Types"), with one deliberate
//! relaxation: a composite literal may follow any type-like operand, because
//! there are no statements whose block braces could be confused with it.

use std::fmt;

use crate::ast::*;
use crate::diag::column;
pub use crate::diag::ParseError;
use crate::lexer::{tokenize, Keyword, Punct, Token, TokenKind};

/// Maximum syntactic nesting. Recursive descent (and the recursive `Drop`,
/// `Display` and evaluation of the resulting tree) must not overflow the
/// stack of a 2 MiB thread; real debugger expressions nest a handful deep.
pub const MAX_DEPTH: usize = 200;

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TokenKind::Ident(s) => write!(f, "identifier '{s}'"),
            TokenKind::Keyword(k) => write!(f, "keyword '{}'", k.as_str()),
            TokenKind::Lit(_) => f.write_str("literal"),
            TokenKind::Punct(p) => write!(f, "'{}'", p.as_str()),
            TokenKind::Eof => f.write_str("end of expression"),
        }
    }
}

/// Parses a complete Go expression.
pub fn parse_expr(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(src)?;
    let e = p.expr()?;
    p.expect_end()?;
    Ok(e)
}

/// Parses a complete Go type (`*main.T`, `map[string][]int`, ...).
pub fn parse_type(src: &str) -> Result<TypeExpr, ParseError> {
    let mut p = Parser::new(src)?;
    let t = p.ty()?;
    p.expect_end()?;
    Ok(t)
}

/// Parses `lhs = rhs` (the debugger's `set` command).
pub fn parse_assignment(src: &str) -> Result<(Expr, Expr), ParseError> {
    let mut p = Parser::new(src)?;
    let lhs = p.expr()?;
    p.expect(Punct::Assign, "'='")?;
    let rhs = p.expr()?;
    p.expect_end()?;
    Ok((lhs, rhs))
}

/// Result of disambiguating `ident [` in a parameter or field list.
enum NameThen {
    /// `ident` is a name and this is its (array or slice) type.
    Named(Ident, TypeExpr),
    /// `ident[...]` was a generic type instantiation.
    Type(TypeExpr),
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, ParseError> {
        Ok(Parser { src, toks: tokenize(src)?, pos: 0, depth: 0 })
    }

    // ---- token access -------------------------------------------------

    fn tok(&self) -> &Token {
        self.nth(0)
    }

    fn nth(&self, n: usize) -> &Token {
        // The vector always ends with Eof; past the end, keep returning it.
        let i = (self.pos + n).min(self.toks.len().saturating_sub(1));
        &self.toks[i]
    }

    fn bump(&mut self) -> Token {
        let t = self.tok().clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is(&self, p: Punct) -> bool {
        self.tok().kind == TokenKind::Punct(p)
    }

    fn is_kw(&self, k: Keyword) -> bool {
        self.tok().kind == TokenKind::Keyword(k)
    }

    fn eat(&mut self, p: Punct) -> Option<Span> {
        if self.is(p) {
            Some(self.bump().span)
        } else {
            None
        }
    }

    fn prev_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.toks.get(self.pos - 1).map_or(0, |t| t.span.end)
        }
    }

    fn error_here(&self, expected: &str) -> ParseError {
        let t = self.tok();
        let found = match &t.kind {
            TokenKind::Lit(_) => {
                let raw = self.src.get(t.span.start..t.span.end).unwrap_or("");
                let mut shown: String = raw.chars().take(24).collect();
                if shown.len() < raw.len() {
                    shown.push_str("...");
                }
                format!("literal {shown}")
            }
            _ => t.to_string(),
        };
        ParseError {
            message: format!("expected {expected} at column {}, found {found}", column(self.src, t.span.start)),
            span: t.span,
        }
    }

    fn expect(&mut self, p: Punct, what: &str) -> Result<Span, ParseError> {
        self.eat(p).ok_or_else(|| self.error_here(what))
    }

    fn expect_end(&self) -> Result<(), ParseError> {
        if self.tok().kind == TokenKind::Eof {
            Ok(())
        } else {
            Err(self.error_here("end of expression"))
        }
    }

    fn ident(&mut self, what: &str) -> Result<Ident, ParseError> {
        match &self.tok().kind {
            TokenKind::Ident(name) => {
                let ident = Ident { name: name.clone(), span: self.tok().span };
                self.bump();
                Ok(ident)
            }
            _ => Err(self.error_here(what)),
        }
    }

    /// Records one more level of nesting; fails past [`MAX_DEPTH`]. Callers
    /// restore `depth` on success only: an error aborts the whole parse.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.tok();
            return Err(ParseError {
                message: format!(
                    "expression nested too deeply (more than {MAX_DEPTH} levels) at column {}",
                    column(self.src, t.span.start)
                ),
                span: t.span,
            });
        }
        Ok(())
    }

    // ---- expressions --------------------------------------------------

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.binary(1)?;
        self.depth -= 1;
        Ok(e)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        use BinaryOp as B;
        let TokenKind::Punct(p) = self.tok().kind else { return None };
        Some(match p {
            Punct::Star => B::Mul,
            Punct::Slash => B::Div,
            Punct::Percent => B::Rem,
            Punct::Shl => B::Shl,
            Punct::Shr => B::Shr,
            Punct::Amp => B::And,
            Punct::AndNot => B::AndNot,
            Punct::Plus => B::Add,
            Punct::Minus => B::Sub,
            Punct::Pipe => B::Or,
            Punct::Caret => B::Xor,
            Punct::EqEq => B::Eq,
            Punct::NotEq => B::Ne,
            Punct::Lt => B::Lt,
            Punct::Le => B::Le,
            Punct::Gt => B::Gt,
            Punct::Ge => B::Ge,
            Punct::AndAnd => B::LAnd,
            Punct::OrOr => B::LOr,
            _ => return None,
        })
    }

    /// Precedence climbing: all binary operators are left-associative.
    fn binary(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        let mut levels = 0;
        while let Some(op) = self.binary_op() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.bump();
            // Each iteration nests `lhs` one level deeper.
            self.enter()?;
            levels += 1;
            let rhs = self.binary(prec + 1)?;
            let span = lhs.span().to(rhs.span());
            lhs = Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span };
        }
        self.depth -= levels;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let op = match self.tok().kind {
            TokenKind::Punct(Punct::Plus) => UnaryOp::Plus,
            TokenKind::Punct(Punct::Minus) => UnaryOp::Neg,
            TokenKind::Punct(Punct::Bang) => UnaryOp::Not,
            TokenKind::Punct(Punct::Caret) => UnaryOp::BitNot,
            TokenKind::Punct(Punct::Star) => UnaryOp::Deref,
            TokenKind::Punct(Punct::Amp) => UnaryOp::AddrOf,
            TokenKind::Punct(Punct::Arrow) => UnaryOp::Recv,
            _ => return self.primary(),
        };
        self.unary_op(op)
    }

    fn unary_op(&mut self, op: UnaryOp) -> Result<Expr, ParseError> {
        let op_span = self.bump().span;
        self.enter()?;
        let operand = self.unary()?;
        self.depth -= 1;
        let span = op_span.to(operand.span());
        // `<-chan T` in expression position is a channel type, not a receive
        // from `chan T` (go/parser does the same re-association).
        if op == UnaryOp::Recv {
            if let Expr::TypeExpr(TypeExpr { kind: TypeKind::Chan { dir: ChanDir::Both, elem }, .. }) = operand {
                return Ok(Expr::TypeExpr(TypeExpr { kind: TypeKind::Chan { dir: ChanDir::Recv, elem }, span }));
            }
        }
        Ok(Expr::Unary { op, expr: Box::new(operand), span })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let e = self.operand()?;
        self.postfix(e)
    }

    /// Selectors, index/slice, calls, assertions and composite literals
    /// following an operand (a separate function so that `primary`, which is
    /// on the recursion path of nested operands, keeps a small frame).
    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        let mut levels = 0;
        loop {
            let next = match self.tok().kind {
                TokenKind::Punct(Punct::Dot) => self.selector_or_assert(e)?,
                TokenKind::Punct(Punct::LBracket) => self.index_or_slice(e)?,
                TokenKind::Punct(Punct::LParen) => self.call(e)?,
                TokenKind::Punct(Punct::LBrace) => self.composite_after(e)?,
                _ => break,
            };
            e = next;
            self.enter()?;
            levels += 1;
        }
        self.depth -= levels;
        Ok(e)
    }

    fn operand(&mut self) -> Result<Expr, ParseError> {
        match &self.tok().kind {
            TokenKind::Ident(_) => {
                let t = self.bump();
                let TokenKind::Ident(name) = t.kind else {
                    return Err(self.error_here("identifier"));
                };
                Ok(Expr::Ident(Ident { name, span: t.span }))
            }
            TokenKind::Lit(_) => self.literal(),
            TokenKind::Punct(Punct::LParen) => self.paren(),
            TokenKind::Punct(Punct::LBracket)
            | TokenKind::Keyword(Keyword::Map | Keyword::Chan | Keyword::Func | Keyword::Struct | Keyword::Interface) => {
                self.type_operand()
            }
            _ => Err(self.error_here("expression")),
        }
    }

    fn literal(&mut self) -> Result<Expr, ParseError> {
        let t = self.bump();
        let TokenKind::Lit(kind) = t.kind else {
            return Err(ParseError { message: "expected literal".into(), span: t.span });
        };
        let raw = self.src.get(t.span.start..t.span.end).unwrap_or("").to_string();
        Ok(Expr::BasicLit(Lit { kind, raw, span: t.span }))
    }

    fn paren(&mut self) -> Result<Expr, ParseError> {
        let open = self.bump().span;
        self.enter()?;
        let inner = self.expr()?;
        let close = self.expect(Punct::RParen, "')'")?;
        self.depth -= 1;
        Ok(Expr::Paren { expr: Box::new(inner), span: open.to(close) })
    }

    /// A type literal in expression position (conversion or composite type).
    fn type_operand(&mut self) -> Result<Expr, ParseError> {
        // `[...]T` is only meaningful as a composite literal type.
        let ellipsis_array = self.is(Punct::LBracket)
            && self.nth(1).kind == TokenKind::Punct(Punct::Ellipsis)
            && self.nth(2).kind == TokenKind::Punct(Punct::RBracket);
        if ellipsis_array {
            let ty = self.ellipsis_array()?;
            if !self.is(Punct::LBrace) {
                return Err(self.error_here("'{' after [...] array type"));
            }
            return Ok(Expr::TypeExpr(ty));
        }
        Ok(Expr::TypeExpr(self.ty()?))
    }

    fn selector_or_assert(&mut self, base: Expr) -> Result<Expr, ParseError> {
        self.bump(); // '.'
        if self.eat(Punct::LParen).is_some() {
            if self.is_kw(Keyword::Type) {
                return Err(ParseError {
                    message: format!(
                        "use of .(type) outside type switch at column {}",
                        column(self.src, self.tok().span.start)
                    ),
                    span: self.tok().span,
                });
            }
            let ty = self.ty()?;
            let close = self.expect(Punct::RParen, "')'")?;
            let span = base.span().to(close);
            return Ok(Expr::TypeAssert { expr: Box::new(base), ty: Box::new(ty), span });
        }
        let sel = self.ident("selector name or '(' after '.'")?;
        let span = base.span().to(sel.span);
        Ok(Expr::Selector { expr: Box::new(base), sel, span })
    }

    fn index_or_slice(&mut self, base: Expr) -> Result<Expr, ParseError> {
        self.bump(); // '['
        let low = if self.is(Punct::Colon) { None } else { Some(self.expr()?) };
        if self.eat(Punct::Colon).is_some() {
            return self.slice_rest(base, low);
        }
        // `low` is Some here: a leading ':' always takes the slice branch.
        let mut indices: Vec<Expr> = low.into_iter().collect();
        while self.eat(Punct::Comma).is_some() {
            if self.is(Punct::RBracket) {
                break;
            }
            indices.push(self.expr()?);
        }
        let close = self.expect(Punct::RBracket, "']'")?;
        let span = base.span().to(close);
        Ok(Expr::Index { expr: Box::new(base), indices, span })
    }

    /// The part of a slice expression after the first ':'.
    fn slice_rest(&mut self, base: Expr, low: Option<Expr>) -> Result<Expr, ParseError> {
        {
            let high = if self.is(Punct::Colon) || self.is(Punct::RBracket) { None } else { Some(self.expr()?) };
            let mut max = None;
            if self.is(Punct::Colon) {
                let colon = self.bump().span;
                if high.is_none() {
                    return Err(ParseError {
                        message: format!(
                            "middle index required in 3-index slice at column {}",
                            column(self.src, colon.start)
                        ),
                        span: colon,
                    });
                }
                if self.is(Punct::RBracket) {
                    return Err(ParseError {
                        message: format!(
                            "final index required in 3-index slice at column {}",
                            column(self.src, self.tok().span.start)
                        ),
                        span: self.tok().span,
                    });
                }
                max = Some(Box::new(self.expr()?));
            }
            let close = self.expect(Punct::RBracket, "']'")?;
            let span = base.span().to(close);
            Ok(Expr::Slice {
                expr: Box::new(base),
                low: low.map(Box::new),
                high: high.map(Box::new),
                max,
                span,
            })
        }
    }

    fn call(&mut self, func: Expr) -> Result<Expr, ParseError> {
        self.bump(); // '('
        let mut args = Vec::new();
        let mut ellipsis = false;
        while !self.is(Punct::RParen) {
            args.push(self.expr()?);
            if self.eat(Punct::Ellipsis).is_some() {
                ellipsis = true;
                self.eat(Punct::Comma);
                break;
            }
            if self.eat(Punct::Comma).is_none() {
                break;
            }
        }
        let close = self.expect(Punct::RParen, "')'")?;
        let span = func.span().to(close);
        Ok(Expr::Call { func: Box::new(func), args, ellipsis, span })
    }

    fn composite_after(&mut self, base: Expr) -> Result<Expr, ParseError> {
        let ty = match base.to_type() {
            Some(
                t @ TypeExpr {
                    kind:
                        TypeKind::Named { .. }
                        | TypeKind::Array { .. }
                        | TypeKind::Slice(_)
                        | TypeKind::Map { .. }
                        | TypeKind::Struct(_),
                    ..
                },
            ) => t,
            _ => {
                let brace = self.tok().span;
                return Err(ParseError {
                    message: format!(
                        "invalid composite literal type {base} before '{{' at column {}",
                        column(self.src, brace.start)
                    ),
                    span: base.span().to(brace),
                });
            }
        };
        self.composite(Some(ty))
    }

    /// Parses `{ elements }` at the current '{'.
    fn composite(&mut self, ty: Option<TypeExpr>) -> Result<Expr, ParseError> {
        let open = self.expect(Punct::LBrace, "'{'")?;
        self.enter()?;
        let mut elems = Vec::new();
        while !self.is(Punct::RBrace) {
            let first = self.element()?;
            let elem = if self.eat(Punct::Colon).is_some() {
                Element { key: Some(first), value: self.element()? }
            } else {
                Element { key: None, value: first }
            };
            elems.push(elem);
            if self.eat(Punct::Comma).is_none() {
                break;
            }
        }
        let close = self.expect(Punct::RBrace, "'}' or ','")?;
        self.depth -= 1;
        let start = ty.as_ref().map_or(open, |t| t.span);
        Ok(Expr::Composite { ty: ty.map(Box::new), elems, span: start.to(close) })
    }

    fn element(&mut self) -> Result<Expr, ParseError> {
        if self.is(Punct::LBrace) {
            self.composite(None)
        } else {
            self.expr()
        }
    }

    // ---- types --------------------------------------------------------

    fn ty(&mut self) -> Result<TypeExpr, ParseError> {
        self.enter()?;
        let t = self.ty_inner()?;
        self.depth -= 1;
        Ok(t)
    }

    fn ellipsis_array(&mut self) -> Result<TypeExpr, ParseError> {
        let open = self.bump().span; // '['
        self.bump(); // '...'
        self.bump(); // ']'
        let elem = self.ty()?;
        let span = open.to(elem.span);
        Ok(TypeExpr { kind: TypeKind::Array { len: None, elem: Box::new(elem) }, span })
    }

    /// Dispatches on the first token. Each form lives in its own function:
    /// in unoptimised builds a function's frame holds the locals of every
    /// match arm, and this is on the recursion path of nested types.
    fn ty_inner(&mut self) -> Result<TypeExpr, ParseError> {
        match &self.tok().kind {
            TokenKind::Ident(_) => self.type_name(None),
            TokenKind::Lit(LitKind::Str(_)) if self.nth(1).kind == TokenKind::Punct(Punct::Dot) => {
                self.ty_quoted_path()
            }
            TokenKind::Punct(Punct::Star) => self.ty_pointer(),
            TokenKind::Punct(Punct::LParen) => self.ty_paren(),
            TokenKind::Punct(Punct::LBracket) => self.ty_slice_or_array(),
            TokenKind::Keyword(Keyword::Map) => self.ty_map(),
            TokenKind::Keyword(Keyword::Chan) => self.ty_chan(),
            TokenKind::Punct(Punct::Arrow) => self.ty_recv_chan(),
            TokenKind::Keyword(Keyword::Func) => self.ty_func(),
            TokenKind::Keyword(Keyword::Struct) => self.ty_struct(),
            TokenKind::Keyword(Keyword::Interface) => self.ty_interface(),
            _ => Err(self.error_here("type")),
        }
    }

    fn ty_quoted_path(&mut self) -> Result<TypeExpr, ParseError> {
        let t = self.bump();
        let TokenKind::Lit(LitKind::Str(bytes)) = t.kind else {
            return Err(ParseError { message: "expected package path".into(), span: t.span });
        };
        let path = String::from_utf8(bytes)
            .map_err(|_| ParseError { message: "package path is not valid UTF-8".into(), span: t.span })?;
        self.expect(Punct::Dot, "'.'")?;
        self.type_name(Some(PkgRef::Path { path, span: t.span }))
    }

    fn ty_pointer(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        let elem = self.ty()?;
        Ok(TypeExpr { span: start.to(elem.span), kind: TypeKind::Pointer(Box::new(elem)) })
    }

    fn ty_paren(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        let inner = self.ty()?;
        let close = self.expect(Punct::RParen, "')'")?;
        Ok(TypeExpr { span: start.to(close), ..inner })
    }

    fn ty_slice_or_array(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        if self.eat(Punct::RBracket).is_some() {
            let elem = self.ty()?;
            return Ok(TypeExpr { span: start.to(elem.span), kind: TypeKind::Slice(Box::new(elem)) });
        }
        if self.is(Punct::Ellipsis) {
            return Err(ParseError {
                message: format!(
                    "invalid use of [...] array outside a composite literal at column {}",
                    column(self.src, start.start)
                ),
                span: start.to(self.tok().span),
            });
        }
        let len = self.expr()?;
        self.expect(Punct::RBracket, "']'")?;
        let elem = self.ty()?;
        Ok(TypeExpr {
            span: start.to(elem.span),
            kind: TypeKind::Array { len: Some(Box::new(len)), elem: Box::new(elem) },
        })
    }

    fn ty_map(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        self.expect(Punct::LBracket, "'[' after map")?;
        let key = self.ty()?;
        self.expect(Punct::RBracket, "']'")?;
        let value = self.ty()?;
        Ok(TypeExpr { span: start.to(value.span), kind: TypeKind::Map { key: Box::new(key), value: Box::new(value) } })
    }

    fn ty_chan(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        let dir = if self.eat(Punct::Arrow).is_some() { ChanDir::Send } else { ChanDir::Both };
        let elem = self.ty()?;
        Ok(TypeExpr { span: start.to(elem.span), kind: TypeKind::Chan { dir, elem: Box::new(elem) } })
    }

    fn ty_recv_chan(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        if !self.is_kw(Keyword::Chan) {
            return Err(self.error_here("'chan' after '<-' in type"));
        }
        self.bump();
        let elem = self.ty()?;
        Ok(TypeExpr { span: start.to(elem.span), kind: TypeKind::Chan { dir: ChanDir::Recv, elem: Box::new(elem) } })
    }

    fn span_from(&self, start: Span) -> Span {
        start.to(Span::new(self.prev_end(), self.prev_end()))
    }

    fn ty_func(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        let sig = self.signature()?;
        Ok(TypeExpr { span: self.span_from(start), kind: TypeKind::Func(sig) })
    }

    fn ty_struct(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        let fields = self.struct_fields()?;
        Ok(TypeExpr { span: self.span_from(start), kind: TypeKind::Struct(fields) })
    }

    fn ty_interface(&mut self) -> Result<TypeExpr, ParseError> {
        let start = self.bump().span;
        let elems = self.interface_elems()?;
        Ok(TypeExpr { span: self.span_from(start), kind: TypeKind::Interface(elems) })
    }

    /// `T`, `pkg.T`, with optional type arguments `[A, B]`.
    fn type_name(&mut self, path: Option<PkgRef>) -> Result<TypeExpr, ParseError> {
        let first = self.ident("type name")?;
        let mut start = first.span;
        let (pkg, name) = match path {
            Some(p) => {
                if let PkgRef::Path { span, .. } = &p {
                    start = *span;
                }
                (Some(p), first)
            }
            None if self.eat(Punct::Dot).is_some() => {
                let name = self.ident("type name after '.'")?;
                (Some(PkgRef::Name(first)), name)
            }
            None => (None, first),
        };
        let mut args = Vec::new();
        let mut end = name.span;
        if self.is(Punct::LBracket) && self.nth(1).kind != TokenKind::Punct(Punct::RBracket) {
            self.bump();
            loop {
                args.push(self.ty()?);
                if self.eat(Punct::Comma).is_none() || self.is(Punct::RBracket) {
                    break;
                }
            }
            end = self.expect(Punct::RBracket, "']' or ','")?;
        }
        Ok(TypeExpr { kind: TypeKind::Named { pkg, name, args }, span: start.to(end) })
    }

    /// Parameters and results after `func` (or after a method name).
    fn signature(&mut self) -> Result<FuncType, ParseError> {
        let (params, variadic) = self.params(true)?;
        let results = if self.is(Punct::LParen) {
            self.params(false)?.0
        } else if self.can_start_type() {
            vec![Param { name: None, ty: self.ty()? }]
        } else {
            Vec::new()
        };
        Ok(FuncType { params, results, variadic })
    }

    fn can_start_type(&self) -> bool {
        match &self.tok().kind {
            TokenKind::Ident(_) => true,
            TokenKind::Keyword(k) => {
                matches!(k, Keyword::Map | Keyword::Chan | Keyword::Func | Keyword::Struct | Keyword::Interface)
            }
            TokenKind::Punct(p) => matches!(p, Punct::Star | Punct::LBracket | Punct::LParen | Punct::Arrow),
            _ => false,
        }
    }

    /// A parenthesised parameter list. Go's grouping rule: if any entry is
    /// `name Type`, every bare entry is a name sharing the next entry's type.
    fn params(&mut self, allow_variadic: bool) -> Result<(Vec<Param>, bool), ParseError> {
        self.expect(Punct::LParen, "'('")?;
        self.enter()?;
        // (name, type, variadic); bare entries have name None.
        let mut entries: Vec<(Option<Ident>, TypeExpr, bool, Span)> = Vec::new();
        while !self.is(Punct::RParen) {
            let entry = self.param_entry()?;
            entries.push(entry);
            if self.eat(Punct::Comma).is_none() {
                break;
            }
        }
        self.expect(Punct::RParen, "')'")?;
        self.depth -= 1;

        self.group_params(entries, allow_variadic)
    }

    /// One parameter-list entry: `Type`, `...Type`, `name Type` or
    /// `name ...Type`, decided without backtracking (like go/parser's
    /// `parseParamDecl`) so parsing stays linear in the input.
    fn param_entry(&mut self) -> Result<(Option<Ident>, TypeExpr, bool, Span), ParseError> {
        let start = self.tok().span;
        if self.eat(Punct::Ellipsis).is_some() {
            return Ok((None, self.ty()?, true, start));
        }
        if !matches!(self.tok().kind, TokenKind::Ident(_)) {
            return Ok((None, self.ty()?, false, start));
        }
        match self.nth(1).kind {
            TokenKind::Punct(Punct::Dot | Punct::Comma | Punct::RParen) => Ok((None, self.ty()?, false, start)),
            TokenKind::Punct(Punct::LBracket) => {
                let first = self.ident("parameter name")?;
                Ok(match self.array_or_type_args(first)? {
                    NameThen::Named(name, ty) => (Some(name), ty, false, start),
                    NameThen::Type(ty) => (None, ty, false, start),
                })
            }
            _ => {
                let name = self.ident("parameter name")?;
                let dots = self.eat(Punct::Ellipsis).is_some();
                Ok((Some(name), self.ty()?, dots, start))
            }
        }
    }

    /// At `[` after an identifier in a parameter or field list: either the
    /// identifier names something of array/slice type (`a [4]int`,
    /// `a []int`) or it is a generic type (`Pair[int, string]`). After the
    /// brackets, a token that can start a type means the former.
    fn array_or_type_args(&mut self, first: Ident) -> Result<NameThen, ParseError> {
        let open = self.expect(Punct::LBracket, "'['")?;
        if self.eat(Punct::RBracket).is_some() {
            let elem = self.ty()?;
            let ty = TypeExpr { span: open.to(elem.span), kind: TypeKind::Slice(Box::new(elem)) };
            return Ok(NameThen::Named(first, ty));
        }
        let mut args = vec![self.expr()?];
        while self.eat(Punct::Comma).is_some() {
            if self.is(Punct::RBracket) {
                break;
            }
            args.push(self.expr()?);
        }
        let close = self.expect(Punct::RBracket, "']'")?;
        if args.len() == 1 && self.can_start_type() {
            let elem = self.ty()?;
            let len = args.pop().map(Box::new);
            let ty = TypeExpr { span: open.to(elem.span), kind: TypeKind::Array { len, elem: Box::new(elem) } };
            return Ok(NameThen::Named(first, ty));
        }
        let mut types = Vec::with_capacity(args.len());
        for a in &args {
            types.push(a.to_type().ok_or_else(|| ParseError {
                message: format!("expected type argument at column {}, found {a}", column(self.src, a.span().start)),
                span: a.span(),
            })?);
        }
        let span = first.span.to(close);
        Ok(NameThen::Type(TypeExpr { kind: TypeKind::Named { pkg: None, name: first, args: types }, span }))
    }

    /// Applies Go's parameter grouping rule to raw `(name?, type, ...?)`
    /// entries and validates `...` placement.
    #[allow(clippy::type_complexity)]
    fn group_params(
        &self,
        entries: Vec<(Option<Ident>, TypeExpr, bool, Span)>,
        allow_variadic: bool,
    ) -> Result<(Vec<Param>, bool), ParseError> {
        let mut variadic = false;
        let last = entries.len().saturating_sub(1);
        for (i, (_, _, dots, span)) in entries.iter().enumerate() {
            if *dots && (i != last || !allow_variadic) {
                return Err(ParseError {
                    message: format!(
                        "can only use ... with final parameter in list at column {}",
                        column(self.src, span.start)
                    ),
                    span: *span,
                });
            }
            variadic |= *dots;
        }

        let any_named = entries.iter().any(|e| e.0.is_some());
        if !any_named {
            return Ok((entries.into_iter().map(|(_, ty, _, _)| Param { name: None, ty }).collect(), variadic));
        }
        let mut out = Vec::new();
        let mut pending: Vec<Ident> = Vec::new();
        for (name, ty, _, span) in entries {
            match name {
                None => match ty.kind {
                    TypeKind::Named { pkg: None, name, args } if args.is_empty() => pending.push(name),
                    _ => {
                        return Err(ParseError {
                            message: format!("mixed named and unnamed parameters at column {}", column(self.src, span.start)),
                            span,
                        })
                    }
                },
                Some(name) => {
                    for n in pending.drain(..) {
                        out.push(Param { name: Some(n), ty: ty.clone() });
                    }
                    out.push(Param { name: Some(name), ty });
                }
            }
        }
        if let Some(n) = pending.first() {
            return Err(ParseError {
                message: format!("mixed named and unnamed parameters at column {}", column(self.src, n.span.start)),
                span: n.span,
            });
        }
        Ok((out, variadic))
    }

    fn struct_fields(&mut self) -> Result<Vec<Field>, ParseError> {
        self.expect(Punct::LBrace, "'{' after struct")?;
        self.enter()?;
        let mut fields = Vec::new();
        while !self.is(Punct::RBrace) {
            let (names, ty) = self.field_decl()?;
            let tag = match self.tok().kind.clone() {
                TokenKind::Lit(kind @ LitKind::Str(_)) => {
                    let span = self.bump().span;
                    let raw = self.src.get(span.start..span.end).unwrap_or("").to_string();
                    Some(Lit { kind, raw, span })
                }
                _ => None,
            };
            fields.push(Field { names, ty, tag });
            if self.eat(Punct::Semicolon).is_none() {
                break;
            }
        }
        self.expect(Punct::RBrace, "'}' or ';'")?;
        self.depth -= 1;
        Ok(fields)
    }

    /// A struct field declaration without its tag: `a, b T`, `a [4]T`, or
    /// an embedded `T`, `*T`, `pkg.T`, `G[A]`.
    fn field_decl(&mut self) -> Result<(Vec<Ident>, TypeExpr), ParseError> {
        let ends_field = |k: &TokenKind| {
            matches!(k, TokenKind::Punct(Punct::Semicolon | Punct::RBrace) | TokenKind::Lit(LitKind::Str(_)))
        };
        let named = matches!(self.tok().kind, TokenKind::Ident(_))
            && !ends_field(&self.nth(1).kind)
            && !matches!(self.nth(1).kind, TokenKind::Punct(Punct::Dot));
        let ty = if named {
            let first = self.ident("field name")?;
            if self.is(Punct::LBracket) {
                match self.array_or_type_args(first)? {
                    NameThen::Named(name, ty) => return Ok((vec![name], ty)),
                    NameThen::Type(ty) => ty,
                }
            } else {
                let mut names = vec![first];
                while self.eat(Punct::Comma).is_some() {
                    names.push(self.ident("field name")?);
                }
                return Ok((names, self.ty()?));
            }
        } else {
            self.ty()?
        };
        // Embedded field: T, *T, pkg.T, T[A].
        let ok = match &ty.kind {
            TypeKind::Named { .. } => true,
            TypeKind::Pointer(inner) => matches!(inner.kind, TypeKind::Named { .. }),
            _ => false,
        };
        if !ok {
            return Err(ParseError {
                message: format!("invalid embedded field type at column {}", column(self.src, ty.span.start)),
                span: ty.span,
            });
        }
        Ok((Vec::new(), ty))
    }

    fn interface_elems(&mut self) -> Result<Vec<InterfaceElem>, ParseError> {
        self.expect(Punct::LBrace, "'{' after interface")?;
        self.enter()?;
        let mut elems = Vec::new();
        while !self.is(Punct::RBrace) {
            let is_method = matches!(self.tok().kind, TokenKind::Ident(_))
                && self.nth(1).kind == TokenKind::Punct(Punct::LParen);
            if is_method {
                let name = self.ident("method name")?;
                let sig = self.signature()?;
                elems.push(InterfaceElem::Method { name, sig });
            } else {
                elems.push(InterfaceElem::Embedded(self.ty()?));
            }
            if self.eat(Punct::Semicolon).is_none() {
                break;
            }
        }
        self.expect(Punct::RBrace, "'}' or ';'")?;
        self.depth -= 1;
        Ok(elems)
    }
}
