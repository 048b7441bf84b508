//! Printing values as Go source would write them, in Delve's style:
//! `main.T {A: 1, B: "x"}`, `[]int len: 3, cap: 4, [1,2,3]`,
//! `map[string]int ["a": 1, "b": 2, ]`, `error(*errors.errorString) *{s: "boom"}`.
//!
//! Everything is bounded by [`Limits`]: long strings and big collections are
//! cut (with the full length shown), nesting is cut at a depth, and pointer
//! cycles are detected along the current path.

use std::fmt::Write;

use stillgo_dwarf::types::TypeKind;

use crate::value::{Loc, Reader, Value};
use crate::RuntimeError;

/// How much of a value to load when printing. Mirrors Delve's load config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a string shown (Delve: 64).
    pub max_string_len: usize,
    /// Elements of an array, slice, map or channel buffer shown (Delve: 64).
    pub max_array_values: usize,
    /// Nesting depth of composite values expanded.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_string_len: 64, max_array_values: 64, max_depth: 4 }
    }
}

impl Reader<'_> {
    /// Formats a value with its type for a top-level print.
    pub fn format(&self, v: &Value, limits: &Limits) -> String {
        let mut out = String::new();
        let mut path = Vec::new();
        self.fmt_value(&mut out, v, limits, 0, true, &mut path);
        out
    }

    fn fmt_value(&self, out: &mut String, v: &Value, lim: &Limits, depth: usize, top: bool, path: &mut Vec<u64>) {
        match &v.loc {
            Loc::OptimizedAway => {
                out.push_str("(optimized away)");
                return;
            }
            Loc::Unavailable(r) => {
                let _ = write!(out, "(unreadable: {r})");
                return;
            }
            _ => {}
        }
        if let Err(e) = self.fmt_inner(out, v, lim, depth, top, path) {
            let _ = write!(out, "(unreadable {e})");
        }
    }

    fn fmt_inner(&self, out: &mut String, v: &Value, lim: &Limits, depth: usize, top: bool, path: &mut Vec<u64>) -> Result<(), RuntimeError> {
        let t = self.underlying(&v.ty)?;
        let named = v.ty.name.as_str();
        match &t.kind {
            TypeKind::Bool => {
                out.push_str(if self.as_i128(v)? != 0 { "true" } else { "false" });
            }
            TypeKind::Int | TypeKind::Uint => {
                let n = self.as_i128(v)?;
                if t.kind == TypeKind::Uint && t.size == 8 {
                    let _ = write!(out, "{}", n as u64);
                } else {
                    let _ = write!(out, "{n}");
                }
                // Enum-like named integers show their constant at top level,
                // as Delve does: `Friday (5)`.
                if top && is_named_user_type(named) {
                    if let Some(c) = i64::try_from(n).ok().and_then(|v| self.dwarf.constant_for(named, v)) {
                        let short = c.rsplit('.').next().unwrap_or(&c);
                        let s = std::mem::take(out);
                        let _ = write!(out, "{short} ({s})");
                    }
                }
            }
            TypeKind::Float => {
                let f = self.as_f64(v)?;
                out.push_str(&format_float(f, t.size));
            }
            TypeKind::Complex => {
                let b = self.read_bytes(v)?;
                let (re, im) = if t.size == 8 {
                    (
                        f32::from_le_bytes(b[0..4].try_into().unwrap_or([0; 4])) as f64,
                        f32::from_le_bytes(b[4..8].try_into().unwrap_or([0; 4])) as f64,
                    )
                } else {
                    (
                        f64::from_le_bytes(b[0..8].try_into().unwrap_or([0; 8])),
                        f64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8])),
                    )
                };
                let sign = if im < 0.0 || (im == 0.0 && im.is_sign_negative()) { "-" } else { "+" };
                let _ = write!(out, "({} {} {}i)", format_float(re, t.size / 2), sign, format_float(im.abs(), t.size / 2));
            }
            TypeKind::String => {
                let (s, len) = self.string(v, lim.max_string_len)?;
                out.push_str(&quote_go(&s));
                if len as usize > s.len() {
                    let _ = write!(out, "...+{} more", len as usize - s.len());
                }
            }
            TypeKind::UnsafePointer => {
                let p = self.read_u64_at(v, 0)?;
                let _ = write!(out, "unsafe.Pointer({p:#x})");
            }
            TypeKind::Pointer { .. } => {
                let p = self.read_u64_at(v, 0)?;
                if p == 0 {
                    let _ = write!(out, "{named} nil");
                    return Ok(());
                }
                if path.contains(&p) {
                    let _ = write!(out, "{named}({p:#x}) (cycle)");
                    return Ok(());
                }
                let Some(target) = self.deref(v)? else { return Ok(()) };
                // Like Delve, only pointers to composite values are followed
                // when printing; a pointer to a scalar shows its address.
                let composite = matches!(
                    self.underlying(&target.ty)?.kind,
                    TypeKind::Struct { .. } | TypeKind::Array { .. } | TypeKind::Slice { .. } | TypeKind::Map { .. } | TypeKind::Chan { .. } | TypeKind::Interface { .. }
                );
                if depth >= lim.max_depth || !composite {
                    let _ = write!(out, "({named})({p:#x})");
                    return Ok(());
                }
                out.push('*');
                path.push(p);
                self.fmt_value(out, &target, lim, depth + 1, top, path);
                path.pop();
            }
            TypeKind::Struct { fields } => {
                if top {
                    let _ = write!(out, "{named} ");
                }
                if depth >= lim.max_depth && !fields.is_empty() {
                    out.push_str("{...}");
                    return Ok(());
                }
                out.push('{');
                for (i, f) in self.fields(v)?.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{}: ", f.name);
                    self.fmt_value(out, &f.value, lim, depth + 1, false, path);
                }
                out.push('}');
            }
            TypeKind::Array { len, .. } => {
                if top {
                    let _ = write!(out, "{named} ");
                }
                self.fmt_elems(out, v, *len, lim, depth, path)?;
            }
            TypeKind::Slice { .. } => {
                let (data, len, cap) = self.slice_header(v)?;
                if top {
                    let _ = write!(out, "{named} ");
                }
                if data == 0 && len == 0 {
                    out.push_str("nil");
                    return Ok(());
                }
                let _ = write!(out, "len: {len}, cap: {cap}, ");
                self.fmt_elems(out, v, len, lim, depth, path)?;
            }
            TypeKind::Map { .. } => {
                if top {
                    let _ = write!(out, "{named} ");
                }
                let Some(len) = self.map_len(v)? else {
                    out.push_str("nil");
                    return Ok(());
                };
                if depth >= lim.max_depth && len > 0 {
                    let _ = write!(out, "[...] (len {len})");
                    return Ok(());
                }
                let page = self.map_entries(v, 0, lim.max_array_values as u64)?;
                out.push('[');
                for (k, val) in &page.entries {
                    self.fmt_value(out, k, lim, depth + 1, false, path);
                    out.push_str(": ");
                    self.fmt_value(out, val, lim, depth + 1, false, path);
                    out.push_str(", ");
                }
                if len > page.entries.len() as u64 {
                    let _ = write!(out, "...+{} more", len - page.entries.len() as u64);
                }
                out.push(']');
            }
            TypeKind::Chan { .. } => {
                let Some(st) = self.chan_state(v, lim.max_array_values)? else {
                    let _ = write!(out, "{named} nil");
                    return Ok(());
                };
                let _ = write!(out, "{named} {}/{}", st.qcount, st.dataqsiz);
                if st.closed {
                    out.push_str(" (closed)");
                }
                if !st.elems.is_empty() {
                    out.push_str(" [");
                    for (i, e) in st.elems.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        self.fmt_value(out, e, lim, depth + 1, false, path);
                    }
                    if st.qcount > st.elems.len() as u64 {
                        let _ = write!(out, ",...+{} more", st.qcount - st.elems.len() as u64);
                    }
                    out.push(']');
                }
            }
            TypeKind::Interface { .. } => match self.interface_value(v)? {
                None => {
                    let _ = write!(out, "{named} nil");
                }
                Some((dyn_name, inner)) => {
                    let _ = write!(out, "{named}({dyn_name}) ");
                    match inner {
                        Some(inner) => self.fmt_value(out, &inner, lim, depth + 1, false, path),
                        None => out.push_str("nil"),
                    }
                }
            },
            TypeKind::Func => match self.func_name(v)? {
                None => out.push_str("nil"),
                Some((_, name)) => out.push_str(&name),
            },
            TypeKind::Typedef { .. } | TypeKind::Unknown => {
                let b = self.read_bytes(v)?;
                let _ = write!(out, "{named} {b:02x?}");
            }
        }
        Ok(())
    }

    fn fmt_elems(&self, out: &mut String, v: &Value, len: u64, lim: &Limits, depth: usize, path: &mut Vec<u64>) -> Result<(), RuntimeError> {
        if depth >= lim.max_depth && len > 0 {
            out.push_str("[...]");
            return Ok(());
        }
        out.push('[');
        let shown = len.min(lim.max_array_values as u64);
        for i in 0..shown {
            if i > 0 {
                out.push(',');
            }
            let e = self.index(v, i)?;
            self.fmt_value(out, &e, lim, depth + 1, false, path);
        }
        if len > shown {
            let _ = write!(out, ",...+{} more", len - shown);
        }
        out.push(']');
        Ok(())
    }
}

/// A type name worth showing around a scalar: a named type from user code,
/// not a predeclared one (`int`, `float64`, `uint8`...).
fn is_named_user_type(name: &str) -> bool {
    name.contains('.')
}

/// Formats a float as Go's `%v` does (shortest representation, exponent for
/// very large or small magnitudes).
pub fn format_float(f: f64, size: u64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = if size == 4 { format!("{}", f as f32) } else { format!("{f}") };
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let e = if size == 4 { format!("{:e}", f as f32) } else { format!("{f:e}") };
        // Rust prints 1e21 as "1e21"; Go as "1e+21".
        if let Some((m, exp)) = e.split_once('e') {
            let (sign, digits) = exp.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("+", exp));
            return format!("{m}e{sign}{digits:0>2}");
        }
        return e;
    }
    s
}

/// Quotes a string the way Go's `%q`/strconv.Quote does for printable text.
pub fn quote_go(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{FFFD}' => out.push_str("\\ufffd"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
