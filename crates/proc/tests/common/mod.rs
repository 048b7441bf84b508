//! Helpers shared by the integration tests: building the Go test programs
//! per toolchain, reading symbols, reaping.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use object::{Object, ObjectSection, ObjectSymbol};

/// Builds `tests/testdata/<name>/main.go` with Go `version` (no
/// optimisation, no inlining) once per test binary, and returns the path.
/// Panics with a clear message if the toolchain is missing.
pub fn go_binary(version: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&(version.to_string(), name.to_string())) {
        return p.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = root.join("../..");
    let go = workspace.join(format!("target/toolchains/go{version}/go/bin/go"));
    assert!(go.exists(), "Go toolchain {version} is missing: expected {}", go.display());
    let src = root.join(format!("tests/testdata/{name}/main.go"));
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("proc-gobin").join(version);
    std::fs::create_dir_all(&out_dir).expect("create output dir");
    let out = out_dir.join(name);
    // A unique temporary name, renamed into place: other test binaries may
    // build the same program at the same time.
    let tmp = out_dir.join(format!("{name}.{}.tmp", std::process::id()));
    let status = Command::new(&go)
        .args(["build", "-gcflags=all=-N -l", "-o"])
        .arg(&tmp)
        .arg(&src)
        .env("GOCACHE", workspace.join("target/gocache"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env_remove("GOROOT")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of {name} with Go {version} failed");
    std::fs::rename(&tmp, &out).expect("rename built binary");
    map.insert((version.to_string(), name.to_string()), out.clone());
    out
}

/// Address of symbol `name` in the ELF file at `path`.
pub fn symbol(path: &Path, name: &str) -> u64 {
    let data = std::fs::read(path).expect("read binary");
    let file = object::File::parse(&*data).expect("parse ELF");
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| s.address())
        .unwrap_or_else(|| panic!("symbol {name} not found in {}", path.display()))
}

/// `len` bytes of the file image at virtual address `addr`.
pub fn file_bytes(path: &Path, addr: u64, len: usize) -> Vec<u8> {
    let data = std::fs::read(path).expect("read binary");
    let file = object::File::parse(&*data).expect("parse ELF");
    for s in file.sections() {
        if addr >= s.address() && addr + len as u64 <= s.address() + s.size() {
            let d = s.data().expect("section data");
            let off = (addr - s.address()) as usize;
            return d[off..off + len].to_vec();
        }
    }
    panic!("address {addr:#x} not in any section");
}

/// The `.text` section's address and size.
pub fn text_range(path: &Path) -> (u64, u64) {
    let data = std::fs::read(path).expect("read binary");
    let file = object::File::parse(&*data).expect("parse ELF");
    let s = file.section_by_name(".text").expect(".text");
    (s.address(), s.size())
}

/// Reads target memory directly through /proc/pid/mem (what is really
/// there, int3 included).
pub fn proc_mem(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open /proc/pid/mem");
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, addr).expect("read /proc/pid/mem");
    buf
}

/// Scheduler state letter of every thread of `pid` ('t' = traced stop).
pub fn thread_states(pid: i32) -> Vec<char> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for e in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("stat")) {
                if let Some((_, rest)) = s.rsplit_once(')') {
                    if let Some(c) = rest.trim_start().chars().next() {
                        v.push(c);
                    }
                }
            }
        }
    }
    v
}

/// Waits for our child `pid` and returns its exit code (or 128+signal).
pub fn reap(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: plain syscall with a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid({pid}) failed: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Kills a PID on drop (for processes the test starts outside `Process`).
pub struct KillOnDrop(pub i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: plain syscall.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

/// Length of the instruction at `addr` in the binary.
pub fn insn_len(path: &Path, addr: u64) -> u64 {
    let bytes = file_bytes(path, addr, 16);
    let mut d = iced_x86::Decoder::with_ip(64, &bytes, addr, iced_x86::DecoderOptions::NONE);
    let i = d.decode();
    assert!(!i.is_invalid(), "invalid instruction at {addr:#x}");
    assert_eq!(i.flow_control(), iced_x86::FlowControl::Next, "first instruction of the function must not branch");
    i.len() as u64
}

/// Runs `f(version)` body for each supported Go version as separate tests.
#[macro_export]
macro_rules! go_tests {
    ($($name:ident),* $(,)?) => {
        mod go1_22 { $( #[test] fn $name() { super::$name("1.22.10") } )* }
        mod go1_24 { $( #[test] fn $name() { super::$name("1.24.11") } )* }
        mod go1_27 { $( #[test] fn $name() { super::$name("1.27.3") } )* }
    };
}
