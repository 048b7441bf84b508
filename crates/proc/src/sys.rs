//! Thin, typed wrappers over the raw Linux calls the backend needs
//! (ptrace, waitpid, tgkill). Everything here is a single system call; the
//! policy lives in `process.rs`.

use nix::errno::Errno;

use crate::Tid;

/// `PTRACE_EVENT_*` codes, from `include/uapi/linux/ptrace.h`.
pub(crate) const EVENT_CLONE: i32 = libc::PTRACE_EVENT_CLONE;
pub(crate) const EVENT_EXEC: i32 = libc::PTRACE_EVENT_EXEC;
pub(crate) const EVENT_STOP: i32 = libc::PTRACE_EVENT_STOP;

/// `si_code` of a SIGTRAP raised by `int3` on x86 (`do_int3` sends
/// `SI_KERNEL`), and of a single-step trap (`TRAP_TRACE`).
pub(crate) const SI_KERNEL: i32 = 0x80;
pub(crate) const TRAP_TRACE: i32 = 2;

/// A decoded `waitpid` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The task exited with this code.
    Exited(i32),
    /// The task was killed by this signal.
    Signaled(i32),
    /// Signal-delivery-stop: the task is about to receive this signal.
    SignalStop(i32),
    /// `PTRACE_EVENT_*` stop: (event, signal as reported in WSTOPSIG).
    Event(i32, i32),
    /// Syscall-stop (we never ask for them; tolerated).
    Syscall,
    /// Anything else (`WIFCONTINUED`...).
    Other,
}

pub(crate) fn decode(status: i32) -> Status {
    if libc::WIFEXITED(status) {
        Status::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Status::Signaled(libc::WTERMSIG(status))
    } else if libc::WIFSTOPPED(status) {
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        if event != 0 {
            Status::Event(event, sig)
        } else if sig == (libc::SIGTRAP | 0x80) {
            Status::Syscall
        } else {
            Status::SignalStop(sig)
        }
    } else {
        Status::Other
    }
}

/// Waits for any tracee or child **of the calling thread** (`__WNOTHREAD`):
/// ptrace attaches tracees to a thread, and without this flag a
/// multi-threaded debugger (or test harness) would steal the wait statuses
/// of processes traced from its other threads.
pub(crate) fn wait_any() -> Result<(Tid, Status), Errno> {
    wait_for(-1)
}

/// Like `wait_any`, but returns `None` at once if no status is available.
pub(crate) fn wait_any_nohang() -> Result<Option<(Tid, Status)>, Errno> {
    loop {
        let mut status = 0;
        // SAFETY: plain syscall with a valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD | libc::WNOHANG) };
        if r > 0 {
            return Ok(Some((r, decode(status))));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// Waits for one particular task (or -1 for any), all kinds (`__WALL`).
pub(crate) fn wait_for(tid: Tid) -> Result<(Tid, Status), Errno> {
    loop {
        let mut status = 0;
        // SAFETY: plain syscall with a valid out-pointer.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::__WNOTHREAD) };
        if r > 0 {
            return Ok((r, decode(status)));
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

fn check(r: libc::c_long) -> Result<libc::c_long, Errno> {
    if r == -1 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// `ptrace(req, tid, addr, data)`.
///
/// # Safety
/// `addr` and `data` must be what `req` expects (valid pointers for the
/// register and siginfo requests).
unsafe fn raw(req: libc::c_uint, tid: Tid, addr: usize, data: usize) -> Result<libc::c_long, Errno> {
    Errno::clear();
    // SAFETY: forwarded to the caller's contract.
    check(unsafe { libc::ptrace(req, tid, addr as *mut libc::c_void, data as *mut libc::c_void) })
}

pub(crate) fn seize(tid: Tid, options: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(libc::PTRACE_SEIZE, tid, 0, options as usize) }.map(drop)
}

pub(crate) fn interrupt(tid: Tid) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(libc::PTRACE_INTERRUPT, tid, 0, 0) }.map(drop)
}

pub(crate) fn cont(tid: Tid, sig: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(libc::PTRACE_CONT, tid, 0, sig as usize) }.map(drop)
}

pub(crate) fn step(tid: Tid, sig: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(libc::PTRACE_SINGLESTEP, tid, 0, sig as usize) }.map(drop)
}

pub(crate) fn detach(tid: Tid, sig: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    unsafe { raw(libc::PTRACE_DETACH, tid, 0, sig as usize) }.map(drop)
}

pub(crate) fn event_msg(tid: Tid) -> Result<u64, Errno> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: data points at a c_ulong, as PTRACE_GETEVENTMSG requires.
    unsafe { raw(libc::PTRACE_GETEVENTMSG, tid, 0, &mut msg as *mut _ as usize) }?;
    Ok(msg)
}

pub(crate) fn siginfo(tid: Tid) -> Result<libc::siginfo_t, Errno> {
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: data points at a siginfo_t, as PTRACE_GETSIGINFO requires.
    unsafe { raw(libc::PTRACE_GETSIGINFO, tid, 0, info.as_mut_ptr() as usize) }?;
    // SAFETY: zero-initialised POD filled by the kernel.
    Ok(unsafe { info.assume_init() })
}

/// Whether a kernel-generated SIGTRAP (an `int3` or a single-step trap)
/// waits in the thread's own pending queue: PTRACE_PEEKSIGINFO on the
/// per-thread queue (flags 0) copies siginfos without dequeuing them.
pub(crate) fn trap_pending(tid: Tid) -> Result<bool, Errno> {
    let mut args = libc::ptrace_peeksiginfo_args { off: 0, flags: 0, nr: 0 };
    let mut infos = [std::mem::MaybeUninit::<libc::siginfo_t>::zeroed(); 8];
    args.nr = infos.len() as i32;
    // SAFETY: addr points at the args struct, data at room for `nr`
    // siginfo_t records, as PTRACE_PEEKSIGINFO requires.
    let n = unsafe { raw(libc::PTRACE_PEEKSIGINFO, tid, &mut args as *mut _ as usize, infos.as_mut_ptr() as usize) }?;
    Ok(infos.iter().take(n.max(0) as usize).any(|i| {
        // SAFETY: zero-initialised POD, the first `n` filled by the kernel.
        let i = unsafe { i.assume_init_ref() };
        i.si_signo == libc::SIGTRAP && i.si_code > 0
    }))
}

pub(crate) fn get_regs(tid: Tid) -> Result<libc::user_regs_struct, Errno> {
    let mut regs = std::mem::MaybeUninit::<libc::user_regs_struct>::zeroed();
    // SAFETY: data points at a user_regs_struct.
    unsafe { raw(libc::PTRACE_GETREGS, tid, 0, regs.as_mut_ptr() as usize) }?;
    // SAFETY: zero-initialised POD filled by the kernel.
    Ok(unsafe { regs.assume_init() })
}

pub(crate) fn set_regs(tid: Tid, regs: &libc::user_regs_struct) -> Result<(), Errno> {
    // SAFETY: data points at a user_regs_struct the kernel only reads.
    unsafe { raw(libc::PTRACE_SETREGS, tid, 0, regs as *const _ as usize) }.map(drop)
}

pub(crate) fn get_fpregs(tid: Tid) -> Result<libc::user_fpregs_struct, Errno> {
    let mut regs = std::mem::MaybeUninit::<libc::user_fpregs_struct>::zeroed();
    // SAFETY: data points at a user_fpregs_struct.
    unsafe { raw(libc::PTRACE_GETFPREGS, tid, 0, regs.as_mut_ptr() as usize) }?;
    // SAFETY: zero-initialised POD filled by the kernel.
    Ok(unsafe { regs.assume_init() })
}

pub(crate) fn set_fpregs(tid: Tid, regs: &libc::user_fpregs_struct) -> Result<(), Errno> {
    // SAFETY: data points at a user_fpregs_struct the kernel only reads.
    unsafe { raw(libc::PTRACE_SETFPREGS, tid, 0, regs as *const _ as usize) }.map(drop)
}

/// Sends `sig` to one thread of `pid`.
pub(crate) fn tgkill(pid: i32, tid: Tid, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, sig) };
    check(r).map(drop)
}

pub(crate) fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    let r = unsafe { libc::kill(pid, sig) };
    check(r as libc::c_long).map(drop)
}

pub(crate) fn gettid() -> Tid {
    // SAFETY: plain syscall, cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as Tid }
}

/// Synchronous fault signals: raised by the faulting instruction itself, so
/// re-executing the instruction raises them again. Dropping one is safe,
/// re-sending one with `tgkill` is not (the Go runtime treats a SIGSEGV
/// "from user" as fatal instead of turning it into a panic:
/// `sighandler` in runtime/signal_unix.go checks `sigFromUser`).
pub(crate) fn is_sync_fault(sig: i32) -> bool {
    matches!(sig, libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL)
}
