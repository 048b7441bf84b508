//! Cached builds of Go test programs.
//!
//! A program is built once per (source, Go version, flavor) per test process
//! (an in-process map of per-key mutexes) and at most once across concurrent
//! processes (an `fs2` exclusive lock on a `.lock` file next to the binary);
//! it is rebuilt only when a source file is newer than the binary.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use fs2::FileExt;

use crate::{repo_root, GoToolchain};

/// How a test program is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// `go build -gcflags=all=-N -l`: no optimizations, no inlining.
    Debug,
    /// `go build` with default flags: optimized, inlined, registers-based args.
    Optimized,
    /// `go build -ldflags=-s -w`: optimized, no symbol table, no DWARF.
    Stripped,
    /// `go test -c -gcflags=all=-N -l`: a test binary of the package.
    Test,
}

impl Flavor {
    /// Every flavor, for tests that iterate over all of them.
    pub const ALL: [Flavor; 4] = [Flavor::Debug, Flavor::Optimized, Flavor::Stripped, Flavor::Test];

    /// Directory name under `target/gotest/<version>/`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Debug => "debug",
            Flavor::Optimized => "optimized",
            Flavor::Stripped => "stripped",
            Flavor::Test => "test",
        }
    }

    fn go_args(self) -> &'static [&'static str] {
        match self {
            Flavor::Debug => &["build", "-gcflags=all=-N -l"],
            Flavor::Optimized => &["build"],
            Flavor::Stripped => &["build", "-ldflags=-s -w"],
            Flavor::Test => &["test", "-c", "-gcflags=all=-N -l"],
        }
    }
}

/// How every test program of this run is linked, on top of its [`Flavor`]:
/// the build modes users' programs come in. Chosen for a whole test run by
/// `STILLGO_BUILD` (`internal`, the default; `external`, `pie`, `race`), so
/// each suite runs unchanged on each (scripts/test.sh).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildMode {
    /// The Go linker, no cgo: what `go build` does for pure Go programs.
    Internal,
    /// `-ldflags=-linkmode=external`, cgo on: the system linker lays the
    /// binary out, as for every program with cgo code.
    External,
    /// `-buildmode=pie`: position independent, loaded at a random address.
    Pie,
    /// `-race`: the race runtime's C code and threads, cgo on.
    Race,
}

impl BuildMode {
    pub const ALL: [BuildMode; 4] = [BuildMode::Internal, BuildMode::External, BuildMode::Pie, BuildMode::Race];

    /// The mode of this test run (`STILLGO_BUILD`); panics on an unknown
    /// name rather than silently testing the default.
    pub fn current() -> BuildMode {
        match std::env::var("STILLGO_BUILD").as_deref() {
            Err(_) | Ok("") | Ok("internal") => BuildMode::Internal,
            Ok("external") => BuildMode::External,
            Ok("pie") => BuildMode::Pie,
            Ok("race") => BuildMode::Race,
            Ok(other) => panic!("STILLGO_BUILD={other}: expected internal, external, pie or race"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BuildMode::Internal => "internal",
            BuildMode::External => "external",
            BuildMode::Pie => "pie",
            BuildMode::Race => "race",
        }
    }

    fn cgo(self) -> bool {
        matches!(self, BuildMode::External | BuildMode::Race)
    }

    /// `go build` arguments of `flavor` in this mode (linker flags merged:
    /// a second `-ldflags` would replace the first).
    fn go_args(self, flavor: Flavor) -> Vec<String> {
        let mut args: Vec<String> = flavor.go_args().iter().map(|s| s.to_string()).collect();
        let extra_ld = match self {
            BuildMode::External => Some("-linkmode=external"),
            _ => None,
        };
        if let Some(ld) = extra_ld {
            match args.iter_mut().find(|a| a.starts_with("-ldflags=")) {
                Some(a) => *a = format!("{a} {ld}"),
                None => args.push(format!("-ldflags={ld}")),
            }
        }
        match self {
            BuildMode::Pie => args.push("-buildmode=pie".into()),
            BuildMode::Race => args.push("-race".into()),
            _ => {}
        }
        args
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `testdata/` directory at the repository root.
pub fn testdata_dir() -> PathBuf {
    repo_root().join("testdata")
}

/// Builds `testdata/<program>` (a directory holding a `go.mod`, or a single
/// `.go` file) with `tc` and `flavor`, into
/// `target/gotest/<version>/<flavor>/<program>`, and returns the binary path.
/// Panics with the compiler output when the build fails.
pub fn build(program: &str, tc: &GoToolchain, flavor: Flavor) -> PathBuf {
    let src = testdata_dir().join(program);
    if !src.exists() {
        panic!("test program {} does not exist", src.display());
    }
    let name = program.trim_end_matches('/').trim_end_matches(".go").replace('/', "__");
    build_at(&src, &name, tc, flavor)
}

/// Like [`build`] for Go sources outside `testdata/` (e.g. a crate's own
/// `tests/go/<prog>` directory or file). The output name is derived from the
/// path relative to the repository root, so distinct sources never collide.
pub fn build_path(src: &Path, tc: &GoToolchain, flavor: Flavor) -> PathBuf {
    let src = fs::canonicalize(src).unwrap_or_else(|e| panic!("Go source {}: {e}", src.display()));
    let root = fs::canonicalize(repo_root()).unwrap_or_else(|_| repo_root());
    let rel = src.strip_prefix(&root).unwrap_or(&src);
    let name: String = rel
        .to_string_lossy()
        .trim_end_matches(".go")
        .trim_start_matches('/')
        .replace('/', "__");
    build_at(&src, &name, tc, flavor)
}

/// Builds the C program `testdata/<program>/main.c` with the system `cc`
/// into `target/gotest/c/<program>` (a "not a Go program" for error tests).
pub fn build_c(program: &str) -> PathBuf {
    let src_dir = testdata_dir().join(program);
    let main_c = src_dir.join("main.c");
    let out = gotest_dir().join("c").join(program);
    let key = format!("c/{program}");
    with_build_lock(&key, &out, &src_dir, || {
        let output = Command::new("cc")
            .arg("-g")
            .arg("-O0")
            .arg("-o")
            .arg(&out)
            .arg(&main_c)
            .output()
            .unwrap_or_else(|e| panic!("cannot run cc (a C compiler is needed for {program}): {e}"));
        if !output.status.success() {
            panic!(
                "cc failed to build {}:\n{}{}",
                main_c.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    })
}

fn gotest_dir() -> PathBuf {
    repo_root().join("target").join("gotest")
}

fn build_at(src: &Path, name: &str, tc: &GoToolchain, flavor: Flavor) -> PathBuf {
    let mode = BuildMode::current();
    let dir = match mode {
        BuildMode::Internal => flavor.name().to_string(),
        m => format!("{}-{}", flavor.name(), m.name()),
    };
    let out = gotest_dir().join(&tc.version).join(&dir).join(name);
    let key = format!("{}/{dir}/{}", tc.version, src.display());
    with_build_lock(&key, &out, src, || run_go_build(src, &out, tc, flavor, mode))
}

/// Runs `build` at most once per `key` in this process, under a cross-process
/// file lock, and only when `out` is missing or older than the sources.
fn with_build_lock(key: &str, out: &Path, src: &Path, build: impl FnOnce()) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<String, Arc<Mutex<bool>>>>> = OnceLock::new();
    let slot = {
        let mut map = DONE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(key.to_string()).or_default())
    };
    // A panicking build (compile error) poisons the slot; later tests then
    // retry the build and report the same error themselves.
    let mut built = slot.lock().unwrap_or_else(|p| p.into_inner());
    if *built {
        return out.to_path_buf();
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let lock_path = sibling(out, ".lock");
    let lock = File::create(&lock_path).unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
    lock.lock_exclusive().unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    if is_stale(out, src) {
        build();
    }
    // Dropping `lock` closes the file and releases the flock.
    drop(lock);
    *built = true;
    out.to_path_buf()
}

fn run_go_build(src: &Path, out: &Path, tc: &GoToolchain, flavor: Flavor, mode: BuildMode) {
    let (dir, target) = if src.is_dir() {
        (src.to_path_buf(), ".".to_string())
    } else {
        let dir = src.parent().unwrap_or(Path::new(".")).to_path_buf();
        let file = src.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        (dir, file)
    };
    // Build into a temporary name and rename, so a concurrent reader never
    // sees a half-written binary (the rename is atomic within a directory).
    let tmp = sibling(out, &format!(".tmp{}", std::process::id()));
    let mut cmd = go_command(tc);
    cmd.current_dir(&dir).args(mode.go_args(flavor)).arg("-o").arg(&tmp).arg(&target);
    if mode.cgo() || needs_cgo(&dir) {
        cmd.env("CGO_ENABLED", "1");
    }
    let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", tc.go_bin().display()));
    if !output.status.success() {
        let _ = fs::remove_file(&tmp);
        panic!(
            "building {} with go{} ({flavor}, {} build) failed:\n$ {:?}\n{}{}",
            src.display(),
            tc.version,
            mode.name(),
            cmd,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    fs::rename(&tmp, out).unwrap_or_else(|e| panic!("rename {} -> {}: {e}", tmp.display(), out.display()));
}

/// A `go` command of `tc` with a hermetic environment: the local toolchain
/// only (`GOTOOLCHAIN=local`, no download), caches under `target/`, no cgo,
/// no VCS stamping (CI clones may lack a usable git) and no user `go env`.
pub fn go_command(tc: &GoToolchain) -> Command {
    let root = repo_root();
    let target = root.join("target");
    let mut cmd = Command::new(tc.go_bin());
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![tc.goroot.join("bin")];
    paths.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(paths).unwrap_or(path))
        .env_remove("GOROOT")
        .env_remove("GOBIN")
        .env_remove("GOOS")
        .env_remove("GOARCH")
        .env_remove("GOEXPERIMENT")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod -buildvcs=false")
        .env("GOWORK", "off")
        .env("GOENV", "off")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", target.join("gocache").join(&tc.version))
        .env("GOPATH", target.join("gopath"));
    cmd
}

/// Whether the program in `dir` needs cgo: one of its files has C code
/// (`import "C"`) or says its dependencies do (a `//stillgo:cgo` line).
fn needs_cgo(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "go")).any(|e| {
        fs::read_to_string(e.path()).is_ok_and(|s| s.lines().any(|l| matches!(l.trim(), "import \"C\"" | "//stillgo:cgo")))
    })
}

/// `out` with `suffix` appended to its file name (not `with_extension`,
/// which would cut program names containing a dot).
fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// True when `out` is missing or some file under `src` is newer than it.
fn is_stale(out: &Path, src: &Path) -> bool {
    let built = match fs::metadata(out).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => return true,
    };
    newest_mtime(src).is_some_and(|t| t > built)
}

fn newest_mtime(p: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(p).ok()?;
    let mut newest = meta.modified().ok();
    if meta.is_dir() {
        for entry in fs::read_dir(p).ok()?.flatten() {
            if let Some(t) = newest_mtime(&entry.path()) {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn staleness_follows_source_mtimes() {
        let dir = repo_root().join("target").join("testkit-tmp").join(format!("stale-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        let src = dir.join("sub").join("a.go");
        let out = dir.join("bin");
        fs::write(&src, "package main\n").unwrap();
        assert!(is_stale(&out, &dir), "a missing binary is stale");
        fs::write(&out, "").unwrap();
        let now = SystemTime::now();
        File::options().write(true).open(&out).unwrap().set_modified(now).unwrap();
        for p in [&src, &dir.join("sub"), &dir] {
            File::open(p).unwrap().set_modified(now - Duration::from_secs(60)).unwrap();
        }
        assert!(!is_stale(&out, &dir), "older sources: up to date");
        File::options().write(true).open(&src).unwrap().set_modified(now + Duration::from_secs(60)).unwrap();
        assert!(is_stale(&out, &dir), "a newer file in a subdirectory makes it stale");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn build_modes_merge_linker_flags() {
        assert_eq!(BuildMode::External.go_args(Flavor::Stripped), ["build", "-ldflags=-s -w -linkmode=external"]);
        assert_eq!(BuildMode::External.go_args(Flavor::Debug), ["build", "-gcflags=all=-N -l", "-ldflags=-linkmode=external"]);
        assert_eq!(BuildMode::Pie.go_args(Flavor::Optimized), ["build", "-buildmode=pie"]);
        assert_eq!(BuildMode::Race.go_args(Flavor::Test), ["test", "-c", "-gcflags=all=-N -l", "-race"]);
        assert_eq!(BuildMode::Internal.go_args(Flavor::Optimized), ["build"]);
    }

    #[test]
    fn flavor_names_are_distinct() {
        let names: std::collections::HashSet<_> = Flavor::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Flavor::ALL.len());
    }
}
