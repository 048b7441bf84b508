//! The frozen world at the level of this crate: no session, no expression
//! language. testdata/frozen (background goroutines bumping counters:
//! tight loops, sleeps, allocation, channels, system calls, file writes,
//! finalizers, panics, defers) is launched with `stillgo_proc`, stopped at
//! its `// BP:probe` line (an address from the DWARF line table), and
//! calls of its no-argument helpers are injected through a frozen
//! [`Caller`] (the `CallSpec` from the pclntab, the `FrameLayout` from
//! [`stillgo_world::layout`] and DWARF types).
//!
//! What is asserted: the typed [`FreezeReport`] and [`Blocked`] values,
//! each call's [`CallOutcome`], and the program's memory. Every counter
//! reads the same before the freeze, during it and after the thaw; while
//! frozen `sched.disable.user` is set, `schedEnableUser`/`checkdead` start
//! with RET and every other thread still in user code has a freezer
//! breakpoint (a catch point) on its stack; after the thaw all of it is
//! undone, no freezer breakpoint is left, and every counter moves again
//! once the program runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use stillgo_binary::Binary;
use stillgo_dwarf::{DebugInfo, DwarfSections};
use stillgo_proc::{ChildPipes, LaunchOptions, Memory, Process, ResumeMode, StdioMode, StopEvent, Tid};
use stillgo_runtime::goroutines::{read_goroutine, thread_goroutine_addr};
use stillgo_runtime::versions::{Layout, X86_RET};
use stillgo_runtime::stack::{unwind, UnwindStart};
use stillgo_runtime::{code, preempt, Limits, Reader};
use stillgo_testkit::{bp_line, build, go_versions, Flavor, GoToolchain};
use stillgo_world::freeze::BLOCKED_AFTER;
use stillgo_world::{Blocked, BlockedChoice, CallOutcome, CallSpec, Caller, FrameLayout, FreezeFacts};

const PROG: &str = "frozen";

/// Every counter a background goroutine bumps (uint64 or [4]uint64).
const COUNTERS: &[&str] = &["main.spins", "main.sleeps", "main.allocs", "main.pings", "main.pongs", "main.sysc", "main.writes", "main.finals", "main.panics", "main.defers"];

/// testdata/frozen under the tracer, stopped at a probe hit.
struct Program {
    what: String,
    proc: Process,
    _pipes: Option<ChildPipes>,
    bin: Arc<Binary>,
    dwarf: Arc<DebugInfo>,
    layout: Layout,
    facts: FreezeFacts,
    probe: Vec<u64>,
    /// The thread that hit the probe, its goroutine (main's) and that
    /// goroutine's `g.stack.lo`.
    tid: Tid,
    goid: u64,
    stack_lo: u64,
}

impl Program {
    /// Launched and run to the probe until the finalizer goroutine has
    /// run user code (it must be frozen as well).
    fn start(tc: &GoToolchain) -> Program {
        let what = tc.to_string();
        let path: PathBuf = build(PROG, tc, Flavor::Debug);
        let opts = LaunchOptions { stdio: StdioMode::Piped, ..LaunchOptions::new(&path) };
        let (proc, pipes) = Process::launch(&opts).unwrap_or_else(|e| panic!("{what}: launch: {e}"));
        // Opened for the addresses the process runs at (a PIE moves).
        let linked = Binary::open(&path).expect("open binary");
        let bias = stillgo_proc::auxv_entry(proc.pid()).expect("AT_ENTRY").wrapping_sub(linked.link_entry());
        let bin = Arc::new(if bias == 0 { linked } else { Binary::open_loaded(&path, bias).expect("open binary") });
        let sections = DwarfSections::from_fn(|name| bin.section(name).map(|d| Arc::from(d.as_ref())));
        let dwarf = Arc::new(DebugInfo::new(sections).expect("DWARF").with_load_bias(bias));
        let layout = Layout::from_dwarf(&dwarf).expect("runtime layout");
        let facts = FreezeFacts::resolve(Some(&dwarf), &bin, &layout, bin.go_version().as_ref()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let probe = dwarf.resolve_line("main.go", bp_line(PROG, "main.go", "probe")).expect("probe line").pcs;
        assert!(!probe.is_empty(), "{what}: no code at the probe line");
        let mut p = Program { what, proc, _pipes: pipes, bin, dwarf, layout, facts, probe, tid: 0, goid: 0, stack_lo: 0 };
        for &pc in &p.probe.clone() {
            p.proc.set_breakpoint(pc).expect("breakpoint");
        }
        for _ in 0..100 {
            p.run_to_probe();
            if p.counter("main.finals")[0] != 0 {
                return p;
            }
        }
        panic!("{}: the finalizer goroutine never ran", p.what);
    }

    /// Resumes every thread until the probe breakpoint is hit.
    fn run_to_probe(&mut self) {
        loop {
            self.proc.resume(ResumeMode::All).expect("resume");
            match self.proc.wait().expect("wait") {
                StopEvent::Breakpoint { tid, pc } if self.probe.contains(&pc) => {
                    self.tid = tid;
                    let fs = self.proc.regs(tid).expect("regs").fs_base();
                    let g = thread_goroutine_addr(&self.proc, &self.layout, fs).expect("TLS g").expect("a goroutine on the probe's thread");
                    let g = read_goroutine(&self.proc, &self.layout, g).expect("g");
                    (self.goid, self.stack_lo) = (g.id, g.stack_lo);
                    return;
                }
                ev if ev.is_final() => panic!("{}: the program ended: {ev:?}", self.what),
                _ => {}
            }
        }
    }

    fn counter(&self, name: &str) -> Vec<u64> {
        let g = self.dwarf.global(name).unwrap_or_else(|| panic!("{name} not in DWARF"));
        let size = self.dwarf.type_(g.ty).expect("type").size as usize;
        let bytes = self.proc.read_vec(g.addr, size).expect("read counter");
        bytes.chunks(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
    }

    fn counters(&self) -> Vec<(&'static str, Vec<u64>)> {
        COUNTERS.iter().map(|&c| (c, self.counter(c))).collect()
    }

    /// Runs to the probe until every counter (every element) has moved past
    /// `before`: each goroutine runs again.
    fn run_until_all_advance(&mut self, before: &[(&str, Vec<u64>)]) {
        for _ in 0..40 {
            self.run_to_probe();
            let now = self.counters();
            if before.iter().zip(&now).all(|((_, b), (_, n))| b.iter().zip(n).all(|(x, y)| y > x)) {
                return;
            }
        }
        panic!("{}: some counter never moved again after the thaw: {before:?} -> {:?}", self.what, self.counters());
    }

    /// A call of `main.<name>()`, a function without arguments returning an int.
    fn int_call(&self, name: &str) -> (CallSpec, FrameLayout) {
        let full = format!("main.{name}");
        let f = self.bin.pclntab().func_by_name(&full).unwrap_or_else(|| panic!("{full} not in the binary"));
        let int = self.dwarf.type_(self.dwarf.type_by_name("int").expect("int")).expect("int type");
        let reader = Reader::new(&self.proc, &self.dwarf, self.bin.pclntab());
        let layout = stillgo_world::layout(&reader, &[], std::slice::from_ref(&int)).expect("layout");
        (CallSpec { name: full, pc: f.entry, context: None, args: Vec::new(), results: vec![("~r0".into(), int)] }, layout)
    }

    fn caller<'h>(&self) -> Caller<'h> {
        Caller::new(self.dwarf.clone(), self.bin.clone(), Limits::default(), self.tid, Some(self.stack_lo)).expect("Caller")
    }

    /// The int a call returned; panics on any other outcome.
    fn returned_int(&self, what: &str, out: Result<CallOutcome, stillgo_world::CallError>) -> i128 {
        match out {
            Ok(CallOutcome::Returned(rs)) if rs.len() == 1 => {
                Reader::new(&self.proc, &self.dwarf, self.bin.pclntab()).as_i128(&rs[0].value).expect("int result")
            }
            other => panic!("{}: {what}: {other:?}", self.what),
        }
    }

    fn byte_at(&self, addr: u64) -> u8 {
        self.proc.read_vec(addr, 1).expect("read")[0]
    }

    /// The freezer's marks in the program: `sched.disable.user` and the
    /// first bytes of `schedEnableUser` and `checkdead`.
    fn marks(&self) -> [u8; 3] {
        [self.byte_at(self.facts.sched.disable_user), self.byte_at(self.facts.sched_enable_user), self.byte_at(self.facts.checkdead)]
    }

    /// Threads other than the calling one whose pc is in user code, with
    /// their innermost user frame's function.
    fn others_in_user_code(&self) -> Vec<(Tid, u64, String)> {
        let pcln = self.bin.pclntab();
        let mut out = Vec::new();
        for t in self.proc.threads().into_iter().filter(|&t| t != self.tid) {
            let Ok(r) = self.proc.regs(t) else { continue };
            if let Some(f) = pcln.func_for_pc(r.pc()) {
                if code::runs_as_user(pcln, &f, r.pc()) {
                    out.push((t, r.pc(), f.name.to_string()));
                }
            }
        }
        out
    }

    /// Another thread runs user code where the runtime could preempt it
    /// asynchronously: the freezer must preempt it, in at least one round.
    fn another_thread_at_a_safe_point(&self) -> bool {
        let pcln = self.bin.pclntab();
        self.others_in_user_code().iter().any(|&(_, pc, _)| pcln.func_for_pc(pc).is_some_and(|f| preempt::async_safe_point(pcln, &f, pc)))
    }

    /// Threads in user code with no freezer breakpoint on their stack. The
    /// freezer lets a goroutine stopped where it cannot be preempted (a
    /// system call instruction in assembly, a write barrier sequence) run
    /// on to a catch point, a breakpoint at a return address into user
    /// code; one without any such breakpoint could run user code freely.
    fn uncaught_in_user_code(&self) -> Vec<(Tid, String)> {
        let freezer_bps: Vec<u64> = self.breakpoints().into_iter().filter(|a| !self.probe.contains(a)).collect();
        let mut out = Vec::new();
        for (t, _, name) in self.others_in_user_code() {
            let Ok(r) = self.proc.regs(t) else { continue };
            let frames = unwind(&self.proc, self.bin.pclntab(), UnwindStart { pc: r.pc(), sp: r.sp(), bp: r.bp() }, 64);
            if !frames.iter().any(|f| freezer_bps.contains(&f.pc)) {
                out.push((t, name));
            }
        }
        out
    }

    fn breakpoints(&self) -> Vec<u64> {
        let mut v = self.proc.breakpoint_addrs();
        v.sort_unstable();
        v
    }
}

/// Calls that need the rest of the runtime (a GC, a sleep, locks, a new
/// goroutine) but nothing from a frozen goroutine, with their results.
const CALLS: &[(&str, i128)] = &[("nop", 7), ("gcNow", 1), ("nap", 2), ("bigAlloc", 64), ("lockTwice", 2), ("writeFile", 5), ("spawnAndWait", 11)];

#[test]
fn frozen_calls_keep_every_counter_still_and_the_thaw_undoes_everything() {
    for tc in go_versions() {
        let mut p = Program::start(&tc);
        let what = p.what.clone();
        // A freeze needs a preemption round only when another thread runs
        // user code at an asynchronous safe point (one in the runtime,
        // idle, or where it can only be caught further on is handled
        // without one): stopped so that one does, the report must count
        // a round.
        for _ in 0..50 {
            if p.another_thread_at_a_safe_point() {
                break;
            }
            p.run_to_probe();
        }
        let running = p.others_in_user_code();
        assert!(p.another_thread_at_a_safe_point(), "{what}: never another thread at a safe point in user code at a probe hit: {running:?}");
        let before = p.counters();
        let (marks_before, bps_before, regs_before) = (p.marks(), p.breakpoints(), p.proc.regs(p.tid).expect("regs"));
        assert_eq!(marks_before[0], 0, "{what}: user scheduling disabled before any freeze");

        let mut asked: Vec<Blocked> = Vec::new();
        let mut on_blocked = |b: &Blocked| {
            asked.push(b.clone());
            BlockedChoice::Thaw
        };
        let mut caller = p.caller().frozen(p.facts.clone(), &mut on_blocked);
        caller.freeze(&mut p.proc).unwrap_or_else(|e| panic!("{what}: freeze: {e}"));
        assert_eq!(p.marks(), [1, X86_RET, X86_RET], "{what}: frozen: disable.user set, schedEnableUser and checkdead patched to RET");
        let uncaught = p.uncaught_in_user_code();
        assert!(uncaught.is_empty(), "{what}: threads in user code without a catch point after the freeze: {uncaught:?}");
        assert_eq!(p.counters(), before, "{what}: a goroutine ran during the freeze");

        for &(name, want) in CALLS {
            let (spec, layout) = p.int_call(name);
            let out = caller.inject(&mut p.proc, &spec, &layout);
            assert_eq!(p.returned_int(name, out), want, "{what}: {name}()");
            assert_eq!(p.counters(), before, "{what}: a goroutine ran during {name}()");
            assert_eq!(p.marks()[0], 1, "{what}: user scheduling re-enabled by {name}()");
        }

        let (report, thawed) = caller.finish(Some(&mut p.proc));
        thawed.unwrap_or_else(|e| panic!("{what}: thaw: {e}"));
        assert!(asked.is_empty(), "{what}: a call that needs no frozen goroutine was reported blocked: {asked:?}");
        assert!(report.frozen, "{what}: {report:?}");
        assert!(report.rounds > 0, "{what}: no preemption round although {running:?} ran user code: {report:?}");
        assert!(report.blocked.is_none() && !report.thawed_early, "{what}: {report:?}");
        // Who was stopped how: some goroutine ran user code and was
        // preempted; every goroutine caught at a catch point had been
        // exempted to it.
        assert!(!report.preempted.is_empty(), "{what}: a goroutine ran user code at the stop, none was preempted: {report:?}");
        assert!(report.caught.is_subset(&report.exempted), "{what}: caught without an exemption: {report:?}");

        assert_eq!(p.counters(), before, "{what}: a goroutine ran before the thaw finished");
        assert_eq!(p.marks(), marks_before, "{what}: the thaw left disable.user or a RET patch behind");
        assert_eq!(p.breakpoints(), bps_before, "{what}: the freezer left breakpoints behind");
        let regs = p.proc.regs(p.tid).expect("regs");
        assert_eq!((regs.pc(), regs.sp(), regs.bp()), (regs_before.pc(), regs_before.sp(), regs_before.bp()), "{what}: the calling thread was not put back");

        p.run_until_all_advance(&before);
        p.proc.kill().expect("kill");
    }
}

/// The counters are a sensitive instrument: without `Caller::frozen` the
/// other goroutines run during a 50 ms call, and the report says nothing
/// was frozen.
#[test]
fn an_unfrozen_call_lets_the_counters_move() {
    let tc = &go_versions()[0];
    let mut p = Program::start(tc);
    let before = p.counters();
    let mut caller = p.caller();
    caller.freeze(&mut p.proc).expect("freeze without a freezer does nothing");
    let (spec, layout) = p.int_call("nap");
    let out = caller.inject(&mut p.proc, &spec, &layout);
    assert_eq!(p.returned_int("nap", out), 2);
    let (report, thawed) = caller.finish(Some(&mut p.proc));
    thawed.expect("nothing to thaw");
    assert!(!report.frozen && report.rounds == 0 && report.blocked.is_none(), "{tc}: {report:?}");
    let after = p.counters();
    let moved: Vec<&str> = before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, _)| b.0).collect();
    assert!(moved.len() >= 3, "{tc}: only {moved:?} moved during an unfrozen 50 ms call: {before:?} -> {after:?}");
    p.proc.kill().expect("kill");
}

#[test]
fn a_call_blocked_on_a_frozen_goroutine_is_reported_then_thawed() {
    for tc in go_versions() {
        let mut p = Program::start(&tc);
        let what = p.what.clone();
        let recv_line = bp_line(PROG, "main.go", "recvFeed");
        let bps_before = p.breakpoints();

        // recvFeed waits for feeder (frozen): reported, kept waiting once,
        // reported again, then thawed so the call can finish.
        let mut asked: Vec<Blocked> = Vec::new();
        let mut wait_once = |b: &Blocked| {
            asked.push(b.clone());
            if asked.len() == 1 {
                BlockedChoice::Wait
            } else {
                BlockedChoice::Thaw
            }
        };
        let mut caller = p.caller().frozen(p.facts.clone(), &mut wait_once);
        caller.freeze(&mut p.proc).unwrap_or_else(|e| panic!("{what}: freeze: {e}"));
        let (spec, layout) = p.int_call("recvFeed");
        let out = caller.inject(&mut p.proc, &spec, &layout);
        assert_eq!(p.returned_int("recvFeed", out), 1, "{what}: recvFeed() after the thaw");
        let (report, thawed) = caller.finish(Some(&mut p.proc));
        thawed.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(asked.len(), 2, "{what}: asked {asked:?}");
        for b in &asked {
            assert_eq!(b.wait_reason, "chan receive", "{what}: {b:?}");
            assert_eq!(b.function.as_deref(), Some("main.recvFeed"), "{what}: {b:?}");
            assert!(b.file.as_deref().is_some_and(|f| f.ends_with("frozen/main.go")) && b.line == recv_line, "{what}: {b:?}");
            assert!(b.goroutine != p.goid, "{what}: the call runs on a goroutine of its own, not main's: {b:?}");
        }
        assert_eq!(asked[0].goroutine, asked[1].goroutine, "{what}: {asked:?}");
        assert!(asked[0].after >= BLOCKED_AFTER && asked[0].after <= Duration::from_millis(1500), "{what}: reported after {:?}", asked[0].after);
        assert!(asked[1].after > asked[0].after, "{what}: {asked:?}");
        assert!(report.frozen && report.thawed_early, "{what}: {report:?}");
        assert_eq!(report.blocked.as_ref().map(|b| b.wait_reason.as_str()), Some("chan receive"), "{what}: {report:?}");

        // lockHeld waits for holder's mutex: thawed at the first report.
        let mut asked: Vec<Blocked> = Vec::new();
        let mut thaw = |b: &Blocked| {
            asked.push(b.clone());
            BlockedChoice::Thaw
        };
        let mut caller = p.caller().frozen(p.facts.clone(), &mut thaw);
        caller.freeze(&mut p.proc).unwrap_or_else(|e| panic!("{what}: freeze: {e}"));
        let (spec, layout) = p.int_call("lockHeld");
        let out = caller.inject(&mut p.proc, &spec, &layout);
        assert_eq!(p.returned_int("lockHeld", out), 3, "{what}: lockHeld() after the thaw");
        let (report, thawed) = caller.finish(Some(&mut p.proc));
        thawed.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(asked.len(), 1, "{what}: {asked:?}");
        assert_eq!(asked[0].wait_reason, "sync.Mutex.Lock", "{what}: {asked:?}");
        assert_eq!(asked[0].function.as_deref(), Some("main.lockHeld"), "{what}: the user frame, not sync's: {asked:?}");
        assert!(report.thawed_early && report.blocked.is_some(), "{what}: {report:?}");

        // Nothing stays thawed or frozen: the next freeze holds again.
        assert_eq!(p.marks()[0], 0, "{what}: still frozen after the thaw");
        assert_eq!(p.breakpoints(), bps_before, "{what}: breakpoints left behind");
        let before = p.counters();
        let mut never = |b: &Blocked| panic!("nop() blocked: {b:?}");
        let mut caller = p.caller().frozen(p.facts.clone(), &mut never);
        caller.freeze(&mut p.proc).unwrap_or_else(|e| panic!("{what}: freeze: {e}"));
        let (spec, layout) = p.int_call("nop");
        let out = caller.inject(&mut p.proc, &spec, &layout);
        assert_eq!(p.returned_int("nop", out), 7);
        let (report, thawed) = caller.finish(Some(&mut p.proc));
        thawed.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(report.frozen && !report.thawed_early && report.blocked.is_none(), "{what}: {report:?}");
        assert_eq!(p.counters(), before, "{what}: a goroutine ran during the frozen nop() after a thawed call");
        p.run_until_all_advance(&before);
        p.proc.kill().expect("kill");
    }
}
