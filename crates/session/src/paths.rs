//! Source paths: where the file a binary names is on this machine.
//!
//! A binary names its sources as the compiler saw them: absolute paths
//! normally; with `-trimpath` (release builds, reproducible builds, most
//! container images) `example.com/app/main.go` for the main module,
//! `fmt/print.go` for the standard library and
//! `golang.org/x/text@v0.14.0/width/width.go` for dependencies; and
//! absolute paths of another machine when it was built elsewhere.
//!
//! Rules, in order (the first file that exists wins):
//! 1. the user's substitutions (`config substitute-path FROM TO`, DAP
//!    `substitutePath`): a path starting with FROM starts with TO instead,
//!    as Delve's `substitute-path` does;
//! 2. a relative path in the main module (its module path from the build
//!    info): under the directory holding that module's `go.mod`, searched
//!    from the working directory and the binary's directory up;
//! 3. a relative `module@version/...` path: in the module cache (`go env
//!    GOMODCACHE`);
//! 4. a relative path of the standard library: under `go env GOROOT`/src;
//! 5. the path as the binary names it.
//!
//! The reverse mapping (a path the user or the editor gives, to the name in
//! the binary) applies the substitutions backwards; breakpoints on a file
//! also match by path suffix, which covers trimmed names.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the sources of one program are (see the module documentation).
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    /// (from, to): paths in the binary starting with `from` are at `to`.
    pub substitutions: Vec<(String, String)>,
    /// Module path of the main module (`example.com/app`).
    main_module: Option<String>,
    /// Directories to look for the main module's `go.mod` from.
    search_from: Vec<PathBuf>,
}

impl SourceMap {
    pub fn new(main_module: Option<String>, binary: &Path) -> SourceMap {
        let mut search_from = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            search_from.push(cwd);
        }
        if let Some(dir) = binary.parent() {
            search_from.push(dir.to_path_buf());
        }
        SourceMap { substitutions: Vec::new(), main_module, search_from }
    }

    /// Looks for the main module from `dir` too (a launch's working
    /// directory or package, which an editor knows and the debugger's own
    /// working directory may not be).
    pub fn also_search(&mut self, dir: PathBuf) {
        if !self.search_from.contains(&dir) {
            self.search_from.insert(0, dir);
        }
    }

    /// `config substitute-path FROM TO`; an empty `to` removes the rule for `from`.
    pub fn substitute(&mut self, from: &str, to: &str) {
        self.substitutions.retain(|(f, _)| f != from);
        if !to.is_empty() {
            self.substitutions.push((from.to_string(), to.to_string()));
        }
    }

    /// The local file for a path named in the binary.
    pub fn local(&self, binary_path: &str) -> String {
        for (from, to) in &self.substitutions {
            if let Some(rest) = strip_dir_prefix(binary_path, from) {
                return join(to, rest);
            }
        }
        if Path::new(binary_path).is_absolute() {
            return binary_path.to_string();
        }
        let candidates = [self.in_main_module(binary_path), in_module_cache(binary_path), in_goroot(binary_path)];
        candidates.into_iter().flatten().find(|p| p.is_file()).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| binary_path.to_string())
    }

    /// The name in the binary for a local path: the substitutions
    /// backwards. With `trimmed` (the binary names its main module's files
    /// `module/dir/x.go`, `-trimpath`), the reverse of [`Self::local`]'s
    /// lookups too: a file of the local main module or the module cache.
    pub fn in_binary(&self, local_path: &str, trimmed: bool) -> String {
        for (from, to) in &self.substitutions {
            if let Some(rest) = strip_dir_prefix(local_path, to) {
                return join(from, rest);
            }
        }
        if trimmed {
            if let Some(p) = self.main_module_name(local_path).or_else(|| module_cache_name(local_path)) {
                return p;
            }
        }
        local_path.to_string()
    }

    /// `module/rest` for a file under the local main module's root.
    fn main_module_name(&self, local_path: &str) -> Option<String> {
        let module = self.main_module.as_deref()?;
        let file = Path::new(local_path);
        let root = file.ancestors().skip(1).find(|d| declares_module(d, module))?;
        let rest = file.strip_prefix(root).ok()?;
        Some(format!("{module}/{}", rest.to_string_lossy()))
    }

    fn in_main_module(&self, rel: &str) -> Option<PathBuf> {
        let module = self.main_module.as_deref()?;
        let rest = strip_dir_prefix(rel, module)?;
        self.search_from.iter().flat_map(|d| d.ancestors()).find(|d| declares_module(d, module)).map(|root| root.join(rest.trim_start_matches('/')))
    }
}

/// `path` with directory prefix `dir` removed (`a/b` is a prefix of `a/b/c`
/// and of `a/b`, not of `a/bc`); the rest keeps its leading `/`.
fn strip_dir_prefix<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    let dir = dir.trim_end_matches('/');
    let rest = path.strip_prefix(dir)?;
    (rest.is_empty() || rest.starts_with('/') || dir.is_empty()).then_some(rest)
}

fn join(dir: &str, rest: &str) -> String {
    match (dir.ends_with('/'), rest.starts_with('/')) {
        (true, true) => format!("{dir}{}", &rest[1..]),
        (false, false) if !rest.is_empty() => format!("{dir}/{rest}"),
        _ => format!("{dir}{rest}"),
    }
}

/// Whether `dir/go.mod` declares `module`.
fn declares_module(dir: &Path, module: &str) -> bool {
    std::fs::read_to_string(dir.join("go.mod")).is_ok_and(|m| {
        m.lines().any(|l| l.trim().strip_prefix("module").is_some_and(|rest| rest.trim().trim_matches('"') == module))
    })
}

/// `example.com/m@v1.2.3/x.go` in the module cache (`go env GOMODCACHE`).
fn in_module_cache(rel: &str) -> Option<PathBuf> {
    if !rel.split('/').any(|c| c.contains('@')) {
        return None;
    }
    go_env("GOMODCACHE").map(|c| Path::new(&c).join(rel))
}

/// `example.com/m@v1.2.3/x.go` for a file in the module cache.
fn module_cache_name(local_path: &str) -> Option<String> {
    let cache = go_env("GOMODCACHE")?;
    let rest = strip_dir_prefix(local_path, &cache)?;
    Some(rest.trim_start_matches('/').to_string())
}

/// `fmt/print.go` in the standard library (`go env GOROOT`/src).
fn in_goroot(rel: &str) -> Option<PathBuf> {
    go_env("GOROOT").map(|r| Path::new(&r).join("src").join(rel))
}

/// `go env NAME` of the `go` on PATH, asked once per name and run (the
/// environment variable first, as the go command itself reads it).
fn go_env(name: &'static str) -> Option<String> {
    static GOROOT: OnceLock<Option<String>> = OnceLock::new();
    static GOMODCACHE: OnceLock<Option<String>> = OnceLock::new();
    let cell = if name == "GOROOT" { &GOROOT } else { &GOMODCACHE };
    cell.get_or_init(|| {
        if let Some(v) = std::env::var_os(name).filter(|v| !v.is_empty()) {
            return Some(v.to_string_lossy().into_owned());
        }
        let out = std::process::Command::new("go").args(["env", name]).output().ok()?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !v.is_empty()).then_some(v)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_both_ways() {
        let mut m = SourceMap::default();
        m.substitute("/build/src", "/home/me/src");
        assert_eq!(m.local("/build/src/app/main.go"), "/home/me/src/app/main.go");
        assert_eq!(m.in_binary("/home/me/src/app/main.go", false), "/build/src/app/main.go");
        // A directory prefix, not a string prefix.
        assert_eq!(m.local("/build/srcx/main.go"), "/build/srcx/main.go");
        m.substitute("/build/src", "");
        assert_eq!(m.local("/build/src/app/main.go"), "/build/src/app/main.go");
    }

    #[test]
    fn trimmed_main_module_paths_resolve_to_the_local_module() {
        let dir = std::env::temp_dir().join(format!("stillgo-paths-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("go.mod"), "module example.com/app\n\ngo 1.22\n").unwrap();
        std::fs::write(dir.join("sub/x.go"), "package sub\n").unwrap();
        let m = SourceMap { substitutions: Vec::new(), main_module: Some("example.com/app".into()), search_from: vec![dir.join("sub")] };
        assert_eq!(m.local("example.com/app/sub/x.go"), dir.join("sub/x.go").to_string_lossy());
        // And back, for a breakpoint set on the local file of a trimmed binary.
        let local = dir.join("sub/x.go").to_string_lossy().into_owned();
        assert_eq!(m.in_binary(&local, true), "example.com/app/sub/x.go");
        assert_eq!(m.in_binary(&local, false), local, "an untrimmed binary names local paths");
        // Another module's file is not looked for there.
        assert_eq!(m.local("example.com/other/sub/x.go"), "example.com/other/sub/x.go");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
