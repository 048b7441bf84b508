//! Call resolution: from `f(args)` in a frame to what the program must
//! run. Nothing here runs program code: the session hands the result to
//! `stillgo-world`, which does.
//!
//! * [`resolve`]: the callee (function, method, interface method, closure,
//!   method value), the argument bytes, the heap objects they need (string
//!   literals...), as a [`Prepared`] call.
//! * `signature.rs`: the [`Resolver`], function signatures and type names.
//! * [`generic`]: generic functions and methods (shape instantiations and
//!   their dictionaries).
//! * [`nested`]: calls nested in an expression (`f(g(1)) + 1`), run
//!   innermost first through a [`CallRunner`] the session provides.

pub mod generic;
pub mod nested;
pub mod resolve;
mod signature;

pub use nested::{run_calls, CallRunner, CallValue, Outcome};
pub use resolve::{pointer_rtype, prepare, Prepared};
pub use signature::Resolver;

/// Why a call could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Eval(#[from] crate::EvalError),
    #[error("{0}")]
    Runtime(#[from] stillgo_runtime::RuntimeError),
    #[error("{0}")]
    Memory(#[from] stillgo_proc::MemoryError),
    /// The callee does not exist in the binary.
    #[error("could not find function {0} (not in the binary: unused functions are removed by the linker, and inlined ones have no body to call)")]
    UnknownFunction(String),
    /// The call itself is malformed (argument count or types, nil callee).
    #[error("{0}")]
    BadCall(String),
    /// Refused by the debugger: the call could corrupt the program (an
    /// argument pointing into the goroutine's stack without `-unsafe`).
    #[error("{0}")]
    Refused(String),
    /// The ABI assignment failed (a type the debugger cannot lay out).
    #[error("cannot pass arguments: {0}")]
    Abi(String),
}

impl From<stillgo_world::CallError> for ResolveError {
    fn from(e: stillgo_world::CallError) -> Self {
        match e {
            stillgo_world::CallError::Abi(m) => ResolveError::Abi(m),
            stillgo_world::CallError::Runtime(e) => ResolveError::Runtime(e),
            stillgo_world::CallError::Memory(e) => ResolveError::Memory(e),
            other => ResolveError::BadCall(other.to_string()),
        }
    }
}
