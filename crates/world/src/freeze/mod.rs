//! The frozen world: injected calls during which no other user goroutine
//! runs (issue 4; docs/frozen-world.md describes the protocol and the
//! runtime facts per Go version, `stillgo_runtime::versions` keeps them).
//!
//! ```text
//!   freeze:  sched.disable.user = true            (schedule() parks user gs in
//!                                                   sched.disable.runnable)
//!            RET at schedEnableUser, checkdead    (GC's re-enable; deadlock throw)
//!            repeat until no thread runs a user goroutine:
//!              g.preempt = true, g.stackguard0 = stackPreempt
//!              thread in user code     -> SIGURG (async preemption, before
//!                                         it executes another instruction)
//!              thread in runtime code  -> breakpoint at the return address
//!                                         into user code, then SIGURG there
//!              let the other threads run a moment, stop them, look again
//!   call:    injected as usual (CallHooks): every thread runs, but only the
//!            call's goroutine (a system goroutine: runtime.debugCallWrap1)
//!            and the runtime's own goroutines are scheduled.
//!            watchdog: a call waiting (gopark) for a second is reported
//!            (wait reason, user frame); the handler thaws or keeps waiting.
//!   thaw:    with every thread stopped and sched.lock free: splice
//!            sched.disable.runnable onto the global run queue (what
//!            schedEnableUser(true) does), disable.user = false, original
//!            code back, freezer breakpoints removed.
//! ```
//!
//! Every path out of a freeze must thaw: [`Freezer::thaw`] is what callers
//! run on success and on error alike (it only writes memory, so it works
//! whenever the process is alive and stopped).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use stillgo_binary::{Binary, GoVersion, Pclntab};
use stillgo_dwarf::DebugInfo;
use stillgo_proc::{Interrupter, Memory, Process, ResumeMode, StopEvent, Tid};
use stillgo_runtime::goroutines::{read_goroutine, thread_goroutine_addr, wait_reason_table};
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::preempt;
use stillgo_runtime::versions::{self, GStatus, Layout, SchedLayout};

use crate::hooks::{CallHooks, EventAction};
use crate::CallError;

/// Why the world could not be frozen (or thawed).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FreezeError {
    /// The binary lacks what freezing needs (no DWARF, missing runtime symbols).
    #[error("cannot freeze the other goroutines: {0} (use call -thaw or config freeze off to let them run during calls)")]
    Unsupported(String),
    #[error("freezing the other goroutines failed: {0}")]
    Failed(String),
    #[error("the program exited (status {0})")]
    Exited(i32),
}

impl From<stillgo_proc::ProcError> for FreezeError {
    fn from(e: stillgo_proc::ProcError) -> Self {
        FreezeError::Failed(e.to_string())
    }
}

impl From<stillgo_proc::MemoryError> for FreezeError {
    fn from(e: stillgo_proc::MemoryError) -> Self {
        FreezeError::Failed(e.to_string())
    }
}

/// What the freezer needs to know about the program, resolved once.
#[derive(Debug, Clone)]
pub struct FreezeFacts {
    pub sched: SchedLayout,
    pub layout: Layout,
    pub sched_enable_user: u64,
    pub checkdead: u64,
    /// Entry of `runtime.asyncPreempt` (see [`versions::ASYNC_PREEMPT`]).
    pub async_preempt: u64,
    /// Address of `runtime.asyncPreemptStack` (see
    /// [`versions::ASYNC_PREEMPT_STACK_VAR`]).
    pub async_preempt_stack: Option<u64>,
    /// Return address of `schedEnableUser` when the debugger runs it on an
    /// idle thread: the entry of `runtime.debugCallV2` (present in every
    /// binary that can run calls; only injected calls execute it, and no
    /// call is starting while the thaw runs), with a temporary breakpoint.
    pub breakpoint: u64,
    /// Offset of `m.locks` (int32): an M holding runtime locks is not used.
    pub m_locks: u64,
    /// Offsets for canPreemptM (m.mallocing, m.preemptoff, m.p, p.status).
    pub m_preempt: Option<MPreempt>,
    /// Where runnable goroutines wait (None: unknown; goroutines in flight
    /// between schedule() and execute() are then not looked for).
    pub run_queues: Option<RunQueues>,
    /// Offsets of `m.vdsoSP` / `m.vdsoPC`: where a thread inside a vDSO
    /// call (on the g0 stack, TLS still naming the goroutine) came from.
    pub m_vdso: Option<(u64, u64)>,
    /// Where `runtime.newproc1` returns a new goroutine (see
    /// [`stillgo_runtime::goroutines::newproc1_return_sites`]).
    pub newproc1_returns: Vec<u64>,
    /// The indirect calls through which the runtime calls user code (see
    /// [`stillgo_runtime::goroutines::user_callback_call_sites`]).
    pub user_callback_calls: Vec<u64>,
    /// Those of them in `gopanic` (and `preprintpanics`), which runtime
    /// code reaches too (runtime errors).
    pub panic_callback_calls: Vec<u64>,
    pub version: Option<GoVersion>,
}

impl FreezeFacts {
    pub fn resolve(dwarf: Option<&DebugInfo>, bin: &Binary, layout: &Layout, version: Option<&GoVersion>) -> Result<FreezeFacts, FreezeError> {
        let pcln = bin.pclntab();
        let dwarf = dwarf.ok_or_else(|| FreezeError::Unsupported("the binary has no debug information (runtime.sched cannot be located)".into()))?;
        let sched = SchedLayout::from_dwarf(dwarf).map_err(|e| FreezeError::Unsupported(e.to_string()))?;
        let entry = |n: &str| {
            pcln.func_by_name(n).map(|f| f.entry).ok_or_else(|| FreezeError::Unsupported(format!("{n} is not in the binary")))
        };
        if layout.allgs == 0 || layout.allm == 0 {
            return Err(FreezeError::Unsupported("runtime.allgs is unknown".into()));
        }
        Ok(FreezeFacts {
            sched,
            layout: layout.clone(),
            sched_enable_user: entry(versions::SCHED_ENABLE_USER)?,
            checkdead: entry(versions::CHECKDEAD)?,
            async_preempt: entry(versions::ASYNC_PREEMPT)?,
            async_preempt_stack: dwarf
                .global(versions::ASYNC_PREEMPT_STACK_VAR)
                .map(|g| g.addr)
                .or_else(|| bin.symbol(versions::ASYNC_PREEMPT_STACK_VAR).map(|s| s.addr)),
            breakpoint: entry(versions::DEBUG_CALL_V2)?,
            m_locks: dwarf.struct_field("runtime.m", "locks").map(|(o, _)| o).ok_or_else(|| FreezeError::Unsupported("runtime.m.locks not found in DWARF".into()))?,
            newproc1_returns: stillgo_runtime::goroutines::newproc1_return_sites(bin),
            user_callback_calls: stillgo_runtime::goroutines::user_callback_call_sites(bin, versions::calls_user_code),
            panic_callback_calls: stillgo_runtime::goroutines::user_callback_call_sites(bin, versions::runs_deferred_calls_on_runtime_errors),
            run_queues: (|| {
                let f = |n: &str| dwarf.struct_field("runtime.p", n).map(|(o, _)| o);
                Some(RunQueues {
                    allp: dwarf.global("runtime.allp")?.addr,
                    p_runqhead: f("runqhead")?,
                    p_runqtail: f("runqtail")?,
                    p_runq: f("runq")?,
                    p_runnext: f("runnext")?,
                })
            })(),
            m_preempt: (|| {
                Some(MPreempt {
                    mallocing: dwarf.struct_field("runtime.m", "mallocing")?.0,
                    preemptoff: dwarf.struct_field("runtime.m", "preemptoff")?.0,
                    p: dwarf.struct_field("runtime.m", "p")?.0,
                    p_status: dwarf.struct_field("runtime.p", "status")?.0,
                })
            })(),
            m_vdso: dwarf.struct_field("runtime.m", "vdsoSP").zip(dwarf.struct_field("runtime.m", "vdsoPC")).map(|((sp, _), (pc, _))| (sp, pc)),
            version: version.cloned(),
        })
    }
}

/// `runtime.allp` and the run queue fields of `runtime.p` (runtime2.go,
/// the same in Go 1.22 to 1.27): `runqhead`, `runqtail uint32`,
/// `runq [256]guintptr`, `runnext guintptr`.
#[derive(Debug, Clone)]
pub struct RunQueues {
    /// Address of the `allp` slice header.
    pub allp: u64,
    pub p_runqhead: u64,
    pub p_runqtail: u64,
    pub p_runq: u64,
    pub p_runnext: u64,
}

/// Offsets of the M and P fields canPreemptM reads (from DWARF).
#[derive(Debug, Clone, Copy)]
pub struct MPreempt {
    pub mallocing: u64,
    pub preemptoff: u64,
    pub p: u64,
    pub p_status: u64,
}

/// A call waiting on the frozen world, as reported to the user.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// Goroutine id of the call (the runtime's `debugCallWrap1` goroutine).
    pub goroutine: u64,
    /// `waitReasonStrings[g.waitreason]`, e.g. "chan receive", "sync.Mutex.Lock".
    pub wait_reason: String,
    /// Innermost user frame of the waiting call: function, file, line.
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: u32,
    /// How long the call had run when this was reported.
    pub after: Duration,
}

impl Blocked {
    /// `waits for chan receive in main.recvFeed at /x/main.go:12`.
    pub fn describe(&self) -> String {
        let mut s = format!("waits for {}", if self.wait_reason.is_empty() { "something" } else { &self.wait_reason });
        if let Some(f) = &self.function {
            s.push_str(&format!(" in {f}"));
        }
        if let Some(file) = &self.file {
            s.push_str(&format!(" at {file}:{}", self.line));
        }
        s
    }
}

/// What the freezer did during one call or step.
#[derive(Debug, Clone, Default)]
pub struct FreezeReport {
    /// The other goroutines were frozen.
    pub frozen: bool,
    /// The call blocked on the frozen world (reported to the handler).
    pub blocked: Option<Blocked>,
    /// The world was thawed before the call ended (the handler chose thaw).
    pub thawed_early: bool,
    /// Rounds of preemption requests needed to stop the other goroutines.
    pub rounds: u32,
}

/// What to do with a call blocked on the frozen world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockedChoice {
    /// Let every goroutine run until the call returns (the unfrozen behaviour).
    Thaw,
    /// Keep the world frozen and wait (reported again a second later).
    Wait,
}

/// The frozen state: everything needed to undo the freeze.
pub struct Freezer {
    facts: FreezeFacts,
    /// Original first bytes of the patched runtime functions.
    patches: Vec<(u64, u8)>,
    /// Breakpoints the freezer set (returns into user code).
    bps: Vec<u64>,
    /// Goroutines stopped inside the runtime, exempt from the freeze until
    /// they return to user code: g -> (original startpc, return address).
    exempt: HashMap<u64, (u64, u64)>,
    frozen: bool,
    /// Start functions already classified (user: true).
    user_start: HashMap<u64, bool>,
    /// The call's goroutine and the goroutines it started (and theirs):
    /// they run with the call. g -> original startpc (0 for the call's).
    family: HashMap<u64, u64>,
    /// Breakpoints at newproc1's returns, while a call runs.
    spawn_bps: Vec<u64>,
    /// A thread that must not run while the freezer lets the others run:
    /// the call's thread when it is back at the user's stop (in user code).
    hold: Option<Tid>,
    /// Pcs known to be where a goroutine resumes (saved g.sched.pc, a
    /// thread's pc, a signal context's pc): valid catch points although no
    /// CALL precedes them.
    resume_points: std::collections::HashSet<u64>,
    /// Debug: each user goroutine's (status, sched.pc, sched.sp) when the
    /// freeze completed, to report any that moved by the end of the call.
    snapshot: HashMap<u64, (GStatus, u64, u64, u64)>,
    /// The program's `asyncPreemptStack`, read at the freeze.
    preempt_stack: u64,
    /// Breakpoints watching goroutines that run runtime code which calls
    /// user code (see [`Action::Watch`]): the indirect calls of those
    /// runtime functions and the watched goroutines' return addresses.
    watch_bps: Vec<u64>,
    /// Every watched pc (some breakpoints were there already).
    watch_points: std::collections::HashSet<u64>,
    /// Goroutines whose startpc the freezer overrode (exempt ones, the
    /// call's family, a frozen step's goroutine), until settled.
    overridden: std::collections::HashSet<u64>,
    /// Goroutines made to call asyncPreempt, until they left their thread.
    parking: std::collections::HashSet<u64>,
    /// Rounds of the quiesce loop the last freeze needed.
    pub rounds: u32,
    /// The call's goroutine (`runtime.g` address), once started.
    call_g: Option<u64>,
    /// A blocked call that was reported, and whether the world was thawed for it.
    pub blocked: Option<Blocked>,
    pub thawed_for_blocked: bool,
}

/// Upper bound on the time spent stopping the other goroutines.
const QUIESCE_DEADLINE: Duration = Duration::from_secs(3);
/// First pause given to the other threads to take their preemption; doubles
/// each round up to [`QUIESCE_MAX_PAUSE`].
const QUIESCE_FIRST_PAUSE: Duration = Duration::from_micros(150);
const QUIESCE_MAX_PAUSE: Duration = Duration::from_millis(4);
/// Instructions single-stepped at most to bring a thread out of an unsafe
/// sequence (they are a few instructions long).
const SETTLE_MAX_STEPS: u32 = 64;
/// Largest function prefix decoded to check an instruction boundary.
const MAX_DECODE: u64 = 256 << 10;
/// Length of `p.runq` (runtime2.go).
const P_RUNQ_LEN: u32 = 256;
/// Upper bound on a global queue walk.
const GLOBAL_QUEUE_MAX: usize = 1 << 20;
/// Instructions single-stepped at most out of stack-switching assembly
/// (each is a few dozen instructions long).
const SWITCH_STEP_MAX: u32 = 200;
/// Instructions single-stepped at most to bring a thread from schedule()'s
/// check to execute() setting m.curg.
const SCHEDULE_STEP_MAX: u32 = 400;
/// Frames looked at to find a patched function on a thread's stack: the
/// deepest chain is schedEnableUser -> lock -> lock2 -> futexsleep -> futex
/// (runtime/lock_futex.go, lock_spinbit.go).
const PATCHED_DEPTH: usize = 8;
/// Frames looked at to find park_m under a wait's unlock function (which
/// may call lock/unlock and futex wake-ups).
const PARK_UNLOCK_DEPTH: usize = 6;
/// How long `schedEnableUser(true)` runs alone on an idle thread before the
/// other threads run too (see enable_user_on_idle_thread).
const IDLE_THREAD_ALONE: Duration = Duration::from_millis(20);
/// Upper bound on that call.
const IDLE_THREAD_DEADLINE: Duration = Duration::from_secs(10);
/// Attempts to find `sched.lock` free for the thaw splice.
const THAW_LOCK_ATTEMPTS: u32 = 200;
/// A call that waits (parked) this long on the frozen world is reported.
/// Below the issue's one second, so the report comes within a second of
/// the call blocking even when the machine is busy.
pub const BLOCKED_AFTER: Duration = Duration::from_millis(700);

fn read_u8(proc: &Process, addr: u64) -> Result<u8, FreezeError> {
    let mut b = [0u8; 1];
    proc.read(addr, &mut b)?;
    Ok(b[0])
}

/// Asks thread `tid` to take the runtime's preemption signal (SIGURG,
/// runtime/signal_unix.go preemptM): its handler runs when the thread next
/// runs. A failure only delays the freeze to the next round.
fn sigurg(proc: &Process, tid: Tid) {
    if let Err(e) = proc.signal_thread(tid, versions::SIG_PREEMPT) {
        tracing::debug!(tid, %e, "SIGURG not sent");
    }
}

/// What a goroutine needs so that it runs no more user code.
#[derive(Debug)]
enum Action {
    /// Running user code on `tid` at an asynchronous safe point: make it
    /// call `asyncPreempt` there, as the runtime's SIGURG handler would.
    Preempt { tid: Tid, g: u64 },
    /// Made to call `asyncPreempt` in an earlier round and still running
    /// (on its way to the scheduler): look again next round.
    Parking,
    /// Inside the runtime (running, or parked/preempted in runtime
    /// internals that may hold runtime semaphores such as `worldsema`):
    /// let it run as a system goroutine until it returns to user code at
    /// `ret`, and preempt it there.
    Exempt { g: u64, start_pc: u64, ret: u64, may_run: bool },
    /// Running where its position cannot be judged (in a signal handler on
    /// the gsignal stack, in the vDSO): ask for preemption at the next
    /// prologue and look again after the next round.
    Retry { g: u64 },
    /// Running a runtime function that calls user code itself (gopanic
    /// running deferred calls...): it is watched (breakpoints at the
    /// indirect calls into user code and at its return address `ret`), and
    /// stopped where it enters user code. Looked at again next round.
    Watch { g: u64, ret: Option<u64> },
}

/// Runtime functions that may sit between a parked or preempted goroutine
/// and its user code without holding any runtime resource: park and
/// preemption plumbing, and the blocking primitives user code calls
/// (runtime/proc.go, preempt.go, chan.go, select.go, sema.go, netpoll.go).
/// A goroutine stopped anywhere else in the runtime is exempted instead of
/// frozen (see [`Action::Exempt`]).
const PARK_FRAMES: &[&str] = &[
    "runtime.gopark",
    "runtime.goparkunlock",
    "runtime.mcall",
    "runtime.park_m",
    "runtime.asyncPreempt",
    "runtime.asyncPreempt2",
    "runtime.gopreempt_m",
    "runtime.goschedImpl",
    "runtime.gosched_m",
    "runtime.Gosched",
    "runtime.goschedguarded",
    "runtime.goschedguarded_m",
    "runtime.goschedIfBusy",
    "runtime.goyield",
    "runtime.goyield_m",
    "runtime.preemptPark",
    "runtime.morestack",
    "runtime.newstack",
    "runtime.chanrecv",
    "runtime.chanrecv1",
    "runtime.chanrecv2",
    "runtime.chansend",
    "runtime.chansend1",
    "runtime.selectgo",
    "runtime.block",
    "runtime.semacquire1",
    "runtime.netpollblock",
    "runtime.exitsyscall",
    "runtime.timeSleep",
];

/// Package runtime (and its internal packages), by (logical) function name.
fn is_runtime_name(name: &str) -> bool {
    name.starts_with("runtime.") || name.starts_with("runtime/internal/") || name.starts_with("internal/runtime/")
}

impl Freezer {
    pub fn new(facts: FreezeFacts) -> Freezer {
        Freezer {
            facts,
            patches: Vec::new(),
            bps: Vec::new(),
            exempt: HashMap::new(),
            frozen: false,
            user_start: HashMap::new(),
            parking: Default::default(),
            overridden: Default::default(),
            watch_bps: Vec::new(),
            watch_points: Default::default(),
            hold: None,
            preempt_stack: versions::ASYNC_PREEMPT_STACK_MAX,
            snapshot: HashMap::new(),
            resume_points: Default::default(),
            family: HashMap::new(),
            spawn_bps: Vec::new(),
            rounds: 0,
            call_g: None,
            blocked: None,
            thawed_for_blocked: false,
        }
    }

    /// What this freezer did so far (the blocked call it reported is
    /// handed over).
    pub fn report(&mut self) -> FreezeReport {
        FreezeReport {
            frozen: self.rounds > 0 || self.frozen || self.blocked.is_some(),
            blocked: self.blocked.take(),
            thawed_early: self.thawed_for_blocked,
            rounds: self.rounds,
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

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

    fn freeze_inner(&mut self, proc: &mut Process, pcln: &Pclntab, call_tid: Tid) -> Result<(), FreezeError> {
        // Goroutines stopped in runtime internals are exempted before user
        // scheduling goes off, so none of them is parked while holding a
        // runtime semaphore the call may need (a GC the call starts waits
        // for work.startSema, gcsema and worldsema).
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
            let others: Vec<Tid> = proc.threads().into_iter().filter(|&t| t != call_tid && proc.regs(t).is_ok()).collect();
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
            match proc.wait()? {
                StopEvent::Interrupted { .. } => stop_pending = false,
                StopEvent::Breakpoint { tid, pc } if self.owns_bp(pc) => self.on_freezer_bp(proc, pcln, tid, pc)?,
                StopEvent::Exited { code } => return Err(FreezeError::Exited(code)),
                StopEvent::Killed { signal } => return Err(FreezeError::Exited(128 + signal)),
                // Signals are passed on by the resume; other breakpoints
                // and traps cannot come from frozen goroutines.
                _ => {}
            }
            if !interrupter.is_pending() {
                stop_pending = false;
            }
        }
    }

    fn apply(&mut self, proc: &mut Process, pcln: &Pclntab, actions: &[Action]) -> Result<(), FreezeError> {
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
                }
                Action::Parking => {}
                Action::Retry { g } => request_prologue_preemption(proc, &sl, g)?,
                Action::Watch { g, ret } => {
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
    fn exempt_returned(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, pc: u64) -> Result<(), FreezeError> {
        let layout = self.facts.layout.clone();
        let Ok(regs) = proc.regs(tid) else { return Ok(()) };
        let Ok(Some(g)) = thread_goroutine_addr(proc, &layout, regs.fs_base()) else { return Ok(()) };
        let Some(&(start_pc, ret)) = self.exempt.get(&g) else { return Ok(()) };
        if ret != pc {
            return Ok(());
        }
        self.exempt.remove(&g);
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

    /// [`catch_point`], recording a return address from `asyncPreempt`
    /// (pushed by the runtime's SIGURG handler or by the freezer: the
    /// interrupted pc, where the goroutine resumes) as a valid catch
    /// point although no CALL precedes it. Without it such a goroutine
    /// (in flight after a preemption) got only a prologue request, which a
    /// loop without calls never honours (found by experiment: a spinning
    /// goroutine ran through a frozen call).
    fn catch(&mut self, pcln: &Pclntab, frames: &[stillgo_runtime::Frame]) -> Catch {
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
    fn watch(&mut self, proc: &mut Process, at: &[u64]) -> Result<(), FreezeError> {
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
    fn release_catch_point(&mut self, proc: &mut Process, pc: u64) -> Result<(), FreezeError> {
        if !self.exempt.values().any(|&(_, r)| r == pc) && !self.watch_points.contains(&pc) && self.bps.contains(&pc) {
            proc.remove_breakpoint(pc)?;
            self.bps.retain(|&b| b != pc);
        }
        Ok(())
    }

    /// Whether a stop at `pc` concerns the freezer: a catch point of an
    /// exempt goroutine (even where a breakpoint of someone else's was
    /// already, and so not set by the freezer), a watch point.
    fn owns_bp(&self, pc: u64) -> bool {
        self.bps.contains(&pc) || self.watch_points.contains(&pc) || self.exempt.values().any(|&(_, r)| r == pc)
    }

    /// A thread stopped at one of the freezer's breakpoints.
    fn on_freezer_bp(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, pc: u64) -> Result<(), FreezeError> {
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
    fn watch_hit(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, pc: u64) -> Result<(), FreezeError> {
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
            let user = pcln.func_for_pc(at).is_some_and(|f| preempt::is_user_code(pcln, &f, at) && !f.is_asm());
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

    /// Watches goroutine creation while the call runs: goroutines the call
    /// (or one of the goroutines it started) creates run with it.
    fn watch_spawns(&mut self, proc: &mut Process, call_g: u64) -> Result<(), FreezeError> {
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
    fn override_startpc(&mut self, proc: &mut Process, g: u64) -> Result<(), FreezeError> {
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
    fn settle_override(&mut self, proc: &mut Process, g: u64, orig: u64) -> Result<(), FreezeError> {
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

    fn add_ngsys(&mut self, proc: &mut Process, d: i32) -> Result<(), FreezeError> {
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
    fn spawned(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<(), FreezeError> {
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

    fn is_user_start(&mut self, pcln: &Pclntab, start_pc: u64) -> bool {
        *self.user_start.entry(start_pc).or_insert_with(|| {
            // The goroutines schedule() parks while user scheduling is off
            // (runtime/proc.go schedEnabled): user goroutines, and the
            // finalizer and cleanup goroutines, whose user callbacks must
            // not run either.
            pcln.func_for_pc(start_pc).is_some_and(|f| versions::stopped_by_disabled_user_scheduling(&f.name))
        })
    }

    /// Every user goroutine (but the call's) that could still execute user
    /// code or is stopped inside runtime internals, with what to do.
    fn scan(&mut self, proc: &mut Process, pcln: &Pclntab, call_tid: Tid) -> Result<Vec<Action>, FreezeError> {
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
    fn inside_patched(&self, proc: &Process, pcln: &Pclntab, regs: &stillgo_proc::Registers) -> bool {
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
    fn step_out_of_switch(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<(), FreezeError> {
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
    fn step_to_curg(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<Option<u64>, FreezeError> {
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
    fn interrupted_context(&self, proc: &Process, g: &stillgo_runtime::Goroutine, fs_base: u64, sp: u64) -> Option<UnwindStart> {
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
    fn queued(&self, proc: &Process) -> Option<std::collections::HashSet<u64>> {
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
            let n = tail.wrapping_sub(head).min(P_RUNQ_LEN);
            if n == 0 {
                continue;
            }
            let ring = proc.read_vec(p + rq.p_runq, P_RUNQ_LEN as usize * 8).ok()?;
            for k in 0..n {
                let idx = (head.wrapping_add(k) % P_RUNQ_LEN) as usize * 8;
                let g = ring.get(idx..idx + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).unwrap_or(0);
                if g != 0 {
                    out.insert(g);
                }
            }
        }
        Some(out)
    }

    /// Whether a catch breakpoint may go at `at`: a return address (a CALL
    /// ends there) or a pc where the goroutine is known to resume; never
    /// inside an instruction.
    fn valid_catch(&self, proc: &Process, pcln: &Pclntab, at: u64) -> bool {
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

    /// How to stop goroutine `g`, running user code on `tid`, where it is.
    fn stop_here(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid, g: u64, stack_lo: u64) -> Result<Action, FreezeError> {
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
    fn m_preemptible(&self, proc: &Process, m: u64) -> bool {
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
    fn settle(&mut self, proc: &mut Process, pcln: &Pclntab, tid: Tid) -> Result<bool, FreezeError> {
        for _ in 0..SETTLE_MAX_STEPS {
            let pc = proc.regs(tid)?.pc();
            let Some(f) = pcln.func_for_pc(pc) else { return Ok(false) };
            if !preempt::is_user_code(pcln, &f, pc) || f.is_asm() {
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

    fn thaw_inner(&mut self, proc: &mut Process, pcln: &Pclntab, resuming: bool) -> Result<(), FreezeError> {
        if !self.frozen {
            return Ok(());
        }
        if !proc.is_alive() {
            self.frozen = false;
            return Ok(());
        }
        let mut first_err: Option<FreezeError> = None;
        if let Err(e) = self.wait_sched_lock_free(proc, pcln) {
            if let FreezeError::Exited(_) = e {
                self.frozen = false;
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
                if let Err(e) = self.wake_sysmon(proc) {
                    first_err.get_or_insert(e);
                }
            }
            Ok(false) => match self.splice_runnable(proc) {
                Ok(()) => {
                    self.frozen = false;
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
    fn enable_user_on_idle_thread(&mut self, proc: &mut Process, pcln: &Pclntab) -> Result<bool, FreezeError> {
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
            let set = if alone { vec![tid] } else { proc.threads().into_iter().filter(|t| *t == tid || !kept.contains(t)).collect() };
            if let Err(e) = proc.resume(ResumeMode::Only(set)) {
                break Err(e.into());
            }
            let ev = proc.wait();
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
                Ok(StopEvent::Exited { code }) => break Err(FreezeError::Exited(code)),
                Ok(StopEvent::Killed { signal }) => break Err(FreezeError::Exited(128 + signal)),
                // The idle thread itself at someone else's breakpoint (one
                // in the runtime): resuming steps over it. Keeping the
                // event would stop it for good.
                Ok(StopEvent::Breakpoint { tid: t, .. }) if t == tid => {}
                Ok(StopEvent::Trap { tid: t, pc }) if t == tid => {
                    break Err(FreezeError::Failed(format!("schedEnableUser trapped at {pc:#x} on the idle thread")));
                }
                Ok(ev) => self.keep_foreign(proc, ev, &mut kept),
                Err(e) => break Err(e.into()),
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
    fn idle_thread(&self, proc: &Process, pcln: &Pclntab) -> Result<Option<Tid>, FreezeError> {
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
    fn wake_sysmon(&self, proc: &mut Process) -> Result<(), FreezeError> {
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
    fn wait_sched_lock_free(&mut self, proc: &mut Process, pcln: &Pclntab) -> Result<(), FreezeError> {
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
                match proc.wait()? {
                    StopEvent::Interrupted { .. } => break,
                    StopEvent::Exited { code } => return Err(FreezeError::Exited(code)),
                    StopEvent::Killed { signal } => return Err(FreezeError::Exited(128 + signal)),
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
    fn splice_runnable(&mut self, proc: &mut Process) -> Result<(), FreezeError> {
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

    /// Debug: where every user goroutine is.
    fn positions(&mut self, proc: &Process, pcln: &Pclntab) -> HashMap<u64, (GStatus, u64, u64, u64)> {
        let Ok(gs) = stillgo_runtime::goroutines::all_goroutines(proc, &self.facts.layout) else { return HashMap::new() };
        gs.into_iter().filter(|g| self.is_user_start(pcln, g.start_pc) || self.exempt.contains_key(&g.addr)).map(|g| (g.addr, (g.status, g.sched_pc, g.sched_sp, g.id))).collect()
    }

    /// Debug: reports user goroutines that moved since the freeze completed.
    fn report_moved(&mut self, proc: &Process, pcln: &Pclntab) {
        let now = self.positions(proc, pcln);
        for (g, before) in std::mem::take(&mut self.snapshot) {
            if self.family.contains_key(&g) || self.exempt.contains_key(&g) {
                continue;
            }
            if let Some(after) = now.get(&g) {
                if (after.1, after.2) != (before.1, before.2) {
                    let f = |pc: u64| pcln.func_for_pc(pc).map(|f| f.name.to_string()).unwrap_or_default();
                    tracing::debug!(id = before.3, status_before = ?before.0, from = f(before.1), status_after = ?after.0, to = f(after.1), "MOVED while frozen");
                }
            }
        }
    }

    /// Debug dump of every user goroutine: status, where, thread.
    fn dump(&mut self, proc: &Process, pcln: &Pclntab, what: &str) {
        let layout = self.facts.layout.clone();
        let mut threads = HashMap::new();
        for tid in proc.threads() {
            let Ok(regs) = proc.regs(tid) else { continue };
            let curg = thread_goroutine_addr(proc, &layout, regs.fs_base()).ok().flatten();
            if let Some(g) = curg {
                threads.insert(g, (tid, regs.pc()));
            }
            let f = pcln.func_for_pc(regs.pc()).map(|f| f.name.to_string()).unwrap_or_default();
            tracing::trace!(what, tid, pc = regs.pc(), f, curg, "thread");
        }
        let Ok(gs) = stillgo_runtime::goroutines::all_goroutines(proc, &layout) else { return };
        tracing::debug!(what, disable_user = read_u8(proc, self.facts.sched.disable_user).ok(), patch = ?self.patches.iter().map(|&(a, _)| read_u8(proc, a).ok()).collect::<Vec<_>>(), "sched");
        for g in gs {
            if !self.is_user_start(pcln, g.start_pc) && !self.exempt.contains_key(&g.addr) {
                continue;
            }
            let f = |pc: u64| pcln.func_for_pc(pc).map(|f| f.name.to_string()).unwrap_or_default();
            let th = threads.get(&g.addr).map(|&(t, pc)| format!("tid {t} at {}", f(pc)));
            tracing::debug!(what, id = g.id, addr = g.addr, status = ?g.status, sched = f(g.sched_pc), ?th, exempt = self.exempt.contains_key(&g.addr), start = f(g.start_pc), "goroutine");
        }
    }

    /// Every thread but the held one and those whose event was kept for
    /// the caller (see [`Self::keep_foreign`]).
    fn all_but_held(&self, proc: &Process, kept: &[Tid]) -> ResumeMode {
        ResumeMode::Only(proc.threads().into_iter().filter(|&t| Some(t) != self.hold && !kept.contains(&t)).collect())
    }

    /// An event the freezer's own loops do not handle (a trap of the
    /// injected call's protocol, a user breakpoint hit by a goroutine
    /// running with the call): given back to the process for whoever
    /// waits next (the call loop), its thread left where it stopped.
    /// Swallowing it resumed the call's thread past a protocol trap, and
    /// the call never finished (found by experiment: a thaw that hung).
    fn keep_foreign(&self, proc: &mut Process, ev: StopEvent, kept: &mut Vec<Tid>) {
        if let StopEvent::Breakpoint { tid, .. } | StopEvent::Trap { tid, .. } = ev {
            tracing::debug!(?ev, "kept for the call");
            proc.keep_pending(ev);
            kept.push(tid);
        }
    }

    /// The call's goroutine waits (parked): what for and where.
    fn blocked_info(&self, proc: &Process, pcln: &Pclntab, started: Instant) -> Option<Blocked> {
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
            f.function.as_deref().is_some_and(|n| !(n.starts_with("runtime.") || n.starts_with("internal/") || n.starts_with("sync.") || n.starts_with("debugCall")))
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

/// For a goroutine stopped at `start`: the return address into its first
/// user frame, when the runtime frames above it are not just parking or
/// preemption plumbing (see [`PARK_FRAMES`]); None when it is at user level
/// (or nothing better is known).
fn internal_return(proc: &Process, pcln: &Pclntab, start: UnwindStart) -> Option<u64> {
    let frames = unwind(proc, pcln, start, 64);
    let mut internal = false;
    for f in &frames {
        let physical_runtime = pcln.func_for_pc(f.lookup_pc).is_none_or(|func| !preempt::is_user_code(pcln, &func, f.lookup_pc));
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
        if is_runtime_name(name) && !PARK_FRAMES.contains(&name) {
            internal = true;
        }
    }
    None
}

/// The interrupted registers saved by the kernel on the signal stack
/// `[lo, hi)` above `from` (see [`stillgo_proc::sigframe`]).
fn signal_frame_context(proc: &Process, from: u64, hi: u64, lo: u64) -> Option<UnwindStart> {
    stillgo_proc::sigframe::find_saved_context(proc, from, hi, lo).map(|c| UnwindStart { pc: c.pc, sp: c.sp, bp: c.bp })
}

/// Whether a thread without a current goroutine is in `runtime.park_m`
/// before its call of `schedule()`: in its body or in the wait's unlock
/// function it calls (chanparkcommit, netpollblockcommit...).
fn in_park_unlock(proc: &Process, pcln: &Pclntab, regs: &stillgo_proc::Registers) -> bool {
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
fn in_stack_switch(pcln: &Pclntab, pc: u64) -> bool {
    pcln.func_for_pc(pc).is_some_and(|f| versions::STACK_SWITCH_FUNCS.contains(&&*f.name))
}

/// Whether a thread without a current goroutine is between schedule()'s
/// choice of a goroutine and execute() making it current: in the body of
/// `runtime.schedule`, `runtime.execute` or `runtime.startlockedm`
/// (runtime/proc.go; the names are in [`versions::SCHEDULE_WINDOW`]).
fn in_schedule_window(pcln: &Pclntab, pc: u64) -> bool {
    pcln.func_for_pc(pc).is_some_and(|f| versions::SCHEDULE_WINDOW.contains(&&*f.name))
}

/// What preemptone does without the signal (runtime/proc.go): the
/// goroutine stops at its next function prologue (`g.preempt`,
/// `g.stackguard0 = stackPreempt`).
fn request_prologue_preemption(proc: &mut Process, sl: &SchedLayout, g: u64) -> Result<(), FreezeError> {
    proc.write_memory(g + sl.g_preempt, &[1])?;
    proc.write_memory(g + sl.g_stackguard0, &versions::STACK_PREEMPT.to_le_bytes())?;
    Ok(())
}

/// One instruction on `tid`, the other threads stopped. The debugger's own
/// stop request (SIGSTOP) may land on this thread meanwhile: the step is
/// then retried and the request made again for whoever waits for it (a
/// swallowed request hung a wait or let a goroutine through, found by a
/// second reviewer). False when the step ended otherwise (a breakpoint, a
/// signal reported by the policy...).
fn step_once(proc: &mut Process, tid: Tid) -> Result<bool, FreezeError> {
    let mut swallowed = false;
    let mut result = Ok(false);
    for _ in 0..8 {
        match proc.single_step(tid) {
            Ok(StopEvent::Exited { code }) => {
                result = Err(FreezeError::Exited(code));
                break;
            }
            Ok(StopEvent::Killed { signal }) => {
                result = Err(FreezeError::Exited(128 + signal));
                break;
            }
            Ok(StopEvent::SingleStep { .. }) => {
                result = Ok(true);
                break;
            }
            Ok(StopEvent::Interrupted { .. }) => swallowed = true,
            Ok(other) => {
                tracing::debug!(?other, "single step: unexpected event");
                break;
            }
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    if swallowed && proc.is_alive() {
        proc.interrupter().interrupt()?;
    }
    result
}

/// Where a running goroutine can be stopped without executing user code.
#[derive(Debug, Clone, Copy)]
enum Catch {
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

fn catch_point(pcln: &Pclntab, frames: &[stillgo_runtime::Frame]) -> Catch {
    let mut calls_user = false;
    for (i, f) in frames.iter().enumerate() {
        if i > 0 && f.physical == 0 {
            // An inlined frame shares its pc with the frame below.
            continue;
        }
        let Some(func) = pcln.func_for_pc(f.lookup_pc) else { return Catch::Unknown };
        if !preempt::is_user_code(pcln, &func, f.lookup_pc) || func.is_asm() {
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
            let others: Vec<Tid> = proc.threads().into_iter().filter(|&t| t != call_tid).collect();
            if others.is_empty() {
                break;
            }
            proc.resume(ResumeMode::Only(others))?;
            match proc.wait()? {
                StopEvent::Exited { code } => return Err(FreezeError::Exited(code)),
                StopEvent::Killed { signal } => return Err(FreezeError::Exited(128 + signal)),
                StopEvent::Breakpoint { tid, pc } if self.freezer.frozen && self.freezer.owns_bp(pc) => {
                    self.freezer.on_freezer_bp(proc, self.pcln, tid, pc)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl CallHooks for FrozenCall<'_> {
    fn resume_mode(&mut self, _call_tid: Tid) -> ResumeMode {
        ResumeMode::All
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
