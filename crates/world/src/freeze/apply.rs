//! Carrying out the actions a scan decided, and the freezer's breakpoint
//! hits: an exempt goroutine back at its catch point, a watched goroutine
//! entering user code through the runtime. Both are stopped there (frozen)
//! with the same actions a scan would give them.

use stillgo_binary::Pclntab;
use stillgo_proc::{Process, Tid};
use stillgo_runtime::goroutines::{read_goroutine, thread_goroutine_addr};
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::code;

use super::catch::Catch;
use super::state::*;

impl Freezer {
    pub(super) fn apply(&mut self, proc: &mut Process, pcln: &Pclntab, actions: &[Action]) -> Result<(), FreezeError> {
        let sl = self.facts.sched.clone();
        for a in actions {
            match *a {
                Action::Preempt { tid, g } => {
                    tracing::debug!(tid, g, "preempt: asyncPreempt pushed");
                    // runtime/signal_amd64.go sigctxt.pushCall, as done by
                    // doSigPreempt: the goroutine "calls" asyncPreempt from
                    // the interrupted pc, which it resumes at once thawed.
                    // The next instruction it executes is the runtime's.
                    let mut regs = proc.regs(tid)?;
                    let sp = regs.sp() - 8;
                    proc.write_memory(sp, &regs.pc().to_le_bytes())?;
                    regs.set_sp(sp);
                    regs.set_pc(self.facts.async_preempt);
                    proc.set_regs(tid, &regs)?;
                    self.parking.insert(g);
                    self.seen.preempted.insert(g);
                }
                Action::Parking => {}
                Action::Retry { g } => request_prologue_preemption(proc, &sl, g)?,
                Action::Watch { g, ret } => {
                    self.seen.watched.insert(g);
                    request_prologue_preemption(proc, &sl, g)?;
                    let mut at = self.facts.user_callback_calls.clone();
                    at.extend(ret.filter(|&r| self.valid_catch(proc, pcln, r)));
                    self.watch(proc, &at)?;
                }
                Action::Exempt { g, ret, .. } if !self.valid_catch(proc, pcln, ret) => {
                    tracing::debug!(g, ret, "no breakpoint at a doubtful address; asking at its next prologue");
                    request_prologue_preemption(proc, &sl, g)?;
                }
                Action::Exempt { g, start_pc, ret, .. } => {
                    self.seen.exempted.insert(g);
                    // isSystemGoroutine (runtime/traceback.go) decides by
                    // g.startpc: pointing it into package runtime makes the
                    // scheduler run the goroutine while user scheduling is
                    // off. The original is restored when it reaches `ret`.
                    if !self.exempt.contains_key(&g) {
                        self.override_startpc(proc, g)?;
                    }
                    self.exempt.insert(g, (start_pc, ret));
                    if !proc.has_breakpoint(ret) {
                        proc.set_breakpoint(ret)?;
                        self.bps.push(ret);
                    }
                    // A runtime error while exempt (a send on a channel
                    // the call closed...) makes it run deferred calls from
                    // gopanic, and a recover() resumes it elsewhere than
                    // `ret`: watched there too.
                    let panics = self.facts.panic_callback_calls.clone();
                    self.watch(proc, &panics)?;
                }
            }
        }
        Ok(())
    }

    /// A thread stopped at a freezer breakpoint: if its goroutine is an
    /// exempt one coming back to user code, freeze it there (original
    /// startpc, then asyncPreempt). The breakpoint stays while another
    /// exempt goroutine may return to the same place (a shared function's
    /// return address): lifting it even for a moment let such a goroutine
    /// through (found by experiment). A thread resumed at a breakpoint is
    /// stepped over it by the process layer.
    pub(super) fn exempt_returned(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, pc: u64) -> Result<(), FreezeError> {
        let layout = self.facts.layout.clone();
        let Ok(regs) = proc.regs(tid) else { return Ok(()) };
        let Ok(Some(g)) = thread_goroutine_addr(proc, &layout, regs.fs_base()) else { return Ok(()) };
        let Some(&(start_pc, ret)) = self.exempt.get(&g) else { return Ok(()) };
        if ret != pc {
            return Ok(());
        }
        self.exempt.remove(&g);
        self.seen.caught.insert(g);
        tracing::debug!(g, tid, pc, "exempt goroutine back at its breakpoint");
        self.settle_override(proc, g, start_pc)?;
        self.release_catch_point(proc, pc)?;
        // A return address is normally an asynchronous safe point; inside
        // an unsafe sequence (a write barrier call's return) step to the
        // end of it first.
        let stack_lo = read_goroutine(proc, &layout, g).map_err(|e| FreezeError::Failed(e.to_string()))?.stack_lo;
        let mut action = self.stop_here(proc, pcln, tid, g, stack_lo)?;
        if let Action::Retry { .. } = action {
            // Stepping to a safe point led into a runtime call (or the
            // stack is short): exempt it again up to its next return into
            // user code, rather than let it run user code to its next
            // prologue.
            let regs = proc.regs(tid)?;
            let frames = unwind(proc, pcln, UnwindStart { pc: regs.pc(), sp: regs.sp(), bp: regs.bp() }, 64);
            match self.catch(pcln, &frames) {
                Catch::Return(ret) => action = Action::Exempt { g, start_pc, ret, may_run: true },
                Catch::CallsUser(ret) => action = Action::Watch { g, ret },
                _ => tracing::debug!(g, pc, "exempt goroutine back in user code where it cannot be preempted"),
            }
        }
        self.apply(proc, pcln, &[action])?;
        Ok(())
    }

    /// A thread stopped at one of the freezer's breakpoints.
    pub(super) fn on_freezer_bp(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, pc: u64) -> Result<(), FreezeError> {
        // Each checks whose goroutine it is: an exempt one back at its
        // catch point, a watched or exempt one entering user code.
        self.exempt_returned(proc, pcln, tid, pc)?;
        if self.watch_points.contains(&pc) {
            self.watch_hit(proc, pcln, tid, pc)?;
        }
        Ok(())
    }

    /// A thread at a watch point (see [`Action::Watch`]). A goroutine that
    /// must be frozen is stopped at the user code it is entering: at an
    /// indirect call of gopanic/deferreturn/..., after executing the CALL
    /// (if the callee is user code); at a return address, there. Others
    /// (the call's own goroutines, runtime ones) pass.
    pub(super) fn watch_hit(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, pc: u64) -> Result<(), FreezeError> {
        let layout = self.facts.layout.clone();
        let Ok(regs) = proc.regs(tid) else { return Ok(()) };
        let Ok(Some(g)) = thread_goroutine_addr(proc, &layout, regs.fs_base()) else { return Ok(()) };
        if Some(g) == self.call_g || self.family.contains_key(&g) {
            return Ok(());
        }
        let gr = read_goroutine(proc, &layout, g).map_err(|e| FreezeError::Failed(e.to_string()))?;
        // An exempt goroutine's own start function is the one it had.
        let exempt = self.exempt.get(&g).copied();
        let start_pc = exempt.map_or(gr.start_pc, |(orig, _)| orig);
        if !self.is_user_start(pcln, start_pc) {
            return Ok(());
        }
        if self.facts.user_callback_calls.contains(&pc) {
            // Execute the CALL alone: the thread is then at the callee's
            // first instruction.
            if !step_once(proc, tid)? {
                return Ok(());
            }
            let at = proc.regs(tid)?.pc();
            let user = pcln.func_for_pc(at).is_some_and(|f| code::runs_as_user(pcln, &f, at) && !f.is_asm());
            if !user {
                return Ok(());
            }
        }
        tracing::debug!(g, tid, pc, exempt = exempt.is_some(), "watched goroutine entering user code");
        if let Some((orig, ret)) = exempt {
            // Through a deferred call or a recover: it will not reach its
            // catch point first. A user goroutine again, stopped here.
            self.exempt.remove(&g);
            self.settle_override(proc, g, orig)?;
            self.release_catch_point(proc, ret)?;
        }
        let action = self.stop_here(proc, pcln, tid, g, gr.stack_lo)?;
        self.apply(proc, pcln, &[action])
    }
}
