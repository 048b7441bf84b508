//! Runs the Node DAP client suite (tests/dap-client, driven by
//! `@vscode/debugadapter-testsupport`) against `stillgo dap`, with the Go
//! programs built here for every Go version under test. Fails when any
//! Node test fails, when Node or the npm packages are missing (run
//! `scripts/test.sh`, which installs them), or when no test ran.

use std::io::Write;
use std::process::Command;

use stillgo_testkit::{build, build_path, go_versions, repo_root, Flavor};

#[test]
fn node_dap_client_suite() {
    let root = repo_root();
    let suite = root.join("tests/dap-client");
    assert!(
        suite.join("node_modules/@vscode/debugadapter-testsupport").is_dir(),
        "npm packages of {} are not installed: run scripts/test.sh (or `npm ci` there)",
        suite.display()
    );
    let mut versions = Vec::new();
    for tc in go_versions() {
        let bins = serde_json::json!({
            "hello": build("hello", &tc, Flavor::Debug),
            "values": build("values", &tc, Flavor::Debug),
            "spin": build("spin", &tc, Flavor::Debug),
            "panicker": build_path(&suite.join("fixtures/panicker"), &tc, Flavor::Debug),
            "many": build_path(&suite.join("fixtures/many"), &tc, Flavor::Debug),
            "deadlock": build_path(&suite.join("fixtures/deadlock"), &tc, Flavor::Debug),
            "freeze": build_path(&suite.join("fixtures/freeze"), &tc, Flavor::Debug),
        });
        // `debug` mode builds with this toolchain, hermetically (as the
        // testkit's own builds do).
        let target = root.join("target");
        let go_env = serde_json::json!({
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GOWORK": "off",
            "GOENV": "off",
            "CGO_ENABLED": "0",
            "GOCACHE": target.join("gocache").join(&tc.version),
            "GOPATH": target.join("gopath"),
        });
        versions.push(serde_json::json!({
            "version": tc.version,
            "goBin": tc.go_bin(),
            "goEnv": go_env,
            "bins": bins,
        }));
    }
    let config = serde_json::json!({ "repo": root, "versions": versions });
    let out = Command::new("node")
        .args(["--test", "--test-reporter=tap"])
        .arg(suite.join("dap.test.js"))
        .current_dir(&suite)
        .env("STILLGO_BIN", env!("CARGO_BIN_EXE_stillgo"))
        .env("STILLGO_DAP_CONFIG", config.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (is Node.js installed?): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count = |key: &str| -> Option<u64> {
        stdout.lines().rev().find_map(|l| l.strip_prefix(&format!("# {key} ")).and_then(|n| n.trim().parse().ok()))
    };
    let (pass, fail) = (count("pass"), count("fail"));
    // The TAP output is shown when the test fails (captured otherwise).
    println!("{stdout}");
    eprintln!("{stderr}");
    // The closing line goes to stderr directly, past the test harness's
    // capture, so CI logs show it on success too.
    let closing = format!(
        "dap-client suite: {} passed, {} failed (node {})\n",
        pass.map_or("?".into(), |n| n.to_string()),
        fail.map_or("?".into(), |n| n.to_string()),
        out.status
    );
    let _ = std::io::stderr().write_all(closing.as_bytes());
    assert!(out.status.success(), "the Node DAP client suite failed (see the TAP output above)");
    assert_eq!(fail, Some(0), "failed tests");
    assert!(pass.unwrap_or(0) >= 10, "too few tests ran: {pass:?}");
}
