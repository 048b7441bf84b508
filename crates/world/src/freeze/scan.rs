//! One round of the quiesce loop looks at every thread and goroutine and
//! decides what each needs so that it runs no more user code (an
//! [`Action`]): async preemption at a safe point, an exemption with its
//! catch point, a thread stepped out of a stack switch or the scheduler's
//! window, a signal handler's interrupted context. docs/frozen-world.md,
//! "Protocol as implemented", step 3.

use std::collections::HashMap;

use stillgo_binary::Pclntab;
use stillgo_proc::{Memory, Process, Tid};
use stillgo_runtime::goroutines::{read_goroutine, thread_goroutine_addr};
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::{code, preempt};
use stillgo_runtime::versions::{self, GStatus};

use super::catch::Catch;
use super::exempt::internal_return;
use super::state::*;

/// The interrupted registers saved by the kernel on the signal stack
/// `[lo, hi)` above `from` (see [`stillgo_proc::sigframe`]).
pub(super) fn signal_frame_context(proc: &Process, from: u64, hi: u64, lo: u64) -> Option<UnwindStart> {
    stillgo_proc::sigframe::find_saved_context(proc, from, hi, lo).map(|c| UnwindStart { pc: c.pc, sp: c.sp, bp: c.bp })
}

/// Whether a thread without a current goroutine is in `runtime.park_m`
/// before its call of `schedule()`: in its body or in the wait's unlock
/// function it calls (chanparkcommit, netpollblockcommit...).
pub(super) fn in_park_unlock(proc: &Process, pcln: &Pclntab, regs: &stillgo_proc::Registers) -> bool {
    let frames = unwind(proc, pcln, UnwindStart { pc: regs.pc(), sp: regs.sp(), bp: regs.bp() }, PARK_UNLOCK_DEPTH);
    for f in &frames {
        match f.function.as_deref() {
            Some("runtime.park_m") => return true,
            Some("runtime.schedule") => return false,
            _ => {}
        }
    }
    false
}

/// Whether `pc` is in the assembly that switches a thread between stacks
/// (`gogo`, `mcall`, `systemstack`, `morestack`...; the names are in
/// [`versions::STACK_SWITCH_FUNCS`]).
pub(super) fn in_stack_switch(pcln: &Pclntab, pc: u64) -> bool {
    pcln.func_for_pc(pc).is_some_and(|f| versions::STACK_SWITCH_FUNCS.contains(&&*f.name))
}

/// Whether a thread without a current goroutine is between schedule()'s
/// choice of a goroutine and execute() making it current: in the body of
/// `runtime.schedule`, `runtime.execute` or `runtime.startlockedm`
/// (runtime/proc.go; the names are in [`versions::SCHEDULE_WINDOW`]).
pub(super) fn in_schedule_window(pcln: &Pclntab, pc: u64) -> bool {
    pcln.func_for_pc(pc).is_some_and(|f| versions::SCHEDULE_WINDOW.contains(&&*f.name))
}

impl Freezer {
    /// Every user goroutine (but the call's) that could still execute user
    /// code or is stopped inside runtime internals, with what to do.
    pub(super) fn scan(&mut self, proc: &mut Process, pcln: &Pclntab, call_tid: Tid) -> Result<Vec<Action>, FreezeError> {
        let layout = self.facts.layout.clone();
        // Which goroutine each thread runs (m.curg), and on which stack.
        let mut on_thread: HashMap<u64, (Tid, stillgo_proc::Registers, bool)> = HashMap::new();
        let mut call_g = None;
        let mut out = Vec::new();
        for tid in proc.threads() {
            let Ok(mut regs) = proc.regs(tid) else { continue };
            if tid != call_tid && in_stack_switch(pcln, regs.pc()) {
                // Half-way between two goroutines' stacks (TLS g, SP and
                // g.sched disagree): neither can be judged. A few
                // instructions take it out.
                self.step_out_of_switch(proc, pcln, tid)?;
                regs = proc.regs(tid)?;
            }
            let fs = regs.fs_base();
            let curg = match thread_goroutine_addr(proc, &layout, fs) {
                Ok(Some(g)) => g,
                Ok(None) => {
                    // No current goroutine: the scheduler may hold one it
                    // chose before user scheduling went off, past
                    // schedule()'s check of disable.user and before
                    // execute() makes it current. Step it (alone) until it
                    // has one, which is then judged like any other; a
                    // thread that cannot get there so (startlockedm) is
                    // looked at again next round.
                    if tid == call_tid {
                        continue;
                    }
                    if !in_schedule_window(pcln, regs.pc()) {
                        if in_park_unlock(proc, pcln, &regs) {
                            // park_m after dropg, running the wait's unlock
                            // function: if that fails it execute()s the
                            // goroutine again without looking at
                            // disable.user (runtime/proc.go park_m;
                            // netpollblockcommit can fail). Look again
                            // once it is past.
                            tracing::debug!(tid, pc = regs.pc(), "in park_m's unlock window");
                            out.push(Action::Parking);
                        }
                        continue;
                    }
                    match self.step_to_curg(proc, pcln, tid)? {
                        Some(g) => g,
                        None => {
                            if tracing::enabled!(tracing::Level::DEBUG) {
                                let pc = proc.regs(tid).map(|r| r.pc()).unwrap_or(0);
                                let f = pcln.func_for_pc(pc).map(|f| f.name.to_string());
                                tracing::debug!(tid, pc, ?f, "in the scheduler's window");
                            }
                            out.push(Action::Parking);
                            continue;
                        }
                    }
                }
                Err(_) => continue,
            };
            let Ok(regs) = proc.regs(tid) else { continue };
            let fs = regs.fs_base();
            if tid == call_tid {
                call_g = Some(curg);
                continue;
            }
            if self.inside_patched(proc, pcln, &regs) {
                // Past the RET written at the entry: it runs the original
                // body, and schedEnableUser(true) (gcMarkDone, with the
                // runtime's own world stopped) would clear disable.user
                // behind the freeze and release every parked goroutine.
                // Wait until it has left; the loop then sets disable.user
                // again.
                tracing::debug!(tid, pc = regs.pc(), "inside a patched runtime function");
                out.push(Action::Parking);
            }
            // On g0 (systemstack, mcall, morestack) g.sched holds the
            // goroutine's own position. Anything else off the goroutine's
            // stack (the signal handler's gsignal stack, even at the first
            // instruction of sigtramp when TLS still names the goroutine;
            // a vDSO call on the g0 stack) leaves g.sched stale.
            let tls_g = proc.read_u64(fs.wrapping_add(versions::TLS_G_OFFSET as u64)).unwrap_or(0);
            let m = proc.read_u64(tls_g + layout.g_m).unwrap_or(0);
            let on_g0 = m != 0 && proc.read_u64(m + layout.m_g0).ok() == Some(tls_g);
            on_thread.insert(curg, (tid, regs, on_g0));
        }
        let gs = stillgo_runtime::goroutines::all_goroutines(proc, &layout).map_err(|e| FreezeError::Failed(e.to_string()))?;
        let queued = self.queued(proc);
        for g in gs {
            if Some(g.addr) == call_g || self.exempt.contains_key(&g.addr) {
                // Exempt goroutines run runtime code until they reach their
                // breakpoint in user code, where they are frozen.
                continue;
            }
            if !self.is_user_start(pcln, g.start_pc) {
                continue;
            }
            if self.parking.contains(&g.addr) {
                // Until the scheduler has dropped it (dropg in goschedImpl).
                if let Some((tid, regs, _)) = on_thread.get(&g.addr) {
                    if tracing::enabled!(tracing::Level::DEBUG) {
                        let f = pcln.func_for_pc(regs.pc()).map(|f| f.name.to_string());
                        tracing::debug!(g = g.id, tid, pc = regs.pc(), ?f, status = ?g.status, "still parking");
                    }
                    out.push(Action::Parking);
                    continue;
                }
                self.parking.remove(&g.addr);
            }
            match (g.status, on_thread.get(&g.addr)) {
                // In a system call: exitsyscall deschedules it before it runs
                // user code again. Unless the system call was made by the
                // runtime on its behalf while it may hold a runtime resource:
                // gcStart holds work.startSema while gcBgMarkStartWorkers
                // waits in notetsleepg (entersyscallblock), found by
                // experiment as a frozen step's GC blocked in semacquire.
                // Such a goroutine is exempted like one parked there.
                (GStatus::Syscall, _) if g.syscall_sp != 0 => {
                    let start = UnwindStart { pc: g.syscall_pc, sp: g.syscall_sp, bp: g.sched_bp };
                    if let Some(ret) = internal_return(proc, pcln, start) {
                        tracing::debug!(g = g.id, ret, "exempt (runtime system call)");
                        out.push(Action::Exempt { g: g.addr, start_pc: g.start_pc, ret, may_run: false });
                    }
                }
                (GStatus::Syscall, _) => {}
                // The current goroutine of a thread, whatever its status: a
                // Runnable one may be in execute(), past schedule()'s check
                // of disable.user, about to run (found by experiment: a
                // counter moved by one); a Waiting one may still be in
                // park_m. Judged by where the thread is.
                (GStatus::Running | GStatus::Runnable | GStatus::Waiting | GStatus::Preempted | GStatus::Copystack, Some(&(tid, regs, on_g0))) => {
                    let start = if g.contains_sp(regs.sp()) {
                        UnwindStart { pc: regs.pc(), sp: regs.sp(), bp: regs.bp() }
                    } else if on_g0 {
                        UnwindStart { pc: g.sched_pc, sp: g.sched_sp, bp: g.sched_bp }
                    } else if let Some(ctx) = self.interrupted_context(proc, &g, regs.fs_base(), regs.sp()) {
                        // In a signal handler or a vDSO call: caught where
                        // it returns to (the handler may still redirect it
                        // into asyncPreempt, which is as good). Its pc is
                        // not the thread's, so it is never stopped "here".
                        ctx
                    } else {
                        // Letting it run to its next prologue may run user
                        // code: found by experiment (a counter moved by one
                        // while a goroutine sat in the SIGURG handler).
                        tracing::debug!(g = g.id, pc = regs.pc(), "running where it cannot be judged");
                        out.push(Action::Retry { g: g.addr });
                        continue;
                    };
                    let frames = unwind(proc, pcln, start, 64);
                    match self.catch(pcln, &frames) {
                        Catch::Here(pc) if pc == regs.pc() && g.contains_sp(regs.sp()) => {
                            // asyncPreempt needs room on the goroutine's stack
                            // (preempt.go isAsyncSafePoint); without it, the
                            // prologue check takes the request.
                            out.push(self.stop_here(proc, pcln, tid, g.addr, g.stack_lo)?);
                        }
                        Catch::Here(ret) => {
                            self.resume_points.insert(ret);
                            out.push(Action::Exempt { g: g.addr, start_pc: g.start_pc, ret, may_run: true });
                        }
                        Catch::Return(ret) => out.push(Action::Exempt { g: g.addr, start_pc: g.start_pc, ret, may_run: true }),
                        Catch::CallsUser(ret) => out.push(Action::Watch { g: g.addr, ret }),
                        Catch::Unknown => out.push(Action::Retry { g: g.addr }),
                    }
                }
                // Running with no thread we know of, or in a transient state
                // (copystack: growing its stack on g0; enqueue...): it may
                // be on its way back to user code, look again next round.
                (GStatus::Running | GStatus::Copystack | GStatus::Enqueue | GStatus::Other(_), _) => out.push(Action::Retry { g: g.addr }),
                // Runnable, in no run queue and no thread's current
                // goroutine: a scheduler holds it between schedule()'s
                // check of disable.user and execute()'s `mp.curg = gp`
                // (the store has a write barrier: stepping there is not
                // enough during GC), or hands it over (startlockedm,
                // runqsteal). It resumes at g.sched without another check:
                // exempted up to its first user instruction. (Found with a
                // second reviewer by experiment; runtime/proc.go.)
                (GStatus::Runnable, None) if queued.as_ref().is_some_and(|q| !q.contains(&g.addr)) => {
                    let start = UnwindStart { pc: g.sched_pc, sp: g.sched_sp, bp: g.sched_bp };
                    let frames = unwind(proc, pcln, start, 64);
                    match self.catch(pcln, &frames) {
                        Catch::Here(ret) | Catch::Return(ret) => {
                            self.resume_points.insert(g.sched_pc);
                            tracing::debug!(g = g.id, ret, "exempt (in flight)");
                            out.push(Action::Exempt { g: g.addr, start_pc: g.start_pc, ret, may_run: true });
                        }
                        Catch::CallsUser(ret) => out.push(Action::Watch { g: g.addr, ret }),
                        Catch::Unknown => tracing::debug!(g = g.id, "in flight, unknown position"),
                    }
                }
                (GStatus::Runnable | GStatus::Preempted | GStatus::Waiting, _) => {
                    let start = UnwindStart { pc: g.sched_pc, sp: g.sched_sp, bp: g.sched_bp };
                    if let Some(ret) = internal_return(proc, pcln, start) {
                        if tracing::enabled!(tracing::Level::DEBUG) {
                            let fr: Vec<String> = unwind(proc, pcln, start, 12).iter().map(|f| format!("{}@{:#x}/{}", f.function.as_deref().unwrap_or("?"), f.pc, f.physical)).collect();
                            tracing::debug!(g = g.id, status = ?g.status, ret, ?fr, "exempt");
                        }
                        out.push(Action::Exempt { g: g.addr, start_pc: g.start_pc, ret, may_run: false });
                    }
                    // Otherwise parked at user level: schedule() keeps it
                    // in sched.disable.runnable once it is ready.
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether the thread executes the body of a function the freeze
    /// patched to return at once (`schedEnableUser`, `checkdead`), or
    /// something it calls (`lock2`, `futexsleep`): it entered before the
    /// patch and will finish the original code.
    pub(super) fn inside_patched(&self, proc: &Process, pcln: &Pclntab, regs: &stillgo_proc::Registers) -> bool {
        let patched = [self.facts.sched_enable_user, self.facts.checkdead];
        let frames = unwind(proc, pcln, UnwindStart { pc: regs.pc(), sp: regs.sp(), bp: regs.bp() }, PATCHED_DEPTH);
        frames.iter().enumerate().any(|(i, f)| {
            // At the entry itself the thread executes the RET.
            let at_entry = i == 0 && patched.contains(&f.pc);
            !at_entry && pcln.func_for_pc(f.lookup_pc).is_some_and(|func| patched.contains(&func.entry))
        })
    }

    /// Single-steps `tid` until its pc leaves the stack-switching assembly
    /// (see [`in_stack_switch`]); without executing the instruction it
    /// lands on.
    pub(super) fn step_out_of_switch(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<(), FreezeError> {
        for _ in 0..SWITCH_STEP_MAX {
            if !in_stack_switch(pcln, proc.regs(tid)?.pc()) {
                return Ok(());
            }
            if !step_once(proc, tid)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Single-steps `tid`, in the scheduler between choosing a goroutine and
    /// running it, until `m.curg` is set (a few instructions into
    /// `execute`). None if it leaves the window otherwise.
    pub(super) fn step_to_curg(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<Option<u64>, FreezeError> {
        let layout = self.facts.layout.clone();
        for _ in 0..SCHEDULE_STEP_MAX {
            let regs = proc.regs(tid)?;
            if let Ok(Some(g)) = thread_goroutine_addr(proc, &layout, regs.fs_base()) {
                tracing::debug!(tid, g, "stepped out of the scheduler's window");
                return Ok(Some(g));
            }
            // Only through the bodies of schedule and execute: a call
            // elsewhere (lock2 in the disable.user branch, wakep,
            // startlockedm) may block or run long; the next round sees it.
            let pc = regs.pc();
            if !pcln.func_for_pc(pc).is_some_and(|f| matches!(&*f.name, "runtime.schedule" | "runtime.execute")) {
                return Ok(None);
            }
            if !step_once(proc, tid)? {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Where a goroutine whose thread is off its stack will resume: inside
    /// a signal handler, the context the kernel saved on the signal stack
    /// (`m.gsignal`'s stack, the sigaltstack); inside a vDSO call,
    /// `m.vdsoPC`/`m.vdsoSP` (runtime/vdso_linux.go, set around the call).
    pub(super) fn interrupted_context(&self, proc: &Process, g: &stillgo_runtime::Goroutine, fs_base: u64, sp: u64) -> Option<UnwindStart> {
        let l = &self.facts.layout;
        let m = g.m;
        if m == 0 {
            return None;
        }
        let tls_g = proc.read_u64(fs_base.wrapping_add(versions::TLS_G_OFFSET as u64)).ok()?;
        let gsignal = proc.read_u64(m + l.m_gsignal).ok()?;
        if gsignal != 0 {
            let lo = proc.read_u64(gsignal + l.g_stack_lo).ok()?;
            let hi = proc.read_u64(gsignal + l.g_stack_hi).ok()?;
            // Only while the thread runs on the signal stack; the frame is
            // the nearest above its sp (stale frames of earlier signals stay
            // in that memory).
            let on_signal_stack = lo <= sp && sp < hi;
            if let Some(ctx) = on_signal_stack.then(|| signal_frame_context(proc, sp, hi, lo)).flatten() {
                if g.contains_sp(ctx.sp) {
                    return Some(ctx);
                }
            }
        }
        if tls_g == g.addr {
            if let Some((sp_off, pc_off)) = self.facts.m_vdso {
                let sp = proc.read_u64(m + sp_off).ok()?;
                let pc = proc.read_u64(m + pc_off).ok()?;
                if sp != 0 && pc != 0 && g.contains_sp(sp) {
                    // vdsoSP is the caller's sp at the call; its frame
                    // pointer is not saved: the unwinder uses pcsp.
                    return Some(UnwindStart { pc, sp, bp: 0 });
                }
            }
        }
        None
    }

    /// Every goroutine in a run queue: the global one, `disable.runnable`,
    /// each P's `runnext` and `runq`. None when they cannot be read.
    pub(super) fn queued(&self, proc: &Process) -> Option<std::collections::HashSet<u64>> {
        let rq = self.facts.run_queues.as_ref()?;
        let s = &self.facts.sched;
        let mut out = std::collections::HashSet::new();
        for q in [s.runq, s.disable_runnable] {
            let mut g = proc.read_u64(q + s.gq_head).ok()?;
            let mut n = 0;
            while g != 0 && n < GLOBAL_QUEUE_MAX && out.insert(g) {
                g = proc.read_u64(g + s.g_schedlink).ok()?;
                n += 1;
            }
        }
        let allp = proc.read_u64(rq.allp).ok()?;
        let nallp = proc.read_u64(rq.allp + 8).ok()?;
        for i in 0..nallp.min(1 << 16) {
            let p = proc.read_u64(allp + 8 * i).ok()?;
            if p == 0 {
                continue;
            }
            let next = proc.read_u64(p + rq.p_runnext).ok()?;
            if next != 0 {
                out.insert(next);
            }
            let head = proc.read_u32(p + rq.p_runqhead).ok()?;
            let tail = proc.read_u32(p + rq.p_runqtail).ok()?;
            let n = tail.wrapping_sub(head).min(versions::P_RUNQ_LEN);
            if n == 0 {
                continue;
            }
            let ring = proc.read_vec(p + rq.p_runq, versions::P_RUNQ_LEN as usize * 8).ok()?;
            for k in 0..n {
                let idx = (head.wrapping_add(k) % versions::P_RUNQ_LEN) as usize * 8;
                let g = ring.get(idx..idx + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).unwrap_or(0);
                if g != 0 {
                    out.insert(g);
                }
            }
        }
        Some(out)
    }

    /// How to stop goroutine `g`, running user code on `tid`, where it is.
    pub(super) fn stop_here(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, g: u64, stack_lo: u64) -> Result<Action, FreezeError> {
        // asyncPreempt needs room on the goroutine's stack (preempt.go
        // isAsyncSafePoint); without it, the prologue check takes the
        // request (Retry sets it).
        if proc.regs(tid)?.sp().saturating_sub(stack_lo) < self.preempt_stack {
            return Ok(Action::Retry { g });
        }
        if !self.settle(proc, pcln, tid)? {
            return Ok(Action::Retry { g });
        }
        // The rest of isAsyncSafePoint and wantAsyncPreempt (preempt.go):
        // the goroutine running (not in a system call: asyncPreempt would
        // make gopreempt_m throw in casgstatus, found by experiment on a
        // goroutine stepped past entersyscall), its M preemptible
        // (canPreemptM: no locks, not allocating, no preemptoff, a P).
        let gr = read_goroutine(proc, &self.facts.layout, g).map_err(|e| FreezeError::Failed(e.to_string()))?;
        if gr.status != GStatus::Running {
            // In a system call now: exitsyscall deschedules it.
            return Ok(if gr.status == GStatus::Syscall { Action::Parking } else { Action::Retry { g } });
        }
        if !self.m_preemptible(proc, gr.m) {
            return Ok(Action::Retry { g });
        }
        Ok(Action::Preempt { tid, g })
    }

    /// runtime/preempt.go canPreemptM: `m.locks == 0 && m.mallocing == 0 &&
    /// m.preemptoff == "" && m.p.status == _Prunning`.
    pub(super) fn m_preemptible(&self, proc: &Process, m: u64) -> bool {
        let f = &self.facts;
        if m == 0 || proc.read_u32(m + f.m_locks).ok() != Some(0) {
            return false;
        }
        let Some(mp) = &f.m_preempt else { return true };
        let ok = proc.read_u32(m + mp.mallocing).ok() == Some(0) && proc.read_u64(m + mp.preemptoff + 8).ok() == Some(0);
        let p = proc.read_u64(m + mp.p).unwrap_or(0);
        ok && p != 0 && proc.read_u32(p + mp.p_status).ok() == Some(versions::P_RUNNING)
    }

    /// Brings a thread stopped in user code at a point where asynchronous
    /// preemption is refused (a compiler-marked unsafe sequence, such as a
    /// write barrier check) to the next safe point by single-stepping, so
    /// the preemption signal stops it there. True when it is at a safe
    /// point; false when it left user code (into a runtime call: judged
    /// again next round) or is in assembly.
    pub(super) fn settle(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<bool, FreezeError> {
        for _ in 0..SETTLE_MAX_STEPS {
            let pc = proc.regs(tid)?.pc();
            let Some(f) = pcln.func_for_pc(pc) else { return Ok(false) };
            if !code::runs_as_user(pcln, &f, pc) || f.is_asm() {
                return Ok(false);
            }
            if preempt::async_safe_point(pcln, &f, pc) {
                return Ok(true);
            }
            tracing::debug!(tid, pc, func = %f.name, "settle: single step");
            if !step_once(proc, tid)? {
                return Ok(false);
            }
        }
        Ok(false)
    }
}
