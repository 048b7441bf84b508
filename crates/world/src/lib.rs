//! Running program code while the world stands still.
//!
//! This crate runs functions of the stopped program (injected calls through
//! the runtime's `runtime.debugCallV2` protocol) and, around them, keeps
//! every other user goroutine from running: the frozen world, which is why
//! stillgo exists (docs/frozen-world.md is its design record). It knows the
//! Go runtime through `stillgo-runtime` (every per-version fact lives in
//! `stillgo_runtime::versions`) and the process through `stillgo-proc`; it
//! knows nothing of Go expressions: the caller (`stillgo-session`, with
//! `stillgo-eval` resolving what to call) hands it a [`CallSpec`] and its
//! [`FrameLayout`].
//!
//! # API structure
//!
//! One `call x.String()`, from the session's point of view:
//!
//! | step | what | where |
//! |---|---|---|
//! | 1 | a [`Caller`] for the thread the call runs on; [`Caller::frozen`] adds a freezer | [`caller`] |
//! | 2 | freeze: `sched.disable.user`, RET patches on `schedEnableUser`/`checkdead`, preemption rounds | [`freeze`] (`mod.rs`: the loop; `scan.rs`: what each thread and goroutine needs) |
//! | 3 | goroutines inside the runtime are exempted until they return to user code, caught there | `freeze/exempt.rs`, `freeze/catch.rs` |
//! | 4 | heap objects for the arguments (mallocgc, makemap, mapassign), each an injected call | [`heap`] |
//! | 5 | the argument frame: which registers and stack slots (ABIInternal) | [`abi`] |
//! | 6 | the debugCallV2 state machine on the thread, driven by its INT3 traps | [`inject`] |
//! | 7 | events of other threads during the call, the blocked-call watchdog | [`hooks`] (the extension points), `freeze/frozen_call.rs` (the freezer's) |
//! | 8 | thaw: run queues spliced back, patches and breakpoints removed, on every path | `freeze/thaw.rs`, [`Caller::finish`] |
//! | - | debug logs of goroutines that moved while frozen | `freeze/trace.rs` |
//!
//! A frozen step (`next` with `config freeze-steps on`) uses steps 2, 3, 7
//! and 8 around the session's stepping loop: [`freeze::FrozenStep`].
//!
//! Every path out of a freeze thaws; errors are typed ([`CallError`],
//! [`freeze::FreezeError`]) so the front ends can tell "the call failed"
//! from "the program may stay frozen".

pub mod abi;
pub mod caller;
mod error;
mod events;
pub mod freeze;
pub mod heap;
pub mod hooks;
pub mod inject;
mod race;

pub use abi::{layout, Assign, FrameLayout, Reg, RegPiece};
pub use caller::Caller;
pub use error::{explain_refusal, CallError};
pub use freeze::{Blocked, BlockedChoice, FreezeError, FreezeFacts, FreezeReport};
pub use heap::{Alloc, MapInit, PreparedCall};
pub use hooks::{CallHooks, EventAction, RunAll};
pub use inject::{inject, inject_with, ArgValue, CallEnv, CallOutcome, CallResult, CallSpec, MAX_ROOTS};
