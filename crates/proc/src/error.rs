//! Errors of the process-control layer.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::{MemoryError, Tid};

/// Everything that can go wrong controlling a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The program could not be started.
    #[error("cannot launch {program}: {reason}")]
    Launch { program: PathBuf, reason: String },
    /// `attach` to a PID that does not exist.
    #[error("no such process: {pid}")]
    NoSuchProcess { pid: i32 },
    /// `attach` refused by the kernel.
    #[error("cannot trace process {pid}: permission denied ({detail})")]
    PermissionDenied { pid: i32, detail: String },
    /// The process has exited or was killed; nothing more can be done with it.
    #[error("the process has exited")]
    Exited,
    /// The thread is not (or no longer) one of the traced threads.
    #[error("no such thread: {tid}")]
    NoSuchThread { tid: Tid },
    /// The operation needs the thread stopped, but it is running.
    #[error("thread {tid} is running")]
    ThreadRunning { tid: Tid },
    /// A thread we held stopped is no longer in a ptrace stop: only SIGKILL
    /// does that, so the process is dying. `wait` collects the exit.
    #[error("thread {tid} was killed while stopped; call wait() to collect the exit")]
    Vanished { tid: Tid },
    /// `wait` was called while no thread was running.
    #[error("no thread is running: resume before waiting")]
    NothingRunning,
    /// A ptrace or wait call failed unexpectedly.
    #[error("{op} on thread {tid} failed: {errno}")]
    Sys { op: &'static str, tid: Tid, errno: Errno },
    /// Reading or writing target memory failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Other I/O failure (e.g. /proc files).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A caller-supplied argument is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ProcError {
    /// Maps a failed ptrace call on a thread we hold stopped.
    pub(crate) fn sys(op: &'static str, tid: Tid) -> impl FnOnce(Errno) -> ProcError {
        move |errno| match errno {
            Errno::ESRCH => ProcError::Vanished { tid },
            errno => ProcError::Sys { op, tid, errno },
        }
    }
}
