//! Driving the real `stillgo` binary as a subprocess.
//!
//! See the crate documentation for the prompt framing contract.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The line the CLI prints, alone, before reading each command when its
/// standard input is not a terminal.
pub const PROMPT_LINE: &str = "(stillgo) ";

/// Per-command timeout when neither [`Session::set_timeout`] nor the env
/// variable `STILLGO_TEST_TIMEOUT_SECS` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default timeout: `STILLGO_TEST_TIMEOUT_SECS` if set (slow machines),
/// else [`DEFAULT_TIMEOUT`].
pub fn default_timeout() -> Duration {
    std::env::var("STILLGO_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Path of the `stillgo` binary under test.
///
/// Integration tests of the `stillgo` crate can also use
/// `env!("CARGO_BIN_EXE_stillgo")` (Cargo builds the binary for them). This
/// function uses, in order: env `STILLGO_BIN`; then `stillgo` in the Cargo
/// profile directory of the running test executable (a test binary lives in
/// `target/<profile>/deps/`, the binary in `target/<profile>/`). Panics when
/// the binary does not exist, telling how to build it.
pub fn stillgo_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STILLGO_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            panic!("STILLGO_BIN={} does not exist", p.display());
        }
        return p;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut candidates = Vec::new();
    let mut dir = exe.parent();
    // deps/ -> profile dir; also the exe's own dir (running from target/<profile>/).
    for _ in 0..2 {
        if let Some(d) = dir {
            candidates.push(d.join("stillgo"));
            dir = d.parent();
        }
    }
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "the stillgo binary was not found next to {}.\n\
             Build it first (`cargo build --bin stillgo`, which `scripts/test.sh` does), \
             or set STILLGO_BIN, or use env!(\"CARGO_BIN_EXE_stillgo\") in tests of the stillgo crate",
            exe.display()
        )
    })
}

/// A `stillgo` command with the environment tests expect: no colors, a dumb
/// terminal, backtraces on panic. Add the subcommand and arguments, then pass
/// it to [`Session::start`] or [`run_command`].
pub fn stillgo_command() -> Command {
    let mut cmd = Command::new(stillgo_bin());
    cmd.env("NO_COLOR", "1").env("TERM", "dumb").env("RUST_BACKTRACE", "1");
    // Debugging aid: STILLGO_TEST_LOG_DIR=DIR keeps one debug log per
    // debugger started (filtered by STILLGO_LOG as usual).
    if let Some(dir) = std::env::var_os("STILLGO_TEST_LOG_DIR") {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = std::path::Path::new(&dir).join(format!("stillgo-{}-{n}.log", std::process::id()));
        cmd.arg("--log").arg("--log-dest").arg(file);
    }
    cmd
}

/// Sends SIGKILL to a whole process group (best effort: ESRCH when the group
/// is already gone is fine).
fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid only sends a signal; no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Spawns a thread that forwards everything read from `r` in chunks; the
/// channel disconnects at EOF.
fn spawn_reader(mut r: impl Read + Send + 'static) -> (Receiver<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (rx, h)
}

/// An interactive `stillgo` process: one command in, its output back.
///
/// The process runs in its own process group, which is SIGKILLed on drop
/// (together with a debuggee that stayed in that group; a debuggee moved to
/// another group dies through `PTRACE_O_EXITKILL` when the debugger dies).
/// Standard error is merged into standard output, in order, like a terminal.
pub struct Session {
    child: Child,
    pgid: i32,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    reader: Option<JoinHandle<()>>,
    buf: Vec<u8>,
    eof: bool,
    timeout: Duration,
    transcript: String,
    startup: String,
}

impl Session {
    /// `stillgo exec <program> [-- args...]`, waiting for the first prompt.
    pub fn exec(program: &Path, args: &[&str]) -> Session {
        let mut cmd = stillgo_command();
        cmd.arg("exec").arg(program);
        if !args.is_empty() {
            cmd.arg("--").args(args);
        }
        Session::start(cmd)
    }

    /// `stillgo <args...>` (e.g. `["attach", "1234"]`), waiting for the first prompt.
    pub fn spawn<I, S>(args: I) -> Session
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = stillgo_command();
        cmd.args(args);
        Session::start(cmd)
    }

    /// Starts `cmd` (any program following the prompt framing contract) and
    /// waits for its first prompt; what it printed before is [`Session::startup`].
    pub fn start(cmd: Command) -> Session {
        Session::start_with_timeout(cmd, default_timeout())
    }

    /// [`Session::start`] with a timeout for the start and every later command.
    pub fn start_with_timeout(mut cmd: Command, timeout: Duration) -> Session {
        let (reader, writer) = pipe();
        let writer2 = writer.try_clone().unwrap_or_else(|e| panic!("dup: {e}"));
        cmd.stdin(Stdio::piped()).stdout(writer).stderr(writer2).process_group(0);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        // Our copies of the write end must be closed (they were moved into
        // `cmd`), else the reader would never see EOF.
        drop(cmd);
        let pgid = i32::try_from(child.id()).unwrap_or(0);
        let stdin = child.stdin.take();
        let (rx, handle) = spawn_reader(reader);
        let mut s = Session {
            child,
            pgid,
            stdin,
            rx,
            reader: Some(handle),
            buf: Vec::new(),
            eof: false,
            timeout,
            transcript: String::new(),
            startup: String::new(),
        };
        s.startup = s.read_to_prompt("<start>");
        s
    }

    /// Sets the timeout of later commands.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Output printed before the first prompt (banner, load messages).
    pub fn startup(&self) -> &str {
        &self.startup
    }

    /// Everything exchanged so far: output, and `(stillgo) <cmd>` for each command sent.
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// PID of the `stillgo` process (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line and returns its output (stdout and stderr,
    /// including the debuggee's if it shares them), up to the next prompt.
    /// Panics with the transcript on timeout or if the CLI exits.
    pub fn send(&mut self, cmd: &str) -> String {
        self.write_line(cmd);
        self.read_to_prompt(cmd)
    }

    /// Sends a command after which the CLI is expected to exit (e.g. `exit`,
    /// `quit`); closes stdin, reads the output to EOF and returns it with the
    /// exit status. Panics on timeout.
    pub fn send_and_exit(&mut self, cmd: &str) -> (String, ExitStatus) {
        self.write_line(cmd);
        self.stdin = None;
        let deadline = Instant::now() + self.timeout;
        while !self.eof {
            self.recv_until(deadline, cmd);
        }
        let out = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
        self.transcript.push_str(&out);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return (out, status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => self.fail(cmd, "did not exit after closing its output"),
                Err(e) => self.fail(cmd, &format!("wait failed: {e}")),
            }
        }
    }

    fn write_line(&mut self, cmd: &str) {
        self.transcript.push_str(PROMPT_LINE);
        self.transcript.push_str(cmd);
        self.transcript.push('\n');
        let res = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(format!("{cmd}\n").as_bytes()).and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("stdin already closed")),
        };
        if let Err(e) = res {
            self.fail(cmd, &format!("cannot write the command: {e}"));
        }
    }

    /// Reads until a line that is exactly [`PROMPT_LINE`]; returns what came before it.
    fn read_to_prompt(&mut self, cmd: &str) -> String {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some((start, end)) = find_prompt(&self.buf) {
                let out = String::from_utf8_lossy(&self.buf[..start]).into_owned();
                self.buf.drain(..end);
                self.transcript.push_str(&out);
                return out;
            }
            if self.eof {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                self.fail(cmd, &format!("exited ({status}) instead of printing a prompt"));
            }
            self.recv_until(deadline, cmd);
        }
    }

    fn recv_until(&mut self, deadline: Instant, cmd: &str) {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(chunk) => self.buf.extend_from_slice(&chunk),
            Err(RecvTimeoutError::Disconnected) => self.eof = true,
            Err(RecvTimeoutError::Timeout) => {
                self.fail(cmd, &format!("timed out after {:?}", self.timeout))
            }
        }
    }

    fn fail(&mut self, cmd: &str, why: &str) -> ! {
        // Drain what already arrived so the transcript is as complete as possible.
        while let Ok(chunk) = self.rx.try_recv() {
            self.buf.extend_from_slice(&chunk);
        }
        let pending = String::from_utf8_lossy(&self.buf).into_owned();
        kill_group(self.pgid);
        panic!(
            "stillgo session: command {cmd:?} {why}.\n--- transcript ---\n{}{}\n--- end ---",
            self.transcript, pending
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stdin = None;
        kill_group(self.pgid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Not joined: the reader ends at EOF once every holder of the pipe
        // is gone, which a process outside the group could delay.
        drop(self.reader.take());
    }
}

/// A close-on-exec pipe: (read end, write end). (`std::io::pipe` needs Rust
/// 1.87, above the workspace's minimum.)
fn pipe() -> (std::fs::File, OwnedFd) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        panic!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Locates the first line equal to [`PROMPT_LINE`]: returns (start of that
/// line, end including its newline).
fn find_prompt(buf: &[u8]) -> Option<(usize, usize)> {
    let line = format!("{PROMPT_LINE}\n");
    let line = line.as_bytes();
    if buf.starts_with(line) {
        return Some((0, line.len()));
    }
    let needle: Vec<u8> = std::iter::once(b'\n').chain(line.iter().copied()).collect();
    buf.windows(needle.len())
        .position(|w| w == needle.as_slice())
        .map(|pos| (pos + 1, pos + needle.len()))
}

/// One-shot `printf '<stdin_script>' | stillgo <args...>`, with the default
/// timeout ×2. stdout and stderr are kept apart. Panics on timeout.
pub fn run_script<I, S>(args: I, stdin_script: &str) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = stillgo_command();
    cmd.args(args);
    run_command(cmd, stdin_script, default_timeout() * 2)
}

/// Runs `cmd` in its own process group with `stdin_script` as standard input,
/// collects its output, and kills whatever is left of its group once it
/// exits (or on timeout, which panics with the output so far).
pub fn run_command(mut cmd: Command, stdin_script: &str, timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    let input = stdin_script.as_bytes().to_vec();
    let writer = child.stdin.take().map(|mut stdin| {
        // A CLI that exits early closes the pipe: a write error is expected then.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        })
    });
    let (out_rx, out_h) = spawn_reader(child.stdout.take().unwrap_or_else(|| panic!("no stdout pipe")));
    let (err_rx, err_h) = spawn_reader(child.stderr.take().unwrap_or_else(|| panic!("no stderr pipe")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => break None,
            Err(e) => panic!("wait for {cmd:?}: {e}"),
        }
    };
    // Leftovers (a debuggee still holding the pipes) would block EOF forever.
    kill_group(pgid);
    let _ = child.kill();
    let _ = child.wait();
    // Bounded: a process outside the group could still hold the pipes.
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    let stdout = drain(&out_rx, drain_deadline);
    let stderr = drain(&err_rx, drain_deadline);
    drop((out_h, err_h, writer));
    match status {
        Some(status) => Output { status, stdout, stderr },
        None => panic!(
            "{cmd:?} timed out after {timeout:?}.\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Everything `rx` yields until it disconnects or `deadline` passes.
fn drain(rx: &Receiver<Vec<u8>>, deadline: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(_) => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_line_must_be_a_whole_line() {
        assert_eq!(find_prompt(b"(stillgo) \nrest"), Some((0, 11)));
        assert_eq!(find_prompt(b"out\n(stillgo) \n"), Some((4, 15)));
        assert_eq!(find_prompt(b"out(stillgo) \n"), None);
        assert_eq!(find_prompt(b"out\n(stillgo) "), None);
        assert_eq!(find_prompt(b"out\n(stillgo) x\n"), None);
    }
}
