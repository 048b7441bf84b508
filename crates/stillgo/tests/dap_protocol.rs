//! The DAP server's protocol layer under bad input: every malformed
//! message gets an error response (and the server keeps serving) or a
//! clean shutdown (exit status 0, the debuggee killed); nothing panics.
//! Drives the real `stillgo dap` over stdin/stdout and over TCP. Also the
//! paths an editor exchanges with it for a `-trimpath` binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stillgo_testkit::{bp_line, build, go_versions, source_path, Flavor};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Reads framed messages from `r` into a channel (None at end of stream).
fn spawn_reader(r: impl Read + Send + 'static) -> Receiver<Option<Value>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        loop {
            let mut len = None;
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(_) => {}
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("Content-Length:") {
                    len = v.trim().parse::<usize>().ok();
                }
            }
            let Some(n) = len else {
                let _ = tx.send(None);
                return;
            };
            let mut body = vec![0; n];
            if r.read_exact(&mut body).is_err() {
                let _ = tx.send(None);
                return;
            }
            let v: Value = serde_json::from_slice(&body).expect("the server sent invalid JSON");
            if tx.send(Some(v)).is_err() {
                return;
            }
        }
    });
    rx
}

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// `stillgo dap` on stdio.
struct Dap {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Option<Value>>,
    stderr: Arc<Mutex<String>>,
    seq: i64,
    /// Everything received, for failure messages.
    seen: Vec<Value>,
    /// Received but not yet waited for.
    pending: Vec<Value>,
}

impl Dap {
    fn start() -> Dap {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stillgo"))
            .arg("dap")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stillgo dap");
        let stdin = child.stdin.take();
        let rx = spawn_reader(child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            sink.lock().unwrap().push_str(&s);
        });
        Dap { child, stdin, rx, stderr, seq: 0, seen: Vec::new(), pending: Vec::new() }
    }

    fn write_raw(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().expect("stdin open");
        w.write_all(bytes).expect("write to stillgo");
        w.flush().expect("flush");
    }

    /// Sends a request; returns its seq.
    fn send(&mut self, command: &str, args: Value) -> i64 {
        self.seq += 1;
        let msg = json!({"seq": self.seq, "type": "request", "command": command, "arguments": args});
        self.write_raw(&frame(&msg.to_string()));
        self.seq
    }

    /// The next message matching `pred` (others are kept in `seen`).
    fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                    self.pending.push(v);
                }
                Ok(None) => panic!("stream ended waiting for {what}; seen {:?}; stderr {}", self.seen, self.stderr()),
                Err(_) => panic!("timed out waiting for {what}; seen {:?}; stderr {}", self.seen, self.stderr()),
            }
        }
    }

    fn response(&mut self, seq: i64) -> Value {
        self.wait(&format!("response to {seq}"), |v| v["type"] == "response" && v["request_seq"] == seq)
    }

    fn request(&mut self, command: &str, args: Value) -> Value {
        let seq = self.send(command, args);
        self.response(seq)
    }

    fn event(&mut self, name: &str) -> Value {
        self.wait(&format!("event {name}"), |v| v["type"] == "event" && v["event"] == name)
    }

    /// Waits for the end of the server's output.
    fn wait_closed(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Some(v)) => self.seen.push(v),
                Ok(None) => return,
                Err(_) => panic!("the server did not close its output; stderr {}", self.stderr()),
            }
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the server to exit; asserts a clean exit without panics.
    fn assert_clean_exit(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "stillgo dap did not exit; stderr {}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the stderr reader finish.
        std::thread::sleep(Duration::from_millis(50));
        let err = self.stderr();
        assert!(status.success(), "exit status {status}; stderr {err}");
        assert!(!err.contains("panicked"), "stillgo panicked: {err}");
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Dap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_error(resp: &Value, needle: &str) {
    assert_eq!(resp["type"], "response", "{resp}");
    assert_eq!(resp["success"], false, "{resp}");
    let msg = resp["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "error message {msg:?} should mention {needle:?}: {resp}");
}

fn alive(pid: i64) -> bool {
    // A zombie (reaped later by its parent) counts as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')).unwrap_or(false),
        Err(_) => false,
    }
}

fn wait_dead(pid: i64) {
    let deadline = Instant::now() + TIMEOUT;
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn invalid_json_gets_an_error_response_and_the_server_goes_on() {
    let mut d = Dap::start();
    d.write_raw(&frame("{not json at all"));
    let r = d.wait("error response", |v| v["type"] == "response");
    assert_error(&r, "invalid JSON");
    assert_eq!(r["request_seq"], 0);
    // Valid JSON that is not a request object.
    d.write_raw(&frame("[1,2,3]"));
    let r = d.wait("error response", |v| v["type"] == "response");
    assert_error(&r, "invalid request");
    // Not UTF-8.
    d.write_raw(b"Content-Length: 4\r\n\r\n\xff\xfe\x00\x01");
    let r = d.wait("error response", |v| v["type"] == "response");
    assert_error(&r, "invalid JSON");
    let init = d.request("initialize", json!({"adapterID": "go"}));
    assert_eq!(init["success"], true, "{init}");
    assert_eq!(init["body"]["supportsConfigurationDoneRequest"], true);
    d.close_stdin();
    d.wait_closed();
    d.assert_clean_exit();
}

#[test]
fn wrong_field_types_and_missing_fields_name_the_field() {
    let mut d = Dap::start();
    // seq of the wrong type: the command is still named in the response.
    d.write_raw(&frame(r#"{"seq":"one","type":"request","command":"threads"}"#));
    let r = d.wait("error response", |v| v["type"] == "response" && v["command"] == "threads");
    assert_error(&r, "field `seq` has the wrong type");
    // No command.
    d.write_raw(&frame(r#"{"seq":41,"type":"request"}"#));
    let r = d.response(41);
    assert_error(&r, "command");
    // A response where a request belongs.
    d.write_raw(&frame(r#"{"seq":42,"type":"response","command":"threads"}"#));
    let r = d.response(42);
    assert_error(&r, "unexpected message type");
    let r = d.request("stackTrace", json!({"threadId": "main"}));
    assert_error(&r, "field `threadId`: invalid type");
    let r = d.request("stackTrace", json!({}));
    assert_error(&r, "threadId");
    let r = d.request("stackTrace", Value::Null);
    assert_error(&r, "threadId");
    let r = d.request("evaluate", json!({"frameId": 1}));
    assert_error(&r, "expression");
    let r = d.request("setBreakpoints", json!({"source": 5}));
    assert_error(&r, "field `source`: invalid type");
    let r = d.request("setBreakpoints", json!({"source": {"path": "/x.go"}, "breakpoints": [{"line": -3}]}));
    assert_error(&r, "invalid value");
    let r = d.request("launch", json!({"mode": "exec", "program": 42}));
    assert_error(&r, "field `program`: invalid type");
    // args: a list or one string (split like shell words), nothing else.
    let r = d.request("launch", json!({"mode": "exec", "args": 5, "program": "/bin/true"}));
    assert_error(&r, "field `args`");
    let r = d.request("launch", json!({"mode": "exec", "args": [1, 2], "program": "/bin/true"}));
    assert_error(&r, "field `args`");
    let r = d.request("launch", json!({"mode": "exec", "freezeWorld": "yes", "program": "/bin/true"}));
    assert_error(&r, "field `freezeWorld`: invalid type");
    let r = d.request("launch", json!({"mode": "debug", "buildFlags": {"a": 1}, "program": "/tmp"}));
    assert_error(&r, "field `buildFlags`");
    // An output path in a directory that does not exist: refused before
    // anything is built.
    let hello = source_path("hello", "main.go");
    let dir = hello.parent().expect("package directory");
    let r = d.request("launch", json!({"mode": "debug", "program": dir, "output": "/nonexistent-stillgo-dir/bin"}));
    assert_error(&r, "/nonexistent-stillgo-dir does not exist");
    let r = d.request("disassemble", json!({"memoryReference": "0x1000", "instructionCount": "ten"}));
    assert_error(&r, "field `instructionCount`: invalid type");
    // The server still answers.
    let r = d.request("threads", json!({}));
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["body"]["threads"], json!([]));
    d.close_stdin();
    d.assert_clean_exit();
}

#[test]
fn unknown_commands_and_requests_without_a_program_are_errors() {
    let mut d = Dap::start();
    let r = d.request("fooBar", json!({}));
    assert_error(&r, "unsupported request \"fooBar\"");
    let r = d.request("stepBack", json!({"threadId": 1}));
    assert_error(&r, "unsupported request");
    for (cmd, args) in [
        ("stackTrace", json!({"threadId": 1})),
        ("scopes", json!({"frameId": 1})),
        ("variables", json!({"variablesReference": 1})),
        ("evaluate", json!({"expression": "x"})),
        ("next", json!({"threadId": 1})),
        ("continue", json!({"threadId": 1})),
        ("restart", json!({})),
        ("disassemble", json!({"memoryReference": "0x401000", "instructionCount": 4})),
    ] {
        let r = d.request(cmd, args);
        assert_eq!(r["success"], false, "{cmd}: {r}");
    }
    let r = d.request("launch", json!({"mode": "exec"}));
    assert_error(&r, "program");
    let r = d.request("launch", json!({"mode": "exec", "program": "/nonexistent/binary"}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("launch", json!({"mode": "remote", "program": "/bin/true"}));
    assert_error(&r, "not supported");
    let r = d.request("attach", json!({"mode": "local"}));
    assert_error(&r, "processId");
    let r = d.request("attach", json!({"mode": "local", "processId": 99999999}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("attach", json!({"mode": "remote", "processId": 1}));
    assert_error(&r, "not supported");
    // A non-Go program is refused with a message, not a crash.
    let r = d.request("launch", json!({"mode": "exec", "program": "/bin/true"}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("disconnect", json!({}));
    assert_eq!(r["success"], true, "{r}");
    d.wait_closed();
    d.assert_clean_exit();
}

#[test]
fn huge_content_length_closes_the_connection_cleanly() {
    for claim in ["999999999999", "67108865", "18446744073709551616", "-5", "12abc"] {
        let mut d = Dap::start();
        assert_eq!(d.request("initialize", json!({}))["success"], true);
        d.write_raw(format!("Content-Length: {claim}\r\n\r\n{{}}").as_bytes());
        d.wait_closed();
        d.assert_clean_exit();
        assert!(d.stderr().contains("closing the connection"), "{claim}: {}", d.stderr());
    }
    // A header line that never ends is bounded too.
    let mut d = Dap::start();
    let long = vec![b'x'; 16 << 10];
    d.write_raw(&long);
    d.wait_closed();
    d.assert_clean_exit();
    // And a header without a colon.
    let mut d = Dap::start();
    d.write_raw(b"Hello there\r\n\r\n");
    d.wait_closed();
    d.assert_clean_exit();
}

/// The client goes away in the middle of a message while a program is
/// being debugged: the server exits cleanly and the program is killed.
#[test]
fn client_disconnecting_mid_request_ends_the_session_cleanly() {
    for tc in go_versions() {
        let spin = build("spin", &tc, Flavor::Debug);
        for (cut, running) in [("Content-Length: 120\r\n\r\n{\"seq\":9,\"type\":\"req", true), ("Content-Len", false)] {
            let mut d = Dap::start();
            assert_eq!(d.request("initialize", json!({}))["success"], true);
            let r = d.request("launch", json!({"mode": "exec", "program": spin}));
            assert_eq!(r["success"], true, "{tc}: {r}");
            d.event("initialized");
            assert_eq!(d.request("configurationDone", json!({}))["success"], true);
            let out = d.wait("pid output", |v| v["event"] == "output" && v["body"]["output"].as_str().unwrap_or("").contains("pid="));
            let text = out["body"]["output"].as_str().unwrap_or_default().to_string();
            assert_eq!(out["body"]["category"], "stdout");
            let pid: i64 = text
                .split("pid=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{tc}: no pid in {text:?}"));
            assert!(alive(pid));
            if !running {
                let seq = d.send("pause", json!({"threadId": 1}));
                d.response(seq);
                d.event("stopped");
            }
            d.write_raw(cut.as_bytes());
            d.close_stdin();
            d.wait_closed();
            d.assert_clean_exit();
            wait_dead(pid);
        }
    }
}

/// Over TCP: the same, plus a request cut in the middle of its body.
#[test]
fn tcp_client_disconnecting_mid_request_shuts_the_server_down() {
    for tc in go_versions() {
        tcp_disconnect(&tc);
    }
}

fn tcp_disconnect(tc: &stillgo_testkit::GoToolchain) {
    let spin = build("spin", tc, Flavor::Debug);
    let mut server = Command::new(env!("CARGO_BIN_EXE_stillgo"))
        .args(["dap", "--listen=127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stillgo dap --listen");
    let mut out = BufReader::new(server.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("listening line");
    let addr = line.trim().strip_prefix("DAP server listening at: ").unwrap_or_else(|| panic!("unexpected {line:?}")).to_string();
    let sock = TcpStream::connect(&addr).expect("connect");
    let rx = spawn_reader(sock.try_clone().expect("clone"));
    let mut w = sock.try_clone().expect("clone");
    let mut send = |v: Value| w.write_all(&frame(&v.to_string())).expect("send");
    send(json!({"seq":1,"type":"request","command":"initialize","arguments":{}}));
    send(json!({"seq":2,"type":"request","command":"launch","arguments":{"mode":"exec","program":spin}}));
    send(json!({"seq":3,"type":"request","command":"configurationDone"}));
    let mut pid = None;
    let deadline = Instant::now() + TIMEOUT;
    while pid.is_none() {
        let v = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("message").expect("open");
        if let Some(t) = v["body"]["output"].as_str() {
            pid = t.split("pid=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse::<i64>().ok());
        }
    }
    let pid = pid.unwrap_or_default();
    let mut w = sock.try_clone().expect("clone");
    w.write_all(b"Content-Length: 50\r\n\r\n{\"seq\":4,").expect("partial");
    drop(w);
    sock.shutdown(std::net::Shutdown::Both).expect("shutdown");
    drop(sock);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = server.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = server.stderr.take().expect("stderr").read_to_string(&mut err);
    assert!(status.success(), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    wait_dead(pid);
}

/// Bad arguments on a live session: stale handles, out-of-range values.
#[test]
fn bad_arguments_during_a_session_are_errors() {
    for tc in go_versions() {
        bad_arguments(&tc);
    }
}

fn bad_arguments(tc: &stillgo_testkit::GoToolchain) {
    let spin = build("spin", tc, Flavor::Debug);
    let mut d = Dap::start();
    d.request("initialize", json!({}));
    let r = d.request("launch", json!({"mode": "exec", "program": spin, "stopOnEntry": true}));
    assert_eq!(r["success"], true, "{r}");
    d.event("initialized");
    d.request("configurationDone", json!({}));
    let stopped = d.event("stopped");
    assert_eq!(stopped["body"]["reason"], "entry");
    let r = d.request("setFunctionBreakpoints", json!({"breakpoints": [{"name": "main.tick"}, {"name": "main.noSuchFunction"}, {"name": ""}]}));
    let bps = r["body"]["breakpoints"].as_array().cloned().unwrap_or_default();
    assert_eq!(bps.len(), 3, "{r}");
    assert_eq!(bps[0]["verified"], true, "{r}");
    assert_eq!(bps[1]["verified"], false, "{r}");
    assert_eq!(bps[2]["verified"], false, "{r}");
    let r = d.request("setBreakpoints", json!({"source": {"path": "/nowhere/x.go"}, "breakpoints": [{"line": 1}, {"line": 4294967295u64}]}));
    assert_eq!(r["success"], true, "{r}");
    assert!(r["body"]["breakpoints"].as_array().map(|b| b.iter().all(|b| b["verified"] == false)).unwrap_or(false), "{r}");
    let src = source_path("spin", "main.go");
    let tick = bp_line("spin", "main.go", "tick");
    let r = d.request("setBreakpoints", json!({"source": {"path": src}, "breakpoints": [{"line": tick, "hitCondition": "sometimes"}]}));
    assert_eq!(r["body"]["breakpoints"][0]["verified"], false, "{r}");
    assert!(r["body"]["breakpoints"][0]["message"].as_str().unwrap_or("").contains("hit condition"), "{r}");
    let r = d.request("setExceptionBreakpoints", json!({"filters": ["panic", "everything"]}));
    assert_eq!(r["body"]["breakpoints"][0]["verified"], true, "{r}");
    assert_eq!(r["body"]["breakpoints"][1]["verified"], false, "{r}");
    let seq = d.send("continue", json!({"threadId": stopped["body"]["threadId"]}));
    d.response(seq);
    let stopped = d.event("stopped");
    assert_eq!(stopped["body"]["reason"], "function breakpoint", "{stopped}");
    let tid = stopped["body"]["threadId"].clone();
    let r = d.request("stackTrace", json!({"threadId": 987654321}));
    assert_error(&r, "unknown thread");
    let r = d.request("stackTrace", json!({"threadId": tid, "startFrame": 100000, "levels": 5}));
    assert_eq!(r["body"]["stackFrames"], json!([]), "{r}");
    let r = d.request("scopes", json!({"frameId": 424242}));
    assert_error(&r, "unknown frame");
    let r = d.request("scopes", json!({"frameId": -1}));
    assert_error(&r, "unknown frame");
    let r = d.request("variables", json!({"variablesReference": 31337}));
    assert_error(&r, "unknown variables reference");
    let r = d.request("variables", json!({"variablesReference": 0}));
    assert_error(&r, "unknown variables reference");
    let r = d.request("evaluate", json!({"expression": "n +* 2"}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("evaluate", json!({"expression": "call"}));
    assert_error(&r, "missing expression");
    let r = d.request("evaluate", json!({"expression": "call tick("}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("evaluate", json!({"expression": "call n + 1"}));
    assert_error(&r, "not a function call");
    let r = d.request("evaluate", json!({"expression": "n"}));
    assert_eq!(r["success"], true, "{r}");
    let r = d.request("setVariable", json!({"variablesReference": 777, "name": "n", "value": "1"}));
    assert_error(&r, "unknown variables reference");
    for (mref, count) in [("zzz", json!(4)), ("0x1", json!(4)), ("0x401000", json!(-1)), ("0x401000", json!(1_000_000_000))] {
        let r = d.request("disassemble", json!({"memoryReference": mref, "instructionCount": count}));
        assert_eq!(r["success"], false, "{mref} {count}: {r}");
    }
    let r = d.request("exceptionInfo", json!({"threadId": tid}));
    assert_error(&r, "not stopped on an exception");
    // After terminate, resuming is an error (restart would run it again).
    let r = d.request("terminate", json!({}));
    assert_eq!(r["success"], true, "{r}");
    d.event("terminated");
    for cmd in ["continue", "next", "stepIn", "stepOut"] {
        let r = d.request(cmd, json!({"threadId": tid}));
        assert_eq!(r["success"], false, "{cmd}: {r}");
    }
    let r = d.request("threads", json!({}));
    assert_eq!(r["body"]["threads"], json!([]), "{r}");
    let r = d.request("disconnect", json!({"terminateDebuggee": true}));
    assert_eq!(r["success"], true, "{r}");
    d.wait_closed();
    d.assert_clean_exit();
}

/// A `-trimpath` binary names its files `module/dir/x.go`: the editor sets
/// breakpoints on its local file and is sent local paths back, with no
/// substitutePath (the module is found from the launch's `cwd`).
#[test]
fn trimpath_binaries_speak_local_paths() {
    for tc in go_versions() {
        let out_dir = stillgo_testkit::repo_root().join("target").join("gotest").join(&tc.version).join("trimpath");
        std::fs::create_dir_all(&out_dir).expect("mkdir");
        let bin = out_dir.join(format!("hello-dap-{}", std::process::id()));
        let module = stillgo_testkit::testdata_dir().join("hello");
        let st = stillgo_testkit::go_command(&tc).current_dir(&module).args(["build", "-trimpath", "-gcflags=all=-N -l", "-o"]).arg(&bin).arg(".").status().expect("go build");
        assert!(st.success(), "{tc}: go build -trimpath");
        let local = source_path("hello", "main.go");
        let line = bp_line("hello", "main.go", "top");
        let mut d = Dap::start();
        d.request("initialize", json!({}));
        let r = d.request("launch", json!({"mode": "exec", "program": bin, "cwd": module}));
        assert_eq!(r["success"], true, "{tc}: {r}");
        d.event("initialized");
        let r = d.request("setBreakpoints", json!({"source": {"path": local}, "breakpoints": [{"line": line}]}));
        assert_eq!(r["body"]["breakpoints"][0]["verified"], true, "{tc}: a breakpoint on the local file: {r}");
        d.request("configurationDone", json!({}));
        let stopped = d.event("stopped");
        assert_eq!(stopped["body"]["reason"], "breakpoint", "{tc}: {stopped}");
        let r = d.request("stackTrace", json!({"threadId": stopped["body"]["threadId"]}));
        let top = &r["body"]["stackFrames"][0];
        assert_eq!(top["source"]["path"].as_str(), Some(local.to_string_lossy().as_ref()), "{tc}: {r}");
        assert_eq!(top["line"], line, "{tc}: {r}");
        d.request("disconnect", json!({"terminateDebuggee": true}));
        drop(d);
        let _ = std::fs::remove_file(&bin);
    }
}
