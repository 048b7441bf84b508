//! Calls nested in an expression: `call f(g(1)) + 1`, `call x.String()[0]`.
//! The calls run innermost first; each result becomes a temporary variable
//! the rest of the expression is evaluated with. The walk is here, in the
//! language; running a call is the [`CallRunner`]'s business (the session,
//! through `stillgo-world`), so this module never touches the program.

use stillgo_dwarf::Variable;
use stillgo_runtime::vars::FrameVar;
use stillgo_world::{explain_refusal, CallOutcome, PreparedCall};

use super::resolve::prepare;
use super::signature::Resolver;
use super::ResolveError;
use crate::ast::{Expr, Ident};
use crate::eval::{eval_ast, resolve_type_in, Val};
use crate::EvalError;

/// What the calls of an expression need from whoever runs them.
pub trait CallRunner {
    type Error: From<ResolveError>;

    /// Runs `f` with a resolver for the frame the call's arguments come
    /// from, its variables extended with `temps` (results of the calls
    /// already made).
    fn with_resolver<T>(&mut self, temps: &[FrameVar], f: impl FnOnce(&Resolver) -> T) -> Result<T, Self::Error>;

    /// Runs one call in the program (its heap objects first).
    fn run(&mut self, call: PreparedCall) -> Result<CallOutcome, Self::Error>;
}

/// One value of a call's outcome: a named result (`q`, `~r0`) or the value
/// of the whole expression (name empty).
#[derive(Debug, Clone)]
pub struct CallValue {
    pub name: String,
    pub value: Val,
}

/// What `call EXPR` produced.
#[derive(Debug, Clone)]
pub enum Outcome {
    Values(Vec<CallValue>),
    /// A call panicked: the panic value.
    Panicked(String),
    /// The runtime refused the call; the reason with advice.
    Refused(String),
}

/// Upper bound on calls in one expression, against runaway rewriting.
const MAX_CALLS_PER_EXPR: usize = 64;

/// The temporary holding the results of a root call with several results.
const MULTI: &str = "__stillgo_results";
const MULTI_PREFIX: &str = "__stillgo_result:";

/// Parses `expr` for `call`: it must call something.
pub fn parse_call(expr: &str) -> Result<Expr, ResolveError> {
    let parsed = crate::parse_expr(expr).map_err(|e| EvalError::Parse(e.render(expr)))?;
    if !matches!(strip_parens(&parsed), Expr::Call { .. }) && !contains_call(&parsed) {
        return Err(ResolveError::BadCall(format!("{expr}: not a function call (use print to evaluate expressions)")));
    }
    Ok(parsed)
}

/// Runs the calls of `expr` innermost first and evaluates what is left.
pub fn run_calls<R: CallRunner>(runner: &mut R, expr: &Expr) -> Result<Outcome, R::Error> {
    let mut walk = Walk { runner, temps: Vec::new(), calls: 0 };
    match walk.rewrite(expr, true)? {
        Step::Stop(o) => Ok(o),
        Step::Done(Expr::Ident(id)) if id.name == MULTI => {
            // The root call with several (or no) results.
            Ok(Outcome::Values(
                walk.temps
                    .iter()
                    .filter_map(|t| t.var.name.strip_prefix(MULTI_PREFIX).map(|name| CallValue { name: name.to_string(), value: Val::Value(t.value.clone()) }))
                    .collect(),
            ))
        }
        Step::Done(e) => {
            let v = walk.runner.with_resolver(&walk.temps, |rs| eval_ast(&e, rs.scope))?.map_err(ResolveError::from)?;
            Ok(Outcome::Values(vec![CallValue { name: String::new(), value: v }]))
        }
    }
}

enum Step {
    Done(Expr),
    /// A call panicked or was refused: stop evaluating.
    Stop(Outcome),
}

struct Walk<'r, R: CallRunner> {
    runner: &'r mut R,
    temps: Vec<FrameVar>,
    calls: usize,
}

impl<R: CallRunner> Walk<'_, R> {
    /// Runs the calls in `e` innermost first; returns `e` with each call
    /// replaced by a temporary holding its result.
    fn rewrite(&mut self, e: &Expr, root: bool) -> Result<Step, R::Error> {
        macro_rules! sub {
            ($x:expr) => {
                match self.rewrite($x, false)? {
                    Step::Done(d) => d,
                    stop => return Ok(stop),
                }
            };
        }
        let out = match e {
            Expr::Call { func, args, ellipsis, span } => {
                let mut nargs = Vec::with_capacity(args.len());
                for a in args {
                    nargs.push(sub!(a));
                }
                let nfunc = match &**func {
                    // Keep `pkg.F` / `x.M` selectors intact; rewrite the base.
                    Expr::Selector { expr, sel, span } => Expr::Selector { expr: Box::new(sub!(expr)), sel: sel.clone(), span: *span },
                    Expr::Ident(_) => (**func).clone(),
                    other => sub!(other),
                };
                if self.runner.with_resolver(&self.temps, |rs| is_builtin_or_conversion(rs, &nfunc))? {
                    return Ok(Step::Done(Expr::Call { func: Box::new(nfunc), args: nargs, ellipsis: *ellipsis, span: *span }));
                }
                self.calls += 1;
                if self.calls > MAX_CALLS_PER_EXPR {
                    return Err(ResolveError::BadCall(format!("too many calls in one expression (limit {MAX_CALLS_PER_EXPR})")).into());
                }
                let prepared = self.runner.with_resolver(&self.temps, |rs| prepare(rs, &nfunc, &nargs, *ellipsis))??;
                let results = match self.runner.run(prepared.call)? {
                    CallOutcome::Returned(r) => r,
                    CallOutcome::Panicked(p) => return Ok(Step::Stop(Outcome::Panicked(p))),
                    CallOutcome::Refused(r) => return Ok(Step::Stop(Outcome::Refused(explain_refusal(&r)))),
                };
                if root && results.len() != 1 {
                    for (res, var) in results.iter().zip(&prepared.result_vars) {
                        self.push_temp(format!("{MULTI_PREFIX}{}", res.name), var, res.value.clone());
                    }
                    return Ok(Step::Done(Expr::Ident(Ident { name: MULTI.into(), span: *span })));
                }
                let (Some(res), Some(var)) = (results.first(), prepared.result_vars.first()) else {
                    return Err(ResolveError::BadCall(format!("{e} (no value) used as value")).into());
                };
                if results.len() > 1 {
                    return Err(ResolveError::BadCall(format!("multiple-value {e} in single-value context")).into());
                }
                let name = format!("__stillgo_call{}", self.temps.len());
                self.push_temp(name.clone(), var, res.value.clone());
                Expr::Ident(Ident { name, span: *span })
            }
            Expr::Binary { op, lhs, rhs, span } => Expr::Binary { op: *op, lhs: Box::new(sub!(lhs)), rhs: Box::new(sub!(rhs)), span: *span },
            Expr::Unary { op, expr, span } => Expr::Unary { op: *op, expr: Box::new(sub!(expr)), span: *span },
            // `call (f())`: still the root call.
            Expr::Paren { expr, .. } if root => return self.rewrite(expr, true),
            Expr::Paren { expr, span } => Expr::Paren { expr: Box::new(sub!(expr)), span: *span },
            Expr::Selector { expr, sel, span } => Expr::Selector { expr: Box::new(sub!(expr)), sel: sel.clone(), span: *span },
            Expr::Index { expr, indices, span } => {
                let b = sub!(expr);
                let mut ni = Vec::new();
                for i in indices {
                    ni.push(sub!(i));
                }
                Expr::Index { expr: Box::new(b), indices: ni, span: *span }
            }
            Expr::Slice { expr, low, high, max, span } => {
                let b = sub!(expr);
                let mut bounds = [None, None, None];
                for (slot, x) in bounds.iter_mut().zip([low, high, max]) {
                    if let Some(x) = x {
                        *slot = Some(Box::new(sub!(x)));
                    }
                }
                let [low, high, max] = bounds;
                Expr::Slice { expr: Box::new(b), low, high, max, span: *span }
            }
            Expr::TypeAssert { expr, ty, span } => Expr::TypeAssert { expr: Box::new(sub!(expr)), ty: ty.clone(), span: *span },
            other => other.clone(),
        };
        Ok(Step::Done(out))
    }

    fn push_temp(&mut self, name: String, var: &Variable, value: stillgo_runtime::Value) {
        let mut v = var.clone();
        v.name = name;
        self.temps.push(FrameVar { var: v, value });
    }
}

/// `len(x)`, `cap(x)`, `T(x)`: evaluated by the evaluator, not called.
fn is_builtin_or_conversion(rs: &Resolver, func: &Expr) -> bool {
    let scope = rs.scope;
    let local = |n: &str| scope.vars.iter().any(|v| v.var.name == n || v.var.name.strip_prefix('&') == Some(n));
    let func = strip_parens(func);
    if let Expr::Ident(id) = func {
        if matches!(id.name.as_str(), "len" | "cap") && !local(&id.name) {
            return true;
        }
    }
    let Some(t) = func.to_type() else { return false };
    if let Expr::Ident(id) = func {
        if local(&id.name) {
            return false;
        }
    }
    if resolve_type_in(scope, &t.to_string()).is_err() {
        return false;
    }
    // A name that is both a type and a function cannot happen in Go; a
    // type wins.
    let is_func = match func {
        Expr::Ident(id) => scope.reader.dwarf.function_by_name(&format!("{}.{}", scope.package.clone().unwrap_or_default(), id.name)).is_some(),
        _ => false,
    };
    !is_func
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren { expr, .. } => strip_parens(expr),
        other => other,
    }
}

/// Whether `e` has a call (or conversion) anywhere in it.
fn contains_call(e: &Expr) -> bool {
    match e {
        Expr::Call { .. } => true,
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } | Expr::Selector { expr, .. } | Expr::TypeAssert { expr, .. } => contains_call(expr),
        Expr::Binary { lhs, rhs, .. } => contains_call(lhs) || contains_call(rhs),
        Expr::Index { expr, indices, .. } => contains_call(expr) || indices.iter().any(contains_call),
        Expr::Slice { expr, low, high, max, .. } => contains_call(expr) || [low, high, max].iter().any(|x| x.as_deref().is_some_and(contains_call)),
        Expr::Composite { elems, .. } => elems.iter().any(|el| contains_call(&el.value)),
        _ => false,
    }
}
