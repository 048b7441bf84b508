//! Waiting for the next event of a program the debugger is running code
//! in: every loop of the call protocol and of the freezer expects the
//! program to stay alive, and turns its end into its own error.

use stillgo_proc::{ProcError, Process, StopEvent, Tid};

/// The next event of the process; its end (exit or kill, as a shell
/// status: `StopEvent::exit_status`) becomes `ended(status)`.
pub(crate) fn wait_alive<E: From<ProcError>>(proc: &mut Process, ended: fn(i32) -> E) -> Result<StopEvent, E> {
    alive(proc.wait()?, ended)
}

/// One instruction on thread `tid` (the others stopped), as
/// [`wait_alive`] treats the end of the process.
pub(crate) fn step_alive<E: From<ProcError>>(proc: &mut Process, tid: Tid, ended: fn(i32) -> E) -> Result<StopEvent, E> {
    alive(proc.single_step(tid)?, ended)
}

fn alive<E>(ev: StopEvent, ended: fn(i32) -> E) -> Result<StopEvent, E> {
    match ev.exit_status() {
        Some(status) => Err(ended(status)),
        None => Ok(ev),
    }
}
