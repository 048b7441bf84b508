//! The freezer's state and what it knows: the facts about the program it
//! needs (resolved once per binary), the [`Freezer`] itself (everything
//! needed to undo a freeze), what it reports, and the small mechanisms the
//! other steps share (the preemption signal, single steps with the world
//! stopped, prologue preemption requests).

use std::collections::HashMap;
use std::time::Duration;

use stillgo_binary::{Binary, GoVersion, Pclntab};
use stillgo_dwarf::DebugInfo;
use stillgo_proc::{Memory, Process, ResumeMode, StopEvent, Tid};
use stillgo_binary::native::NativeRegs;
use stillgo_runtime::native::NativeFrames;
use stillgo_runtime::stack;
use stillgo_runtime::versions::{self, GStatus, Layout, MPreempt, RunQueues, SchedLayout};

use crate::events::step_alive;

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
    /// Offset of `m.incgo`: a thread in C code for a goroutine's cgo call.
    pub m_incgo: Option<u64>,
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
            m_locks: versions::m_locks_offset(dwarf).ok_or_else(|| FreezeError::Unsupported("runtime.m.locks not found in DWARF".into()))?,
            newproc1_returns: stillgo_runtime::goroutines::newproc1_return_sites(bin),
            user_callback_calls: stillgo_runtime::goroutines::user_callback_call_sites(bin, versions::calls_user_code),
            panic_callback_calls: stillgo_runtime::goroutines::user_callback_call_sites(bin, versions::runs_deferred_calls_on_runtime_errors),
            run_queues: RunQueues::from_dwarf(dwarf),
            m_preempt: MPreempt::from_dwarf(dwarf),
            m_vdso: versions::m_vdso_offsets(dwarf),
            m_incgo: versions::m_incgo_offset(dwarf),
            version: version.cloned(),
        })
    }
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
    /// Goroutines (their `runtime.g` addresses) stopped by pushing
    /// `asyncPreempt` at an asynchronous safe point.
    pub preempted: std::collections::BTreeSet<u64>,
    /// Goroutines let run through the runtime to a catch point (exempted).
    pub exempted: std::collections::BTreeSet<u64>,
    /// Exempted goroutines that reached their catch point and were stopped
    /// there before the thaw.
    pub caught: std::collections::BTreeSet<u64>,
    /// Goroutines watched where runtime code calls user code.
    pub watched: std::collections::BTreeSet<u64>,
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
    pub(super) facts: FreezeFacts,
    /// Original first bytes of the patched runtime functions.
    pub(super) patches: Vec<(u64, u8)>,
    /// Breakpoints the freezer set (returns into user code).
    pub(super) bps: Vec<u64>,
    /// Goroutines stopped inside the runtime, exempt from the freeze until
    /// they return to user code: g -> (original startpc, return address).
    pub(super) exempt: HashMap<u64, (u64, u64)>,
    pub(super) frozen: bool,
    /// Start functions already classified (user: true).
    pub(super) user_start: HashMap<u64, bool>,
    /// The call's goroutine and the goroutines it started (and theirs):
    /// they run with the call. g -> original startpc (0 for the call's).
    pub(super) family: HashMap<u64, u64>,
    /// Breakpoints at newproc1's returns, while a call runs.
    pub(super) spawn_bps: Vec<u64>,
    /// A thread that must not run while the freezer lets the others run:
    /// the call's thread when it is back at the user's stop (in user code).
    pub(super) hold: Option<Tid>,
    /// Pcs known to be where a goroutine resumes (saved g.sched.pc, a
    /// thread's pc, a signal context's pc): valid catch points although no
    /// CALL precedes them.
    pub(super) resume_points: std::collections::HashSet<u64>,
    /// Debug: each user goroutine's (status, sched.pc, sched.sp) when the
    /// freeze completed, to report any that moved by the end of the call.
    pub(super) snapshot: HashMap<u64, (GStatus, u64, u64, u64)>,
    /// The program's `asyncPreemptStack`, read at the freeze.
    pub(super) preempt_stack: u64,
    /// Breakpoints watching goroutines that run runtime code which calls
    /// user code (see [`Action::Watch`]): the indirect calls of those
    /// runtime functions and the watched goroutines' return addresses.
    pub(super) watch_bps: Vec<u64>,
    /// Every watched pc (some breakpoints were there already).
    pub(super) watch_points: std::collections::HashSet<u64>,
    /// Goroutines whose startpc the freezer overrode (exempt ones, the
    /// call's family, a frozen step's goroutine), until settled.
    pub(super) overridden: std::collections::HashSet<u64>,
    /// Goroutines made to call asyncPreempt, until they left their thread.
    pub(super) parking: std::collections::HashSet<u64>,
    /// Who was stopped how, for the report ([`FreezeReport`]).
    pub(super) seen: FreezeReport,
    /// Threads running C code for the program (see [`Freezer::c_threads`]):
    /// kept stopped from the freeze to the thaw.
    pub(super) in_c: std::collections::HashSet<Tid>,
    /// Rounds of the quiesce loop the last freeze needed.
    pub rounds: u32,
    /// The call's goroutine (`runtime.g` address), once started.
    pub(super) call_g: Option<u64>,
    /// A blocked call that was reported, and whether the world was thawed for it.
    pub blocked: Option<Blocked>,
    pub thawed_for_blocked: bool,
}

/// Upper bound on the time spent stopping the other goroutines.
pub(super) const QUIESCE_DEADLINE: Duration = Duration::from_secs(3);
/// First pause given to the other threads to take their preemption; doubles
/// each round up to [`QUIESCE_MAX_PAUSE`].
pub(super) const QUIESCE_FIRST_PAUSE: Duration = Duration::from_micros(150);
pub(super) const QUIESCE_MAX_PAUSE: Duration = Duration::from_millis(4);
/// Instructions single-stepped at most to bring a thread out of an unsafe
/// sequence (they are a few instructions long).
pub(super) const SETTLE_MAX_STEPS: u32 = 64;
/// Largest function prefix decoded to check an instruction boundary.
pub(super) const MAX_DECODE: u64 = 256 << 10;
/// Upper bound on a global queue walk.
pub(super) const GLOBAL_QUEUE_MAX: usize = 1 << 20;
/// Instructions single-stepped at most out of stack-switching assembly
/// (each is a few dozen instructions long).
pub(super) const SWITCH_STEP_MAX: u32 = 200;
/// Instructions single-stepped at most to bring a thread from schedule()'s
/// check to execute() setting m.curg.
pub(super) const SCHEDULE_STEP_MAX: u32 = 400;
/// Frames looked at to find a patched function on a thread's stack: the
/// deepest chain is schedEnableUser -> lock -> lock2 -> futexsleep -> futex
/// (runtime/lock_futex.go, lock_spinbit.go).
pub(super) const PATCHED_DEPTH: usize = 8;
/// Frames looked at to find park_m under a wait's unlock function (which
/// may call lock/unlock and futex wake-ups).
pub(super) const PARK_UNLOCK_DEPTH: usize = 6;
/// How long `schedEnableUser(true)` runs alone on an idle thread before the
/// other threads run too (see enable_user_on_idle_thread).
pub(super) const IDLE_THREAD_ALONE: Duration = Duration::from_millis(20);
/// Upper bound on that call.
pub(super) const IDLE_THREAD_DEADLINE: Duration = Duration::from_secs(10);
/// Attempts to find `sched.lock` free for the thaw splice.
pub(super) const THAW_LOCK_ATTEMPTS: u32 = 200;
/// A call that waits (parked) this long on the frozen world is reported.
/// Below the one second, so the report comes within a second of
/// the call blocking even when the machine is busy.
pub const BLOCKED_AFTER: Duration = Duration::from_millis(700);

pub(super) fn read_u8(proc: &Process, addr: u64) -> Result<u8, FreezeError> {
    let mut b = [0u8; 1];
    proc.read(addr, &mut b)?;
    Ok(b[0])
}

/// Asks thread `tid` to take the runtime's preemption signal (SIGURG,
/// runtime/signal_unix.go preemptM): its handler runs when the thread next
/// runs. A failure only delays the freeze to the next round.
pub(super) fn sigurg(proc: &Process, tid: Tid) {
    if let Err(e) = proc.signal_thread(tid, versions::SIG_PREEMPT) {
        tracing::debug!(tid, %e, "SIGURG not sent");
    }
}

/// What a goroutine needs so that it runs no more user code.
#[derive(Debug)]
pub(super) enum Action {
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



/// What preemptone does without the signal (runtime/proc.go): the
/// goroutine stops at its next function prologue (`g.preempt`,
/// `g.stackguard0 = stackPreempt`).
pub(super) fn request_prologue_preemption(proc: &mut Process, sl: &SchedLayout, g: u64) -> Result<(), FreezeError> {
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
pub(super) fn step_once(proc: &mut Process, tid: Tid) -> Result<bool, FreezeError> {
    let mut swallowed = false;
    let mut result = Ok(false);
    for _ in 0..8 {
        match step_alive(proc, tid, FreezeError::Exited) {
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
                result = Err(e);
                break;
            }
        }
    }
    if swallowed && proc.is_alive() {
        proc.interrupter().interrupt()?;
    }
    result
}

impl Freezer {
    pub fn new(facts: FreezeFacts) -> Freezer {
        Freezer {
            seen: FreezeReport::default(),
            in_c: Default::default(),
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
        let seen = std::mem::take(&mut self.seen);
        FreezeReport {
            frozen: self.rounds > 0 || self.frozen || self.blocked.is_some(),
            blocked: self.blocked.take(),
            thawed_early: self.thawed_for_blocked,
            rounds: self.rounds,
            ..seen
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Whether a stop at `pc` concerns the freezer: a catch point of an
    /// exempt goroutine (even where a breakpoint of someone else's was
    /// already, and so not set by the freezer), a watch point.
    pub(super) fn owns_bp(&self, pc: u64) -> bool {
        self.bps.contains(&pc) || self.watch_points.contains(&pc) || self.exempt.values().any(|&(_, r)| r == pc)
    }

    /// Every thread but the held one and those whose event was kept for
    /// the caller (see [`Self::keep_foreign`]).
    pub(super) fn all_but_held(&self, proc: &Process, kept: &[Tid]) -> ResumeMode {
        ResumeMode::Only(proc.threads().into_iter().filter(|&t| Some(t) != self.hold && !kept.contains(&t) && !self.in_c.contains(&t)).collect())
    }

    /// The threads that may run while the world is frozen: all but those
    /// running C code ([`Freezer::c_threads`]) and `except`.
    pub(super) fn may_run(&self, proc: &Process, except: &[Tid]) -> Vec<Tid> {
        proc.threads().into_iter().filter(|t| !except.contains(t) && !self.in_c.contains(t)).collect()
    }

    /// Threads running C code on behalf of the program, which the freeze
    /// keeps stopped: C code changes program state too (a C counter, a C
    /// library's data), and the scheduler cannot stop it. Such a thread is
    /// outside every Go function and either runs a goroutine's cgo call
    /// (`m.incgo`, runtime/cgocall.go) or is a thread C code created (no
    /// `g` in its TLS), which would run Go code through a callback
    /// (cgocallback needs no scheduler). Threads the runtime itself has in
    /// C (vDSO calls, thread creation on g0) are not held: the runtime may
    /// hold locks there that the call needs. A goroutine that returns from
    /// C meanwhile is stopped by the scheduler (`exitsyscall` checks
    /// `sched.disable.user`). Stopping them costs nothing: a P in a cgo call
    /// is in `_Psyscall`, which a stop-the-world takes without its thread.
    /// A thread without `g` that the runtime is starting (an M of a cgo
    /// binary begins in C, [`runtime_thread_start`]) is not held: the
    /// runtime may have handed it a P already, and a GC the call runs
    /// would wait for that P forever (found by experiment: a frozen
    /// `runtime.GC()` that hung in forEachP on an externally linked binary).
    pub(super) fn c_threads(&self, proc: &Process, pcln: &Pclntab, call_tid: Tid) -> std::collections::HashSet<Tid> {
        let l = &self.facts.layout;
        let mut out = std::collections::HashSet::new();
        let mut native = None;
        for tid in proc.threads() {
            if tid == call_tid {
                continue;
            }
            let Ok(regs) = proc.regs(tid) else { continue };
            if pcln.func_for_pc(regs.pc()).is_some() {
                continue;
            }
            let Ok(g) = proc.read_u64(regs.fs_base().wrapping_add(versions::TLS_G_OFFSET as u64)) else { continue };
            let hold = if g == 0 {
                let native = native.get_or_insert_with(|| NativeFrames::new(proc.pid()));
                !runtime_thread_start(proc, pcln, native, &regs)
            } else {
                let m = proc.read_u64(g + l.g_m).unwrap_or(0);
                let incgo = self.facts.m_incgo.and_then(|o| read_u8(proc, m + o).ok());
                m != 0 && incgo == Some(1) && proc.read_u64(m + l.m_curg).is_ok_and(|c| c != 0)
            };
            if hold {
                out.insert(tid);
            }
        }
        if !out.is_empty() {
            tracing::debug!(?out, "threads in C code stay stopped while frozen");
        }
        out
    }

    /// An event the freezer's own loops do not handle (a trap of the
    /// injected call's protocol, a user breakpoint hit by a goroutine
    /// running with the call): given back to the process for whoever
    /// waits next (the call loop), its thread left where it stopped.
    /// Swallowing it resumed the call's thread past a protocol trap, and
    /// the call never finished (found by experiment: a thaw that hung).
    pub(super) fn keep_foreign(&self, proc: &mut Process, ev: StopEvent, kept: &mut Vec<Tid>) {
        if let StopEvent::Breakpoint { tid, .. } | StopEvent::Trap { tid, .. } = ev {
            tracing::debug!(?ev, "kept for the call");
            proc.keep_pending(ev);
            kept.push(tid);
        }
    }
}

/// Whether a thread outside Go code with no `g` is one the runtime is
/// starting rather than one C code runs: its C stack goes through the
/// runtime's thread start-up ([`versions::CGO_THREAD_START`]), or holds
/// nothing but the C library's thread creation (too young to tell whose it
/// is; letting it run cannot hang the call, holding a runtime thread can).
fn runtime_thread_start(proc: &Process, pcln: &Pclntab, native: &NativeFrames, regs: &stillgo_proc::Registers) -> bool {
    let regs: NativeRegs = std::array::from_fn(|n| regs.dwarf(n as u16));
    let frames = stack::unwind_native(proc, pcln, &stack::PcCache::default(), &stack::Native { frames: native, g: None }, regs, 32);
    let names: Vec<&str> = frames.iter().filter_map(|f| f.function.as_deref()).map(|n| n.strip_prefix("C.").unwrap_or(n)).collect();
    names.iter().any(|n| versions::CGO_THREAD_START.contains(n)) || names.iter().all(|n| versions::LIBC_THREAD_START.contains(n))
}
