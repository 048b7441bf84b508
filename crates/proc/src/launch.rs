//! Starting a program under the tracer: fork, seize, exec.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::sys::{self, Status};
use crate::ProcError;

/// What the launched program's standard streams are connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StdioMode {
    /// Share the debugger's stdin/stdout/stderr.
    #[default]
    Inherit,
    /// stdout and stderr are pipes returned in `ChildPipes`; stdin is
    /// /dev/null.
    Piped,
}

/// How to start a program.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    pub program: PathBuf,
    /// Arguments after argv[0] (argv[0] is `program`).
    pub args: Vec<String>,
    /// Complete environment; `None` inherits the debugger's.
    pub env: Option<Vec<(String, String)>>,
    pub cwd: Option<PathBuf>,
    /// Run with `personality(ADDR_NO_RANDOMIZE)`, like `setarch -R`.
    pub disable_aslr: bool,
    pub stdio: StdioMode,
    /// Put the program in a process group of its own, so a Ctrl-C typed at
    /// the debugger's terminal reaches only the debugger (which then stops
    /// the program) instead of killing the program.
    pub new_process_group: bool,
}

impl LaunchOptions {
    pub fn new(program: impl Into<PathBuf>) -> LaunchOptions {
        LaunchOptions { program: program.into(), ..LaunchOptions::default() }
    }
}

/// The program's output streams when launched with `StdioMode::Piped`.
#[derive(Debug)]
pub struct ChildPipes {
    pub stdout: File,
    pub stderr: File,
}

/// Which step of the child's setup failed; sent with the errno.
const STAGE_CHDIR: u8 = 1;
const STAGE_EXEC: u8 = 2;
const STAGE_SETUP: u8 = 3;

fn cstr(what: &str, program: &Path, bytes: &[u8]) -> Result<CString, ProcError> {
    CString::new(bytes).map_err(|_| ProcError::Launch {
        program: program.to_path_buf(),
        reason: format!("{what} contains a NUL byte"),
    })
}

fn pipe(program: &Path) -> Result<(OwnedFd, OwnedFd), ProcError> {
    let mut fds = [0i32; 2];
    // SAFETY: valid out-array of two ints. O_CLOEXEC keeps the descriptors
    // out of processes other threads of the debugger spawn meanwhile.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ProcError::Launch { program: program.to_path_buf(), reason: format!("pipe2: {}", std::io::Error::last_os_error()) });
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Everything the child needs, prepared before `fork`: after `fork` in a
/// multi-threaded process only async-signal-safe calls are allowed, so the
/// child must not allocate.
struct ChildPlan {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
    disable_aslr: bool,
    new_process_group: bool,
}

/// The result of a successful launch: the PID, stopped at its exec event,
/// seized with `options`.
pub(crate) struct Launched {
    pub pid: i32,
    pub pipes: Option<ChildPipes>,
}

pub(crate) fn launch(opts: &LaunchOptions, options: i32) -> Result<Launched, ProcError> {
    let program = &opts.program;
    let launch_err = |reason: String| ProcError::Launch { program: program.clone(), reason };
    // Early, precise diagnostics; the exec errno below still covers races.
    match std::fs::metadata(program) {
        Err(e) => return Err(launch_err(e.to_string())),
        Ok(m) if !m.is_file() => return Err(launch_err("not a regular file".into())),
        Ok(_) => {}
    }
    let plan = ChildPlan {
        program: cstr("program path", program, program.as_os_str().as_bytes())?,
        argv: std::iter::once(Ok(cstr("program path", program, program.as_os_str().as_bytes())?))
            .chain(opts.args.iter().map(|a| cstr("an argument", program, a.as_bytes())))
            .collect::<Result<_, _>>()?,
        envp: match &opts.env {
            Some(env) => env
                .iter()
                .map(|(k, v)| cstr("the environment", program, format!("{k}={v}").as_bytes()))
                .collect::<Result<_, _>>()?,
            None => std::env::vars_os()
                .map(|(k, v)| {
                    let mut b = k.as_bytes().to_vec();
                    b.push(b'=');
                    b.extend_from_slice(v.as_bytes());
                    cstr("the environment", program, &b)
                })
                .collect::<Result<_, _>>()?,
        },
        cwd: opts.cwd.as_ref().map(|c| cstr("cwd", program, c.as_os_str().as_bytes())).transpose()?,
        disable_aslr: opts.disable_aslr,
        new_process_group: opts.new_process_group,
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = plan.envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());

    let (sync_r, sync_w) = pipe(program)?;
    let (err_r, err_w) = pipe(program)?;
    let piped = match opts.stdio {
        StdioMode::Inherit => None,
        StdioMode::Piped => {
            let out = pipe(program)?;
            let err = pipe(program)?;
            let null = File::options().read(true).open("/dev/null").map_err(|e| launch_err(format!("/dev/null: {e}")))?;
            Some((out, err, OwnedFd::from(null)))
        }
    };

    // SAFETY: fork in a possibly multi-threaded process; the child below
    // only makes async-signal-safe calls on data prepared above.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(launch_err(format!("fork: {}", std::io::Error::last_os_error())));
    }
    if pid == 0 {
        // SAFETY: child side; never returns.
        unsafe {
            child(
                &plan,
                argv_ptrs.as_ptr(),
                envp_ptrs.as_ptr(),
                sync_r.as_raw_fd(),
                err_w.as_raw_fd(),
                piped.as_ref().map(|(o, e, n)| (o.1.as_raw_fd(), e.1.as_raw_fd(), n.as_raw_fd())),
            )
        }
    }

    // Parent.
    drop(sync_r);
    drop(err_w);
    let pipes = piped.map(|(out, err, _null)| ChildPipes { stdout: File::from(out.0), stderr: File::from(err.0) });

    let abort = |reason: String| {
        // The child is ours and not yet exec'd: make sure it is gone, then
        // prefer its own account of what failed (chdir, personality...).
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = sys::wait_for(pid);
        launch_err(child_failure(&err_r).unwrap_or(reason))
    };
    if let Err(e) = sys::seize(pid, options) {
        return Err(abort(format!("PTRACE_SEIZE: {e}")));
    }
    // Release the child: it execs now, under the tracer.
    // SAFETY: writing one byte from a valid buffer to our pipe.
    let w = unsafe { libc::write(sync_w.as_raw_fd(), [0u8].as_ptr().cast(), 1) };
    if w != 1 {
        return Err(abort(format!("releasing the child: {}", std::io::Error::last_os_error())));
    }
    drop(sync_w);

    loop {
        let (_, status) = match sys::wait_for(pid) {
            Ok(s) => s,
            Err(e) => return Err(abort(format!("waitpid: {e}"))),
        };
        match status {
            Status::Event(sys::EVENT_EXEC, _) => return Ok(Launched { pid, pipes }),
            Status::Exited(code) => {
                return Err(launch_err(child_failure(&err_r).unwrap_or_else(|| format!("exited with status {code} before exec"))))
            }
            Status::Signaled(sig) => return Err(launch_err(format!("killed by signal {sig} before exec"))),
            Status::SignalStop(sig) => {
                // A signal before exec: let it through.
                if let Err(e) = sys::cont(pid, sig) {
                    return Err(abort(format!("PTRACE_CONT: {e}")));
                }
            }
            _ => {
                if let Err(e) = sys::cont(pid, 0) {
                    return Err(abort(format!("PTRACE_CONT: {e}")));
                }
            }
        }
    }
}

/// Reads the (stage, errno) record a failed child left in the error pipe.
fn child_failure(err_r: &OwnedFd) -> Option<String> {
    let mut buf = [0u8; 5];
    // SAFETY: reading into a valid local buffer.
    let n = unsafe { libc::read(err_r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n != 5 {
        return None;
    }
    let errno = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let io = std::io::Error::from_raw_os_error(errno);
    Some(match buf[0] {
        STAGE_CHDIR => format!("cannot change to the working directory: {io}"),
        STAGE_EXEC => format!("exec failed: {io}"),
        _ => format!("child setup failed: {io}"),
    })
}

/// The child between fork and exec.
///
/// # Safety
/// Must only be called in the child of `fork`; uses only async-signal-safe
/// functions.
unsafe fn child(
    plan: &ChildPlan,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    sync_r: i32,
    err_w: i32,
    stdio: Option<(i32, i32, i32)>,
) -> ! {
    unsafe fn fail(err_w: i32, stage: u8) -> ! {
        // SAFETY: async-signal-safe calls on a valid buffer.
        unsafe {
            let e = *libc::__errno_location();
            let b = e.to_ne_bytes();
            let rec = [stage, b[0], b[1], b[2], b[3]];
            libc::write(err_w, rec.as_ptr().cast(), rec.len());
            libc::_exit(127)
        }
    }
    // SAFETY: all calls are async-signal-safe and use data prepared before fork.
    unsafe {
        // The debugger may block or ignore signals (Rust ignores SIGPIPE);
        // the program must start with a clean slate, as from a shell.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if plan.new_process_group {
            libc::setpgid(0, 0);
        }
        if plan.disable_aslr {
            let cur = libc::personality(0xffff_ffff);
            if cur == -1 || libc::personality((cur as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong) == -1 {
                fail(err_w, STAGE_SETUP);
            }
        }
        if let Some((out, err, null)) = stdio {
            if libc::dup2(null, 0) < 0 || libc::dup2(out, 1) < 0 || libc::dup2(err, 2) < 0 {
                fail(err_w, STAGE_SETUP);
            }
        }
        if let Some(cwd) = &plan.cwd {
            if libc::chdir(cwd.as_ptr()) != 0 {
                fail(err_w, STAGE_CHDIR);
            }
        }
        // Wait until the parent has seized us, so the exec is traced.
        let mut b = [0u8; 1];
        loop {
            let n = libc::read(sync_r, b.as_mut_ptr().cast(), 1);
            if n == 1 {
                break;
            }
            if n == 0 || *libc::__errno_location() != libc::EINTR {
                libc::_exit(126);
            }
        }
        libc::execve(plan.program.as_ptr(), argv, envp);
        fail(err_w, STAGE_EXEC)
    }
}

/// `AT_ENTRY` of process `pid` (from `/proc/PID/auxv`): the address the
/// kernel started its executable at, which tells where a position-
/// independent executable was loaded (getauxval(3); the vector is pairs of
/// native words ending with `AT_NULL`).
pub fn auxv_entry(pid: i32) -> std::io::Result<u64> {
    const AT_NULL: u64 = 0;
    const AT_ENTRY: u64 = 9;
    let data = std::fs::read(format!("/proc/{pid}/auxv"))?;
    for pair in data.chunks_exact(16) {
        let word = |i: usize| u64::from_le_bytes(pair[i..i + 8].try_into().unwrap_or([0; 8]));
        match word(0) {
            AT_ENTRY => return Ok(word(8)),
            AT_NULL => break,
            _ => {}
        }
    }
    Err(std::io::Error::other("no AT_ENTRY in the auxiliary vector"))
}
