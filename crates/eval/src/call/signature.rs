//! What call resolution knows of functions and types by name: the
//! [`Resolver`] (the frame's scope, ELF symbols, the stacks of the escape
//! check), function signatures from DWARF (and, for variadics, from the
//! source: Go's DWARF does not mark them), and type names as DWARF spells
//! them. Shared by plain calls (`resolve.rs`) and generic ones
//! (`generic.rs`).

use stillgo_dwarf::{VarKind, Variable};

use crate::ast::Expr;
use crate::eval::{resolve_type_in, Scope};

/// What resolution needs besides the scope: ELF symbols (itabs), and the
/// goroutine's stack for the escape check.
pub struct Resolver<'s, 'a> {
    pub scope: &'s Scope<'a>,
    /// Address of an ELF symbol by exact name.
    pub symbol: &'s dyn Fn(&str) -> Option<u64>,
    /// `[g.stack.lo, g.stack.hi)` of the goroutine the call runs on (and of
    /// the goroutine whose frame the arguments come from): an argument
    /// pointing there is refused (see [`stack_pointer_in`]); empty skips
    /// the check (`call -unsafe`).
    pub stacks: Vec<(u64, u64)>,
}

/// The Go type of a function named by `e` used as a func value
/// (`func(int) string`), from its DWARF signature.
pub(super) fn func_type_name(rs: &Resolver, e: &Expr) -> Option<String> {
    let name = function_name_of(rs, e)?;
    let (_, _, params, results) = function(rs, &name)?;
    let r = rs.scope.reader;
    let names = |vs: &[Variable]| -> Option<Vec<String>> { vs.iter().map(|v| r.ty(v.ty).ok().map(|t| t.name.clone())).collect() };
    let (p, res) = (names(&params)?, names(&results)?);
    let res = match res.len() {
        0 => String::new(),
        1 => format!(" {}", res[0]),
        _ => format!(" ({})", res.join(", ")),
    };
    Some(format!("func({}){res}", p.join(", ")))
}

/// A type written in the expression as DWARF names it: names of the
/// frame's package qualified at any depth (`map[Point][]T` is
/// `map[main.Point][]main.T`), `any` as `interface {}`.
pub(super) fn type_text(rs: &Resolver, te: &crate::ast::TypeExpr) -> String {
    use crate::ast::{ChanDir, TypeKind as K};
    let inner = |t: &crate::ast::TypeExpr| type_text(rs, t);
    match &te.kind {
        K::Named { pkg, name, args } => {
            let base = crate::ast::TypeExpr { kind: K::Named { pkg: pkg.clone(), name: name.clone(), args: Vec::new() }, span: te.span }.to_string();
            let text = if args.is_empty() {
                any_as_interface(&base)
            } else {
                // DWARF spells instantiations without spaces: `Pair[int,string]`.
                let a: Vec<String> = args.iter().map(inner).collect();
                format!("{base}[{}]", a.join(","))
            };
            resolve_type_in(rs.scope, &text).map(|t| t.name.clone()).unwrap_or(text)
        }
        K::Pointer(e) => format!("*{}", inner(e)),
        K::Slice(e) => format!("[]{}", inner(e)),
        K::Array { len: Some(l), elem } => format!("[{l}]{}", inner(elem)),
        K::Map { key, value } => format!("map[{}]{}", inner(key), inner(value)),
        K::Chan { dir: ChanDir::Both, elem } => format!("chan {}", inner(elem)),
        K::Chan { dir: ChanDir::Send, elem } => format!("chan<- {}", inner(elem)),
        K::Chan { dir: ChanDir::Recv, elem } => format!("<-chan {}", inner(elem)),
        _ => any_as_interface(&te.to_string()),
    }
}

/// `any` spelled as DWARF names it (`interface {}`), as a whole word only.
pub(super) fn any_as_interface(ty: &str) -> String {
    let mut out = String::with_capacity(ty.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if word == "any" { "interface {}" } else { word });
        word.clear();
    };
    for c in ty.chars() {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Whether a function is declared variadic (`func f(xs ...T)`), read from
/// its declaration in the source (DWARF `decl_file`/`decl_line`): Go's DWARF
/// does not mark variadic functions. None when the source cannot be read.
/// Compiler wrappers (`T.M-fm`, `(*T).M` for value methods) are looked up
/// through the method they wrap.
pub(super) fn declared_variadic(rs: &Resolver, name: &str) -> Option<bool> {
    let d = rs.scope.reader.dwarf;
    let base = name.strip_suffix("-fm").unwrap_or(name);
    let candidates = [base.to_string(), base.replace("(*", "").replace(").", ".")];
    let f = candidates.iter().find_map(|n| d.function_by_name(n).filter(|f| f.decl_file.is_some() && f.decl_line > 0))?;
    let src = std::fs::read_to_string(&*f.decl_file?).ok()?;
    let text: String = src.lines().skip(f.decl_line as usize - 1).take(40).collect::<Vec<_>>().join("\n");
    params_text(&text).map(|p| p.contains("..."))
}

/// The parameter list of the first function declaration or literal in
/// `src` (`func (r T) Name[P any](params) ...` or `func(params) ...`).
pub(super) fn params_text(src: &str) -> Option<&str> {
    let at = src.find("func")?;
    let mut after = src[at + 4..].trim_start();
    if after.starts_with('(') {
        let (first, rest) = balanced(after, '(', ')')?;
        let rest = rest.trim_start();
        // A method's receiver is followed by the name and, right after it,
        // `(` or `[`; a function literal's parameters by its results.
        let name_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let is_method = name_len > 0 && rest[name_len..].starts_with(['(', '[']);
        if !is_method {
            return Some(first);
        }
        after = rest;
    }
    // The name, type parameters, parameters.
    let name_end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
    let mut rest = after[name_end..].trim_start();
    if rest.starts_with('[') {
        rest = balanced(rest, '[', ']')?.1.trim_start();
    }
    balanced(rest, '(', ')').map(|(p, _)| p)
}

/// `s` starts with `open`: the text up to the matching `close`, and what follows.
pub(super) fn balanced(s: &str, open: char, close: char) -> Option<(&str, &str)> {
    if !s.starts_with(open) {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some((&s[..=i], &s[i + 1..]));
            }
        }
    }
    None
}

/// Formal parameters and results of a function, from its DWARF subprogram.
pub(super) fn signature(rs: &Resolver, name: &str) -> Option<(u64, Vec<Variable>, Vec<Variable>)> {
    let d = rs.scope.reader.dwarf;
    let f = d.function_by_name(name)?;
    let vars = d.variables(f.low_pc, 0);
    let params = vars.iter().filter(|v| v.kind == VarKind::Arg).cloned().collect();
    let results = vars.iter().filter(|v| v.kind == VarKind::ReturnValue).cloned().collect();
    Some((f.low_pc, params, results))
}

/// A function by name: exact, or `pkg.F` for a longer import path.
pub(super) fn function(rs: &Resolver, name: &str) -> Option<(String, u64, Vec<Variable>, Vec<Variable>)> {
    if let Some((pc, p, r)) = signature(rs, name) {
        return Some((name.to_string(), pc, p, r));
    }
    let suffix = format!("/{name}");
    let mut found = rs.scope.reader.pcln.funcs().filter(|f| f.name.ends_with(&suffix));
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let (pc, p, r) = signature(rs, &first.name)?;
    Some((first.name.to_string(), pc, p, r))
}

pub(super) fn is_local(rs: &Resolver, name: &str) -> bool {
    rs.scope.vars.iter().any(|v| v.var.name == name || v.var.name.strip_prefix('&') == Some(name))
}

/// The qualified name of a function named by `e` (`f`, `pkg.F`), when it
/// is not a variable of the frame.
pub(super) fn function_name_of(rs: &Resolver, e: &Expr) -> Option<String> {
    match e {
        Expr::Ident(id) if !is_local(rs, &id.name) => Some(format!("{}.{}", rs.scope.package.clone().unwrap_or_else(|| "main".into()), id.name)),
        Expr::Selector { expr, sel, .. } => match &**expr {
            Expr::Ident(p) if !is_local(rs, &p.name) => Some(format!("{}.{}", p.name, sel.name)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_lists_from_declarations() {
        assert_eq!(params_text("func sum(xs ...int) int {"), Some("(xs ...int)"));
        assert_eq!(params_text("func (p *Point) Scale(k int) { p.X *= k }"), Some("(k int)"));
        assert_eq!(params_text("func (r Rect) Describe(prefix string) string {"), Some("(prefix string)"));
        assert_eq!(params_text("\tadder := func(x int) int { return x + offset }"), Some("(x int)"));
        assert_eq!(params_text("func Map[T any, U any](xs []T, f func(T) U) []U {"), Some("(xs []T, f func(T) U)"));
        assert_eq!(params_text("func f(\n\ta int,\n\trest ...string,\n) {"), Some("(\n\ta int,\n\trest ...string,\n)"));
        assert_eq!(params_text("var x = 1"), None);
        assert_eq!(params_text("func broken(a int"), None);
    }

    #[test]
    fn any_is_spelled_as_in_dwarf() {
        assert_eq!(any_as_interface("[]any"), "[]interface {}");
        assert_eq!(any_as_interface("map[string]any"), "map[string]interface {}");
        assert_eq!(any_as_interface("[]company.any2"), "[]company.any2");
        assert_eq!(any_as_interface("main.anything"), "main.anything");
    }
}
