//! The frozen world: injected calls during which no other user goroutine
//! runs (issue 4; docs/frozen-world.md describes the protocol and the
//! runtime facts per Go version, `stillgo_runtime::versions` keeps them).
//!
//! ```text
//!   freeze:  sched.disable.user = true            (schedule() parks user gs in
//!                                                   sched.disable.runnable)
//!            RET at schedEnableUser, checkdead    (GC's re-enable; deadlock throw)
//!            repeat until no thread runs a user goroutine:
//!              g.preempt = true, g.stackguard0 = stackPreempt
//!              thread in user code     -> SIGURG (async preemption, before
//!                                         it executes another instruction)
//!              thread in runtime code  -> breakpoint at the return address
//!                                         into user code, then SIGURG there
//!              let the other threads run a moment, stop them, look again
//!   call:    injected as usual (CallHooks): every thread runs, but only the
//!            call's goroutine (a system goroutine: runtime.debugCallWrap1)
//!            and the runtime's own goroutines are scheduled.
//!            watchdog: a call waiting (gopark) for a second is reported
//!            (wait reason, user frame); the handler thaws or keeps waiting.
//!   thaw:    with every thread stopped and sched.lock free: splice
//!            sched.disable.runnable onto the global run queue (what
//!            schedEnableUser(true) does), disable.user = false, original
//!            code back, freezer breakpoints removed.
//! ```
//!
//! Every path out of a freeze must thaw: [`Freezer::thaw`] is what callers
//! run on success and on error alike (it only writes memory, so it works
//! whenever the process is alive and stopped).
//!
//! # Files, by protocol step (docs/frozen-world.md)
//!
//! | step | file |
//! |---|---|
//! | facts, state, reports, shared mechanisms | `state.rs` |
//! | freeze: disable user scheduling, patch, quiesce rounds | `quiesce.rs` |
//! | what each thread and goroutine needs, one round | `scan.rs` |
//! | carrying it out; the freezer's breakpoint hits | `apply.rs` |
//! | catch points of goroutines let through the runtime | `catch.rs` |
//! | exemptions and the call's family (startpc overrides) | `exempt.rs` |
//! | the call or step in the frozen world, the watchdog | `frozen_call.rs` |
//! | thaw | `thaw.rs` |
//! | debugging aids | `trace.rs` |
//!
//! Files depend on each other in that order, bottom up: `state.rs` on
//! nothing, `exempt.rs` and `catch.rs` on the state, `scan.rs` on those,
//! `apply.rs` on the scan, `thaw.rs` and `trace.rs` on what is below them,
//! `quiesce.rs` and `frozen_call.rs` on everything. No file imports from
//! this one.

mod apply;
mod catch;
mod exempt;
mod frozen_call;
mod quiesce;
mod scan;
mod state;
mod thaw;
mod trace;

pub use frozen_call::{FrozenCall, FrozenStep};
pub use state::{Blocked, BlockedChoice, FreezeError, FreezeFacts, FreezeReport, Freezer, BLOCKED_AFTER};
