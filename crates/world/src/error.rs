//! Why an injected call could not be made or did not end normally.

use crate::freeze::FreezeError;

/// Why a call could not be made (or finished abnormally). Whatever the
/// error, the calling thread's registers and stack are restored when the
/// process is still alive (see [`crate::inject`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Runtime(#[from] stillgo_runtime::RuntimeError),
    #[error("{0}")]
    Proc(String),
    #[error("{0}")]
    Memory(#[from] stillgo_proc::MemoryError),
    /// The ABI assignment failed (a type the debugger cannot lay out).
    #[error("cannot pass arguments: {0}")]
    Abi(String),
    /// Refused before or by the runtime.
    #[error("{0}")]
    Refused(String),
    /// The protocol went off the rails.
    #[error("injected call failed: {0}")]
    Protocol(String),
    /// Building an argument in the program's heap failed (see [`crate::heap`]).
    #[error("{0}")]
    Heap(String),
    #[error("the program exited during the call (status {0})")]
    Exited(i32),
}

impl From<stillgo_proc::ProcError> for CallError {
    fn from(e: stillgo_proc::ProcError) -> Self {
        CallError::Proc(e.to_string())
    }
}

impl From<FreezeError> for CallError {
    fn from(e: FreezeError) -> Self {
        match e {
            FreezeError::Exited(c) => CallError::Exited(c),
            other => CallError::Refused(other.to_string()),
        }
    }
}

/// Explains the runtime's refusal strings (runtime/debugcall.go,
/// `debugCallSystemStack` ... `debugCallUnsafePoint`, and
/// `debugCallFrameTooLarge` in asm_amd64.s) with what the user can do.
pub fn explain_refusal(reason: &str) -> String {
    let hint = match reason {
        "executing on Go runtime stack" => "the goroutine is on the system stack; step out to user code first",
        "call from within the Go runtime" => "the goroutine is stopped inside the Go runtime; step out to user code first (stepout or a breakpoint in your code)",
        "call not at safe point" => "the goroutine is stopped at an instruction where the runtime cannot start a call; step to the next line first",
        "call from unknown function" => "the goroutine is stopped in code the runtime does not know (no Go function); step out to Go code first",
        "call frame too large" => "the arguments and results need more than 64 KiB of stack; pass smaller values (pointers)",
        _ => "",
    };
    if hint.is_empty() {
        format!("the runtime refused the call: {reason}")
    } else {
        format!("the runtime refused the call: {reason} ({hint})")
    }
}

#[cfg(test)]
mod tests {
    use super::explain_refusal;

    #[test]
    fn refusals_come_with_advice() {
        assert!(explain_refusal("call from within the Go runtime").contains("step out to user code first"));
        assert!(explain_refusal("call not at safe point").contains("step to the next line"));
        assert!(explain_refusal("executing on Go runtime stack").contains("system stack"));
        assert!(explain_refusal("call frame too large").contains("64 KiB"));
        assert_eq!(explain_refusal("something new"), "the runtime refused the call: something new");
    }
}
