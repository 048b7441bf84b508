//! Terminal features not covered elsewhere: --init files, set, display,
//! vars, optimized builds' honesty, attach refusals, SIGKILL during next.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use stillgo_testkit::{bp_line, build, go_versions, Flavor, Session};

fn session(bin: &Path, extra: &[&str]) -> Session {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stillgo"));
    c.env("NO_COLOR", "1").env("TERM", "dumb").env("RUST_BACKTRACE", "1").args(extra).arg("exec").arg(bin);
    Session::start(c)
}

fn no_panic(ctx: &str, out: &str) {
    assert!(!out.contains("panicked"), "{ctx}: the debugger panicked:\n{out}");
}

#[test]
fn init_file_runs_before_the_first_prompt() {
    for tc in go_versions() {
        let bin = build("hello", &tc, Flavor::Debug);
        let line = bp_line("hello", "main.go", "loop");
        let dir = std::env::temp_dir().join(format!("stillgo-init-{}-{}", std::process::id(), tc.version));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let init = dir.join("init.txt");
        let mut f = std::fs::File::create(&init).expect("init file");
        writeln!(f, "break main.go:{line}\ncontinue").expect("write init");
        let mut s = session(&bin, &["--init", init.to_str().expect("utf-8 path")]);
        assert!(s.startup().contains("[Breakpoint 1] main.countWords()"), "{tc}: {}", s.startup());
        let out = s.send("print w");
        assert_eq!(out.trim(), "\"The\"", "{tc}");
        no_panic(&tc.to_string(), s.transcript());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn set_display_and_package_vars() {
    for tc in go_versions() {
        let bin = build("values", &tc, Flavor::Debug);
        let line = bp_line("values", "main.go", "inspect");
        let mut s = session(&bin, &[]);
        s.send(&format!("break main.go:{line}"));
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.inspect()"), "{tc}: {out}");

        // set: integers, floats, bools, package vars; the program sees it.
        assert_eq!(s.send("set vInt = 77").trim(), "", "{tc}");
        assert_eq!(s.send("print vInt").trim(), "77", "{tc}");
        s.send("set vInt = vInt * 2 + 1");
        assert_eq!(s.send("print vInt").trim(), "155", "{tc}");
        s.send("set vFloat64 = 0.5");
        assert_eq!(s.send("print vFloat64").trim(), "0.5", "{tc}");
        s.send("set vBool = false");
        assert_eq!(s.send("print vBool").trim(), "false", "{tc}");
        s.send("set main.gCounter = 41");
        assert_eq!(s.send("print gCounter").trim(), "41", "{tc}");
        // Errors keep the session usable.
        let out = s.send("set vInt8 = 1000");
        assert!(out.contains("Command failed") && out.contains("overflows int8"), "{tc}: {out}");
        let out = s.send("set vInt = \"x\"");
        assert!(out.contains("Command failed"), "{tc}: {out}");
        let out = s.send("set 3 = 4");
        assert!(out.contains("Command failed") && out.contains("cannot assign"), "{tc}: {out}");

        // display: shown now and after every stop, until removed.
        let out = s.send("display -a vInt + 1");
        assert!(out.contains("1: vInt + 1 = 156"), "{tc}: {out}");
        let out = s.send("next");
        assert!(out.contains("1: vInt + 1 = 156"), "{tc}: {out}");
        s.send("display -d 1");
        let out = s.send("next");
        assert!(!out.contains("vInt + 1 ="), "{tc}: {out}");

        // Package-level constants, qualified or not, in expressions.
        assert_eq!(s.send("print main.Friday").trim(), "5", "{tc}");
        assert_eq!(s.send("print vDay == Friday").trim(), "true", "{tc}");
        assert_eq!(s.send("print time.Second / 1000").trim(), "1000000", "{tc}");

        // vars: package variables, filtered.
        let out = s.send("vars main.gInt");
        assert!(out.contains("main.gInt = -42"), "{tc}: {out}");
        assert!(out.contains("main.gInt8 = -8"), "{tc}: {out}");
        assert!(!out.contains("main.gString"), "{tc}: {out}");
        let out = s.send("vars ^main.gStr");
        assert!(out.contains("main.gString = \"package string\""), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

#[test]
fn optimized_build_is_honest_about_variables() {
    for tc in go_versions() {
        let bin = build("stepping", &tc, Flavor::Optimized);
        let mut s = session(&bin, &[]);
        let out = s.send("break main.c");
        assert!(out.contains("Breakpoint 1 set"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.c()"), "{tc}: {out}");
        // The argument arrives in a register; at the entry it is readable
        // and correct (main.b calls c(x + 1) with x = 3).
        let out = s.send("args");
        assert!(out.contains("x = "), "{tc}: {out}");
        // Callers' variables in registers are not invented: either a value
        // from memory or an honest "optimized away"/unavailable note.
        let out = s.send("frame 1 locals");
        assert!(!out.contains("panicked") && !out.contains("Command failed: frame"), "{tc}: {out}");
        for l in out.lines().filter(|l| l.contains(" = ")) {
            let v = l.split(" = ").nth(1).unwrap_or("");
            assert!(
                v.parse::<i64>().is_ok() || v.contains("optimized away") || v.contains("unreadable") || v.contains("unavailable"),
                "{tc}: {l}"
            );
        }
        let out = s.send("stack");
        assert!(out.contains("main.c") && out.contains("main.b") && out.contains("main.main"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

/// The tracee of a session: the child of the stillgo process.
fn debuggee_pid(stillgo: u32) -> i32 {
    for _ in 0..100 {
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{stillgo}/task")) {
            for t in tasks.flatten() {
                if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                    if let Some(pid) = c.split_whitespace().next().and_then(|p| p.parse().ok()) {
                        return pid;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no debuggee under stillgo pid {stillgo}");
}

#[test]
fn attach_to_a_process_already_traced_is_refused_clearly() {
    let tc = go_versions().into_iter().next().expect("a Go version");
    let bin = build("spin", &tc, Flavor::Debug);
    let mut first = session(&bin, &[]);
    let out = first.send("break main.tick");
    assert!(out.contains("Breakpoint 1 set"), "{out}");
    first.send("continue");
    let pid = debuggee_pid(first.pid());
    let out = Command::new(env!("CARGO_BIN_EXE_stillgo"))
        .args(["attach", &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run stillgo attach");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&pid.to_string()) && (text.contains("traced") || text.contains("permission")), "{text}");
    no_panic("attach", &text);
    // The first session still works.
    let out = first.send("print n > 0");
    assert!(out.contains("true"), "{out}");
}

#[test]
fn debuggee_killed_during_next() {
    for tc in go_versions() {
        let bin = build("goroutines", &tc, Flavor::Debug);
        let line = bp_line("goroutines", "main.go", "sleep");
        let mut s = session(&bin, &[]);
        s.send(&format!("break main.go:{line}"));
        let out = s.send("continue");
        assert!(out.contains("main.sleeper()"), "{tc}: {out}");
        let pid = debuggee_pid(s.pid());
        // The sleeper sleeps 1.5 s: kill the program while `next` waits.
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            // SAFETY: killing the debuggee this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let out = s.send("next");
        killer.join().expect("killer");
        assert!(out.contains("killed by signal 9"), "{tc}: {out}");
        let out = s.send("goroutines");
        assert!(out.contains("Command failed") && out.contains("run it again"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}

/// In a terminal the REPL has line editing and history: Up recalls the
/// previous command, and an empty line repeats it (as in Delve).
#[test]
fn interactive_repl_has_history() {
    use std::process::Stdio;
    let tc = go_versions().into_iter().next().expect("a Go version");
    let bin = build("hello", &tc, Flavor::Debug);
    let cmd = format!("{} exec {}", env!("CARGO_BIN_EXE_stillgo"), bin.display());
    // `script` gives the debugger a pseudo-terminal.
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().expect("stdin");
    for input in ["print 6*7\r", "\x1b[A\r", "\r", "exit\r"] {
        std::thread::sleep(Duration::from_millis(700));
        stdin.write_all(input.as_bytes()).expect("write to pty");
        stdin.flush().expect("flush");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("script output");
    let text = String::from_utf8_lossy(&out.stdout);
    // The answer appears once per run of the command: typed, recalled with
    // Up, repeated by an empty line.
    let answers = text.lines().filter(|l| l.trim() == "42").count();
    assert_eq!(answers, 3, "{text}");
    no_panic("pty", &text);
}

/// Like Delve, the debugger stops where an unrecovered panic is about to
/// kill the program, shows the panic value, and keeps the stack inspectable.
#[test]
fn stops_at_unrecovered_panic() {
    for tc in go_versions() {
        let bin = build("panics", &tc, Flavor::Debug);
        let mut s = session(&bin, &[]);
        let out = s.send("breakpoints");
        assert!(out.contains("Breakpoint unrecovered-panic at") && out.contains("runtime.fatalpanic()"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("> [unrecovered-panic] runtime.fatalpanic()"), "{tc}: {out}");
        assert!(out.contains("panic: interface {}(string) \"boom at 3\""), "{tc}: {out}");
        let out = s.send("stack");
        assert!(out.contains("main.explode") && out.contains("main.main"), "{tc}: {out}");
        let out = s.send("frame 2 args");
        assert!(out.contains("n = 3"), "{tc}: {out}");
        // User breakpoint numbering is unaffected, and clearall keeps the
        // debugger's own breakpoints.
        let out = s.send("break main.main");
        assert!(out.contains("Breakpoint 1 set"), "{tc}: {out}");
        s.send("clearall");
        let out = s.send("breakpoints");
        assert!(out.contains("unrecovered-panic") && !out.contains("Breakpoint 1 at"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("panic: boom at 3") && out.contains("exited with status 2"), "{tc}: {out}");
        no_panic(&tc.to_string(), s.transcript());
    }
}
