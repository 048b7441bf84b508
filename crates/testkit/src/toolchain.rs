//! The Go toolchains under test.

use std::path::{Path, PathBuf};

use crate::repo_root;

/// Versions tested when `STILLGO_GO_VERSIONS` is unset: the oldest supported
/// release, a middle one and the newest (same default as `scripts/install-go.sh`).
pub const DEFAULT_VERSIONS: &[&str] = &["1.22.10", "1.24.11", "1.27.3"];

/// Every supported version (`STILLGO_GO_VERSIONS=all`, `scripts/install-go.sh all`).
pub const ALL_VERSIONS: &[&str] = &["1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3"];

/// One installed Go toolchain, `target/toolchains/go<version>/go`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GoToolchain {
    /// Full version without the `go` prefix, e.g. `1.24.11`.
    pub version: String,
    /// The toolchain's GOROOT (contains `bin/go`).
    pub goroot: PathBuf,
}

impl GoToolchain {
    /// The toolchain's own `go` command.
    pub fn go_bin(&self) -> PathBuf {
        self.goroot.join("bin").join("go")
    }

    /// `(major, minor)`, e.g. `(1, 24)` for `1.24.11`, for version-dependent
    /// test expectations (`tc.minor() >= 24` — Swiss-table maps, etc.).
    pub fn major_minor(&self) -> (u32, u32) {
        let mut it = self.version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }

    /// The minor version: `24` for `1.24.11`.
    pub fn minor(&self) -> u32 {
        self.major_minor().1
    }
}

impl std::fmt::Display for GoToolchain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "go{}", self.version)
    }
}

/// The toolchain of one version; panics (so the test fails, never skips)
/// when it is not installed.
pub fn toolchain(version: &str) -> GoToolchain {
    let version = version.trim().trim_start_matches("go").to_string();
    let goroot = toolchains_dir().join(format!("go{version}")).join("go");
    let tc = GoToolchain { version, goroot };
    check_installed(&tc);
    tc
}

/// The versions under test: env `STILLGO_GO_VERSIONS` (comma-separated
/// versions such as `1.22.10,1.27.3`, or `all`), else [`DEFAULT_VERSIONS`].
/// Panics with instructions when one of them is not installed.
pub fn go_versions() -> Vec<GoToolchain> {
    let env = std::env::var("STILLGO_GO_VERSIONS").ok();
    parse_versions(env.as_deref()).iter().map(|v| toolchain(v)).collect()
}

/// The version list a `STILLGO_GO_VERSIONS` value selects.
fn parse_versions(env: Option<&str>) -> Vec<String> {
    match env.map(str::trim) {
        Some("all") => ALL_VERSIONS.iter().map(|s| s.to_string()).collect(),
        Some(v) if !v.is_empty() => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => DEFAULT_VERSIONS.iter().map(|s| s.to_string()).collect(),
    }
}

fn toolchains_dir() -> PathBuf {
    repo_root().join("target").join("toolchains")
}

fn check_installed(tc: &GoToolchain) {
    let go = tc.go_bin();
    if !is_executable(&go) {
        panic!(
            "Go toolchain {} is not installed (expected {}).\n\
             Install it with:  scripts/install-go.sh {}\n\
             (or `scripts/install-go.sh all`, or run the whole suite with `scripts/test.sh`)",
            tc.version,
            go.display(),
            tc.version
        );
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_selection() {
        assert_eq!(parse_versions(None), DEFAULT_VERSIONS);
        assert_eq!(parse_versions(Some("")), DEFAULT_VERSIONS);
        assert_eq!(parse_versions(Some("all")), ALL_VERSIONS);
        assert_eq!(parse_versions(Some(" 1.23.9, 1.26.6 ,")), ["1.23.9", "1.26.6"]);
    }

    #[test]
    fn installed_toolchain() {
        let tc = toolchain("go1.24.11");
        assert_eq!(tc.version, "1.24.11");
        assert_eq!(tc.major_minor(), (1, 24));
        assert!(tc.go_bin().ends_with("target/toolchains/go1.24.11/go/bin/go"));
        assert_eq!(tc.to_string(), "go1.24.11");
    }

    #[test]
    #[should_panic(expected = "scripts/install-go.sh 1.0.99")]
    fn missing_toolchain_panics_with_instructions() {
        toolchain("1.0.99");
    }
}
