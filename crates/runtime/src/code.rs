//! Whose code is this? One answer for every part of the debugger: stepping
//! (`step` enters user code only), stacks and goroutine listings (the
//! topmost user frame), the frozen world (runtime code is let through,
//! user code is frozen), call injection (the runtime refuses calls from
//! its own code), the DAP and terminal front ends (frames shown as
//! subtle, runtime goroutines hidden).
//!
//! Three owners, from the function's (logical, possibly inlined) name and,
//! when known, its source file:
//!
//! * **Runtime**: the Go runtime's packages as the runtime itself names
//!   them: `runtime.`, `runtime/internal/...` and `internal/runtime/...`
//!   (runtime/preempt.go `isAsyncSafePoint` lists these prefixes; the
//!   packages moved from `runtime/internal/` to `internal/runtime/` in
//!   1.23). Also runtime code published under another package's name with
//!   `//go:linkname` (`time.Sleep` is `runtime.timeSleep` in
//!   runtime/time.go, `sync.runtime_Semacquire` is in runtime/sema.go):
//!   told by its source file, directly in GOROOT's `src/runtime`.
//! * **Internal**: the standard library's other `internal/...` packages
//!   (`internal/poll`, `internal/sync`): library plumbing a Go developer
//!   neither steps into nor looks for in a stack, but ordinary Go code to
//!   the scheduler (preemptible, frozen like user code).
//! * **User**: everything else, the standard library's public packages
//!   included (`fmt`, `runtime/pprof`, `runtime/debug`: those are
//!   user-facing libraries, not the runtime).
//!
//! Goroutines are a different question, answered from their start function
//! the way the runtime's `isSystemGoroutine` does, which changed names
//! between versions: `versions::is_user_start_func` and
//! `versions::stopped_by_disabled_user_scheduling`.

use stillgo_binary::{Func, Pclntab};

/// Who a piece of code belongs to (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    User,
    Internal,
    Runtime,
}

/// The runtime's packages, by function name alone.
pub fn is_runtime_name(name: &str) -> bool {
    name.starts_with("runtime.") || name.starts_with("runtime/internal/") || name.starts_with("internal/runtime/")
}

/// `.../src/runtime/<file>.go`: a file of package runtime itself (not of a
/// subpackage such as runtime/pprof, whose functions are named by their
/// package anyway).
pub fn is_runtime_source(file: &str) -> bool {
    file.rsplit_once('/').is_some_and(|(dir, name)| dir.ends_with("/src/runtime") && name.ends_with(".go"))
}

/// The owner of function `name`, whose source is `file` when known.
pub fn owner(name: &str, file: Option<&str>) -> Owner {
    if is_runtime_name(name) || file.is_some_and(is_runtime_source) {
        Owner::Runtime
    } else if name.starts_with("internal/") {
        Owner::Internal
    } else {
        Owner::User
    }
}

/// Whether a frame (function `name`, source `file`) is the user's own code:
/// the frames `step` enters and stacks point at.
pub fn is_user(name: &str, file: Option<&str>) -> bool {
    owner(name, file) == Owner::User
}

/// The owner of the code at `pc` (in `f`): the innermost inlined function
/// decides, and the physical function counts too (runtime code inlined
/// into user code is runtime code, and so is anything in a runtime
/// function).
pub fn owner_at(pcln: &Pclntab, f: &Func, pc: u64) -> Owner {
    let file = pcln.line_for_pc(pc).map(|(file, _)| file);
    let outer = owner(&f.name, None);
    let inner = pcln.inline_stack(pc).first().map_or(outer, |c| owner(&c.func_name, None));
    if outer == Owner::Runtime || inner == Owner::Runtime || file.is_some_and(is_runtime_source) {
        Owner::Runtime
    } else {
        inner
    }
}

/// Whether the code at `pc` runs as the program's own code for the
/// scheduler (user or internal packages, not the runtime): what the frozen
/// world freezes, and where the runtime accepts an injected call.
pub fn runs_as_user(pcln: &Pclntab, f: &Func, pc: u64) -> bool {
    owner_at(pcln, f, pc) != Owner::Runtime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_by_name_and_file() {
        assert_eq!(owner("runtime.gopark", None), Owner::Runtime);
        assert_eq!(owner("runtime/internal/atomic.Load", None), Owner::Runtime);
        assert_eq!(owner("internal/runtime/maps.(*Map).Get", None), Owner::Runtime);
        assert_eq!(owner("internal/poll.(*FD).Read", None), Owner::Internal);
        assert_eq!(owner("main.main", Some("/x/main.go")), Owner::User);
        assert_eq!(owner("fmt.Println", Some("/go/src/fmt/print.go")), Owner::User);
        // Linknamed runtime code: named after its package, defined in the runtime.
        assert_eq!(owner("time.Sleep", Some("/go/src/runtime/time.go")), Owner::Runtime);
        assert_eq!(owner("time.Sleep", None), Owner::User);
        // runtime/pprof is a library that lives under src/runtime.
        assert_eq!(owner("runtime/pprof.StartCPUProfile", Some("/go/src/runtime/pprof/pprof.go")), Owner::User);
        assert!(is_user("main.f", None) && !is_user("internal/poll.(*FD).Read", None) && !is_user("runtime.main", None));
    }
}
