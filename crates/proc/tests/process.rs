//! End-to-end tests of the ptrace backend on real Go programs.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use stillgo_proc::{LaunchOptions, Memory, ProcError, Process, ResumeMode, StdioMode, StopEvent};

fn launch(version: &str, name: &str, args: &[&str]) -> (Process, stillgo_proc::ChildPipes, std::path::PathBuf) {
    let bin = go_binary(version, name);
    let mut opts = LaunchOptions::new(&bin);
    opts.args = args.iter().map(|s| s.to_string()).collect();
    opts.stdio = StdioMode::Piped;
    let (p, pipes) = Process::launch(&opts).expect("launch");
    (p, pipes.expect("piped stdio"), bin)
}

fn read_all(mut f: std::fs::File) -> String {
    let mut s = String::new();
    f.read_to_string(&mut s).expect("read output");
    s
}

/// Launch, break on main.main, check the PC, memory hiding, single-step and
/// the floating-point registers.
fn breakpoint_at_main(version: &str) {
    let (mut p, _pipes, bin) = launch(version, "spin", &["10"]);
    let pid = p.pid();
    assert_eq!(p.threads(), vec![pid], "stopped at exec with only the main thread");
    let main = symbol(&bin, "main.main");
    let original = file_bytes(&bin, main, 16);

    p.set_breakpoint(main).expect("set breakpoint");
    p.set_breakpoint(main).expect("setting twice is idempotent");
    assert!(p.has_breakpoint(main));
    assert_eq!(p.breakpoint_addrs(), vec![main]);
    assert_eq!(proc_mem(pid, main, 1), vec![0xCC], "int3 really inserted");
    assert_eq!(p.read_vec(main, 16).expect("read"), original, "int3 hidden from reads");

    p.resume(ResumeMode::All).expect("resume");
    let ev = p.wait().expect("wait");
    let StopEvent::Breakpoint { tid, pc } = ev else { panic!("expected a breakpoint, got {ev:?}") };
    assert_eq!(pc, main);
    assert_eq!(p.regs(tid).expect("regs").pc(), main, "PC rewound onto the breakpoint");
    assert!(p.threads().len() > 1, "the Go runtime has started more threads: {:?}", p.threads());
    for t in p.threads() {
        assert!(p.is_stopped(t));
    }
    // Every thread is in a ptrace stop.
    assert!(thread_states(pid).iter().all(|&c| c == 't'), "states {:?}", thread_states(pid));

    // Bulk read of the whole text section hides the breakpoint.
    let (text, size) = text_range(&bin);
    let mem = p.read_vec(text, size as usize).expect("bulk text read");
    assert_eq!(mem, file_bytes(&bin, text, size as usize), "text as in the file");

    // Single step over the breakpoint: exactly one instruction.
    let len = insn_len(&bin, main);
    let ev = p.single_step(tid).expect("step");
    assert_eq!(ev, StopEvent::SingleStep { tid });
    assert_eq!(p.regs(tid).expect("regs").pc(), main + len);
    assert_eq!(proc_mem(pid, main, 1), vec![0xCC], "breakpoint re-inserted after the step");
    let ev = p.single_step(tid).expect("second step");
    assert_eq!(ev, StopEvent::SingleStep { tid });
    assert_ne!(p.regs(tid).expect("regs").pc(), main + len);

    // Floating-point registers round-trip.
    let mut fp = p.fp_regs(tid).expect("fp regs");
    let saved = fp;
    assert!(fp.set_xmm(3, [0x11; 16]));
    fp.set_xmm(15, 1.5f64.to_le_bytes().iter().chain([0u8; 8].iter()).copied().collect::<Vec<_>>().try_into().unwrap());
    p.set_fp_regs(tid, &fp).expect("set fp regs");
    let back = p.fp_regs(tid).expect("fp regs");
    assert_eq!(back.xmm(3), Some([0x11; 16]));
    assert_eq!(back.xmm_f64(15), Some(1.5));
    assert_eq!(back.xmm(16), None);
    p.set_fp_regs(tid, &saved).expect("restore fp regs");

    // write_memory under a breakpoint keeps the int3 and the shadow byte.
    p.write_memory(main, &original[..2]).expect("write text");
    assert_eq!(proc_mem(pid, main, 2)[0], 0xCC);
    assert_eq!(p.read_vec(main, 2).expect("read"), original[..2].to_vec());

    p.remove_breakpoint(main).expect("remove");
    assert_eq!(proc_mem(pid, main, 1), vec![original[0]]);
    p.kill().expect("kill");
}

/// 100 hits of a breakpoint in a function four goroutines call in a loop;
/// afterwards the program still computes the right total and exits.
fn hundred_hits_many_goroutines(version: &str) {
    let (mut p, pipes, bin) = launch(version, "spin", &["20000"]);
    let work = symbol(&bin, "main.work");
    p.set_breakpoint(work).expect("bp");
    let mut tids = HashSet::new();
    for i in 0..100 {
        p.resume(ResumeMode::All).expect("resume");
        match p.wait().expect("wait") {
            StopEvent::Breakpoint { tid, pc } => {
                assert_eq!(pc, work, "hit {i}");
                assert_eq!(p.regs(tid).expect("regs").pc(), work);
                tids.insert(tid);
            }
            other => panic!("hit {i}: unexpected {other:?}"),
        }
    }
    assert!(!tids.is_empty());
    p.remove_breakpoint(work).expect("remove");
    p.resume(ResumeMode::All).expect("resume");
    assert_eq!(p.wait().expect("wait"), StopEvent::Exited { code: 0 });
    assert!(matches!(p.wait(), Err(ProcError::Exited)));
    assert!(matches!(p.regs(p.pid()), Err(ProcError::Exited)));
    assert_eq!(read_all(pipes.stdout).trim(), "done 80000", "every call of work ran exactly once");
}

/// A thread that executes a breakpoint's `int3` just as the others are
/// being stopped reports the interrupt first (the kernel handles the
/// PTRACE_INTERRUPT trap before dequeuing the SIGTRAP, kernel/signal.c
/// get_signal): its PC is one past the breakpoint with the SIGTRAP still
/// pending. No thread may be left there when `wait` returns: registers read
/// at that stop would point into the middle of an instruction (a resume
/// there skipped a REX prefix and truncated a pointer to 32 bits).
fn no_thread_left_past_a_breakpoint(version: &str) {
    let (mut p, pipes, bin) = launch(version, "spin", &["1000000"]);
    let work = symbol(&bin, "main.work");
    p.set_breakpoint(work).expect("bp");
    let mut hits = 0u64;
    let started = Instant::now();
    while hits < 20_000 && started.elapsed() < Duration::from_secs(25) {
        p.resume(ResumeMode::All).expect("resume");
        match p.wait().expect("wait") {
            StopEvent::Breakpoint { pc, .. } => assert_eq!(pc, work),
            other => panic!("unexpected {other:?}"),
        }
        hits += 1;
        for t in p.threads() {
            let pc = p.regs(t).expect("regs").pc();
            assert_ne!(pc, work + 1, "hit {hits}: thread {t} stopped one byte into main.work's first instruction");
        }
    }
    p.remove_breakpoint(work).expect("remove");
    p.resume(ResumeMode::All).expect("resume");
    assert_eq!(p.wait().expect("wait"), StopEvent::Exited { code: 0 });
    assert_eq!(read_all(pipes.stdout).trim(), "done 4000000", "every call of work ran exactly once");
}

/// Resuming only the thread that hit keeps the others stopped.
fn resume_only_one_thread(version: &str) {
    let (mut p, _pipes, bin) = launch(version, "spin", &["100000"]);
    let pid = p.pid();
    let work = symbol(&bin, "main.work");
    p.set_breakpoint(work).expect("bp");
    p.resume(ResumeMode::All).expect("resume");
    let StopEvent::Breakpoint { tid, .. } = p.wait().expect("wait") else { panic!("no breakpoint") };
    for _ in 0..10 {
        p.resume(ResumeMode::Only(vec![tid])).expect("resume one");
        for t in p.threads() {
            assert_eq!(p.is_stopped(t), t != tid, "only {tid} runs");
        }
        match p.wait().expect("wait") {
            StopEvent::Breakpoint { tid: hit, pc } => {
                assert_eq!(pc, work);
                assert_eq!(hit, tid, "only the resumed thread can hit");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(thread_states(pid).iter().all(|&c| c == 't'));
    p.kill().expect("kill");
}

/// Detach removes every int3 and the program runs to completion.
fn detach_leaves_program_running(version: &str) {
    let (mut p, pipes, bin) = launch(version, "sleeper", &["100"]);
    let pid = p.pid();
    let tick = symbol(&bin, "main.tick");
    let main = symbol(&bin, "main.main");
    p.set_breakpoint(tick).expect("bp");
    p.set_breakpoint(main).expect("bp");
    p.resume(ResumeMode::All).expect("resume");
    assert!(matches!(p.wait().expect("wait"), StopEvent::Breakpoint { pc, .. } if pc == main));
    p.resume(ResumeMode::All).expect("resume");
    assert!(matches!(p.wait().expect("wait"), StopEvent::Breakpoint { pc, .. } if pc == tick));
    p.detach().expect("detach");
    assert_eq!(proc_mem(pid, tick, 1), file_bytes(&bin, tick, 1), "no int3 left at main.tick");
    assert_eq!(proc_mem(pid, main, 1), file_bytes(&bin, main, 1), "no int3 left at main.main");
    assert!(thread_states(pid).iter().all(|&c| c != 't'), "nothing traced any more");
    assert_eq!(reap(pid), 0, "exits normally");
    let out = read_all(pipes.stdout);
    assert!(out.contains("tick 100\n"), "ran to the end: {out}");
}

/// Attach to a running program, stop at a breakpoint, detach; it keeps running.
fn attach_and_detach(version: &str) {
    let bin = go_binary(version, "sleeper");
    let mut child = Command::new(&bin)
        .args(["3000", "stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sleeper");
    let pid = child.id() as i32;
    let _guard = KillOnDrop(pid);
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line, "ready\n");

    let mut p = Process::attach(pid).expect("attach");
    assert!(!p.is_launched());
    assert!(p.threads().len() >= 2, "all Go threads attached: {:?}", p.threads());
    assert_eq!(p.threads().len(), thread_states(pid).len(), "every task traced");
    assert!(thread_states(pid).iter().all(|&c| c == 't'), "all stopped: {:?}", thread_states(pid));

    let tick = symbol(&bin, "main.tick");
    p.set_breakpoint(tick).expect("bp");
    p.resume(ResumeMode::All).expect("resume");
    let ev = p.wait().expect("wait");
    assert!(matches!(ev, StopEvent::Breakpoint { pc, .. } if pc == tick), "{ev:?}");
    p.detach().expect("detach");
    assert_eq!(proc_mem(pid, tick, 1), file_bytes(&bin, tick, 1));

    // Still ticking after the detach.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ticks = 0;
    while ticks < 5 {
        line.clear();
        out.read_line(&mut line).expect("read tick");
        if line.starts_with("tick ") {
            ticks += 1;
        }
        assert!(Instant::now() < deadline, "program stopped ticking");
    }
    drop(child.stdin.take());
    let status = child.wait().expect("wait child");
    assert_eq!(status.code(), Some(0));
}

fn exit_code_propagates(version: &str) {
    let (mut p, pipes, _) = launch(version, "exit3", &[]);
    p.resume(ResumeMode::All).expect("resume");
    assert_eq!(p.wait().expect("wait"), StopEvent::Exited { code: 3 });
    assert!(!p.is_alive());
    assert!(matches!(p.resume(ResumeMode::All), Err(ProcError::Exited)));
    assert!(matches!(p.set_breakpoint(0x1000), Err(ProcError::Exited)));
    assert!(p.read_vec(0x400000, 4).is_err());
    assert_eq!(read_all(pipes.stdout), "bye\n");
}

fn sigkill_during_wait(version: &str) {
    let (mut p, _pipes, _) = launch(version, "spin", &["1000000000"]);
    let pid = p.pid();
    p.resume(ResumeMode::All).expect("resume");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: plain syscall.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    assert_eq!(p.wait().expect("wait"), StopEvent::Killed { signal: libc::SIGKILL });
    killer.join().expect("killer thread");
    assert!(matches!(p.wait(), Err(ProcError::Exited)));
    assert!(matches!(p.single_step(pid), Err(ProcError::Exited)));
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err(), "reaped");
}

/// SIGKILL while a breakpoint storm keeps the stop-all machinery busy.
fn sigkill_during_breakpoints(version: &str) {
    let (mut p, _pipes, bin) = launch(version, "spin", &["1000000000"]);
    let pid = p.pid();
    p.set_breakpoint(symbol(&bin, "main.work")).expect("bp");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: plain syscall.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        p.resume(ResumeMode::All).expect("resume");
        match p.wait().expect("wait") {
            StopEvent::Breakpoint { tid, .. } => {
                // Alternate stepping and continuing.
                match p.single_step(tid) {
                    Ok(StopEvent::Killed { signal }) => {
                        assert_eq!(signal, libc::SIGKILL);
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => panic!("step: {e}"),
                }
            }
            StopEvent::Killed { signal } => {
                assert_eq!(signal, libc::SIGKILL);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Instant::now() < deadline, "never saw the kill");
    }
    killer.join().expect("killer");
    assert!(matches!(p.resume(ResumeMode::All), Err(ProcError::Exited)));
}

/// SIGKILL from outside while every thread is stopped at a breakpoint.
fn sigkill_while_stopped(version: &str) {
    let (mut p, _pipes, bin) = launch(version, "spin", &["1000000000"]);
    let pid = p.pid();
    p.set_breakpoint(symbol(&bin, "main.work")).expect("bp");
    p.resume(ResumeMode::All).expect("resume");
    let StopEvent::Breakpoint { tid, .. } = p.wait().expect("wait") else { panic!("no breakpoint") };
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Whatever the timing, stepping now ends with the kill, not an error or a hang.
    let ev = p.single_step(tid).expect("step");
    assert!(matches!(ev, StopEvent::Killed { signal: libc::SIGKILL } | StopEvent::SingleStep { .. }), "{ev:?}");
    if !ev.is_final() {
        p.resume(ResumeMode::All).expect("resume");
        assert_eq!(p.wait().expect("wait"), StopEvent::Killed { signal: libc::SIGKILL });
    }
    assert!(matches!(p.wait(), Err(ProcError::Exited)));
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err(), "reaped");
}

/// The program's own SIGUSR1 handler sees every signal it sends itself.
fn program_signals_pass_through(version: &str) {
    let (mut p, pipes, _) = launch(version, "signals", &[]);
    p.resume(ResumeMode::All).expect("resume");
    assert_eq!(p.wait().expect("wait"), StopEvent::Exited { code: 0 });
    assert_eq!(read_all(pipes.stdout), "received 50\n");
}

/// A reported signal stops the debugger and is still delivered afterwards.
fn reported_signal(version: &str) {
    let (mut p, pipes, _) = launch(version, "signals", &[]);
    let mut policy = p.signal_policy();
    policy.set_report(libc::SIGUSR1, true);
    p.set_signal_policy(policy);
    let mut seen = 0;
    loop {
        p.resume(ResumeMode::All).expect("resume");
        match p.wait().expect("wait") {
            StopEvent::Signal { tid, signal } => {
                assert_eq!(signal, libc::SIGUSR1);
                assert_eq!(p.pending_signals(tid), vec![libc::SIGUSR1]);
                seen += 1;
            }
            StopEvent::Exited { code } => {
                assert_eq!(code, 0);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, 50);
    assert_eq!(read_all(pipes.stdout), "received 50\n");
}

/// The interrupter stops a running program from another thread.
fn interrupt_from_another_thread(version: &str) {
    let (mut p, _pipes, _) = launch(version, "spin", &["1000000000"]);
    let pid = p.pid();
    for _ in 0..3 {
        p.resume(ResumeMode::All).expect("resume");
        let int = p.interrupter();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            int.interrupt().expect("interrupt");
        });
        let ev = p.wait().expect("wait");
        h.join().expect("join");
        assert!(matches!(ev, StopEvent::Interrupted { .. }), "{ev:?}");
        assert!(thread_states(pid).iter().all(|&c| c == 't'), "all stopped: {:?}", thread_states(pid));
    }
    // An interrupt requested while stopped is reported by the next wait.
    p.interrupter().interrupt().expect("interrupt");
    p.resume(ResumeMode::All).expect("resume");
    assert!(matches!(p.wait().expect("wait"), StopEvent::Interrupted { .. }));
    p.kill().expect("kill");
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err(), "reaped");
}

/// Dropping a launched process kills it.
fn drop_kills_launched(version: &str) {
    let (mut p, _pipes, _) = launch(version, "spin", &["1000000000"]);
    let pid = p.pid();
    p.resume(ResumeMode::All).expect("resume");
    drop(p);
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err(), "killed and reaped");
}

go_tests!(
    breakpoint_at_main,
    hundred_hits_many_goroutines,
    no_thread_left_past_a_breakpoint,
    resume_only_one_thread,
    detach_leaves_program_running,
    attach_and_detach,
    exit_code_propagates,
    sigkill_during_wait,
    sigkill_during_breakpoints,
    sigkill_while_stopped,
    program_signals_pass_through,
    reported_signal,
    interrupt_from_another_thread,
    drop_kills_launched,
);

#[test]
fn launch_missing_program() {
    let err = Process::launch(&LaunchOptions::new("/nonexistent/stillgo-test-program")).expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, ProcError::Launch { .. }), "{err:?}");
    assert!(msg.contains("/nonexistent/stillgo-test-program") && msg.contains("No such file"), "{msg}");
}

#[test]
fn launch_not_executable() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("proc-not-executable.txt");
    std::fs::write(&path, "just text").expect("write");
    let err = Process::launch(&LaunchOptions::new(&path)).expect_err("must fail");
    assert!(err.to_string().contains("Permission denied"), "{err}");
}

#[test]
fn launch_bad_cwd() {
    let mut opts = LaunchOptions::new("/bin/true");
    opts.cwd = Some("/nonexistent-dir-for-stillgo".into());
    let err = Process::launch(&opts).expect_err("must fail");
    assert!(err.to_string().contains("working directory"), "{err}");
}

#[test]
fn attach_missing_pid() {
    let max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(32768);
    let pid = (2..max).rev().find(|p| std::fs::metadata(format!("/proc/{p}")).is_err()).expect("a free pid");
    let err = Process::attach(pid).expect_err("must fail");
    assert!(matches!(err, ProcError::NoSuchProcess { pid: p } if p == pid), "{err:?}");
    assert!(err.to_string().contains("no such process"));
}
