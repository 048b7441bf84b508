//! One expression's calls on one thread: the [`Caller`] is what the
//! session holds while `call EXPR` runs. It knows the thread and goroutine
//! the calls run on, whether the rest of the world is frozen around them,
//! and which fresh heap objects the next injection must keep alive
//! ([`crate::heap`]). Each call goes through [`crate::inject`]; with the
//! world frozen, through the freezer's hooks ([`crate::freeze::FrozenCall`]).
//!
//! ```text
//!   Caller::new            the thread, its goroutine's stack, debugCallV2
//!   Caller::frozen         + a Freezer: the world will be frozen
//!   Caller::freeze         freeze every other user goroutine (once)
//!   Caller::run(call)      allocations (heap.rs), then the call (inject.rs)
//!   Caller::finish         thaw, on every path; what the freezer did
//! ```

use std::sync::Arc;

use stillgo_binary::Binary;
use stillgo_dwarf::DebugInfo;
use stillgo_proc::{Process, Tid};
use stillgo_runtime::versions::DEBUG_CALL_V2;
use stillgo_runtime::Limits;

use crate::abi::FrameLayout;
use crate::freeze::{Blocked, BlockedChoice, FreezeError, FreezeFacts, FreezeReport, Freezer, FrozenCall};
use crate::inject::{inject, inject_with, CallEnv, CallOutcome, CallSpec};
use crate::CallError;

/// The frozen world of one [`Caller`] and whom to ask when a call blocks
/// on it.
struct Frozen<'h> {
    freezer: Freezer,
    on_blocked: &'h mut dyn FnMut(&Blocked) -> BlockedChoice,
}

/// Runs the calls of one expression on one thread (see the module doc).
pub struct Caller<'h> {
    pub(crate) dwarf: Arc<DebugInfo>,
    pub(crate) bin: Arc<Binary>,
    debug_call_v2: u64,
    limits: Limits,
    tid: Tid,
    /// `g.stack.lo` of the goroutine the calls run on.
    stack_lo: Option<u64>,
    frozen: Option<Frozen<'h>>,
    /// Fresh allocations the next injections must keep alive
    /// ([`CallEnv::roots`]).
    pub(crate) roots: Vec<u64>,
}

impl<'h> Caller<'h> {
    /// Calls on thread `tid`, whose goroutine's stack starts at `stack_lo`;
    /// every other thread runs during each call unless [`Caller::frozen`].
    pub fn new(dwarf: Arc<DebugInfo>, bin: Arc<Binary>, limits: Limits, tid: Tid, stack_lo: Option<u64>) -> Result<Caller<'h>, CallError> {
        let debug_call_v2 = bin
            .pclntab()
            .func_by_name(DEBUG_CALL_V2)
            .ok_or_else(|| CallError::Refused(format!("{DEBUG_CALL_V2} not found: this program cannot run injected calls")))?
            .entry;
        Ok(Caller { dwarf, bin, debug_call_v2, limits, tid, stack_lo, frozen: None, roots: Vec::new() })
    }

    /// The calls run with every other user goroutine frozen
    /// (docs/frozen-world.md). `on_blocked` is asked what to do when a call
    /// waits a second on something only a frozen goroutine can provide
    /// (again every second while the answer is `Wait`).
    pub fn frozen(mut self, facts: FreezeFacts, on_blocked: &'h mut dyn FnMut(&Blocked) -> BlockedChoice) -> Caller<'h> {
        self.frozen = Some(Frozen { freezer: Freezer::new(facts), on_blocked });
        self
    }

    /// The thread the calls run on.
    pub fn tid(&self) -> Tid {
        self.tid
    }

    /// Freezes every other user goroutine (nothing without
    /// [`Caller::frozen`]). Whatever it returns, [`Caller::finish`] must
    /// follow: a freeze that failed half-way is undone there.
    pub fn freeze(&mut self, proc: &mut Process) -> Result<(), FreezeError> {
        match self.frozen.as_mut() {
            Some(f) => f.freezer.freeze(proc, self.bin.pclntab(), self.tid),
            None => Ok(()),
        }
    }

    /// One injected call of `spec` (its arguments already in place), with
    /// the caller's roots kept alive; registers and stack of the thread are
    /// restored in every case.
    pub fn inject(&mut self, proc: &mut Process, spec: &CallSpec, layout: &FrameLayout) -> Result<CallOutcome, CallError> {
        let env = CallEnv {
            dwarf: &self.dwarf,
            pcln: self.bin.pclntab(),
            debug_call_v2: self.debug_call_v2,
            stack_lo: self.stack_lo,
            limits: &self.limits,
            roots: &self.roots,
        };
        let Some(f) = self.frozen.as_mut() else { return inject(proc, self.tid, &env, spec, layout) };
        let mut hooks = FrozenCall::new(&mut f.freezer, env.pcln, &mut *f.on_blocked);
        let res = inject_with(proc, self.tid, &env, spec, layout, &mut hooks);
        if proc.is_alive() {
            if let Err(e) = hooks.finish(proc, self.tid) {
                return match (res, e) {
                    (_, FreezeError::Exited(c)) => Err(CallError::Exited(c)),
                    (Ok(_), e) => Err(e.into()),
                    (Err(r), _) => Err(r),
                };
            }
        }
        res
    }

    /// Thaws the world (when it was frozen) and says what the freezer did.
    /// Runs on every path out of a call, success or error alike: a thaw
    /// only writes memory, so it works whenever the process is alive and
    /// stopped.
    pub fn finish(self, proc: Option<&mut Process>) -> (FreezeReport, Result<(), FreezeError>) {
        let Some(mut f) = self.frozen else { return (FreezeReport::default(), Ok(())) };
        let report = f.freezer.report();
        let thawed = match proc {
            Some(p) if p.is_alive() => f.freezer.thaw(p, self.bin.pclntab()),
            _ => Ok(()),
        };
        (report, thawed)
    }
}
