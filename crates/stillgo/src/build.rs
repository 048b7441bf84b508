//! Building the program for `debug` and `test`: `go build` / `go test -c`
//! with optimizations and inlining off, into a temporary directory that is
//! removed when the session ends.

use std::path::PathBuf;
use std::process::Command;

pub struct Built {
    pub binary: PathBuf,
    /// What to remove at the end: our temporary directory, or only the
    /// binary when the caller chose where it goes.
    cleanup: PathBuf,
}

impl Drop for Built {
    fn drop(&mut self) {
        if self.cleanup.is_dir() {
            let _ = std::fs::remove_dir_all(&self.cleanup);
        } else {
            let _ = std::fs::remove_file(&self.cleanup);
        }
    }
}

pub fn build(package: Option<&str>, extra_flags: Option<&str>, test: bool) -> Result<Built, String> {
    build_to(package, extra_flags, test, None)
}

/// Like [`build`], writing the binary to `output` when given (the DAP
/// launch argument of the same name; removed at the end, as Delve does).
pub fn build_to(package: Option<&str>, extra_flags: Option<&str>, test: bool, output: Option<PathBuf>) -> Result<Built, String> {
    let built = match output {
        Some(binary) => Built { cleanup: binary.clone(), binary },
        None => {
            let dir = std::env::temp_dir().join(format!("stillgo-build-{}-{}", std::process::id(), nanos()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Built { binary: dir.join(if test { "debug.test" } else { "__debug_bin" }), cleanup: dir }
        }
    };
    let binary = built.binary.clone();
    let mut cmd = Command::new(std::env::var_os("STILLGO_GO").unwrap_or_else(|| "go".into()));
    if test {
        cmd.args(["test", "-c"]);
    } else {
        cmd.arg("build");
    }
    cmd.arg("-gcflags=all=-N -l").arg("-o").arg(&binary);
    if let Some(f) = extra_flags {
        cmd.args(f.split_whitespace());
    }
    // A directory is built from inside it, so a directory with its own
    // go.mod (a separate module) builds as well as a package of the
    // current module.
    match package {
        Some(p) if std::path::Path::new(p).is_dir() => {
            cmd.current_dir(p).arg(".");
        }
        Some(p) => {
            cmd.arg(p);
        }
        None => {
            cmd.arg(".");
        }
    }
    let out = cmd.output().map_err(|e| format!("cannot run go build (is Go on PATH?): {e}"))?;
    if !out.status.success() {
        return Err(format!("go build failed:\n{}", String::from_utf8_lossy(&out.stderr).trim_end()));
    }
    if !binary.exists() {
        return Err("go build produced no binary (a package without main? `stillgo test` for tests)".into());
    }
    Ok(built)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}
