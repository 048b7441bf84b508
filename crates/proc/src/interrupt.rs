//! Asynchronous stop requests (Ctrl-C, a DAP "pause") from any thread.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::ProcError;

pub(crate) struct Shared {
    pid: i32,
    /// A pidfd pins the process identity, so a late `interrupt()` can never
    /// signal an unrelated process that reused the PID. `None` if the kernel
    /// lacks `pidfd_open` (< 5.3); then `kill` is used.
    pidfd: Option<OwnedFd>,
    /// A SIGSTOP was sent and has not been seen yet. Standard signals do not
    /// queue, so at most one is in flight; the tracer recognises its own
    /// SIGSTOP by this flag and suppresses it.
    requested: AtomicBool,
    /// Cleared once the process is reaped or detached.
    alive: AtomicBool,
    /// The user asked for the stop (Ctrl-C, DAP pause), as opposed to the
    /// debugger's own interrupts (watchdogs of frozen calls and steps),
    /// which must not end what the user started.
    user: AtomicBool,
}

impl Shared {
    pub(crate) fn new(pid: i32) -> Arc<Shared> {
        // SAFETY: plain syscall; the returned fd (if any) is owned here.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = if fd >= 0 {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
        } else {
            None
        };
        Arc::new(Shared { pid, pidfd, requested: AtomicBool::new(false), alive: AtomicBool::new(true), user: AtomicBool::new(false) })
    }

    /// Consumes a pending request: true if the SIGSTOP just seen is ours.
    pub(crate) fn take_request(&self) -> bool {
        self.requested.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    pub(crate) fn mark_dead(&self) {
        self.alive.store(false, Ordering::Release);
    }
}

/// Makes a pending or the next `Process::wait` return
/// `StopEvent::Interrupted`. Cheap to clone, usable from any thread (e.g. a
/// signal-handling thread or a DAP reader).
#[derive(Clone)]
pub struct Interrupter {
    pub(crate) shared: Arc<Shared>,
}

impl Interrupter {
    /// Requests a stop. Idempotent while a request is outstanding; a no-op
    /// once the process is gone.
    pub fn interrupt(&self) -> Result<(), ProcError> {
        let s = &self.shared;
        if !s.alive.load(Ordering::Acquire) {
            return Ok(());
        }
        if s.requested.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // The stop is a process-directed SIGSTOP: the kernel hands it to a
        // running thread, which then reports a signal-delivery-stop that
        // wakes the tracer's waitpid.
        let r = match &s.pidfd {
            // SAFETY: plain syscall on a descriptor we own.
            Some(fd) => unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGSTOP, std::ptr::null::<libc::siginfo_t>(), 0)
            },
            // SAFETY: plain syscall.
            None => unsafe { libc::kill(s.pid, libc::SIGSTOP) as libc::c_long },
        };
        if r == -1 {
            let errno = nix::errno::Errno::last();
            s.requested.store(false, Ordering::Release);
            if errno == nix::errno::Errno::ESRCH {
                return Ok(());
            }
            return Err(ProcError::Sys { op: "sending SIGSTOP", tid: s.pid, errno });
        }
        Ok(())
    }

    /// [`Interrupter::interrupt`] on the user's behalf (Ctrl-C, DAP pause):
    /// see [`Interrupter::take_user_request`].
    pub fn interrupt_for_user(&self) -> Result<(), ProcError> {
        self.shared.user.store(true, Ordering::Release);
        self.interrupt()
    }

    /// Whether the user asked for a stop since the last call (clears it).
    pub fn take_user_request(&self) -> bool {
        self.shared.user.swap(false, Ordering::AcqRel)
    }

    /// True while a request has been sent and not yet observed.
    pub fn is_pending(&self) -> bool {
        self.shared.is_requested()
    }
}

impl std::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupter").field("pid", &self.shared.pid).finish()
    }
}
