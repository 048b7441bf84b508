//! Programs with C code (externally linked): breakpoints, stacks, and the
//! frozen world holding threads that run C (docs/frozen-world.md,
//! "Guarantees"), on `testdata/cgo` (our own) and `testdata/sqlite`
//! (github.com/mattn/go-sqlite3 from the module proxy).

use stillgo_testkit::{build, go_versions, Flavor, GoToolchain, Session};

/// The number printed for `print EXPR` (a bare integer or an atomic's `v`).
fn number(s: &mut Session, tc: &GoToolchain, expr: &str) -> u64 {
    let out = s.send(&format!("print {expr}"));
    let digits: String = out.rsplit(|c: char| !c.is_ascii_digit()).find(|w| !w.is_empty()).unwrap_or_default().to_string();
    digits.parse().unwrap_or_else(|_| panic!("{tc}: `print {expr}`: no number in {out:?}"))
}

fn call(s: &mut Session, tc: &GoToolchain, expr: &str) -> String {
    let out = s.send(&format!("call {expr}"));
    assert!(!out.contains("Command failed"), "{tc}: `call {expr}`: {out}");
    out.trim().trim_end_matches("(stillgo)").trim().to_string()
}

#[test]
fn frozen_calls_and_steps_hold_threads_in_c() {
    for tc in go_versions() {
        let bin = build("cgo", &tc, Flavor::Debug);
        let mut s = Session::exec(&bin, &[]);
        let out = s.send("break main.probe");
        assert!(out.contains("main.go:"), "{tc}: a Go function of an externally linked binary: {out}");
        let out = s.send("continue");
        assert!(out.contains("main.probe()"), "{tc}: {out}");
        // The C spinner's counter, read through a call into C itself.
        let c0 = call(&mut s, &tc, "cSpins()");
        let returns0 = number(&mut s, &tc, "main.cReturns.v");
        let go0 = number(&mut s, &tc, "main.goSpins.v");
        for expr in ["cSpins()", "viaC(2)", "cSpins()"] {
            call(&mut s, &tc, expr);
        }
        assert_eq!(call(&mut s, &tc, "viaC(2)"), "7", "{tc}: a called function that calls C");
        assert_eq!(call(&mut s, &tc, "cSpins()"), c0, "{tc}: the goroutine spinning in C ran during frozen calls");
        assert_eq!(number(&mut s, &tc, "main.cReturns.v"), returns0, "{tc}: the goroutine returning from C ran Go code");
        assert_eq!(number(&mut s, &tc, "main.goSpins.v"), go0, "{tc}: the Go spinner ran");
        // Frozen steps hold them too.
        s.send("config freeze-steps on");
        for _ in 0..2 {
            let out = s.send("next");
            assert!(out.contains("main.probe()"), "{tc}: {out}");
        }
        assert_eq!(call(&mut s, &tc, "cSpins()"), c0, "{tc}: C ran during frozen steps");
        // And they run again when the program does.
        s.send("config freeze-steps off");
        let out = s.send("continue");
        assert!(out.contains("main.probe()"), "{tc}: {out}");
        assert_ne!(call(&mut s, &tc, "cSpins()"), c0, "{tc}: the C spinner never ran again");
        assert!(number(&mut s, &tc, "main.cReturns.v") > returns0, "{tc}: the C caller never ran again");
        s.send_and_exit("exit");
    }
}

/// mattn/go-sqlite3 is 8 MB of C: built for the newest Go version under test.
#[test]
fn third_party_sqlite_worker_stays_inside_sqlite_during_frozen_calls() {
    let Some(tc) = go_versions().into_iter().last() else { return };
    let bin = build("sqlite", &tc, Flavor::Debug);
    let mut s = Session::exec(&bin, &[]);
    s.send("break main.probe");
    let out = s.send("continue");
    assert!(out.contains("main.probe()"), "{tc}: {out}");
    let grs = s.send("goroutines");
    assert!(grs.contains("go-sqlite3"), "{tc}: the worker is in SQLite: {grs}");
    let q0 = number(&mut s, &tc, "main.queries.v");
    let g0 = number(&mut s, &tc, "main.goSpins.v");
    // A query of our own while the worker's connection is busy in C.
    assert_eq!(call(&mut s, &tc, "count()"), "3", "{tc}: an injected call that runs SQLite");
    assert_eq!(call(&mut s, &tc, "count()"), "3", "{tc}");
    assert_eq!(number(&mut s, &tc, "main.queries.v"), q0, "{tc}: the worker finished a query while frozen");
    assert_eq!(number(&mut s, &tc, "main.goSpins.v"), g0, "{tc}: the Go spinner ran");
    let out = s.send("stack");
    assert!(out.contains("main.probe") && out.contains("main.main"), "{tc}: {out}");
    s.send_and_exit("exit");
}
