//! The extension points of the call protocol loop ([`crate::inject`]): how
//! a caller that controls the rest of the process while a call runs (the
//! frozen world, [`crate::freeze::FrozenCall`]) takes part in it.

use stillgo_proc::{Process, ResumeMode, StopEvent, Tid};

use crate::CallError;

/// What to do with an event that is not one of the call's protocol traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// Resume and keep waiting for the call (the default for breakpoint
    /// hits and traps of other goroutines, signals and interrupts).
    Continue,
}

/// Extension points of the protocol loop, for callers that control the
/// rest of the process while a call runs (the frozen-world machinery:
/// which threads run, breakpoints of its own on runtime functions, a
/// watchdog that interrupts a call blocked on frozen goroutines).
pub trait CallHooks {
    /// Threads to resume each time the loop lets the call run. `call_tid`
    /// must be among them.
    fn resume_mode(&mut self, _call_tid: Tid) -> ResumeMode {
        ResumeMode::All
    }

    /// An event that is not a protocol trap of the call's thread. Runs with
    /// every thread stopped; may change the process (e.g. handle its own
    /// breakpoint) before the loop resumes.
    fn foreign_event(&mut self, _proc: &mut Process, _ev: &StopEvent) -> Result<EventAction, CallError> {
        Ok(EventAction::Continue)
    }

    /// The call's own goroutine exists (FRAME_READY): `call_g` is its
    /// `runtime.g` (R14, ABIInternal's fixed g register, in the
    /// `debugCallNN` frame running on the goroutine `debugCallWrap`
    /// created). Lets a freezer tell the call's goroutine from the others.
    fn call_started(&mut self, _proc: &mut Process, _call_g: u64) -> Result<(), CallError> {
        Ok(())
    }
}

/// The default: every thread runs during the call; other events are
/// stepped over (see the module documentation).
pub struct RunAll;

impl CallHooks for RunAll {}

