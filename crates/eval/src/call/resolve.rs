//! From `f(args)` in a frame to a ready-to-run [`CallSpec`]: find the
//! callee, its signature (DWARF formal parameters of its subprogram), and
//! the bytes of every argument.

use std::sync::Arc;

use stillgo_dwarf::types::{Type, TypeKind};
use stillgo_dwarf::Variable;
use stillgo_runtime::versions::{INTERFACETYPE_METHODS_LEN_OFFSET, ITAB_FUN_OFFSET};
use stillgo_runtime::{Loc, Value};

use stillgo_world::{layout, Alloc, ArgValue, CallSpec, MapInit, PreparedCall};

use super::signature::{declared_variadic, function, function_name_of, is_local, signature, type_text, Resolver};
use super::ResolveError;
use crate::ast::Expr;
use crate::eval::{eval_ast, resolve_type_in, value_bytes_as, Const, Scope, Val};

/// The runtime type descriptor of a pointer type (`unsafe.Pointer`,
/// `*uint8`): allocating `n` times its size makes an array of `n` pointers
/// the garbage collector scans, to hold the allocations of a call until
/// the call references them.
pub fn pointer_rtype(scope: &Scope) -> Result<u64, ResolveError> {
    let r = scope.reader;
    for name in ["unsafe.Pointer", "*uint8", "*int", "*string"] {
        let Some(id) = r.dwarf.type_by_name(name) else { continue };
        let t = r.ty(id)?;
        if t.runtime_type.is_none() || t.size != 8 {
            continue;
        }
        let rs = Resolver { scope, symbol: &|_| None, stacks: Vec::new() };
        return runtime_type_addr(&rs, &t);
    }
    Err(ResolveError::BadCall("no pointer type with a runtime type descriptor in the binary".into()))
}

/// Largest slice or array literal built for a call (elements, keyed
/// indexes included).
const MAX_LITERAL_LEN: usize = 1 << 20;

/// A call ready to run once its allocations are made.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub call: PreparedCall,
    /// DWARF descriptions of the results (to name temporaries).
    pub result_vars: Vec<Variable>,
}

/// A callee before its arguments are known.
struct Callee {
    name: String,
    pc: u64,
    context: Option<u64>,
    receiver: Option<ArgValue>,
    params: Vec<Variable>,
    results: Vec<Variable>,
    /// The dictionary of a generic instantiation and its position among
    /// the ABI arguments, receiver included (see [`super::generic`]).
    dict: Option<(u64, usize)>,
}

const MAX_PROMOTION_DEPTH: u32 = 8;

/// Resolves `func(args)` (`ellipsis` for `f(xs...)`) in the scope.
pub fn prepare(rs: &Resolver, func: &Expr, args: &[Expr], ellipsis: bool) -> Result<Prepared, ResolveError> {
    let mut callee = callee(rs, func, args, ellipsis)?;
    let r = rs.scope.reader;
    // The dictionary of a generic instantiation is not one of the user's
    // arguments: set it aside and put it back in its ABI position below.
    if let Some(i) = callee.params.iter().position(|p| p.name == super::generic::DICT_PARAM) {
        if callee.dict.is_none() {
            return Err(ResolveError::BadCall(format!("{} is a generic instantiation: call the generic function or method by its own name", callee.name)));
        }
        callee.params.remove(i);
    }
    let mut arg_values = Vec::new();
    let mut allocs = Vec::new();
    if let Some(recv) = &callee.receiver {
        arg_values.push(recv.clone());
    }
    let nparams = callee.params.len();
    let param_types: Vec<Arc<Type>> = callee.params.iter().map(|p| r.ty(p.ty)).collect::<Result<_, _>>()?;
    // Variadic: Go's DWARF does not mark variadic functions; a final slice
    // parameter receiving a different number of arguments, or an argument
    // that is not a slice, is packed into a new slice as Go does.
    // The declaration in the source says for sure when it can be read.
    let last_is_slice = nparams > 0 && matches!(r.underlying(&param_types[nparams - 1])?.kind, TypeKind::Slice { .. });
    let declared = if last_is_slice { declared_variadic(rs, &callee.name) } else { Some(false) };
    let variadic_pack = !ellipsis
        && last_is_slice
        && match declared {
            Some(v) => v,
            None => args.len() != nparams || !arg_is_slice(rs, &args[nparams - 1]),
        };
    if ellipsis && (!last_is_slice || declared == Some(false)) {
        return Err(ResolveError::BadCall(format!("cannot use ... in call to non-variadic {}", callee.name)));
    }
    let fixed = if variadic_pack { nparams - 1 } else { nparams };
    if args.len() < fixed || (!variadic_pack && args.len() > nparams) {
        let want: Vec<String> = param_types.iter().map(|t| t.name.clone()).collect();
        return Err(ResolveError::BadCall(format!(
            "{} arguments in call to {}: have {}, want ({})",
            if args.len() < fixed { "not enough" } else { "too many" },
            callee.name,
            args.len(),
            want.join(", ")
        )));
    }
    for (i, a) in args.iter().take(fixed).enumerate() {
        let idx = arg_values.len();
        let (av, al) = argument(rs, a, &param_types[i], idx, &callee.params[i].name)?;
        arg_values.push(av);
        allocs.extend(al);
    }
    if variadic_pack {
        let st = param_types[nparams - 1].clone();
        let idx = arg_values.len();
        let (av, al) = pack_variadic(rs, &args[fixed..], &st, idx)?;
        arg_values.push(av);
        allocs.extend(al);
    }
    for &stack in &rs.stacks {
        let recv = usize::from(callee.receiver.is_some());
        for (i, a) in arg_values.iter().enumerate() {
            let (what, pname) = if i < recv {
                (receiver_text(func), "the receiver".to_string())
            } else {
                (args.get(i - recv).map(|e| e.to_string()).unwrap_or_else(|| "...".into()), format!("argument {}", callee.params.get(i - recv).map(|p| p.name.as_str()).unwrap_or("...")))
            };
            if let Some(path) = stack_pointer_in(r, &a.ty, &a.bytes, stack, &what, 0)? {
                return Err(ResolveError::Refused(format!(
                    "cannot use {what} as {pname} of {}: {path} points to the goroutine's stack (stack object passed to escaping pointer): the function could keep it after the call, and the stack can move; use `call -unsafe` if it does not",
                    callee.name
                )));
            }
        }
    }
    if let Some((dict, pos)) = callee.dict {
        if pos > arg_values.len() {
            return Err(ResolveError::Abi(format!("{}: dictionary parameter after the last argument", callee.name)));
        }
        let uintptr = resolve_type_in(rs.scope, "uintptr")?;
        arg_values.insert(pos, ArgValue { ty: uintptr, bytes: dict.to_le_bytes().to_vec() });
        for a in allocs.iter_mut().filter(|a: &&mut Alloc| a.arg >= pos) {
            a.arg += 1;
        }
    }
    let arg_types: Vec<Arc<Type>> = arg_values.iter().map(|a| a.ty.clone()).collect();
    let mut results = Vec::new();
    for v in &callee.results {
        results.push((v.name.clone(), r.ty(v.ty)?));
    }
    let result_types: Vec<Arc<Type>> = results.iter().map(|(_, t)| t.clone()).collect();
    let layout = layout(r, &arg_types, &result_types)?;
    let holder_rtype = if allocs.is_empty() { 0 } else { pointer_rtype(rs.scope)? };
    Ok(Prepared {
        call: PreparedCall {
            spec: CallSpec { name: callee.name, pc: callee.pc, context: callee.context, args: arg_values, results },
            layout,
            allocs,
            holder_rtype,
        },
        result_vars: callee.results,
    })
}

fn receiver_text(func: &Expr) -> String {
    match func {
        Expr::Selector { expr, .. } => expr.to_string(),
        other => other.to_string(),
    }
}

/// Whether a value passed to the call holds a pointer into the goroutine's
/// stack (directly, or in a field, element, string, slice, map, channel,
/// func or interface word); returns where. Go's escape analysis keeps
/// non-escaping objects on the stack, and copystack only fixes pointers
/// held in the stack itself (runtime/stack.go adjustpointers): a callee
/// that stores such a pointer in the heap leaves it dangling once the
/// stack moves. Escape information is not in the binary, so every such
/// argument is refused.
fn stack_pointer_in(r: &stillgo_runtime::Reader, t: &Arc<Type>, bytes: &[u8], stack: (u64, u64), path: &str, depth: u32) -> Result<Option<String>, ResolveError> {
    if depth > 16 {
        return Ok(None);
    }
    let u = r.underlying(t)?;
    let word = |o: usize| bytes.get(o..o + 8).map(u64_le);
    let in_stack = |a: Option<u64>| a.is_some_and(|a| a >= stack.0 && a < stack.1);
    Ok(match &u.kind {
        TypeKind::Pointer { .. } | TypeKind::UnsafePointer | TypeKind::Map { .. } | TypeKind::Chan { .. } | TypeKind::Func | TypeKind::String | TypeKind::Slice { .. } => {
            in_stack(word(0)).then(|| path.to_string())
        }
        TypeKind::Interface { .. } => in_stack(word(8)).then(|| path.to_string()),
        TypeKind::Struct { fields } => {
            for f in fields {
                let ft = r.ty(f.ty)?;
                let (o, n) = (f.offset as usize, ft.size as usize);
                if let Some(b) = bytes.get(o..o + n) {
                    if let Some(p) = stack_pointer_in(r, &ft, b, stack, &format!("{path}.{}", f.name), depth + 1)? {
                        return Ok(Some(p));
                    }
                }
            }
            None
        }
        TypeKind::Array { elem, len } => {
            let et = r.ty(*elem)?;
            let n = et.size as usize;
            if n == 0 {
                return Ok(None);
            }
            for i in 0..(*len as usize).min(1024) {
                if let Some(b) = bytes.get(i * n..(i + 1) * n) {
                    if let Some(p) = stack_pointer_in(r, &et, b, stack, &format!("{path}[{i}]"), depth + 1)? {
                        return Ok(Some(p));
                    }
                }
            }
            None
        }
        _ => None,
    })
}

fn const_kind(c: &Const) -> &'static str {
    match c {
        Const::Bool(_) => "bool",
        Const::Int(_) => "int",
        Const::Float(_) => "float",
        Const::Complex(..) => "complex",
        Const::Str(_) => "string",
        Const::Nil => "nil",
    }
}

/// Entry pc of a function named by `e` (`f`, `pkg.F`).
fn func_entry(rs: &Resolver, e: &Expr) -> Option<u64> {
    let name = match e {
        Expr::Ident(id) => format!("{}.{}", rs.scope.package.clone().unwrap_or_else(|| "main".into()), id.name),
        Expr::Selector { expr, sel, .. } => match &**expr {
            Expr::Ident(p) => format!("{}.{}", p.name, sel.name),
            _ => return None,
        },
        _ => return None,
    };
    let (_, pc, ..) = function(rs, &name)?;
    Some(pc)
}

fn arg_is_slice(rs: &Resolver, e: &Expr) -> bool {
    match eval_ast(e, rs.scope) {
        Ok(Val::Value(v)) => rs.scope.reader.underlying(&v.ty).is_ok_and(|u| matches!(u.kind, TypeKind::Slice { .. })),
        Ok(Val::Const(Const::Nil)) => true,
        _ => false,
    }
}

/// Evaluates one argument and converts it to the parameter's type.
fn argument(rs: &Resolver, e: &Expr, pt: &Arc<Type>, idx: usize, pname: &str) -> Result<(ArgValue, Vec<Alloc>), ResolveError> {
    // Composite literals: slices are built in the program's heap, arrays
    // and structs are values (their string fields allocated).
    if let Expr::Composite { .. } = e {
        let (bytes, allocs) = element(rs, e, pt, idx, 0).map_err(|err| match err {
            ResolveError::BadCall(m) => ResolveError::BadCall(format!("argument {pname}: {m}")),
            other => other,
        })?;
        return Ok((ArgValue { ty: pt.clone(), bytes }, allocs));
    }
    let v = match eval_ast(e, rs.scope) {
        Ok(v) => v,
        Err(err) => {
            // A function name passed as a func value. The compiler's static
            // closures (`F·f`) have no ELF symbol of their own, so build
            // one: a func value is a pointer to a word holding the code
            // pointer (runtime/runtime2.go `funcval`), and a top-level
            // function ignores its context register.
            if matches!(rs.scope.reader.underlying(pt)?.kind, TypeKind::Func) {
                if let Some(pc) = func_entry(rs, e) {
                    let alloc = Alloc { arg: idx, offset: 0, data: pc.to_le_bytes().to_vec(), inner: vec![], rtype: 0, parent: None, map: None };
                    return Ok((ArgValue { ty: pt.clone(), bytes: vec![0u8; 8] }, vec![alloc]));
                }
            }
            return Err(err.into());
        }
    };
    let (bytes, allocs) = to_param(rs, &v, pt, idx, 0).map_err(|err| match (err, &v) {
        (ResolveError::Eval(crate::EvalError::Type(_)), Val::Const(c)) => ResolveError::BadCall(format!(
            "cannot use {} (untyped {} constant) as {} value in argument {pname}",
            crate::eval::format_const(c),
            const_kind(c),
            pt.name
        )),
        (ResolveError::Eval(crate::EvalError::Type(m)), _) => ResolveError::BadCall(format!("argument {pname}: {m}")),
        (other, _) => other,
    })?;
    Ok((ArgValue { ty: pt.clone(), bytes }, allocs))
}

/// Bytes of `v` as a `pt`, plus allocations whose addresses go at
/// `offset` + their own offset in argument `idx`.
fn to_param(rs: &Resolver, v: &Val, pt: &Arc<Type>, idx: usize, offset: usize) -> Result<(Vec<u8>, Vec<Alloc>), ResolveError> {
    let r = rs.scope.reader;
    let pu = r.underlying(pt)?;
    match (v, &pu.kind) {
        (Val::Const(Const::Str(s)), TypeKind::String) => {
            let mut b = vec![0u8; 16];
            b[8..].copy_from_slice(&(s.len() as u64).to_le_bytes());
            let allocs = if s.is_empty() { vec![] } else { vec![Alloc { arg: idx, offset, data: s.clone(), inner: vec![], rtype: 0, parent: None, map: None }] };
            Ok((b, allocs))
        }
        (Val::Value(x), TypeKind::Interface { empty }) => {
            let xu = r.underlying(&x.ty)?;
            if let TypeKind::Interface { empty: xe } = xu.kind {
                let b = r.read_bytes(x)?;
                if b.len() != 16 {
                    return Err(ResolveError::Abi(format!("interface value of {} bytes", b.len())));
                }
                if xe == *empty {
                    return Ok((b, vec![]));
                }
                if *empty {
                    // iface -> eface: the itab's type (itab.Type at +8).
                    let tab = u64_le(&b[..8]);
                    let ty = if tab == 0 { 0 } else { r.mem.read_u64(tab + stillgo_runtime::versions::ITAB_TYPE_OFFSET)? };
                    let mut out = ty.to_le_bytes().to_vec();
                    out.extend_from_slice(&b[8..16]);
                    return Ok((out, vec![]));
                }
                return Err(ResolveError::BadCall(format!("cannot use {} as {} without a type assertion", x.ty.name, pt.name)));
            }
            box_value(rs, x, pt, *empty, idx, offset)
        }
        (Val::Const(Const::Nil), TypeKind::Interface { .. }) => Ok((vec![0u8; 16], vec![])),
        (Val::Const(c), TypeKind::Interface { empty: true }) if !matches!(c, Const::Nil) => {
            // An untyped constant takes its default type (int, float64,
            // complex128, string, bool) and is boxed in a heap copy.
            let tn = match c {
                Const::Int(_) => "int",
                Const::Float(_) => "float64",
                Const::Complex(..) => "complex128",
                Const::Str(_) => "string",
                _ => "bool",
            };
            let t = resolve_type_in(rs.scope, tn)?;
            let rt = runtime_type_addr(rs, &t)?;
            let mut out = rt.to_le_bytes().to_vec();
            out.extend_from_slice(&[0u8; 8]);
            let (data, inner) = match c {
                Const::Str(b) => {
                    // String header followed by its bytes, in one object.
                    let mut d = vec![0u8; 16];
                    d[8..].copy_from_slice(&(b.len() as u64).to_le_bytes());
                    d.extend_from_slice(b);
                    (d, if b.is_empty() { vec![] } else { vec![(0, 16)] })
                }
                _ => (value_bytes_as(rs.scope, v, &t)?, vec![]),
            };
            Ok((out, vec![Alloc { arg: idx, offset: offset + 8, data, inner, rtype: 0, parent: None, map: None }]))
        }
        (Val::Const(c), TypeKind::Interface { .. }) => Err(ResolveError::BadCall(format!(
            "cannot pass the constant {} as {}: give it a type with a variable",
            crate::eval::format_const(c),
            pt.name
        ))),
        _ => Ok((value_bytes_as(rs.scope, v, pt)?, vec![])),
    }
}

/// A concrete value passed as an interface: `{type or itab, data}`, the
/// data word pointing to a heap copy unless the type is pointer-shaped
/// (runtime/iface.go, convT*: pointer-shaped values are stored directly).
fn box_value(rs: &Resolver, x: &Value, it: &Arc<Type>, empty: bool, idx: usize, offset: usize) -> Result<(Vec<u8>, Vec<Alloc>), ResolveError> {
    let r = rs.scope.reader;
    let rt = runtime_type_addr(rs, &x.ty)?;
    let w0 = if empty {
        rt
    } else {
        // The itab the compiler made for this conversion, if the program
        // makes it anywhere (cmd/compile names them go:itab.T,I).
        let name = format!("go:itab.{},{}", x.ty.name, it.name);
        match (rs.symbol)(&name) {
            Some(a) => a,
            None => find_itab(rs, rt, it)?.ok_or_else(|| {
                ResolveError::BadCall(format!("cannot pass {} as {}: the program never converts one to the other, so there is no itab", x.ty.name, it.name))
            })?,
        }
    };
    let xu = r.underlying(&x.ty)?;
    let direct = xu.size == 8
        && matches!(xu.kind, TypeKind::Pointer { .. } | TypeKind::Map { .. } | TypeKind::Chan { .. } | TypeKind::Func | TypeKind::UnsafePointer);
    let bytes = r.read_bytes(x)?;
    let mut out = w0.to_le_bytes().to_vec();
    if direct {
        out.extend_from_slice(&bytes);
        return Ok((out, vec![]));
    }
    out.extend_from_slice(&[0u8; 8]);
    Ok((out, vec![Alloc { arg: idx, offset: offset + 8, data: bytes, inner: vec![], rtype: rt, parent: None, map: None }]))
}

/// The itab for (concrete type descriptor `rt`, interface `it`) in the
/// runtime's itab table (see versions::ITAB_TABLE).
fn find_itab(rs: &Resolver, rt: u64, it: &Arc<Type>) -> Result<Option<u64>, ResolveError> {
    use stillgo_runtime::versions::{ITAB_TABLE, ITAB_TABLE_ENTRIES_OFFSET, ITAB_TABLE_MAX_SIZE, ITAB_TABLE_SIZE_OFFSET, ITAB_TYPE_OFFSET};
    let r = rs.scope.reader;
    let inter = runtime_type_addr(rs, it)?;
    let Some(g) = r.dwarf.global(ITAB_TABLE) else { return Ok(None) };
    let table = r.mem.read_u64(g.addr)?;
    if table == 0 {
        return Ok(None);
    }
    let size = r.mem.read_u64(table + ITAB_TABLE_SIZE_OFFSET)?;
    if size > ITAB_TABLE_MAX_SIZE {
        return Ok(None);
    }
    let entries = r.mem.read_vec(table + ITAB_TABLE_ENTRIES_OFFSET, (size * 8) as usize)?;
    for w in entries.chunks_exact(8) {
        let tab = u64_le(w);
        if tab == 0 {
            continue;
        }
        if r.mem.read_u64(tab)? == inter && r.mem.read_u64(tab + ITAB_TYPE_OFFSET)? == rt {
            return Ok(Some(tab));
        }
    }
    Ok(None)
}

/// Address of a type's runtime descriptor: DWARF's `DW_AT_go_runtime_type`
/// is an offset from `runtime.firstmoduledata.types`
/// (cmd/link/internal/ld/dwarf.go).
fn runtime_type_addr(rs: &Resolver, t: &Arc<Type>) -> Result<u64, ResolveError> {
    let r = rs.scope.reader;
    let off = t.runtime_type.ok_or_else(|| ResolveError::BadCall(format!("type {} has no runtime type descriptor", t.name)))?;
    let g = r.dwarf.global("runtime.firstmoduledata").ok_or_else(|| ResolveError::BadCall("runtime.firstmoduledata not found".into()))?;
    let md = Value::at(r.ty(g.ty)?, g.addr);
    let types = r.field(&md, "types")?.ok_or_else(|| ResolveError::BadCall("moduledata.types not found".into()))?;
    let base = r.read_u64_at(&types, 0)?;
    Ok(if off >= base { off } else { base + off })
}

/// `f(a, b, c)` for `func f(xs ...T)`: a new `[]T` holding the arguments.
/// The bytes of `e` as a value of type `t` placed at `offset` of argument
/// `idx` (allocations it needs are patched there): composite literals
/// (`T{...}`, and elided `{...}` inside them) are built here, anything else
/// is evaluated.
fn element(rs: &Resolver, e: &Expr, t: &Arc<Type>, idx: usize, offset: usize) -> Result<(Vec<u8>, Vec<Alloc>), ResolveError> {
    let r = rs.scope.reader;
    let Expr::Composite { ty, elems, .. } = e else {
        let v = eval_ast(e, rs.scope)?;
        return to_param(rs, &v, t, idx, offset);
    };
    let u = r.underlying(t)?;
    if let Some(ty) = ty {
        let lt = resolve_type_in(rs.scope, &type_text(rs, ty))?;
        if let TypeKind::Interface { empty } = u.kind {
            return composite_in_interface(rs, e, &lt, t, empty, idx, offset);
        }
        if lt.name != t.name {
            return Err(ResolveError::BadCall(format!("cannot use {e} (type {}) as type {}", lt.name, t.name)));
        }
    }
    match &u.kind {
        TypeKind::Slice { .. } => {
            let items = keyed_items(rs, elems, None)?;
            let (av, mut allocs) = pack_slice(rs, &items, t, idx)?;
            for a in allocs.iter_mut().filter(|a| a.parent.is_none()) {
                a.offset += offset;
            }
            Ok((av.bytes, allocs))
        }
        TypeKind::Array { elem, len } => {
            let et = r.ty(*elem)?;
            let n = et.size as usize;
            let items = keyed_items(rs, elems, Some(*len))?;
            let mut bytes = vec![0u8; t.size as usize];
            let mut allocs = Vec::new();
            for (i, el) in items.iter().enumerate() {
                let Some(el) = el else { continue };
                let (b, a) = element(rs, el, &et, idx, offset + i * n)?;
                put(&mut bytes, i * n, &b)?;
                allocs.extend(a);
            }
            Ok((bytes, allocs))
        }
        TypeKind::Struct { fields } => {
            let mut bytes = vec![0u8; t.size as usize];
            let mut allocs = Vec::new();
            for (i, el) in elems.iter().enumerate() {
                let f = match &el.key {
                    Some(Expr::Ident(k)) => fields.iter().find(|f| f.name == k.name).ok_or_else(|| ResolveError::BadCall(format!("unknown field {} in {}", k.name, t.name)))?,
                    Some(k) => return Err(ResolveError::BadCall(format!("invalid field name {k} in {}", t.name))),
                    None => fields.get(i).ok_or_else(|| ResolveError::BadCall(format!("too many values in {}", t.name)))?,
                };
                let ft = r.ty(f.ty)?;
                let o = f.offset as usize;
                let (b, a) = element(rs, &el.value, &ft, idx, offset + o)?;
                bytes
                    .get_mut(o..o + b.len())
                    .ok_or_else(|| ResolveError::Abi(format!("field {} outside {}", f.name, t.name)))?
                    .copy_from_slice(&b);
                allocs.extend(a);
            }
            Ok((bytes, allocs))
        }
        TypeKind::Map { key, value, .. } => {
            let (kt, vt) = (r.ty(*key)?, r.ty(*value)?);
            map_literal(rs, elems, t, &kt, &vt, idx, offset)
        }
        _ => Err(ResolveError::BadCall(format!("invalid composite literal type {}", t.name))),
    }
}

/// The elements of a slice or array literal by index (`[]int{2: 5, 7}` is
/// `[0, 0, 5, 7]`): keys are constant indexes, unkeyed elements follow the
/// previous one (the Go spec, "Composite literals"). `len` bounds arrays.
fn keyed_items<'e>(rs: &Resolver, elems: &'e [crate::ast::Element], len: Option<u64>) -> Result<Vec<Option<&'e Expr>>, ResolveError> {
    let mut items: Vec<Option<&Expr>> = Vec::new();
    let mut next = 0usize;
    for el in elems {
        let i = match &el.key {
            None => next,
            Some(k) => match eval_ast(k, rs.scope)? {
                Val::Const(Const::Int(v)) => usize::try_from(v).map_err(|_| ResolveError::BadCall(format!("index {k} must be a non-negative integer constant")))?,
                _ => return Err(ResolveError::BadCall(format!("index {k} must be a non-negative integer constant"))),
            },
        };
        if let Some(n) = len {
            if i as u64 >= n {
                return Err(ResolveError::BadCall(format!("array index {i} out of bounds [0:{n}]")));
            }
        }
        if i >= MAX_LITERAL_LEN {
            return Err(ResolveError::BadCall(format!("index {i} is too large for a literal passed to a call (limit {MAX_LITERAL_LEN})")));
        }
        if items.len() <= i {
            items.resize(i + 1, None);
        }
        if items[i].is_some() {
            return Err(ResolveError::BadCall(format!("duplicate index {i} in array or slice literal")));
        }
        items[i] = Some(&el.value);
        next = i + 1;
    }
    Ok(items)
}

/// `map[K]V{k: v, ...}`: keys and values are laid out in a staging
/// allocation the session turns into a map with the runtime's functions
/// (see [`MapInit`]).
fn map_literal(rs: &Resolver, elems: &[crate::ast::Element], t: &Arc<Type>, kt: &Arc<Type>, vt: &Arc<Type>, idx: usize, offset: usize) -> Result<(Vec<u8>, Vec<Alloc>), ResolveError> {
    let map_type = runtime_type_addr(rs, t)?;
    let elem_type = runtime_type_addr(rs, vt)?;
    if elems.len() > MAX_LITERAL_LEN {
        return Err(ResolveError::BadCall(format!("map literal with more than {MAX_LITERAL_LEN} entries")));
    }
    let (ks, vs) = (kt.size.div_ceil(8) * 8, vt.size.div_ceil(8) * 8);
    let stride = (ks + vs).max(8) as usize;
    let mut data = vec![0u8; stride * elems.len()];
    let mut kids: Vec<Alloc> = Vec::new();
    let mut entries = Vec::with_capacity(elems.len());
    for (i, el) in elems.iter().enumerate() {
        let Some(k) = &el.key else {
            return Err(ResolveError::BadCall(format!("missing key in map literal of type {}", t.name)));
        };
        let (ko, vo) = (i * stride, i * stride + ks as usize);
        let (kb, ka) = element(rs, k, kt, idx, ko)?;
        put(&mut data, ko, &kb)?;
        kids.extend(ka);
        let (vb, va) = element(rs, &el.value, vt, idx, vo)?;
        put(&mut data, vo, &vb)?;
        kids.extend(va);
        entries.push((ko as u64, vo as u64));
    }
    // The entries' own allocations (strings...) are patched into the
    // staging data, which comes last.
    let n = kids.len();
    for (k, kid) in kids.iter_mut().enumerate() {
        if kid.parent.is_none() {
            kid.parent = Some(n - k);
        }
    }
    let mut allocs = kids;
    // A map with no entries still needs a staging object of one word (the
    // allocator is asked for at least that).
    if data.is_empty() {
        data = vec![0u8; 8];
    }
    allocs.push(Alloc { arg: idx, offset, data, inner: vec![], rtype: 0, parent: None, map: Some(MapInit { map_type, elem_type, entries }) });
    Ok((vec![0u8; 8], allocs))
}

/// A composite literal of type `lt` passed as interface `it`: the value is
/// built in a heap object of its own type, the interface points to it.
fn composite_in_interface(rs: &Resolver, e: &Expr, lt: &Arc<Type>, it: &Arc<Type>, empty: bool, idx: usize, offset: usize) -> Result<(Vec<u8>, Vec<Alloc>), ResolveError> {
    let rt = runtime_type_addr(rs, lt)?;
    let w0 = if empty {
        rt
    } else {
        find_itab(rs, rt, it)?.ok_or_else(|| ResolveError::BadCall(format!("cannot pass {} as {}: the program has no itab for them", lt.name, it.name)))?
    };
    let mut out = w0.to_le_bytes().to_vec();
    // A map is pointer-shaped: the interface's data word is the map itself
    // (runtime/iface.go: pointer-shaped values are stored directly).
    if matches!(rs.scope.reader.underlying(lt)?.kind, TypeKind::Map { .. }) {
        let (data, allocs) = element(rs, e, lt, idx, offset + 8)?;
        out.extend_from_slice(&data);
        return Ok((out, allocs));
    }
    let (data, mut allocs) = element(rs, e, lt, idx, 0)?;
    // The value's own allocations are patched into the box (next in line).
    let n = allocs.len();
    for (k, a) in allocs.iter_mut().enumerate() {
        if a.parent.is_none() {
            a.parent = Some(n - k);
        }
    }
    allocs.push(Alloc { arg: idx, offset: offset + 8, data, inner: vec![], rtype: rt, parent: None, map: None });
    out.extend_from_slice(&[0u8; 8]);
    Ok((out, allocs))
}

fn pack_variadic(rs: &Resolver, args: &[Expr], st: &Arc<Type>, idx: usize) -> Result<(ArgValue, Vec<Alloc>), ResolveError> {
    let items: Vec<Option<&Expr>> = args.iter().map(Some).collect();
    pack_slice(rs, &items, st, idx)
}

/// A new slice of type `st` holding `args` (None: the zero value).
fn pack_slice(rs: &Resolver, args: &[Option<&Expr>], st: &Arc<Type>, idx: usize) -> Result<(ArgValue, Vec<Alloc>), ResolveError> {
    let r = rs.scope.reader;
    let su = r.underlying(st)?;
    let TypeKind::Slice { elem } = su.kind else { return Err(ResolveError::Abi("variadic parameter is not a slice".into())) };
    let et = r.ty(elem)?;
    let esize = et.size as usize;
    let mut data = vec![0u8; esize * args.len()];
    let mut inner = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut kids: Vec<Alloc> = Vec::new();
    let eu = r.underlying(&et)?;
    for (i, a) in args.iter().enumerate() {
        let Some(a) = *a else { continue };
        if let Expr::Composite { .. } = a {
            let (b, al) = element(rs, a, &et, idx, i * esize)?;
            kids.extend(al);
            put(&mut data, i * esize, &b)?;
            continue;
        }
        let v = eval_ast(a, rs.scope)?;
        // String literals are stored after the elements, in the same object.
        if let (Val::Const(Const::Str(s)), TypeKind::String) = (&v, &eu.kind) {
            let pos = i * esize;
            data[pos + 8..pos + 16].copy_from_slice(&(s.len() as u64).to_le_bytes());
            if !s.is_empty() {
                inner.push((pos, data.len() + tail.len()));
                tail.extend_from_slice(s);
            }
            continue;
        }
        // Allocations of the element (a boxed value...) are patched into
        // the backing array, at the element's offset.
        let (b, al) = to_param(rs, &v, &et, idx, i * esize)?;
        kids.extend(al);
        put(&mut data, i * esize, &b)?;
    }
    let n = args.len() as u64;
    let mut hdr = vec![0u8; 24];
    hdr[8..16].copy_from_slice(&n.to_le_bytes());
    hdr[16..24].copy_from_slice(&n.to_le_bytes());
    // With string literals appended the object is not an array of T:
    // allocate it without pointers (its pointers point into itself, or to
    // objects the frame's variables keep alive).
    let rtype = if tail.is_empty() { runtime_type_addr(rs, &et).unwrap_or(0) } else { 0 };
    data.extend_from_slice(&tail);
    if data.is_empty() {
        return Ok((ArgValue { ty: st.clone(), bytes: hdr }, vec![]));
    }
    let n_kids = kids.len();
    for (k, kid) in kids.iter_mut().enumerate() {
        if kid.parent.is_none() {
            kid.parent = Some(n_kids - k);
        }
    }
    let mut allocs = kids;
    allocs.push(Alloc { arg: idx, offset: 0, data, inner, rtype, parent: None, map: None });
    Ok((ArgValue { ty: st.clone(), bytes: hdr }, allocs))
}

/// Little-endian word at the start of `b` (zero-extended if shorter).
fn u64_le(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    let n = b.len().min(8);
    x[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(x)
}

/// Copies `src` into `dst` at `off`, refusing values of the wrong size
/// (a value read from the target whose bytes do not match its type).
fn put(dst: &mut [u8], off: usize, src: &[u8]) -> Result<(), ResolveError> {
    let len = dst.len();
    dst.get_mut(off..off + src.len())
        .ok_or_else(|| ResolveError::Abi(format!("a {}-byte value does not fit at offset {off} of {len} bytes", src.len())))?
        .copy_from_slice(src);
    Ok(())
}

fn generic_callee(inst: super::generic::Instance) -> Callee {
    Callee { name: inst.name, pc: inst.pc, context: None, receiver: None, params: inst.params, results: inst.results, dict: Some((inst.dict, inst.dict_at)) }
}

fn callee(rs: &Resolver, func: &Expr, args: &[Expr], ellipsis: bool) -> Result<Callee, ResolveError> {
    match func {
        Expr::Paren { expr, .. } => callee(rs, expr, args, ellipsis),
        Expr::Ident(id) if !is_local(rs, &id.name) => {
            let pkg = rs.scope.package.clone().unwrap_or_else(|| "main".into());
            let full = format!("{pkg}.{}", id.name);
            match function(rs, &full) {
                Some((name, pc, params, results)) => Ok(Callee { name, pc, context: None, receiver: None, params, results, dict: None }),
                None => match eval_ast(func, rs.scope) {
                    Ok(Val::Value(v)) => func_value(rs, &v, &id.name),
                    _ => match super::generic::function(rs, &full, None, args, ellipsis)? {
                        Some(inst) => Ok(generic_callee(inst)),
                        None => Err(ResolveError::UnknownFunction(full)),
                    },
                },
            }
        }
        // Explicit instantiation: `Sum[int](xs)`, `p.Map[int, string](...)`.
        Expr::Index { expr, indices, .. } if function_name_of(rs, expr).is_some() && eval_ast(expr, rs.scope).is_err() => {
            let full = function_name_of(rs, expr).unwrap_or_default();
            match super::generic::function(rs, &full, Some(indices), args, ellipsis)? {
                Some(inst) => Ok(generic_callee(inst)),
                None => Err(ResolveError::UnknownFunction(format!("{full} (no generic function of that name in the binary)"))),
            }
        }
        Expr::Selector { expr: base, sel, .. } => {
            if let Expr::Ident(id) = &**base {
                if !is_local(rs, &id.name) {
                    let full = format!("{}.{}", id.name, sel.name);
                    if let Some((name, pc, params, results)) = function(rs, &full) {
                        return Ok(Callee { name, pc, context: None, receiver: None, params, results, dict: None });
                    }
                    if eval_ast(base, rs.scope).is_err() {
                        if let Some(inst) = super::generic::function(rs, &full, None, args, ellipsis)? {
                            return Ok(generic_callee(inst));
                        }
                    }
                    // Not a package function: maybe a package variable.
                    if eval_ast(base, rs.scope).is_err() {
                        return Err(ResolveError::UnknownFunction(full));
                    }
                }
            }
            let v = match eval_ast(base, rs.scope)? {
                Val::Value(v) => v,
                Val::Const(c) => return Err(ResolveError::BadCall(format!("{} has no method {}", crate::eval::format_const(&c), sel.name))),
            };
            if let Some(c) = method(rs, &v, &sel.name, &base.to_string(), 0)? {
                return Ok(c);
            }
            // A field of func type.
            match eval_ast(func, rs.scope) {
                Ok(Val::Value(fv)) => func_value(rs, &fv, &func.to_string()),
                _ => Err(ResolveError::BadCall(format!("{base} (type {}) has no method {}", v.ty.name, sel.name))),
            }
        }
        other => match eval_ast(other, rs.scope)? {
            Val::Value(v) => func_value(rs, &v, &other.to_string()),
            Val::Const(_) => Err(ResolveError::BadCall(format!("{other} is not a function"))),
        },
    }
}

/// Calling a func value: the closure record's first word is the code
/// pointer, the record itself goes in RDX (runtime/runtime2.go `funcval`;
/// abi-internal.md: "RDX: closure context pointer").
fn func_value(rs: &Resolver, v: &Value, what: &str) -> Result<Callee, ResolveError> {
    let r = rs.scope.reader;
    if !matches!(r.underlying(&v.ty)?.kind, TypeKind::Func) {
        return Err(ResolveError::BadCall(format!("cannot call non-function {what} (type {})", v.ty.name)));
    }
    let closure = r.read_u64_at(v, 0)?;
    if closure == 0 {
        return Err(ResolveError::BadCall(format!("cannot call {what}: it is a nil func value")));
    }
    let pc = r.mem.read_u64(closure)?;
    let name = r.pcln.func_for_pc(pc).map(|f| f.name.to_string()).ok_or_else(|| ResolveError::BadCall(format!("{what} points to unknown code at {pc:#x}")))?;
    if let Some((_, params, results)) = signature(rs, &name) {
        return Ok(Callee { name, pc, context: Some(closure), receiver: None, params, results, dict: None });
    }
    // A method value `x.M` is a closure running the wrapper `T.M-fm`
    // (cmd/compile/internal/reflectdata: methodValueWrapper), which takes
    // the method's arguments without the receiver (bound in the closure).
    if let Some(m) = name.strip_suffix("-fm") {
        if let Some((_, mut params, results)) = signature(rs, m) {
            if !params.is_empty() {
                params.remove(0);
            }
            return Ok(Callee { name, pc, context: Some(closure), receiver: None, params, results, dict: None });
        }
    }
    Err(ResolveError::UnknownFunction(format!("{name} (no debug information for its parameters)")))
}

/// `pkg.T.M` and `pkg.(*T).M` for a type named `pkg.T`.
fn method_names(type_name: &str, m: &str) -> Option<(String, String)> {
    let slash = type_name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let dot = slash + type_name[slash..].find('.')?;
    let (pkg, t) = (&type_name[..dot], &type_name[dot + 1..]);
    Some((format!("{pkg}.{t}.{m}"), format!("{pkg}.(*{t}).{m}")))
}

/// Finds method `m` of value `v` (or of a value it embeds), with the
/// receiver ready: the value itself for value receivers, its address for
/// pointer receivers (taking it as Go does for addressable values).
fn method(rs: &Resolver, v: &Value, m: &str, what: &str, depth: u32) -> Result<Option<Callee>, ResolveError> {
    let r = rs.scope.reader;
    let u = r.underlying(&v.ty)?;
    if let TypeKind::Interface { empty } = u.kind {
        return interface_method(rs, v, empty, m, what, depth).map(Some);
    }
    // Through a pointer: `p.M()` with p *T.
    let (target, ptr) = match u.kind {
        TypeKind::Pointer { elem } => {
            let p = r.read_u64_at(v, 0)?;
            let et = r.ty(elem)?;
            (if p == 0 { None } else { Some(Value::at(et.clone(), p)) }, Some((p, et)))
        }
        _ => (Some(v.clone()), None),
    };
    // The receiver's address for a pointer method: the pointer itself, or
    // the address of the value (which must be in memory).
    let receiver_addr = || -> Result<u64, ResolveError> {
        Ok(match (&ptr, &target) {
            (Some((p, _)), _) => *p,
            (None, Some(t)) => match t.loc {
                Loc::Memory(a) => a,
                _ => {
                    return Err(ResolveError::BadCall(format!(
                        "cannot call pointer method {m} on {what}: its address cannot be taken (it is not in memory)"
                    )))
                }
            },
            _ => 0,
        })
    };
    let tname = match (&target, &ptr) {
        (Some(t), _) => t.ty.name.clone(),
        (None, Some((_, et))) => et.name.clone(),
        _ => return Ok(None),
    };
    // A method of a generic type: its shape instantiation and the type's
    // dictionary (super::generic).
    if tname.contains('[') {
        if let Some((inst, ptr_recv)) = super::generic::method(rs, &tname, m)? {
            let mut params = inst.params;
            if params.is_empty() || inst.dict_at != 1 {
                return Err(ResolveError::Abi(format!("{} has no receiver in its debug information", inst.name)));
            }
            let rp = params.remove(0);
            let rt = r.ty(rp.ty)?;
            let bytes = if ptr_recv {
                let addr = receiver_addr()?;
                addr.to_le_bytes().to_vec()
            } else {
                let Some(t) = target.clone() else {
                    return Err(ResolveError::BadCall(format!("cannot call {what}.{m}: {what} is a nil pointer")));
                };
                r.read_bytes(&t)?
            };
            return Ok(Some(Callee {
                name: inst.name,
                pc: inst.pc,
                context: None,
                receiver: Some(ArgValue { ty: rt, bytes }),
                params,
                results: inst.results,
                dict: Some((inst.dict, inst.dict_at)),
            }));
        }
    }
    if let Some((vm, pm)) = method_names(&tname, m) {
        if let Some((pc, mut params, results)) = signature(rs, &vm) {
            let Some(t) = target.clone() else {
                return Err(ResolveError::BadCall(format!("cannot call {what}.{m}: {what} is a nil pointer")));
            };
            if params.is_empty() {
                return Err(ResolveError::Abi(format!("{vm} has no receiver in its debug information")));
            }
            let rp = params.remove(0);
            let rt = r.ty(rp.ty)?;
            let bytes = r.read_bytes(&t)?;
            return Ok(Some(Callee { name: vm, pc, context: None, receiver: Some(ArgValue { ty: rt, bytes }), params, results, dict: None }));
        }
        if let Some((pc, mut params, results)) = signature(rs, &pm) {
            let addr = receiver_addr()?;
            if params.is_empty() {
                return Err(ResolveError::Abi(format!("{pm} has no receiver in its debug information")));
            }
            let rp = params.remove(0);
            let rt = r.ty(rp.ty)?;
            return Ok(Some(Callee {
                name: pm,
                pc,
                context: None,
                receiver: Some(ArgValue { ty: rt, bytes: addr.to_le_bytes().to_vec() }),
                params,
                results,
                dict: None,
            }));
        }
    }
    // Promoted through embedded fields.
    if depth >= MAX_PROMOTION_DEPTH {
        return Ok(None);
    }
    let Some(t) = target else { return Ok(None) };
    if !matches!(r.underlying(&t.ty)?.kind, TypeKind::Struct { .. }) {
        return Ok(None);
    }
    for f in r.fields(&t)? {
        if !f.embedded {
            continue;
        }
        if let Some(c) = method(rs, &f.value, m, &format!("{what}.{}", f.name), depth + 1)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// `i.M()` on an interface: dispatch through the itab like the compiled
/// code does (`itab.Fun[k]` takes the data word as its receiver).
fn interface_method(rs: &Resolver, v: &Value, empty: bool, m: &str, what: &str, depth: u32) -> Result<Callee, ResolveError> {
    let r = rs.scope.reader;
    if empty {
        return Err(ResolveError::BadCall(format!("{what} (type {}) has no method {m}", v.ty.name)));
    }
    let tab = r.read_u64_at(v, 0)?;
    let data = r.read_u64_at(v, 8)?;
    if tab == 0 {
        return Err(ResolveError::BadCall(format!("cannot call {what}.{m}: {what} is a nil interface")));
    }
    // The method receives the data word: a pointer to the dynamic value
    // (or the value itself when pointer-shaped), which may point into the
    // goroutine's stack when the value did not escape; refused like any
    // argument pointing there (see stack_pointer_in).
    if rs.stacks.iter().any(|&(lo, hi)| data >= lo && data < hi) {
        return Err(ResolveError::Refused(format!(
            "cannot call {what}.{m}: the value in {what} is on the goroutine's stack (stack object passed to escaping pointer): the method could keep a pointer to it after the call, and the stack can move; use `call -unsafe` if it does not"
        )));
    }
    let inter = r.mem.read_u64(tab)?;
    let n = r.mem.read_u64(inter + INTERFACETYPE_METHODS_LEN_OFFSET)?;
    if n > 4096 {
        return Err(ResolveError::BadCall(format!("{what}: implausible interface method count {n}")));
    }
    let suffix = format!(".{m}");
    for k in 0..n {
        let pc = r.mem.read_u64(tab + ITAB_FUN_OFFSET + 8 * k)?;
        let Some(f) = r.pcln.func_for_pc(pc) else { continue };
        if !f.name.ends_with(&suffix) {
            continue;
        }
        let name = f.name.to_string();
        // The itab entry is `(*T).M` (possibly a compiler wrapper for a
        // value method) or `T.M` for pointer-shaped T; either way its
        // receiver is the interface's data word.
        let sig = signature(rs, &name).or_else(|| {
            let inner = name.replace("(*", "").replace(").", ".");
            signature(rs, &inner)
        });
        let Some((_, mut params, results)) = sig else {
            return Err(ResolveError::UnknownFunction(format!("{name} (no debug information for its parameters)")));
        };
        if !params.is_empty() {
            params.remove(0);
        }
        let uintptr = resolve_type_in(rs.scope, "uintptr")?;
        return Ok(Callee {
            name,
            pc,
            context: None,
            receiver: Some(ArgValue { ty: uintptr, bytes: data.to_le_bytes().to_vec() }),
            params,
            results,
            dict: None,
        });
    }
    // The linker drops methods nothing calls through an interface
    // (cmd/link/internal/ld/deadcode.go) and leaves their itab slots
    // pointing elsewhere; the method of the dynamic type itself may still
    // be in the binary (called directly somewhere): use it.
    if let Some((dyn_name, Some(inner))) = r.interface_value(v)? {
        if depth < MAX_PROMOTION_DEPTH {
            if let Some(c) = method(rs, &inner, m, what, depth + 1)? {
                return Ok(c);
            }
        }
        return Err(ResolveError::BadCall(format!(
            "{what} (dynamic type {dyn_name}) has no method {m} in the binary (methods never called are removed by the linker)"
        )));
    }
    Err(ResolveError::BadCall(format!("{what} (type {}) has no method {m}", v.ty.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_symbol_names() {
        assert_eq!(method_names("main.Point", "Sum"), Some(("main.Point.Sum".into(), "main.(*Point).Sum".into())));
        assert_eq!(
            method_names("example.com/a/b.T", "M"),
            Some(("example.com/a/b.T.M".into(), "example.com/a/b.(*T).M".into()))
        );
        assert_eq!(method_names("int", "M"), None);
    }

    #[test]
    fn words_and_copies_never_panic() {
        assert_eq!(u64_le(&[1, 0]), 1);
        assert_eq!(u64_le(&[]), 0);
        let mut d = [0u8; 4];
        assert!(put(&mut d, 2, &[1, 2]).is_ok());
        assert_eq!(d, [0, 0, 1, 2]);
        assert!(put(&mut d, 3, &[1, 2]).is_err());
    }
}
