//! Injected calls through [`Session::call_with`] (no CLI), asserted on the
//! typed [`CallOutcome`]: values (named results, strings, the frame's
//! locals as arguments), panics, the runtime's refusal, and the program
//! exiting during a call. testdata/calls, Debug builds, every Go version.

mod common;

use common::{at, int, launch, val_int, val_string};
use stillgo_session::{CallOptions, CallOutcome, Session, SessionError, Stop};
use stillgo_testkit::{bp_line, go_versions, Flavor, GoToolchain};
use stillgo_world::CallError;

/// The outcome of `expr`, which must not fail.
fn call(tc: &GoToolchain, s: &mut Session, expr: &str) -> CallOutcome {
    s.call_with(expr, CallOptions::default()).unwrap_or_else(|e| panic!("{tc}: call {expr}: {e}"))
}

/// The integer results of `expr`, with their names.
fn ints(tc: &GoToolchain, s: &mut Session, expr: &str) -> Vec<(String, i128)> {
    match call(tc, s, expr) {
        CallOutcome::Values(vs) => vs.iter().map(|v| (v.name.clone(), val_int(s, &v.value))).collect(),
        other => panic!("{tc}: call {expr}: {other:?}"),
    }
}

#[test]
fn call_outcomes_values_panics_refusals_and_exit() {
    for tc in go_versions() {
        let (mut s, _pipes) = launch("calls", &tc, Flavor::Debug);
        let work = bp_line("calls", "main.go", "work");
        s.set_breakpoint(&format!("main.go:{work}"), None).expect("breakpoint");
        assert!(matches!(s.continue_(), Ok(Stop::Breakpoint { goroutine: Some(1), .. })), "{tc}");
        assert_eq!(at(&mut s), ("main.work".to_string(), work), "{tc}");

        // Values: one (unnamed) result, named results, arguments from the frame.
        assert_eq!(ints(&tc, &mut s, "add(1, 2)"), [(String::new(), 3)], "{tc}");
        assert_eq!(ints(&tc, &mut s, "divmod(9, 4)"), [("q".to_string(), 2), ("r".to_string(), 1)], "{tc}");
        assert_eq!(ints(&tc, &mut s, "p.Sum()"), [(String::new(), 7)], "{tc}: p is work's Point{{3, 4}}");
        assert_eq!(ints(&tc, &mut s, "add(n, arr[1])"), [(String::new(), 21)], "{tc}: n = 1, arr[1] = 20");
        assert_eq!(ints(&tc, &mut s, "add(1, 2) + add(3, 4)"), [(String::new(), 10)], "{tc}: nested calls");
        match call(&tc, &mut s, "greet(\"x\")") {
            CallOutcome::Values(vs) if vs.len() == 1 => assert_eq!(val_string(&s, &vs[0].value), "hello, x", "{tc}"),
            other => panic!("{tc}: greet: {other:?}"),
        }
        let unfrozen = s.call_with("sleepy(5)", CallOptions { thaw: true, ..CallOptions::default() }).expect("call -thaw");
        assert!(matches!(&unfrozen, CallOutcome::Values(v) if v.len() == 1 && val_int(&s, &v[0].value) == 5), "{tc}: {unfrozen:?}");

        // Panics inside the call, as the runtime prints them.
        for (expr, want) in [("boom(\"bad\")", "bad"), ("index([]int{1}, -1)", "runtime error: index out of range [-1]")] {
            match call(&tc, &mut s, expr) {
                CallOutcome::Panicked(p) => assert_eq!(p, want, "{tc}: {expr}"),
                other => panic!("{tc}: {expr}: {other:?}"),
            }
        }
        // The calls changed nothing in the program; the session is still
        // stopped where it was.
        assert_eq!(int(&mut s, "counter"), 1, "{tc}");
        assert_eq!(at(&mut s), ("main.work".to_string(), work), "{tc}");

        // Stopped inside the runtime: the runtime refuses, with advice.
        s.clear_all().expect("clearall");
        s.set_breakpoint("runtime.NumGoroutine", None).expect("breakpoint");
        assert!(matches!(s.continue_(), Ok(Stop::Breakpoint { .. })), "{tc}");
        assert_eq!(at(&mut s).0, "runtime.NumGoroutine", "{tc}");
        match call(&tc, &mut s, "main.add(1, 2)") {
            CallOutcome::Refused(r) => {
                assert!(r.contains("call from within the Go runtime") && r.contains("step out to user code first"), "{tc}: {r}")
            }
            other => panic!("{tc}: a call inside the runtime: {other:?}"),
        }
        assert!(matches!(s.step_out(), Ok(Stop::StepDone { goroutine: Some(1), .. })), "{tc}");
        assert_eq!(at(&mut s).0, "main.main", "{tc}");
        assert_eq!(ints(&tc, &mut s, "add(1, 2)"), [(String::new(), 3)], "{tc}: back in user code");

        // The program exits during the call: an error, and the session knows.
        match s.call_with("exitNow(3)", CallOptions::default()) {
            Err(SessionError::Call(CallError::Exited(3))) => {}
            other => panic!("{tc}: exitNow: {other:?}"),
        }
        assert!(!s.is_running(), "{tc}");
        assert!(matches!(s.last_stop, Some(Stop::Exited { code: 3 })), "{tc}: {:?}", s.last_stop);
        assert!(matches!(s.call_with("add(1, 2)", CallOptions::default()), Err(SessionError::Exited(3))), "{tc}: a call after the end");
    }
}
