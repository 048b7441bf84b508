//! The Session/run_command machinery, against a fake CLI (a shell script)
//! that follows the prompt framing contract documented in the crate docs.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use stillgo_testkit::{run_command, Session};

const FAKE_CLI: &str = r#"
printf 'fake stillgo 0.1\n(stillgo) \n'
while IFS= read -r line; do
  case "$line" in
    exit) echo bye; exit 7;;
    err) echo "to stdout"; echo "Command failed: oops" >&2;;
    multi) printf 'one\ntwo\n';;
    child) sleep 300 & echo "started $!";;
    hang) sleep 300;;
    *) echo "you said: $line";;
  esac
  printf '(stillgo) \n'
done
"#;

fn fake() -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(FAKE_CLI);
    cmd
}

fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}

/// Killed orphans are zombies until init reaps them: allow it a moment.
fn group_gone_soon(pgid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if !group_alive(pgid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn send_returns_output_up_to_the_next_prompt() {
    let mut s = Session::start(fake());
    assert_eq!(s.startup(), "fake stillgo 0.1\n");
    assert_eq!(s.send("break main.main"), "you said: break main.main\n");
    assert_eq!(s.send("multi"), "one\ntwo\n");
    // stderr is merged in order.
    assert_eq!(s.send("err"), "to stdout\nCommand failed: oops\n");
    assert!(s.transcript().contains("(stillgo) multi\none\ntwo\n"), "{}", s.transcript());
    let (out, status) = s.send_and_exit("exit");
    assert_eq!(out, "bye\n");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn drop_kills_the_process_group() {
    let mut s = Session::start(fake());
    let out = s.send("child");
    assert!(out.starts_with("started "), "{out}");
    let pgid = s.pid();
    assert!(group_alive(pgid));
    drop(s);
    assert!(group_gone_soon(pgid), "the background sleep survived the session");
}

#[test]
fn timeout_panics_with_transcript_and_kills_the_group() {
    static PGID: AtomicU32 = AtomicU32::new(0);
    let res = std::panic::catch_unwind(|| {
        let mut s = Session::start(fake());
        PGID.store(s.pid(), Ordering::SeqCst);
        s.set_timeout(Duration::from_millis(500));
        s.send("hello");
        s.send("hang");
    });
    let msg = res.expect_err("a hanging command must panic");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("timed out"), "{msg}");
    assert!(msg.contains("(stillgo) hello\nyou said: hello\n(stillgo) hang\n"), "{msg}");
    assert!(group_gone_soon(PGID.load(Ordering::SeqCst)), "hung process left behind");
}

#[test]
fn unexpected_exit_panics() {
    let res = std::panic::catch_unwind(|| {
        let mut s = Session::start(fake());
        s.send("exit");
    });
    let msg = res.expect_err("exit instead of a prompt must panic");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("instead of printing a prompt") && msg.contains("bye"), "{msg}");
}

#[test]
fn run_command_collects_output_and_status() {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("cat; echo problem >&2; sleep 300 & exit 4");
    let out = run_command(cmd, "break main.main\ncontinue\n", Duration::from_secs(20));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "break main.main\ncontinue\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "problem\n");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn run_command_times_out() {
    let res = std::panic::catch_unwind(|| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("echo partial; sleep 300");
        run_command(cmd, "", Duration::from_millis(500));
    });
    let msg = res.expect_err("must time out");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("timed out") && msg.contains("partial"), "{msg}");
}
