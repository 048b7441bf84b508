//! `call EXPR`: evaluates an expression that calls functions of the
//! program, running each call through the runtime's injection protocol
//! (stillgo_eval::call). Calls nested in the expression (`f(g(1)) + 1`,
//! `x.String()[0]`) run innermost first; each result becomes a temporary
//! the rest of the expression is evaluated with.
//!
//! Arguments are evaluated in the selected frame; the call itself runs on
//! the selected goroutine's thread, from its innermost frame (where the
//! goroutine is stopped). A goroutine that is not running on a thread
//! (parked) is refused, as the runtime requires a running goroutine.

use stillgo_eval::ast::{Expr, Ident};
use stillgo_eval::call::{self as ec, CallEnv, CallError, Prepared, Resolver};
use stillgo_eval::{Scope, Val};
use stillgo_proc::Tid;
use stillgo_runtime::vars::FrameVar;
use stillgo_runtime::versions::{DEBUG_CALL_V2, MALLOCGC};
use stillgo_runtime::{GStatus, Reader};

use crate::{Result, Session, SessionError, Stop};

/// One value of a call's outcome: a named result (`q`, `~r0`) or the value
/// of the whole expression (name empty).
#[derive(Debug, Clone)]
pub struct CallValue {
    pub name: String,
    pub value: Val,
}

/// What `call` produced. Registers and stack of the goroutine are restored
/// in every case.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    Values(Vec<CallValue>),
    /// A call panicked: the panic value.
    Panicked(String),
    /// The runtime refused the call; the reason with advice.
    Refused(String),
}

/// Options of a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Skip the check refusing arguments that point into the goroutine's
    /// stack (`call -unsafe`).
    pub allow_stack_pointers: bool,
    /// Let every other goroutine run during the call (`call -thaw`, `config
    /// freeze off`): the behaviour before the frozen world. By default the
    /// other user goroutines are frozen (crate::freeze).
    pub thaw: bool,
}

/// Upper bound on calls in one expression, against runaway rewriting.
const MAX_CALLS_PER_EXPR: usize = 64;

/// Where the call runs.
pub(crate) struct Target<'h> {
    pub(crate) tid: Tid,
    stack_lo: Option<u64>,
    /// Stack bounds for the escape check; empty with `-unsafe`.
    check_stacks: Vec<(u64, u64)>,
    /// The frozen world the calls run in (None: every thread runs).
    pub(crate) frozen: std::cell::RefCell<Option<crate::freeze::FrozenCtx<'h>>>,
    /// Fresh allocations the next injections must keep alive
    /// (stillgo_eval::call::CallEnv::roots).
    roots: std::cell::RefCell<Vec<u64>>,
}

impl From<CallError> for SessionError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Eval(e) => SessionError::Eval(e),
            other => SessionError::Invalid(other.to_string()),
        }
    }
}

enum Step {
    Done(Expr),
    /// A call panicked or was refused: stop evaluating.
    Stop(CallOutcome),
}

impl Session {
    /// Evaluates `expr`, running the function calls in it in the program,
    /// with every other user goroutine frozen (docs/frozen-world.md); see
    /// [`Session::call_with`] for a call that blocks on the frozen world.
    pub fn call(&mut self, expr: &str) -> Result<CallOutcome> {
        self.call_with(expr, CallOptions::default())
    }

    /// [`Session::call`] with options. With the world frozen, a call that
    /// blocks on a frozen goroutine is reported after a second, the program
    /// is thawed so the call can finish, and the result is an error saying
    /// what the call waited for (for front ends that cannot ask the user:
    /// DAP); [`Session::call_frozen_with`] lets the caller decide instead.
    pub fn call_with(&mut self, expr: &str, opts: CallOptions) -> Result<CallOutcome> {
        let mut thaw = |_: &stillgo_eval::freeze::Blocked| stillgo_eval::freeze::BlockedChoice::Thaw;
        let (out, report) = self.call_frozen_with(expr, opts, &mut thaw)?;
        if let Some(b) = report.blocked {
            return Err(SessionError::Invalid(format!(
                "the call blocked while the other goroutines were frozen: goroutine {} {}; the program was thawed so the call could finish{}",
                b.goroutine,
                b.describe(),
                match &out {
                    CallOutcome::Values(v) if !v.is_empty() => " (its result is discarded: run it again with the world thawed to see it)",
                    _ => "",
                }
            )));
        }
        Ok(out)
    }

    /// The call itself, in a frozen world or not (see crate::freeze).
    pub(crate) fn call_in<'h>(&mut self, expr: &str, opts: CallOptions, frozen: Option<crate::freeze::FrozenCtx<'h>>) -> (Result<CallOutcome>, Option<crate::freeze::FrozenCtx<'h>>) {
        let parsed = match self.call_parse(expr) {
            Ok(p) => p,
            Err(e) => return (Err(e), frozen),
        };
        let mut target = match self.call_target() {
            Ok(t) => t,
            Err(e) => return (Err(e), frozen),
        };
        *target.frozen.get_mut() = frozen;
        if let Some(ctx) = target.frozen.get_mut().as_mut() {
            if let Err(e) = self.freeze_for(ctx, target.tid) {
                return (Err(e), target.frozen.into_inner());
            }
        }
        let r = self.call_run(&parsed, expr, &mut target, opts);
        (r, target.frozen.into_inner())
    }

    fn call_parse(&mut self, expr: &str) -> Result<Expr> {
        let parsed = stillgo_eval::parse_expr(expr).map_err(|e| SessionError::Eval(stillgo_eval::EvalError::Parse(e.render(expr))))?;
        if !matches!(strip_parens(&parsed), Expr::Call { .. }) && !contains_call(&parsed) {
            return Err(SessionError::Invalid(format!("{expr}: not a function call (use print to evaluate expressions)")));
        }
        Ok(parsed)
    }

    fn call_run(&mut self, parsed: &Expr, _expr: &str, target: &mut Target<'_>, opts: CallOptions) -> Result<CallOutcome> {
        let parsed = parsed.clone();
        if opts.allow_stack_pointers {
            target.check_stacks.clear();
        }
        let (frame, vars) = self.frame_vars()?;
        let function = frame.function.clone();
        let mut temps: Vec<FrameVar> = Vec::new();
        let mut calls = 0usize;
        let result = self.rewrite(&parsed, target, &vars, function.as_deref(), &mut temps, &mut calls, true);
        self.invalidate();
        match result? {
            Step::Stop(o) => Ok(o),
            Step::Done(Expr::Ident(id)) if id.name == MULTI => {
                // The root call with several (or no) results.
                Ok(CallOutcome::Values(
                    temps.iter().filter(|t| t.var.name.starts_with(MULTI_PREFIX)).map(|t| CallValue {
                        name: t.var.name[MULTI_PREFIX.len()..].to_string(),
                        value: Val::Value(t.value.clone()),
                    }).collect(),
                ))
            }
            Step::Done(e) => {
                let dwarf = self.program.dwarf()?.clone();
                let bin = self.program.bin.clone();
                let mut all = vars.clone();
                all.extend(temps.iter().cloned());
                let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
                let scope = Scope::new(&reader, &all, function.as_deref());
                let v = stillgo_eval::eval_ast(&e, &scope)?;
                Ok(CallOutcome::Values(vec![CallValue { name: String::new(), value: v }]))
            }
        }
    }

    /// The thread and goroutine the call runs on. debugCallV2 runs on the
    /// goroutine of the thread it is injected into, which must be running
    /// ("Check that the goroutine is in state _Grunning", the protocol
    /// comment in runtime/asm_amd64.s). When the selected goroutine is
    /// parked (blocked on a channel, sleeping), its frame still provides
    /// the arguments, and the call runs on a goroutine that is stopped in
    /// user code on a thread: the one of the last stop, else any other.
    fn call_target<'h>(&mut self) -> Result<Target<'h>> {
        let Some(gid) = self.selected_goroutine() else {
            return Err(SessionError::Invalid("the selected thread runs no goroutine: calls need a goroutine stopped in user code".into()));
        };
        let g = self.find_goroutine(gid)?;
        if g.status == GStatus::Running {
            let tid = self.current_thread()?;
            return Ok(Target { tid, stack_lo: Some(g.stack_lo), check_stacks: vec![(g.stack_lo, g.stack_hi)], frozen: Default::default(), roots: Default::default() });
        }
        let mut candidates: Vec<Tid> = Vec::new();
        if let Some(Stop::Breakpoint { tid, .. } | Stop::StepDone { tid, .. } | Stop::Interrupted { tid } | Stop::Signal { tid, .. }) = &self.last_stop {
            candidates.push(*tid);
        }
        candidates.extend(self.proc()?.threads());
        let bin = self.program.bin.clone();
        for tid in candidates {
            let Some(rid) = self.goroutine_of_thread(tid)? else { continue };
            let Ok(rg) = self.find_goroutine(rid) else { continue };
            if rg.status != GStatus::Running {
                continue;
            }
            let pc = self.proc()?.regs(tid)?.pc();
            let user = bin.pclntab().func_for_pc(pc).is_some_and(|f| !f.is_runtime());
            let sp = self.proc()?.regs(tid)?.sp();
            if user && rg.contains_sp(sp) {
                return Ok(Target {
                    tid,
                    stack_lo: Some(rg.stack_lo),
                    check_stacks: vec![(rg.stack_lo, rg.stack_hi), (g.stack_lo, g.stack_hi)],
                    frozen: Default::default(),
                    roots: Default::default(),
                });
            }
        }
        Err(SessionError::Invalid(format!(
            "goroutine {gid} is {} and no goroutine is stopped in user code to run the call on (stop one at a breakpoint first)",
            g.status.describe()
        )))
    }

    /// Runs the calls in `e` innermost first; returns `e` with each call
    /// replaced by a temporary holding its result.
    #[allow(clippy::too_many_arguments)]
    fn rewrite(
        &mut self,
        e: &Expr,
        target: &Target,
        vars: &[FrameVar],
        function: Option<&str>,
        temps: &mut Vec<FrameVar>,
        calls: &mut usize,
        root: bool,
    ) -> Result<Step> {
        macro_rules! sub {
            ($x:expr) => {
                match self.rewrite($x, target, vars, function, temps, calls, false)? {
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
                if self.is_builtin_or_conversion(&nfunc, vars, temps, function)? {
                    return Ok(Step::Done(Expr::Call { func: Box::new(nfunc), args: nargs, ellipsis: *ellipsis, span: *span }));
                }
                *calls += 1;
                if *calls > MAX_CALLS_PER_EXPR {
                    return Err(SessionError::Invalid(format!("too many calls in one expression (limit {MAX_CALLS_PER_EXPR})")));
                }
                let prepared = self.prepare_call(&nfunc, &nargs, *ellipsis, vars, temps, function, &target.check_stacks)?;
                let results = match self.run_prepared(target, prepared.clone())? {
                    ec::CallOutcome::Returned(r) => r,
                    ec::CallOutcome::Panicked(p) => return Ok(Step::Stop(CallOutcome::Panicked(p))),
                    ec::CallOutcome::Refused(r) => return Ok(Step::Stop(CallOutcome::Refused(ec::explain_refusal(&r)))),
                };
                if root && results.len() != 1 {
                    for (res, var) in results.iter().zip(&prepared.result_vars) {
                        let mut v = var.clone();
                        v.name = format!("{MULTI_PREFIX}{}", res.name);
                        temps.push(FrameVar { var: v, value: res.value.clone() });
                    }
                    return Ok(Step::Done(Expr::Ident(Ident { name: MULTI.into(), span: *span })));
                }
                let (Some(res), Some(var)) = (results.first(), prepared.result_vars.first()) else {
                    return Err(SessionError::Invalid(format!("{e} (no value) used as value")));
                };
                if results.len() > 1 {
                    return Err(SessionError::Invalid(format!("multiple-value {e} in single-value context")));
                }
                let name = format!("__stillgo_call{}", temps.len());
                let mut v = var.clone();
                v.name = name.clone();
                temps.push(FrameVar { var: v, value: res.value.clone() });
                Expr::Ident(Ident { name, span: *span })
            }
            Expr::Binary { op, lhs, rhs, span } => Expr::Binary { op: *op, lhs: Box::new(sub!(lhs)), rhs: Box::new(sub!(rhs)), span: *span },
            Expr::Unary { op, expr, span } => Expr::Unary { op: *op, expr: Box::new(sub!(expr)), span: *span },
            // `call (f())`: still the root call.
            Expr::Paren { expr, .. } if root => return self.rewrite(expr, target, vars, function, temps, calls, true),
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
                let mut opt = |x: &Option<Box<Expr>>| -> Result<std::result::Result<Option<Box<Expr>>, Step>> {
                    Ok(match x {
                        Some(x) => match self.rewrite(x, target, vars, function, temps, calls, false)? {
                            Step::Done(d) => Ok(Some(Box::new(d))),
                            s => Err(s),
                        },
                        None => Ok(None),
                    })
                };
                let low = match opt(low)? { Ok(x) => x, Err(s) => return Ok(s) };
                let high = match opt(high)? { Ok(x) => x, Err(s) => return Ok(s) };
                let max = match opt(max)? { Ok(x) => x, Err(s) => return Ok(s) };
                Expr::Slice { expr: Box::new(b), low, high, max, span: *span }
            }
            Expr::TypeAssert { expr, ty, span } => Expr::TypeAssert { expr: Box::new(sub!(expr)), ty: ty.clone(), span: *span },
            other => other.clone(),
        };
        Ok(Step::Done(out))
    }

    /// `len(x)`, `cap(x)`, `T(x)`: evaluated by the evaluator, not called.
    fn is_builtin_or_conversion(&mut self, func: &Expr, vars: &[FrameVar], temps: &[FrameVar], function: Option<&str>) -> Result<bool> {
        let local = |n: &str| vars.iter().chain(temps).any(|v| v.var.name == n || v.var.name.strip_prefix('&') == Some(n));
        if let Expr::Ident(id) = strip_parens(func) {
            if matches!(id.name.as_str(), "len" | "cap") && !local(&id.name) {
                return Ok(true);
            }
        }
        if let Some(t) = strip_parens(func).to_type() {
            if let Expr::Ident(id) = strip_parens(func) {
                if local(&id.name) {
                    return Ok(false);
                }
            }
            let dwarf = self.program.dwarf()?.clone();
            let bin = self.program.bin.clone();
            let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
            let scope = Scope::new(&reader, vars, function);
            if stillgo_eval::eval::resolve_type_in(&scope, &t.to_string()).is_ok() {
                // A name that is both a type and a function cannot happen
                // in Go; a type wins.
                let is_func = match strip_parens(func) {
                    Expr::Ident(id) => dwarf.function_by_name(&format!("{}.{}", scope.package.clone().unwrap_or_default(), id.name)).is_some(),
                    _ => false,
                };
                return Ok(!is_func);
            }
        }
        Ok(false)
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_call(
        &mut self,
        func: &Expr,
        args: &[Expr],
        ellipsis: bool,
        vars: &[FrameVar],
        temps: &[FrameVar],
        function: Option<&str>,
        stacks: &[(u64, u64)],
    ) -> Result<Prepared> {
        let dwarf = self.program.dwarf()?.clone();
        let bin = self.program.bin.clone();
        let mut all = vars.to_vec();
        all.extend(temps.iter().cloned());
        let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
        let scope = Scope::new(&reader, &all, function);
        let sym = |name: &str| bin.symbol(name).map(|s| s.addr);
        let rs = Resolver { scope: &scope, symbol: &sym, stacks: stacks.to_vec() };
        Ok(ec::prepare(&rs, func, args, ellipsis)?)
    }

    /// Makes the allocations a call needs, then runs it.
    ///
    /// Other goroutines run during every injected call, so the garbage
    /// collector runs too, and a new object must stay reachable from the
    /// moment it is allocated until the call references it:
    ///
    /// * every object is recorded in a holder, an array of pointers
    ///   allocated first, and the holder (with the first objects) is a root
    ///   of every later injection (CallEnv::roots: debugCallV2 saves the
    ///   registers in its frame, which the collector scans conservatively);
    /// * that only protects an object from the marking phases that scan the
    ///   goroutine after the object exists. A marking phase that starts
    ///   during the injection that allocates it may scan the goroutine
    ///   first, and free the object at its end. So an allocation is kept
    ///   only if no collection started during its injection
    ///   (`runtime.work.cycles`, incremented when a cycle starts:
    ///   runtime/mgc.go gcStart), and made again otherwise. An object
    ///   allocated while marking is allocated black (runtime/malloc.go), and
    ///   one allocated with no cycle starting is scanned through the holder
    ///   by the next cycle.
    ///
    /// (The runtime's pinner for debuggers, `runtime.debugPinnerV1`, Go
    /// 1.23+, does not close that window: the object is pinned by a later
    /// injection, by which time that collection may have freed it. Tested:
    /// pinning alone still let such objects be freed under a busy
    /// collector.)
    fn run_prepared(&mut self, target: &Target, mut p: Prepared) -> Result<ec::CallOutcome> {
        let allocs = std::mem::take(&mut p.allocs);
        if allocs.is_empty() {
            return self.inject_spec(target, &p.spec, &p.layout);
        }
        let r = self.allocate_and_run(target, p, &allocs);
        target.roots.borrow_mut().clear();
        r
    }

    fn allocate_and_run(&mut self, target: &Target, mut p: Prepared, allocs: &[ec::Alloc]) -> Result<ec::CallOutcome> {
        let dwarf = self.program.dwarf()?.clone();
        let bin = self.program.bin.clone();
        let rtype = {
            let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
            let scope = Scope::new(&reader, &[], Some("main.main"));
            ec::pointer_rtype(&scope)?
        };
        let slots = (allocs.len() + allocs.iter().filter(|a| a.map.is_some()).count()) as u64;
        let holder = self.allocate_fresh(target, 8 * slots, rtype)?;
        target.roots.borrow_mut().push(holder);
        let mut held = 0u64;
        let mut hold = |s: &mut Self, addr: u64| -> Result<()> {
            if held >= slots {
                return Err(SessionError::Invalid("internal: more allocations than planned".into()));
            }
            s.proc_mut()?.write_memory(holder + 8 * held, &addr.to_le_bytes())?;
            held += 1;
            let mut roots = target.roots.borrow_mut();
            if roots.len() < ec::MAX_ROOTS {
                roots.push(addr);
            }
            Ok(())
        };
        // Addresses of children, to write into their parent's data.
        let mut pending: Vec<Vec<(usize, u64)>> = vec![Vec::new(); allocs.len()];
        let bad = |what: &str| SessionError::Invalid(format!("internal: allocation {what} out of range"));
        for (i, a) in allocs.iter().enumerate() {
            let addr = self.allocate_fresh(target, a.data.len() as u64, a.rtype)?;
            hold(self, addr)?;
            let mut data = a.data.clone();
            let patches = a.inner.iter().map(|(pos, off)| (*pos, addr + *off as u64)).chain(pending[i].iter().copied());
            for (pos, ptr) in patches.collect::<Vec<_>>() {
                data.get_mut(pos..pos + 8).ok_or_else(|| bad("patch"))?.copy_from_slice(&ptr.to_le_bytes());
            }
            self.proc_mut()?.write_memory(addr, &data)?;
            // A map literal: `addr` is its staging area; the value is a map.
            let addr = match &a.map {
                Some(init) => self.build_map(target, addr, init, &mut hold)?,
                None => addr,
            };
            match a.parent {
                Some(d) => pending.get_mut(i + d).ok_or_else(|| bad("parent"))?.push((a.offset, addr)),
                None => {
                    let arg = p.spec.args.get_mut(a.arg).ok_or_else(|| bad("argument"))?;
                    arg.bytes.get_mut(a.offset..a.offset + 8).ok_or_else(|| bad("pointer"))?.copy_from_slice(&addr.to_le_bytes());
                }
            }
        }
        self.inject_spec(target, &p.spec, &p.layout)
    }

    /// Garbage collection cycles started so far (`runtime.work.cycles`,
    /// runtime/mgc.go); None when the binary does not describe it.
    fn gc_cycles(&mut self) -> Option<u32> {
        let dwarf = self.program.dwarf().ok()?.clone();
        let bin = self.program.bin.clone();
        let reader = Reader::new(self.proc().ok()?, &dwarf, bin.pclntab());
        let g = dwarf.global("runtime.work")?;
        let work = stillgo_runtime::Value::at(reader.ty(g.ty).ok()?, g.addr);
        let cycles = reader.field(&work, "cycles").ok()??;
        // atomic.Uint32: its uint32 is the only sized field.
        let stillgo_runtime::Loc::Memory(addr) = cycles.loc else { return None };
        let b = stillgo_proc::Memory::read_vec(self.proc().ok()?, addr, 4).ok()?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// Runs `f` (an injection returning a new object) until no garbage
    /// collection cycle started during it (see [`Self::run_prepared`]).
    fn fresh(&mut self, mut f: impl FnMut(&mut Self) -> Result<u64>) -> Result<u64> {
        for _ in 0..MAX_FRESH_TRIES {
            let before = self.gc_cycles();
            let addr = f(self)?;
            if before.is_none() || self.gc_cycles() == before {
                return Ok(addr);
            }
            tracing::debug!(addr, "a collection started during the allocation; allocating again");
        }
        Err(SessionError::Invalid(format!(
            "the garbage collector started a new cycle during each of {MAX_FRESH_TRIES} attempts to allocate the call's arguments; try again"
        )))
    }

    fn allocate_fresh(&mut self, target: &Target, size: u64, rtype: u64) -> Result<u64> {
        self.fresh(|s| s.allocate(target, size, rtype))
    }

    /// `runtime.mallocgc(size, typ, true)`: memory in the program's heap
    /// (`rtype` 0: without pointers). Nothing references it yet: callers
    /// keep it alive as [`Self::run_prepared`] explains.
    fn allocate(&mut self, target: &Target, size: u64, rtype: u64) -> Result<u64> {
        let dwarf = self.program.dwarf()?.clone();
        let bin = self.program.bin.clone();
        let f = bin
            .pclntab()
            .func_by_name(MALLOCGC)
            .ok_or_else(|| SessionError::Invalid(format!("{MALLOCGC} not found: cannot allocate memory for arguments")))?;
        let (uintptr, boolean, ptr) = {
            let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
            let scope = Scope::new(&reader, &[], Some("main.main"));
            (
                stillgo_eval::eval::resolve_type_in(&scope, "uintptr")?,
                stillgo_eval::eval::resolve_type_in(&scope, "bool")?,
                stillgo_eval::eval::resolve_type_in(&scope, "uintptr")?,
            )
        };
        let spec = ec::CallSpec {
            name: MALLOCGC.into(),
            pc: f.entry,
            context: None,
            args: vec![
                ec::ArgValue { ty: uintptr.clone(), bytes: size.to_le_bytes().to_vec() },
                ec::ArgValue { ty: uintptr.clone(), bytes: rtype.to_le_bytes().to_vec() },
                ec::ArgValue { ty: boolean.clone(), bytes: vec![1] },
            ],
            results: vec![("p".into(), ptr.clone())],
        };
        let layout = {
            let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
            ec::layout(&reader, &[uintptr.clone(), uintptr, boolean], &[ptr])?
        };
        match self.inject_spec(target, &spec, &layout)? {
            ec::CallOutcome::Returned(r) => {
                let v = r.first().ok_or_else(|| SessionError::Invalid("mallocgc returned nothing".into()))?;
                let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
                let addr = reader.read_u64_at(&v.value, 0)?;
                if addr == 0 {
                    return Err(SessionError::Invalid("allocation in the program failed".into()));
                }
                Ok(addr)
            }
            ec::CallOutcome::Panicked(p) => Err(SessionError::Invalid(format!("allocating memory for the arguments panicked: {p}"))),
            ec::CallOutcome::Refused(r) => Err(SessionError::Invalid(ec::explain_refusal(&r))),
        }
    }

    /// A map filled from a staging area (stillgo_eval::call::MapInit) by
    /// the runtime's makemap, mapassign and typedmemmove.
    /// The new map is held (see [`Self::run_prepared`]) before the calls
    /// that fill it: between them nothing else references it.
    fn build_map(&mut self, target: &Target, stage: u64, init: &ec::MapInit, hold: &mut dyn FnMut(&mut Self, u64) -> Result<()>) -> Result<u64> {
        let m = self.fresh(|s| s.call_runtime(target, ec::MAKEMAP, &[init.map_type, init.entries.len() as u64, 0], true))?;
        hold(self, m)?;
        for &(ko, vo) in &init.entries {
            let slot = self.call_runtime(target, ec::MAPASSIGN, &[init.map_type, m, stage + ko], true)?;
            self.call_runtime(target, ec::TYPEDMEMMOVE, &[init.elem_type, slot, stage + vo], false)?;
        }
        Ok(m)
    }

    /// Calls runtime function `name` with word arguments; returns its
    /// one-word result (0 without `result`).
    fn call_runtime(&mut self, target: &Target, name: &str, args: &[u64], result: bool) -> Result<u64> {
        let dwarf = self.program.dwarf()?.clone();
        let bin = self.program.bin.clone();
        let f = bin.pclntab().func_by_name(name).ok_or_else(|| SessionError::Invalid(format!("{name} is not in the binary: cannot build the value")))?;
        let uintptr = {
            let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
            let scope = Scope::new(&reader, &[], Some("main.main"));
            stillgo_eval::eval::resolve_type_in(&scope, "uintptr")?
        };
        let arg_types = vec![uintptr.clone(); args.len()];
        let result_types = if result { vec![uintptr.clone()] } else { vec![] };
        let spec = ec::CallSpec {
            name: name.into(),
            pc: f.entry,
            context: None,
            args: args.iter().map(|a| ec::ArgValue { ty: uintptr.clone(), bytes: a.to_le_bytes().to_vec() }).collect(),
            results: result_types.iter().map(|t| ("r".to_string(), t.clone())).collect(),
        };
        let layout = {
            let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
            ec::layout(&reader, &arg_types, &result_types)?
        };
        match self.inject_spec(target, &spec, &layout)? {
            ec::CallOutcome::Returned(r) => match r.first() {
                Some(v) => {
                    let reader = Reader::new(self.proc()?, &dwarf, bin.pclntab());
                    Ok(reader.read_u64_at(&v.value, 0)?)
                }
                None => Ok(0),
            },
            ec::CallOutcome::Panicked(p) => Err(SessionError::Invalid(format!("{name} panicked while building an argument: {p}"))),
            ec::CallOutcome::Refused(r) => Err(SessionError::Invalid(ec::explain_refusal(&r))),
        }
    }

    fn inject_spec(&mut self, target: &Target, spec: &ec::CallSpec, layout: &ec::FrameLayout) -> Result<ec::CallOutcome> {
        let dwarf = self.program.dwarf()?.clone();
        let bin = self.program.bin.clone();
        let entry = bin
            .pclntab()
            .func_by_name(DEBUG_CALL_V2)
            .ok_or_else(|| SessionError::Invalid(format!("{DEBUG_CALL_V2} not found: this program cannot run injected calls")))?
            .entry;
        let limits = self.limits;
        let roots = target.roots.borrow().clone();
        let env = CallEnv { dwarf: &dwarf, pcln: bin.pclntab(), debug_call_v2: entry, stack_lo: target.stack_lo, limits: &limits, roots: &roots };
        self.invalidate();
        let res = match target.frozen.borrow_mut().as_mut() {
            Some(ctx) => crate::freeze::inject_frozen(self.proc_mut()?, ctx, target.tid, &env, spec, layout),
            None => ec::inject(self.proc_mut()?, target.tid, &env, spec, layout),
        };
        self.invalidate();
        match res {
            Ok(o) => Ok(o),
            Err(CallError::Exited(code)) => {
                let s = Stop::Exited { code };
                self.process_gone(&s);
                self.last_stop = Some(s);
                Err(SessionError::Invalid(format!("the program exited during the call (status {code})")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Attempts at an allocation no garbage collection cycle started during.
const MAX_FRESH_TRIES: usize = 32;

const MULTI: &str = "__stillgo_results";
const MULTI_PREFIX: &str = "__stillgo_result:";

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
        Expr::Slice { expr, low, high, max, .. } => {
            contains_call(expr) || [low, high, max].iter().any(|x| x.as_deref().is_some_and(contains_call))
        }
        Expr::Composite { elems, .. } => elems.iter().any(|el| contains_call(&el.value)),
        _ => false,
    }
}
