//! CLI integration tests of execution control: breakpoints, running,
//! goroutine-aware stepping, stacks, goroutine listings, attach/detach,
//! `debug`/`test`, exits, signals and error reporting, driving the real
//! `stillgo` binary on the programs of `testdata/` for every Go version
//! under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stillgo_testkit::{bp_line, build, build_c, go_versions, run_command, Flavor, GoToolchain, Session};

fn session(bin: &Path, args: &[&str]) -> Session {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stillgo"));
    c.env("NO_COLOR", "1").env("TERM", "dumb").env("RUST_BACKTRACE", "1").arg("exec").arg(bin);
    if !args.is_empty() {
        c.arg("--").args(args);
    }
    Session::start(c)
}

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Session {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stillgo"));
    c.env("NO_COLOR", "1").env("TERM", "dumb").env("RUST_BACKTRACE", "1").args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    // `debug` and `test` build the package first: with a cold build cache
    // on a loaded CI machine that alone can take minutes.
    if matches!(args.first(), Some(&"debug") | Some(&"test")) {
        return Session::start_with_timeout(c, std::time::Duration::from_secs(300).max(stillgo_testkit::default_timeout()));
    }
    Session::start(c)
}

/// Fails on output that shows a panic or an internal error.
fn no_panic(ctx: &str, out: &str) {
    assert!(!out.contains("panicked"), "{ctx}: the debugger panicked:\n{out}");
}

/// The goroutine id of a stop line: `[Breakpoint N] ... (hits goroutine(G):`
/// or `> goroutine G: ...`.
fn stop_goroutine(out: &str) -> Option<u64> {
    for line in out.lines() {
        if let Some(i) = line.find("hits goroutine(") {
            let rest = &line[i + "hits goroutine(".len()..];
            return rest.split(')').next()?.parse().ok();
        }
        if let Some(rest) = line.strip_prefix("> goroutine ") {
            return rest.split(':').next()?.parse().ok();
        }
    }
    None
}

/// The `=>` line of a stop listing: the line number stopped at.
fn arrow_line(out: &str) -> Option<u32> {
    out.lines().find_map(|l| l.trim_start().strip_prefix("=>")).and_then(|r| r.trim().split(':').next()?.trim().parse().ok())
}

fn bp_addr(set_reply: &str) -> String {
    set_reply
        .split_whitespace()
        .find(|w| w.starts_with("0x"))
        .unwrap_or_else(|| panic!("no address in {set_reply:?}"))
        .to_string()
}

#[test]
fn breakpoints_by_every_kind_of_location() {
    for tc in go_versions() {
        let bin = build("hello", &tc, Flavor::Debug);
        let add = bp_line("hello", "main.go", "add");
        let mut s = session(&bin, &[]);
        let out = s.send(&format!("break main.go:{add}"));
        assert!(out.contains("Breakpoint 1 set at") && out.contains("main.(*Counter).Add()"), "{tc}: {out}");
        assert!(out.contains(&format!("main.go:{add}")), "{tc}: {out}");
        let out = s.send("break main.countWords");
        assert!(out.contains("Breakpoint 2 set at") && out.contains("main.countWords()"), "{tc}: {out}");
        let out = s.send("break normalize");
        assert!(out.contains("Breakpoint 3 set at") && out.contains("main.normalize()"), "{tc}: {out}");
        let out = s.send("break (*Counter).Top");
        assert!(out.contains("Breakpoint 4 set at") && out.contains("main.(*Counter).Top()"), "{tc}: {out}");
        let top_addr = bp_addr(&out);
        let out = s.send("break nosuchfunction");
        assert!(out.contains("Command failed") && out.contains("not found"), "{tc}: {out}");
        // Line 42 (closing brace of the range loop in Top) has no code.
        let out = s.send("break main.go:42");
        assert!(out.contains("Breakpoint 5 set at") && out.contains("main.go:43"), "{tc}: {out}");
        assert!(out.contains("line 42 has no code") && out.contains("moved to line 43"), "{tc}: {out}");

        let out = s.send("breakpoints");
        for id in 1..=5 {
            assert!(out.contains(&format!("Breakpoint {id} at")), "{tc}: {out}");
        }
        let out = s.send("clear 5");
        assert!(out.contains("Breakpoint 5 cleared"), "{tc}: {out}");
        let out = s.send("clear 4");
        assert!(out.contains("Breakpoint 4 cleared"), "{tc}: {out}");
        let out = s.send("clear 42");
        assert!(out.contains("Command failed") && out.contains("no breakpoint 42"), "{tc}: {out}");
        let out = s.send(&format!("break *{top_addr}"));
        assert!(out.contains("Breakpoint 6 set at") && out.contains("main.(*Counter).Top()"), "{tc}: {out}");

        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 2] main.countWords()"), "{tc}: {out}");
        assert!(stop_goroutine(&out) == Some(1), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 3] main.normalize()"), "{tc}: {out}");
        let out = s.send("clear 3");
        assert!(out.contains("Breakpoint 3 cleared"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.(*Counter).Add()"), "{tc}: {out}");
        assert_eq!(arrow_line(&out), Some(add), "{tc}: {out}");
        let out = s.send("clear 1");
        assert!(out.contains("Breakpoint 1 cleared"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 6] main.(*Counter).Top()"), "{tc}: {out}");
        let out = s.send("breakpoints");
        assert!(out.contains("Breakpoint 6 at") && !out.contains("Breakpoint 1 at"), "{tc}: {out}");
        let out = s.send("clearall");
        assert!(out.contains("2 breakpoint(s) cleared"), "{tc}: {out}");
        // Only the debugger's own stop-on-panic breakpoints remain.
        let out = s.send("breakpoints");
        let users = out
            .lines()
            .filter(|l| l.starts_with("Breakpoint ") && !l.starts_with("Breakpoint unrecovered-panic") && !l.starts_with("Breakpoint runtime-fatal-throw"))
            .count();
        assert_eq!(users, 0, "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("has exited with status 0"), "{tc}: {out}");
        assert!(out.contains("words,") && out.contains("distinct"), "{tc}: program output missing: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

/// A line the compiler splits into several code blocks (a `for` header:
/// init, condition, increment) gets one breakpoint, at its first
/// statement, as Delve places it: it stops once per loop, not twice per
/// iteration. Debug and optimized builds.
#[test]
fn for_loop_header_breaks_once() {
    for tc in go_versions() {
        for flavor in [Flavor::Debug, Flavor::Optimized] {
            let bin = build("stepping", &tc, flavor);
            let head = bp_line("stepping", "main.go", "loop-head");
            let mut s = session(&bin, &[]);
            let out = s.send(&format!("break main.go:{head}"));
            assert!(out.contains("Breakpoint 1 set at") && out.contains("main.loop()"), "{tc} {flavor}: {out}");
            assert!(!out.contains("locations"), "{tc} {flavor}: one location expected: {out}");
            let out = s.send("continue");
            assert!(out.contains(&format!("main.go:{head}")) && out.contains("total:1"), "{tc} {flavor}: {out}");
            let out = s.send("continue");
            assert!(out.contains("exited"), "{tc} {flavor}: the loop header stopped again: {out}");
        }
    }
}

#[test]
fn conditions_and_hit_counts() {
    for tc in go_versions() {
        let bin = build("hello", &tc, Flavor::Debug);
        let add = bp_line("hello", "main.go", "add");
        let mut s = session(&bin, &[]);
        s.send(&format!("break main.go:{add}"));
        let out = s.send("condition 1 c.total == 3");
        assert!(!out.contains("Command failed"), "{tc}: {out}");
        let out = s.send("breakpoints");
        assert!(out.contains("cond c.total == 3"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1]"), "{tc}: {out}");
        let out = s.send("print c.total");
        assert_eq!(out.trim(), "3", "{tc}: condition ignored: {}", s.transcript());
        let out = s.send("continue");
        assert!(out.contains("has exited with status 0"), "{tc}: condition true only once: {out}");

        // Hit-count condition: stop on the 5th hit only.
        let mut s = session(&bin, &[]);
        s.send(&format!("break main.go:{add}"));
        let out = s.send("condition -hitcount 1 == 5");
        assert!(!out.contains("Command failed"), "{tc}: {out}");
        let out = s.send("breakpoints");
        assert!(out.contains("cond -hitcount"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1]") && out.contains("total:5"), "{tc}: {out}");
        let out = s.send("print c.total");
        assert_eq!(out.trim(), "4", "{tc}: {}", s.transcript());
        let out = s.send("condition -hitcount 1 x");
        assert!(out.contains("Command failed"), "{tc}: {out}");
        let out = s.send("condition 9 i == 1");
        assert!(out.contains("Command failed") && out.contains("no breakpoint 9"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn stepping_stays_on_the_goroutine_among_workers() {
    for tc in go_versions() {
        let bin = build("goroutines", &tc, Flavor::Debug);
        let work = bp_line("goroutines", "main.go", "work");
        let call = bp_line("goroutines", "main.go", "call");
        let mut s = session(&bin, &[]);
        s.send(&format!("break main.go:{work}"));
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.work()"), "{tc}: {out}");
        let g = stop_goroutine(&out).unwrap_or_else(|| panic!("{tc}: no goroutine in {out}"));
        let mut lines = Vec::new();
        for _ in 0..6 {
            let out = s.send("next");
            assert!(!out.contains("Command failed"), "{tc}: {}", s.transcript());
            assert_eq!(stop_goroutine(&out), Some(g), "{tc}: next switched goroutine: {}", s.transcript());
            lines.push(arrow_line(&out));
        }
        // From work, `next` walks through the return into worker's loop.
        assert!(lines.contains(&Some(call)) || lines.contains(&Some(call + 1)), "{tc}: lines {lines:?}: {}", s.transcript());
        // Back in work (the breakpoint) via continue on whichever goroutine, then stepout.
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.work()"), "{tc}: {out}");
        let g2 = stop_goroutine(&out).unwrap_or_else(|| panic!("{tc}: no goroutine in {out}"));
        let out = s.send("stepout");
        assert_eq!(stop_goroutine(&out), Some(g2), "{tc}: stepout switched goroutine: {}", s.transcript());
        assert!(out.contains("main.worker()"), "{tc}: {out}");
        assert_eq!(arrow_line(&out), Some(call), "{tc}: {out}");

        // goroutines: 8 workers, blocked goroutines with their wait reasons,
        // once every goroutine had time to run and block (10 iterations).
        let out = s.send("clearall");
        assert!(out.contains("1 breakpoint(s) cleared"), "{tc}: {out}");
        let out = s.send(&format!("break main.go:{work} if i == 10"));
        assert!(out.contains("Breakpoint 2 set at"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 2] main.work()"), "{tc}: {out}");
        let g2 = stop_goroutine(&out).unwrap_or_else(|| panic!("{tc}: no goroutine in {out}"));
        let out = s.send("print i");
        assert_eq!(out.trim(), "10", "{tc}: {out}");
        // Start locations: the 8 workers were started by the `go worker`
        // statement (through its wrapper main.main.gowrapN, Go 1.21+).
        let go_line = stillgo_testkit::source_line("goroutines", "main.go", "go worker(id, &wg)");
        let out = s.send("goroutines -s");
        let workers = out.lines().filter(|l| l.contains(&format!("main.go:{go_line} main.main.gowrap"))).count();
        assert_eq!(workers, 8, "{tc}: {out}");
        let out = s.send("goroutines");
        assert!(out.contains("main.worker") && out.contains("[sleep]"), "{tc}: {out}");
        assert!(out.contains("chan receive"), "{tc}: {out}");
        assert!(out.contains("select"), "{tc}: {out}");
        assert!(out.contains("sleep"), "{tc}: {out}");
        assert!(out.contains("Mutex"), "{tc}: {out}");
        assert!(out.contains(&format!("* Goroutine {g2} ")), "{tc}: {out}");
        assert!(out.contains("main.blockedOnRecv") && out.contains("main.sleeper"), "{tc}: {out}");
        let recv_g: u64 = out
            .lines()
            .find(|l| l.contains("main.blockedOnRecv"))
            .and_then(|l| l.split("Goroutine ").nth(1)?.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{tc}: no blockedOnRecv goroutine id: {out}"));
        let out = s.send(&format!("goroutine {recv_g}"));
        assert!(out.contains(&format!("Switched from {g2} to {recv_g}")), "{tc}: {out}");
        let out = s.send("stack");
        assert!(out.contains("main.blockedOnRecv") && out.contains("runtime.gopark"), "{tc}: {out}");
        let out = s.send("goroutine");
        assert!(out.contains(&format!("Goroutine {recv_g}")), "{tc}: {out}");
        let out = s.send("threads");
        assert!(out.contains(" Thread ") && out.contains(&format!("(goroutine {g2})")), "{tc}: {out}");
        let out = s.send("goroutine 99999");
        assert!(out.contains("Command failed") && out.contains("unknown goroutine"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn step_into_and_out_and_inspect_frames() {
    for tc in go_versions() {
        let bin = build("stepping", &tc, Flavor::Debug);
        let bline = bp_line("stepping", "main.go", "b");
        let cline = bp_line("stepping", "main.go", "c");
        let mut s = session(&bin, &[]);
        let out = s.send("break main.b");
        assert!(out.contains("Breakpoint 1 set at"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.b()"), "{tc}: {out}");
        // The function breakpoint is after the stack-growth prologue: on
        // the `func` line (argument spills) or the first statement.
        assert!(matches!(arrow_line(&out), Some(l) if l == bline || l + 1 == bline), "{tc}: {out}");
        let mut out = out;
        if arrow_line(&out) != Some(bline) {
            out = s.send("step");
            assert_eq!(arrow_line(&out), Some(bline), "{tc}: {}", s.transcript());
        }
        let out = s.send("step");
        assert!(out.contains("main.c()"), "{tc}: step did not enter c: {}", s.transcript());
        let out = if arrow_line(&out) == Some(cline) { out } else { s.send("next") };
        assert_eq!(arrow_line(&out), Some(cline), "{tc}: {}", s.transcript());
        let out = s.send("stack");
        let order: Vec<usize> = ["main.c", "main.b", "main.a", "main.main"].iter().map(|f| out.find(f).unwrap_or(usize::MAX)).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]) && order[3] != usize::MAX, "{tc}: {out}");
        let out = s.send("stack -full");
        assert!(out.contains("x = 3"), "{tc}: {out}");
        let out = s.send("frame 1 locals");
        assert!(!out.contains("Command failed"), "{tc}: {out}");
        let out = s.send("frame 1 args");
        assert!(out.contains("x = 2"), "{tc}: {out}");
        let out = s.send("up");
        assert!(out.contains("Frame 1: main.b()") && out.contains(&format!("=> {bline:>4}:")) || out.contains("Frame 1: main.b()"), "{tc}: {out}");
        let out = s.send("print x");
        assert_eq!(out.trim(), "2", "{tc}: {out}");
        let out = s.send("up 2");
        assert!(out.contains("Frame 3: main.main()"), "{tc}: {out}");
        let out = s.send("down 3");
        assert!(out.contains("Frame 0: main.c()"), "{tc}: {out}");
        let out = s.send("down");
        assert!(out.contains("Command failed"), "{tc}: {out}");
        let out = s.send("list");
        assert!(out.contains(&format!("{cline}:")) && out.contains("=>") && out.contains("y := x * 3"), "{tc}: {out}");
        let out = s.send(&format!("list main.go:{bline}"));
        assert!(out.contains("y := c(x + 1)"), "{tc}: {out}");
        let out = s.send("disassemble");
        assert!(out.contains("IMUL") || out.contains("imul") || out.contains("LEA") || out.contains("lea"), "{tc}: {out}");
        assert!(out.contains("=>"), "{tc}: no current pc marker: {out}");
        let out = s.send("regs");
        assert!(out.contains("Rip") && out.contains("Rsp"), "{tc}: {out}");
        let out = s.send("stepout");
        assert!(out.contains("main.b()"), "{tc}: stepout did not return to b: {}", s.transcript());
        assert_eq!(arrow_line(&out), Some(bline), "{tc}: {out}");
        let out = s.send("stepout");
        assert!(out.contains("main.a()"), "{tc}: {}", s.transcript());
        let out = s.send("help");
        assert!(out.contains("break") && out.contains("stepout") && out.contains("goroutines"), "{tc}: {out}");
        let out = s.send("help stack");
        assert!(out.contains("stack [<depth>]"), "{tc}: {out}");
        let out = s.send("frobnicate");
        assert!(out.contains("Command failed") && out.contains("frobnicate"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn optimized_inlined_function_breakpoint() {
    for tc in go_versions() {
        let bin = build("stepping", &tc, Flavor::Optimized);
        let addl = bp_line("stepping", "main.go", "add");
        let mut s = session(&bin, &[]);
        // A bare name: the inlined-only main.add, not runtime's methods named add.
        let out = s.send("break add");
        assert!(out.contains("Breakpoint 1 set at") && out.contains("main.add()") && out.contains("locations"), "{tc}: every inlined copy expected: {out}");
        let mut callers = Vec::new();
        let mut saw_inlined_stack = false;
        for _ in 0..12 {
            let out = s.send("continue");
            if out.contains("has exited") {
                break;
            }
            assert!(out.contains("[Breakpoint 1]"), "{tc}: {}", s.transcript());
            assert_eq!(arrow_line(&out), Some(addl), "{tc}: {out}");
            let st = s.send("stack");
            let lines: Vec<&str> = st.lines().collect();
            assert!(lines.first().is_some_and(|l| l.contains("main.add")), "{tc}: {st}");
            if lines.first().is_some_and(|l| l.contains("(inlined)")) {
                saw_inlined_stack = true;
            }
            if let Some(caller) = lines.get(2) {
                for f in ["main.a", "main.loop", "main.main"] {
                    if caller.contains(&format!("{f}\n")) || caller.ends_with(f) || caller.contains(&format!("{f} ")) {
                        callers.push(f);
                    }
                }
            }
        }
        assert!(saw_inlined_stack, "{tc}: no (inlined) frame: {}", s.transcript());
        // add(2, 3) in main is constant-folded: no copy there.
        for f in ["main.a", "main.loop"] {
            assert!(callers.contains(&f), "{tc}: no stop in the copy inlined into {f}: {callers:?}\n{}", s.transcript());
        }
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn stripped_binary_breakpoints_and_stacks() {
    for tc in go_versions() {
        let bin = build("stepping", &tc, Flavor::Stripped);
        let mut s = session(&bin, &[]);
        assert!(s.startup().contains("no debug information"), "{tc}: {}", s.startup());
        let out = s.send("break main.c");
        assert!(out.contains("Breakpoint 1 set at"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.c()"), "{tc}: {out}");
        let out = s.send("stack");
        let c = out.find("main.c").unwrap_or(usize::MAX);
        let b = out.find("main.b").unwrap_or(usize::MAX);
        let m = out.find("main.main").unwrap_or(usize::MAX);
        assert!(c < b && b < m && m != usize::MAX, "{tc}: {out}");
        // Goroutines come from per-version runtime layouts and allgs found
        // in the runtime's code: no DWARF needed.
        let out = s.send("goroutines");
        assert!(out.contains("* Goroutine 1 - User:") && out.contains("main.c"), "{tc}: {out}");
        let out = s.send("stepout");
        assert!(out.contains("goroutine 1: main.b()"), "{tc}: {out}");
        // The return address in b is already b's last line in most builds,
        // so next finishes b and stops back in its caller (a, where add is
        // inlined). Under -race the store of y is instrumented after the
        // call, still on line 46: then next stops on line 47 first.
        let mut out = s.send("next");
        if out.contains("goroutine 1: main.b()") {
            assert!(out.contains("=>   47:"), "{tc}: next from line 46 of b: {out}");
            out = s.send("next");
        }
        assert!(out.contains("goroutine 1: main.a()") || out.contains("goroutine 1: main.add()"), "{tc}: {out}");
        let out = s.send("print x");
        assert!(out.contains("Command failed") && out.contains("debug info"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("has exited with status 0"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn signals_pass_through() {
    for tc in go_versions() {
        let bin = build("signals", &tc, Flavor::Debug);
        let mut s = session(&bin, &[]);
        s.set_timeout(Duration::from_secs(90));
        let out = s.send("continue");
        assert!(out.contains("usr1=100"), "{tc}: {out}");
        assert!(out.contains("preempt=true") && out.contains("profile=ok"), "{tc}: {out}");
        assert!(out.contains("has exited with status 0"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn program_exits_during_next_and_continue() {
    for tc in go_versions() {
        let bin = build("exits", &tc, Flavor::Debug);
        let exit = bp_line("exits", "main.go", "exit");
        let mut s = session(&bin, &[]);
        s.send(&format!("break main.go:{exit}"));
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.check()") && out.contains("exiting with 3"), "{tc}: {out}");
        let out = s.send("next");
        assert!(out.contains("has exited with status 3") && !out.contains("Process 0 "), "{tc}: {out}");
        let out = s.send("next");
        assert!(out.contains("Command failed") && out.contains("exited"), "{tc}: {out}");
        let out = s.send("stack");
        assert!(out.contains("Command failed") && out.contains("exited"), "{tc}: {out}");
        let out = s.send("restart");
        assert!(out.contains("Process restarted"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.check()"), "{tc}: {out}");
        let out = s.send("clearall");
        assert!(out.contains("1 breakpoint(s) cleared"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("has exited with status 3"), "{tc}: {out}");
        assert!(!out.contains("Process 0 "), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("Command failed") && out.contains("exited"), "{tc}: {out}");
        let (out, status) = s.send_and_exit("exit");
        assert!(status.success(), "{tc}: {status}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

/// `stillgo <args>` with `input` as standard input, to completion.
fn script<I, S>(args: I, input: &str) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = Command::new(env!("CARGO_BIN_EXE_stillgo"));
    c.env("NO_COLOR", "1").env("TERM", "dumb").env("RUST_BACKTRACE", "1").args(args);
    run_command(c, input, Duration::from_secs(60))
}

fn assert_clean_failure(ctx: &str, out: &std::process::Output, needle: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert!(!out.status.success(), "{ctx}: exit status {}: {all}", out.status);
    assert!(!all.contains("panicked"), "{ctx}: {all}");
    assert!(all.to_lowercase().contains(&needle.to_lowercase()), "{ctx}: expected {needle:?} in: {all}");
}

#[test]
fn clear_errors_for_bad_targets() {
    let out = script(["exec", "/nonexistent/prog"], "exit\n");
    assert_clean_failure("nonexistent", &out, "no such file");
    let text = std::env::temp_dir().join(format!("stillgo-control-text-{}.txt", std::process::id()));
    std::fs::write(&text, "just some text\n").unwrap_or_else(|e| panic!("{e}"));
    let out = script([std::ffi::OsStr::new("exec"), text.as_os_str()], "exit\n");
    let _ = std::fs::remove_file(&text);
    assert_clean_failure("text file", &out, "ELF");
    let c = build_c("cprog");
    let out = script([std::ffi::OsStr::new("exec"), c.as_os_str()], "exit\n");
    assert_clean_failure("C program", &out, "not a Go program");
    let out = script(["attach", "999999"], "exit\n");
    assert_clean_failure("attach 999999", &out, "could not attach to pid 999999: no such process");
}

fn tracer_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("TracerPid:")).and_then(|v| v.trim().parse().ok())
}

#[test]
fn attach_break_continue_and_detach() {
    for tc in go_versions() {
        let bin = build("spin", &tc, Flavor::Debug);
        let tick = bp_line("spin", "main.go", "tick");
        let mut child = Command::new(&bin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{tc}: start spin: {e}"));
        let pid = child.id();
        // Let the runtime start.
        std::thread::sleep(Duration::from_millis(300));
        let result = std::panic::catch_unwind(|| {
            let mut s = spawn(&["attach", &pid.to_string()], &[]);
            let out = s.send("break main.tick");
            assert!(out.contains("Breakpoint 1 set at"), "{tc}: {out}");
            let out = s.send("continue");
            assert!(out.contains("[Breakpoint 1] main.tick()"), "{tc}: {out}");
            assert!(matches!(arrow_line(&out), Some(l) if l == tick || l + 1 == tick), "{tc}: {out}");
            let out = s.send("stack");
            assert!(out.contains("main.main"), "{tc}: {out}");
            let (out, _status) = s.send_and_exit("exit");
            assert!(out.contains("Detached"), "{tc}: {out}");
            no_panic(&tc.to_string(), s.transcript());
        });
        // Still alive, not traced, and keeps running (not stuck on a trap).
        std::thread::sleep(Duration::from_millis(300));
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        let tracer = tracer_pid(pid);
        let exited = child.try_wait().ok().flatten();
        let _ = child.kill();
        let _ = child.wait();
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
        assert!(alive && exited.is_none(), "{tc}: spin died after detach: {exited:?}");
        assert_eq!(tracer, Some(0), "{tc}: still traced after detach");
    }
}

fn toolchain_path(tc: &GoToolchain) -> String {
    let bin_dir: PathBuf = tc.goroot.join("bin");
    format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn debug_and_test_subcommands_build_and_stop() {
    for tc in go_versions() {
        let path = toolchain_path(&tc);
        let gocache = stillgo_testkit::repo_root().join("target/gocache");
        let gocache = gocache.to_string_lossy().into_owned();
        let envs = [("PATH", path.as_str()), ("GOFLAGS", "-mod=mod"), ("GOTOOLCHAIN", "local"), ("GOCACHE", gocache.as_str())];
        let hello = stillgo_testkit::testdata_dir().join("hello");
        let count = bp_line("hello", "main.go", "count");
        let mut s = spawn(&["debug", &hello.to_string_lossy()], &envs);
        let out = s.send(&format!("break main.go:{count}"));
        assert!(out.contains("Breakpoint 1 set at"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.countWords()"), "{tc}: {out}");
        drop(s);

        let pkg = stillgo_testkit::testdata_dir().join("testpkg");
        let tl = bp_line("testpkg", "calc_test.go", "test");
        let mut s = spawn(&["test", &pkg.to_string_lossy()], &envs);
        let out = s.send("break testpkg.Add");
        assert!(out.contains("Breakpoint 1 set at"), "{tc}: {out}");
        let out = s.send(&format!("break calc_test.go:{tl}"));
        assert!(out.contains("Breakpoint 2 set at"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 2] testpkg.TestAdd()"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] testpkg.Add()"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn debuggee_killed_from_outside_during_continue() {
    for tc in go_versions() {
        let bin = build("spin", &tc, Flavor::Debug);
        let mut s = session(&bin, &[]);
        s.send("break main.tick");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1]"), "{tc}: {out}");
        let pid: i32 = out
            .lines()
            .find_map(|l| l.strip_prefix("pid="))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{tc}: no pid in {out}"));
        s.send("clearall");
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            // SAFETY: kill(2) only sends a signal.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let start = Instant::now();
        let out = s.send("continue");
        let _ = killer.join();
        assert!(out.contains("killed by signal 9") && out.contains("SIGKILL"), "{tc}: {out}");
        assert!(start.elapsed() < Duration::from_secs(20), "{tc}");
        let out = s.send("stack");
        assert!(out.contains("Command failed"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}


/// `-trimpath` binaries name their sources `hello/main.go` (main module),
/// `strings/strings.go` (GOROOT): listings find them in the local module and
/// the toolchain's GOROOT; `config substitute-path` redirects them.
#[test]
fn trimpath_sources_are_found_and_substituted() {
    for tc in go_versions() {
        let out_dir = stillgo_testkit::repo_root().join("target").join("gotest").join(&tc.version).join("trimpath");
        std::fs::create_dir_all(&out_dir).expect("mkdir");
        let bin = out_dir.join(format!("hello-{}", std::process::id()));
        let st = stillgo_testkit::go_command(&tc)
            .current_dir(stillgo_testkit::testdata_dir().join("hello"))
            .args(["build", "-trimpath", "-gcflags=all=-N -l", "-o"])
            .arg(&bin)
            .arg(".")
            .status()
            .expect("go build");
        assert!(st.success(), "{tc}: go build -trimpath");
        let line = bp_line("hello", "main.go", "top");
        // The debugger looks for the module from its working directory; GOROOT
        // from the environment, as the go command does.
        let mut c = Command::new(env!("CARGO_BIN_EXE_stillgo"));
        c.env("NO_COLOR", "1").env("GOROOT", &tc.goroot).current_dir(stillgo_testkit::testdata_dir().join("hello")).arg("exec").arg(&bin);
        let mut s = Session::start(c);
        let out = s.send(&format!("break main.go:{line}"));
        assert!(out.contains(&format!("hello/main.go:{line}")), "{tc}: the binary's own name: {out}");
        let out = s.send("continue");
        assert!(out.lines().any(|l| l.starts_with("=>") && l.contains(&format!("{line}:")) && l.ends_with("return list // BP:top")), "{tc}: listed from the local module: {out}");
        let out = s.send("list strings.ToLower");
        assert!(out.contains("func ToLower(s string) string"), "{tc}: listed from GOROOT: {out}");
        // A copy elsewhere, through a substitution.
        let copy = out_dir.join(format!("src-{}", std::process::id()));
        std::fs::create_dir_all(&copy).expect("mkdir");
        let src = std::fs::read_to_string(stillgo_testkit::testdata_dir().join("hello/main.go")).expect("read");
        std::fs::write(copy.join("main.go"), src.replace("// BP:top", "// substituted")).expect("write");
        s.send(&format!("config substitute-path hello {}", copy.display()));
        let out = s.send("list");
        assert!(out.contains("return list // substituted"), "{tc}: {out}");
        let out = s.send("config");
        assert!(out.contains(&format!("\"hello\" -> \"{}\"", copy.display())), "{tc}: {out}");
        s.send("config substitute-path hello");
        let out = s.send("list");
        assert!(out.contains("return list // BP:top"), "{tc}: the rule is gone: {out}");
        s.send_and_exit("exit");
        let _ = std::fs::remove_dir_all(&copy);
        let _ = std::fs::remove_file(&bin);
    }
}
