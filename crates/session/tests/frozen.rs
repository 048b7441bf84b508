//! The frozen world through the [`Session`] API (no CLI): frozen calls
//! (`call_frozen_with`, `call_with`) and frozen steps (`freeze_steps`),
//! asserted on their typed [`FreezeReport`] / [`Blocked`] / `CallBlocked`
//! values and on testdata/frozen's counters, read with [`Session::eval`]:
//! every counter a background goroutine bumps reads the same before and
//! after a frozen call or step, and every one moves again afterwards.
//! Debug builds, every Go version under test.

mod common;

use common::{at, launch, stop_goroutine, val_int, val_string};
use stillgo_proc::ChildPipes;
use stillgo_runtime::{code, preempt};
use stillgo_session::{Blocked, BlockedChoice, CallOptions, CallOutcome, FreezeReport, Session, SessionError, Stop};
use stillgo_testkit::{bp_line, go_versions, Flavor, GoToolchain};

const PROG: &str = "frozen";
const COUNTERS: &[&str] = &["main.spins", "main.sleeps", "main.allocs", "main.pings", "main.pongs", "main.sysc", "main.writes", "main.finals", "main.panics", "main.defers"];

/// Every counter's words (uint64 or [4]uint64), read with `eval`.
fn counters(s: &mut Session) -> Vec<Vec<u64>> {
    COUNTERS
        .iter()
        .map(|c| match s.eval(c).unwrap_or_else(|e| panic!("eval {c}: {e}")) {
            stillgo_eval::Val::Value(v) => {
                let bytes = s.reader().expect("reader").read_bytes(&v).expect("counter bytes");
                bytes.chunks(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes"))).collect()
            }
            other => panic!("{c}: {other:?}"),
        })
        .collect()
}

fn all_advanced(before: &[Vec<u64>], now: &[Vec<u64>]) -> bool {
    before.iter().zip(now).all(|(b, n)| b.iter().zip(n).all(|(x, y)| y > x))
}

/// Stopped at the probe once the finalizer goroutine has run user code.
fn start(tc: &GoToolchain) -> (Session, ChildPipes) {
    let (mut s, pipes) = launch(PROG, tc, Flavor::Debug);
    s.set_breakpoint(&format!("main.go:{}", bp_line(PROG, "main.go", "probe")), None).expect("breakpoint");
    for _ in 0..100 {
        let stop = s.continue_().expect("continue");
        assert!(matches!(stop, Stop::Breakpoint { goroutine: Some(1), .. }), "{tc}: {stop:?}");
        if counters(&mut s)[7][0] != 0 {
            return (s, pipes);
        }
    }
    panic!("{tc}: the finalizer goroutine never ran");
}

/// Whether a thread other than the selected one runs user code where the
/// runtime could preempt it asynchronously (the freezer must then preempt
/// it, in at least one round); the others in user code, for messages.
fn another_thread_at_a_safe_point(s: &mut Session) -> (bool, Vec<String>) {
    let bin = s.program.bin.clone();
    let pcln = bin.pclntab();
    let me = s.selected_thread();
    let threads = s.threads().expect("threads");
    let mut safe = false;
    let mut user = Vec::new();
    for t in threads.iter().filter(|t| Some(t.tid) != me) {
        let Some(f) = pcln.func_for_pc(t.pc).filter(|f| code::runs_as_user(pcln, f, t.pc)) else { continue };
        safe |= preempt::async_safe_point(pcln, &f, t.pc);
        user.push(format!("{} {}", t.tid, f.name));
    }
    (safe, user)
}

/// Continues to the probe until every counter has moved.
fn continue_until_all_advance(tc: &GoToolchain, s: &mut Session) {
    let before = counters(s);
    for _ in 0..40 {
        s.continue_().expect("continue");
        if all_advanced(&before, &counters(s)) {
            return;
        }
    }
    panic!("{tc}: some counter never moved again: {before:?} -> {:?}", counters(s));
}

/// `expr` called frozen; it must not block. Its single result and the report.
fn frozen_call(tc: &GoToolchain, s: &mut Session, expr: &str) -> (stillgo_eval::Val, FreezeReport) {
    let mut never = |b: &Blocked| panic!("{tc}: {expr} blocked: {b:?}");
    match s.call_frozen_with(expr, CallOptions::default(), &mut never) {
        Ok((CallOutcome::Values(mut vs), report)) if vs.len() == 1 => (vs.remove(0).value, report),
        other => panic!("{tc}: call {expr}: {other:?}"),
    }
}

#[test]
fn frozen_calls_report_and_keep_every_counter_still() {
    for tc in go_versions() {
        let (mut s, _pipes) = start(&tc);
        // A freeze needs a preemption round when another thread runs user
        // code at a safe point: stopped so that one does.
        let (mut safe, mut running) = another_thread_at_a_safe_point(&mut s);
        for _ in 0..50 {
            if safe {
                break;
            }
            s.continue_().expect("continue");
            (safe, running) = another_thread_at_a_safe_point(&mut s);
        }
        assert!(safe, "{tc}: never another thread at a safe point in user code at a probe hit: {running:?}");
        let before = counters(&mut s);
        let (v, report) = frozen_call(&tc, &mut s, "nop()");
        assert_eq!(val_int(&s, &v), 7, "{tc}");
        assert!(report.frozen && report.rounds > 0, "{tc}: {running:?} ran user code: {report:?}");
        assert!(report.blocked.is_none() && !report.thawed_early, "{tc}: {report:?}");
        assert_eq!(counters(&mut s), before, "{tc}: a goroutine ran during nop()");

        for (expr, want) in [("gcNow()", 1), ("nap()", 2), ("lockTwice()", 2), ("spawnAndWait()", 11), ("nop() + lockTwice()", 9)] {
            let (v, report) = frozen_call(&tc, &mut s, expr);
            assert_eq!(val_int(&s, &v), want, "{tc}: {expr}");
            assert!(report.frozen && report.blocked.is_none(), "{tc}: {expr}: {report:?}");
            assert_eq!(counters(&mut s), before, "{tc}: a goroutine ran during {expr}");
        }
        let (v, _) = frozen_call(&tc, &mut s, "format()");
        assert_eq!(val_string(&s, &v), "42-x", "{tc}");
        assert_eq!(counters(&mut s), before, "{tc}: a goroutine ran during format()");
        assert_eq!(at(&mut s), ("main.probe".to_string(), bp_line(PROG, "main.go", "probe")), "{tc}: still at the probe");

        // -thaw: the report says nothing was frozen, and the others ran.
        let (out, report) = s.call_frozen_with("nap()", CallOptions { thaw: true, ..CallOptions::default() }, &mut |_| BlockedChoice::Thaw).expect("call -thaw");
        assert!(matches!(out, CallOutcome::Values(_)) && !report.frozen && report.rounds == 0, "{tc}: {report:?}");
        assert_ne!(counters(&mut s), before, "{tc}: nothing ran during an unfrozen 50 ms call");
        continue_until_all_advance(&tc, &mut s);
    }
}

#[test]
fn blocked_frozen_calls_are_reported_and_thawed() {
    for tc in go_versions() {
        let (mut s, _pipes) = start(&tc);
        let recv_line = bp_line(PROG, "main.go", "recvFeed");
        let mut asked: Vec<Blocked> = Vec::new();
        let mut record = |b: &Blocked| {
            asked.push(b.clone());
            BlockedChoice::Thaw
        };
        let (out, report) = s.call_frozen_with("recvFeed()", CallOptions::default(), &mut record).expect("recvFeed");
        assert!(matches!(&out, CallOutcome::Values(v) if v.len() == 1 && val_int(&s, &v[0].value) == 1), "{tc}: {out:?}");
        assert_eq!(asked.len(), 1, "{tc}: {asked:?}");
        let b = &asked[0];
        assert_eq!((b.wait_reason.as_str(), b.function.as_deref(), b.line), ("chan receive", Some("main.recvFeed"), recv_line), "{tc}: {b:?}");
        assert_ne!(b.goroutine, 1, "{tc}: the call has a goroutine of its own");
        assert!(report.frozen && report.thawed_early, "{tc}: {report:?}");
        assert_eq!(report.blocked.map(|r| r.goroutine), Some(b.goroutine), "{tc}");

        // call_with thaws by itself and says so with a typed error (the
        // result is discarded: the world ran meanwhile).
        match s.call_with("lockHeld()", CallOptions::default()) {
            Err(SessionError::CallBlocked { goroutine, what, discarded: true }) => {
                assert!(goroutine != 1 && what.contains("waits for sync.Mutex.Lock in main.lockHeld"), "{tc}: {goroutine} {what}")
            }
            other => panic!("{tc}: lockHeld: {other:?}"),
        }

        // Nothing stays thawed: the next call is frozen again.
        let before = counters(&mut s);
        let (v, report) = frozen_call(&tc, &mut s, "nop()");
        assert_eq!(val_int(&s, &v), 7, "{tc}");
        assert!(report.frozen && !report.thawed_early, "{tc}: {report:?}");
        assert_eq!(counters(&mut s), before, "{tc}: a goroutine ran during nop() after the thawed calls");
        continue_until_all_advance(&tc, &mut s);
    }
}

#[test]
fn frozen_steps_move_only_the_stepping_goroutine() {
    for tc in go_versions() {
        let (mut s, _pipes) = start(&tc);
        let walk = bp_line(PROG, "main.go", "walk");
        let (bp, _) = s.set_breakpoint(&format!("main.go:{walk}"), None).expect("breakpoint");
        let stop = s.continue_().expect("continue");
        assert!(matches!(&stop, Stop::Breakpoint { ids, goroutine: Some(1), .. } if ids == &vec![bp.id]), "{tc}: {stop:?}");

        s.freeze_steps = true;
        let before = counters(&mut s);
        // Through walk: an allocation, a sleep, a GC, fmt, the return.
        for l in walk + 1..=walk + 6 {
            let stop = s.next();
            assert!(matches!(&stop, Ok(Stop::StepDone { goroutine: Some(1), .. })), "{tc}: next to {l}: {stop:?}");
            assert_eq!(at(&mut s), ("main.walk".to_string(), l), "{tc}");
            let report = s.last_step_freeze.as_ref().unwrap_or_else(|| panic!("{tc}: no freeze report for a frozen step"));
            assert!(report.frozen && report.blocked.is_none() && !report.thawed_early, "{tc}: next to {l}: {report:?}");
            assert_eq!(counters(&mut s), before, "{tc}: a goroutine ran during the frozen next to {l}");
        }
        let stop = s.step_out();
        assert_eq!(stop.as_ref().ok().and_then(stop_goroutine), Some(1), "{tc}: stepout: {stop:?}");
        assert_eq!(at(&mut s).0, "main.main", "{tc}");
        assert!(s.last_step_freeze.as_ref().is_some_and(|r| r.frozen), "{tc}: {:?}", s.last_step_freeze);
        assert_eq!(counters(&mut s), before, "{tc}: a goroutine ran during the frozen stepout");

        // Unfrozen steps: no report, and over main's 100 ms sleep every
        // counter moves.
        s.freeze_steps = false;
        s.clear_all().expect("clearall");
        next_until_all_advance(&tc, &mut s, &before);
    }
}

fn next_until_all_advance(tc: &GoToolchain, s: &mut Session, before: &[Vec<u64>]) {
    for _ in 0..10 {
        let stop = s.next();
        assert!(matches!(&stop, Ok(Stop::StepDone { goroutine: Some(1), .. })), "{tc}: unfrozen next: {stop:?}");
        assert!(s.last_step_freeze.is_none(), "{tc}: {:?}", s.last_step_freeze);
        if all_advanced(before, &counters(s)) {
            return;
        }
    }
    panic!("{tc}: counters did not all move over unfrozen nexts: {before:?} -> {:?}", counters(s));
}
