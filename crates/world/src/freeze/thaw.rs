//! The thaw: with every thread stopped and `sched.lock` free, splice
//! `sched.disable.runnable` back onto the global run queue (what
//! `schedEnableUser(true)` does, runtime/proc.go), clear `disable.user`,
//! put the patched code back, remove the freezer's breakpoints, give back
//! every overridden startpc, and wake sysmon. When the lock cannot be had
//! from outside, `schedEnableUser(true)` is run on an idle thread.
//! docs/frozen-world.md, "Protocol as implemented", steps 5 and 6.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stillgo_binary::Pclntab;
use stillgo_proc::{Memory, Process, ResumeMode, StopEvent, Tid};
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::versions;

use crate::events::wait_alive;

use super::state::*;

impl Freezer {
    /// Undoes the freeze: every goroutine the freeze parked goes back on the
    /// global run queue, the runtime's code is restored, freezer
    /// breakpoints are removed. All threads must be stopped. Idempotent.
    ///
    /// `resuming`: the program runs on right after (a blocked call's thaw):
    /// the runtime's own `schedEnableUser(true)` is run on an idle thread,
    /// which may start a new M (a thread that runs at once). Otherwise (the
    /// end of a call, back to the user's stop) the queue is spliced with
    /// memory writes only, so nothing runs before the user continues.
    pub fn thaw_with(&mut self, proc: &mut Process, pcln: &Pclntab, resuming: bool) -> Result<(), FreezeError> {
        self.thaw_inner(proc, pcln, resuming)
    }

    /// [`Freezer::thaw_with`] back to the user's stop (nothing runs).
    pub fn thaw(&mut self, proc: &mut Process, pcln: &Pclntab) -> Result<(), FreezeError> {
        self.thaw_inner(proc, pcln, false)
    }

    pub(super) fn thaw_inner(&mut self, proc: &mut Process, pcln: &Pclntab, resuming: bool) -> Result<(), FreezeError> {
        if !self.frozen {
            return Ok(());
        }
        if !proc.is_alive() {
            self.frozen = false;
            self.in_c.clear();
            return Ok(());
        }
        let mut first_err: Option<FreezeError> = None;
        if let Err(e) = self.wait_sched_lock_free(proc, pcln) {
            if let FreezeError::Exited(_) = e {
                self.frozen = false;
                self.in_c.clear();
                return Err(e);
            }
            first_err = Some(e);
        }
        for (at, orig) in std::mem::take(&mut self.patches) {
            if let Err(e) = proc.write_memory(at, &[orig]) {
                first_err.get_or_insert(e.into());
            }
        }
        for bp in std::mem::take(&mut self.bps) {
            if let Err(e) = proc.remove_breakpoint(bp) {
                first_err.get_or_insert(e.into());
            }
        }
        self.watch_points.clear();
        for bp in std::mem::take(&mut self.watch_bps) {
            if let Err(e) = proc.remove_breakpoint(bp) {
                first_err.get_or_insert(e.into());
            }
        }
        for bp in std::mem::take(&mut self.spawn_bps) {
            if let Err(e) = proc.remove_breakpoint(bp) {
                first_err.get_or_insert(e.into());
            }
        }
        for (g, orig) in std::mem::take(&mut self.family) {
            if orig != 0 {
                if let Err(e) = self.settle_override(proc, g, orig) {
                    first_err.get_or_insert(e);
                }
            }
        }
        // Exempt goroutines become user goroutines again, unless their g
        // was freed (and maybe reused) meanwhile.
        for (g, (orig, _)) in std::mem::take(&mut self.exempt) {
            if let Err(e) = self.settle_override(proc, g, orig) {
                first_err.get_or_insert(e);
            }
        }
        let on_thread = if resuming { self.enable_user_on_idle_thread(proc, pcln) } else { Ok(false) };
        match on_thread {
            Ok(true) => {
                self.frozen = false;
                self.in_c.clear();
                if let Err(e) = self.wake_sysmon(proc) {
                    first_err.get_or_insert(e);
                }
            }
            Ok(false) => match self.splice_runnable(proc) {
                Ok(()) => {
                    self.frozen = false;
                    self.in_c.clear();
                    // Idle Ms sleep; one blocked in netpoll wakes on a
                    // signal and finds the global run queue (findRunnable).
                    if let Err(e) = self.wake_sysmon(proc) {
                        first_err.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            },
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Runs the runtime's own `schedEnableUser(true)` on an idle thread (an M
    /// parked in `stopm`, on its g0 stack, in the futex system call, holding
    /// no runtime lock), alone: it moves `sched.disable.runnable` to the
    /// global run queue and hands idle Ps to idle Ms (startm/notewakeup),
    /// which run once the program is resumed. The thread returns into
    /// `runtime.breakpoint` (INT3) and gets its registers back, including
    /// the interrupted system call, which the kernel restarts (orig_rax).
    /// False when no thread qualifies (the caller splices the queue itself).
    pub(super) fn enable_user_on_idle_thread(&mut self, proc: &mut Process, pcln: &Pclntab) -> Result<bool, FreezeError> {
        let Some(tid) = self.idle_thread(proc, pcln)? else {
            if tracing::enabled!(tracing::Level::DEBUG) {
                for t in proc.threads() {
                    if let Ok(r) = proc.regs(t) {
                        let frames = unwind(proc, pcln, UnwindStart { pc: r.pc(), sp: r.sp(), bp: r.bp() }, 8);
                        let names: Vec<&str> = frames.iter().filter_map(|f| f.function.as_deref()).collect();
                        tracing::debug!(t, syscall = r.orig_rax() as i64, ?names, "thaw: no idle thread; thread");
                    }
                }
            }
            return Ok(false);
        };
        tracing::debug!(tid, "thaw: schedEnableUser(true) on an idle thread");
        if versions::runtime_mutex_held(self.facts.version.as_ref(), proc.read_u64(self.facts.sched.lock_key)?) {
            tracing::debug!("thaw: sched.lock held");
            // Only this thread will run: it must not wait for the lock.
            return Ok(false);
        }
        let saved = proc.regs(tid)?;
        let saved_fp = proc.fp_regs(tid)?;
        let g0 = proc.read_u64(saved.fs_base().wrapping_add(versions::TLS_G_OFFSET as u64))?;
        let mut r = saved;
        // Below the futex frames, 16-byte aligned, then the return address.
        let sp = ((saved.sp() - 512) & !15) - 8;
        proc.write_memory(sp, &self.facts.breakpoint.to_le_bytes())?;
        r.set_sp(sp);
        r.set_pc(self.facts.sched_enable_user);
        crate::abi::set_int_reg(&mut r, 0, 1); // enable = true, the first integer argument
        r.set_orig_rax(u64::MAX); // not in a system call: no restart
        let mut fp = saved_fp;
        crate::abi::set_fixed_regs(&mut r, &mut fp, g0);
        proc.set_regs(tid, &r)?;
        proc.set_fp_regs(tid, &fp)?;
        let ret = self.facts.breakpoint;
        let temporary = !proc.has_breakpoint(ret);
        if temporary {
            proc.set_breakpoint(ret)?;
        }
        let mut result = Err(FreezeError::Failed("schedEnableUser did not return on the idle thread".into()));
        // Alone first (nothing else runs before the queue is handed over);
        // if it does not return soon it waits for a runtime lock a stopped
        // thread holds (startm/newm take several): then every thread runs
        // until it returns (the program is being thawed anyway). Found by
        // experiment: the lone thread waited forever under load.
        // A watchdog interrupts every IDLE_THREAD_ALONE, so the deadline is
        // checked even when nothing else happens.
        let interrupter = proc.interrupter();
        let alarm = interrupter.clone();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer_done = done.clone();
        let timer = std::thread::spawn(move || {
            while !timer_done.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::sleep(IDLE_THREAD_ALONE);
                if !timer_done.load(std::sync::atomic::Ordering::Acquire) {
                    let _ = alarm.interrupt();
                }
            }
        });
        let deadline = Instant::now() + IDLE_THREAD_DEADLINE;
        let mut alone = true;
        let mut kept = Vec::new();
        let outcome = loop {
            if Instant::now() >= deadline {
                break Ok(());
            }
            let set = if alone { vec![tid] } else { proc.threads().into_iter().filter(|t| *t == tid || !(kept.contains(t) || self.in_c.contains(t))).collect() };
            if let Err(e) = proc.resume(ResumeMode::Only(set)) {
                break Err(e.into());
            }
            let ev = wait_alive(proc, FreezeError::Exited);
            tracing::debug!(?ev, "thaw: idle thread loop event");
            match ev {
                Ok(StopEvent::Breakpoint { tid: t, pc }) if t == tid && pc == ret => {
                    result = Ok(true);
                    break Ok(());
                }
                Ok(StopEvent::Breakpoint { tid: t, pc }) if self.owns_bp(pc) => {
                    if let Err(e) = self.on_freezer_bp(proc, pcln, t, pc) {
                        break Err(e);
                    }
                }
                Ok(StopEvent::Interrupted { .. }) => alone = false,
                // The idle thread itself at someone else's breakpoint (one
                // in the runtime): resuming steps over it. Keeping the
                // event would stop it for good.
                Ok(StopEvent::Breakpoint { tid: t, .. }) if t == tid => {}
                Ok(StopEvent::Trap { tid: t, pc }) if t == tid => {
                    break Err(FreezeError::Failed(format!("schedEnableUser trapped at {pc:#x} on the idle thread")));
                }
                Ok(ev) => self.keep_foreign(proc, ev, &mut kept),
                Err(e) => break Err(e),
            }
        };
        done.store(true, std::sync::atomic::Ordering::Release);
        let _ = timer.join();
        tracing::debug!(tid, ok = result.is_ok(), ?outcome, alone, ?kept, "thaw: idle thread done");
        outcome?;
        if result.is_err() {
            let r = proc.regs(tid)?;
            let frames = unwind(proc, pcln, UnwindStart { pc: r.pc(), sp: r.sp(), bp: r.bp() }, 12);
            let names: Vec<&str> = frames.iter().filter_map(|f| f.function.as_deref()).collect();
            tracing::warn!(tid, ?names, "schedEnableUser did not return on the idle thread");
        }
        if temporary {
            proc.remove_breakpoint(ret)?;
        }
        // Back to the futex wait (restarted by the kernel: orig_rax).
        proc.set_regs(tid, &saved)?;
        proc.set_fp_regs(tid, &saved_fp)?;
        result
    }

    /// An idle M (see [`Self::enable_user_on_idle_thread`]): on its g0
    /// stack with no current goroutine, holding no runtime lock (`m.locks`
    /// is raised by lock2 before it waits), blocked in futex (stopm,
    /// stoplockedm, sysmon's notetsleep) or epoll (findRunnable's netpoll).
    /// Parked Ms (stopm) first.
    pub(super) fn idle_thread(&self, proc: &Process, pcln: &Pclntab) -> Result<Option<Tid>, FreezeError> {
        let l = &self.facts.layout;
        let mut fallback = None;
        for tid in proc.threads() {
            let Ok(regs) = proc.regs(tid) else { continue };
            let sc = regs.orig_rax();
            if sc != stillgo_proc::sigframe::SYS_FUTEX {
                continue;
            }
            let Ok(g) = proc.read_u64(regs.fs_base().wrapping_add(versions::TLS_G_OFFSET as u64)) else { continue };
            if g == 0 {
                continue;
            }
            let Ok(m) = proc.read_u64(g + l.g_m) else { continue };
            if m == 0 || proc.read_u64(m + l.m_g0).ok() != Some(g) || proc.read_u64(m + l.m_curg).ok() != Some(0) {
                continue;
            }
            if proc.read_u32(m + self.facts.m_locks).ok() != Some(0) {
                continue;
            }
            let lo = proc.read_u64(g + l.g_stack_lo).unwrap_or(u64::MAX);
            if regs.sp() < lo.saturating_add(versions::IDLE_THREAD_STACK_NEEDED) {
                continue;
            }
            let frames = unwind(proc, pcln, UnwindStart { pc: regs.pc(), sp: regs.sp(), bp: regs.bp() }, 16);
            let parked = |n: &str| frames.iter().any(|f| f.function.as_deref() == Some(n));
            if parked("runtime.stopm") {
                return Ok(Some(tid));
            }
            // Not sysmon (its sleep must keep its timeout) nor the netpoll
            // M (its wait must keep its deadline): a locked M parked for its
            // goroutine (the call's own thread) is as idle as stopm's.
            if parked("runtime.stoplockedm") {
                fallback.get_or_insert(tid);
            }
        }
        Ok(fallback)
    }

    /// Ends sysmon's deep sleep. While frozen every P idles, so sysmon sleeps
    /// on `sched.sysmonnote` for up to 60 s (runtime/proc.go sysmon); after
    /// the thaw, timers that came due and Ps stuck in system calls are only
    /// serviced once it wakes. What exitsyscall does to wake it
    /// (`sysmonwait = false; notewakeup(&sched.sysmonnote)`) is done here
    /// with memory writes (every thread is stopped) and a signal that
    /// interrupts its futex wait; notetsleep then sees the key set.
    pub(super) fn wake_sysmon(&self, proc: &mut Process) -> Result<(), FreezeError> {
        let s = &self.facts.sched;
        if let (Some(wait), Some(key)) = (s.sysmonwait, s.sysmonnote_key) {
            if read_u8(proc, wait)? != 0 && proc.read_u64(key)? == 0 {
                proc.write_memory(wait, &[0])?;
                proc.write_memory(key, &1u64.to_le_bytes())?;
            }
        }
        for tid in proc.threads() {
            sigurg(proc, tid);
        }
        Ok(())
    }

    /// Lets the threads (but the held one) run, still frozen, until
    /// `sched.lock` is free, so the thaw can splice the run queue. Every
    /// freezer mechanism stays in place meanwhile (patches, breakpoints,
    /// exemptions): restoring any of them first let a goroutine through
    /// (found by experiment: an exempt goroutine reached user code during
    /// this wait once its breakpoint was gone).
    pub(super) fn wait_sched_lock_free(&mut self, proc: &mut Process, pcln: &Pclntab) -> Result<(), FreezeError> {
        let lock_key = self.facts.sched.lock_key;
        let interrupter = proc.interrupter();
        let mut attempts = 0;
        let mut kept = Vec::new();
        while versions::runtime_mutex_held(self.facts.version.as_ref(), proc.read_u64(lock_key)?) {
            attempts += 1;
            if attempts > THAW_LOCK_ATTEMPTS {
                return Err(FreezeError::Failed("the scheduler lock stayed held; the program's goroutines could not be thawed".into()));
            }
            proc.resume(self.all_but_held(proc, &kept))?;
            std::thread::sleep(Duration::from_micros(100));
            interrupter.interrupt()?;
            loop {
                match wait_alive(proc, FreezeError::Exited)? {
                    StopEvent::Interrupted { .. } => break,
                    StopEvent::Breakpoint { tid, pc } if self.owns_bp(pc) => self.on_freezer_bp(proc, pcln, tid, pc)?,
                    ev => self.keep_foreign(proc, ev, &mut kept),
                }
                if !interrupter.is_pending() {
                    break;
                }
                proc.resume(self.all_but_held(proc, &kept))?;
            }
        }
        Ok(())
    }

    /// `schedEnableUser(true)` done by the debugger (runtime/proc.go):
    /// `sched.disable.user = false; globrunqputbatch(&sched.disable.runnable)`,
    /// under `sched.lock`, which must be free (no thread stopped in a
    /// critical section): if it is held, the threads run (still frozen) a
    /// moment until it is released.
    pub(super) fn splice_runnable(&mut self, proc: &mut Process) -> Result<(), FreezeError> {
        let s = self.facts.sched.clone();
        if versions::runtime_mutex_held(self.facts.version.as_ref(), proc.read_u64(s.lock_key)?) {
            return Err(FreezeError::Failed("the scheduler lock is held; the program's goroutines could not be thawed".into()));
        }
        let dr = s.disable_runnable;
        let head = proc.read_u64(dr + s.gq_head)?;
        let tail = proc.read_u64(dr + s.gq_tail)?;
        let n = match (s.gq_size, s.disable_n) {
            (Some(off), _) => proc.read_u32(dr + off)?,
            (None, Some(addr)) => proc.read_u32(addr)?,
            (None, None) => 0,
        };
        if head != 0 {
            let rq = s.runq;
            let rtail = proc.read_u64(rq + s.gq_tail)?;
            if rtail != 0 {
                proc.write_memory(rtail + s.g_schedlink, &head.to_le_bytes())?;
            } else {
                proc.write_memory(rq + s.gq_head, &head.to_le_bytes())?;
            }
            proc.write_memory(rq + s.gq_tail, &tail.to_le_bytes())?;
            match (s.gq_size, s.runqsize) {
                (Some(off), _) => {
                    let cur = proc.read_u32(rq + off)?;
                    proc.write_memory(rq + off, &cur.wrapping_add(n).to_le_bytes())?;
                }
                (None, Some(addr)) => {
                    let cur = proc.read_u32(addr)?;
                    proc.write_memory(addr, &cur.wrapping_add(n).to_le_bytes())?;
                }
                (None, None) => {}
            }
            proc.write_memory(dr + s.gq_head, &0u64.to_le_bytes())?;
            proc.write_memory(dr + s.gq_tail, &0u64.to_le_bytes())?;
        }
        if let Some(off) = s.gq_size {
            proc.write_memory(dr + off, &0u32.to_le_bytes())?;
        }
        if let Some(addr) = s.disable_n {
            proc.write_memory(addr, &0u32.to_le_bytes())?;
        }
        proc.write_memory(s.disable_user, &[0])?;
        Ok(())
    }
}
