//! Typed syntax tree for the Go expression subset a debugger evaluates.
//!
//! Every node carries a [`Span`] of byte offsets into the source so the
//! evaluator can point at the offending part of an expression. `Display`
//! prints a node back in Go syntax with normalised spacing; the alternate form
//! (`{:#}`) additionally wraps every unary and binary operation in parentheses,
//! which makes operator grouping visible (used by tests and debug output).
//!
//! Types follow Go's own grammar ambiguity: a named type in expression
//! position (`T`, `pkg.T`, `Pair[int, string]`, `*T`) is parsed as an ordinary
//! expression (identifier, selector, index, dereference) and the evaluator
//! decides; [`Expr::to_type`] converts such an expression into a [`TypeExpr`].
//! Type literals that cannot be expressions (`[]T`, `map[K]V`, `chan T`, ...)
//! appear as [`Expr::TypeExpr`].

use std::fmt::{self, Display, Formatter, Write as _};

/// Half-open byte range `start..end` into the parsed source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// Smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An identifier, including the predeclared `true`, `false`, `nil`, `any`,
/// builtin type and function names: resolution happens in the evaluator.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A literal token: its decoded value plus the original text.
#[derive(Debug, Clone, PartialEq)]
pub struct Lit {
    pub kind: LitKind,
    /// Source text exactly as written (used for display and for untyped
    /// constant handling that needs more than the decoded value).
    pub raw: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LitKind {
    /// Integer literal; values beyond `u128` are rejected by the lexer.
    Int(u128),
    Float(f64),
    /// Imaginary literal `2i`: the value of the imaginary part.
    Imag(f64),
    Rune(char),
    /// Interpreted or raw string. Go strings are byte sequences: `"\xff"` is
    /// not valid UTF-8, so the decoded value is kept as bytes.
    Str(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `+x`
    Plus,
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `^x` (bitwise complement)
    BitNot,
    /// `*x`
    Deref,
    /// `&x`
    AddrOf,
    /// `<-x`
    Recv,
}

impl UnaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Plus => "+",
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
            UnaryOp::BitNot => "^",
            UnaryOp::Deref => "*",
            UnaryOp::AddrOf => "&",
            UnaryOp::Recv => "<-",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Mul,
    Div,
    Rem,
    Shl,
    Shr,
    And,
    AndNot,
    Add,
    Sub,
    Or,
    Xor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LAnd,
    LOr,
}

impl BinaryOp {
    /// Go operator precedence (spec "Operator precedence"): 5 binds tightest.
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Mul | Div | Rem | Shl | Shr | And | AndNot => 5,
            Add | Sub | Or | Xor => 4,
            Eq | Ne | Lt | Le | Gt | Ge => 3,
            LAnd => 2,
            LOr => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Mul => "*",
            Div => "/",
            Rem => "%",
            Shl => "<<",
            Shr => ">>",
            And => "&",
            AndNot => "&^",
            Add => "+",
            Sub => "-",
            Or => "|",
            Xor => "^",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            LAnd => "&&",
            LOr => "||",
        }
    }
}

/// One element of a composite literal: `value` or `key: value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub key: Option<Expr>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Ident(Ident),
    BasicLit(Lit),
    /// `T{...}`; `ty` is `None` for an elided element type inside an outer
    /// literal (`[]Point{{1, 2}}`).
    Composite { ty: Option<Box<TypeExpr>>, elems: Vec<Element>, span: Span },
    /// `x.sel`; also package-qualified names (`pkg.Var`, `"a/b".Var`).
    Selector { expr: Box<Expr>, sel: Ident, span: Span },
    /// `x[i]`, `m[k]`, or a generic instantiation `F[int, string]` (several
    /// indices): the evaluator decides which.
    Index { expr: Box<Expr>, indices: Vec<Expr>, span: Span },
    /// `x[low:high]` or `x[low:high:max]` (`max` set means a 3-index slice).
    Slice {
        expr: Box<Expr>,
        low: Option<Box<Expr>>,
        high: Option<Box<Expr>>,
        max: Option<Box<Expr>>,
        span: Span,
    },
    /// Function call or conversion (`int64(x)`, `[]byte(s)`, `(*T)(p)`).
    Call { func: Box<Expr>, args: Vec<Expr>, ellipsis: bool, span: Span },
    /// `x.(T)`
    TypeAssert { expr: Box<Expr>, ty: Box<TypeExpr>, span: Span },
    Unary { op: UnaryOp, expr: Box<Expr>, span: Span },
    Binary { op: BinaryOp, lhs: Box<Expr>, rhs: Box<Expr>, span: Span },
    Paren { expr: Box<Expr>, span: Span },
    /// A type literal in expression position (`[]byte` in `[]byte(s)`).
    TypeExpr(TypeExpr),
}

/// Package qualifier of a named type.
#[derive(Debug, Clone, PartialEq)]
pub enum PkgRef {
    /// `pkg.T`
    Name(Ident),
    /// `"github.com/x/y".T`: a quoted import path, as Delve accepts.
    Path { path: String, span: Span },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChanDir {
    /// `chan T`
    Both,
    /// `chan<- T`
    Send,
    /// `<-chan T`
    Recv,
}

/// A function parameter or result. Grouped names (`a, b int`) are expanded
/// to one `Param` per name.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Option<Ident>,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FuncType {
    pub params: Vec<Param>,
    pub results: Vec<Param>,
    /// The last parameter was declared `...T` (its `ty` is `T`).
    pub variadic: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Empty for an embedded field.
    pub names: Vec<Ident>,
    pub ty: TypeExpr,
    pub tag: Option<Lit>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InterfaceElem {
    Method { name: Ident, sig: FuncType },
    Embedded(TypeExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// `T`, `pkg.T`, `"path".T`, `Pair[int, string]`.
    Named { pkg: Option<PkgRef>, name: Ident, args: Vec<TypeExpr> },
    Pointer(Box<TypeExpr>),
    Slice(Box<TypeExpr>),
    /// `[N]T`; `len` is `None` for `[...]T` (composite literals only).
    Array { len: Option<Box<Expr>>, elem: Box<TypeExpr> },
    Map { key: Box<TypeExpr>, value: Box<TypeExpr> },
    Chan { dir: ChanDir, elem: Box<TypeExpr> },
    Func(FuncType),
    Struct(Vec<Field>),
    Interface(Vec<InterfaceElem>),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Ident(i) => i.span,
            Expr::BasicLit(l) => l.span,
            Expr::TypeExpr(t) => t.span,
            Expr::Composite { span, .. }
            | Expr::Selector { span, .. }
            | Expr::Index { span, .. }
            | Expr::Slice { span, .. }
            | Expr::Call { span, .. }
            | Expr::TypeAssert { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Paren { span, .. } => *span,
        }
    }

    /// Interprets this expression as a type, if it is syntactically one:
    /// `T`, `pkg.T`, `"path".T`, `G[A, B]`, `*T`, `(T)` and type literals.
    /// Returns `None` otherwise (e.g. for `f()` or `a + b`).
    pub fn to_type(&self) -> Option<TypeExpr> {
        let span = self.span();
        match self {
            Expr::Ident(i) => {
                Some(TypeExpr { kind: TypeKind::Named { pkg: None, name: i.clone(), args: Vec::new() }, span })
            }
            Expr::Selector { expr, sel, .. } => {
                let pkg = match expr.as_ref() {
                    Expr::Ident(p) => PkgRef::Name(p.clone()),
                    Expr::BasicLit(Lit { kind: LitKind::Str(bytes), span, .. }) => {
                        PkgRef::Path { path: String::from_utf8(bytes.clone()).ok()?, span: *span }
                    }
                    _ => return None,
                };
                Some(TypeExpr { kind: TypeKind::Named { pkg: Some(pkg), name: sel.clone(), args: Vec::new() }, span })
            }
            Expr::Index { expr, indices, .. } => {
                let base = expr.to_type()?;
                match base.kind {
                    TypeKind::Named { pkg, name, args } if args.is_empty() => {
                        let args = indices.iter().map(Expr::to_type).collect::<Option<Vec<_>>>()?;
                        Some(TypeExpr { kind: TypeKind::Named { pkg, name, args }, span })
                    }
                    _ => None,
                }
            }
            Expr::Unary { op: UnaryOp::Deref, expr, .. } => {
                Some(TypeExpr { kind: TypeKind::Pointer(Box::new(expr.to_type()?)), span })
            }
            Expr::Paren { expr, .. } => expr.to_type(),
            Expr::TypeExpr(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// True for nodes printed as an operator application; such nodes need
    /// parentheses when used as the operand of a postfix form.
    fn is_operator(&self) -> bool {
        matches!(self, Expr::Unary { .. } | Expr::Binary { .. })
    }
}

/// Writes `e` propagating the alternate flag.
fn put<T: Display>(f: &mut Formatter<'_>, e: &T) -> fmt::Result {
    if f.alternate() {
        write!(f, "{e:#}")
    } else {
        write!(f, "{e}")
    }
}

fn put_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        put(f, item)?;
    }
    Ok(())
}

/// Writes the base of a postfix form, parenthesising operator applications
/// (only needed for trees not produced by the parser, which keeps `Paren`).
fn put_operand(f: &mut Formatter<'_>, e: &Expr) -> fmt::Result {
    let needs_parens = e.is_operator()
        // `func()(x)` would re-parse as a signature with a result list.
        || matches!(e, Expr::TypeExpr(TypeExpr { kind: TypeKind::Func(_), .. }))
        // `<-chan int(x)` means `<-(chan int(x))`.
        || matches!(e, Expr::TypeExpr(TypeExpr { kind: TypeKind::Chan { dir: ChanDir::Recv, .. }, .. }));
    if needs_parens {
        f.write_char('(')?;
        put(f, e)?;
        f.write_char(')')
    } else {
        put(f, e)
    }
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Display for Lit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Display for Element {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(k) = &self.key {
            put(f, k)?;
            f.write_str(": ")?;
        }
        put(f, &self.value)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Ident(i) => put(f, i),
            Expr::BasicLit(l) => put(f, l),
            Expr::Composite { ty, elems, .. } => {
                if let Some(t) = ty {
                    put(f, t.as_ref())?;
                }
                f.write_char('{')?;
                put_list(f, elems)?;
                f.write_char('}')
            }
            Expr::Selector { expr, sel, .. } => {
                put_operand(f, expr)?;
                write!(f, ".{sel}")
            }
            Expr::Index { expr, indices, .. } => {
                put_operand(f, expr)?;
                f.write_char('[')?;
                put_list(f, indices)?;
                f.write_char(']')
            }
            Expr::Slice { expr, low, high, max, .. } => {
                put_operand(f, expr)?;
                f.write_char('[')?;
                if let Some(e) = low {
                    put(f, e.as_ref())?;
                }
                f.write_char(':')?;
                if let Some(e) = high {
                    put(f, e.as_ref())?;
                }
                if let Some(e) = max {
                    f.write_char(':')?;
                    put(f, e.as_ref())?;
                }
                f.write_char(']')
            }
            Expr::Call { func, args, ellipsis, .. } => {
                put_operand(f, func)?;
                f.write_char('(')?;
                put_list(f, args)?;
                if *ellipsis {
                    f.write_str("...")?;
                }
                f.write_char(')')
            }
            Expr::TypeAssert { expr, ty, .. } => {
                put_operand(f, expr)?;
                f.write_str(".(")?;
                put(f, ty.as_ref())?;
                f.write_char(')')
            }
            Expr::Unary { op, expr, .. } => {
                if f.alternate() {
                    f.write_char('(')?;
                }
                f.write_str(op.as_str())?;
                let inner_is_binary = matches!(expr.as_ref(), Expr::Binary { .. });
                if inner_is_binary && !f.alternate() {
                    f.write_char('(')?;
                    put(f, expr.as_ref())?;
                    f.write_char(')')?;
                } else {
                    // Avoid gluing two operators into a different token:
                    // `& &x` is not `&&x`, `& ^x` is not `&^x`, `- -x`, `< -`.
                    if let Expr::Unary { op: inner, .. } = expr.as_ref() {
                        let glue = matches!(
                            (op, inner),
                            (UnaryOp::AddrOf, UnaryOp::AddrOf)
                                | (UnaryOp::AddrOf, UnaryOp::BitNot)
                                | (UnaryOp::Neg, UnaryOp::Neg)
                                | (UnaryOp::Plus, UnaryOp::Plus)
                        );
                        if glue && !f.alternate() {
                            f.write_char(' ')?;
                        }
                    }
                    put(f, expr.as_ref())?;
                }
                if f.alternate() {
                    f.write_char(')')?;
                }
                Ok(())
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                if f.alternate() {
                    f.write_char('(')?;
                    put(f, lhs.as_ref())?;
                    write!(f, " {} ", op.as_str())?;
                    put(f, rhs.as_ref())?;
                    return f.write_char(')');
                }
                let prec = op.precedence();
                let side = |e: &Expr, strict: bool| match e {
                    Expr::Binary { op, .. } => {
                        if strict {
                            op.precedence() <= prec
                        } else {
                            op.precedence() < prec
                        }
                    }
                    _ => false,
                };
                let (lp, rp) = (side(lhs, false), side(rhs, true));
                if lp {
                    write!(f, "({lhs})")?;
                } else {
                    write!(f, "{lhs}")?;
                }
                write!(f, " {} ", op.as_str())?;
                if rp {
                    write!(f, "({rhs})")
                } else {
                    write!(f, "{rhs}")
                }
            }
            // The alternate form already parenthesises operators.
            Expr::Paren { expr, .. } if f.alternate() && expr.is_operator() => put(f, expr.as_ref()),
            Expr::Paren { expr, .. } => {
                f.write_char('(')?;
                put(f, expr.as_ref())?;
                f.write_char(')')
            }
            Expr::TypeExpr(t) => put(f, t),
        }
    }
}

impl Display for PkgRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            PkgRef::Name(i) => write!(f, "{i}"),
            PkgRef::Path { path, .. } => {
                f.write_char('"')?;
                for c in path.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('"')
            }
        }
    }
}

impl Display for Param {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.name {
            write!(f, "{n} ")?;
        }
        put(f, &self.ty)
    }
}

impl FuncType {
    fn fmt_params(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('(')?;
        let last = self.params.len().saturating_sub(1);
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if let Some(n) = &p.name {
                write!(f, "{n} ")?;
            }
            if self.variadic && i == last {
                f.write_str("...")?;
            }
            put(f, &p.ty)?;
        }
        f.write_char(')')
    }

    fn fmt_results(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.results.as_slice() {
            [] => Ok(()),
            [Param { name: None, ty }] => {
                f.write_char(' ')?;
                put(f, ty)
            }
            many => {
                f.write_str(" (")?;
                put_list(f, many)?;
                f.write_char(')')
            }
        }
    }
}

impl Display for FuncType {
    /// Prints the signature without the `func` keyword: `(a int) error`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.fmt_params(f)?;
        self.fmt_results(f)
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.names.is_empty() {
            put_list(f, &self.names)?;
            f.write_char(' ')?;
        }
        put(f, &self.ty)?;
        if let Some(tag) = &self.tag {
            write!(f, " {tag}")?;
        }
        Ok(())
    }
}

impl Display for InterfaceElem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceElem::Method { name, sig } => {
                write!(f, "{name}")?;
                put(f, sig)
            }
            InterfaceElem::Embedded(t) => put(f, t),
        }
    }
}

impl Display for TypeExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TypeKind::Named { pkg, name, args } => {
                if let Some(p) = pkg {
                    write!(f, "{p}.")?;
                }
                write!(f, "{name}")?;
                if !args.is_empty() {
                    f.write_char('[')?;
                    put_list(f, args)?;
                    f.write_char(']')?;
                }
                Ok(())
            }
            TypeKind::Pointer(t) => {
                f.write_char('*')?;
                put(f, t.as_ref())
            }
            TypeKind::Slice(t) => {
                f.write_str("[]")?;
                put(f, t.as_ref())
            }
            TypeKind::Array { len, elem } => {
                f.write_char('[')?;
                match len {
                    Some(n) => put(f, n.as_ref())?,
                    None => f.write_str("...")?,
                }
                f.write_char(']')?;
                put(f, elem.as_ref())
            }
            TypeKind::Map { key, value } => {
                f.write_str("map[")?;
                put(f, key.as_ref())?;
                f.write_char(']')?;
                put(f, value.as_ref())
            }
            TypeKind::Chan { dir, elem } => {
                f.write_str(match dir {
                    ChanDir::Both => "chan ",
                    ChanDir::Send => "chan<- ",
                    ChanDir::Recv => "<-chan ",
                })?;
                // `chan <-chan T` would re-parse as `chan<- (chan T)`.
                let wrap = *dir == ChanDir::Both
                    && matches!(elem.kind, TypeKind::Chan { dir: ChanDir::Recv, .. });
                if wrap {
                    f.write_char('(')?;
                    put(f, elem.as_ref())?;
                    f.write_char(')')
                } else {
                    put(f, elem.as_ref())
                }
            }
            TypeKind::Func(sig) => {
                f.write_str("func")?;
                put(f, sig)
            }
            TypeKind::Struct(fields) => {
                f.write_str("struct{")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    put(f, field)?;
                }
                f.write_char('}')
            }
            TypeKind::Interface(elems) => {
                f.write_str("interface{")?;
                for (i, e) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    put(f, e)?;
                }
                f.write_char('}')
            }
        }
    }
}
