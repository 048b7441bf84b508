//! Variables as the editor's variables view shows them: a one-line value,
//! a type, and children expanded on demand (struct fields, elements of
//! arrays and slices and entries of maps in pages, the target of a pointer,
//! the dynamic value of an interface, a channel's state).
//!
//! Everything is read lazily through [`Reader`]; errors reading the target
//! become the displayed value, never a failure of the whole request.

use stillgo_dwarf::types::TypeKind;
use stillgo_runtime::{Limits, Loc, Reader, RuntimeError, Value};

/// How many children a value has and whether the editor should page them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kids {
    None,
    Named(u64),
    Indexed(u64),
}

/// Without paging arguments, at most this many elements are returned: a
/// client that asks for all children of a 10,000,000-element slice gets a
/// bounded answer (VS Code pages anything reported as indexed anyway).
pub const MAX_UNPAGED: u64 = 1000;

/// The value's one-line text, type name and children count.
pub fn describe(r: &Reader, v: &Value, limits: &Limits) -> (String, String, Kids) {
    let text = r.format(v, limits);
    let kids = kids(r, v).unwrap_or(Kids::None);
    (text, v.ty.name.clone(), kids)
}

fn available(v: &Value) -> bool {
    !matches!(v.loc, Loc::OptimizedAway | Loc::Unavailable(_))
}

fn kids(r: &Reader, v: &Value) -> Result<Kids, RuntimeError> {
    if !available(v) {
        return Ok(Kids::None);
    }
    let t = r.underlying(&v.ty)?;
    Ok(match &t.kind {
        TypeKind::Struct { fields } if !fields.is_empty() => Kids::Named(fields.len() as u64),
        TypeKind::Array { len, .. } if *len > 0 => Kids::Indexed(*len),
        TypeKind::Slice { .. } => match r.slice_header(v)?.1 {
            0 => Kids::None,
            n => Kids::Indexed(n),
        },
        TypeKind::Map { .. } => match r.map_len(v)? {
            None | Some(0) => Kids::None,
            Some(n) => Kids::Indexed(n),
        },
        TypeKind::Pointer { .. } => match r.deref(v)? {
            None => Kids::None,
            Some(target) => match &r.underlying(&target.ty)?.kind {
                // A pointer to a struct expands to the struct's fields, as
                // Go's selectors see through the pointer.
                TypeKind::Struct { fields } if !fields.is_empty() => Kids::Named(fields.len() as u64),
                TypeKind::Struct { .. } => Kids::None,
                _ => Kids::Named(1),
            },
        },
        TypeKind::Interface { .. } => match r.interface_value(v)? {
            Some((_, Some(_))) => Kids::Named(1),
            _ => Kids::None,
        },
        TypeKind::Chan { .. } => match r.chan_state(v, 0)? {
            None => Kids::None,
            Some(st) => Kids::Named(3 + st.qcount.min(MAX_UNPAGED)),
        },
        _ => Kids::None,
    })
}

/// One child: a value in the target, or a computed fact (channel state).
pub enum ChildVal {
    Val(Value),
    Text { value: String, ty: String },
}

pub struct Child {
    pub name: String,
    pub value: ChildVal,
    /// A Go expression for it (the editor's `evaluateName`, also the left
    /// side of `setVariable`), when it has one.
    pub path: Option<String>,
}

fn wrap(path: &str) -> String {
    // Parenthesize anything that is not a plain selector chain, so that
    // appending `.f` or `[i]` keeps its meaning (`*p` -> `(*p).f`).
    if path.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '[' || c == ']' || c == '"') {
        path.to_string()
    } else {
        format!("({path})")
    }
}

fn sub_path(path: Option<&str>, suffix: &str) -> Option<String> {
    path.map(|p| format!("{}{suffix}", wrap(p)))
}

/// Children `start .. start+count` of `v` (paging applies to indexed
/// children; named children are always all returned).
pub fn children(
    r: &Reader,
    v: &Value,
    path: Option<&str>,
    start: u64,
    count: Option<u64>,
    limits: &Limits,
) -> Result<Vec<Child>, RuntimeError> {
    let t = r.underlying(&v.ty)?;
    let page = |len: u64| -> (u64, u64) {
        let s = start.min(len);
        let n = count.filter(|c| *c > 0).unwrap_or(MAX_UNPAGED).min(len - s);
        (s, s + n)
    };
    let mut out = Vec::new();
    match &t.kind {
        TypeKind::Struct { .. } => struct_fields(r, v, path, &mut out)?,
        TypeKind::Array { len, .. } => {
            let (a, b) = page(*len);
            for i in a..b {
                out.push(Child { name: format!("[{i}]"), value: ChildVal::Val(r.index(v, i)?), path: sub_path(path, &format!("[{i}]")) });
            }
        }
        TypeKind::Slice { .. } => {
            let (_, len, _) = r.slice_header(v)?;
            let (a, b) = page(len);
            for i in a..b {
                out.push(Child { name: format!("[{i}]"), value: ChildVal::Val(r.index(v, i)?), path: sub_path(path, &format!("[{i}]")) });
            }
        }
        TypeKind::Map { .. } => {
            let len = r.map_len(v)?.unwrap_or(0);
            let (a, b) = page(len);
            let entries = r.map_entries(v, a, b - a)?;
            let key_limits = Limits { max_depth: 1, ..*limits };
            for (k, val) in entries.entries {
                let key = r.format(&k, &key_limits);
                // Only scalar keys print as Go expressions that index the map.
                let scalar = matches!(
                    r.underlying(&k.ty).map(|t| t.kind.clone()),
                    Ok(TypeKind::Int | TypeKind::Uint | TypeKind::String | TypeKind::Bool)
                );
                let p = if scalar { sub_path(path, &format!("[{key}]")) } else { None };
                out.push(Child { name: key, value: ChildVal::Val(val), path: p });
            }
        }
        TypeKind::Pointer { .. } => {
            if let Some(target) = r.deref(v)? {
                if matches!(r.underlying(&target.ty)?.kind, TypeKind::Struct { .. }) {
                    struct_fields(r, &target, path, &mut out)?;
                } else {
                    let p = path.map(|p| format!("*{}", wrap(p)));
                    out.push(Child { name: "*".into(), value: ChildVal::Val(target), path: p });
                }
            }
        }
        TypeKind::Interface { .. } => {
            if let Some((_, Some(dynv))) = r.interface_value(v)? {
                out.push(Child { name: "data".into(), value: ChildVal::Val(dynv), path: None });
            }
        }
        TypeKind::Chan { .. } => {
            if let Some(st) = r.chan_state(v, MAX_UNPAGED as usize)? {
                let text = |name: &str, value: String, ty: &str| Child {
                    name: name.into(),
                    value: ChildVal::Text { value, ty: ty.into() },
                    path: None,
                };
                out.push(text("qcount", st.qcount.to_string(), "uint"));
                out.push(text("dataqsiz", st.dataqsiz.to_string(), "uint"));
                out.push(text("closed", st.closed.to_string(), "bool"));
                for (i, e) in st.elems.into_iter().enumerate() {
                    out.push(Child { name: format!("[{i}]"), value: ChildVal::Val(e), path: None });
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

fn struct_fields(r: &Reader, v: &Value, path: Option<&str>, out: &mut Vec<Child>) -> Result<(), RuntimeError> {
    for f in r.fields(v)? {
        let p = sub_path(path, &format!(".{}", f.name));
        out.push(Child { name: f.name, value: ChildVal::Val(f.value), path: p });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_go_expressions() {
        assert_eq!(sub_path(Some("c.counts"), "[\"fox\"]").as_deref(), Some("c.counts[\"fox\"]"));
        assert_eq!(sub_path(Some("*p"), ".x").as_deref(), Some("(*p).x"));
        assert_eq!(sub_path(None, ".x"), None);
    }
}
