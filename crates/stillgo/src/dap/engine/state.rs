//! The engine's state: the [`Engine`] (the session, the program it runs,
//! the client's settings, breakpoint bookkeeping, frame and variable ids)
//! and the small helpers every request family shares (paths, the session,
//! output). The request families live in the sibling files; `mod.rs`
//! dispatches to them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::Child;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use stillgo_proc::LaunchOptions;
use stillgo_runtime::Limits;
use stillgo_session::{Session, SessionError};

use crate::dap::protocol::*;
use crate::dap::{Msg, Out, Shared};

use super::handles::{FrameCtx, Handles, Target};

/// The engine: one per connection, on its own thread.
pub struct Engine {
    pub(super) out: Out,
    pub(super) shared: Arc<Shared>,
    pub(super) rx: Receiver<Msg>,
    /// For the threads that wait for a `noDebug` program to end.
    pub(super) tx: Sender<Msg>,
    pub(super) session: Option<Session>,
    /// How the program came to be and what runs it.
    pub(super) prog: ProgramState,
    /// The client's launch/attach settings.
    pub(super) cfg: Settings,
    pub(super) bps: BreakpointIds,
    pub(super) ids: Handles,
    pub(super) last_exception: Option<(String, String)>,
    pub(super) done: bool,
}

/// The program of this session: launched, built, attached or run without
/// the debugger, and what restart needs to do it again.
#[derive(Default)]
pub(super) struct ProgramState {
    /// The program of a `noDebug` launch, while it runs.
    pub(super) plain: Option<PlainRun>,
    /// How a `noDebug` launch started the program (for restart).
    pub(super) plain_opts: Option<LaunchOptions>,
    pub(super) plain_runs: u64,
    /// The temporary build of `debug`/`test` mode; removed on drop.
    pub(super) built: Option<crate::build::Built>,
    pub(super) attached: bool,
    pub(super) stop_on_entry: bool,
    /// "Run without debugging": breakpoints and exception filters are not
    /// set, the program just runs with its output forwarded.
    pub(super) no_debug: bool,
    /// How `debug`/`test` mode built the program (package directory,
    /// flags, test), so restart builds it again from the current sources.
    pub(super) rebuild: Option<(String, Vec<String>, bool)>,
    /// The launch of a program built here, for the relaunch after a rebuild.
    pub(super) launch_opts: Option<LaunchOptions>,
    pub(super) pipes_done: Option<Receiver<()>>,
    pub(super) pipes_open: usize,
}

/// Settings from the launch/attach arguments.
#[derive(Default)]
pub(super) struct Settings {
    pub(super) subst: Vec<SubstitutePath>,
    /// The `freezeWorld` argument: whether `call` freezes the other
    /// goroutines. None leaves the choice to the session's default.
    pub(super) freeze_world: Option<bool>,
    /// The `freezeSteps` argument (Session::freeze_steps).
    pub(super) freeze_steps: bool,
    pub(super) limits: Limits,
}

/// The client's breakpoints and the session's.
#[derive(Default)]
pub(super) struct BreakpointIds {
    pub(super) source_bps: HashMap<String, Vec<u32>>,
    pub(super) function_bps: Vec<u32>,
    pub(super) exception_bps: Vec<(u32, ExceptionKind)>,
    /// Session breakpoint id -> the id the client knows. The same number
    /// until a restart rebuilds the program: the new session numbers its
    /// breakpoints afresh, the client keeps the ids it was given.
    pub(super) dap_ids: HashMap<u32, i64>,
    pub(super) next_dap_id: i64,
    /// What the client asked for and what it was answered, to set the
    /// breakpoints again in a rebuilt program: per source path (as the
    /// client names it), for function breakpoints, for exception filters.
    pub(super) source_reqs: HashMap<String, (Vec<SourceBreakpoint>, Vec<BreakpointOut>)>,
    pub(super) function_reqs: (Vec<FunctionBreakpoint>, Vec<BreakpointOut>),
    pub(super) exception_reqs: (Vec<String>, Vec<BreakpointOut>),
    /// Messages of the logpoints, by breakpoint id (tracepoints in the
    /// session); shared with the session's trace hook.
    pub(super) logpoints: Rc<RefCell<HashMap<u32, String>>>,
}

impl Engine {
    pub fn new(out: Out, shared: Arc<Shared>, rx: Receiver<Msg>, tx: Sender<Msg>) -> Engine {
        Engine {
            out,
            shared,
            rx,
            tx,
            session: None,
            prog: ProgramState::default(),
            cfg: Settings::default(),
            bps: BreakpointIds::default(),
            ids: Handles::default(),
            last_exception: None,
            done: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Resume {
    Continue,
    Next,
    StepIn,
    StepOut,
    /// One machine instruction (stepping granularity "instruction").
    Instruction,
}

/// Breakpoints stillgo places for the exception filters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExceptionKind {
    Panic,
    Fatal,
}

pub(super) fn exception_filters() -> Vec<ExceptionFilter> {
    vec![
        ExceptionFilter {
            filter: "panic".into(),
            label: "Unrecovered panics".into(),
            description: "Stop when a panic is not recovered and is about to end the program".into(),
            default: true,
        },
        ExceptionFilter {
            filter: "fatal".into(),
            label: "Fatal runtime errors".into(),
            description: "Stop on fatal runtime errors (concurrent map writes, deadlock, out of memory...)".into(),
            default: true,
        },
    ]
}

/// A program run without the debugger (`noDebug`, VS Code's "Run Without
/// Debugging"): a plain child process, not traced.
pub(super) struct PlainRun {
    pub(super) child: Child,
    /// Which run this is; a waiter thread reports the end of run `n` as
    /// `Msg::PlainExited(n)`.
    pub(super) run: u64,
}

pub(super) type R<T> = Result<T, String>;

pub(super) fn err(e: SessionError) -> String {
    e.to_string()
}

pub(super) fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGPIPE => "SIGPIPE",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Copies one of the program's output pipes to `output` events, keeping
/// UTF-8 sequences split across reads together.
pub(super) fn spawn_forwarder(mut f: std::fs::File, category: &'static str, out: Out, tail: Option<Arc<Shared>>, done: Sender<()>) {
    let spawned = std::thread::Builder::new().name(format!("dap-{category}")).spawn(move || {
        let mut buf = [0u8; 8192];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            pending.extend_from_slice(&buf[..n]);
            let keep = match std::str::from_utf8(&pending) {
                Ok(_) => 0,
                // An incomplete sequence at the end waits for the next read.
                Err(e) if e.error_len().is_none() => pending.len() - e.valid_up_to(),
                Err(_) => 0,
            };
            let text = String::from_utf8_lossy(&pending[..pending.len() - keep]).into_owned();
            pending.drain(..pending.len() - keep);
            if !text.is_empty() {
                if let Some(t) = &tail {
                    t.push_stderr(&text);
                }
                out.output(category, text);
            }
        }
        if !pending.is_empty() {
            out.output(category, String::from_utf8_lossy(&pending).into_owned());
        }
        let _ = done.send(());
    });
    if spawned.is_err() {
        eprintln!("stillgo dap: cannot start a thread to forward the program's {category}");
    }
}

/// Path in the binary -> path the client knows (`substitutePath` to -> from).
pub(super) fn to_client_path(subst: &[SubstitutePath], p: &str) -> String {
    for s in subst {
        if !s.to.is_empty() {
            if let Some(rest) = p.strip_prefix(&s.to) {
                return format!("{}{rest}", s.from);
            }
        }
    }
    p.to_string()
}

pub(super) fn source_ref_with(subst: &[SubstitutePath], file: &str) -> SourceRef {
    let path = to_client_path(subst, file);
    let name = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.clone());
    SourceRef { name, path }
}

/// A value as one line of text, or the error in angle brackets.
pub(super) fn eval_text(s: &mut Session, expr: &str, limits: &Limits) -> String {
    match s.eval(expr) {
        Ok(v) => match s.reader() {
            Ok(r) => stillgo_eval::format_val(&r, &v, limits),
            Err(e) => format!("<{e}>"),
        },
        Err(e) => format!("<{e}>"),
    }
}

/// A logpoint's message with each `{expr}` replaced by the value of expr
/// in the selected frame, as VS Code documents logpoints; one line.
pub(super) fn log_message(s: &mut Session, msg: &str, limits: &Limits) -> String {
    let mut text = String::new();
    let mut rest = msg;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                text.push_str(&eval_text(s, &after[..close], limits));
                rest = &after[close + 1..];
            }
            None => {
                text.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    text.push_str(rest);
    text.push('\n');
    text
}

impl Engine {
    pub(super) fn session(&mut self) -> R<&mut Session> {
        self.session.as_mut().ok_or_else(|| "no program: send launch or attach first".to_string())
    }

    /// The session of a program that is still there to run.
    pub(super) fn live_session(&mut self) -> R<&mut Session> {
        let s = self.session()?;
        if !s.is_running() {
            return Err("the program is not running (it exited or was terminated); use restart to run it again".into());
        }
        Ok(s)
    }

    /// Frame and variable handles are valid until the program runs again.
    pub(super) fn invalidate(&mut self) {
        self.ids.clear();
        self.last_exception = None;
    }

    /// Client path -> path in the binary (`substitutePath` from -> to).
    pub(super) fn to_binary_path(&self, p: &str) -> String {
        for s in &self.cfg.subst {
            if let Some(rest) = p.strip_prefix(&s.from) {
                return format!("{}{rest}", s.to);
            }
        }
        p.to_string()
    }

    /// A file named in the binary as the client knows it: found on this
    /// machine first (a `-trimpath` binary's `module/dir/x.go`, see
    /// `stillgo_session::paths`), then through `substitutePath`.
    pub(super) fn source_ref(&self, file: &str) -> SourceRef {
        match &self.session {
            Some(s) => source_ref_with(&self.cfg.subst, &s.sources.local(file)),
            None => source_ref_with(&self.cfg.subst, file),
        }
    }

    /// Ends a `noDebug` program, if one runs.
    pub(super) fn kill_plain(&mut self) {
        if let Some(mut p) = self.prog.plain.take() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Waits (briefly) until the program's output has been forwarded, so
    /// it reaches the client before `exited`.
    pub(super) fn drain_output(&mut self) {
        if let Some(rx) = &self.prog.pipes_done {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while self.prog.pipes_open > 0 {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(()) => self.prog.pipes_open -= 1,
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        self.prog.pipes_done = None;
        self.prog.pipes_open = 0;
    }

    pub(super) fn finish(&mut self, code: i64) {
        self.drain_output();
        self.shared.set_interrupter(None);
        self.out.event("exited", Some(ExitedEvent { exit_code: code }));
        self.out.event("terminated", Some(TerminatedEvent {}));
    }

    pub(super) fn eval_text(&mut self, expr: &str) -> String {
        let limits = self.cfg.limits;
        match self.session.as_mut() {
            Some(s) => eval_text(s, expr, &limits),
            None => "<no program>".into(),
        }
    }

    pub(super) fn select(&mut self, ctx: FrameCtx) -> R<()> {
        let s = self.session()?;
        match ctx.target {
            Target::Goroutine(g) => s.select_goroutine(g).map_err(err)?,
            Target::Thread(t) => s.select_thread(t).map_err(err)?,
        }
        s.select_frame(ctx.frame).map_err(err)?;
        Ok(())
    }
}
