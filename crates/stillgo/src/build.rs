//! Building the program for `debug` and `test`: `go build` / `go test -c`
//! with optimizations and inlining off, into a temporary directory (or the
//! path the user chose) that is removed when the session ends.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What to remove when the build is no longer needed.
enum Cleanup {
    /// Our own temporary directory, with everything in it.
    Dir(PathBuf),
    /// Only the binary: the user chose where it goes, and the directory
    /// around it is theirs.
    File(PathBuf),
}

pub struct Built {
    pub binary: PathBuf,
    cleanup: Cleanup,
}

impl Drop for Built {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Cleanup::File(f) => {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

pub fn build(package: Option<&str>, extra_flags: Option<&str>, test: bool) -> Result<Built, String> {
    let flags = extra_flags.map(split_flags).unwrap_or_default();
    build_to(package, &flags, test, None)
}

/// Like [`build`], with the flags already split, writing the binary to
/// `output` when given (the DAP launch argument of the same name; removed
/// at the end, as Delve does). An `output` that names an existing
/// directory gets the binary inside it under the default name.
pub fn build_to(package: Option<&str>, flags: &[String], test: bool, output: Option<PathBuf>) -> Result<Built, String> {
    let default_name = if test { "debug.test" } else { "__debug_bin" };
    let built = match output.map(|p| absolute(&p)) {
        Some(p) if p.is_dir() => {
            let binary = p.join(default_name);
            Built { cleanup: Cleanup::File(binary.clone()), binary }
        }
        Some(binary) => {
            if let Some(parent) = binary.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(format!("output {}: directory {} does not exist", binary.display(), parent.display()));
                }
            }
            Built { cleanup: Cleanup::File(binary.clone()), binary }
        }
        None => {
            let dir = std::env::temp_dir().join(format!("stillgo-build-{}-{}", std::process::id(), nanos()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Built { binary: dir.join(default_name), cleanup: Cleanup::Dir(dir) }
        }
    };
    run_go(package, flags, test, &built.binary)?;
    Ok(built)
}

impl Built {
    /// Builds the program again into the same file (after a restart the
    /// user expects the sources as they are now, as a new `go build`
    /// would). The old program must not be running from it any more.
    pub fn rebuild(&self, package: Option<&str>, flags: &[String], test: bool) -> Result<(), String> {
        run_go(package, flags, test, &self.binary)
    }
}

fn run_go(package: Option<&str>, flags: &[String], test: bool, binary: &Path) -> Result<(), String> {
    let mut cmd = Command::new(std::env::var_os("STILLGO_GO").unwrap_or_else(|| "go".into()));
    if test {
        cmd.args(["test", "-c"]);
    } else {
        cmd.arg("build");
    }
    cmd.arg("-gcflags=all=-N -l").arg("-o").arg(binary);
    cmd.args(flags);
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
    Ok(())
}

/// `go` runs in the package directory: a relative output path must not
/// move with it (it is relative to the debugger's working directory).
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
}

/// Splits build flags the way a shell splits words: whitespace separates,
/// single and double quotes group (and are removed), so
/// `-tags=a,b -ldflags='-X main.version=1 -s'` is two flags. No escapes
/// and no expansion: nothing is run through a shell.
pub fn split_flags(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    // An unclosed quote runs to the end of the string.
    if in_word {
        out.push(cur);
    }
    out
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::split_flags;

    #[test]
    fn flags_split_like_shell_words() {
        assert_eq!(split_flags(""), Vec::<String>::new());
        assert_eq!(split_flags("  -race   -tags=a,b "), ["-race", "-tags=a,b"]);
        assert_eq!(split_flags("-ldflags='-X main.v=1 -s' -v"), ["-ldflags=-X main.v=1 -s", "-v"]);
        assert_eq!(split_flags(r#"-ldflags "-X 'a=b c'""#), ["-ldflags", "-X 'a=b c'"]);
        assert_eq!(split_flags("-tags=''"), ["-tags="]);
        assert_eq!(split_flags("''"), [""]);
        assert_eq!(split_flags("-x 'unclosed y"), ["-x", "unclosed y"]);
    }
}
