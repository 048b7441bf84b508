//! Ctrl-C while the program runs stops it (like Delve) instead of killing
//! the debugger. SIGINT's handler only writes a byte to a pipe; a thread
//! reading the pipe asks the current process to stop through its
//! `Interrupter` (all of which is safe outside a signal handler).

use std::sync::{Mutex, OnceLock};

use stillgo_proc::Interrupter;

static CURRENT: OnceLock<Mutex<Option<Interrupter>>> = OnceLock::new();
static mut PIPE_WRITE: i32 = -1;

extern "C" fn on_sigint(_: libc::c_int) {
    // SAFETY: write(2) is async-signal-safe; PIPE_WRITE is set before the
    // handler is installed and never changes afterwards.
    unsafe {
        let b = 1u8;
        libc::write(PIPE_WRITE, &b as *const u8 as *const libc::c_void, 1);
    }
}

/// Installs the SIGINT handler once.
pub fn install() {
    let slot = CURRENT.get_or_init(|| Mutex::new(None));
    let _ = slot;
    let mut fds = [0i32; 2];
    // SAFETY: plain libc calls with valid pointers.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return;
        }
        PIPE_WRITE = fds[1];
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
    let read_fd = fds[0];
    std::thread::spawn(move || loop {
        let mut b = 0u8;
        // SAFETY: reading one byte into a valid buffer.
        let n = unsafe { libc::read(read_fd, &mut b as *mut u8 as *mut libc::c_void, 1) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if let Some(m) = CURRENT.get() {
            if let Ok(g) = m.lock() {
                if let Some(i) = g.as_ref() {
                    let _ = i.interrupt_for_user();
                }
            }
        }
    });
}

/// Sets the process that Ctrl-C stops (None when nothing runs).
pub fn set_target(i: Option<Interrupter>) {
    if let Some(m) = CURRENT.get() {
        if let Ok(mut g) = m.lock() {
            *g = i;
        }
    }
}
