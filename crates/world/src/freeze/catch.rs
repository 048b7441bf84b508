//! Catch points: where a goroutine that is let through the runtime (exempt
//! or watched) is stopped before it executes user code again: a return
//! address into user code, a known resume point, an indirect call of the
//! runtime into user code. Breakpoints are only placed where an
//! instruction starts. docs/frozen-world.md, "Protocol as implemented",
//! steps 1 and 3.

use stillgo_binary::Pclntab;
use stillgo_proc::{Memory, Process};
use stillgo_runtime::{code, preempt};
use stillgo_runtime::versions;

use super::state::*;

/// Where a running goroutine can be stopped without executing user code.
#[derive(Debug, Clone, Copy)]
pub(super) enum Catch {
    /// At this pc of the innermost frame: it is in user code.
    Here(u64),
    /// At this return address into user code (it is inside the runtime, or
    /// in user assembly, which is never preempted asynchronously).
    Return(u64),
    /// The stack could not be read to a user frame.
    Unknown,
    /// In a runtime function that calls user code itself (a deferred call
    /// run by gopanic...) before it returns to its user frame (at this
    /// return address, if known).
    CallsUser(Option<u64>),
}

pub(super) fn catch_point(pcln: &Pclntab, frames: &[stillgo_runtime::Frame]) -> Catch {
    let mut calls_user = false;
    for (i, f) in frames.iter().enumerate() {
        if i > 0 && f.physical == 0 {
            // An inlined frame shares its pc with the frame below.
            continue;
        }
        let Some(func) = pcln.func_for_pc(f.lookup_pc) else { return Catch::Unknown };
        if !code::runs_as_user(pcln, &func, f.lookup_pc) || func.is_asm() {
            // It would run user code (a deferred call...) before
            // returning there.
            calls_user |= f.function.as_deref().is_some_and(versions::calls_user_code);
            continue;
        }
        if calls_user {
            return Catch::CallsUser(Some(f.pc));
        }
        return if i == 0 { Catch::Here(f.pc) } else { Catch::Return(f.pc) };
    }
    if calls_user {
        Catch::CallsUser(None)
    } else {
        Catch::Unknown
    }
}

impl Freezer {
    /// [`catch_point`], recording a return address from `asyncPreempt`
    /// (pushed by the runtime's SIGURG handler or by the freezer: the
    /// interrupted pc, where the goroutine resumes) as a valid catch
    /// point although no CALL precedes it. Without it such a goroutine
    /// (in flight after a preemption) got only a prologue request, which a
    /// loop without calls never honours (found by experiment: a spinning
    /// goroutine ran through a frozen call).
    pub(super) fn catch(&mut self, pcln: &Pclntab, frames: &[stillgo_runtime::Frame]) -> Catch {
        let c = catch_point(pcln, frames);
        if let Catch::Return(ret) = c {
            let user = frames.iter().position(|f| f.pc == ret && f.physical > 0);
            let below = user.and_then(|i| i.checked_sub(1)).and_then(|i| frames.get(i));
            if below.is_some_and(|f| f.function.as_deref() == Some(versions::ASYNC_PREEMPT)) {
                self.resume_points.insert(ret);
            }
        }
        c
    }

    /// Breakpoints (set unless one is there already) at which goroutines
    /// entering user code are stopped (see [`Self::watch_hit`]).
    pub(super) fn watch(&mut self, proc: &mut Process, at: &[u64]) -> Result<(), FreezeError> {
        for &pc in at {
            if self.watch_points.contains(&pc) {
                continue;
            }
            if !proc.has_breakpoint(pc) {
                proc.set_breakpoint(pc)?;
                self.watch_bps.push(pc);
            }
            self.watch_points.insert(pc);
        }
        Ok(())
    }

    /// Removes the catch breakpoint at `pc` once no exempt goroutine waits
    /// there, unless it is also a watch point or was not the freezer's.
    pub(super) fn release_catch_point(&mut self, proc: &mut Process, pc: u64) -> Result<(), FreezeError> {
        if !self.exempt.values().any(|&(_, r)| r == pc) && !self.watch_points.contains(&pc) && self.bps.contains(&pc) {
            proc.remove_breakpoint(pc)?;
            self.bps.retain(|&b| b != pc);
        }
        Ok(())
    }

    /// Whether a catch breakpoint may go at `at`: a return address (a CALL
    /// ends there) or a pc where the goroutine is known to resume; never
    /// inside an instruction.
    pub(super) fn valid_catch(&self, proc: &Process, pcln: &Pclntab, at: u64) -> bool {
        if proc.has_breakpoint(at) {
            return true;
        }
        // An instruction must start there (decoded from the function's
        // entry; process memory reads hide breakpoints).
        let Some(f) = pcln.func_for_pc(at) else { return false };
        let len = at.saturating_sub(f.entry) + 16;
        if len > MAX_DECODE || !proc.read_vec(f.entry, len as usize).is_ok_and(|code| preempt::is_instruction_boundary(&code, f.entry, at)) {
            return false;
        }
        let mut before = [0u8; 7];
        if proc.read(at.saturating_sub(7), &mut before).is_err() {
            return false;
        }
        preempt::follows_call(&before, at) || self.resume_points.contains(&at)
    }
}
