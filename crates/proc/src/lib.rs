//! OS process control: ptrace, threads, memory, breakpoints.
pub mod memory;
pub use memory::{Memory, MemoryError};
