//! Every program of testdata/ builds with every Go version under test, in
//! the debug and optimized flavors, and runs with the expected output; the
//! build cache works.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use stillgo_testkit::{build, build_c, build_path, go_versions, repo_root, run_command, toolchain, Flavor};

const FLAVORS: [Flavor; 2] = [Flavor::Debug, Flavor::Optimized];

fn run(bin: &Path, args: &[&str]) -> (String, Option<i32>) {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    let out = run_command(cmd, "", Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (text, out.status.code())
}

fn check(program: &str, expected: &str, code: i32) {
    for tc in go_versions() {
        for flavor in FLAVORS {
            let bin = build(program, &tc, flavor);
            let (out, status) = run(&bin, &[]);
            assert_eq!(out, expected, "{program} {tc} {flavor}");
            assert_eq!(status, Some(code), "{program} {tc} {flavor}: {out}");
        }
    }
}

#[test]
fn hello() {
    check("hello", "23 words, 14 distinct\n1. fox 4\n2. the 4\n3. a 2\n", 0);
}

#[test]
fn values() {
    check("values", "args=-12455 lens=[1 2 3] top=b big=100000 cycle=1\nvalues done 1 1\n", 0);
}

#[test]
fn goroutines() {
    check("goroutines", "workers=8 total=3639600\n", 0);
}

#[test]
fn stepping() {
    check("stepping", "21 10 5 hello, gopher! body deferred recovered: n=3 too big\n", 0);
}

#[test]
fn signals() {
    check("signals", "usr1=100\npreempt=true\nprofile=ok\nsignals done\n", 0);
}

#[test]
fn exits() {
    check("exits", "iteration 0\niteration 1\niteration 2\niteration 3\nexiting with 3\n", 3);
}

#[test]
fn spin_prints_its_pid_and_keeps_running() {
    for tc in go_versions() {
        for flavor in FLAVORS {
            let bin = build("spin", &tc, flavor);
            let mut child = Command::new(&bin).stdout(Stdio::piped()).spawn().unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            assert_eq!(line, format!("pid={}\n", child.id()), "{tc} {flavor}");
            std::thread::sleep(Duration::from_millis(100));
            assert!(child.try_wait().unwrap().is_none(), "{tc} {flavor}: spin exited early");
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

#[test]
fn test_flavor_builds_a_go_test_binary() {
    for tc in go_versions() {
        let bin = build("testpkg", &tc, Flavor::Test);
        let (out, status) = run(&bin, &["-test.v", "-test.run", "TestAdd"]);
        assert!(out.contains("--- PASS: TestAdd") && out.ends_with("PASS\n"), "{tc}: {out}");
        assert_eq!(status, Some(0));
    }
}

#[test]
fn stripped_flavor_has_no_debug_info() {
    for tc in go_versions() {
        let stripped = build("hello", &tc, Flavor::Stripped);
        let optimized = build("hello", &tc, Flavor::Optimized);
        assert_eq!(run(&stripped, &[]).0, run(&optimized, &[]).0);
        let bytes = std::fs::read(&stripped).unwrap();
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(!has(b".debug_info") && !has(b".symtab"), "{tc}: stripped binary has debug info");
        let full = std::fs::read(&optimized).unwrap();
        assert!(full.windows(11).any(|w| w == b".debug_info"), "{tc}: optimized lacks DWARF");
    }
}

#[test]
fn c_program() {
    let bin = build_c("cprog");
    assert_eq!(run(&bin, &[]), ("hello from C\n".to_string(), Some(0)));
}

#[test]
fn builds_are_cached_and_thread_safe() {
    let tc = toolchain("1.22.10");
    let paths: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| build("stepping", &tc, Flavor::Debug))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    assert!(paths[0].ends_with("target/gotest/1.22.10/debug/stepping"), "{}", paths[0].display());
    let mtime = std::fs::metadata(&paths[0]).unwrap().modified().unwrap();
    assert_eq!(build("stepping", &tc, Flavor::Debug), paths[0]);
    assert_eq!(std::fs::metadata(&paths[0]).unwrap().modified().unwrap(), mtime, "rebuilt needlessly");
}

#[test]
fn build_path_builds_single_files_outside_testdata() {
    let dir = repo_root().join("target").join("testkit-tmp").join(format!("single-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("one.go");
    std::fs::write(&src, "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"single file\") }\n").unwrap();
    let tc = toolchain("1.27.3");
    let bin = build_path(&src, &tc, Flavor::Debug);
    assert!(bin.to_string_lossy().contains("testkit-tmp__single-"), "{}", bin.display());
    assert_eq!(run(&bin, &[]).0, "single file\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compile_errors_panic_with_the_compiler_output() {
    let dir = repo_root().join("target").join("testkit-tmp").join(format!("broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("go.mod"), "module broken\n\ngo 1.22\n").unwrap();
    std::fs::write(dir.join("main.go"), "package main\n\nfunc main() { undefinedThing() }\n").unwrap();
    let res = std::panic::catch_unwind(|| build_path(&dir, &toolchain("1.22.10"), Flavor::Debug));
    std::fs::remove_dir_all(&dir).unwrap();
    let msg = res.expect_err("a broken program must panic");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("undefined: undefinedThing"), "{msg}");
}
