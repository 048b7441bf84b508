//! A [`Session`] driven directly (no CLI): breakpoints, continue, next,
//! step, stepout and the end of the program, asserted on the [`Stop`]
//! values they return and on where the selected frame then is.
//! testdata/stepping (main -> a -> b -> c, a loop) and testdata/exits
//! (os.Exit(3) inside a loop), Debug builds, every Go version under test.

mod common;

use std::io::Read;

use common::{at, int, launch, stop_goroutine};
use stillgo_session::{Session, SessionError, Stop};
use stillgo_testkit::{bp_line, go_versions, Flavor, GoToolchain};

fn line(name: &str) -> u32 {
    bp_line("stepping", "main.go", name)
}

/// A step that ended on goroutine 1 (both programs run main's goroutine only).
fn stepped(tc: &GoToolchain, what: &str, stop: Result<Stop, SessionError>) {
    match stop {
        Ok(Stop::StepDone { goroutine: Some(1), .. }) => {}
        other => panic!("{tc}: {what}: {other:?}"),
    }
}

/// `step` into `function`, whose first statement is at `first`: the step
/// may stop on the `func` line first (argument spills), then `next` gets to
/// the statement.
fn step_into(tc: &GoToolchain, s: &mut Session, function: &str, first: u32) {
    stepped(tc, &format!("step into {function}"), s.step());
    let (f, l) = at(s);
    assert_eq!(f, function, "{tc}: step");
    if l + 1 == first {
        stepped(tc, "next to the first statement", s.next());
    }
    assert_eq!(at(s), (function.to_string(), first), "{tc}: step into {function}");
}

#[test]
fn breakpoints_and_steps_return_where_they_stopped() {
    for tc in go_versions() {
        let (mut s, mut pipes) = launch("stepping", &tc, Flavor::Debug);
        let (bp, moved) = s.set_breakpoint(&format!("main.go:{}", line("main-a")), None).expect("breakpoint");
        assert_eq!((bp.function.as_deref(), bp.line, moved), (Some("main.main"), line("main-a"), None), "{tc}: {bp:?}");

        match s.continue_() {
            Ok(Stop::Breakpoint { ids, goroutine: Some(1), tid }) => {
                assert_eq!(ids, vec![bp.id], "{tc}");
                assert_eq!(s.selected_thread(), Some(tid), "{tc}: the stop selects its thread");
            }
            other => panic!("{tc}: continue: {other:?}"),
        }
        assert_eq!(at(&mut s), ("main.main".to_string(), line("main-a")), "{tc}");
        assert_eq!(s.selected_goroutine(), Some(1), "{tc}");

        // main -> a -> b -> c, one step each.
        step_into(&tc, &mut s, "main.a", line("a"));
        step_into(&tc, &mut s, "main.b", line("b"));
        step_into(&tc, &mut s, "main.c", line("c"));
        assert_eq!(int(&mut s, "x"), 3, "{tc}: c's argument");
        let names: Vec<String> = s.stack(8).expect("stack").iter().filter_map(|f| f.function.as_deref().map(str::to_string)).take(4).collect();
        assert_eq!(names, ["main.c", "main.b", "main.a", "main.main"], "{tc}");

        // stepout returns to the calling line; next goes on from there.
        stepped(&tc, "stepout of c", s.step_out());
        assert_eq!(at(&mut s), ("main.b".to_string(), line("b")), "{tc}: stepout of c");
        stepped(&tc, "next in b", s.next());
        assert_eq!(at(&mut s), ("main.b".to_string(), line("b") + 1), "{tc}: next in b");
        assert_eq!(int(&mut s, "y"), 10, "{tc}: b's y = c(3)");
        stepped(&tc, "stepout of b", s.step_out());
        assert_eq!(at(&mut s), ("main.a".to_string(), line("a")), "{tc}: stepout of b");
        stepped(&tc, "next in a", s.next());
        assert_eq!(at(&mut s), ("main.a".to_string(), line("a-add")), "{tc}: next in a");
        assert_eq!(int(&mut s, "y"), 20, "{tc}: a's y = b(2)");
        stepped(&tc, "stepout of a", s.step_out());
        assert_eq!(at(&mut s), ("main.main".to_string(), line("main-a")), "{tc}: stepout of a");

        // A breakpoint in a loop stops once per iteration, on goroutine 1.
        let (in_loop, _) = s.set_breakpoint(&format!("main.go:{}", line("loop")), None).expect("breakpoint");
        for i in 0..3 {
            let stop = s.continue_().expect("continue");
            assert!(matches!(&stop, Stop::Breakpoint { ids, .. } if ids == &vec![in_loop.id]), "{tc}: iteration {i}: {stop:?}");
            assert_eq!(stop_goroutine(&stop), Some(1), "{tc}");
            assert_eq!(at(&mut s), ("main.loop".to_string(), line("loop")), "{tc}");
            assert_eq!(int(&mut s, "i"), i, "{tc}: loop counter");
        }
        let hits = s.breakpoints().iter().find(|b| b.id == in_loop.id).map(|b| b.total_hits);
        assert_eq!(hits, Some(3), "{tc}");

        // Without breakpoints the program runs to its end.
        assert_eq!(s.clear_all().expect("clearall"), 2, "{tc}");
        assert!(matches!(s.continue_(), Ok(Stop::Exited { code: 0 })), "{tc}");
        assert!(!s.is_running(), "{tc}");
        assert!(matches!(s.last_stop, Some(Stop::Exited { code: 0 })), "{tc}: {:?}", s.last_stop);
        assert!(matches!(s.continue_(), Err(SessionError::Exited(0))), "{tc}: continue after the end");
        let mut out = String::new();
        pipes.stdout.read_to_string(&mut out).expect("stdout");
        assert_eq!(out, "21 10 5 hello, gopher! body deferred recovered: n=3 too big\n", "{tc}: the program's result changed");
    }
}

#[test]
fn exit_status_from_next_and_continue_and_restart() {
    for tc in go_versions() {
        let (mut s, _pipes) = launch("exits", &tc, Flavor::Debug);
        let exit = bp_line("exits", "main.go", "exit");
        let (bp, _) = s.set_breakpoint(&format!("main.go:{exit}"), None).expect("breakpoint");
        let stop = s.continue_().expect("continue");
        assert!(matches!(&stop, Stop::Breakpoint { ids, goroutine: Some(1), .. } if ids == &vec![bp.id]), "{tc}: {stop:?}");
        assert_eq!(at(&mut s), ("main.check".to_string(), exit), "{tc}");
        assert_eq!(int(&mut s, "i"), 3, "{tc}");

        // next over os.Exit(3): the step ends with the program.
        assert!(matches!(s.next(), Ok(Stop::Exited { code: 3 })), "{tc}: next over os.Exit");
        assert!(!s.is_running(), "{tc}");
        assert!(matches!(s.next(), Err(SessionError::Exited(3))), "{tc}: next after the end");
        assert!(matches!(s.eval("i"), Err(SessionError::Exited(3))), "{tc}: eval after the end");

        // restart keeps the breakpoint (its hits start again). The new
        // process's pipes are kept too.
        let _pipes = s.restart().expect("restart");
        assert!(matches!(s.last_stop, Some(Stop::Entry)), "{tc}: {:?}", s.last_stop);
        let stop = s.continue_().expect("continue");
        assert!(matches!(&stop, Stop::Breakpoint { ids, .. } if ids == &vec![bp.id]), "{tc}: after restart: {stop:?}");
        assert_eq!(s.breakpoints()[0].total_hits, 1, "{tc}: hits after restart");
        s.clear_breakpoint(bp.id).expect("clear");
        assert!(matches!(s.continue_(), Ok(Stop::Exited { code: 3 })), "{tc}: continue to the end");
        assert!(matches!(s.last_stop, Some(Stop::Exited { code: 3 })), "{tc}: {:?}", s.last_stop);
    }
}
