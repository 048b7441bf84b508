//! OS process control: ptrace, threads, memory, breakpoints.
//!
//! One [`Process`] per traced program (Linux x86-64): launch or attach,
//! registers, bulk memory access with breakpoints hidden, software
//! breakpoints, stop-all `wait`, single-stepping, signals passed through
//! according to a [`SignalPolicy`], detach and kill.
pub mod maps;
pub mod memory;

mod error;
mod interrupt;
mod launch;
mod mem;
mod process;
mod regs;
pub mod sigframe;
mod signals;
mod sys;

pub use error::ProcError;
pub use interrupt::Interrupter;
pub use launch::{auxv_entry, ChildPipes, LaunchOptions, StdioMode};
pub use maps::{maps, Mapping};
pub use memory::{Memory, MemoryError};
pub use process::{Process, ResumeMode, StopEvent, Tid};
pub use regs::{FpRegisters, Registers};
pub use signals::SignalPolicy;
