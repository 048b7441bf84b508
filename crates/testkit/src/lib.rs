//! Test-only helpers for stillgo's integration tests.
//!
//! * [`go_versions`]: the Go toolchains under test (`STILLGO_GO_VERSIONS`,
//!   default 1.22.10, 1.24.11, 1.27.3), installed by `scripts/install-go.sh`
//!   under `target/toolchains/`. A missing toolchain panics: tests fail, never skip.
//! * [`build`]: builds a program of `testdata/` once per Go version and
//!   [`Flavor`] into `target/gotest/<version>/<flavor>/<program>`
//!   ([`build_path`] for sources elsewhere, [`build_c`] for the C program).
//! * [`source_line`] / [`bp_line`]: the line of a `// BP:<name>` marker, so
//!   tests never hard-code line numbers.
//! * [`Session`], [`run_script`]: drive the real `stillgo` binary.
//!
//! Add it as a dev-dependency (`stillgo-testkit.workspace = true`). Typical use:
//!
//! ```no_run
//! use stillgo_testkit::{build, bp_line, go_versions, Flavor, Session};
//! for tc in go_versions() {
//!     let bin = build("hello", &tc, Flavor::Debug);
//!     let line = bp_line("hello", "main.go", "count");
//!     let mut s = Session::exec(&bin, &[]);
//!     s.send(&format!("break main.go:{line}"));
//!     let out = s.send("continue");
//!     assert!(out.contains("main.countWords"), "{tc}: {out}");
//! }
//! ```
//!
//! # The stillgo binary
//!
//! [`stillgo_bin`] finds `target/<profile>/stillgo` next to the running test
//! executable (or env `STILLGO_BIN`). Cargo builds it automatically only for
//! integration tests of the `stillgo` crate (which may equally pass
//! `env!("CARGO_BIN_EXE_stillgo")` via `STILLGO_BIN` or [`Session::start`]);
//! `scripts/test.sh` runs `cargo build --workspace --all-targets` first so it
//! exists for every crate's tests.
//!
//! # Prompt framing contract (CLI, non-interactive mode)
//!
//! When its standard input is not a terminal, `stillgo` (REPL of `exec`,
//! `debug`, `attach`, `test`, `core`):
//!
//! 1. prints the line `(stillgo) ` — the prompt followed by a newline,
//!    alone on its line — to **standard output**, flushed, each time it is
//!    about to read a command (so also once before the first command);
//! 2. prints nothing else between that line and reading the command;
//! 3. makes sure the prompt line starts at the beginning of a line (prints a
//!    newline first if the previous output, its own, did not end with one);
//! 4. exits at end of input (like `exit`), killing a launched debuggee.
//!
//! [`Session`] writes one command line, then reads standard output (with
//! standard error merged into it, in order, so error messages are part of
//! the reply) until it sees that exact line; what came before is the reply.
//! A debuggee launched by `exec` inherits these streams, so its output is
//! part of the reply of the command that let it run. Every wait has a
//! timeout ([`DEFAULT_TIMEOUT`], env `STILLGO_TEST_TIMEOUT_SECS`,
//! [`Session::set_timeout`]) that panics with the transcript so far.
//!
//! # Cleanup
//!
//! `stillgo` is started in a new process group; dropping the [`Session`]
//! (also while unwinding from a failed assertion) SIGKILLs the whole group.
//! The debugger sets `PTRACE_O_EXITKILL`, so a debuggee it moved to another
//! group dies with it.

mod gobuild;
mod session;
mod source;
mod toolchain;

pub use gobuild::{build, build_c, build_path, go_command, testdata_dir, BuildMode, Flavor};
pub use session::{
    default_timeout, run_command, run_script, stillgo_bin, stillgo_command, Session, DEFAULT_TIMEOUT,
    PROMPT_LINE,
};
pub use source::{bp_line, marker_lines, source_line, source_path};
pub use toolchain::{go_versions, toolchain, GoToolchain, ALL_VERSIONS, DEFAULT_VERSIONS};

use std::path::PathBuf;

/// The repository root (the workspace containing this crate).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // crates/testkit -> repository root.
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or(manifest)
}
