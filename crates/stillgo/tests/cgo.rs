//! Programs with C code (externally linked): breakpoints, stacks, and the
//! frozen world holding threads that run C (docs/frozen-world.md,
//! "Guarantees"), on `testdata/cgo` (our own) and `testdata/sqlite`
//! (github.com/mattn/go-sqlite3 from the module proxy).

use stillgo_testkit::{build, go_versions, source_line, Flavor, GoToolchain, Session};

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
        let t0 = call(&mut s, &tc, "tSpins()");
        let returns0 = number(&mut s, &tc, "main.cReturns.v");
        let go0 = number(&mut s, &tc, "main.goSpins.v");
        for expr in ["cSpins()", "viaC(2)", "cSpins()"] {
            call(&mut s, &tc, expr);
        }
        assert_eq!(call(&mut s, &tc, "viaC(2)"), "7", "{tc}: a called function that calls C");
        assert_eq!(call(&mut s, &tc, "cSpins()"), c0, "{tc}: the goroutine spinning in C ran during frozen calls");
        assert_eq!(call(&mut s, &tc, "tSpins()"), t0, "{tc}: the thread C started ran during frozen calls");
        assert_eq!(number(&mut s, &tc, "main.cReturns.v"), returns0, "{tc}: the goroutine returning from C ran Go code");
        assert_eq!(number(&mut s, &tc, "main.goSpins.v"), go0, "{tc}: the Go spinner ran");
        // Frozen steps hold them too.
        s.send("config freeze-steps on");
        for _ in 0..2 {
            let out = s.send("next");
            assert!(out.contains("main.probe()"), "{tc}: {out}");
        }
        assert_eq!(call(&mut s, &tc, "cSpins()"), c0, "{tc}: C ran during frozen steps");
        assert_eq!(call(&mut s, &tc, "tSpins()"), t0, "{tc}: C's own thread ran during frozen steps");
        // And they run again when the program does.
        s.send("config freeze-steps off");
        let out = s.send("continue");
        assert!(out.contains("main.probe()"), "{tc}: {out}");
        assert_ne!(call(&mut s, &tc, "cSpins()"), c0, "{tc}: the C spinner never ran again");
        assert_ne!(call(&mut s, &tc, "tSpins()"), t0, "{tc}: C's own thread never ran again");
        assert!(number(&mut s, &tc, "main.cReturns.v") > returns0, "{tc}: the C caller never ran again");
        s.send_and_exit("exit");
    }
}

/// The id in a `goroutines` line, or the tid in a `threads` line, of the
/// first line that mentions `what`.
fn listed_id(listing: &str, what: &str) -> Option<u64> {
    let line = listing.lines().find(|l| l.contains(what))?;
    line.split_whitespace().find_map(|w| w.parse().ok())
}

/// The function names of a `stack` listing, frame by frame, and the
/// `at FILE:LINE` line of each.
fn frames(stack: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = stack.lines().collect();
    lines
        .windows(2)
        .filter_map(|w| {
            let (head, at) = (w[0].trim(), w[1].trim());
            let function = head.split(" in ").nth(1)?.trim().to_string();
            head.split_whitespace().next()?.parse::<usize>().ok()?;
            Some((function, at.trim_start_matches("at ").to_string()))
        })
        .collect()
}

#[test]
fn c_frames_then_go_frames_in_stacks() {
    for tc in go_versions() {
        let bin = build("cgo", &tc, Flavor::Debug);
        let spin_line = source_line("cgo", "main.go", "C:spin");
        let mut s = Session::exec(&bin, &[]);
        s.send("break main.probe");
        let out = s.send("continue");
        assert!(out.contains("main.probe()"), "{tc}: {out}");
        // The goroutine in C: its C frame (named from the symbol table,
        // placed by the executable's DWARF), the switch back from the
        // system stack in asmcgocall, then its Go frames.
        let grs = s.send("goroutines");
        let id = listed_id(&grs, "C.spin_in_c").unwrap_or_else(|| panic!("{tc}: no goroutine listed in C: {grs}"));
        let st = s.send(&format!("goroutine {id} stack"));
        let got = frames(&st);
        let names: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["C.spin_in_c", "runtime.asmcgocall", "runtime.cgocall", "main._Cfunc_spin_in_c", "main.spinC", "runtime.goexit"], "{tc}: {st}");
        let at = &got[0].1;
        let line: u32 = at.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or(0);
        assert!(at.contains("main.go:") && (spin_line - 1..=spin_line).contains(&line), "{tc}: C frame at {at}, the loop is at main.go:{spin_line}");
        assert!(got[4].1.contains("main.go:"), "{tc}: {st}");
        // The same stack from the thread that runs the C code.
        let threads = s.send("threads");
        let tid = listed_id(&threads, "C.spin_in_c").unwrap_or_else(|| panic!("{tc}: no thread listed in C: {threads}"));
        s.send(&format!("thread {tid}"));
        let by_thread = s.send("stack");
        assert_eq!(frames(&by_thread).iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), names, "{tc}: {by_thread}");
        // A thread C started, with no goroutine: its C frames down to the C
        // library's thread start.
        let tid = listed_id(&threads, "C.c_thread_main").unwrap_or_else(|| panic!("{tc}: C's own thread not listed: {threads}"));
        s.send(&format!("thread {tid}"));
        let st = s.send("stack");
        let got = frames(&st);
        let thread_line = source_line("cgo", "main.go", "C:thread");
        assert_eq!(got.first().map(|(f, _)| f.as_str()), Some("C.c_thread_main"), "{tc}: {st}");
        assert!(got[0].1.contains("main.go:") && got[0].1.rsplit(':').next().and_then(|l| l.parse::<u32>().ok()).is_some_and(|l| (thread_line - 1..=thread_line).contains(&l)), "{tc}: {st}");
        // glibc's thread start-up has no symbol where the C library is
        // stripped (Debian's is): placed by its file, never a bare address.
        assert!(got.len() >= 2 && got[1..].iter().all(|(f, _)| f == "C.start_thread" || f.starts_with("C.") || f.contains(" from /") && f.contains("libc")), "{tc}: through the C library: {st}");
        // The goroutine that calls C in a loop, wherever it is: a full
        // stack down to its Go function, never a raw address.
        let loop_id = listed_id(&grs, "main._Cfunc_short_c").or_else(|| listed_id(&grs, "C.short_c"));
        if let Some(loop_id) = loop_id {
            let st = s.send(&format!("goroutine {loop_id} stack"));
            let names: Vec<String> = frames(&st).into_iter().map(|(f, _)| f).collect();
            assert!(names.iter().any(|f| f == "main.callCLoop") && names.last().is_some_and(|f| f == "runtime.goexit"), "{tc}: {st}");
            assert!(!st.contains(" in ?"), "{tc}: {st}");
        }
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
    // The worker's stack runs through SQLite's C code back to its Go code.
    let grs = s.send("goroutines");
    let id = listed_id(&grs, "sqlite3-binding.c").unwrap_or_else(|| panic!("{tc}: no goroutine listed inside SQLite: {grs}"));
    let st = s.send(&format!("goroutine {id} stack 64"));
    let names: Vec<String> = frames(&st).into_iter().map(|(f, _)| f).collect();
    let pos = |want: &dyn Fn(&str) -> bool| names.iter().position(|f| want(f)).unwrap_or_else(|| panic!("{tc}: {st}"));
    let c = pos(&|f| f.starts_with("C."));
    let switch = pos(&|f| f == "runtime.asmcgocall");
    let wrapper = pos(&|f| f.starts_with("github.com/mattn/go-sqlite3._Cfunc_"));
    let worker = pos(&|f| f == "main.worker");
    assert!(c == 0 && c < switch && switch < wrapper && wrapper < worker, "{tc}: {st}");
    assert!(names[..switch].iter().all(|f| f.starts_with("C.")), "{tc}: only C frames above asmcgocall: {st}");
    s.send_and_exit("exit");
}
