//! Goroutines the runtime must keep running during a frozen call: those
//! stopped inside the runtime (exempt until they return to user code), the
//! call's own goroutine and the goroutines it starts (its family), a frozen
//! step's goroutine. Each runs as a system goroutine while its `startpc`
//! points into package runtime (isSystemGoroutine, runtime/traceback.go),
//! so the scheduler keeps running it while user scheduling is disabled.
//! docs/frozen-world.md, "Protocol as implemented", steps 1 and 4.

use stillgo_binary::Pclntab;
use stillgo_proc::{Memory, Process, Tid};
use stillgo_runtime::goroutines::thread_goroutine_addr;
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::code;
use stillgo_runtime::versions::{self, GStatus};

use super::state::*;

/// For a goroutine stopped at `start`: the return address into its first
/// user frame, when the runtime frames above it are not just parking or
/// preemption plumbing (see [`PARK_FRAMES`]); None when it is at user level
/// (or nothing better is known).
pub(super) fn internal_return(proc: &Process, pcln: &Pclntab, start: UnwindStart) -> Option<u64> {
    let frames = unwind(proc, pcln, start, 64);
    let mut internal = false;
    for f in &frames {
        let physical_runtime = pcln.func_for_pc(f.lookup_pc).map_or(true, |func| !code::runs_as_user(pcln, &func, f.lookup_pc));
        if !physical_runtime {
            // The first user frame: a return address only if it is a caller.
            return if internal && f.physical > 0 { Some(f.pc) } else { None };
        }
        let name = f.function.as_deref().unwrap_or("");
        if versions::calls_user_code(name) {
            // Let through, it would run user code (a deferred call) before
            // it returns there: left to the scheduler, which keeps it off
            // while user scheduling is disabled.
            return None;
        }
        if code::is_runtime_name(name) && !versions::PARK_FRAMES.contains(&name) {
            internal = true;
        }
    }
    None
}

impl Freezer {
    /// Watches goroutine creation while the call runs: goroutines the call
    /// (or one of the goroutines it started) creates run with it.
    pub(super) fn watch_spawns(&mut self, proc: &mut Process, call_g: u64) -> Result<(), FreezeError> {
        self.family.insert(call_g, 0);
        for &pc in &self.facts.newproc1_returns {
            if !proc.has_breakpoint(pc) {
                proc.set_breakpoint(pc)?;
                self.spawn_bps.push(pc);
            }
        }
        Ok(())
    }

    /// Points `g.startpc` into package runtime (see [`Action::Exempt`]).
    ///
    /// `sched.ngsys` is left alone, so `runtime.NumGoroutine()` stays right
    /// during the call (the runtime adjusts it only at creation and in
    /// gdestroy, by isSystemGoroutine, runtime/proc.go). The one case that
    /// needs a fix-up is a goroutine that exits while overridden: gdestroy
    /// then uncounts it as a system goroutine, which
    /// [`Self::settle_override`] makes up for.
    pub(super) fn override_startpc(&mut self, proc: &mut Process, g: u64) -> Result<(), FreezeError> {
        let at = g + self.facts.layout.g_startpc;
        if self.overridden.contains(&g) {
            if proc.read_u64(at)? == self.facts.sched_enable_user {
                return Ok(());
            }
            // Exited while overridden and reused since (newproc1 wrote a new
            // startpc): settle the old override first.
            self.settle_override(proc, g, 0)?;
        }
        proc.write_memory(at, &self.facts.sched_enable_user.to_le_bytes())?;
        self.overridden.insert(g);
        Ok(())
    }

    /// Undoes [`Self::override_startpc`]: a live goroutine gets `orig`
    /// back. One that exited while overridden (dead, or reused with a new
    /// startpc) was uncounted by gdestroy as a system goroutine, taking
    /// one from `sched.ngsys` that was never added: it is given back. (A
    /// goroutine stopped inside gdestroy between its casgstatus to
    /// `_Gdead` and that check takes it afterwards: the same fix-up holds.)
    pub(super) fn settle_override(&mut self, proc: &mut Process, g: u64, orig: u64) -> Result<(), FreezeError> {
        if !self.overridden.remove(&g) {
            return Ok(());
        }
        let l = &self.facts.layout;
        let ours = proc.read_u64(g + l.g_startpc).ok() == Some(self.facts.sched_enable_user);
        let status = proc.read_u32(g + l.g_atomicstatus).map(GStatus::from_raw).unwrap_or(GStatus::Dead);
        if ours && status != GStatus::Dead && orig != 0 {
            proc.write_memory(g + l.g_startpc, &orig.to_le_bytes())?;
            return Ok(());
        }
        if !ours || status == GStatus::Dead {
            tracing::debug!(g, "goroutine exited while its startpc was overridden");
            self.add_ngsys(proc, 1)?;
        }
        Ok(())
    }

    pub(super) fn add_ngsys(&mut self, proc: &mut Process, d: i32) -> Result<(), FreezeError> {
        if let Some(at) = self.facts.sched.ngsys {
            let n = proc.read_u32(at)? as i32;
            proc.write_memory(at, &n.wrapping_add(d).to_le_bytes())?;
        }
        Ok(())
    }

    /// Lets user goroutine `g` run in the frozen world (the goroutine of a
    /// frozen step): its startpc points into package runtime until the
    /// thaw, so the scheduler keeps running it when it parks or is
    /// preempted. Call after [`CallHooks::call_started`] for `g`.
    pub fn run_with(&mut self, proc: &mut Process, g: u64) -> Result<(), FreezeError> {
        let at = g + self.facts.layout.g_startpc;
        let orig = proc.read_u64(at)?;
        if orig != self.facts.sched_enable_user || !self.overridden.contains(&g) {
            self.override_startpc(proc, g)?;
            self.family.insert(g, orig);
        }
        self.hold = None;
        Ok(())
    }

    /// A thread at a newproc1 return: RAX is the new g, m.curg its creator.
    /// A goroutine of the call's family gets a startpc in package runtime
    /// (isSystemGoroutine), so the scheduler runs it while user scheduling
    /// is off; the original is restored at the thaw.
    pub(super) fn spawned(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<(), FreezeError> {
        let regs = proc.regs(tid)?;
        let Ok(Some(creator)) = thread_goroutine_addr(proc, &self.facts.layout, regs.fs_base()) else { return Ok(()) };
        let newg = regs.rax();
        if newg == 0 || !self.family.contains_key(&creator) {
            return Ok(());
        }
        // A g of the family that exited and was reused for this one is
        // overridden again.
        let orig = proc.read_u64(newg + self.facts.layout.g_startpc)?;
        if orig == self.facts.sched_enable_user && self.overridden.contains(&newg) {
            return Ok(());
        }
        if !self.is_user_start(pcln, orig) {
            // A runtime goroutine (GC workers...): scheduled anyway, and
            // counted as a system goroutine from its creation on (its
            // startpc stays; its own goroutines are the call's too).
            self.family.insert(newg, 0);
            return Ok(());
        }
        self.override_startpc(proc, newg)?;
        self.family.insert(newg, orig);
        tracing::debug!(newg, creator, "goroutine started by the call runs with it");
        Ok(())
    }

    pub(super) fn is_user_start(&mut self, pcln: &Pclntab, start_pc: u64) -> bool {
        *self.user_start.entry(start_pc).or_insert_with(|| {
            // The goroutines schedule() parks while user scheduling is off
            // (runtime/proc.go schedEnabled): user goroutines, and the
            // finalizer and cleanup goroutines, whose user callbacks must
            // not run either.
            pcln.func_for_pc(start_pc).is_some_and(|f| versions::stopped_by_disabled_user_scheduling(&f.name))
        })
    }
}
