//! Calls of generic functions and methods.
//!
//! The Go compiler stencils generic code by GC shape
//! (cmd/compile/internal/noder/reader.go, unified IR; Go 1.20 and later):
//! `Sum[int]` and `Sum[MyInt]` share the code `main.Sum[go.shape.int]`, which
//! takes a hidden pointer to a read-only dictionary (`main..dict.Sum[int]`,
//! an ELF symbol) describing the type arguments. The dictionary is the first
//! parameter of a generic function, and comes right after the receiver of a
//! method of a generic type (`main.(*Stack[go.shape.int]).Push(s, .dict, x)`,
//! checked against the compiler's output for Go 1.22 to 1.27); DWARF lists it
//! as the formal parameter `.dict` in that position, so the ordinary ABI
//! assignment of the DWARF parameter list is right.
//!
//! Parameters whose type depends on the type parameters have a DWARF type
//! `.paramK`, a typedef of the shape type whose `K` is the index of the
//! dictionary word holding the concrete type's runtime descriptor
//! (cmd/compile/internal/noder/reader.go `varDictIndex`: `DictIndex = 1 +
//! rtypesOffset + i`, written as `.param<DictIndex-1>` by
//! cmd/internal/dwarf/dwarf.go `putparamtypes`). Reading that word gives the
//! concrete parameter and result types (`[]int`, not `[]go.shape.int`).
//!
//! Type arguments come from explicit instantiation (`Sum[int](xs)`), from
//! the receiver's type (`Stack[int]`), or are inferred by matching the
//! shape parameter types against the arguments' types.

use std::sync::Arc;

use stillgo_dwarf::types::{Type, TypeKind};
use stillgo_dwarf::{TypeId, VarKind, Variable};
use stillgo_runtime::Value;

use super::ResolveError;
use crate::ast::Expr;
use crate::eval::{eval_ast, resolve_type_in, Const, Val};

use super::signature::Resolver;

/// DWARF name of the dictionary parameter (cmd/compile typecheck.LocalDictName).
pub const DICT_PARAM: &str = ".dict";
const SHAPE_PREFIX: &str = "go.shape.";
/// Bounds recursion over type structure.
const MAX_DEPTH: u32 = 16;

/// A shape instantiation chosen for a call, with its dictionary.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `main.Sum[go.shape.int]`.
    pub name: String,
    pub pc: u64,
    /// Address of the dictionary (`main..dict.Sum[int]`).
    pub dict: u64,
    /// Formal parameters in ABI order, receiver included for methods,
    /// `.dict` left out; types made concrete where DWARF allows.
    pub params: Vec<Variable>,
    /// Position of the dictionary among the ABI arguments: 0 for
    /// functions, 1 (after the receiver) for methods.
    pub dict_at: usize,
    pub results: Vec<Variable>,
    /// The Go name of the instantiation, for messages (`main.Sum[int]`).
    pub display: String,
}

/// `name` split as `head[args]tail` at its first bracket.
fn split_generic(name: &str) -> Option<(&str, &str, &str)> {
    let open = name.find('[')?;
    let mut depth = 0usize;
    for (i, c) in name[open..].char_indices() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let close = open + i;
                    return Some((&name[..open], &name[open + 1..close], &name[close + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits a type-argument list at its top-level commas.
pub fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// `example.com/p.Name` -> (`example.com/p`, `Name`).
fn split_package(head: &str) -> Option<(&str, &str)> {
    let slash = head.rfind('/').map(|i| i + 1).unwrap_or(0);
    let dot = slash + head[slash..].find('.')?;
    Some((&head[..dot], &head[dot + 1..]))
}

/// Whether the function head `head` (`example.com/p.Sum`) is what the user
/// wrote as `base` (`p.Sum`, `main.Sum`).
fn head_matches(head: &str, base: &str) -> bool {
    head == base || head.strip_suffix(base).is_some_and(|p| p.ends_with('/'))
}

fn runtime_types_base(rs: &Resolver) -> Result<u64, ResolveError> {
    let r = rs.scope.reader;
    let g = r.dwarf.global("runtime.firstmoduledata").ok_or_else(|| ResolveError::BadCall("runtime.firstmoduledata not found".into()))?;
    let md = Value::at(r.ty(g.ty)?, g.addr);
    let types = r.field(&md, "types")?.ok_or_else(|| ResolveError::BadCall("moduledata.types not found".into()))?;
    Ok(r.read_u64_at(&types, 0)?)
}

/// The DWARF type of a runtime type descriptor.
fn type_of_rtype(rs: &Resolver, rtype: u64) -> Result<Option<TypeId>, ResolveError> {
    if rtype == 0 {
        return Ok(None);
    }
    let base = runtime_types_base(rs)?;
    let d = rs.scope.reader.dwarf;
    Ok(rtype.checked_sub(base).and_then(|off| d.type_by_runtime_type(off)).or_else(|| d.type_by_runtime_type(rtype)))
}

/// The type name of a DWARF type, seen through `.paramK` typedefs: the
/// shape type's name (`[]go.shape.int`).
fn shape_name(rs: &Resolver, t: &Arc<Type>) -> Result<String, ResolveError> {
    match &t.kind {
        TypeKind::Typedef { target } if t.name.starts_with(".param") => Ok(rs.scope.reader.ty(*target)?.name.clone()),
        _ => Ok(t.name.clone()),
    }
}

/// How well type `t` fits shape `shape` (`go.shape.int`): 2 for the
/// shape of exactly that type, 1 for a type with the same memory layout
/// and kinds (named types share the shape of their underlying type:
/// `MyInt` runs as `go.shape.int`), 0 for no fit.
fn shape_fit(rs: &Resolver, shape: &str, t: &Arc<Type>) -> Result<u8, ResolveError> {
    let r = rs.scope.reader;
    let Some(s) = shape.strip_prefix(SHAPE_PREFIX) else { return Ok(0) };
    if s == t.name {
        return Ok(2);
    }
    // Every pointer type has the shape *uint8 (cmd/compile typecheck.Shapify).
    if s == "*uint8" && matches!(r.underlying(t)?.kind, TypeKind::Pointer { .. }) {
        return Ok(2);
    }
    let Some(st) = r.dwarf.type_by_name(shape) else { return Ok(0) };
    let st = r.ty(st)?;
    Ok(if same_layout(rs, &st, t, 0)? { 1 } else { 0 })
}

/// Structural equality of two types as the machine code sees them.
fn same_layout(rs: &Resolver, a: &Arc<Type>, b: &Arc<Type>, depth: u32) -> Result<bool, ResolveError> {
    if depth > MAX_DEPTH {
        return Ok(false);
    }
    let r = rs.scope.reader;
    let (ua, ub) = (r.underlying(a)?, r.underlying(b)?);
    if ua.size != ub.size {
        return Ok(false);
    }
    let sub = |x: TypeId, y: TypeId| -> Result<bool, ResolveError> { same_layout(rs, &r.ty(x)?, &r.ty(y)?, depth + 1) };
    Ok(match (&ua.kind, &ub.kind) {
        (TypeKind::Bool, TypeKind::Bool)
        | (TypeKind::Int, TypeKind::Int)
        | (TypeKind::Uint, TypeKind::Uint)
        | (TypeKind::Float, TypeKind::Float)
        | (TypeKind::Complex, TypeKind::Complex)
        | (TypeKind::String, TypeKind::String)
        | (TypeKind::Func, TypeKind::Func) => true,
        (TypeKind::UnsafePointer | TypeKind::Pointer { .. }, TypeKind::UnsafePointer | TypeKind::Pointer { .. }) => true,
        (TypeKind::Interface { empty: x }, TypeKind::Interface { empty: y }) => x == y,
        (TypeKind::Slice { elem: x }, TypeKind::Slice { elem: y }) | (TypeKind::Chan { elem: x, .. }, TypeKind::Chan { elem: y, .. }) => sub(*x, *y)?,
        (TypeKind::Array { elem: x, len: n }, TypeKind::Array { elem: y, len: m }) => n == m && sub(*x, *y)?,
        (TypeKind::Map { key: k1, value: v1, .. }, TypeKind::Map { key: k2, value: v2, .. }) => sub(*k1, *k2)? && sub(*v1, *v2)?,
        (TypeKind::Struct { fields: f1 }, TypeKind::Struct { fields: f2 }) => {
            if f1.len() != f2.len() {
                return Ok(false);
            }
            for (x, y) in f1.iter().zip(f2) {
                if x.offset != y.offset || !sub(x.ty, y.ty)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => false,
    })
}

/// One token of a shape type name: literal text, or a shape that stands
/// for one of the type parameters listed (several when type parameters
/// share a shape).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Hole(Vec<usize>),
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// `[]go.shape.int` with shapes `[go.shape.int]` -> `[]`, hole(0).
fn tokenize(pattern: &str, shapes: &[String]) -> Vec<Tok> {
    let mut order: Vec<usize> = (0..shapes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(shapes[i].len()));
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    'outer: while i < pattern.len() {
        let rest = &pattern[i..];
        let boundary_before = pattern[..i].chars().next_back().is_none_or(|c| !is_name_char(c));
        if boundary_before {
            for &k in &order {
                let s = &shapes[k];
                if rest.starts_with(s.as_str()) && rest[s.len()..].chars().next().is_none_or(|c| !is_name_char(c)) {
                    let cands: Vec<usize> = (0..shapes.len()).filter(|&j| shapes[j] == *s).collect();
                    if !lit.is_empty() {
                        toks.push(Tok::Lit(std::mem::take(&mut lit)));
                    }
                    toks.push(Tok::Hole(cands));
                    i += s.len();
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        i += c.len_utf8();
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Matches `actual` against the tokens, binding type parameters.
fn unify(toks: &[Tok], actual: &str, binds: &mut Vec<Option<String>>) -> bool {
    let Some((first, rest)) = toks.split_first() else { return actual.is_empty() };
    match first {
        Tok::Lit(l) => actual.strip_prefix(l.as_str()).is_some_and(|a| unify(rest, a, binds)),
        Tok::Hole(cands) => {
            for (end, _) in actual.char_indices().skip(1).chain(std::iter::once((actual.len(), ' '))) {
                let cap = &actual[..end];
                if !balanced(cap) {
                    continue;
                }
                for &k in cands {
                    match &binds[k] {
                        Some(b) if b != cap => continue,
                        Some(_) => {
                            if unify(rest, &actual[end..], binds) {
                                return true;
                            }
                        }
                        None => {
                            binds[k] = Some(cap.to_string());
                            if unify(rest, &actual[end..], binds) {
                                return true;
                            }
                            binds[k] = None;
                        }
                    }
                }
            }
            false
        }
    }
}

/// The static type of an argument, for inference: its name, and whether it
/// is an untyped constant (whose default type only binds a type parameter
/// nothing else binds).
fn arg_type(rs: &Resolver, e: &Expr) -> Option<(String, bool)> {
    if let Expr::Composite { ty: Some(t), .. } = e {
        // A type missing from the binary keeps its written name: no
        // instantiation will fit it.
        return Some((super::signature::type_text(rs, t), false));
    }
    match eval_ast(e, rs.scope) {
        Ok(Val::Value(v)) => Some((v.ty.name.clone(), false)),
        Ok(Val::Const(c)) => {
            let n = match c {
                Const::Int(_) => "int",
                Const::Float(_) => "float64",
                Const::Complex(..) => "complex128",
                Const::Str(_) => "string",
                Const::Bool(_) => "bool",
                Const::Nil => return None,
            };
            Some((n.to_string(), true))
        }
        // A function name used as a func value: its signature.
        Err(_) => super::signature::func_type_name(rs, e).map(|n| (n, false)),
    }
}

/// A shape instantiation: its name, entry PC and shape arguments.
type Candidate = (String, u64, Vec<String>);

/// The shape instantiations in the binary whose name `filter` accepts,
/// with their shape list.
fn instantiations(rs: &Resolver, filter: &dyn Fn(&str, &str) -> bool) -> Vec<Candidate> {
    let mut out = Vec::new();
    for f in rs.scope.reader.pcln.funcs() {
        if !f.name.contains(SHAPE_PREFIX) {
            continue;
        }
        let Some((head, args, tail)) = split_generic(&f.name) else { continue };
        if filter(head, tail) {
            out.push((f.name.to_string(), f.entry, split_args(args)));
        }
    }
    out
}

/// The DWARF formal parameters and results of a function.
fn dwarf_signature(rs: &Resolver, name: &str) -> Option<(Vec<Variable>, Vec<Variable>)> {
    let d = rs.scope.reader.dwarf;
    let f = d.function_by_name(name)?;
    let vars = d.variables(f.low_pc, 0);
    let params = vars.iter().filter(|v| v.kind == VarKind::Arg).cloned().collect();
    let results = vars.iter().filter(|v| v.kind == VarKind::ReturnValue).cloned().collect();
    Some((params, results))
}

/// Replaces shape types by the concrete types of this instantiation: from
/// the dictionary word a `.paramK` type names, else by substituting the
/// type arguments for the shapes in the type's name.
fn concretize(rs: &Resolver, dict: u64, shapes: &[String], targs: &[String], vars: &mut [Variable]) -> Result<(), ResolveError> {
    let r = rs.scope.reader;
    for v in vars.iter_mut() {
        if v.name == DICT_PARAM {
            continue;
        }
        let t = r.ty(v.ty)?;
        if let Some(k) = t.name.strip_prefix(".param").and_then(|k| k.parse::<u64>().ok()) {
            if k < 4096 {
                let word = r.mem.read_u64(dict + 8 * k)?;
                if let Some(id) = type_of_rtype(rs, word)? {
                    v.ty = id;
                    continue;
                }
            }
        }
        let is_param = t.name.starts_with(".param");
        let name = shape_name(rs, &t)?;
        if !name.contains(SHAPE_PREFIX) {
            // A `.paramK` typedef of a type without shapes: the type itself.
            if let (true, TypeKind::Typedef { target }) = (is_param, &t.kind) {
                v.ty = *target;
            }
            continue;
        }
        let toks = tokenize(&name, shapes);
        let mut concrete = String::new();
        for tok in toks {
            match tok {
                Tok::Lit(l) => concrete.push_str(&l),
                Tok::Hole(c) => concrete.push_str(c.first().and_then(|&k| targs.get(k)).map(String::as_str).unwrap_or("?")),
            }
        }
        if let Some(id) = r.dwarf.type_by_name(&concrete) {
            v.ty = id;
        } else if let (true, TypeKind::Typedef { target }) = (is_param, &t.kind) {
            // At least the shape type, with the same layout.
            v.ty = *target;
        }
    }
    Ok(())
}

fn instance(rs: &Resolver, name: &str, pc: u64, dict: u64, shapes: &[String], targs: &[String], display: String) -> Result<Option<Instance>, ResolveError> {
    let Some((mut params, mut results)) = dwarf_signature(rs, name) else { return Ok(None) };
    let is_method = split_generic(name).is_some_and(|(_, _, tail)| !tail.is_empty());
    // Optimized builds may leave the dictionary out of DWARF (Go 1.22 does
    // when the code no longer uses it); its ABI position is fixed anyway.
    let dict_at = match params.iter().position(|p| p.name == DICT_PARAM) {
        Some(i) => {
            params.remove(i);
            i
        }
        None => usize::from(is_method),
    };
    concretize(rs, dict, shapes, targs, &mut params)?;
    concretize(rs, dict, shapes, targs, &mut results)?;
    check_frame(rs, name, &params, &results, dict_at)?;
    Ok(Some(Instance { name: name.to_string(), pc, dict, params, dict_at, results, display }))
}

/// Refuses an instantiation whose DWARF parameters do not add up to the
/// argument frame the compiler recorded (`_func.args` in the pclntab):
/// optimized builds may omit unused parameters, and a call laid out from an
/// incomplete list would pass arguments in the wrong registers.
fn check_frame(rs: &Resolver, name: &str, params: &[Variable], results: &[Variable], dict_at: usize) -> Result<(), ResolveError> {
    let r = rs.scope.reader;
    let Some(f) = r.pcln.func_by_name(name) else { return Ok(()) };
    if f.args < 0 {
        return Ok(());
    }
    let uintptr = resolve_type_in(rs.scope, "uintptr")?;
    let mut args: Vec<Arc<Type>> = params.iter().map(|p| r.ty(p.ty)).collect::<Result<_, _>>()?;
    args.insert(dict_at.min(args.len()), uintptr);
    let res: Vec<Arc<Type>> = results.iter().map(|p| r.ty(p.ty)).collect::<Result<_, _>>()?;
    let layout = stillgo_world::layout(r, &args, &res)?;
    if layout.size != f.args as u64 {
        return Err(ResolveError::Abi(format!(
            "the debug information of {name} does not describe all its parameters (argument frame {} bytes, the compiler's is {}; optimized build?)",
            layout.size, f.args
        )));
    }
    Ok(())
}

/// Picks, among instantiations with shape lists, the one fitting the type
/// arguments best.
fn best_fit<'c>(rs: &Resolver, cands: &'c [Candidate], targs: &[Arc<Type>]) -> Result<Option<&'c Candidate>, ResolveError> {
    let mut best: Option<(u32, &Candidate)> = None;
    for c in cands {
        if c.2.len() != targs.len() {
            continue;
        }
        let mut score = 0u32;
        let mut ok = true;
        for (s, t) in c.2.iter().zip(targs) {
            let f = shape_fit(rs, s, t)?;
            if f == 0 {
                ok = false;
                break;
            }
            score += u32::from(f);
        }
        if ok && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    Ok(best.map(|(_, c)| c))
}

fn resolve_targs(rs: &Resolver, names: &[String]) -> Result<Vec<Arc<Type>>, ResolveError> {
    names
        .iter()
        .map(|n| {
            resolve_type_in(rs.scope, &super::signature::any_as_interface(n))
                .map_err(|_| ResolveError::BadCall(format!("unknown type {n} in the type arguments")))
        })
        .collect()
}

fn dict_addr(rs: &Resolver, pkg: &str, base: &str, targs: &[Arc<Type>]) -> Option<(u64, String)> {
    let list: Vec<&str> = targs.iter().map(|t| t.name.as_str()).collect();
    let display = format!("{base}[{}]", list.join(","));
    (rs.symbol)(&format!("{pkg}..dict.{display}")).map(|a| (a, format!("{pkg}.{display}")))
}

fn available(cands: &[Candidate]) -> String {
    let mut names: Vec<&str> = cands.iter().map(|c| c.0.as_str()).collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

/// A generic function called as `base(args)` (`main.Sum`, `p.Map`), or
/// `base[explicit](args)`. None when the binary has no instantiation of
/// that name.
pub fn function(rs: &Resolver, base: &str, explicit: Option<&[Expr]>, args: &[Expr], ellipsis: bool) -> Result<Option<Instance>, ResolveError> {
    let cands = instantiations(rs, &|head, tail| tail.is_empty() && head_matches(head, base));
    let Some(first) = cands.first() else { return Ok(None) };
    let Some((head, _, _)) = split_generic(&first.0) else { return Ok(None) };
    let Some((pkg, fname)) = split_package(head) else { return Ok(None) };
    let (pkg, fname) = (pkg.to_string(), fname.to_string());
    if let Some(ex) = explicit {
        let names: Vec<String> = ex
            .iter()
            .map(|e| e.to_type().map(|t| super::signature::type_text(rs, &t)).ok_or_else(|| ResolveError::BadCall(format!("{e} is not a type"))))
            .collect::<Result<_, _>>()?;
        let targs = resolve_targs(rs, &names)?;
        let Some((dict, display)) = dict_addr(rs, &pkg, &fname, &targs) else {
            let list: Vec<&str> = targs.iter().map(|t| t.name.as_str()).collect();
            return Err(ResolveError::BadCall(format!(
                "{base}[{}] is not in the binary (only instantiations the program uses are compiled; it has {})",
                list.join(","),
                available(&cands)
            )));
        };
        let Some(c) = best_fit(rs, &cands, &targs)? else {
            return Err(ResolveError::BadCall(format!("no code for {display} in the binary (it has {})", available(&cands))));
        };
        let targ_names: Vec<String> = targs.iter().map(|t| t.name.clone()).collect();
        return instance(rs, &c.0, c.1, dict, &c.2, &targ_names, display);
    }
    // Inference: each candidate's shape parameter types against the
    // arguments' types.
    let arg_types: Vec<Option<(String, bool)>> = args.iter().map(|a| arg_type(rs, a)).collect();
    let mut best: Option<(u32, Instance)> = None;
    let mut uninferred = false;
    for (name, pc, shapes) in &cands {
        let Some((params, _)) = dwarf_signature(rs, name) else { continue };
        let r = rs.scope.reader;
        let mut pats = Vec::new();
        for p in params.iter().filter(|p| p.name != DICT_PARAM) {
            pats.push(shape_name(rs, &r.ty(p.ty)?)?);
        }
        let variadic = !ellipsis && super::signature::declared_variadic(rs, name) == Some(true);
        let mut binds: Vec<Option<String>> = vec![None; shapes.len()];
        let pattern_for = |i: usize| -> Option<String> {
            if variadic && i + 1 >= pats.len() {
                pats.last().and_then(|l| l.strip_prefix("[]")).map(str::to_string)
            } else {
                pats.get(i).cloned()
            }
        };
        let mut ok = true;
        // Typed arguments first, then untyped constants for type
        // parameters nothing else binds.
        for untyped_pass in [false, true] {
            for (i, at) in arg_types.iter().enumerate() {
                let Some((tn, untyped)) = at else { continue };
                if *untyped != untyped_pass {
                    continue;
                }
                // Extra arguments are left to the argument count check.
                let Some(pat) = pattern_for(i) else { continue };
                let toks = tokenize(&pat, shapes);
                if *untyped {
                    if let [Tok::Hole(c)] = toks.as_slice() {
                        if c.iter().all(|&k| binds[k].is_none()) {
                            if let Some(&k) = c.first() {
                                binds[k] = Some(tn.clone());
                            }
                        }
                    }
                    continue;
                }
                if !unify(&toks, tn, &mut binds) {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let Some(targ_names) = binds.into_iter().collect::<Option<Vec<String>>>() else {
            uninferred = true;
            continue;
        };
        let Ok(targs) = resolve_targs(rs, &targ_names) else { continue };
        let mut score = 0u32;
        for (s, t) in shapes.iter().zip(&targs) {
            let f = shape_fit(rs, s, t)?;
            if f == 0 {
                score = 0;
                break;
            }
            score += u32::from(f);
        }
        if score == 0 || best.as_ref().is_some_and(|(b, _)| *b >= score) {
            continue;
        }
        let Some((dict, display)) = dict_addr(rs, &pkg, &fname, &targs) else { continue };
        let names: Vec<String> = targs.iter().map(|t| t.name.clone()).collect();
        if let Some(inst) = instance(rs, name, *pc, dict, shapes, &names, display)? {
            best = Some((score, inst));
        }
    }
    match best {
        Some((_, i)) => Ok(Some(i)),
        None if uninferred => Err(ResolveError::BadCall(format!("cannot infer the type arguments of {base}: give them explicitly ({base}[T](...))"))),
        None => Err(ResolveError::BadCall(format!(
            "no instantiation of {base} in the binary fits these arguments (only instantiations the program uses are compiled; it has {})",
            available(&cands)
        ))),
    }
}

/// Method `m` of the generic type named `type_name` (`main.Stack[int]`):
/// the instantiation and whether its receiver is a pointer. None when the
/// type is not generic or the binary has no such method.
pub fn method(rs: &Resolver, type_name: &str, m: &str) -> Result<Option<(Instance, bool)>, ResolveError> {
    let Some((head, args, "")) = split_generic(type_name) else { return Ok(None) };
    let Some((pkg, tbase)) = split_package(head) else { return Ok(None) };
    let value_head = format!("{pkg}.{tbase}");
    let ptr_head = format!("{pkg}.(*{tbase}");
    let value_tail = format!(".{m}");
    let ptr_tail = format!(").{m}");
    let cands = instantiations(rs, &|h, t| (h == value_head && t == value_tail) || (h == ptr_head && t == ptr_tail));
    if cands.is_empty() {
        return Ok(None);
    }
    let names = split_args(args);
    let targs = resolve_targs(rs, &names)?;
    let Some((dict, display)) = dict_addr(rs, pkg, tbase, &targs) else { return Ok(None) };
    let Some(c) = best_fit(rs, &cands, &targs)? else { return Ok(None) };
    let ptr = c.0.starts_with(&ptr_head);
    let targ_names: Vec<String> = targs.iter().map(|t| t.name.clone()).collect();
    Ok(instance(rs, &c.0, c.1, dict, &c.2, &targ_names, format!("{display}.{m}"))?.map(|i| (i, ptr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_names_split() {
        assert_eq!(split_generic("main.Sum[go.shape.int]"), Some(("main.Sum", "go.shape.int", "")));
        assert_eq!(split_generic("main.(*Stack[go.shape.int]).Push"), Some(("main.(*Stack", "go.shape.int", ").Push")));
        assert_eq!(
            split_generic("main.Pick[go.shape.struct { X int; Y int }]"),
            Some(("main.Pick", "go.shape.struct { X int; Y int }", ""))
        );
        assert_eq!(split_generic("main.f"), None);
        assert_eq!(split_generic("main.f[int"), None);
        assert_eq!(split_args("int, map[string]int,func(a, b int) string"), vec!["int", "map[string]int", "func(a, b int) string"]);
        assert_eq!(split_package("example.com/a.b/p.Sum"), Some(("example.com/a.b/p", "Sum")));
        assert!(head_matches("example.com/x/p.Sum", "p.Sum"));
        assert!(!head_matches("example.com/x/xp.Sum", "p.Sum"));
    }

    #[test]
    fn shape_patterns_unify_with_argument_types() {
        let shapes = vec!["go.shape.int".to_string(), "go.shape.string".to_string()];
        let toks = tokenize("func(go.shape.int) go.shape.string", &shapes);
        assert_eq!(toks, vec![Tok::Lit("func(".into()), Tok::Hole(vec![0]), Tok::Lit(") ".into()), Tok::Hole(vec![1])]);
        let mut b = vec![None, None];
        assert!(unify(&toks, "func(int) string", &mut b));
        assert_eq!(b, vec![Some("int".into()), Some("string".into())]);
        // Same shape for both parameters: bound by position.
        let same = vec!["go.shape.int".to_string(), "go.shape.int".to_string()];
        let toks = tokenize("map[go.shape.int]go.shape.int", &same);
        let mut b = vec![None, None];
        assert!(unify(&toks, "map[main.MyInt]int", &mut b));
        assert_eq!(b, vec![Some("main.MyInt".into()), Some("int".into())]);
        // Nested brackets in a type argument.
        let mut b = vec![None];
        let toks = tokenize("[]go.shape.int", &shapes[..1]);
        assert!(unify(&toks, "[]map[string][]int", &mut b));
        assert_eq!(b, vec![Some("map[string][]int".into())]);
        // Conflicting bindings fail; a longer shape name is not a prefix match.
        let mut b = vec![Some("int".into()), None];
        assert!(!unify(&tokenize("go.shape.int", &shapes), "string", &mut b));
        assert_eq!(tokenize("go.shape.int64", &shapes), vec![Tok::Lit("go.shape.int64".into())]);
    }
}
