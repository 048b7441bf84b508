//! Errors returned when opening or decoding a Go executable.

use std::path::PathBuf;

/// Why a file could not be opened as a Go program.
///
/// The `Display` texts are meant to be shown to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    /// The path does not exist.
    #[error("{}: no such file", .0.display())]
    NotFound(PathBuf),
    /// The path exists but could not be read or mapped.
    #[error("{}: cannot read: {source}", path.display())]
    NotReadable {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ELF file.
    #[error("{} is not an ELF executable", .0.display())]
    NotElf(PathBuf),
    /// The file is ELF but not for linux/amd64.
    #[error("{} is not an x86-64 (amd64) executable; stillgo debugs linux/amd64 programs only", .0.display())]
    NotAmd64(PathBuf),
    /// The file is an amd64 ELF but was not built by the Go toolchain.
    #[error("{} is not a Go program (no .gopclntab / Go build info); stillgo debugs Go programs only", .0.display())]
    NotGo(PathBuf),
    /// The Go toolchain that built the program is not supported.
    #[error("{} was built by {found}; stillgo supports {}", path.display(), crate::SUPPORTED_GO)]
    UnsupportedGoVersion {
        /// The program.
        path: PathBuf,
        /// The version found (a version string, or a description of the pclntab format).
        found: String,
    },
    /// The file claims to be a Go program but its tables are malformed.
    #[error("{}: corrupt Go executable: {detail}", path.display())]
    Corrupt {
        /// The program.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}
