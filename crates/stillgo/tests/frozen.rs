//! Frozen world (issue 4): `call` freezes every other user goroutine.
//! Driven through the CLI on testdata/frozen, whose background goroutines
//! bump their own counters (tight loops without calls, timer sleeps,
//! allocation that keeps the GC busy, channel ping-pong, system calls, file
//! writes), for every Go version under test, Debug and Optimized builds.
//!
//! A counter read before a call and after it must be identical: any user
//! code of another goroutine running in between would move one.

use std::process::Command;
use std::time::{Duration, Instant};

use stillgo_testkit::{bp_line, build, go_versions, stillgo_command, Flavor, GoToolchain, Session};

const PROG: &str = "frozen";

/// Every counter the background goroutines bump.
const COUNTERS: &[&str] = &["main.spins", "main.sleeps", "main.allocs", "main.pings", "main.pongs", "main.sysc", "main.writes", "main.finals", "main.panics", "main.defers"];

/// The call kinds of the issue, each with its expected result.
const CALLS: &[(&str, &str)] = &[
    ("call nop()", "7"),
    ("call format()", "\"42-x\""),
    ("call gcNow()", "1"),
    ("call nap()", "2"),
    ("call bigAlloc()", "64"),
    ("call lockTwice()", "2"),
    ("call writeFile()", "5"),
];

/// A session stopped at the first probe hit (frozen calls are the default),
/// and the goroutines then: none may be lost by the freezes that follow.
fn start(tc: &GoToolchain, flavor: Flavor, env: &[(&str, &str)]) -> (Session, Vec<u64>) {
    let bin = build(PROG, tc, flavor);
    let mut cmd: Command = stillgo_command();
    cmd.arg("exec").arg(&bin);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut s = Session::start(cmd);
    let out = s.send(&format!("break main.go:{}", bp_line(PROG, "main.go", "probe")));
    assert!(out.contains("Breakpoint 1"), "{tc} {flavor}: {out}");
    // Thirteen busy goroutines on two cores: the start can be slow.
    s.set_timeout(Duration::from_secs(120));
    let out = s.send("continue");
    assert!(out.contains("main.probe"), "{tc} {flavor} {env:?}: {out}");
    // On until the finalizer goroutine has work: it runs user code
    // (finalizers) and must be frozen as well.
    for _ in 0..100 {
        if s.send("print main.finals").trim() != "0" {
            break;
        }
        let out = s.send("continue");
        assert!(out.contains("main.probe"), "{tc} {flavor} {env:?}: {out}");
    }
    let ids = goroutine_ids(&mut s);
    assert!(ids.len() >= 14, "{tc} {flavor}: goroutines: {ids:?}");
    (s, ids)
}

fn counters(s: &mut Session) -> String {
    COUNTERS.iter().map(|c| format!("{c}={}", s.send(&format!("print {c}")).trim())).collect::<Vec<_>>().join(" ")
}

fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit()).filter(|t| !t.is_empty()).filter_map(|t| t.parse().ok()).collect()
}

/// Every counter advanced between `before` and `after`.
fn all_advanced(before: &str, after: &str) -> bool {
    // `main.spins=[4]uint64 [1,2,3,4]`: the numbers after the last '['.
    let value = |kv: &str| -> Vec<u64> {
        let v = kv.split_once('=').map(|x| x.1).unwrap_or("");
        numbers(v.rsplit_once('[').map(|x| x.1).unwrap_or(v))
    };
    let vals = |t: &str| -> Vec<Vec<u64>> { t.split(" main.").map(value).collect() };
    let (b, a) = (vals(before), vals(after));
    b.len() == COUNTERS.len() && b.len() == a.len() && b.iter().zip(&a).all(|(x, y)| !x.is_empty() && x.len() == y.len() && x.iter().zip(y).all(|(p, q)| q > p))
}

/// Ids of the goroutines listed by `goroutines`.
fn goroutine_ids(s: &mut Session) -> Vec<u64> {
    s.send("goroutines")
        .lines()
        .filter_map(|l| l.trim_start().trim_start_matches("* ").strip_prefix("Goroutine ")?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Continues until every counter moved (up to 40 probe hits): every
/// goroutine runs again after the calls, and none was lost.
fn continue_until_all_advance(s: &mut Session, what: &str, ids_before: &[u64]) {
    let before = counters(s);
    for _ in 0..40 {
        let out = s.send("continue");
        assert!(out.contains("main.probe"), "{what}: continue: {out}\n{}", s.transcript());
        let now = counters(s);
        if all_advanced(&before, &now) {
            let ids_after = goroutine_ids(s);
            let lost: Vec<&u64> = ids_before.iter().filter(|g| !ids_after.contains(g)).collect();
            assert!(lost.is_empty(), "{what}: goroutines lost: {lost:?}");
            return;
        }
    }
    panic!("{what}: some counter never advanced after the calls: before {before}\nnow {}\n{}", counters(s), s.transcript());
}

/// Runs `cmd` (expecting `want`) with the counters read around it: they
/// must be identical.
fn frozen_call(s: &mut Session, what: &str, cmd: &str, want: &str) {
    let before = counters(s);
    let out = s.send(cmd);
    assert_eq!(out.trim(), want, "{what}: {cmd}");
    let after = counters(s);
    assert_eq!(before, after, "{what}: a goroutine ran during `{cmd}`");
}

#[test]
fn counters_stay_still_during_every_kind_of_call() {
    for tc in go_versions() {
        for flavor in [Flavor::Debug, Flavor::Optimized] {
            let what = format!("{tc} {flavor}");
            let (mut s, ids) = start(&tc, flavor, &[]);
            let list_before = goroutine_ids(&mut s);
            // runtime.NumGoroutine, itself called frozen: goroutines the
            // freezer lets through the runtime must not change the count,
            // during the calls nor after.
            let num_g = s.send("call numG()").trim().to_string();
            assert!(num_g.parse::<u32>().is_ok_and(|n| n >= 17), "{what}: numG: {num_g}");
            for (cmd, want) in CALLS {
                frozen_call(&mut s, &what, cmd, want);
                let n = s.send("call numG()");
                assert_eq!(n.trim(), num_g, "{what}: NumGoroutine after `{cmd}`\n{}", s.transcript());
            }
            // A call that starts a goroutine and waits for it: the new
            // goroutine runs with the call; everything older stays frozen.
            frozen_call(&mut s, &what, "call spawnAndWait()", "11");
            // Nested calls in one expression: one freeze around all.
            frozen_call(&mut s, &what, "call nop() + lockTwice()", "9");
            let list_after = goroutine_ids(&mut s);
            let lost: Vec<&u64> = list_before.iter().filter(|g| !list_after.contains(g)).collect();
            assert!(lost.is_empty(), "{what}: goroutines lost across frozen calls: {lost:?}");
            continue_until_all_advance(&mut s, &what, &ids);
            // The goroutine spawnAndWait started has ended by now.
            assert_eq!(s.send("call numG()").trim(), num_g, "{what}: NumGoroutine after the thaw");
            assert_eq!(s.send("call -thaw numG()").trim(), num_g, "{what}: NumGoroutine, unfrozen call");
        }
    }
}

#[test]
fn gomaxprocs_and_asyncpreemptoff() {
    // GOMAXPROCS 1, 2, 8; without asynchronous preemption (the freezer
    // preempts by itself, so the guarantee is the same: tested with every
    // call kind).
    let envs: &[&[(&str, &str)]] = &[&[("GOMAXPROCS", "1")], &[("GOMAXPROCS", "2")], &[("GOMAXPROCS", "8")], &[("GODEBUG", "asyncpreemptoff=1"), ("GOMAXPROCS", "4")]];
    for tc in go_versions() {
        for env in envs {
            let what = format!("{tc} {env:?}");
            let (mut s, ids) = start(&tc, Flavor::Optimized, env);
            for (cmd, want) in CALLS {
                frozen_call(&mut s, &what, cmd, want);
            }
            continue_until_all_advance(&mut s, &what, &ids);
        }
    }
}

#[test]
fn a_thousand_frozen_calls() {
    const N: usize = 1000;
    let kinds = [("call nop()", "7"), ("call format()", "\"42-x\""), ("call lockTwice()", "2"), ("call nop() + 1", "8")];
    for tc in go_versions() {
        let what = format!("{tc}");
        let (mut s, ids) = start(&tc, Flavor::Optimized, &[]);
        let mut before = counters(&mut s);
        let t0 = Instant::now();
        for i in 0..N {
            let (cmd, want) = kinds[i % kinds.len()];
            let out = s.send(cmd);
            assert_eq!(out.trim(), want, "{what}: call {i}: {cmd}");
            if i % 100 == 99 {
                let now = counters(&mut s);
                assert_eq!(before, now, "{what}: a goroutine ran during calls {}..{i}", i - 99);
                before = now;
            }
        }
        eprintln!("{what}: {N} frozen calls in {:?}", t0.elapsed());
        continue_until_all_advance(&mut s, &what, &ids);
    }
}

/// `The call is blocked: goroutine 31 waits for chan receive in main.recvFeed
/// at .../main.go:199 (after 1000 ms) ...`: the delay in ms.
fn blocked_after_ms(out: &str) -> u64 {
    let at = out.find("(after ").unwrap_or_else(|| panic!("no delay in {out}"));
    numbers(&out[at..]).first().copied().unwrap_or(u64::MAX)
}

#[test]
fn blocked_calls_are_reported_and_thaw_completes_them() {
    for tc in go_versions() {
        let what = format!("{tc}");
        let (mut s, ids) = start(&tc, Flavor::Debug, &[]);
        let recv_line = bp_line(PROG, "main.go", "recvFeed");
        for (cmd, reason, line, want) in [("call recvFeed()", "chan receive", Some(recv_line), "1"), ("call lockHeld()", "sync.Mutex.Lock", None, "3")] {
            let t0 = Instant::now();
            let out = s.send(cmd);
            assert!(out.contains("The call is blocked"), "{what}: {cmd}: {out}");
            assert!(out.contains(&format!("waits for {reason}")), "{what}: {cmd}: {out}");
            if let Some(l) = line {
                assert!(out.contains(&format!("main.go:{l}")), "{what}: {cmd}: blocking frame: {out}");
            }
            assert!(blocked_after_ms(&out) <= 1000, "{what}: {cmd}: reported late: {out}");
            assert!(t0.elapsed() < Duration::from_secs(5), "{what}: {cmd}: took {:?}", t0.elapsed());
            // `wait` keeps it frozen and asks again a second later.
            let out = s.send("wait");
            assert!(out.contains("The call is blocked"), "{what}: {cmd}: wait: {out}");
            let out = s.send("thaw");
            assert!(out.contains("thawed to let the call finish"), "{what}: {cmd}: {out}");
            assert!(out.trim_end().ends_with(want), "{what}: {cmd}: {out}");
        }
        // Nothing stays thawed or frozen: the next call is frozen again.
        frozen_call(&mut s, &what, "call nop()", "7");
        continue_until_all_advance(&mut s, &what, &ids);
    }
}

#[test]
fn freeze_off_and_thaw_flag_let_the_program_run() {
    let tc = &go_versions()[0];
    let (mut s, ids) = start(tc, Flavor::Optimized, &[]);
    // call -thaw: the old behaviour, the others run during the 50 ms nap.
    let before = counters(&mut s);
    assert_eq!(s.send("call -thaw nap()").trim(), "2");
    let after = counters(&mut s);
    assert_ne!(before, after, "{tc}: nothing ran during call -thaw");
    // A blocked call needs no answer when the world runs.
    assert_eq!(s.send("call -thaw recvFeed()").trim(), "1");
    // config freeze off: the same for every call; on again: frozen.
    assert!(s.send("config freeze off").trim().is_empty());
    let before = counters(&mut s);
    assert_eq!(s.send("call nap()").trim(), "2");
    assert_ne!(before, counters(&mut s), "{tc}: nothing ran with config freeze off");
    assert!(s.send("config freeze on").trim().is_empty());
    frozen_call(&mut s, &format!("{tc}"), "call nap()", "2");
    continue_until_all_advance(&mut s, "freeze off", &ids);
}

#[test]
fn frozen_stepping_moves_only_the_current_goroutine() {
    for tc in go_versions() {
        for flavor in [Flavor::Debug, Flavor::Optimized] {
            let what = format!("{tc} {flavor}");
            let (mut s, ids) = start(&tc, flavor, &[]);
            let out = s.send("break main.walk");
            assert!(out.contains("Breakpoint 2"), "{what}: {out}");
            let out = s.send("continue");
            assert!(out.contains("main.walk"), "{what}: {out}");
            assert!(s.send("config freeze-steps on").trim().is_empty());
            let before = counters(&mut s);
            // 20 nexts: through walk (allocation, sleep, GC, fmt), back to
            // main's loop (a 100 ms sleep), into probe's breakpoint...
            let mut lines = Vec::new();
            for i in 0..20 {
                let out = s.send("next");
                assert!(out.contains("main.go:"), "{what}: next {i}: {out}");
                assert!(!out.contains("Command failed"), "{what}: next {i}: {out}");
                lines.push(out.lines().find(|l| l.contains("main.go:")).unwrap_or_default().to_string());
            }
            let after = counters(&mut s);
            assert_eq!(before, after, "{what}: a goroutine ran during frozen nexts: {lines:#?}");
            // step inside walk, then stepout back to main.
            s.send("clear 1");
            let out = s.send("continue");
            assert!(out.contains("main.walk()"), "{what}: {out}");
            let before = counters(&mut s);
            for _ in 0..3 {
                let out = s.send("step");
                assert!(out.contains("main.walk()") && !out.contains("Command failed"), "{what}: step: {out}");
            }
            let out = s.send("stepout");
            assert!(out.contains("main.main()"), "{what}: stepout: {out}");
            assert_eq!(before, counters(&mut s), "{what}: a goroutine ran during frozen step/stepout");
            // Unfrozen steps again: the others run.
            assert!(s.send("config freeze-steps off").trim().is_empty());
            s.send("clear 2");
            continue_until_all_advance_steps(&mut s, &what);
            let _ = ids;
        }
    }
}

/// With freeze-steps off, `next` over main's 100 ms sleep lets every
/// counter move.
fn continue_until_all_advance_steps(s: &mut Session, what: &str) {
    let before = counters(s);
    for _ in 0..10 {
        let out = s.send("next");
        assert!(out.contains("main.go:"), "{what}: next: {out}\n{}", s.transcript());
        if all_advanced(&before, &counters(s)) {
            return;
        }
    }
    panic!("{what}: counters did not all move over unfrozen nexts: {before} -> {}", counters(s));
}

/// Attaches to the running program and returns the counters at a probe hit.
fn attach_and_read(pid: u32, what: &str) -> (Session, String) {
    let mut cmd = stillgo_command();
    cmd.arg("attach").arg(pid.to_string());
    let mut s = Session::start(cmd);
    s.set_timeout(Duration::from_secs(120));
    let out = s.send(&format!("break main.go:{}", bp_line(PROG, "main.go", "probe")));
    assert!(out.contains("Breakpoint 1"), "{what}: {out}");
    let out = s.send("continue");
    assert!(out.contains("main.probe"), "{what}: {out}");
    let c = counters(&mut s);
    (s, c)
}

#[test]
fn detach_after_frozen_calls_and_steps_leaves_the_program_running() {
    for tc in go_versions() {
        let what = format!("{tc}");
        let bin = build(PROG, &tc, Flavor::Optimized);
        // The program's stderr is kept to explain a death.
        let err_path = stillgo_testkit::repo_root().join(format!("target/testkit-tmp/frozen-detach-{}-{}.err", std::process::id(), tc.version));
        let _ = std::fs::create_dir_all(err_path.parent().unwrap_or(std::path::Path::new(".")));
        let err_file = std::fs::File::create(&err_path).unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut child = Command::new(&bin).stdout(std::process::Stdio::null()).stderr(err_file).spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(300));
        let early = child.try_wait().ok().flatten();
        assert!(early.is_none(), "{what}: the program died on its own: {early:?}: {}", std::fs::read_to_string(&err_path).unwrap_or_default());
        let result = std::panic::catch_unwind(|| {
            let (mut s, before) = attach_and_read(pid, &what);
            frozen_call(&mut s, &what, "call gcNow()", "1");
            // A call blocked on the frozen world, thawed to finish.
            let out = s.send("call lockHeld()");
            assert!(out.contains("The call is blocked"), "{what}: {out}");
            assert!(s.send("thaw").trim_end().ends_with('3'), "{what}");
            assert!(s.send("config freeze-steps on").trim().is_empty());
            let out = s.send("next");
            assert!(out.contains("main.probe()"), "{what}: {out}");
            let (out, _) = s.send_and_exit("exit");
            assert!(out.contains("Detached"), "{what}: {out}");
            // Running on its own: every goroutine advanced, none stuck
            // frozen, no breakpoint left behind (a trap would kill it).
            std::thread::sleep(Duration::from_millis(300));
            let (s2, after) = attach_and_read(pid, &what);
            assert!(all_advanced(&before, &after), "{what}: not every goroutine ran after the detach: {before} -> {after}");
            let (out, _) = { let mut s2 = s2; s2.send_and_exit("exit") };
            assert!(out.contains("Detached"), "{what}: {out}");
        });
        std::thread::sleep(Duration::from_millis(100));
        let exited = child.try_wait().ok().flatten();
        let _ = child.kill();
        let _ = child.wait();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&err_path);
        if let Err(e) = result {
            eprintln!("{what}: the program's stderr: {stderr}");
            std::panic::resume_unwind(e);
        }
        assert!(exited.is_none(), "{what}: the program died after the detach: {exited:?}: {stderr}");
    }
}
