//! `stillgo dap`: a Debug Adapter Protocol server, a drop-in for `dlv dap`
//! in VS Code's Go extension and nvim-dap.
//!
//! Threads: the connection thread reads and parses messages and forwards
//! requests over a channel to the engine thread, which owns the
//! [`stillgo_session::Session`] (not `Send`: ptrace binds the tracee to the
//! thread that attached it). While the program runs the engine is blocked
//! in the session, so the connection thread answers `pause` itself through
//! the session's `Interrupter` and interrupts the program before forwarding
//! requests that must reach the engine (breakpoint changes, disconnect).
//! Responses and events from both threads and the output forwarders go
//! through one locked writer [`Out`], which numbers them.

mod engine;
pub mod protocol;
mod vars;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use stillgo_proc::Interrupter;

use protocol::{ErrorBody, ErrorMessage, Event, FrameError, OutputEvent, Request, Response, Thread, ThreadsBody};

/// Command line of `stillgo dap`.
pub struct Options {
    /// `HOST:PORT` to listen on; None serves one client on stdin/stdout.
    pub listen: Option<String>,
    pub allow_non_loopback: bool,
}

/// What the connection thread sends the engine.
pub enum Msg {
    Req(Request),
    /// The client is gone: end the debuggee and stop.
    Shutdown,
    /// A program run without debugging (`noDebug`) has exited; the number
    /// tells which run (a restart starts a new one).
    PlainExited(u64),
}

/// State the connection thread reads while the engine is busy.
#[derive(Default)]
pub struct Shared {
    interrupter: Mutex<Option<Interrupter>>,
    /// The program runs (the engine is blocked in the session).
    pub running: AtomicBool,
    /// The program was interrupted to apply requests: resume afterwards.
    pub reconfigure: AtomicBool,
    /// The program was interrupted to end or restart the session.
    pub quitting: AtomicBool,
    threads: Mutex<Vec<Thread>>,
    /// The end of the program's stderr (for fatal error messages).
    stderr_tail: Mutex<String>,
}

/// How much of the program's stderr is kept.
const STDERR_TAIL: usize = 8 << 10;

impl Shared {
    pub fn set_interrupter(&self, i: Option<Interrupter>) {
        if let Ok(mut g) = self.interrupter.lock() {
            *g = i;
        }
    }
    fn interrupt(&self) {
        if let Ok(g) = self.interrupter.lock() {
            if let Some(i) = g.as_ref() {
                // The user's (pause, new breakpoints, goodbye): it ends a
                // frozen step too, unlike the debugger's own interrupts.
                let _ = i.interrupt_for_user();
            }
        }
    }
    pub fn set_threads(&self, t: Vec<Thread>) {
        if let Ok(mut g) = self.threads.lock() {
            *g = t;
        }
    }
    fn threads(&self) -> Vec<Thread> {
        self.threads.lock().map(|g| g.clone()).unwrap_or_default()
    }
    pub fn push_stderr(&self, text: &str) {
        if let Ok(mut t) = self.stderr_tail.lock() {
            t.push_str(text);
            if t.len() > STDERR_TAIL {
                let mut cut = t.len() - STDERR_TAIL;
                while !t.is_char_boundary(cut) {
                    cut += 1;
                }
                t.drain(..cut);
            }
        }
    }
    pub fn clear_stderr(&self) {
        if let Ok(mut t) = self.stderr_tail.lock() {
            t.clear();
        }
    }
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

struct OutInner {
    w: Box<dyn Write + Send>,
    seq: i64,
    broken: bool,
}

/// The single writer of messages to the client.
#[derive(Clone)]
pub struct Out(Arc<Mutex<OutInner>>);

impl Out {
    pub fn new(w: Box<dyn Write + Send>) -> Out {
        Out(Arc::new(Mutex::new(OutInner { w, seq: 0, broken: false })))
    }

    fn send(&self, make: impl FnOnce(i64) -> Result<Vec<u8>, serde_json::Error>) {
        let Ok(mut g) = self.0.lock() else { return };
        if g.broken {
            return;
        }
        g.seq += 1;
        let seq = g.seq;
        let Ok(body) = make(seq) else { return };
        if protocol::write_message(&mut g.w, &body).is_err() {
            // The client is gone; the connection thread sees the end of its
            // input and shuts down.
            g.broken = true;
        }
    }

    pub fn respond(&self, req: &Request, result: Result<Option<serde_json::Value>, String>) {
        self.respond_to(req.seq, &req.command, result);
    }

    pub fn respond_to(&self, request_seq: i64, command: &str, result: Result<Option<serde_json::Value>, String>) {
        self.send(|seq| {
            let resp = match result {
                Ok(body) => Response { seq, kind: "response", request_seq, success: true, command: command.to_string(), message: None, body },
                Err(m) => Response {
                    seq,
                    kind: "response",
                    request_seq,
                    success: false,
                    command: command.to_string(),
                    message: Some(m.clone()),
                    body: serde_json::to_value(ErrorBody { error: ErrorMessage { id: 1, format: m, show_user: false } }).ok(),
                },
            };
            serde_json::to_vec(&resp)
        });
    }

    pub fn event<T: Serialize>(&self, event: &str, body: Option<T>) {
        self.send(|seq| {
            let body = match body {
                Some(b) => Some(serde_json::to_value(b)?),
                None => None,
            };
            serde_json::to_vec(&Event { seq, kind: "event", event: event.to_string(), body })
        });
    }

    pub fn output(&self, category: &'static str, output: String) {
        self.event("output", Some(OutputEvent { category, output, source: None, line: None }));
    }

    /// Output that comes from a place in the source (a logpoint).
    pub fn output_at(&self, category: &'static str, output: String, source: Option<protocol::SourceRef>, line: Option<u32>) {
        self.event("output", Some(OutputEvent { category, output, source, line }));
    }
}

/// Serves one client until it disconnects or its stream ends.
pub fn serve(input: impl Read, output: Box<dyn Write + Send>) {
    let out = Out::new(output);
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::channel::<Msg>();
    let engine = {
        let (out, shared) = (out.clone(), shared.clone());
        let tx = tx.clone();
        std::thread::Builder::new().name("dap-engine".into()).spawn(move || engine::Engine::new(out, shared, rx, tx).run())
    };
    let engine = match engine {
        Ok(h) => h,
        Err(e) => {
            eprintln!("stillgo dap: cannot start the engine thread: {e}");
            return;
        }
    };
    let mut r = BufReader::new(input);
    loop {
        let body = match protocol::read_message(&mut r) {
            Ok(b) => b,
            Err(FrameError::Eof) => break,
            Err(FrameError::Io(e)) => {
                eprintln!("stillgo dap: {e}");
                break;
            }
            Err(FrameError::Fatal(m)) => {
                // The stream cannot be resynchronized: say why, then close.
                eprintln!("stillgo dap: {m}; closing the connection");
                out.output("console", format!("stillgo: {m}; closing the connection\n"));
                break;
            }
        };
        let req = match protocol::parse_request(&body) {
            Ok(r) => r,
            Err(bad) => {
                out.respond_to(bad.seq, &bad.command, Err(bad.message));
                continue;
            }
        };
        let last = req.command == "disconnect";
        if !route(req, &out, &shared, &tx) || last {
            break;
        }
    }
    // The client is gone (or said goodbye): stop a running program so the
    // engine can end the session.
    if shared.running.load(Ordering::SeqCst) {
        shared.quitting.store(true, Ordering::SeqCst);
        shared.interrupt();
    }
    let _ = tx.send(Msg::Shutdown);
    let _ = engine.join();
}

/// Decides who answers a request: the connection thread (while the program
/// runs, for requests that cannot wait) or the engine. False when the
/// engine is gone.
fn route(req: Request, out: &Out, shared: &Shared, tx: &mpsc::Sender<Msg>) -> bool {
    let running = shared.running.load(Ordering::SeqCst);
    match req.command.as_str() {
        "pause" if running => {
            // Answer first: the `stopped` event follows the response.
            out.respond(&req, Ok(None));
            shared.interrupt();
            return true;
        }
        "threads" if running => {
            let body = serde_json::to_value(ThreadsBody { threads: shared.threads() }).ok();
            out.respond(&req, Ok(body));
            return true;
        }
        "continue" if running => {
            out.respond(&req, Ok(serde_json::to_value(protocol::ContinueBody { all_threads_continued: true }).ok()));
            return true;
        }
        // Queued before the interrupt, so the engine finds the request when
        // the program stops.
        "setBreakpoints" | "setFunctionBreakpoints" | "setExceptionBreakpoints" if running => {
            shared.reconfigure.store(true, Ordering::SeqCst);
            let sent = tx.send(Msg::Req(req)).is_ok();
            shared.interrupt();
            return sent;
        }
        "disconnect" | "terminate" | "restart" if running => {
            shared.quitting.store(true, Ordering::SeqCst);
            let sent = tx.send(Msg::Req(req)).is_ok();
            shared.interrupt();
            return sent;
        }
        "continue" | "next" | "stepIn" | "stepOut" | "pause" | "disconnect" | "terminate" | "restart" => {}
        _ if running => {
            out.respond(&req, Err(format!("{}: the program is running; pause it first", req.command)));
            return true;
        }
        _ => {}
    }
    if matches!(req.command.as_str(), "continue" | "next" | "stepIn" | "stepOut") {
        // Marked here, not only by the engine, so a pause sent right after
        // reaches the program even before the engine resumes it.
        shared.running.store(true, Ordering::SeqCst);
    }
    if !matches!(req.command.as_str(), "disconnect" | "terminate" | "restart") {
        shared.quitting.store(false, Ordering::SeqCst);
    }
    tx.send(Msg::Req(req)).is_ok()
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Runs `stillgo dap`.
pub fn run(opts: Options) -> Result<ExitCode, String> {
    let Some(listen) = opts.listen else {
        // Clients that spawn the adapter speak DAP on its stdin/stdout.
        let stdin = std::io::stdin();
        serve(stdin.lock(), Box::new(std::io::stdout()));
        return Ok(ExitCode::SUCCESS);
    };
    let addrs: Vec<SocketAddr> =
        listen.to_socket_addrs().map_err(|e| format!("invalid --listen address {listen:?}: {e}"))?.collect();
    if addrs.is_empty() {
        return Err(format!("--listen address {listen:?} resolves to nothing"));
    }
    if !addrs.iter().all(is_loopback) {
        if !opts.allow_non_loopback {
            return Err(format!(
                "refusing to listen on {listen}: it is not a loopback address, and anyone who can reach it can run code as you. \
                 Use 127.0.0.1, or pass --allow-non-loopback if you really mean it"
            ));
        }
        eprintln!("stillgo dap: WARNING: listening on non-loopback address {listen}: anyone who can connect can control the debugged program and run code as this user");
    }
    let listener = TcpListener::bind(&addrs[..]).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // The VS Code Go extension waits for this line to connect.
    println!("DAP server listening at: {local}");
    let _ = std::io::stdout().flush();
    let (stream, peer) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    tracing::debug!("DAP client connected from {peer}");
    // One client at a time: later connections are told so and closed.
    let _ = std::thread::Builder::new().name("dap-reject".into()).spawn(move || {
        for mut s in listener.incoming().flatten() {
            let msg = serde_json::to_vec(&protocol::Event {
                seq: 1,
                kind: "event",
                event: "output".into(),
                body: serde_json::to_value(OutputEvent {
                    category: "important",
                    output: "stillgo dap serves one client at a time; another client is connected\n".into(),
                    source: None,
                    line: None,
                })
                .ok(),
            });
            if let Ok(m) = msg {
                let _ = protocol::write_message(&mut s, &m);
            }
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    });
    let write = stream.try_clone().map_err(|e| format!("socket: {e}"))?;
    let _ = stream.set_nodelay(true);
    serve(stream, Box::new(write));
    Ok(ExitCode::SUCCESS)
}
