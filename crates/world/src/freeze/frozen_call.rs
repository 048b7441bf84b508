//! A call or step in the frozen world: the [`CallHooks`] that record the
//! call's goroutine, step over the freezer's breakpoints the call hits, and
//! run the watchdog that reports a call blocked on frozen goroutines; and
//! [`FrozenStep`], the frozen world around a `next`/`step`/`stepout`.
//! docs/frozen-world.md, "Protocol as implemented", steps 4, 5 and 7.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use stillgo_binary::Pclntab;
use stillgo_proc::{Interrupter, Process, ResumeMode, StopEvent, Tid};
use stillgo_runtime::code;
use stillgo_runtime::goroutines::{read_goroutine, wait_reason_table};
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::versions::{self, GStatus};

use crate::events::wait_alive;
use crate::hooks::{CallHooks, EventAction};
use crate::CallError;

use super::state::*;

/// Interrupts the process when a deadline passes (the watchdog of a frozen
/// call). The call loop re-arms it after each check.
struct Watchdog {
    shared: Arc<(Mutex<WatchState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct WatchState {
    deadline: Option<Instant>,
    stop: bool,
}

impl Watchdog {
    fn start(interrupter: Interrupter) -> Watchdog {
        let shared = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
        let s2 = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("stillgo-freeze-watchdog".into())
            .spawn(move || {
                let (lock, cv) = &*s2;
                let Ok(mut st) = lock.lock() else { return };
                loop {
                    if st.stop {
                        return;
                    }
                    match st.deadline {
                        None => match cv.wait(st) {
                            Ok(g) => st = g,
                            Err(_) => return,
                        },
                        Some(d) => {
                            let now = Instant::now();
                            if now >= d {
                                st.deadline = None;
                                if let Err(e) = interrupter.interrupt() {
                                    tracing::debug!(%e, "watchdog interrupt");
                                }
                                continue;
                            }
                            match cv.wait_timeout(st, d - now) {
                                Ok((g, _)) => st = g,
                                Err(_) => return,
                            }
                        }
                    }
                }
            })
            .ok();
        Watchdog { shared, thread }
    }

    fn arm(&self, after: Duration) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut st) = lock.lock() {
            st.deadline = Some(Instant::now() + after);
            cv.notify_all();
        }
    }

    fn disarm(&self) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut st) = lock.lock() {
            st.deadline = None;
            cv.notify_all();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.shared;
            if let Ok(mut st) = lock.lock() {
                st.stop = true;
                st.deadline = None;
            }
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// [`CallHooks`] for a call in the frozen world: the call's goroutine is
/// recorded, a watchdog reports a call blocked on frozen goroutines to
/// `on_blocked`, and freezer breakpoints hit by the call are stepped over.
pub struct FrozenCall<'a> {
    pub freezer: &'a mut Freezer,
    pub pcln: &'a Pclntab,
    pub on_blocked: &'a mut dyn FnMut(&Blocked) -> BlockedChoice,
    watchdog: Option<Watchdog>,
    started: Instant,
    /// A thaw was asked for while sched.lock was held: retry soon.
    thaw_pending: bool,
    /// When the next blocked-call check is due (interrupts before it are
    /// for breakpoint bookkeeping, or the user's Ctrl-C).
    check_due: Instant,
}

impl<'a> FrozenCall<'a> {
    pub fn new(freezer: &'a mut Freezer, pcln: &'a Pclntab, on_blocked: &'a mut dyn FnMut(&Blocked) -> BlockedChoice) -> Self {
        FrozenCall { freezer, pcln, on_blocked, watchdog: None, started: Instant::now(), thaw_pending: false, check_due: Instant::now() + BLOCKED_AFTER }
    }

    /// Ends the watchdog and consumes an interrupt it may have sent after
    /// the call's last event, so it does not surface as a user stop later.
    /// Call with every thread stopped, after the injection returned.
    pub fn finish(mut self, proc: &mut Process, call_tid: Tid) -> Result<(), FreezeError> {
        self.freezer.hold = Some(call_tid);
        self.watchdog = None;
        if tracing::enabled!(tracing::Level::TRACE) {
            self.freezer.dump(proc, self.pcln, "after call");
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            self.freezer.report_moved(proc, self.pcln);
        }
        let interrupter = proc.interrupter();
        let mut guard = 0;
        while interrupter.is_pending() && proc.is_alive() && guard < 16 {
            guard += 1;
            // The world is still frozen: running the other threads until
            // the stop arrives changes no user state. The call's thread is
            // back at the user's stop, in user code: it stays stopped.
            let others = self.freezer.may_run(proc, &[call_tid]);
            if others.is_empty() {
                break;
            }
            proc.resume(ResumeMode::Only(others))?;
            match wait_alive(proc, FreezeError::Exited)? {
                StopEvent::Breakpoint { tid, pc } if self.freezer.frozen && self.freezer.owns_bp(pc) => {
                    self.freezer.on_freezer_bp(proc, self.pcln, tid, pc)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl FrozenCall<'_> {
    fn thaw_now(&mut self, proc: &mut Process) -> Result<(), CallError> {
        // thaw() lets the (frozen) threads run briefly itself when the
        // scheduler lock is held; an error here leaves the patches in place
        // and is retried at the next watchdog tick.
        // The call's thread is running the call, and may hold sched.lock.
        self.freezer.hold = None;
        match self.freezer.thaw_with(proc, self.pcln, true) {
            Ok(()) => {
                self.thaw_pending = false;
                self.freezer.thawed_for_blocked = true;
                tracing::debug!("thawed for the blocked call");
                if let Some(w) = &self.watchdog {
                    if tracing::enabled!(tracing::Level::DEBUG) {
                        w.arm(Duration::from_secs(2));
                    } else {
                        w.disarm();
                    }
                }
                Ok(())
            }
            Err(FreezeError::Exited(c)) => Err(CallError::Exited(c)),
            Err(e) => {
                tracing::debug!(%e, "thaw during a blocked call; retrying");
                self.thaw_pending = true;
                if let Some(w) = &self.watchdog {
                    w.arm(Duration::from_millis(5));
                }
                Ok(())
            }
        }
    }
}

impl CallHooks for FrozenCall<'_> {
    fn resume_mode(&mut self, _call_tid: Tid) -> ResumeMode {
        // Once thawed for a blocked call, everything runs.
        if self.freezer.frozen {
            ResumeMode::AllBut(self.freezer.in_c.iter().copied().collect())
        } else {
            ResumeMode::All
        }
    }

    fn call_started(&mut self, proc: &mut Process, call_g: u64) -> Result<(), CallError> {
        self.freezer.call_g = Some(call_g);
        if self.freezer.frozen {
            self.freezer.watch_spawns(proc, call_g)?;
        }
        self.started = Instant::now();
        self.check_due = self.started + BLOCKED_AFTER;
        let w = Watchdog::start(proc.interrupter());
        w.arm(BLOCKED_AFTER);
        self.watchdog = Some(w);
        Ok(())
    }

    fn foreign_event(&mut self, proc: &mut Process, ev: &StopEvent) -> Result<EventAction, CallError> {
        if !self.freezer.frozen {
            tracing::debug!(?ev, "event during a thawed call");
            if tracing::enabled!(tracing::Level::DEBUG) {
                if let StopEvent::Interrupted { .. } = ev {
                    for t in proc.threads() {
                        if let Ok(r) = proc.regs(t) {
                            let f = self.pcln.func_for_pc(r.pc()).map(|f| f.name.to_string());
                            tracing::debug!(t, pc = r.pc(), ?f, orig = r.orig_rax() as i64, "thawed call still running");
                        }
                    }
                }
                if let Some(w) = &self.watchdog {
                    w.arm(Duration::from_secs(2));
                }
            }
            return Ok(EventAction::Continue);
        }
        if let StopEvent::Breakpoint { tid, pc } = *ev {
            if self.freezer.spawn_bps.contains(&pc) {
                self.freezer.spawned(proc, self.pcln, tid)?;
            }
            if self.freezer.owns_bp(pc) {
                // An exempt or watched goroutine entering user code: freeze
                // it there. (The call's own goroutine passing the same
                // place steps over.)
                self.freezer.on_freezer_bp(proc, self.pcln, tid, pc)?;
            }
            return Ok(EventAction::Continue);
        }
        let StopEvent::Interrupted { .. } = ev else {
            // Other breakpoints, signals: stepped over / delivered on resume.
            return Ok(EventAction::Continue);
        };
        let rearm = |w: &Option<Watchdog>, d: Duration| {
            if let Some(w) = w {
                w.arm(d);
            }
        };
        if self.thaw_pending {
            self.thaw_now(proc)?;
            return Ok(EventAction::Continue);
        }
        let now = Instant::now();
        if now < self.check_due {
            rearm(&self.watchdog, self.check_due - now);
            return Ok(EventAction::Continue);
        }
        self.check_due = now + BLOCKED_AFTER;
        match self.freezer.blocked_info(proc, self.pcln, self.started) {
            None => rearm(&self.watchdog, BLOCKED_AFTER),
            Some(b) => {
                let choice = (self.on_blocked)(&b);
                self.freezer.blocked = Some(b);
                self.check_due = Instant::now() + BLOCKED_AFTER;
                match choice {
                    BlockedChoice::Wait => rearm(&self.watchdog, BLOCKED_AFTER),
                    BlockedChoice::Thaw => self.thaw_now(proc)?,
                }
            }
        }
        Ok(EventAction::Continue)
    }
}

/// A step (`next`, `step`, `stepout`) during which only the stepping
/// goroutine (and goroutines it starts) run: every other user goroutine is
/// frozen as for a call, the stepping one runs as if it were a system
/// goroutine (so it may sleep, allocate, collect garbage, be preempted). A
/// step blocked a second on a frozen goroutine thaws the world and goes on.
///
/// ```text
///   FrozenStep::begin   freeze around the stepping thread; its goroutine joins the call's family
///   FrozenStep::hooks   the CallHooks the stepping loop runs with
///   FrozenCall::finish  with the goroutine where the step ended
///   FrozenStep::end     thaw; what the freezer did
/// ```
pub struct FrozenStep {
    freezer: Freezer,
    /// A blocked step always thaws: the user asked for a step, not a wait.
    on_blocked: fn(&Blocked) -> BlockedChoice,
}

impl FrozenStep {
    /// Freezes the world around thread `tid`, which is about to step. On
    /// an error the world may be partly frozen: [`FrozenStep::end`] must
    /// still run, so the step is returned with the error.
    pub fn begin(facts: FreezeFacts, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> (FrozenStep, Result<(), FreezeError>) {
        let mut step = FrozenStep { freezer: Freezer::new(facts), on_blocked: |_| BlockedChoice::Thaw };
        let r = step.freezer.freeze(proc, pcln, tid);
        (step, r)
    }

    /// The hooks of the stepping loop (resume modes, freezer breakpoints,
    /// the blocked-step watchdog) for goroutine `g` (its `runtime.g`), the
    /// one that steps: it and the goroutines it starts run like a call's.
    pub fn hooks<'a>(&'a mut self, proc: &mut Process, pcln: &'a Pclntab, g: u64) -> Result<FrozenCall<'a>, CallError> {
        let mut hooks = FrozenCall::new(&mut self.freezer, pcln, &mut self.on_blocked);
        hooks.call_started(proc, g)?;
        hooks.freezer.run_with(proc, g)?;
        Ok(hooks)
    }

    /// Thaws and reports. Call after [`FrozenCall::finish`].
    pub fn end(mut self, proc: Option<&mut Process>, pcln: &Pclntab) -> (FreezeReport, Result<(), FreezeError>) {
        let mut report = self.freezer.report();
        report.frozen = true;
        let r = match proc {
            Some(p) if p.is_alive() => self.freezer.thaw(p, pcln),
            _ => Ok(()),
        };
        (report, r)
    }
}

impl Freezer {
    /// The call's goroutine waits (parked): what for and where.
    pub(super) fn blocked_info(&self, proc: &Process, pcln: &Pclntab, started: Instant) -> Option<Blocked> {
        let g = read_goroutine(proc, &self.facts.layout, self.call_g?).ok()?;
        if g.status != GStatus::Waiting {
            return None;
        }
        let reasons = wait_reason_table(proc, &self.facts.layout);
        let wait_reason = reasons.get(g.wait_reason as usize).cloned().unwrap_or_default();
        if !versions::waits_on_other_goroutines(&wait_reason) {
            // A sleep, I/O, the GC: it ends without the frozen goroutines.
            return None;
        }
        let frames = unwind(proc, pcln, UnwindStart { pc: g.sched_pc, sp: g.sched_sp, bp: g.sched_bp }, 64);
        let user = frames.iter().find(|f| {
            // The user's code that waits, not the blocking primitive (sync).
            f.function.as_deref().is_some_and(|n| code::is_user(n, f.file.as_deref()) && !n.starts_with("sync."))
        });
        Some(Blocked {
            goroutine: g.id,
            wait_reason,
            function: user.and_then(|f| f.function.as_deref().map(str::to_string)),
            file: user.and_then(|f| f.file.as_deref().map(str::to_string)),
            line: user.map(|f| f.line).unwrap_or(0),
            after: started.elapsed(),
        })
    }
}
