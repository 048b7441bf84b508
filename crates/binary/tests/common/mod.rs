//! Builds the test program with real Go toolchains and runs `go tool nm` /
//! `go tool objdump` for ground truth.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Toolchains every test runs against.
pub const VERSIONS: [&str; 3] = ["1.22.10", "1.24.11", "1.27.3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `-gcflags=all=-N -l`
    NoOpt,
    /// default flags
    Opt,
    /// default flags and `-ldflags=-s -w`
    Stripped,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn prog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/prog")
}

/// The `go` binary of a toolchain; panics (failing the test) when missing.
pub fn go_bin(ver: &str) -> PathBuf {
    let go = workspace_root().join(format!("target/toolchains/go{ver}/go/bin/go"));
    assert!(
        go.exists(),
        "Go toolchain {ver} is missing: expected {}; install it (see the preamble) — this test does not skip",
        go.display()
    );
    go
}

fn go_cmd(ver: &str) -> Command {
    let mut c = Command::new(go_bin(ver));
    c.env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOCACHE", workspace_root().join("target/gocache"))
        .env_remove("GOROOT")
        .env_remove("GOPATH");
    c
}

/// Builds the test program once per (version, variant) in this process.
pub fn build(ver: &str, variant: Variant) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, Variant), PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&(ver.to_string(), variant)) {
        return p.clone();
    }
    let dir = workspace_root().join(format!("target/stillgo-binary-tests/go{ver}-{variant:?}"));
    std::fs::create_dir_all(&dir).expect("create build dir");
    let out = dir.join("prog");
    let tmp = dir.join(format!("prog.tmp{}", std::process::id()));
    let mut cmd = go_cmd(ver);
    cmd.current_dir(prog_dir()).arg("build").arg("-o").arg(&tmp);
    match variant {
        Variant::NoOpt => {
            cmd.arg("-gcflags=all=-N -l");
        }
        Variant::Opt => {}
        Variant::Stripped => {
            cmd.arg("-ldflags=-s -w");
        }
    }
    cmd.arg(".");
    let res = cmd.output().expect("run go build");
    assert!(
        res.status.success(),
        "go{ver} build {variant:?} failed:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    std::fs::rename(&tmp, &out).expect("rename built binary");
    map.insert((ver.to_string(), variant), out.clone());
    out
}

/// A text symbol from `go tool nm -size -sort address`.
#[derive(Debug, Clone)]
pub struct NmSym {
    pub addr: u64,
    pub size: u64,
    pub kind: char,
    pub name: String,
}

pub fn nm(ver: &str, bin: &Path) -> Vec<NmSym> {
    let out = go_cmd(ver)
        .args(["tool", "nm", "-size", "-sort", "address"])
        .arg(bin)
        .output()
        .expect("run go tool nm");
    assert!(
        out.status.success(),
        "go tool nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let parts: Vec<&str> = l.split_whitespace().collect();
            let addr = u64::from_str_radix(parts.first()?, 16).ok()?;
            let size = parts.get(1)?.parse().ok()?;
            let kind = parts.get(2)?.chars().next()?;
            // The name is everything after the kind column (may contain spaces).
            let kind_pos = l.find(&format!(" {kind} "))?;
            let name = l.get(kind_pos + 3..)?.to_string();
            Some(NmSym {
                addr,
                size,
                kind,
                name,
            })
        })
        .collect()
}

/// One instruction from `go tool objdump`.
#[derive(Debug, Clone)]
pub struct Insn {
    pub func: String,
    pub file: String,
    pub line: u32,
    pub addr: u64,
    pub text: String,
}

pub fn objdump(ver: &str, bin: &Path, func_regexp: &str) -> Vec<Insn> {
    let out = go_cmd(ver)
        .args(["tool", "objdump", "-s", func_regexp])
        .arg(bin)
        .output()
        .expect("run go tool objdump");
    assert!(
        out.status.success(),
        "go tool objdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut func = String::new();
    let mut insns = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(rest) = l.strip_prefix("TEXT ") {
            func = rest.split("(SB)").next().unwrap_or("").to_string();
            continue;
        }
        let cols: Vec<&str> = l.trim().split('\t').filter(|s| !s.is_empty()).collect();
        if cols.len() < 4 {
            continue;
        }
        let Some((file, line)) = cols[0].rsplit_once(':') else {
            continue;
        };
        let (Ok(line), Some(addr)) = (line.parse(), cols[1].strip_prefix("0x")) else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        insns.push(Insn {
            func: func.clone(),
            file: file.to_string(),
            line,
            addr,
            text: cols[3].trim().to_string(),
        });
    }
    assert!(
        !insns.is_empty(),
        "objdump printed no instructions for {func_regexp}"
    );
    insns
}

/// Line number of the `// MARK:name` comment in a test source file.
pub fn mark_line(rel: &str, mark: &str) -> u32 {
    let src = std::fs::read_to_string(prog_dir().join(rel)).expect("read test source");
    let needle = format!("// MARK:{mark}");
    src.lines()
        .position(|l| l.contains(&needle))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("no {needle} in {rel}"))
}

pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}
