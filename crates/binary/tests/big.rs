//! Opens the biggest Go binary at hand (the toolchain's compiler) and walks
//! its tables, to check that real large binaries decode (no timing asserts;
//! timings are printed with --nocapture).

mod common;

use std::time::Instant;

use stillgo_binary::Binary;

#[test]
fn big_go_binaries_decode() {
    for ver in common::VERSIONS {
        common::go_bin(ver);
        let root = common::workspace_root().join(format!("target/toolchains/go{ver}/go"));
        let compile = root.join("pkg/tool/linux_amd64/compile");
        assert!(compile.exists(), "missing {}", compile.display());
        let t = Instant::now();
        let bin = Binary::open(&compile).unwrap();
        let opened = t.elapsed();
        let tab = bin.pclntab();
        assert_eq!(
            bin.go_version().map(|v| v.to_string()),
            Some(format!("go{ver}"))
        );
        let t = Instant::now();
        let mut n = 0usize;
        let mut prev_end = 0;
        for f in tab.funcs() {
            assert!(f.entry >= prev_end && f.end > f.entry, "{}", f.name);
            prev_end = f.end;
            n += 1;
        }
        let walked = t.elapsed();
        assert_eq!(n, tab.len());
        assert!(n > 10_000, "{ver}: only {n} functions");
        let t = Instant::now();
        let main = tab.func_by_name("main.main").expect("main.main");
        let indexed = t.elapsed();
        assert_eq!(tab.func_for_pc(main.entry + 1).unwrap().name, main.name);
        let (file, _) = tab.line_for_pc(main.entry).unwrap();
        assert!(file.ends_with("cmd/compile/main.go"), "{file}");
        let t = Instant::now();
        let ssa = tab.pcs_for_line("cmd/compile/internal/ssa/compile.go", 100);
        let lines = t.elapsed();
        let _ = ssa;
        assert!(!tab.find_funcs("ssa.Compile").is_empty());
        eprintln!(
            "go{ver} compile: {n} funcs; open {opened:?}, walk {walked:?}, name index {indexed:?}, pcs_for_line {lines:?}"
        );
    }
}
