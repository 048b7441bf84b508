//! The debugger session: one program, one process, the breakpoints, and
//! what the user has selected (goroutine, frame). Front ends (terminal and
//! DAP) drive everything through [`Session`].

pub mod breakpoints;
pub mod disasm;
pub mod locspec;
pub mod paths;
pub mod program;
pub mod source;
mod stepping;
mod call;
pub use stillgo_world::{Blocked, BlockedChoice, FreezeReport};
pub use call::{CallOptions, CallOutcome, CallValue};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stillgo_proc::{Interrupter, LaunchOptions, Memory, Process, StopEvent, Tid};
use stillgo_runtime::native::NativeFrames;
use stillgo_runtime::goroutines::{self, Goroutine};
use stillgo_runtime::stack::{self, Frame, UnwindStart};
use stillgo_runtime::vars::{frame_variables, FrameRegs, FrameVar};
use stillgo_runtime::{GStatus, Layout, Limits, Reader, Value};

pub use breakpoints::{Breakpoint, HitCondition, TraceHit, TraceHook};
pub use locspec::LocSpec;
pub use program::{Program, CHECK_GO_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Binary(#[from] stillgo_binary::BinaryError),
    #[error("{0}")]
    Dwarf(#[from] stillgo_dwarf::DwarfError),
    #[error("{0}")]
    Runtime(#[from] stillgo_runtime::RuntimeError),
    #[error("{0}")]
    Proc(#[from] stillgo_proc::ProcError),
    #[error("{0}")]
    Eval(#[from] stillgo_eval::EvalError),
    /// A call could not be resolved (unknown callee, bad arguments).
    #[error("{0}")]
    Resolve(stillgo_eval::call::ResolveError),
    /// An injected call failed (registers and stack of its thread restored).
    #[error("{0}")]
    Call(#[from] stillgo_world::CallError),
    /// The other goroutines could not be frozen; nothing is left frozen.
    #[error("{0}")]
    Freeze(stillgo_world::FreezeError),
    /// The thaw after a frozen call or step failed: the program may still be
    /// frozen, and the user must decide (detach, kill).
    #[error("{0}; the program may stay frozen: detach or kill it")]
    MayStayFrozen(stillgo_world::FreezeError),
    /// A frozen call waited on a frozen goroutine; the program was thawed so
    /// the call could finish.
    #[error(
        "the call blocked while the other goroutines were frozen: goroutine {goroutine} {what}; the program was thawed so the call could finish{}",
        if *discarded { " (its result is discarded: run it again with the world thawed to see it)" } else { "" }
    )]
    CallBlocked { goroutine: u64, what: String, discarded: bool },
    #[error("{0}")]
    BadLocation(String),
    #[error("the program has exited (status {0}); use restart to run it again")]
    Exited(i32),
    #[error("the program is not running; use restart to run it again")]
    NotRunning,
    #[error("no debug information: this binary was built without DWARF (or stripped); variables and types are unavailable, functions, breakpoints and stacks still work")]
    NoDebugInfo,
    #[error("{0}")]
    Invalid(String),
}

impl From<stillgo_eval::call::ResolveError> for SessionError {
    fn from(e: stillgo_eval::call::ResolveError) -> Self {
        match e {
            stillgo_eval::call::ResolveError::Eval(e) => SessionError::Eval(e),
            other => SessionError::Resolve(other),
        }
    }
}

pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// How the process came to be, so `restart` can do it again and `exit`
/// knows whether to kill or detach.
#[derive(Debug, Clone)]
pub enum Origin {
    Launched(LaunchOptions),
    Attached(i32),
}

/// Why the program stopped, as reported to the user.
#[derive(Debug, Clone)]
pub enum Stop {
    /// Stopped at the program's entry (after launch) or after attach.
    Entry,
    Breakpoint { ids: Vec<u32>, tid: Tid, goroutine: Option<u64> },
    /// A next/step/stepout/step-instruction finished.
    StepDone { tid: Tid, goroutine: Option<u64> },
    /// Stopped by the user (Ctrl-C / pause).
    Interrupted { tid: Tid },
    /// The program received a signal the debugger reports (e.g. a crash).
    Signal { tid: Tid, signal: i32 },
    Exited { code: i32 },
    Killed { signal: i32 },
}

/// What is selected: the goroutine and frame that commands apply to.
#[derive(Debug, Clone, Default)]
struct Selection {
    goroutine: Option<u64>,
    thread: Option<Tid>,
    frame: usize,
}

/// Data read once per stop and thrown away when the program runs.
#[derive(Default)]
struct StopCache {
    goroutines: Option<Arc<Vec<Goroutine>>>,
    thread_g: Option<HashMap<Tid, u64>>,
    /// Goroutines of single threads looked up before the full map.
    one_thread_g: HashMap<Tid, Option<u64>>,
}

/// A goroutine with where it is, for listings.
#[derive(Debug, Clone)]
pub struct GoroutineInfo {
    pub g: Goroutine,
    pub thread: Option<Tid>,
    /// Current location: pc, function, file, line (top user frame for
    /// goroutines parked inside the runtime is computed on demand).
    pub pc: u64,
    pub function: Option<String>,
    pub file: Option<Arc<str>>,
    pub line: u32,
    pub wait_reason: Option<String>,
    /// Topmost frame in user code (not the runtime), when asked for.
    pub user_frame: Option<Frame>,
}

/// A frame of the user's own code (stillgo_runtime::code: not the
/// runtime's packages, not the standard library's internal ones, not
/// runtime code published under another name).
pub fn is_user_frame(f: &Frame) -> bool {
    f.function.as_deref().is_some_and(|name| stillgo_runtime::code::is_user(name, f.file.as_deref()))
}

#[derive(Debug, Clone)]
pub struct ThreadInfo {
    pub tid: Tid,
    pub pc: u64,
    pub function: Option<String>,
    pub file: Option<Arc<str>>,
    pub line: u32,
    pub goroutine: Option<u64>,
}

pub struct Session {
    pub program: Program,
    proc: Option<Process>,
    origin: Origin,
    exit_code: Option<i32>,
    bps: breakpoints::Table,
    sel: Selection,
    cache: StopCache,
    wait_reasons: Option<Vec<String>>,
    /// Symbol-table facts per pc, for unwinding (valid for the binary's life).
    pc_cache: stack::PcCache,
    /// The process's C code, for stacks through cgo calls.
    native: NativeFrames,
    pub limits: Limits,
    pub last_stop: Option<Stop>,
    /// `next`/`step`/`stepout` freeze every other goroutine (stepping.rs, with stillgo_world::freeze::FrozenStep).
    pub freeze_steps: bool,
    /// Where the sources the binary names are on this machine.
    pub sources: paths::SourceMap,
    /// What the freezer did during the last frozen step.
    pub last_step_freeze: Option<FreezeReport>,
}

impl Session {
    pub fn launch(opts: LaunchOptions) -> Result<(Session, Option<stillgo_proc::ChildPipes>)> {
        let program = Program::open(&opts.program)?;
        let (proc, pipes) = Process::launch(&opts)?;
        let program = program.for_process(proc.pid())?;
        let mut s = Session::new(program, proc, Origin::Launched(opts));
        s.last_stop = Some(Stop::Entry);
        s.select_default_after_stop(None);
        Ok((s, pipes))
    }

    pub fn attach(pid: i32) -> Result<Session> {
        if pid <= 0 || !PathBuf::from(format!("/proc/{pid}")).exists() {
            return Err(SessionError::Invalid(format!("could not attach to pid {pid}: no such process")));
        }
        let exe = PathBuf::from(format!("/proc/{pid}/exe"));
        let exe = std::fs::read_link(&exe).unwrap_or(exe);
        // Open the binary first: refusing a non-Go program must not disturb it.
        let program = Program::open(&exe)?.for_process(pid)?;
        let proc = Process::attach(pid)?;
        let mut s = Session::new(program, proc, Origin::Attached(pid));
        s.last_stop = Some(Stop::Entry);
        s.select_default_after_stop(None);
        Ok(s)
    }

    fn new(program: Program, proc: Process, origin: Origin) -> Session {
        let sources = paths::SourceMap::new(program.bin.main_module().map(str::to_string), &program.path);
        Session {
            sources,
            native: NativeFrames::new(proc.pid()),
            program,
            proc: Some(proc),
            origin,
            exit_code: None,
            bps: breakpoints::Table::default(),
            sel: Selection::default(),
            cache: StopCache::default(),
            wait_reasons: None,
            pc_cache: stack::PcCache::default(),
            limits: Limits::default(),
            last_stop: None,
            freeze_steps: false,
            last_step_freeze: None,
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    pub fn pid(&self) -> Option<i32> {
        self.proc.as_ref().map(|p| p.pid())
    }

    pub fn interrupter(&self) -> Option<Interrupter> {
        self.proc.as_ref().map(|p| p.interrupter())
    }

    pub(crate) fn proc(&self) -> Result<&Process> {
        match &self.proc {
            Some(p) => Ok(p),
            None => Err(match self.exit_code {
                Some(c) => SessionError::Exited(c),
                None => SessionError::NotRunning,
            }),
        }
    }

    pub(crate) fn proc_mut(&mut self) -> Result<&mut Process> {
        let code = self.exit_code;
        self.proc.as_mut().ok_or(match code {
            Some(c) => SessionError::Exited(c),
            None => SessionError::NotRunning,
        })
    }

    pub fn memory(&self) -> Result<&dyn Memory> {
        Ok(self.proc()? as &dyn Memory)
    }

    pub fn reader(&self) -> Result<Reader<'_>> {
        let dwarf = self.program.dwarf()?;
        Ok(Reader::new(self.memory()?, dwarf, self.program.bin.pclntab()))
    }

    // ---- process lifetime -------------------------------------------------

    /// Ends the session: kills a launched program, detaches from an attached
    /// one (removing every breakpoint first, so it runs on unharmed).
    pub fn end(&mut self) -> Result<()> {
        if let Some(p) = self.proc.take() {
            match self.origin {
                Origin::Launched(_) => p.kill()?,
                Origin::Attached(_) => p.detach()?,
            }
        }
        Ok(())
    }

    /// Detaches, leaving the program running (for launched programs too).
    pub fn detach(&mut self) -> Result<()> {
        if let Some(p) = self.proc.take() {
            p.detach()?;
        }
        Ok(())
    }

    /// Kills the process and launches it again, keeping breakpoints.
    pub fn restart(&mut self) -> Result<Option<stillgo_proc::ChildPipes>> {
        let Origin::Launched(opts) = self.origin.clone() else {
            return Err(SessionError::Invalid("cannot restart a process that was attached to".into()));
        };
        if let Some(p) = self.proc.take() {
            let _ = p.kill();
        }
        let (mut proc, pipes) = Process::launch(&opts)?;
        // A position-independent executable may run elsewhere this time:
        // the program is opened again for the new addresses and every
        // breakpoint moves with its code.
        if let Some(moved) = self.program.rebased_for(proc.pid())? {
            self.bps.shift(moved.bin.load_bias().wrapping_sub(self.program.bin.load_bias()));
            self.program = moved;
            self.pc_cache = stack::PcCache::default();
        }
        for addr in self.bps.all_addrs() {
            proc.set_breakpoint(addr)?;
        }
        self.bps.reset_hits();
        self.native = NativeFrames::new(proc.pid());
        self.proc = Some(proc);
        self.exit_code = None;
        self.invalidate();
        self.sel = Selection::default();
        self.last_stop = Some(Stop::Entry);
        Ok(pipes)
    }

    fn invalidate(&mut self) {
        self.cache = StopCache::default();
        self.native.invalidate();
    }

    fn process_gone(&mut self, stop: &Stop) {
        if let Stop::Exited { code } = stop {
            self.exit_code = Some(*code);
        } else if let Stop::Killed { signal } = stop {
            self.exit_code = Some(128 + signal);
        }
        self.proc = None;
        self.invalidate();
    }

    // ---- goroutines and threads ----------------------------------------------

    pub fn threads(&mut self) -> Result<Vec<ThreadInfo>> {
        let tids = self.proc()?.threads();
        let map = self.thread_goroutines()?;
        let mut out = Vec::new();
        for tid in tids {
            let regs = self.proc()?.regs(tid)?;
            let pc = regs.pc();
            let (file, line) = self.program.line_for_pc(pc).map(|(f, l)| (Some(f), l)).unwrap_or((None, 0));
            let goroutine = map.get(&tid).copied();
            let function = self.program.func_name(pc).or_else(|| self.native.function(pc).map(|(name, _)| name.to_string()));
            out.push(ThreadInfo { tid, pc, function, file, line, goroutine });
        }
        Ok(out)
    }

    /// Which goroutine id each thread is running (computed once per stop).
    fn thread_goroutines(&mut self) -> Result<HashMap<Tid, u64>> {
        if let Some(m) = &self.cache.thread_g {
            return Ok(m.clone());
        }
        let mut m = HashMap::new();
        for tid in self.proc()?.threads() {
            // A thread that cannot be read (exiting) just has no goroutine.
            if let Ok(Some(id)) = self.read_thread_goroutine(tid) {
                m.insert(tid, id);
            }
        }
        self.cache.thread_g = Some(m.clone());
        Ok(m)
    }

    /// The goroutine a thread runs. Looks at that thread alone unless the
    /// map of all threads is already known: a breakpoint hit (conditions,
    /// stepping) must not pay for every thread's registers.
    pub fn goroutine_of_thread(&mut self, tid: Tid) -> Result<Option<u64>> {
        if let Some(m) = &self.cache.thread_g {
            return Ok(m.get(&tid).copied());
        }
        if let Some(g) = self.cache.one_thread_g.get(&tid) {
            return Ok(*g);
        }
        let id = self.read_thread_goroutine(tid)?;
        self.cache.one_thread_g.insert(tid, id);
        Ok(id)
    }

    /// Reads which goroutine `tid` runs (its TLS g, or its M's curg).
    fn read_thread_goroutine(&self, tid: Tid) -> Result<Option<u64>> {
        let Some(layout) = &self.program.layout else { return Ok(None) };
        let proc = self.proc()?;
        let regs = proc.regs(tid)?;
        match goroutines::thread_goroutine_addr(proc, layout, regs.fs_base())? {
            Some(gaddr) => Ok(Some(goroutines::read_goroutine(proc, layout, gaddr)?.id)),
            None => Ok(None),
        }
    }

    fn thread_of_goroutine(&mut self, gid: u64) -> Result<Option<Tid>> {
        Ok(self.thread_goroutines()?.iter().find(|(_, g)| **g == gid).map(|(t, _)| *t))
    }

    /// Every live goroutine, read once per stop.
    pub fn all_goroutines(&mut self) -> Result<Arc<Vec<Goroutine>>> {
        if let Some(gs) = &self.cache.goroutines {
            return Ok(gs.clone());
        }
        let layout = self.layout_with_globals()?;
        let gs = Arc::new(goroutines::all_goroutines(self.proc()?, &layout)?);
        self.cache.goroutines = Some(gs.clone());
        Ok(gs)
    }

    /// The runtime layout with `allgs` located: from DWARF, or for binaries
    /// without it, discovered in the running program's code once.
    fn layout_with_globals(&mut self) -> Result<stillgo_runtime::Layout> {
        let layout = self.program.layout()?.clone();
        if layout.allgs != 0 {
            return Ok(layout);
        }
        let found = goroutines::discover_allgs(self.proc()?, &self.program.bin, &layout).ok_or_else(|| {
            SessionError::Invalid("cannot find the goroutine list (runtime.allgs) in this binary without debug information; is the Go runtime initialized yet? (continue to main.main first)".into())
        })?;
        if let Some(l) = self.program.layout.as_mut() {
            l.allgs = found;
        }
        Ok(Layout { allgs: found, ..layout })
    }

    pub fn wait_reason(&mut self, g: &Goroutine) -> Option<String> {
        if g.status != GStatus::Waiting {
            return None;
        }
        if self.wait_reasons.is_none() {
            let layout = self.program.layout.clone()?;
            let proc = self.proc.as_ref()?;
            self.wait_reasons = Some(goroutines::wait_reason_table(proc, &layout));
        }
        self.wait_reasons.as_ref()?.get(g.wait_reason as usize).cloned()
    }

    /// Goroutines with their current location.
    pub fn goroutines(&mut self) -> Result<Vec<GoroutineInfo>> {
        self.goroutines_with(false)
    }

    /// Goroutines with their current location and, when `user_frames`, the
    /// topmost frame outside the runtime (what Delve lists as "User").
    pub fn goroutines_with(&mut self, user_frames: bool) -> Result<Vec<GoroutineInfo>> {
        let gs = self.all_goroutines()?;
        let tg = self.thread_goroutines()?;
        let mut out = Vec::with_capacity(gs.len());
        let depth = if user_frames { 32 } else { 1 };
        for g in gs.iter() {
            let thread = tg.iter().find(|(_, id)| **id == g.id).map(|(t, _)| *t);
            let frames = self.unwind_goroutine(g, thread, depth)?;
            let top = frames.first();
            let user_frame = if user_frames { frames.iter().find(|f| is_user_frame(f)).cloned() } else { None };
            let wait_reason = self.wait_reason(g);
            out.push(GoroutineInfo {
                function: top.and_then(|f| f.function.as_deref().map(str::to_string)),
                pc: top.map_or(g.sched_pc, |f| f.pc),
                file: top.and_then(|f| f.file.clone()),
                line: top.map(|f| f.line).unwrap_or(0),
                wait_reason,
                thread,
                user_frame,
                g: g.clone(),
            });
        }
        Ok(out)
    }

    pub fn find_goroutine(&mut self, id: u64) -> Result<Goroutine> {
        self.all_goroutines()?
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| SessionError::Invalid(format!("unknown goroutine {id}")))
    }

    /// The stack of a goroutine. One whose thread is in C (a cgo call, the
    /// race runtime) shows its C frames from the thread's registers, then
    /// its Go frames; where the C frames cannot be unwound back to Go, the
    /// Go frames come from the context the runtime saved at the call
    /// (entersyscall in runtime.cgocall).
    fn unwind_goroutine(&self, g: &Goroutine, thread: Option<Tid>, depth: usize) -> Result<Vec<Frame>> {
        let proc = self.proc()?;
        let pcln = self.program.bin.pclntab();
        if let Some(tid) = thread {
            let r = proc.regs(tid)?;
            if !g.contains_sp(r.sp()) && pcln.func_for_pc(r.pc()).is_none() {
                let native = stack::Native { frames: &self.native, g: Some((g.addr, g.stack_hi)) };
                let mut frames = stack::unwind_native(proc, pcln, &self.pc_cache, &native, native_regs(&r), depth);
                self.c_lines(&mut frames);
                let reached_go_stack = frames.iter().any(|f| g.contains_sp(f.sp));
                if !reached_go_stack && g.status == GStatus::Syscall && g.syscall_sp != 0 && frames.len() < depth {
                    let start = UnwindStart { pc: g.syscall_pc, sp: g.syscall_sp, bp: g.sched_bp };
                    let base = frames.last().map_or(0, |f| f.physical + 1);
                    let go = stack::unwind_cached(proc, pcln, &self.pc_cache, start, depth - frames.len());
                    frames.extend(go.into_iter().map(|mut f| {
                        f.physical += base;
                        f
                    }));
                }
                return Ok(frames);
            }
        }
        let start = self.unwind_start(g, thread)?;
        Ok(stack::unwind_cached(proc, pcln, &self.pc_cache, start, depth))
    }

    /// Source positions of C frames, from the executable's DWARF (cgo code
    /// is compiled with -g; shared libraries have none here).
    fn c_lines(&self, frames: &mut [Frame]) {
        for f in frames.iter_mut().filter(|f| f.file.is_none()) {
            if let Some((file, line)) = self.program.line_for_pc(f.lookup_pc) {
                f.file = Some(file);
                f.line = line;
            }
        }
    }

    /// Where unwinding of a goroutine starts: its thread's registers when it
    /// is running there on its own stack, else its saved context.
    fn unwind_start(&self, g: &Goroutine, thread: Option<Tid>) -> Result<UnwindStart> {
        if let Some(tid) = thread {
            let r = self.proc()?.regs(tid)?;
            if g.contains_sp(r.sp()) {
                return Ok(UnwindStart { pc: r.pc(), sp: r.sp(), bp: r.bp() });
            }
        }
        // In a system call the runtime saved the user context at entersyscall
        // (runtime/proc.go reentersyscall: save(pc, sp, bp) and syscallsp/pc).
        if g.status == GStatus::Syscall && g.syscall_sp != 0 {
            return Ok(UnwindStart { pc: g.syscall_pc, sp: g.syscall_sp, bp: g.sched_bp });
        }
        Ok(UnwindStart { pc: g.sched_pc, sp: g.sched_sp, bp: g.sched_bp })
    }

    // ---- selection ----------------------------------------------------------

    pub fn selected_goroutine(&self) -> Option<u64> {
        self.sel.goroutine
    }
    pub fn selected_thread(&self) -> Option<Tid> {
        self.sel.thread
    }
    pub fn selected_frame(&self) -> usize {
        self.sel.frame
    }

    pub fn select_goroutine(&mut self, id: u64) -> Result<()> {
        self.find_goroutine(id)?;
        self.sel.thread = self.thread_of_goroutine(id)?;
        self.sel.goroutine = Some(id);
        self.sel.frame = 0;
        Ok(())
    }

    pub fn select_thread(&mut self, tid: Tid) -> Result<()> {
        if !self.proc()?.threads().contains(&tid) {
            return Err(SessionError::Invalid(format!("unknown thread {tid}")));
        }
        self.sel.thread = Some(tid);
        self.sel.goroutine = self.goroutine_of_thread(tid)?;
        self.sel.frame = 0;
        Ok(())
    }

    pub fn select_frame(&mut self, n: usize) -> Result<Frame> {
        let frames = self.stack(n + 1)?;
        let f = frames
            .get(n)
            .cloned()
            .ok_or_else(|| SessionError::Invalid(format!("frame {n} does not exist (stack has {} frames)", frames.len())))?;
        self.sel.frame = n;
        Ok(f)
    }

    fn select_default_after_stop(&mut self, tid: Option<Tid>) {
        let tid = tid.or_else(|| self.proc.as_ref().and_then(|p| p.threads().first().copied()));
        self.sel = Selection { goroutine: None, thread: tid, frame: 0 };
        if let Some(t) = tid {
            self.sel.goroutine = self.goroutine_of_thread(t).ok().flatten();
        }
    }

    // ---- stacks and variables ---------------------------------------------

    /// Stack of the selected goroutine (or thread when no goroutine).
    pub fn stack(&mut self, depth: usize) -> Result<Vec<Frame>> {
        match self.sel.goroutine {
            Some(id) => self.goroutine_stack(id, depth),
            None => {
                // A thread without a goroutine: the runtime's own threads
                // between goroutines, or a thread C code started.
                let tid = self.sel.thread.ok_or(SessionError::NotRunning)?;
                let r = self.proc()?.regs(tid)?;
                let native = stack::Native { frames: &self.native, g: None };
                let mut frames = stack::unwind_native(self.proc()?, self.program.bin.pclntab(), &self.pc_cache, &native, native_regs(&r), depth);
                self.c_lines(&mut frames);
                Ok(frames)
            }
        }
    }

    pub fn goroutine_stack(&mut self, id: u64, depth: usize) -> Result<Vec<Frame>> {
        let g = self.find_goroutine(id)?;
        let thread = self.thread_of_goroutine(id)?;
        self.unwind_goroutine(&g, thread, depth)
    }

    /// Registers available in a frame: all of them for the innermost frame
    /// of a goroutine running on a thread, SP/PC/BP elsewhere.
    fn frame_regs(&mut self, frame: &Frame, index: usize) -> Result<FrameRegs> {
        if index == 0 || (frame.physical == 0) {
            let tid = match self.sel.goroutine {
                Some(g) => self.thread_of_goroutine(g)?,
                None => self.sel.thread,
            };
            if let Some(tid) = tid {
                let r = self.proc()?.regs(tid)?;
                if r.sp() == frame.sp {
                    let mut fr = FrameRegs::default();
                    for (i, slot) in fr.regs.iter_mut().enumerate() {
                        *slot = r.dwarf(i as u16);
                    }
                    return Ok(fr);
                }
            }
        }
        Ok(FrameRegs::for_caller(frame))
    }

    /// Variables visible in the selected frame.
    pub fn frame_vars(&mut self) -> Result<(Frame, Vec<FrameVar>)> {
        let idx = self.sel.frame;
        let frames = self.stack(idx + 1)?;
        let frame = frames
            .get(idx)
            .cloned()
            .ok_or_else(|| SessionError::Invalid("no such frame".into()))?;
        let regs = self.frame_regs(&frame, idx)?;
        let dwarf = self.program.dwarf()?.clone();
        let mut vars = frame_variables(&dwarf, self.proc()?, &frame, &regs)?;
        // A local declared below the current line has not been assigned yet
        // (its slot holds garbage): hide it, as Delve does.
        // In a caller, the call on its line is still running, so a variable
        // that line declares is not assigned yet either.
        let visible_to = if idx == 0 { frame.line } else { frame.line.saturating_sub(1) };
        vars.retain(|v| v.var.kind != stillgo_dwarf::VarKind::Local || v.var.decl_line == 0 || v.var.decl_line <= visible_to);
        // Locals named `~...` are compiler temporaries (pieces of inlined
        // calls' results such as `~r0.ptr` in optimized code), not variables
        // of the program: results (`~r0` parameters) stay.
        vars.retain(|v| v.var.kind != stillgo_dwarf::VarKind::Local || !v.var.name.starts_with('~'));
        Ok((frame, vars))
    }

    /// Evaluates an expression in the selected frame. Never runs program code.
    pub fn eval(&mut self, expr: &str) -> Result<stillgo_eval::Val> {
        // Package variables and constants need no frame: before the runtime
        // starts (or in a frame without debug information) evaluate without
        // locals rather than refuse.
        let (function, vars) = match self.frame_vars() {
            Ok((frame, vars)) => (frame.function, vars),
            Err(SessionError::Exited(c)) => return Err(SessionError::Exited(c)),
            Err(SessionError::NotRunning) if self.proc.is_none() => return Err(SessionError::NotRunning),
            Err(_) => (None, Vec::new()),
        };
        let dwarf = self.program.dwarf()?.clone();
        let reader = Reader::new(self.proc()?, &dwarf, self.program.bin.pclntab());
        let scope = stillgo_eval::Scope::new(&reader, &vars, function.as_deref());
        Ok(stillgo_eval::eval_str(expr, &scope)?)
    }

    /// `set lhs = rhs` in the selected frame.
    pub fn set_var(&mut self, assignment: &str) -> Result<()> {
        let (frame, vars) = self.frame_vars()?;
        let dwarf = self.program.dwarf()?.clone();
        let (addr, bytes) = {
            let reader = Reader::new(self.proc()?, &dwarf, self.program.bin.pclntab());
            let scope = stillgo_eval::Scope::new(&reader, &vars, frame.function.as_deref());
            stillgo_eval::prepare_assignment(assignment, &scope)?
        };
        self.proc_mut()?.write_memory(addr, &bytes)?;
        self.invalidate();
        Ok(())
    }

    pub fn format_value(&self, v: &Value) -> Result<String> {
        Ok(self.reader()?.format(v, &self.limits))
    }

    // ---- breakpoints --------------------------------------------------------

    pub fn current_file(&mut self) -> Option<String> {
        let frames = self.stack(self.sel.frame + 1).ok()?;
        frames.get(self.sel.frame)?.file.as_ref().map(|f| f.to_string())
    }

    pub fn set_breakpoint(&mut self, spec: &str, cond: Option<String>) -> Result<(Breakpoint, Option<u32>)> {
        let mut ls = LocSpec::parse(spec)?;
        // A local file (an editor's path) named as the binary names it:
        // through the substitutions, or back to `module/dir/x.go` in a
        // -trimpath binary.
        if let LocSpec::FileLine { file, .. } = &mut ls {
            if Path::new(file.as_str()).is_absolute() {
                let trimmed = self.program.bin.build_info().is_some_and(|b| b.trimpath());
                *file = self.sources.in_binary(file, trimmed);
            }
        }
        let cur = if matches!(ls, LocSpec::Line(_)) { self.current_file() } else { None };
        let r = locspec::resolve(&self.program, &ls, cur.as_deref())?;
        if let Some(c) = &cond {
            stillgo_eval::parse_expr(c).map_err(|e| SessionError::Invalid(format!("bad condition: {e}")))?;
        }
        let proc = self.proc_mut()?;
        for a in &r.addrs {
            proc.set_breakpoint(*a)?;
        }
        let moved = r.moved_from;
        let bp = self.bps.add(spec.to_string(), r, cond);
        Ok((bp, moved))
    }

    /// Sets a breakpoint the debugger itself owns, known by `name`.
    pub fn set_named_breakpoint(&mut self, name: &str, spec: &str) -> Result<Breakpoint> {
        let r = locspec::resolve(&self.program, &LocSpec::parse(spec)?, None)?;
        let proc = self.proc_mut()?;
        for a in &r.addrs {
            proc.set_breakpoint(*a)?;
        }
        Ok(self.bps.add_named(name, r))
    }

    pub fn breakpoints(&self) -> Vec<Breakpoint> {
        self.bps.list()
    }

    pub fn clear_breakpoint(&mut self, id: u32) -> Result<Breakpoint> {
        let bp = self.bps.remove(id).ok_or_else(|| SessionError::Invalid(format!("no breakpoint {id}")))?;
        self.sync_physical(&bp.addrs)?;
        Ok(bp)
    }

    pub fn clear_all(&mut self) -> Result<usize> {
        let all = self.bps.remove_all();
        let addrs: Vec<u64> = all.iter().flat_map(|b| b.addrs.clone()).collect();
        self.sync_physical(&addrs)?;
        Ok(all.len())
    }

    /// Removes physical breakpoints no logical breakpoint uses any more.
    fn sync_physical(&mut self, addrs: &[u64]) -> Result<()> {
        let still: Vec<u64> = addrs.iter().copied().filter(|a| self.bps.uses(*a)).collect();
        if let Some(p) = self.proc.as_mut() {
            for a in addrs {
                if !still.contains(a) {
                    p.remove_breakpoint(*a)?;
                }
            }
        }
        Ok(())
    }

    pub fn set_condition(&mut self, id: u32, cond: Option<String>) -> Result<()> {
        if let Some(c) = &cond {
            stillgo_eval::parse_expr(c).map_err(|e| SessionError::Invalid(format!("bad condition: {e}")))?;
        }
        self.bps.set_condition(id, cond).ok_or_else(|| SessionError::Invalid(format!("no breakpoint {id}")))
    }

    pub fn set_hit_condition(&mut self, id: u32, hc: Option<HitCondition>) -> Result<()> {
        self.bps.set_hit_condition(id, hc).ok_or_else(|| SessionError::Invalid(format!("no breakpoint {id}")))
    }

    /// Whether a user breakpoint's condition holds for the thread that hit it.
    fn condition_holds(&mut self, cond: &str, tid: Tid) -> bool {
        let saved = self.sel.clone();
        self.sel = Selection { goroutine: None, thread: Some(tid), frame: 0 };
        self.sel.goroutine = self.goroutine_of_thread(tid).ok().flatten();
        let result = self.eval(cond).and_then(|v| {
            let r = self.reader()?;
            Ok(stillgo_eval::truthy(&r, &v)?)
        });
        self.sel = saved;
        // A condition that cannot be evaluated stops the program (as Delve
        // does), so the user sees the problem instead of missing the hit.
        result.unwrap_or(true)
    }

    // ---- running ------------------------------------------------------------

    /// Resumes every thread until a user breakpoint (whose condition holds),
    /// a reported signal, an interrupt or the end of the program.
    pub fn continue_(&mut self) -> Result<Stop> {
        let stop = self.run_until(&mut |_, _, _| false, None)?;
        Ok(self.finish_stop(stop))
    }

    /// Core run loop. `step_hit(session, tid, pc)` says whether a hit at a
    /// non-user breakpoint address ends a step.
    pub(crate) fn run_until(
        &mut self,
        step_hit: &mut dyn FnMut(&mut Session, Tid, u64) -> bool,
        mut hooks: Option<&mut dyn stillgo_world::CallHooks>,
    ) -> Result<Stop> {
        loop {
            self.invalidate();
            let ev = {
                let p = self.proc_mut()?;
                // A frozen step keeps the threads running C code stopped
                // (stillgo_world::freeze: the hooks say which may run).
                let mode = match hooks.as_deref_mut() {
                    Some(h) => h.resume_mode(0),
                    None => stillgo_proc::ResumeMode::All,
                };
                p.resume(mode)?;
                p.wait()?
            };
            self.invalidate();
            if let StopEvent::Interrupted { .. } = ev {
                let user = self.proc()?.interrupter().take_user_request();
                // A frozen step's own interrupts (its watchdog) are the
                // freezer's business; the user's Ctrl-C ends the step.
                if let (Some(h), false) = (hooks.as_deref_mut(), user) {
                    h.foreign_event(self.proc_mut()?, &ev)?;
                    continue;
                }
            }
            if let (Some(h), StopEvent::Breakpoint { .. }) = (hooks.as_deref_mut(), &ev) {
                // Freezer breakpoints (goroutines returning to user code,
                // goroutine creation); others are ignored there.
                h.foreign_event(self.proc_mut()?, &ev)?;
            }
            match ev {
                StopEvent::Exited { code } => {
                    let s = Stop::Exited { code };
                    self.process_gone(&s);
                    return Ok(s);
                }
                StopEvent::Killed { signal } => {
                    let s = Stop::Killed { signal };
                    self.process_gone(&s);
                    return Ok(s);
                }
                StopEvent::Interrupted { tid } => return Ok(Stop::Interrupted { tid }),
                StopEvent::Signal { tid, signal } => return Ok(Stop::Signal { tid, signal }),
                StopEvent::SingleStep { tid } | StopEvent::ThreadExited { tid } => {
                    return Ok(Stop::StepDone { tid, goroutine: None })
                }
                // runtime.Breakpoint() and friends: the program asked to stop.
                StopEvent::Trap { tid, .. } => return Ok(Stop::Signal { tid, signal: 5 }),
                StopEvent::Exec { .. } => {
                    return Err(SessionError::Invalid("the program called exec; the debugged image is gone".into()))
                }
                StopEvent::Breakpoint { tid, pc } => {
                    if step_hit(self, tid, pc) {
                        let goroutine = self.goroutine_of_thread(tid)?;
                        return Ok(Stop::StepDone { tid, goroutine });
                    }
                    if let Some(stop) = self.user_breakpoint_hit(tid, pc)? {
                        return Ok(stop);
                    }
                }
            }
        }
    }

    /// Evaluates the user breakpoints at `pc` for a hit by `tid`.
    fn user_breakpoint_hit(&mut self, tid: Tid, pc: u64) -> Result<Option<Stop>> {
        let candidates = self.bps.at(pc);
        if candidates.is_empty() {
            return Ok(None);
        }
        let goroutine = self.goroutine_of_thread(tid)?;
        // While stepping, only the stepping goroutine may stop; tracepoints
        // log for every goroutine (they never stop, see breakpoints.rs).
        let others_ignored = self.bps.stepping_goroutine.is_some_and(|only| goroutine != Some(only));
        let mut ids = Vec::new();
        for bp in candidates {
            if others_ignored && !bp.trace {
                continue;
            }
            if let Some(c) = &bp.condition {
                if !self.condition_holds(c, tid) {
                    continue;
                }
            }
            if self.bps.record_hit(bp.id, goroutine) {
                if bp.trace {
                    self.fire_trace(breakpoints::TraceHit { id: bp.id, tid, goroutine });
                } else {
                    ids.push(bp.id);
                }
            }
        }
        if ids.is_empty() {
            return Ok(None);
        }
        Ok(Some(Stop::Breakpoint { ids, tid, goroutine }))
    }

    /// Selects the stopped goroutine/thread and remembers the stop.
    fn finish_stop(&mut self, stop: Stop) -> Stop {
        match &stop {
            Stop::Breakpoint { tid, .. }
            | Stop::StepDone { tid, .. }
            | Stop::Interrupted { tid }
            | Stop::Signal { tid, .. } => self.select_default_after_stop(Some(*tid)),
            _ => {}
        }
        self.last_stop = Some(stop.clone());
        stop
    }

    pub fn step_instruction(&mut self) -> Result<Stop> {
        let tid = self.current_thread()?;
        let ev = self.proc_mut()?.single_step(tid)?;
        self.invalidate();
        let stop = match ev {
            StopEvent::Exited { code } => {
                let s = Stop::Exited { code };
                self.process_gone(&s);
                s
            }
            StopEvent::Killed { signal } => {
                let s = Stop::Killed { signal };
                self.process_gone(&s);
                s
            }
            StopEvent::Signal { tid, signal } => Stop::Signal { tid, signal },
            _ => {
                let goroutine = self.goroutine_of_thread(tid)?;
                Stop::StepDone { tid, goroutine }
            }
        };
        Ok(self.finish_stop(stop))
    }

    /// The thread of the selected goroutine; error when it is parked.
    pub(crate) fn current_thread(&mut self) -> Result<Tid> {
        if let Some(g) = self.sel.goroutine {
            if let Some(t) = self.thread_of_goroutine(g)? {
                return Ok(t);
            }
            return Err(SessionError::Invalid(format!(
                "goroutine {g} is not running on a thread (it is parked); use continue, or select a running goroutine"
            )));
        }
        self.sel.thread.ok_or(SessionError::NotRunning)
    }

    pub fn regs(&mut self) -> Result<stillgo_proc::Registers> {
        let tid = self.current_thread()?;
        Ok(self.proc()?.regs(tid)?)
    }

    /// Location of the current stop for display: the selected frame.
    pub fn current_frame(&mut self) -> Result<Frame> {
        let idx = self.sel.frame;
        let frames = self.stack(idx + 1)?;
        frames.get(idx).cloned().ok_or_else(|| SessionError::Invalid("no frames".into()))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.end();
    }
}

/// A thread's registers by DWARF number, where C frames' unwinding starts.
fn native_regs(r: &stillgo_proc::Registers) -> stillgo_binary::native::NativeRegs {
    std::array::from_fn(|n| r.dwarf(n as u16))
}
