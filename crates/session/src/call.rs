//! `call EXPR`: runs the function calls in an expression in the stopped
//! program, the one entry for calls. The session is the glue between the
//! language and the world:
//!
//! ```text
//!   stillgo_eval::call::nested::parse_call  EXPR must call something
//!   Session::call_target                    the thread the calls run on (here)
//!   stillgo_world::Caller (+ frozen)        freeze every other user goroutine
//!   stillgo_eval::call::run_calls           innermost call first:
//!     Runner::with_resolver                   the frame's scope (here)
//!     stillgo_eval::call::prepare             callee, argument bytes, heap objects
//!     Runner::run -> Caller::run              heap objects, then debugCallV2
//!   Caller::finish                          thaw, on every path
//! ```
//!
//! Arguments are evaluated in the selected frame; the call itself runs on
//! the selected goroutine's thread, from its innermost frame (where the
//! goroutine is stopped). A goroutine that is not running on a thread
//! (parked) has its calls run on another goroutine stopped in user code.

use stillgo_eval::call::nested::parse_call;
use stillgo_eval::call::{run_calls, CallRunner, Resolver};
use stillgo_eval::Scope;
use stillgo_proc::Tid;
use stillgo_runtime::vars::FrameVar;
use stillgo_runtime::{GStatus, Reader};
use stillgo_world::{Blocked, BlockedChoice, CallError, Caller, FreezeError, FreezeFacts, FreezeReport, PreparedCall};

use crate::{Result, Session, SessionError, Stop};

pub use stillgo_eval::call::{CallValue, Outcome as CallOutcome};

/// Options of a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Skip the check refusing arguments that point into the goroutine's
    /// stack (`call -unsafe`).
    pub allow_stack_pointers: bool,
    /// Let every other goroutine run during the call (`call -thaw`, `config
    /// freeze off`): the behaviour before the frozen world. By default the
    /// other user goroutines are frozen (docs/frozen-world.md).
    pub thaw: bool,
}

/// Where the calls run.
struct Target {
    tid: Tid,
    stack_lo: Option<u64>,
    /// Stack bounds for the escape check (emptied by `-unsafe`).
    check_stacks: Vec<(u64, u64)>,
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
        let mut thaw = |_: &Blocked| BlockedChoice::Thaw;
        let (out, report) = self.call_frozen_with(expr, opts, &mut thaw)?;
        if let Some(b) = report.blocked {
            return Err(SessionError::CallBlocked {
                goroutine: b.goroutine,
                what: b.describe(),
                discarded: matches!(&out, CallOutcome::Values(v) if !v.is_empty()),
            });
        }
        Ok(out)
    }

    /// Runs `expr`'s calls; unless `opts.thaw`, every other user goroutine
    /// stays frozen meanwhile. `on_blocked` is asked what to do when the
    /// call waits a second on something only a frozen goroutine can provide
    /// (again every second while the answer is `Wait`).
    pub fn call_frozen_with(
        &mut self,
        expr: &str,
        opts: CallOptions,
        on_blocked: &mut dyn FnMut(&Blocked) -> BlockedChoice,
    ) -> Result<(CallOutcome, FreezeReport)> {
        let parsed = parse_call(expr)?;
        let mut target = self.call_target()?;
        if opts.allow_stack_pointers {
            target.check_stacks.clear();
        }
        let mut caller = Caller::new(self.program.dwarf()?.clone(), self.program.bin.clone(), self.limits, target.tid, target.stack_lo)?;
        if !opts.thaw {
            caller = caller.frozen(self.freeze_facts()?, on_blocked);
        }
        self.invalidate();
        let frozen = caller.freeze(self.proc_mut()?);
        self.invalidate();
        let result = match frozen {
            Ok(()) => self.run_calls_with(&mut caller, &parsed, target.check_stacks),
            Err(e) => Err(self.freeze_failed(e)),
        };
        // Thaw on every path; a thaw failure wins over the call's result
        // (the user must know the program may be left frozen).
        let (report, thawed) = caller.finish(self.proc.as_mut());
        self.invalidate();
        if let Err(e) = thawed {
            return Err(SessionError::MayStayFrozen(e));
        }
        Ok((result?, report))
    }

    fn run_calls_with(&mut self, caller: &mut Caller<'_>, parsed: &stillgo_eval::ast::Expr, stacks: Vec<(u64, u64)>) -> Result<CallOutcome> {
        let (frame, vars) = self.frame_vars()?;
        let mut runner = Runner { session: self, caller, vars, function: frame.function.clone(), stacks };
        let r = run_calls(&mut runner, parsed);
        self.invalidate();
        r
    }

    /// What the frozen world needs to know about the program, resolved at
    /// the first frozen call or step.
    pub(crate) fn freeze_facts(&mut self) -> Result<FreezeFacts> {
        let layout = self.program.layout()?.clone();
        let p = &self.program;
        p.freeze_facts
            .get_or_init(|| FreezeFacts::resolve(p.dwarf.as_deref(), &p.bin, &layout, p.go_version.as_ref()))
            .clone()
            .map_err(SessionError::Freeze)
    }

    /// A freeze that failed; when the program exited meanwhile, the session
    /// knows it is gone.
    pub(crate) fn freeze_failed(&mut self, e: FreezeError) -> SessionError {
        if let FreezeError::Exited(code) = e {
            self.program_exited(code);
        }
        SessionError::Freeze(e)
    }

    /// The program ended while the debugger ran code in it.
    pub(crate) fn program_exited(&mut self, code: i32) {
        let s = Stop::Exited { code };
        self.process_gone(&s);
        self.last_stop = Some(s);
    }

    /// The thread and goroutine the call runs on. debugCallV2 runs on the
    /// goroutine of the thread it is injected into, which must be running
    /// ("Check that the goroutine is in state _Grunning", the protocol
    /// comment in runtime/asm_amd64.s). When the selected goroutine is
    /// parked (blocked on a channel, sleeping), its frame still provides
    /// the arguments, and the call runs on a goroutine that is stopped in
    /// user code on a thread: the one of the last stop, else any other.
    fn call_target(&mut self) -> Result<Target> {
        let Some(gid) = self.selected_goroutine() else {
            return Err(SessionError::Invalid("the selected thread runs no goroutine: calls need a goroutine stopped in user code".into()));
        };
        let g = self.find_goroutine(gid)?;
        if g.status == GStatus::Running {
            let tid = self.current_thread()?;
            return Ok(Target { tid, stack_lo: Some(g.stack_lo), check_stacks: vec![(g.stack_lo, g.stack_hi)] });
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
            let user = bin.pclntab().func_for_pc(pc).is_some_and(|f| stillgo_runtime::code::runs_as_user(bin.pclntab(), &f, pc));
            let sp = self.proc()?.regs(tid)?.sp();
            if user && rg.contains_sp(sp) {
                return Ok(Target {
                    tid,
                    stack_lo: Some(rg.stack_lo),
                    check_stacks: vec![(rg.stack_lo, rg.stack_hi), (g.stack_lo, g.stack_hi)],
                });
            }
        }
        Err(SessionError::Invalid(format!(
            "goroutine {gid} is {} and no goroutine is stopped in user code to run the call on (stop one at a breakpoint first)",
            g.status.describe()
        )))
    }

}

/// The session's side of [`run_calls`]: scopes of the selected frame, and
/// calls run through the [`Caller`].
struct Runner<'s, 'c, 'h> {
    session: &'s mut Session,
    caller: &'c mut Caller<'h>,
    vars: Vec<FrameVar>,
    function: Option<std::sync::Arc<str>>,
    stacks: Vec<(u64, u64)>,
}

impl CallRunner for Runner<'_, '_, '_> {
    type Error = SessionError;

    fn with_resolver<T>(&mut self, temps: &[FrameVar], f: impl FnOnce(&Resolver) -> T) -> Result<T> {
        let dwarf = self.session.program.dwarf()?.clone();
        let bin = self.session.program.bin.clone();
        let mut all = self.vars.clone();
        all.extend(temps.iter().cloned());
        let reader = Reader::new(self.session.proc()?, &dwarf, bin.pclntab());
        let scope = Scope::new(&reader, &all, self.function.as_deref());
        let sym = |name: &str| bin.symbol(name).map(|s| s.addr);
        let rs = Resolver { scope: &scope, symbol: &sym, stacks: self.stacks.clone() };
        Ok(f(&rs))
    }

    fn run(&mut self, call: PreparedCall) -> Result<stillgo_world::CallOutcome> {
        self.session.invalidate();
        let res = self.caller.run(self.session.proc_mut()?, call);
        self.session.invalidate();
        match res {
            Ok(o) => Ok(o),
            Err(CallError::Exited(code)) => {
                self.session.program_exited(code);
                Err(SessionError::Call(CallError::Exited(code)))
            }
            Err(e) => Err(SessionError::Call(e)),
        }
    }
}
