//! Evaluating Go expressions against a stopped program, without running any
//! of its code (running code is what `call` is for).
//!
//! Values are either target values ([`Value`]: a DWARF type and a location)
//! or untyped constants computed in the debugger ([`Const`]), which take a
//! type from their context as in Go (`x + 1`, `s == "go"`).

use std::sync::Arc;

use stillgo_dwarf::types::{Type, TypeId, TypeKind};
use stillgo_runtime::vars::FrameVar;
use stillgo_runtime::{Loc, Reader, RuntimeError, Value};

use crate::ast::{BinaryOp, Expr, LitKind, TypeExpr, UnaryOp};
use crate::parser::{parse_assignment, parse_expr};

#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Parse(String),
    #[error("could not find symbol value for {0}")]
    UnknownName(String),
    #[error("{0}")]
    Type(String),
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    Unsupported(String),
}

type R<T> = Result<T, EvalError>;

/// An untyped constant, or a value the debugger computed (string
/// concatenations, slices of strings).
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Bool(bool),
    Int(i128),
    Float(f64),
    Complex(f64, f64),
    Str(Vec<u8>),
    Nil,
}

/// Result of evaluating an expression.
#[derive(Debug, Clone)]
pub enum Val {
    Const(Const),
    Value(Value),
}

/// What names resolve to: the frame's variables, then package variables.
pub struct Scope<'a> {
    pub reader: &'a Reader<'a>,
    pub vars: &'a [FrameVar],
    /// Package of the frame's function (`main` for `main.f`), to resolve
    /// unqualified package-level names and types.
    pub package: Option<String>,
}

impl<'a> Scope<'a> {
    pub fn new(reader: &'a Reader<'a>, vars: &'a [FrameVar], function: Option<&str>) -> Scope<'a> {
        Scope { reader, vars, package: function.map(package_of) }
    }
}

/// `main` for `main.f`, `github.com/a/b` for `github.com/a/b.(*T).M`.
pub fn package_of(func: &str) -> String {
    let slash = func.rfind('/').map(|i| i + 1).unwrap_or(0);
    match func[slash..].find('.') {
        Some(dot) => func[..slash + dot].to_string(),
        None => func.to_string(),
    }
}

/// Parses and evaluates `src`.
pub fn eval_str(src: &str, scope: &Scope) -> R<Val> {
    let e = parse_expr(src).map_err(|e| EvalError::Parse(e.render(src)))?;
    Ev { s: scope }.eval(&e)
}

/// Whether a condition's result is true; non-bool results are errors.
pub fn truthy(reader: &Reader, v: &Val) -> R<bool> {
    match v {
        Val::Const(Const::Bool(b)) => Ok(*b),
        Val::Value(v) if matches!(reader.underlying(&v.ty)?.kind, TypeKind::Bool) => Ok(reader.as_i128(v)? != 0),
        _ => Err(EvalError::Type("condition is not a boolean expression".into())),
    }
}

/// Evaluates `lhs = rhs` and returns the write to perform: (address, bytes).
pub fn prepare_assignment(src: &str, scope: &Scope) -> R<(u64, Vec<u8>)> {
    let (l, r) = parse_assignment(src).map_err(|e| EvalError::Parse(e.render(src)))?;
    let ev = Ev { s: scope };
    let Val::Value(lv) = ev.eval(&l)? else {
        return Err(EvalError::Type(format!("cannot assign to {l}")));
    };
    let Loc::Memory(addr) = lv.loc else {
        return Err(EvalError::Type(format!("cannot assign to {l}: it is not in memory (a register or optimized away)")));
    };
    let rv = ev.eval(&r)?;
    let bytes = ev.convert_to_bytes(&rv, &lv.ty)?;
    Ok((addr, bytes))
}

/// Formats a result for display.
pub fn format_val(reader: &Reader, v: &Val, limits: &stillgo_runtime::Limits) -> String {
    match v {
        Val::Value(v) => reader.format(v, limits),
        Val::Const(c) => format_const(c),
    }
}

pub fn format_const(c: &Const) -> String {
    match c {
        Const::Bool(b) => b.to_string(),
        Const::Int(i) => i.to_string(),
        Const::Float(f) => stillgo_runtime::format::format_float(*f, 8),
        Const::Complex(r, i) => format!("({} + {}i)", stillgo_runtime::format::format_float(*r, 8), stillgo_runtime::format::format_float(*i, 8)),
        Const::Str(s) => stillgo_runtime::format::quote_go(&String::from_utf8_lossy(s)),
        Const::Nil => "nil".into(),
    }
}

/// Upper bound on a target string read for comparisons and concatenation.
const MAX_STRING_READ: usize = 1 << 20;

struct Ev<'s, 'a> {
    s: &'s Scope<'a>,
}

impl Ev<'_, '_> {
    fn r(&self) -> &Reader<'_> {
        self.s.reader
    }

    fn eval(&self, e: &Expr) -> R<Val> {
        match e {
            Expr::Paren { expr, .. } => self.eval(expr),
            Expr::BasicLit(l) => Ok(Val::Const(match &l.kind {
                LitKind::Int(i) => Const::Int(i128::try_from(*i).map_err(|_| EvalError::Type(format!("constant {} overflows", l.raw)))?),
                LitKind::Float(f) => Const::Float(*f),
                LitKind::Imag(f) => Const::Complex(0.0, *f),
                LitKind::Rune(c) => Const::Int(*c as i128),
                LitKind::Str(s) => Const::Str(s.clone()),
            })),
            Expr::Ident(id) => self.ident(&id.name),
            Expr::Selector { expr, sel, .. } => self.selector(expr, &sel.name),
            Expr::Index { expr, indices, .. } => {
                if indices.len() != 1 {
                    return Err(EvalError::Unsupported(format!("{e}: generic instantiation is not a value")));
                }
                let base = self.eval(expr)?;
                let idx = self.eval(&indices[0])?;
                self.index(base, idx)
            }
            Expr::Slice { expr, low, high, max, .. } => {
                let base = self.eval(expr)?;
                let lo = low.as_ref().map(|x| self.eval(x).and_then(|v| self.to_int(&v))).transpose()?;
                let hi = high.as_ref().map(|x| self.eval(x).and_then(|v| self.to_int(&v))).transpose()?;
                let mx = max.as_ref().map(|x| self.eval(x).and_then(|v| self.to_int(&v))).transpose()?;
                self.slice(base, lo, hi, mx)
            }
            Expr::Unary { op, expr, .. } => self.unary(*op, expr),
            Expr::Binary { op, lhs, rhs, .. } => self.binary(*op, lhs, rhs),
            Expr::Call { func, args, ellipsis, .. } => self.call(e, func, args, *ellipsis),
            Expr::TypeAssert { expr, ty, .. } => {
                let v = self.eval(expr)?;
                let Val::Value(v) = v else { return Err(EvalError::Type(format!("{expr} is not an interface"))) };
                let want = self.resolve_type(ty)?;
                match self.r().interface_value(&v)? {
                    None => Err(EvalError::Type(format!("interface conversion: interface is nil, not {}", want.name))),
                    Some((name, inner)) => {
                        if name != want.name {
                            return Err(EvalError::Type(format!("interface conversion: interface is {name}, not {}", want.name)));
                        }
                        inner.map(Val::Value).ok_or_else(|| EvalError::Type("interface holds a nil value".into()))
                    }
                }
            }
            Expr::Composite { ty, elems, .. } => {
                let ty = ty.as_ref().ok_or_else(|| EvalError::Unsupported("composite literal without a type".into()))?;
                let t = self.resolve_type(ty)?;
                let u = self.r().underlying(&t)?;
                let TypeKind::Struct { fields } = &u.kind else {
                    return Err(EvalError::Unsupported(format!("composite literals of {} need the call command (they must be allocated)", t.name)));
                };
                let mut bytes = vec![0u8; t.size as usize];
                for (i, el) in elems.iter().enumerate() {
                    let f = match &el.key {
                        Some(Expr::Ident(k)) => fields.iter().find(|f| f.name == k.name).ok_or_else(|| EvalError::Type(format!("unknown field {} in {}", k.name, t.name)))?,
                        Some(k) => return Err(EvalError::Type(format!("invalid field name {k}"))),
                        None => fields.get(i).ok_or_else(|| EvalError::Type(format!("too many values in {}", t.name)))?,
                    };
                    let ft = self.r().ty(f.ty)?;
                    let v = self.eval(&el.value)?;
                    let b = self.convert_to_bytes(&v, &ft)?;
                    let off = f.offset as usize;
                    bytes[off..off + b.len()].copy_from_slice(&b);
                }
                Ok(Val::Value(Value::bytes(t, bytes)))
            }
            Expr::TypeExpr(t) => Err(EvalError::Type(format!("{t} is a type, not an expression"))),
        }
    }

    // ---- names -------------------------------------------------------------

    fn ident(&self, name: &str) -> R<Val> {
        // Innermost declaration wins when a name is shadowed: DWARF lists
        // them in declaration order, so search from the end.
        if let Some(v) = self.local(name)? {
            return Ok(Val::Value(v));
        }
        match name {
            "true" => return Ok(Val::Const(Const::Bool(true))),
            "false" => return Ok(Val::Const(Const::Bool(false))),
            "nil" => return Ok(Val::Const(Const::Nil)),
            _ => {}
        }
        if let Some(pkg) = &self.s.package {
            if let Some(v) = self.global(&format!("{pkg}.{name}")) {
                return Ok(Val::Value(v));
            }
            if let Some(c) = self.r().dwarf.constant(&format!("{pkg}.{name}")) {
                return Ok(Val::Const(Const::Int(c as i128)));
            }
        }
        Err(EvalError::UnknownName(name.to_string()))
    }

    /// Whether `name` is a local variable of the frame (see [`Self::local`]).
    fn has_local(&self, name: &str) -> bool {
        self.s.vars.iter().any(|v| v.var.name == name || v.var.name.strip_prefix('&') == Some(name))
    }

    /// A local variable by its Go name. A variable moved to the heap is
    /// described by the compiler as `&name` of type `*T`
    /// (cmd/compile/internal/dwarfgen/dwarf.go, `createDwarfVars` names
    /// heap-allocated variables with a leading `&`), so it is found through
    /// that pointer.
    fn local(&self, name: &str) -> R<Option<Value>> {
        // Innermost declaration wins when a name is shadowed: DWARF lists
        // them in declaration order, so search from the end.
        for v in self.s.vars.iter().rev() {
            if v.var.name == name {
                return Ok(Some(v.value.clone()));
            }
            if v.var.name.strip_prefix('&') == Some(name) {
                return match self.r().deref(&v.value)? {
                    Some(t) => Ok(Some(t)),
                    None => Err(EvalError::Type(format!("{name} is on the heap but its address is nil"))),
                };
            }
        }
        Ok(None)
    }

    fn global(&self, full: &str) -> Option<Value> {
        let d = self.r().dwarf;
        let g = d.global(full).or_else(|| {
            // `pkg.Var` for a package whose import path is longer.
            let suffix = format!("/{full}");
            let mut found = d.globals(None).into_iter().filter(|g| g.name.ends_with(&suffix));
            let first = found.next()?;
            found.next().is_none().then_some(first)
        })?;
        let ty = d.type_(g.ty).ok()?;
        Some(Value::at(ty, g.addr))
    }

    fn selector(&self, base: &Expr, sel: &str) -> R<Val> {
        // `pkg.Name` when `pkg` is not a variable.
        if let Expr::Ident(id) = base {
            if !self.has_local(&id.name) {
                let full = format!("{}.{}", id.name, sel);
                if let Some(v) = self.global(&full) {
                    return Ok(Val::Value(v));
                }
                // Package-level integer constants (the compiler emits them as
                // DW_TAG_constant): `main.Friday`, `time.Second`.
                if let Some(c) = self.r().dwarf.constant(&full) {
                    return Ok(Val::Const(Const::Int(c as i128)));
                }
            }
        }
        if let Expr::BasicLit(l) = base {
            if let LitKind::Str(path) = &l.kind {
                let full = format!("{}.{}", String::from_utf8_lossy(path), sel);
                return self.global(&full).map(Val::Value).ok_or(EvalError::UnknownName(full));
            }
        }
        let v = self.eval(base)?;
        let Val::Value(mut v) = v else { return Err(EvalError::Type(format!("{base} has no field {sel}"))) };
        // Selectors see through interfaces to the dynamic value, as in Delve.
        if matches!(self.r().underlying(&v.ty)?.kind, TypeKind::Interface { .. }) {
            match self.r().interface_value(&v)? {
                Some((_, Some(inner))) => v = inner,
                _ => return Err(EvalError::Type(format!("{base} is a nil interface"))),
            }
        }
        let u = self.r().underlying(&v.ty)?;
        if let TypeKind::Pointer { .. } = u.kind {
            if self.r().read_u64_at(&v, 0)? == 0 {
                return Err(EvalError::Type(format!("nil pointer dereference: {base} is nil")));
            }
        }
        match self.r().field(&v, sel)? {
            Some(f) => Ok(Val::Value(f)),
            None => Err(EvalError::Type(format!("{base} (type {}) has no field or method {sel}", v.ty.name))),
        }
    }

    // ---- indexing -----------------------------------------------------------

    fn index(&self, base: Val, idx: Val) -> R<Val> {
        match base {
            Val::Const(Const::Str(s)) => {
                let i = self.to_int(&idx)?;
                let b = usize::try_from(i).ok().and_then(|i| s.get(i)).ok_or_else(|| EvalError::Type(format!("index {i} out of range [0:{}]", s.len())))?;
                Ok(Val::Const(Const::Int(*b as i128)))
            }
            Val::Const(c) => Err(EvalError::Type(format!("cannot index {}", format_const(&c)))),
            Val::Value(v) => {
                let u = self.r().underlying(&v.ty)?;
                match &u.kind {
                    TypeKind::Map { key, .. } => self.map_index(&v, *key, &idx),
                    TypeKind::String => {
                        let i = self.to_int(&idx)?;
                        let (_, len) = self.r().string(&v, 0)?;
                        if i < 0 || i as u64 >= len {
                            return Err(EvalError::Type(format!("index {i} out of range [0:{len}]")));
                        }
                        let data = self.r().read_u64_at(&v, 0)?;
                        let b = self.r().mem.read_vec(data + i as u64, 1).map_err(RuntimeError::from)?;
                        Ok(Val::Value(Value::bytes(self.basic_type("uint8", TypeKind::Uint, 1), b)))
                    }
                    TypeKind::Pointer { elem } => {
                        // Indexing a pointer to an array indexes the array.
                        let et = self.r().ty(*elem)?;
                        if !matches!(self.r().underlying(&et)?.kind, TypeKind::Array { .. }) {
                            return Err(EvalError::Type(format!("cannot index {}", v.ty.name)));
                        }
                        let target = self.r().deref(&v)?.ok_or_else(|| EvalError::Type("nil pointer dereference".into()))?;
                        self.index(Val::Value(target), idx)
                    }
                    _ => {
                        let i = self.to_int(&idx)?;
                        if i < 0 {
                            return Err(EvalError::Type(format!("invalid index {i} (index must be non-negative)")));
                        }
                        Ok(Val::Value(self.r().index(&v, i as u64)?))
                    }
                }
            }
        }
    }

    fn map_index(&self, m: &Value, key_ty: TypeId, key: &Val) -> R<Val> {
        let kt = self.r().ty(key_ty)?;
        let len = self.r().map_len(m)?.unwrap_or(0);
        let page = self.r().map_entries(m, 0, len)?;
        for (k, v) in page.entries {
            if self.equal(&Val::Value(k), key, &kt)? {
                return Ok(Val::Value(v));
            }
        }
        Err(EvalError::Type(format!("key not found in map: {}", self.show(key))))
    }

    fn show(&self, v: &Val) -> String {
        format_val(self.r(), v, &stillgo_runtime::Limits::default())
    }

    fn slice(&self, base: Val, lo: Option<i128>, hi: Option<i128>, max: Option<i128>) -> R<Val> {
        let check = |lo: i128, hi: i128, cap: i128| -> R<()> {
            if lo < 0 || hi < lo || hi > cap {
                return Err(EvalError::Type(format!("slice bounds out of range [{lo}:{hi}] with capacity {cap}")));
            }
            Ok(())
        };
        match base {
            Val::Const(Const::Str(s)) => {
                let (l, h) = (lo.unwrap_or(0), hi.unwrap_or(s.len() as i128));
                check(l, h, s.len() as i128)?;
                Ok(Val::Const(Const::Str(s[l as usize..h as usize].to_vec())))
            }
            Val::Const(c) => Err(EvalError::Type(format!("cannot slice {}", format_const(&c)))),
            Val::Value(v) => {
                let u = self.r().underlying(&v.ty)?;
                match &u.kind {
                    TypeKind::String => {
                        let (_, len) = self.r().string(&v, 0)?;
                        let (l, h) = (lo.unwrap_or(0), hi.unwrap_or(len as i128));
                        check(l, h, len as i128)?;
                        let data = self.r().read_u64_at(&v, 0)?;
                        let n = ((h - l) as usize).min(MAX_STRING_READ);
                        let b = if n == 0 { Vec::new() } else { self.r().mem.read_vec(data + l as u64, n).map_err(RuntimeError::from)? };
                        Ok(Val::Const(Const::Str(b)))
                    }
                    TypeKind::Slice { elem } => {
                        let (data, len, cap) = self.r().slice_header(&v)?;
                        let (l, h) = (lo.unwrap_or(0), hi.unwrap_or(len as i128));
                        let m = max.unwrap_or(cap as i128);
                        check(l, h, m)?;
                        check(h, m, cap as i128)?;
                        let es = self.r().ty(*elem)?.size;
                        let mut b = Vec::with_capacity(24);
                        b.extend_from_slice(&(data + l as u64 * es).to_le_bytes());
                        b.extend_from_slice(&((h - l) as u64).to_le_bytes());
                        b.extend_from_slice(&((m - l) as u64).to_le_bytes());
                        Ok(Val::Value(Value::bytes(v.ty.clone(), b)))
                    }
                    TypeKind::Array { elem, len } => {
                        let addr = v.addr().ok_or_else(|| EvalError::Type("cannot slice an array that is not in memory".into()))?;
                        let et = self.r().ty(*elem)?;
                        let st = self.slice_type_of(&et)?;
                        let (l, h) = (lo.unwrap_or(0), hi.unwrap_or(*len as i128));
                        let m = max.unwrap_or(*len as i128);
                        check(l, h, m)?;
                        let mut b = Vec::with_capacity(24);
                        b.extend_from_slice(&(addr + l as u64 * et.size).to_le_bytes());
                        b.extend_from_slice(&((h - l) as u64).to_le_bytes());
                        b.extend_from_slice(&((m - l) as u64).to_le_bytes());
                        Ok(Val::Value(Value::bytes(st, b)))
                    }
                    _ => Err(EvalError::Type(format!("cannot slice {}", v.ty.name))),
                }
            }
        }
    }

    // ---- operators ------------------------------------------------------------

    fn unary(&self, op: UnaryOp, e: &Expr) -> R<Val> {
        let v = self.eval(e)?;
        match op {
            UnaryOp::Deref => {
                let Val::Value(v) = v else { return Err(EvalError::Type(format!("cannot dereference {e}"))) };
                match self.r().deref(&v)? {
                    Some(t) => Ok(Val::Value(t)),
                    None => Err(EvalError::Type(format!("nil pointer dereference: {e} is nil"))),
                }
            }
            UnaryOp::AddrOf => {
                let Val::Value(v) = v else { return Err(EvalError::Type(format!("cannot take the address of {e}"))) };
                let addr = v.addr().ok_or_else(|| EvalError::Type(format!("cannot take the address of {e}: it is not in memory")))?;
                let pt = self.pointer_type_to(&v.ty);
                Ok(Val::Value(Value::bytes(pt, addr.to_le_bytes().to_vec())))
            }
            UnaryOp::Plus => self.numeric_unary(v, |x| x, |f| f),
            UnaryOp::Neg => self.numeric_unary(v, |x| x.wrapping_neg(), |f| -f),
            UnaryOp::BitNot => self.numeric_unary(v, |x| !x, |f| f).and_then(|r| match &r {
                Val::Const(Const::Float(_)) => Err(EvalError::Type("operator ^ not defined on floats".into())),
                _ => Ok(r),
            }),
            UnaryOp::Not => match v {
                Val::Const(Const::Bool(b)) => Ok(Val::Const(Const::Bool(!b))),
                Val::Value(ref x) if matches!(self.r().underlying(&x.ty)?.kind, TypeKind::Bool) => {
                    Ok(Val::Const(Const::Bool(self.r().as_i128(x)? == 0)))
                }
                _ => Err(EvalError::Type(format!("operator ! not defined on {e}"))),
            },
            UnaryOp::Recv => Err(EvalError::Unsupported("receiving from a channel would run program code".into())),
        }
    }

    fn numeric_unary(&self, v: Val, fi: impl Fn(i128) -> i128, ff: impl Fn(f64) -> f64) -> R<Val> {
        match v {
            Val::Const(Const::Int(i)) => Ok(Val::Const(Const::Int(fi(i)))),
            Val::Const(Const::Float(f)) => Ok(Val::Const(Const::Float(ff(f)))),
            Val::Value(x) => {
                let u = self.r().underlying(&x.ty)?;
                match u.kind {
                    TypeKind::Int | TypeKind::Uint => {
                        let n = fi(self.r().as_i128(&x)?);
                        Ok(Val::Value(Value::bytes(x.ty.clone(), int_bytes(n, x.ty.size))))
                    }
                    TypeKind::Float => {
                        let f = ff(self.r().as_f64(&x)?);
                        Ok(Val::Value(Value::bytes(x.ty.clone(), float_bytes(f, x.ty.size))))
                    }
                    _ => Err(EvalError::Type(format!("invalid operation on {}", x.ty.name))),
                }
            }
            Val::Const(c) => Err(EvalError::Type(format!("invalid operation on {}", format_const(&c)))),
        }
    }

    fn binary(&self, op: BinaryOp, l: &Expr, r: &Expr) -> R<Val> {
        // Short-circuit logic.
        if matches!(op, BinaryOp::LAnd | BinaryOp::LOr) {
            let lv = truthy(self.r(), &self.eval(l)?).map_err(|_| EvalError::Type(format!("operator {} not defined on {l}", op.as_str())))?;
            if (op == BinaryOp::LAnd && !lv) || (op == BinaryOp::LOr && lv) {
                return Ok(Val::Const(Const::Bool(lv)));
            }
            let rv = truthy(self.r(), &self.eval(r)?).map_err(|_| EvalError::Type(format!("operator {} not defined on {r}", op.as_str())))?;
            return Ok(Val::Const(Const::Bool(rv)));
        }
        let lv = self.eval(l)?;
        let rv = self.eval(r)?;
        let is_cmp = matches!(op, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge);
        // Operand type: the typed side's, or untyped.
        let ty = match (&lv, &rv) {
            (Val::Value(a), Val::Value(b)) => {
                if !is_shift(op) && !self.same_type(&a.ty, &b.ty) {
                    return Err(EvalError::Type(format!("invalid operation: {l} {} {r} (mismatched types {} and {})", op.as_str(), a.ty.name, b.ty.name)));
                }
                Some(a.ty.clone())
            }
            (Val::Value(a), _) => Some(a.ty.clone()),
            (_, Val::Value(b)) if !is_shift(op) => Some(b.ty.clone()),
            _ => None,
        };
        if is_cmp {
            if op == BinaryOp::Eq || op == BinaryOp::Ne {
                let eq = match &ty {
                    Some(t) => {
                        let (a, b) = if matches!(lv, Val::Value(_)) { (&lv, &rv) } else { (&rv, &lv) };
                        self.equal(a, b, t)?
                    }
                    None => const_eq(&self.as_const(&lv)?, &self.as_const(&rv)?)?,
                };
                return Ok(Val::Const(Const::Bool(if op == BinaryOp::Eq { eq } else { !eq })));
            }
            let a = self.as_const_typed(&lv, ty.as_ref())?;
            let b = self.as_const_typed(&rv, ty.as_ref())?;
            let ord = const_cmp(&a, &b).ok_or_else(|| EvalError::Type(format!("operator {} not defined on {l}", op.as_str())))?;
            use std::cmp::Ordering::*;
            let res = match op {
                BinaryOp::Lt => ord == Less,
                BinaryOp::Le => ord != Greater,
                BinaryOp::Gt => ord == Greater,
                _ => ord != Less,
            };
            return Ok(Val::Const(Const::Bool(res)));
        }
        let a = self.as_const_typed(&lv, ty.as_ref())?;
        let b = self.as_const_typed(&rv, if is_shift(op) { None } else { ty.as_ref() })?;
        let c = const_arith(op, &a, &b)?;
        match ty {
            None => Ok(Val::Const(c)),
            Some(t) => {
                let u = self.r().underlying(&t)?;
                if u.kind == TypeKind::String {
                    return Ok(Val::Const(c));
                }
                // Arithmetic on typed values wraps around, as in Go.
                let bytes = self.const_to_bytes_conv(&c, &t)?;
                Ok(Val::Value(Value::bytes(t, bytes)))
            }
        }
    }

    fn same_type(&self, a: &Arc<Type>, b: &Arc<Type>) -> bool {
        a.id == b.id || a.name == b.name
    }

    /// Equality as Go defines it, between a typed value `a` and `b`.
    fn equal(&self, a: &Val, b: &Val, t: &Arc<Type>) -> R<bool> {
        let u = self.r().underlying(t)?;
        match (&u.kind, a, b) {
            (_, Val::Value(x), Val::Const(Const::Nil)) | (_, Val::Const(Const::Nil), Val::Value(x)) => {
                Ok(self.r().read_u64_at(x, 0)? == 0)
            }
            (TypeKind::String, _, _) => Ok(self.string_bytes(a)? == self.string_bytes(b)?),
            (TypeKind::Struct { fields }, Val::Value(x), Val::Value(y)) => {
                for f in fields {
                    let ft = self.r().ty(f.ty)?;
                    let fx = self.r().sub(x, f.offset, ft.clone());
                    let fy = self.r().sub(y, f.offset, ft.clone());
                    if !self.equal(&Val::Value(fx), &Val::Value(fy), &ft)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            (TypeKind::Interface { .. }, Val::Value(x), Val::Value(y)) => {
                let ix = self.r().interface_value(x)?;
                let iy = self.r().interface_value(y)?;
                match (ix, iy) {
                    (None, None) => Ok(true),
                    (Some((nx, Some(vx))), Some((ny, Some(vy)))) if nx == ny => {
                        let t = vx.ty.clone();
                        self.equal(&Val::Value(vx), &Val::Value(vy), &t)
                    }
                    _ => Ok(false),
                }
            }
            (TypeKind::Interface { .. }, Val::Value(x), other) => match self.r().interface_value(x)? {
                Some((_, Some(inner))) => {
                    let t = inner.ty.clone();
                    self.equal(&Val::Value(inner), other, &t)
                }
                _ => Ok(false),
            },
            (TypeKind::Float | TypeKind::Int | TypeKind::Uint | TypeKind::Bool, _, _) => {
                Ok(const_eq(&self.as_const_typed(a, Some(t))?, &self.as_const_typed(b, Some(t))?)?)
            }
            (_, Val::Value(x), Val::Value(y)) => Ok(self.r().read_bytes(x)? == self.r().read_bytes(y)?),
            _ => Err(EvalError::Type(format!("cannot compare {} with {}", self.show(a), self.show(b)))),
        }
    }

    fn string_bytes(&self, v: &Val) -> R<Vec<u8>> {
        match v {
            Val::Const(Const::Str(s)) => Ok(s.clone()),
            Val::Value(x) if self.r().underlying(&x.ty)?.kind == TypeKind::String => {
                let data = self.r().read_u64_at(x, 0)?;
                let len = self.r().read_u64_at(x, 8)?;
                if len as usize > MAX_STRING_READ {
                    return Err(EvalError::Unsupported(format!("string of {len} bytes is too long to compare")));
                }
                Ok(if len == 0 { Vec::new() } else { self.r().mem.read_vec(data, len as usize).map_err(RuntimeError::from)? })
            }
            other => Err(EvalError::Type(format!("{} is not a string", self.show(other)))),
        }
    }

    /// A value as a constant, interpreting target bytes by type.
    fn as_const(&self, v: &Val) -> R<Const> {
        self.as_const_typed(v, None)
    }

    fn as_const_typed(&self, v: &Val, ctx: Option<&Arc<Type>>) -> R<Const> {
        match v {
            Val::Const(c) => {
                // An untyped constant takes the type of the other operand.
                if let (Some(t), Const::Int(i)) = (ctx, c) {
                    if self.r().underlying(t)?.kind == TypeKind::Float {
                        return Ok(Const::Float(*i as f64));
                    }
                }
                Ok(c.clone())
            }
            Val::Value(x) => {
                let u = self.r().underlying(&x.ty)?;
                Ok(match u.kind {
                    TypeKind::Bool => Const::Bool(self.r().as_i128(x)? != 0),
                    TypeKind::Int | TypeKind::Uint => Const::Int(self.r().as_i128(x)?),
                    TypeKind::Float => Const::Float(self.r().as_f64(x)?),
                    TypeKind::String => Const::Str(self.string_bytes(v)?),
                    TypeKind::Pointer { .. } | TypeKind::UnsafePointer => Const::Int(self.r().read_u64_at(x, 0)? as i128),
                    _ => return Err(EvalError::Type(format!("{} values cannot be used in arithmetic", x.ty.name))),
                })
            }
        }
    }

    fn to_int(&self, v: &Val) -> R<i128> {
        match self.as_const(v)? {
            Const::Int(i) => Ok(i),
            Const::Float(f) if f.fract() == 0.0 => Ok(f as i128),
            c => Err(EvalError::Type(format!("{} is not an integer", format_const(&c)))),
        }
    }

    // ---- conversions and builtins -------------------------------------------

    fn call(&self, whole: &Expr, func: &Expr, args: &[Expr], ellipsis: bool) -> R<Val> {
        if let Expr::Ident(id) = func {
            let builtin = match id.name.as_str() {
                "len" | "cap" => Some(id.name.as_str()),
                _ => None,
            };
            if let Some(b) = builtin {
                if !self.has_local(&id.name) {
                    if args.len() != 1 || ellipsis {
                        return Err(EvalError::Type(format!("{b} takes exactly one argument")));
                    }
                    return self.len_cap(b, &args[0]);
                }
            }
        }
        // A conversion T(x) when the callee names a type.
        let type_name = match func {
            Expr::Paren { expr, .. } => expr.to_type().map(|t| t.to_string()),
            Expr::TypeExpr(t) => Some(t.to_string()),
            other => other.to_type().map(|t| t.to_string()),
        };
        if let Some(tn) = type_name {
            if let Ok(t) = self.resolve_type_name(&tn) {
                if args.len() != 1 {
                    return Err(EvalError::Type(format!("conversion to {} takes exactly one argument", t.name)));
                }
                let v = self.eval(&args[0])?;
                return self.convert(v, t);
            }
        }
        Err(EvalError::Unsupported(format!(
            "{whole}: print never runs program code; use `call {whole}` to call a function"
        )))
    }

    fn len_cap(&self, which: &str, e: &Expr) -> R<Val> {
        let v = self.eval(e)?;
        let n: u64 = match &v {
            Val::Const(Const::Str(s)) if which == "len" => s.len() as u64,
            Val::Const(c) => return Err(EvalError::Type(format!("invalid argument {} for {which}", format_const(c)))),
            Val::Value(x) => {
                let mut x = x.clone();
                let mut u = self.r().underlying(&x.ty)?;
                if let TypeKind::Pointer { elem } = u.kind {
                    // len(p) for a pointer to an array.
                    let et = self.r().ty(elem)?;
                    if matches!(self.r().underlying(&et)?.kind, TypeKind::Array { .. }) {
                        x = Value { ty: et.clone(), loc: x.loc.clone() };
                        u = self.r().underlying(&et)?;
                    }
                }
                match (&u.kind, which) {
                    (TypeKind::String, "len") => self.r().read_u64_at(&x, 8)?,
                    (TypeKind::Slice { .. }, "len") => self.r().slice_header(&x)?.1,
                    (TypeKind::Slice { .. }, _) => self.r().slice_header(&x)?.2,
                    (TypeKind::Array { len, .. }, _) => *len,
                    (TypeKind::Map { .. }, "len") => self.r().map_len(&x)?.unwrap_or(0),
                    (TypeKind::Chan { .. }, _) => match self.r().chan_state(&x, 0)? {
                        None => 0,
                        Some(st) => if which == "len" { st.qcount } else { st.dataqsiz },
                    },
                    _ => return Err(EvalError::Type(format!("invalid argument {e} (type {}) for {which}", x.ty.name))),
                }
            }
        };
        Ok(Val::Value(Value::bytes(self.basic_type("int", TypeKind::Int, 8), n.to_le_bytes().to_vec())))
    }

    fn convert(&self, v: Val, t: Arc<Type>) -> R<Val> {
        let u = self.r().underlying(&t)?;
        match &u.kind {
            TypeKind::Int | TypeKind::Uint | TypeKind::Float | TypeKind::Bool | TypeKind::Pointer { .. } | TypeKind::UnsafePointer => {
                let c = self.as_const(&v)?;
                let bytes = self.const_to_bytes_conv(&c, &t)?;
                Ok(Val::Value(Value::bytes(t, bytes)))
            }
            TypeKind::String => match v {
                Val::Const(Const::Int(i)) => {
                    let ch = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
                    Ok(Val::Const(Const::Str(ch.to_string().into_bytes())))
                }
                other => {
                    // string([]byte) reads the bytes; string(s) is s.
                    if let Val::Value(x) = &other {
                        if let TypeKind::Slice { .. } = self.r().underlying(&x.ty)?.kind {
                            let (data, len, _) = self.r().slice_header(x)?;
                            let n = (len as usize).min(MAX_STRING_READ);
                            let b = if n == 0 { Vec::new() } else { self.r().mem.read_vec(data, n).map_err(RuntimeError::from)? };
                            return Ok(Val::Const(Const::Str(b)));
                        }
                    }
                    Ok(Val::Const(Const::Str(self.string_bytes(&other)?)))
                }
            },
            _ => match v {
                Val::Value(x) if x.ty.size == t.size => Ok(Val::Value(Value { ty: t, loc: x.loc })),
                _ => Err(EvalError::Type(format!("cannot convert {} to {}", self.show(&v), t.name))),
            },
        }
    }

    /// Bytes of `v` converted to type `t`, for assignment.
    fn convert_to_bytes(&self, v: &Val, t: &Arc<Type>) -> R<Vec<u8>> {
        let u = self.r().underlying(t)?;
        match v {
            Val::Value(x) => {
                if !self.same_type(&x.ty, t) {
                    // Untyped-like scalars (results of arithmetic) convert when the kinds agree.
                    let xu = self.r().underlying(&x.ty)?;
                    if std::mem::discriminant(&xu.kind) != std::mem::discriminant(&u.kind) {
                        return Err(EvalError::Type(format!("cannot use {} (type {}) as type {}", self.show(v), x.ty.name, t.name)));
                    }
                    if matches!(u.kind, TypeKind::Int | TypeKind::Uint | TypeKind::Float) {
                        return self.const_to_bytes(&self.as_const(v)?, t);
                    }
                }
                Ok(self.r().read_bytes(x)?)
            }
            Val::Const(c) => {
                if let (Const::Str(_), TypeKind::String) = (c, &u.kind) {
                    return Err(EvalError::Unsupported("assigning a new string needs memory in the program: use call to allocate it".into()));
                }
                self.const_to_bytes(c, t)
            }
        }
    }

    fn const_to_bytes(&self, c: &Const, t: &Arc<Type>) -> R<Vec<u8>> {
        let u = self.r().underlying(t)?;
        let size = t.size;
        match (&u.kind, c) {
            (TypeKind::Int, Const::Int(i)) => {
                check_range(*i, size, true, &t.name)?;
                Ok(int_bytes(*i, size))
            }
            (TypeKind::Uint, Const::Int(i)) => {
                check_range(*i, size, false, &t.name)?;
                Ok(int_bytes(*i, size))
            }
            (TypeKind::Int | TypeKind::Uint, Const::Float(f)) if f.fract() == 0.0 => self.const_to_bytes(&Const::Int(*f as i128), t),
            (TypeKind::Float, Const::Float(f)) => Ok(float_bytes(*f, size)),
            (TypeKind::Float, Const::Int(i)) => Ok(float_bytes(*i as f64, size)),
            (TypeKind::Bool, Const::Bool(b)) => Ok(vec![*b as u8]),
            (TypeKind::Pointer { .. } | TypeKind::Map { .. } | TypeKind::Chan { .. } | TypeKind::Func | TypeKind::UnsafePointer, Const::Nil) => Ok(vec![0; size as usize]),
            (TypeKind::Slice { .. } | TypeKind::Interface { .. }, Const::Nil) => Ok(vec![0; size as usize]),
            _ => Err(EvalError::Type(format!("cannot use {} as type {}", format_const(c), t.name))),
        }
    }

    /// Like [`const_to_bytes`] but with Go's conversion semantics
    /// (truncation instead of range errors, int <-> pointer for unsafe use).
    fn const_to_bytes_conv(&self, c: &Const, t: &Arc<Type>) -> R<Vec<u8>> {
        let u = self.r().underlying(t)?;
        match (&u.kind, c) {
            (TypeKind::Int | TypeKind::Uint | TypeKind::Pointer { .. } | TypeKind::UnsafePointer, Const::Int(i)) => Ok(int_bytes(*i, t.size)),
            (TypeKind::Int | TypeKind::Uint, Const::Float(f)) => Ok(int_bytes(f.trunc() as i128, t.size)),
            _ => self.const_to_bytes(c, t),
        }
    }

    // ---- types ----------------------------------------------------------------

    /// Resolves a parsed type: by its source spelling first, then by the
    /// spelling the compiler gives type literals in DWARF.
    fn resolve_type(&self, ty: &TypeExpr) -> R<Arc<Type>> {
        let src = ty.to_string();
        match self.resolve_type_name(&src) {
            Ok(t) => Ok(t),
            Err(e) => {
                let canon = dwarf_type_spelling(ty);
                if canon == src {
                    return Err(e);
                }
                self.resolve_type_name(&canon).map_err(|_| e)
            }
        }
    }

    fn resolve_type_name(&self, name: &str) -> R<Arc<Type>> {
        let d = self.r().dwarf;
        let mut candidates = vec![name.to_string()];
        if let Some(pkg) = &self.s.package {
            // `T` in package main is `main.T`; `*T` is `*main.T`.
            let stars = name.len() - name.trim_start_matches('*').len();
            let base = &name[stars..];
            if !base.contains('.') && !base.starts_with('[') && !base.starts_with("map[") {
                candidates.push(format!("{}{pkg}.{base}", &name[..stars]));
            }
        }
        {
            // `pkg.T` for a package whose import path is longer (`geo.Point`
            // is `values/geo.Point`), and `"path".T`: DWARF names types by
            // import path, and compile units are named by import path too
            // (cmd/link/internal/ld/dwarf.go, one unit per package).
            let stars = name.len() - name.trim_start_matches('*').len();
            let base = &name[stars..];
            let quoted = base.strip_prefix('"').and_then(|b| b.split_once("\"."));
            if let Some((path, rest)) = quoted {
                candidates.push(format!("{}{path}.{rest}", &name[..stars]));
            } else if let Some((pkg, rest)) = base.split_once('.') {
                if !pkg.is_empty() && !pkg.contains(['/', '[', ']', '*', ' ']) {
                    let suffix = format!("/{pkg}");
                    for cu in d.compile_units() {
                        if cu.ends_with(&suffix) {
                            candidates.push(format!("{}{cu}.{rest}", &name[..stars]));
                        }
                    }
                }
            }
        }
        for c in &candidates {
            if let Some(id) = d.type_by_name(c) {
                return Ok(self.r().ty(id)?);
            }
        }
        // Builtin basic types may be absent from DWARF when the program never uses them.
        let basic = match name {
            "int" | "int64" => Some((TypeKind::Int, 8)),
            "int32" | "rune" => Some((TypeKind::Int, 4)),
            "int16" => Some((TypeKind::Int, 2)),
            "int8" => Some((TypeKind::Int, 1)),
            "uint" | "uint64" | "uintptr" => Some((TypeKind::Uint, 8)),
            "uint32" => Some((TypeKind::Uint, 4)),
            "uint16" => Some((TypeKind::Uint, 2)),
            "uint8" | "byte" => Some((TypeKind::Uint, 1)),
            "float64" => Some((TypeKind::Float, 8)),
            "float32" => Some((TypeKind::Float, 4)),
            "bool" => Some((TypeKind::Bool, 1)),
            _ => None,
        };
        if let Some((k, s)) = basic {
            return Ok(self.basic_type(name, k, s));
        }
        // A pointer to a known type.
        if let Some(inner) = name.strip_prefix('*') {
            let it = self.resolve_type_name(inner)?;
            return Ok(self.pointer_type_to(&it));
        }
        Err(EvalError::UnknownName(format!("type {name}")))
    }

    fn basic_type(&self, name: &str, kind: TypeKind, size: u64) -> Arc<Type> {
        if let Some(id) = self.r().dwarf.type_by_name(name) {
            if let Ok(t) = self.r().ty(id) {
                return t;
            }
        }
        Arc::new(Type { id: synthetic_id(name), name: name.to_string(), size, kind, runtime_type: None })
    }

    fn pointer_type_to(&self, t: &Arc<Type>) -> Arc<Type> {
        let name = format!("*{}", t.name);
        if let Some(id) = self.r().dwarf.type_by_name(&name) {
            if let Ok(pt) = self.r().ty(id) {
                return pt;
            }
        }
        Arc::new(Type { id: synthetic_id(&name), name, size: 8, kind: TypeKind::Pointer { elem: t.id }, runtime_type: None })
    }

    fn slice_type_of(&self, elem: &Arc<Type>) -> R<Arc<Type>> {
        let name = format!("[]{}", elem.name);
        match self.r().dwarf.type_by_name(&name) {
            Some(id) => Ok(self.r().ty(id)?),
            None => Ok(Arc::new(Type { id: synthetic_id(&name), name, size: 24, kind: TypeKind::Slice { elem: elem.id }, runtime_type: None })),
        }
    }
}

/// Ids for types the debugger makes up (never DWARF offsets, which are far
/// below this range).
fn synthetic_id(name: &str) -> TypeId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    TypeId(h | (1 << 63))
}

fn is_shift(op: BinaryOp) -> bool {
    matches!(op, BinaryOp::Shl | BinaryOp::Shr)
}

fn int_bytes(i: i128, size: u64) -> Vec<u8> {
    i.to_le_bytes()[..size.min(16) as usize].to_vec()
}

fn float_bytes(f: f64, size: u64) -> Vec<u8> {
    if size == 4 {
        (f as f32).to_le_bytes().to_vec()
    } else {
        f.to_le_bytes().to_vec()
    }
}

fn check_range(i: i128, size: u64, signed: bool, name: &str) -> R<()> {
    let bits = (size * 8) as u32;
    let (lo, hi) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if i < lo || i > hi {
        return Err(EvalError::Type(format!("constant {i} overflows {name}")));
    }
    Ok(())
}

fn const_eq(a: &Const, b: &Const) -> R<bool> {
    Ok(match (a, b) {
        (Const::Int(x), Const::Float(y)) | (Const::Float(y), Const::Int(x)) => (*x as f64) == *y,
        (Const::Complex(a1, b1), Const::Complex(a2, b2)) => a1 == a2 && b1 == b2,
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => x == y,
        _ => return Err(EvalError::Type(format!("mismatched types in comparison: {} and {}", format_const(a), format_const(b)))),
    })
}

fn const_cmp(a: &Const, b: &Const) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Const::Int(x), Const::Int(y)) => Some(x.cmp(y)),
        (Const::Float(x), Const::Float(y)) => x.partial_cmp(y),
        (Const::Int(x), Const::Float(y)) => (*x as f64).partial_cmp(y),
        (Const::Float(x), Const::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Const::Str(x), Const::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn const_arith(op: BinaryOp, a: &Const, b: &Const) -> R<Const> {
    use BinaryOp::*;
    let bad = || EvalError::Type(format!("operator {} not defined on {} and {}", op.as_str(), format_const(a), format_const(b)));
    Ok(match (a, b) {
        (Const::Int(x), Const::Int(y)) => Const::Int(match op {
            Add => x.wrapping_add(*y),
            Sub => x.wrapping_sub(*y),
            Mul => x.wrapping_mul(*y),
            Div | Rem if *y == 0 => return Err(EvalError::Type("integer division by zero".into())),
            Div => x / y,
            Rem => x % y,
            And => x & y,
            Or => x | y,
            Xor => x ^ y,
            AndNot => x & !y,
            Shl => {
                if *y < 0 || *y > 127 {
                    return Err(EvalError::Type(format!("invalid shift count {y}")));
                }
                x.wrapping_shl(*y as u32)
            }
            Shr => {
                if *y < 0 {
                    return Err(EvalError::Type(format!("invalid shift count {y}")));
                }
                x >> (*y).min(127)
            }
            _ => return Err(bad()),
        }),
        (Const::Float(_) | Const::Int(_), Const::Float(_) | Const::Int(_)) => {
            let f = |c: &Const| match c {
                Const::Int(i) => *i as f64,
                Const::Float(f) => *f,
                _ => 0.0,
            };
            let (x, y) = (f(a), f(b));
            Const::Float(match op {
                Add => x + y,
                Sub => x - y,
                Mul => x * y,
                Div => x / y,
                _ => return Err(bad()),
            })
        }
        (Const::Str(x), Const::Str(y)) if op == Add => {
            let mut s = x.clone();
            s.extend_from_slice(y);
            Const::Str(s)
        }
        _ => return Err(bad()),
    })
}

/// A type literal spelled as the compiler names it in DWARF
/// (cmd/compile/internal/types/fmt.go, `tconv`): `struct { X int; Y int }`
/// with every field on its own, `interface {}`, `map[K]V`. Named types keep
/// their source spelling.
fn dwarf_type_spelling(t: &TypeExpr) -> String {
    use crate::ast::TypeKind as K;
    match &t.kind {
        K::Pointer(e) => format!("*{}", dwarf_type_spelling(e)),
        K::Slice(e) => format!("[]{}", dwarf_type_spelling(e)),
        K::Array { len: Some(n), elem } => format!("[{n}]{}", dwarf_type_spelling(elem)),
        K::Map { key, value } => format!("map[{}]{}", dwarf_type_spelling(key), dwarf_type_spelling(value)),
        K::Struct(fields) if fields.is_empty() => "struct {}".to_string(),
        K::Struct(fields) => {
            let mut parts = Vec::new();
            for f in fields {
                let ft = dwarf_type_spelling(&f.ty);
                if f.names.is_empty() {
                    parts.push(ft);
                } else {
                    parts.extend(f.names.iter().map(|n| format!("{} {ft}", n.name)));
                }
            }
            format!("struct {{ {} }}", parts.join("; "))
        }
        K::Interface(elems) if elems.is_empty() => "interface {}".to_string(),
        _ => t.to_string(),
    }
}

/// Evaluates an already parsed expression (for the injected-call code,
/// which evaluates callees and arguments one by one).
pub fn eval_ast(e: &Expr, scope: &Scope) -> R<Val> {
    Ev { s: scope }.eval(e)
}

/// The bytes of `v` as a value of type `t`, with the same checks as an
/// assignment (`cannot use x (type A) as type B`); used to pass arguments
/// to injected calls.
pub fn value_bytes_as(scope: &Scope, v: &Val, t: &Arc<Type>) -> R<Vec<u8>> {
    Ev { s: scope }.convert_to_bytes(v, t)
}

/// Resolves a type written in Go syntax in the scope's package
/// (`Point` -> `main.Point`), for injected calls.
pub fn resolve_type_in(scope: &Scope, name: &str) -> R<Arc<Type>> {
    Ev { s: scope }.resolve_type_name(name)
}
