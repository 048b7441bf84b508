//! The freeze: disable user scheduling, patch the runtime functions that
//! would re-enable it, then repeat scan/apply rounds, letting the other
//! threads run a moment between them, until no thread runs a user
//! goroutine. docs/frozen-world.md, "Protocol as implemented", steps 2
//! and 3.

use std::time::Instant;

use stillgo_binary::Pclntab;
use stillgo_proc::{Memory, Process, ResumeMode, StopEvent, Tid};
use stillgo_runtime::versions;

use crate::events::wait_alive;

use super::state::*;

impl Freezer {
    /// Freezes every user goroutine but the one on `call_tid` (all threads
    /// stopped on entry and on return). Undoes itself on failure.
    pub fn freeze(&mut self, proc: &mut Process, pcln: &Pclntab, call_tid: Tid) -> Result<(), FreezeError> {
        if self.frozen {
            return Ok(());
        }
        if read_u8(proc, self.facts.sched.disable_user)? != 0 {
            return Err(FreezeError::Failed("user scheduling is already disabled in the program (runtime.sched.disable.user is set)".into()));
        }
        self.frozen = true;
        self.hold = Some(call_tid);
        self.preempt_stack = self
            .facts
            .async_preempt_stack
            .and_then(|a| proc.read_u64(a).ok())
            .filter(|&v| v > 0 && v <= versions::ASYNC_PREEMPT_STACK_MAX)
            .unwrap_or(versions::ASYNC_PREEMPT_STACK_MAX);
        let r = self.freeze_inner(proc, pcln, call_tid);
        if let Err(e) = r {
            if let Err(t) = self.thaw(proc, pcln) {
                tracing::warn!(%t, "thaw after a failed freeze");
            }
            return Err(e);
        }
        Ok(())
    }

    pub(super) fn freeze_inner(&mut self, proc: &mut Process, pcln: &Pclntab, call_tid: Tid) -> Result<(), FreezeError> {
        // Goroutines stopped in runtime internals are exempted before user
        // scheduling goes off, so none of them is parked while holding a
        // runtime semaphore the call may need (a GC the call starts waits
        // for work.startSema, gcsema and worldsema).
        self.in_c = self.c_threads(proc, pcln, call_tid);
        let actions = self.scan(proc, pcln, call_tid)?;
        self.apply(proc, pcln, &actions)?;
        proc.write_memory(self.facts.sched.disable_user, &[1])?;
        for at in [self.facts.sched_enable_user, self.facts.checkdead] {
            let orig = read_u8(proc, at)?;
            self.patches.push((at, orig));
            proc.write_memory(at, &[versions::X86_RET])?;
        }
        let start = Instant::now();
        let mut pause = QUIESCE_FIRST_PAUSE;
        let interrupter = proc.interrupter();
        let mut stop_pending = false;
        self.rounds = 0;
        loop {
            let actions = self.scan(proc, pcln, call_tid)?;
            // An exemption without a valid catch point falls back to a
            // prologue request: not stopped yet either.
            let mut signals = actions
                .iter()
                .filter(|a| match a {
                    Action::Preempt { .. } | Action::Retry { .. } | Action::Parking | Action::Watch { .. } => true,
                    // (One left parked stays held by the scheduler.)
                    Action::Exempt { ret, may_run, .. } => *may_run && !self.valid_catch(proc, pcln, *ret),
                })
                .count();
            if read_u8(proc, self.facts.sched.disable_user)? == 0 {
                // A thread that was inside schedEnableUser when it was
                // patched finished it (see Self::inside_patched): user
                // scheduling is on again and the goroutines that were
                // parked are runnable. Off again, and another round.
                tracing::debug!(round = self.rounds, "user scheduling was re-enabled during the freeze; disabling it again");
                proc.write_memory(self.facts.sched.disable_user, &[1])?;
                signals += 1;
            }
            // Exemptions take effect now, even when nothing else is left:
            // an exempt goroutine must have its breakpoint before the call.
            self.apply(proc, pcln, &actions)?;
            if signals == 0 && !stop_pending {
                tracing::debug!(rounds = self.rounds, elapsed = ?start.elapsed(), "frozen");
                if tracing::enabled!(tracing::Level::DEBUG) {
                    self.snapshot = self.positions(proc, pcln);
                }
                if tracing::enabled!(tracing::Level::TRACE) {
                    self.dump(proc, pcln, "after freeze");
                }
                return Ok(());
            }
            tracing::debug!(round = self.rounds, ?actions, "quiesce");
            if tracing::enabled!(tracing::Level::TRACE) {
                self.dump(proc, pcln, "quiesce round");
            }
            if start.elapsed() > QUIESCE_DEADLINE {
                return Err(FreezeError::Failed(format!(
                    "{signals} goroutine(s) did not stop within {QUIESCE_DEADLINE:?} (a loop without function calls can only be stopped by asynchronous preemption: is GODEBUG=asyncpreemptoff=1 set?); use call -thaw to run the call with the program running"
                )));
            }
            self.rounds += 1;
            let others: Vec<Tid> = self.may_run(proc, &[call_tid]).into_iter().filter(|&t| proc.regs(t).is_ok()).collect();
            if others.is_empty() {
                return Ok(());
            }
            proc.resume(ResumeMode::Only(others))?;
            if !stop_pending {
                std::thread::sleep(pause);
                interrupter.interrupt()?;
                stop_pending = true;
            }
            pause = (pause * 2).min(QUIESCE_MAX_PAUSE);
            match wait_alive(proc, FreezeError::Exited)? {
                StopEvent::Interrupted { .. } => stop_pending = false,
                StopEvent::Breakpoint { tid, pc } if self.owns_bp(pc) => self.on_freezer_bp(proc, pcln, tid, pc)?,
                // Signals are passed on by the resume; other breakpoints
                // and traps cannot come from frozen goroutines.
                _ => {}
            }
            if !interrupter.is_pending() {
                stop_pending = false;
            }
        }
    }
}
