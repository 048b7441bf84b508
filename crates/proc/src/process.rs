//! The ptrace backend: one traced process, all of its threads, software
//! breakpoints and the stop-all discipline.
//!
//! # Threading
//! ptrace binds a tracee to the tracer *thread*. A `Process` must therefore
//! be created, used and dropped on one thread: it is deliberately `!Send`.
//! Wait statuses are collected with `waitpid(-1, __WALL | __WNOTHREAD)`, so
//! only tracees and children of the calling thread are seen; keep one
//! `Process` per thread and do not spawn other children from that thread
//! while the process runs (their exit statuses would be consumed here).
//! Use an [`Interrupter`] to stop the process from another thread.
//!
//! # Stops
//! `wait` returns after one thread stopped for a reason the debugger cares
//! about; every other thread is then stopped with `PTRACE_INTERRUPT`. If
//! another thread hit a breakpoint, a `int3` of its own, or a reported
//! signal while being stopped, its PC is rewound (breakpoints) and the
//! event is kept *pending* on that thread: the next `resume` that includes
//! the thread does not run anything and the next `wait` returns the pending
//! event instead. A pending breakpoint event whose breakpoint was removed,
//! or whose thread's PC was changed, is dropped at `resume` (the thread
//! then simply runs the original instruction).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::Arc;

use nix::errno::Errno;

use crate::interrupt::{Interrupter, Shared};
use crate::launch::{self, ChildPipes, LaunchOptions};
use crate::mem::{err as mem_err, RawMemory};
use crate::regs::{FpRegisters, Registers};
use crate::sys::{self, Status};
use crate::{Memory, MemoryError, ProcError, SignalPolicy};

/// A Linux thread id.
pub type Tid = i32;

/// The x86 `int3` opcode.
const INT3: u8 = 0xCC;

/// Why the debugger got control back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopEvent {
    /// A thread executed one of our breakpoints. `pc` is the breakpoint's
    /// address; the thread's PC has been rewound to it.
    Breakpoint { tid: Tid, pc: u64 },
    /// `single_step` completed one instruction.
    SingleStep { tid: Tid },
    /// The program executed an `int3` that is not one of our breakpoints
    /// (e.g. `runtime.Breakpoint()`); `pc` is the thread's PC, just after it.
    Trap { tid: Tid, pc: u64 },
    /// A signal selected by the [`SignalPolicy`] arrived. It is delivered to
    /// the thread on its next resume unless discarded.
    Signal { tid: Tid, signal: i32 },
    /// The [`Interrupter`] stopped the process.
    Interrupted { tid: Tid },
    /// A thread called execve: the address space is new and every
    /// breakpoint is gone; only `tid` (= the PID) remains.
    Exec { tid: Tid },
    /// The thread being single-stepped exited (only from `single_step`).
    ThreadExited { tid: Tid },
    /// The process exited with this status.
    Exited { code: i32 },
    /// The process was killed by this signal.
    Killed { signal: i32 },
}

impl StopEvent {
    /// True for `Exited` and `Killed`: the process is gone.
    pub fn is_final(&self) -> bool {
        matches!(self, StopEvent::Exited { .. } | StopEvent::Killed { .. })
    }

    /// For a final event, the program's status as a shell reports it: the
    /// exit code, or 128 + the signal that killed it.
    pub fn exit_status(&self) -> Option<i32> {
        match *self {
            StopEvent::Exited { code } => Some(code),
            StopEvent::Killed { signal } => Some(128 + signal),
            _ => None,
        }
    }
}

/// Which threads `resume` lets run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeMode {
    All,
    /// Only these threads; the others stay stopped.
    Only(Vec<Tid>),
    /// Every stopped thread but these (threads created later run too).
    AllBut(Vec<Tid>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Running,
    Stopped,
}

#[derive(Debug)]
struct Thread {
    run: Run,
    /// `Some(sig)` while stopped in a signal-delivery-stop for `sig`: only
    /// from such a stop does `PTRACE_CONT` inject a signal (ptrace(2),
    /// "Signal injection and suppression").
    stop_sig: Option<i32>,
    /// Signals the thread received while we held it; delivered on resume.
    pending_signals: Vec<i32>,
    /// An event seen while stopping the world, reported by a later `wait`.
    pending_event: Option<StopEvent>,
    /// The thread is a zombie (a thread-group leader that exited before the
    /// other threads): it never stops again and is never resumed.
    zombie: bool,
}

impl Thread {
    fn new(run: Run) -> Thread {
        Thread { run, stop_sig: None, pending_signals: Vec::new(), pending_event: None, zombie: false }
    }
}

/// What a wait status meant, after the bookkeeping common to all contexts.
#[derive(Debug)]
enum Seen {
    ProcessGone(StopEvent),
    ThreadGone,
    /// A status for a task that is not part of this process.
    Foreign,
    Breakpoint(u64),
    /// A trap on a breakpoint removed meanwhile; the PC has been rewound.
    Phantom,
    StepTrap,
    Trap(u64),
    /// Interrupt-stop, new-thread stop, stale trap: nothing to report.
    Quiet,
    GroupStop,
    Clone,
    Exec,
    /// (signal, synchronous fault raised by the kernel)
    Signal(i32, bool),
    /// The SIGSTOP sent by our `Interrupter`.
    OurStop,
}

/// ptrace options for every tracee (see ptrace(2)).
const BASE_OPTIONS: i32 = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_TRACECLONE | libc::PTRACE_O_TRACEEXEC;

/// A traced process. See the module documentation for the threading rules
/// and stop semantics.
pub struct Process {
    pid: i32,
    threads: BTreeMap<Tid, Thread>,
    /// Active breakpoints: address -> original byte.
    breakpoints: BTreeMap<u64, u8>,
    /// Addresses of removed breakpoints, to recognise phantom hits by
    /// threads that executed the `int3` before it was removed.
    removed: HashSet<u64>,
    /// `None` once the process is gone.
    mem: Option<RawMemory>,
    launched: bool,
    alive: bool,
    interrupt: Arc<Shared>,
    policy: SignalPolicy,
    /// The thread being single-stepped.
    stepping: Option<Tid>,
    /// A process-wide event to report at the next `wait`.
    deferred: Option<StopEvent>,
    /// `resume` found events to deliver: `wait` returns them, nothing runs.
    deliver: Option<Vec<Tid>>,
    /// Target memory read during the current stop, by page: unwinding
    /// thousands of goroutines reads many small words from few pages, and
    /// one `process_vm_readv` per page instead of per word is the difference
    /// between milliseconds and seconds. Cleared whenever the program may
    /// have run or memory was written.
    page_cache: RefCell<HashMap<u64, Option<Box<[u8]>>>>,
    /// General registers read during the current stop: a breakpoint hit asks
    /// for the hitting thread's registers several times (goroutine, frame,
    /// condition), and each PTRACE_GETREGS is a system call. Cleared by
    /// everything that runs threads or changes registers behind `regs`.
    reg_cache: RefCell<HashMap<Tid, Registers>>,
    /// ptrace is per tracer thread: keep the value on the thread that made it.
    _not_send: PhantomData<*const ()>,
}

const PAGE: u64 = 4096;
/// Reads bigger than this bypass the page cache (bulk reads are already one
/// system call, and caching them would only copy).
const CACHE_MAX_READ: usize = 2 * PAGE as usize;
/// Bound on cached pages per stop (64 MiB).
const CACHE_MAX_PAGES: usize = 16 * 1024;

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .field("threads", &self.threads.keys().collect::<Vec<_>>())
            .field("breakpoints", &self.breakpoints.len())
            .field("alive", &self.alive)
            .finish_non_exhaustive()
    }
}

impl Process {
    fn new(pid: i32, launched: bool) -> Result<Process, ProcError> {
        let mem = RawMemory::open(pid).map_err(|source| ProcError::Io { context: format!("opening /proc/{pid}/mem"), source })?;
        Ok(Process {
            pid,
            threads: BTreeMap::new(),
            breakpoints: BTreeMap::new(),
            removed: HashSet::new(),
            mem: Some(mem),
            launched,
            alive: true,
            interrupt: Shared::new(pid),
            policy: SignalPolicy::default(),
            stepping: None,
            deferred: None,
            deliver: None,
            page_cache: RefCell::new(HashMap::new()),
            reg_cache: RefCell::new(HashMap::new()),
            _not_send: PhantomData,
        })
    }

    /// Starts a program stopped at its first instruction (the exec event),
    /// traced with `PTRACE_O_EXITKILL` so it dies with the debugger.
    pub fn launch(opts: &LaunchOptions) -> Result<(Process, Option<ChildPipes>), ProcError> {
        let launched = launch::launch(opts, BASE_OPTIONS | libc::PTRACE_O_EXITKILL)?;
        let pid = launched.pid;
        let mut p = match Process::new(pid, true) {
            Ok(p) => p,
            Err(e) => {
                let _ = sys::kill(pid, libc::SIGKILL);
                let _ = sys::wait_for(pid);
                return Err(e);
            }
        };
        p.threads.insert(pid, Thread::new(Run::Stopped));
        Ok((p, launched.pipes))
    }

    /// Attaches to every thread of a running process and stops them all.
    pub fn attach(pid: i32) -> Result<Process, ProcError> {
        if pid <= 0 {
            return Err(ProcError::InvalidArgument(format!("{pid} is not a process id")));
        }
        if pid == std::process::id() as i32 {
            return Err(ProcError::InvalidArgument("a process cannot debug itself".into()));
        }
        sys::seize(pid, BASE_OPTIONS).map_err(|e| match e {
            Errno::ESRCH => ProcError::NoSuchProcess { pid },
            Errno::EPERM => ProcError::PermissionDenied { pid, detail: permission_detail(pid) },
            errno => ProcError::Sys { op: "PTRACE_SEIZE", tid: pid, errno },
        })?;
        let mut p = match Process::new(pid, false) {
            Ok(p) => p,
            Err(e) => {
                let _ = sys::detach(pid, 0);
                return Err(e);
            }
        };
        p.threads.insert(pid, Thread::new(Run::Running));
        // Seize the other threads. Threads cloned by an already seized
        // thread are attached by the kernel (PTRACE_O_TRACECLONE) and show
        // up as clone events; threads cloned by a not yet seized one appear
        // in the next listing. Stop when a listing brings nothing new.
        if let Err(e) = p.seize_all_tasks() {
            let _ = p.detach_inner();
            return Err(e);
        }
        if let Some(gone) = p.stop_all()? {
            p.finish(gone);
            return Err(ProcError::Exited);
        }
        Ok(p)
    }

    fn seize_all_tasks(&mut self) -> Result<(), ProcError> {
        let me = sys::gettid();
        loop {
            let mut added = false;
            for tid in list_tasks(self.pid)? {
                if self.threads.contains_key(&tid) {
                    continue;
                }
                match sys::seize(tid, BASE_OPTIONS) {
                    Ok(()) => {}
                    Err(Errno::ESRCH) => continue,
                    // Already ours: auto-attached as the child of a seized thread.
                    Err(Errno::EPERM) if tracer_of(tid) == Some(me) => {}
                    Err(Errno::EPERM) => {
                        return Err(ProcError::PermissionDenied { pid: self.pid, detail: permission_detail(tid) })
                    }
                    Err(errno) => return Err(ProcError::Sys { op: "PTRACE_SEIZE", tid, errno }),
                }
                self.threads.insert(tid, Thread::new(Run::Running));
                added = true;
            }
            if !added {
                return Ok(());
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// True if this process was started by `launch` (killed on drop) rather
    /// than attached (detached on drop).
    pub fn is_launched(&self) -> bool {
        self.launched
    }

    /// True until the process exits, is killed, or is detached.
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Live traced threads, sorted.
    pub fn threads(&self) -> Vec<Tid> {
        self.threads.keys().copied().collect()
    }

    /// True if `tid` is traced and currently stopped.
    pub fn is_stopped(&self, tid: Tid) -> bool {
        self.threads.get(&tid).is_some_and(|t| t.run == Run::Stopped)
    }

    /// Gives back an event `wait` returned, for a later `wait`: the thread
    /// stays where it stopped, the next `resume` that includes it runs
    /// nothing and the next `wait` returns the event again. For code that
    /// waits for its own events and must not consume someone else's (a
    /// breakpoint or `int3` trap of an injected call's protocol). Final
    /// events (the process is gone) cannot be kept.
    pub fn keep_pending(&mut self, ev: StopEvent) {
        let tid = match ev {
            StopEvent::Breakpoint { tid, .. } | StopEvent::Trap { tid, .. } | StopEvent::Signal { tid, .. } => tid,
            _ => return,
        };
        if let Some(t) = self.threads.get_mut(&tid) {
            if t.run == Run::Stopped {
                t.pending_event = Some(ev);
            }
        }
    }

    /// Whether `tid` has an event waiting to be reported (see
    /// [`Process::keep_pending`]; events of threads stopped together with
    /// the one that stopped first).
    pub fn has_pending_event(&self, tid: Tid) -> bool {
        self.threads.get(&tid).is_some_and(|t| t.pending_event.is_some())
    }

    pub fn signal_policy(&self) -> SignalPolicy {
        self.policy
    }

    pub fn set_signal_policy(&mut self, policy: SignalPolicy) {
        self.policy = policy;
    }

    /// Signals waiting to be delivered to `tid` on its next resume.
    pub fn pending_signals(&self, tid: Tid) -> Vec<i32> {
        self.threads.get(&tid).map(|t| t.pending_signals.clone()).unwrap_or_default()
    }

    /// Drops the signals waiting for `tid` (e.g. after reporting a SIGSEGV
    /// the user wants suppressed).
    pub fn discard_pending_signals(&mut self, tid: Tid) -> Result<(), ProcError> {
        self.thread_mut(tid)?.pending_signals.clear();
        Ok(())
    }

    /// Sends signal `sig` to thread `tid` of the program (tgkill): it is
    /// delivered when the thread next runs, as any signal the program
    /// receives (reported or passed according to the signal policy).
    pub fn signal_thread(&self, tid: Tid, sig: i32) -> Result<(), ProcError> {
        sys::tgkill(self.pid(), tid, sig).map_err(|errno| ProcError::Sys { op: "tgkill", tid, errno })
    }

    pub fn interrupter(&self) -> Interrupter {
        Interrupter { shared: Arc::clone(&self.interrupt) }
    }

    fn ensure_alive(&self) -> Result<(), ProcError> {
        if self.alive {
            Ok(())
        } else {
            Err(ProcError::Exited)
        }
    }

    fn thread_mut(&mut self, tid: Tid) -> Result<&mut Thread, ProcError> {
        self.threads.get_mut(&tid).ok_or(ProcError::NoSuchThread { tid })
    }

    fn stopped_thread(&self, tid: Tid) -> Result<&Thread, ProcError> {
        self.ensure_alive()?;
        let t = self.threads.get(&tid).ok_or(ProcError::NoSuchThread { tid })?;
        if t.run != Run::Stopped || t.zombie {
            return Err(ProcError::ThreadRunning { tid });
        }
        Ok(t)
    }

    fn raw_mem(&self) -> Result<&RawMemory, ProcError> {
        self.mem.as_ref().ok_or(ProcError::Exited)
    }

    // ----- registers -------------------------------------------------------

    pub fn regs(&self, tid: Tid) -> Result<Registers, ProcError> {
        self.stopped_thread(tid)?;
        if let Some(r) = self.reg_cache.borrow().get(&tid) {
            return Ok(*r);
        }
        let r = sys::get_regs(tid).map(Registers).map_err(ProcError::sys("PTRACE_GETREGS", tid))?;
        self.reg_cache.borrow_mut().insert(tid, r);
        Ok(r)
    }

    pub fn set_regs(&mut self, tid: Tid, regs: &Registers) -> Result<(), ProcError> {
        self.stopped_thread(tid)?;
        self.reg_cache.get_mut().remove(&tid);
        sys::set_regs(tid, &regs.0).map_err(ProcError::sys("PTRACE_SETREGS", tid))
    }

    pub fn fp_regs(&self, tid: Tid) -> Result<FpRegisters, ProcError> {
        self.stopped_thread(tid)?;
        sys::get_fpregs(tid).map(FpRegisters).map_err(ProcError::sys("PTRACE_GETFPREGS", tid))
    }

    pub fn set_fp_regs(&mut self, tid: Tid, regs: &FpRegisters) -> Result<(), ProcError> {
        self.stopped_thread(tid)?;
        sys::set_fpregs(tid, &regs.0).map_err(ProcError::sys("PTRACE_SETFPREGS", tid))
    }

    // ----- memory and breakpoints ---------------------------------------------

    /// Writes target memory (text included). Bytes under a breakpoint update
    /// the breakpoint's saved original byte; the `int3` stays in place.
    pub fn write_memory(&mut self, addr: u64, data: &[u8]) -> Result<(), ProcError> {
        self.page_cache.get_mut().clear();
        self.ensure_alive()?;
        let end = addr
            .checked_add(data.len() as u64)
            .ok_or_else(|| ProcError::InvalidArgument(format!("write at {addr:#x} wraps around")))?;
        let mut buf = data.to_vec();
        for (&a, orig) in self.breakpoints.range_mut(addr..end) {
            let i = (a - addr) as usize;
            if let (Some(src), Some(dst)) = (data.get(i), buf.get_mut(i)) {
                *orig = *src;
                *dst = INT3;
            }
        }
        self.raw_mem()?.write(addr, &buf)?;
        Ok(())
    }

    /// Inserts an `int3` at `addr`. Idempotent.
    pub fn set_breakpoint(&mut self, addr: u64) -> Result<(), ProcError> {
        self.page_cache.get_mut().clear();
        self.ensure_alive()?;
        if self.breakpoints.contains_key(&addr) {
            return Ok(());
        }
        let mem = self.raw_mem()?;
        let mut orig = [0u8; 1];
        mem.read(addr, &mut orig)?;
        mem.write(addr, &[INT3])?;
        self.breakpoints.insert(addr, orig[0]);
        self.removed.remove(&addr);
        Ok(())
    }

    /// Removes the breakpoint at `addr`, if any.
    pub fn remove_breakpoint(&mut self, addr: u64) -> Result<(), ProcError> {
        self.page_cache.get_mut().clear();
        self.ensure_alive()?;
        if let Some(&orig) = self.breakpoints.get(&addr) {
            self.raw_mem()?.write(addr, &[orig])?;
            self.breakpoints.remove(&addr);
            self.removed.insert(addr);
        }
        Ok(())
    }

    pub fn has_breakpoint(&self, addr: u64) -> bool {
        self.breakpoints.contains_key(&addr)
    }

    /// Addresses of all active breakpoints, sorted.
    pub fn breakpoint_addrs(&self) -> Vec<u64> {
        self.breakpoints.keys().copied().collect()
    }

    // ----- execution control -------------------------------------------------

    /// Lets threads run. Threads sitting on an active breakpoint first step
    /// over it (alone, with the `int3` lifted). If a thread in the set has a
    /// pending event, nothing runs and the next `wait` reports it.
    pub fn resume(&mut self, mode: ResumeMode) -> Result<(), ProcError> {
        self.reg_cache.get_mut().clear();
        self.page_cache.get_mut().clear();
        self.ensure_alive()?;
        let set: Vec<Tid> = match mode {
            ResumeMode::All => self.threads.iter().filter(|(_, t)| t.run == Run::Stopped && !t.zombie).map(|(&tid, _)| tid).collect(),
            ResumeMode::AllBut(held) => {
                self.threads.iter().filter(|(tid, t)| t.run == Run::Stopped && !t.zombie && !held.contains(tid)).map(|(&tid, _)| tid).collect()
            }
            ResumeMode::Only(tids) => {
                for &tid in &tids {
                    self.stopped_thread(tid)?;
                }
                tids
            }
        };
        if self.deferred.is_some() || self.deliver.is_some() {
            self.deliver = Some(set);
            return Ok(());
        }
        self.drop_stale_events(&set);
        if set.iter().any(|tid| self.threads.get(tid).is_some_and(|t| t.pending_event.is_some())) {
            self.deliver = Some(set);
            return Ok(());
        }
        for &tid in &set {
            let Ok(regs) = sys::get_regs(tid) else { continue };
            if !self.breakpoints.contains_key(&regs.rip) {
                continue;
            }
            match self.step_thread(tid)? {
                StopEvent::SingleStep { .. } | StopEvent::ThreadExited { .. } => {}
                other => {
                    // Something happened while stepping over: report it
                    // without running anything else.
                    self.deferred = Some(other);
                    self.deliver = Some(set);
                    return Ok(());
                }
            }
        }
        for tid in set {
            if self.threads.get(&tid).is_some_and(|t| t.run == Run::Stopped && !t.zombie) {
                self.restart(tid);
            }
        }
        Ok(())
    }

    /// Drops pending breakpoint events that no longer hold: the breakpoint
    /// was removed or the thread was moved elsewhere.
    fn drop_stale_events(&mut self, set: &[Tid]) {
        for &tid in set {
            let Some(StopEvent::Breakpoint { pc, .. }) = self.threads.get(&tid).and_then(|t| t.pending_event) else {
                continue;
            };
            let still = self.breakpoints.contains_key(&pc) && sys::get_regs(tid).is_ok_and(|r| r.rip == pc);
            if !still {
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.pending_event = None;
                }
            }
        }
    }

    /// Continues one stopped thread, delivering its pending signals.
    fn restart(&mut self, tid: Tid) {
        let pid = self.pid;
        let Some(t) = self.threads.get_mut(&tid) else { return };
        let mut sigs = std::mem::take(&mut t.pending_signals).into_iter();
        // Inject the first signal directly when the thread sits in a
        // signal-delivery-stop (siginfo preserved if it is that signal);
        // re-send the others, which the thread then takes one by one.
        let inject = if t.stop_sig.is_some() { sigs.next().unwrap_or(0) } else { 0 };
        t.run = Run::Running;
        t.stop_sig = None;
        t.pending_event = None;
        if let Err(e) = sys::cont(tid, inject) {
            // ESRCH: the thread is dying (e.g. SIGKILL); its exit status is
            // collected by the next wait.
            tracing::debug!(tid, %e, "PTRACE_CONT failed");
        }
        for sig in sigs {
            if !sys::is_sync_fault(sig) {
                let _ = sys::tgkill(pid, tid, sig);
            }
        }
    }

    /// Blocks until a thread stops for a debugger-relevant reason, then
    /// stops all other threads and returns the event.
    pub fn wait(&mut self) -> Result<StopEvent, ProcError> {
        // Stopping threads rewinds PCs and may run nothing else through
        // `set_regs`: forget cached registers on the way in and out.
        self.reg_cache.get_mut().clear();
        let ev = self.wait_inner();
        self.reg_cache.get_mut().clear();
        ev
    }

    fn wait_inner(&mut self) -> Result<StopEvent, ProcError> {
        self.ensure_alive()?;
        if let Some(set) = self.deliver.take() {
            if let Some(ev) = self.deferred.take() {
                if ev.is_final() {
                    self.finish(ev);
                }
                return Ok(ev);
            }
            for tid in &set {
                if let Some(ev) = self.threads.get_mut(tid).and_then(|t| t.pending_event.take()) {
                    return Ok(ev);
                }
            }
            // Everything pending went stale: really run now.
            self.resume(ResumeMode::Only(set.into_iter().filter(|t| self.is_stopped(*t)).collect()))?;
            if self.deliver.is_some() {
                // The step-over found something new to report.
                return self.wait();
            }
        }
        if !self.threads.values().any(|t| t.run == Run::Running) {
            return self.wait_while_stopped();
        }
        let event = loop {
            let (tid, status) = match sys::wait_any() {
                Ok(s) => s,
                Err(errno) => return self.lost(errno),
            };
            let seen = self.observe(tid, status);
            if let Some(ev) = self.on_running(tid, seen) {
                break ev;
            }
        };
        if event.is_final() {
            self.finish(event);
            return Ok(event);
        }
        if let Some(gone) = self.stop_all()? {
            self.finish(gone);
            return Ok(gone);
        }
        Ok(event)
    }

    /// Decides what a status means while the process runs freely.
    fn on_running(&mut self, tid: Tid, seen: Seen) -> Option<StopEvent> {
        match seen {
            Seen::ProcessGone(ev) => Some(ev),
            Seen::ThreadGone | Seen::Foreign => None,
            Seen::Breakpoint(pc) => Some(StopEvent::Breakpoint { tid, pc }),
            Seen::Trap(pc) => Some(StopEvent::Trap { tid, pc }),
            Seen::Exec => Some(StopEvent::Exec { tid }),
            Seen::OurStop => Some(StopEvent::Interrupted { tid }),
            Seen::Signal(sig, _) if self.policy.reports(sig) => {
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.pending_signals.push(sig);
                }
                Some(StopEvent::Signal { tid, signal: sig })
            }
            Seen::Signal(sig, _) => {
                // Pass-through: hand the signal over on the spot.
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.pending_signals.push(sig);
                }
                self.restart(tid);
                None
            }
            // Group-stops (SIGSTOP from outside) are not honoured while
            // traced: restarting keeps the tracee from wedging.
            Seen::Phantom | Seen::Quiet | Seen::GroupStop | Seen::Clone | Seen::StepTrap => {
                self.restart(tid);
                None
            }
        }
    }

    /// Records what a status means for a thread we are stopping (or that
    /// must stay stopped): it stays stopped, events are kept pending.
    fn on_collecting(&mut self, tid: Tid, seen: Seen) -> Option<StopEvent> {
        let report = match &seen {
            Seen::Signal(sig, _) => self.policy.reports(*sig),
            _ => false,
        };
        let t = self.threads.get_mut(&tid);
        match (seen, t) {
            (Seen::ProcessGone(ev), _) => return Some(ev),
            (Seen::Exec, _) => self.deferred = Some(StopEvent::Exec { tid }),
            (Seen::Breakpoint(pc), Some(t)) => t.pending_event = Some(StopEvent::Breakpoint { tid, pc }),
            (Seen::Trap(pc), Some(t)) => t.pending_event = Some(StopEvent::Trap { tid, pc }),
            (Seen::Signal(sig, _), Some(t)) => {
                t.pending_signals.push(sig);
                if report {
                    t.pending_event = Some(StopEvent::Signal { tid, signal: sig });
                }
            }
            // Our SIGSTOP seen while stopping anyway: the request is
            // satisfied by this stop.
            _ => {}
        }
        None
    }

    /// Stops every running thread. Returns the final event if the process
    /// died meanwhile.
    fn stop_all(&mut self) -> Result<Option<StopEvent>, ProcError> {
        let running: Vec<Tid> = self.threads.iter().filter(|(_, t)| t.run == Run::Running).map(|(&tid, _)| tid).collect();
        for &tid in &running {
            if let Err(Errno::ESRCH) = sys::interrupt(tid) {
                // Dying, or a zombie leader that will never stop again.
                if is_zombie(self.pid, tid) {
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.zombie = true;
                        t.run = Run::Stopped;
                    }
                }
            }
        }
        if let Some(gone) = self.collect_while_running(None)? {
            return Ok(Some(gone));
        }
        for tid in running {
            if let Some(gone) = self.flush_pending_trap(tid)? {
                return Ok(Some(gone));
            }
        }
        Ok(None)
    }

    /// A thread that executed an `int3` (or finished a single step) just as
    /// PTRACE_INTERRUPT reached it reports the interrupt first: get_signal
    /// (kernel/signal.c) runs job-control traps before it dequeues even a
    /// synchronous signal. It is then stopped one byte past the breakpoint
    /// with the SIGTRAP still queued, and its registers point into the
    /// middle of an instruction: a debugger that saved or moved that PC
    /// resumed it there (found as pointers truncated to 32 bits: a skipped
    /// REX.W prefix). Restarting it delivers the SIGTRAP before it runs a
    /// single instruction, so its stop is classified (and its PC rewound)
    /// like any other breakpoint hit and kept pending.
    fn flush_pending_trap(&mut self, tid: Tid) -> Result<Option<StopEvent>, ProcError> {
        let Some(t) = self.threads.get(&tid) else { return Ok(None) };
        if t.run != Run::Stopped || t.zombie || t.stop_sig.is_some() || t.pending_event.is_some() {
            return Ok(None);
        }
        if !sys::trap_pending(tid).unwrap_or(false) {
            return Ok(None);
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.run = Run::Running;
        }
        if let Err(e) = sys::cont(tid, 0) {
            tracing::debug!(tid, %e, "PTRACE_CONT to flush a pending trap failed");
            if let Some(t) = self.threads.get_mut(&tid) {
                t.run = Run::Stopped;
            }
            return Ok(None);
        }
        self.collect_while_running(Some(tid))
    }

    /// Collects wait statuses, each kept on its thread (see
    /// `on_collecting`), while thread `only` (None: any thread) runs.
    /// Returns the final event if the process died meanwhile.
    fn collect_while_running(&mut self, only: Option<Tid>) -> Result<Option<StopEvent>, ProcError> {
        let running = |p: &Self| match only {
            Some(tid) => p.threads.get(&tid).is_some_and(|t| t.run == Run::Running),
            None => p.threads.values().any(|t| t.run == Run::Running),
        };
        while running(self) {
            let (tid, status) = match sys::wait_any() {
                Ok(s) => s,
                Err(errno) => return self.lost(errno).map(Some),
            };
            let seen = self.observe(tid, status);
            if let Some(ev) = self.on_collecting(tid, seen) {
                return Ok(Some(ev));
            }
        }
        Ok(None)
    }

    /// Executes one instruction on `tid`; the other threads stay stopped.
    /// A breakpoint at the PC is stepped over transparently.
    pub fn single_step(&mut self, tid: Tid) -> Result<StopEvent, ProcError> {
        self.reg_cache.get_mut().clear();
        self.page_cache.get_mut().clear();
        self.stopped_thread(tid)?;
        let ev = self.step_thread(tid)?;
        if ev.is_final() {
            self.finish(ev);
        }
        Ok(ev)
    }

    /// `wait` with every thread stopped: only a SIGKILL from outside can
    /// produce anything (it wakes ptrace-stopped threads). Collect that, or
    /// report the misuse.
    fn wait_while_stopped(&mut self) -> Result<StopEvent, ProcError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            match sys::wait_any_nohang() {
                Ok(Some((tid, status))) => {
                    let seen = self.observe(tid, status);
                    if let Some(ev) = self.on_collecting(tid, seen) {
                        self.finish(ev);
                        return Ok(ev);
                    }
                    continue;
                }
                Ok(None) => {}
                Err(errno) => return self.lost(errno),
            }
            let dying = self.threads.keys().any(|&tid| !matches!(task_state(self.pid, tid), Some('t')));
            if !dying || std::time::Instant::now() > deadline {
                return Err(ProcError::NothingRunning);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// A thread we held stopped vanished (ESRCH). Only SIGKILL wakes a
    /// ptrace-stopped thread, and SIGKILL always takes the whole thread
    /// group: collect statuses until the process is gone.
    fn collect_death(&mut self, target: Tid) -> Result<StopEvent, ProcError> {
        tracing::debug!(target, "thread vanished while stopped; collecting the exit");
        loop {
            let (tid, status) = match sys::wait_any() {
                Ok(s) => s,
                Err(errno) => return self.lost(errno),
            };
            let seen = self.observe(tid, status);
            if let Some(ev) = self.on_collecting(tid, seen) {
                self.finish(ev);
                return Ok(ev);
            }
        }
    }

    fn step_thread(&mut self, tid: Tid) -> Result<StopEvent, ProcError> {
        let pc = match sys::get_regs(tid) {
            Ok(r) => r.rip,
            Err(Errno::ESRCH) => return self.collect_death(tid),
            Err(errno) => return Err(ProcError::Sys { op: "PTRACE_GETREGS", tid, errno }),
        };
        let lifted = self.breakpoints.get(&pc).copied();
        if let Some(orig) = lifted {
            self.raw_mem()?.write(pc, &[orig])?;
        }
        self.stepping = Some(tid);
        let result = self.step_loop(tid);
        self.stepping = None;
        if lifted.is_some() && self.alive && self.breakpoints.contains_key(&pc) {
            if let Some(mem) = &self.mem {
                // Fails only if the process vanished, which the result says.
                let _ = mem.write(pc, &[INT3]);
            }
        }
        let ev = result?;
        if ev.is_final() {
            self.finish(ev);
        }
        Ok(ev)
    }

    fn step_loop(&mut self, target: Tid) -> Result<StopEvent, ProcError> {
        self.step_raw(target, 0);
        loop {
            let (tid, status) = match sys::wait_any() {
                Ok(s) => s,
                Err(errno) => return self.lost(errno),
            };
            let seen = self.observe(tid, status);
            if tid != target {
                // New threads (initial stop) and others stay stopped.
                if let Some(ev) = self.on_collecting(tid, seen) {
                    return Ok(ev);
                }
                continue;
            }
            match seen {
                Seen::ProcessGone(ev) => return Ok(ev),
                Seen::ThreadGone | Seen::Foreign => return Ok(StopEvent::ThreadExited { tid }),
                Seen::StepTrap => return Ok(StopEvent::SingleStep { tid }),
                Seen::Breakpoint(pc) => return Ok(StopEvent::Breakpoint { tid, pc }),
                Seen::Trap(pc) => return Ok(StopEvent::Trap { tid, pc }),
                Seen::Exec => return Ok(StopEvent::Exec { tid }),
                Seen::OurStop => return Ok(StopEvent::Interrupted { tid }),
                Seen::Signal(sig, true) => {
                    // A fault raised by the instruction itself: stepping
                    // again without it would fault forever.
                    if self.policy.reports(sig) {
                        if let Some(t) = self.threads.get_mut(&tid) {
                            t.pending_signals.push(sig);
                        }
                        return Ok(StopEvent::Signal { tid, signal: sig });
                    }
                    // Deliver it: the step ends at the handler's entry.
                    self.step_raw(tid, sig);
                }
                Seen::Signal(sig, false) => {
                    // Asynchronous (SIGURG preemption...): keep it for the
                    // next continue so the step stays one instruction.
                    let report = self.policy.reports(sig);
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.pending_signals.push(sig);
                        if report {
                            t.pending_event = Some(StopEvent::Signal { tid, signal: sig });
                        }
                    }
                    self.step_raw(tid, 0);
                }
                Seen::Phantom | Seen::Quiet | Seen::GroupStop | Seen::Clone => self.step_raw(tid, 0),
            }
        }
    }

    fn step_raw(&mut self, tid: Tid, sig: i32) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.run = Run::Running;
            t.stop_sig = None;
        }
        if let Err(e) = sys::step(tid, sig) {
            tracing::debug!(tid, %e, "PTRACE_SINGLESTEP failed");
        }
    }

    /// Interprets one wait status: updates the thread table, rewinds PCs
    /// after breakpoint traps, classifies the stop.
    fn observe(&mut self, tid: Tid, status: Status) -> Seen {
        match status {
            Status::Exited(code) => return self.task_gone(tid, StopEvent::Exited { code }),
            Status::Signaled(signal) => return self.task_gone(tid, StopEvent::Killed { signal }),
            _ => {}
        }
        if !self.threads.contains_key(&tid) {
            // A stop from a task we do not know: a new thread whose clone
            // event has not been seen yet (the order is not guaranteed).
            if tgid_of(tid) != Some(self.pid) {
                tracing::warn!(tid, "wait status from a task outside the process ignored");
                return Seen::Foreign;
            }
            self.threads.insert(tid, Thread::new(Run::Running));
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.run = Run::Stopped;
            t.stop_sig = match status {
                Status::SignalStop(sig) => Some(sig),
                _ => None,
            };
        }
        match status {
            Status::SignalStop(libc::SIGTRAP) => self.classify_trap(tid),
            Status::SignalStop(libc::SIGSTOP) if self.interrupt.take_request() => Seen::OurStop,
            Status::SignalStop(sig) => {
                let sync = sys::is_sync_fault(sig) && sys::siginfo(tid).is_ok_and(|i| i.si_code > 0);
                Seen::Signal(sig, sync)
            }
            Status::Event(sys::EVENT_STOP, sig) => {
                if matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU) {
                    Seen::GroupStop
                } else {
                    Seen::Quiet
                }
            }
            Status::Event(sys::EVENT_CLONE, _) => {
                if let Ok(new) = sys::event_msg(tid) {
                    let new = new as Tid;
                    // It reports an initial stop of its own, then runs or
                    // stays stopped with the rest.
                    self.threads.entry(new).or_insert_with(|| Thread::new(Run::Running));
                }
                Seen::Clone
            }
            Status::Event(sys::EVENT_EXEC, _) => {
                self.on_exec(tid);
                Seen::Exec
            }
            _ => Seen::Quiet,
        }
    }

    fn task_gone(&mut self, tid: Tid, ev: StopEvent) -> Seen {
        if tid == self.pid {
            // The leader's status comes last (the kernel delays it until the
            // thread group is empty): the whole process is gone.
            return Seen::ProcessGone(ev);
        }
        if self.threads.remove(&tid).is_some() {
            Seen::ThreadGone
        } else {
            Seen::Foreign
        }
    }

    fn classify_trap(&mut self, tid: Tid) -> Seen {
        let Ok(info) = sys::siginfo(tid) else { return Seen::Quiet };
        let Ok(mut regs) = sys::get_regs(tid) else { return Seen::Quiet };
        if info.si_code == sys::SI_KERNEL {
            // int3: the PC is one past the instruction.
            let at = regs.rip.wrapping_sub(1);
            if self.breakpoints.contains_key(&at) {
                regs.rip = at;
                let _ = sys::set_regs(tid, &regs);
                return Seen::Breakpoint(at);
            }
            let mut b = [0u8; 1];
            let is_int3 = self.mem.as_ref().is_some_and(|m| m.read(at, &mut b).is_ok() && b[0] == INT3);
            if !is_int3 && self.removed.contains(&at) {
                regs.rip = at;
                let _ = sys::set_regs(tid, &regs);
                return Seen::Phantom;
            }
            return Seen::Trap(regs.rip);
        }
        if info.si_code > 0 {
            // Single-step (TRAP_TRACE) or the trap after stepping a syscall.
            if self.stepping == Some(tid) || info.si_code == sys::TRAP_TRACE {
                return Seen::StepTrap;
            }
            return Seen::Trap(regs.rip);
        }
        // Sent by someone (kill, tgkill): a real signal for the program.
        Seen::Signal(libc::SIGTRAP, false)
    }

    fn on_exec(&mut self, tid: Tid) {
        // execve kills every other thread and replaces the address space:
        // breakpoints are gone with the old text.
        self.threads.retain(|&t, _| t == tid || t == self.pid);
        self.breakpoints.clear();
        self.removed.clear();
        match RawMemory::open(self.pid) {
            Ok(m) => self.mem = Some(m),
            Err(e) => tracing::warn!(%e, "reopening /proc/pid/mem after exec"),
        }
    }

    /// waitpid failed: with ECHILD nothing is left to wait for.
    fn lost<T>(&mut self, errno: Errno) -> Result<T, ProcError> {
        if errno == Errno::ECHILD {
            self.finish(StopEvent::Killed { signal: 0 });
            return Err(ProcError::Exited);
        }
        Err(ProcError::Sys { op: "waitpid", tid: -1, errno })
    }

    /// The process is gone.
    fn finish(&mut self, _ev: StopEvent) {
        self.alive = false;
        self.threads.clear();
        self.breakpoints.clear();
        self.mem = None;
        self.deferred = None;
        self.deliver = None;
        self.interrupt.mark_dead();
    }

    // ----- leaving -------------------------------------------------------------

    /// Removes all breakpoints and lets the program run on untraced.
    pub fn detach(mut self) -> Result<(), ProcError> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<(), ProcError> {
        if !self.alive {
            return Ok(());
        }
        if let Some(gone) = self.stop_all()? {
            self.finish(gone);
            return Ok(());
        }
        let mut first_err = None;
        if let Some(mem) = &self.mem {
            for (&addr, &orig) in &self.breakpoints {
                if let Err(e) = mem.write(addr, &[orig]) {
                    first_err.get_or_insert(ProcError::Memory(e));
                }
            }
        }
        self.breakpoints.clear();
        for (&tid, t) in &self.threads {
            if t.zombie {
                continue;
            }
            if let Err(e) = sys::detach(tid, 0) {
                if e != Errno::ESRCH {
                    first_err.get_or_insert(ProcError::Sys { op: "PTRACE_DETACH", tid, errno: e });
                }
            }
            for &sig in &t.pending_signals {
                // Faults recur by themselves when the instruction re-executes.
                if !sys::is_sync_fault(sig) {
                    let _ = sys::tgkill(self.pid, tid, sig);
                }
            }
        }
        if self.interrupt.take_request() {
            // Our SIGSTOP is still queued: SIGCONT discards it.
            let _ = sys::kill(self.pid, libc::SIGCONT);
        }
        self.finish(StopEvent::Exited { code: 0 });
        first_err.map_or(Ok(()), Err)
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(mut self) -> Result<(), ProcError> {
        self.kill_inner()
    }

    fn kill_inner(&mut self) -> Result<(), ProcError> {
        if !self.alive {
            return Ok(());
        }
        let pid = self.pid;
        match sys::kill(pid, libc::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => return Err(ProcError::Sys { op: "kill", tid: pid, errno }),
        }
        loop {
            match sys::wait_any() {
                Ok((tid, Status::Exited(_) | Status::Signaled(_))) if tid == pid => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.finish(StopEvent::Killed { signal: libc::SIGKILL });
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let r = if self.launched { self.kill_inner() } else { self.detach_inner() };
        if let Err(e) = r {
            tracing::warn!(pid = self.pid, %e, "cleaning up the traced process");
        }
    }
}

impl Process {
    /// Serves a small read from whole cached pages; false when the range is
    /// too big or touches a page that cannot be read whole (then the caller
    /// reads directly and reports the precise error).
    fn read_cached(&self, mem: &RawMemory, addr: u64, buf: &mut [u8]) -> bool {
        if buf.is_empty() || buf.len() > CACHE_MAX_READ {
            return false;
        }
        let Some(end) = addr.checked_add(buf.len() as u64) else { return false };
        let Ok(mut cache) = self.page_cache.try_borrow_mut() else { return false };
        if cache.len() >= CACHE_MAX_PAGES {
            cache.clear();
        }
        let mut page = addr & !(PAGE - 1);
        while page < end {
            let entry = cache.entry(page).or_insert_with(|| {
                let mut p = vec![0u8; PAGE as usize].into_boxed_slice();
                mem.read(page, &mut p).ok().map(|_| p)
            });
            let Some(bytes) = entry else { return false };
            let lo = addr.max(page);
            let hi = end.min(page + PAGE);
            let src = &bytes[(lo - page) as usize..(hi - page) as usize];
            buf[(lo - addr) as usize..(hi - addr) as usize].copy_from_slice(src);
            page += PAGE;
        }
        true
    }
}

impl Memory for Process {
    /// Bulk read; our `int3` bytes read as the original instruction bytes.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let mem = self.mem.as_ref().ok_or_else(|| mem_err(addr, buf.len(), "the process has exited"))?;
        if !self.read_cached(mem, addr, buf) {
            mem.read(addr, buf)?;
        }
        let end = addr.saturating_add(buf.len() as u64);
        for (&a, &orig) in self.breakpoints.range(addr..end) {
            if let Some(b) = buf.get_mut((a - addr) as usize) {
                *b = orig;
            }
        }
        Ok(())
    }
}

// ----- /proc helpers -----------------------------------------------------------

fn list_tasks(pid: i32) -> Result<Vec<Tid>, ProcError> {
    let dir = format!("/proc/{pid}/task");
    let rd = std::fs::read_dir(&dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ProcError::NoSuchProcess { pid },
        _ => ProcError::Io { context: format!("reading {dir}"), source },
    })?;
    Ok(rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
}

fn status_field(tid: Tid, field: &str) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.trim().parse().ok())
}

fn tgid_of(tid: Tid) -> Option<i32> {
    status_field(tid, "Tgid:")
}

/// The tracer *thread* id of `tid` (0 if untraced).
fn tracer_of(tid: Tid) -> Option<i32> {
    status_field(tid, "TracerPid:")
}

/// The scheduler state letter of a thread (`/proc/pid/task/tid/stat`).
fn task_state(pid: i32, tid: Tid) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

fn is_zombie(pid: i32, tid: Tid) -> bool {
    matches!(task_state(pid, tid), Some('Z' | 'X'))
}

fn permission_detail(pid: i32) -> String {
    if let Some(tracer) = tracer_of(pid).filter(|&t| t != 0) {
        return format!("it is already traced by process {tracer}");
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").ok().map(|s| s.trim().to_string());
    match scope {
        Some(s) if s != "0" => format!(
            "kernel.yama.ptrace_scope is {s}; set it to 0 (sysctl kernel.yama.ptrace_scope=0) or run the debugger with CAP_SYS_PTRACE"
        ),
        _ => "the process belongs to another user or is not dumpable; run the debugger as that user or with CAP_SYS_PTRACE".to_string(),
    }
}
