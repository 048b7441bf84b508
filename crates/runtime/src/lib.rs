//! The Go runtime model: per-version layouts, goroutines, stacks, and Go
//! values read from a stopped process.
//!
//! All knowledge of differences between Go versions is in [`versions`].

pub mod code;
pub mod format;
pub mod goroutines;
pub mod maps;
pub mod native;
pub mod preempt;
pub mod stack;
pub mod value;
pub mod vars;
pub mod versions;

pub use format::Limits;
pub use goroutines::Goroutine;
pub use stack::{Frame, UnwindStart};
pub use value::{Loc, Reader, Value};
pub use versions::{GStatus, Layout};

use stillgo_proc::MemoryError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Memory(#[from] MemoryError),
    #[error("this program was built with {0}; stillgo supports {range}", range = stillgo_binary::SUPPORTED_GO)]
    UnsupportedVersion(String),
    #[error("runtime layout: {0}")]
    Layout(String),
    #[error("type information: {0}")]
    Type(String),
    #[error("corrupt runtime data: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Index(String),
    #[error("optimized away")]
    OptimizedAway,
    #[error("unavailable: {0}")]
    Unavailable(String),
}
