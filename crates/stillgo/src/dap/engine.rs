//! The engine thread: owns the [`Session`] (which must live on one thread,
//! ptrace ties the tracee to the thread that attached it) and answers the
//! requests the connection thread forwards.
//!
//! While the program runs the engine is blocked in the session; the
//! connection thread answers `pause` itself (through the session's
//! `Interrupter`) and, for requests that need the engine (breakpoint
//! changes, disconnect), interrupts the program first and marks why, so the
//! engine applies them and resumes (or ends) without reporting a stop.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use stillgo_proc::{ChildPipes, LaunchOptions, StdioMode, Tid};
use stillgo_runtime::{Limits, Value};
use stillgo_session::{CallOptions, CallOutcome, CallValue, HitCondition, Session, SessionError, Stop, TraceHit};

use super::protocol::*;
use super::vars::{self, ChildVal, Kids};
use super::{Msg, Out, Shared};
use crate::build;

/// Frames unwound for one stack trace (the editor pages through them).
const MAX_FRAMES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Goroutine(u64),
    Thread(Tid),
}

#[derive(Debug, Clone, Copy)]
struct FrameCtx {
    target: Target,
    frame: usize,
}

enum Handle {
    Scope { ctx: FrameCtx, args: bool },
    Value { ctx: FrameCtx, value: Value, path: Option<String> },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    Continue,
    Next,
    StepIn,
    StepOut,
    /// One machine instruction (stepping granularity "instruction").
    Instruction,
}

/// Breakpoints stillgo places for the exception filters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExceptionKind {
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

/// Strings copied with the editor's "Copy Value" (evaluate in the
/// `clipboard` context) are read up to this many bytes, not cut at the
/// display limit.
const CLIPBOARD_STRING_LEN: usize = 1 << 20;

/// A program run without the debugger (`noDebug`, VS Code's "Run Without
/// Debugging"): a plain child process, not traced.
struct PlainRun {
    child: Child,
    /// Which run this is; a waiter thread reports the end of run `n` as
    /// `Msg::PlainExited(n)`.
    run: u64,
}

pub struct Engine {
    out: Out,
    shared: Arc<Shared>,
    rx: Receiver<Msg>,
    /// For the threads that wait for a `noDebug` program to end.
    tx: Sender<Msg>,
    session: Option<Session>,
    /// The program of a `noDebug` launch, while it runs.
    plain: Option<PlainRun>,
    /// How a `noDebug` launch started the program (for restart).
    plain_opts: Option<LaunchOptions>,
    plain_runs: u64,
    /// The temporary build of `debug`/`test` mode; removed on drop.
    built: Option<build::Built>,
    attached: bool,
    stop_on_entry: bool,
    /// "Run without debugging": breakpoints and exception filters are not
    /// set, the program just runs with its output forwarded.
    no_debug: bool,
    subst: Vec<SubstitutePath>,
    source_bps: HashMap<String, Vec<u32>>,
    function_bps: Vec<u32>,
    exception_bps: Vec<(u32, ExceptionKind)>,
    /// Session breakpoint id -> the id the client knows. The same number
    /// until a restart rebuilds the program: the new session numbers its
    /// breakpoints afresh, the client keeps the ids it was given.
    dap_ids: HashMap<u32, i64>,
    next_dap_id: i64,
    /// What the client asked for and what it was answered, to set the
    /// breakpoints again in a rebuilt program: per source path (as the
    /// client names it), for function breakpoints, for exception filters.
    source_reqs: HashMap<String, (Vec<SourceBreakpoint>, Vec<BreakpointOut>)>,
    function_reqs: (Vec<FunctionBreakpoint>, Vec<BreakpointOut>),
    exception_reqs: (Vec<String>, Vec<BreakpointOut>),
    /// How `debug`/`test` mode built the program (package directory,
    /// flags, test), so restart builds it again from the current sources.
    rebuild: Option<(String, Vec<String>, bool)>,
    /// The launch of a program built here, for the relaunch after a rebuild.
    launch_opts: Option<LaunchOptions>,
    /// Messages of the logpoints, by breakpoint id (tracepoints in the
    /// session); shared with the session's trace hook.
    logpoints: Rc<RefCell<HashMap<u32, String>>>,
    /// The `freezeWorld` launch/attach argument: whether `call` freezes the
    /// other goroutines. None leaves the choice to the session's default.
    freeze_world: Option<bool>,
    /// The `freezeSteps` launch/attach argument (Session::freeze_steps).
    freeze_steps: bool,
    frames: Vec<FrameCtx>,
    handles: Vec<Handle>,
    /// Ids of earlier stops are never reused, so a stale id from the client
    /// is an error rather than another stop's frame or variable.
    frames_base: i64,
    handles_base: i64,
    pipes_done: Option<Receiver<()>>,
    pipes_open: usize,
    last_exception: Option<(String, String)>,
    done: bool,
    limits: Limits,
}

type R<T> = Result<T, String>;

fn err(e: SessionError) -> String {
    e.to_string()
}

impl Engine {
    pub fn new(out: Out, shared: Arc<Shared>, rx: Receiver<Msg>, tx: Sender<Msg>) -> Engine {
        Engine {
            out,
            shared,
            rx,
            tx,
            session: None,
            plain: None,
            plain_opts: None,
            plain_runs: 0,
            built: None,
            attached: false,
            stop_on_entry: false,
            no_debug: false,
            subst: Vec::new(),
            source_bps: HashMap::new(),
            function_bps: Vec::new(),
            exception_bps: Vec::new(),
            dap_ids: HashMap::new(),
            next_dap_id: 0,
            source_reqs: HashMap::new(),
            function_reqs: (Vec::new(), Vec::new()),
            exception_reqs: (Vec::new(), Vec::new()),
            rebuild: None,
            launch_opts: None,
            logpoints: Rc::new(RefCell::new(HashMap::new())),
            freeze_world: None,
            freeze_steps: false,
            frames: Vec::new(),
            handles: Vec::new(),
            frames_base: 0,
            handles_base: 0,
            pipes_done: None,
            pipes_open: 0,
            last_exception: None,
            done: false,
            limits: Limits::default(),
        }
    }

    pub fn run(mut self) {
        while !self.done {
            match self.rx.recv() {
                Ok(Msg::Req(req)) => self.handle(req),
                Ok(Msg::PlainExited(run)) => self.plain_exited(run),
                Ok(Msg::Shutdown) | Err(_) => break,
            }
        }
        self.shutdown();
    }

    /// Ends the debuggee the way a disconnect without arguments would.
    fn shutdown(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = s.end();
        }
        self.kill_plain();
        self.shared.set_interrupter(None);
    }

    fn handle(&mut self, req: Request) {
        let r = self.dispatch(&req);
        // Whatever the request did, the program is not running once it is
        // handled (the connection thread marks resume requests as running
        // before they get here; one that failed must not stay marked).
        self.shared.running.store(false, Ordering::SeqCst);
        match r {
            Ok(Some(body)) => self.out.respond(&req, Ok(Some(body))),
            Ok(None) => {}
            Err(m) => self.out.respond(&req, Err(m)),
        }
    }

    fn body<T: Serialize>(b: T) -> R<Option<serde_json::Value>> {
        serde_json::to_value(b).map(Some).map_err(|e| e.to_string())
    }

    /// Handles one request; `Ok(Some(body))` is answered by the caller,
    /// `Ok(None)` means the handler answered itself (commands that answer
    /// before running the program).
    fn dispatch(&mut self, req: &Request) -> R<Option<serde_json::Value>> {
        if self.no_debug
            && matches!(
                req.command.as_str(),
                "continue" | "next" | "stepIn" | "stepOut" | "stackTrace" | "scopes" | "variables" | "evaluate" | "setVariable" | "exceptionInfo" | "disassemble"
            )
        {
            return Err(format!("{}: the program runs without debugging (noDebug)", req.command));
        }
        match req.command.as_str() {
            "initialize" => {
                let _a: InitializeArgs = req.args()?;
                Self::body(Capabilities {
                    supports_configuration_done_request: true,
                    supports_function_breakpoints: true,
                    supports_conditional_breakpoints: true,
                    supports_hit_conditional_breakpoints: true,
                    supports_log_points: true,
                    supports_evaluate_for_hovers: true,
                    supports_set_variable: true,
                    supports_restart_request: true,
                    supports_terminate_request: true,
                    support_terminate_debuggee: true,
                    supports_exception_info_request: true,
                    supports_disassemble_request: true,
                    supports_delayed_stack_trace_loading: true,
                    supports_stepping_granularity: true,
                    supports_clipboard_context: true,
                    exception_breakpoint_filters: exception_filters(),
                    ..Default::default()
                })
            }
            "launch" => {
                let a: LaunchArgs = req.args()?;
                self.launch(a)?;
                self.out.respond(req, Ok(None));
                self.out.event("initialized", None::<()>);
                Ok(None)
            }
            "attach" => {
                let a: AttachArgs = req.args()?;
                self.attach(a)?;
                self.out.respond(req, Ok(None));
                self.out.event("initialized", None::<()>);
                Ok(None)
            }
            "configurationDone" => {
                self.out.respond(req, Ok(None));
                self.start_running();
                Ok(None)
            }
            "setBreakpoints" => {
                let a: SetBreakpointsArgs = req.args()?;
                Self::body(BreakpointsBody { breakpoints: self.set_breakpoints(a)? })
            }
            "setFunctionBreakpoints" => {
                let a: SetFunctionBreakpointsArgs = req.args()?;
                Self::body(BreakpointsBody { breakpoints: self.set_function_breakpoints(a)? })
            }
            "setExceptionBreakpoints" => {
                let a: SetExceptionBreakpointsArgs = req.args()?;
                Self::body(BreakpointsBody { breakpoints: self.set_exception_breakpoints(a.filters)? })
            }
            "threads" => {
                let threads = self.threads();
                Self::body(ThreadsBody { threads })
            }
            "stackTrace" => {
                let a: StackTraceArgs = req.args()?;
                Self::body(self.stack_trace(a)?)
            }
            "scopes" => {
                let a: ScopesArgs = req.args()?;
                let ctx = self.frame_ctx(a.frame_id)?;
                let locals = self.push_handle(Handle::Scope { ctx, args: false });
                let args = self.push_handle(Handle::Scope { ctx, args: true });
                Self::body(ScopesBody {
                    scopes: vec![
                        Scope { name: "Arguments".into(), presentation_hint: "arguments", variables_reference: args, expensive: false },
                        Scope { name: "Locals".into(), presentation_hint: "locals", variables_reference: locals, expensive: false },
                    ],
                })
            }
            "variables" => {
                let a: VariablesArgs = req.args()?;
                Self::body(VariablesBody { variables: self.variables(a)? })
            }
            "evaluate" => {
                let a: EvaluateArgs = req.args()?;
                Self::body(self.evaluate(a)?)
            }
            "setVariable" => {
                let a: SetVariableArgs = req.args()?;
                Self::body(self.set_variable(a)?)
            }
            "continue" => {
                let _a: serde_json::Value = req.args()?;
                self.live_session()?;
                self.out.respond(req, Self::body(ContinueBody { all_threads_continued: true }));
                self.resume(Resume::Continue);
                Ok(None)
            }
            "next" | "stepIn" | "stepOut" => {
                let a: StepArgs = req.args()?;
                let g = u64::try_from(a.thread_id).map_err(|_| format!("unknown thread {}", a.thread_id))?;
                self.live_session()?.select_goroutine(g).map_err(err)?;
                let instruction = a.granularity.as_deref() == Some("instruction");
                let kind = match req.command.as_str() {
                    "next" | "stepIn" if instruction => Resume::Instruction,
                    "next" => Resume::Next,
                    "stepIn" => Resume::StepIn,
                    _ => Resume::StepOut,
                };
                self.out.respond(req, Ok(None));
                self.resume(kind);
                Ok(None)
            }
            "pause" => {
                // The program is stopped (the connection thread answers a
                // pause while it runs): nothing to do.
                let _a: ThreadArgs = req.args()?;
                self.out.respond(req, Ok(None));
                Ok(None)
            }
            "restart" => {
                self.shared.quitting.store(false, Ordering::SeqCst);
                if let Err(e) = self.restart() {
                    if self.session.is_none() && self.plain.is_none() && self.rebuild.is_some() {
                        // The rebuild failed after the old program ended:
                        // nothing is left to debug; say why and end.
                        self.out.respond(req, Err(e));
                        self.out.event("terminated", Some(TerminatedEvent {}));
                        return Ok(None);
                    }
                    return Err(e);
                }
                self.out.respond(req, Ok(None));
                self.start_running();
                Ok(None)
            }
            "disconnect" => {
                let a: DisconnectArgs = req.args()?;
                self.disconnect(a);
                self.out.respond(req, Ok(None));
                self.done = true;
                Ok(None)
            }
            "terminate" => {
                self.terminate();
                self.out.respond(req, Ok(None));
                self.out.event("terminated", Some(TerminatedEvent {}));
                Ok(None)
            }
            "exceptionInfo" => {
                let _a: ThreadArgs = req.args()?;
                let (id, desc) = self.last_exception.clone().ok_or("the program is not stopped on an exception")?;
                Self::body(ExceptionInfoBody { exception_id: id, description: Some(desc), break_mode: "unhandled" })
            }
            "disassemble" => {
                let a: DisassembleArgs = req.args()?;
                Self::body(self.disassemble(a)?)
            }
            other => Err(format!("unsupported request {other:?}")),
        }
    }

    fn session(&mut self) -> R<&mut Session> {
        self.session.as_mut().ok_or_else(|| "no program: send launch or attach first".to_string())
    }

    /// The session of a program that is still there to run.
    fn live_session(&mut self) -> R<&mut Session> {
        let s = self.session()?;
        if !s.is_running() {
            return Err("the program is not running (it exited or was terminated); use restart to run it again".into());
        }
        Ok(s)
    }

    fn push_handle(&mut self, h: Handle) -> i64 {
        self.handles.push(h);
        self.handles_base + self.handles.len() as i64
    }

    /// Frame and variable handles are valid until the program runs again.
    fn invalidate(&mut self) {
        self.frames_base += self.frames.len() as i64;
        self.handles_base += self.handles.len() as i64;
        self.frames.clear();
        self.handles.clear();
        self.last_exception = None;
    }

    // ---- paths ------------------------------------------------------------------

    /// Client path -> path in the binary (`substitutePath` from -> to).
    fn to_binary_path(&self, p: &str) -> String {
        for s in &self.subst {
            if let Some(rest) = p.strip_prefix(&s.from) {
                return format!("{}{rest}", s.to);
            }
        }
        p.to_string()
    }

    fn source_ref(&self, file: &str) -> SourceRef {
        source_ref_with(&self.subst, file)
    }

    // ---- launch and attach ------------------------------------------------------

    fn launch(&mut self, a: LaunchArgs) -> R<()> {
        if self.session.is_some() || self.plain_opts.is_some() {
            return Err("a program is already being debugged".into());
        }
        let program = a.program.clone().ok_or("launch: \"program\" is required")?;
        let mode = match a.mode.as_deref() {
            None | Some("auto") if program.ends_with("_test.go") => "test".to_string(),
            None | Some("auto") => "debug".to_string(),
            Some(m) => m.to_string(),
        };
        let mut default_cwd = None;
        let binary = match mode.as_str() {
            "debug" | "test" => {
                // `program` is a package directory or a file in it.
                let p = PathBuf::from(&program);
                let dir = if p.is_file() { p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")) } else { p };
                let flags = a.build_flags.as_ref().map(StringOrList::args).unwrap_or_default();
                // `output`: where the binary goes; a relative path is taken
                // from the program's working directory (`cwd`, else the
                // package directory), where the user looks for it.
                let output = a.output.as_deref().map(str::trim).filter(|o| !o.is_empty()).map(|o| {
                    let o = PathBuf::from(o);
                    if o.is_absolute() {
                        o
                    } else {
                        a.cwd.as_ref().map(PathBuf::from).unwrap_or_else(|| dir.clone()).join(o)
                    }
                });
                let package = dir.to_string_lossy().into_owned();
                let built = build::build_to(Some(&package), &flags, mode == "test", output)?;
                let bin = built.binary.clone();
                self.built = Some(built);
                self.rebuild = Some((package, flags, mode == "test"));
                // Tests read their testdata relative to the package, so a
                // package's tests run in its directory (as `go test` does).
                default_cwd = Some(dir);
                bin
            }
            "exec" => PathBuf::from(&program),
            other => return Err(format!("launch mode {other:?} is not supported (use debug, test or exec)")),
        };
        let env = if a.env.is_empty() {
            None
        } else {
            let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| !a.env.contains_key(k)).collect();
            env.extend(a.env.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone()))));
            Some(env)
        };
        let opts = LaunchOptions {
            program: binary,
            args: a.args.as_ref().map(StringOrList::args).unwrap_or_default(),
            env,
            cwd: a.cwd.as_ref().map(PathBuf::from).or(default_cwd),
            disable_aslr: false,
            stdio: StdioMode::Piped,
            // The program must not receive signals meant for the adapter
            // (a Ctrl-C in the terminal that started it).
            new_process_group: true,
        };
        self.subst = a.substitute_path.clone();
        self.attached = false;
        self.freeze_world = a.freeze_world;
        self.freeze_steps = a.freeze_steps;
        if self.rebuild.is_some() {
            self.launch_opts = Some(opts.clone());
        }
        if a.no_debug {
            // "Run without debugging": no ptrace at all, as dlv does.
            self.no_debug = true;
            self.stop_on_entry = false;
            self.spawn_plain(&opts)?;
            self.plain_opts = Some(opts);
            return Ok(());
        }
        let (session, pipes) = Session::launch(opts).map_err(err)?;
        self.no_debug = false;
        self.stop_on_entry = a.stop_on_entry;
        self.adopt(session);
        self.forward_pipes(pipes);
        Ok(())
    }

    /// Starts the program of a `noDebug` launch as a plain child process,
    /// its output forwarded, and a thread that reports when it ends.
    fn spawn_plain(&mut self, opts: &LaunchOptions) -> R<()> {
        let mut cmd = Command::new(&opts.program);
        cmd.args(&opts.args);
        if let Some(env) = &opts.env {
            cmd.env_clear();
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        if let Some(cwd) = &opts.cwd {
            cmd.current_dir(cwd);
        }
        // As for debugged programs: no terminal input, output to the
        // client, and a process group of its own so signals meant for the
        // adapter (a Ctrl-C where it was started) do not reach it.
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", opts.program.display()))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot read the program's output".into());
        };
        self.forward_pipes(Some(ChildPipes {
            stdout: std::fs::File::from(OwnedFd::from(stdout)),
            stderr: std::fs::File::from(OwnedFd::from(stderr)),
        }));
        self.plain_runs += 1;
        let run = self.plain_runs;
        let pid = child.id();
        let tx = self.tx.clone();
        let waiter = std::thread::Builder::new().name("dap-nodebug-wait".into()).spawn(move || {
            loop {
                // SAFETY: waitid(2) only writes the siginfo_t it is given.
                // WNOWAIT leaves the child a zombie: the engine reaps it
                // (Child::wait), so its pid cannot be reused while the
                // engine may still kill it.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
                if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            let _ = tx.send(Msg::PlainExited(run));
        });
        if let Err(e) = waiter {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cannot start a thread to wait for the program: {e}"));
        }
        self.plain = Some(PlainRun { child, run });
        Ok(())
    }

    /// A `noDebug` program ended: report its exit status.
    fn plain_exited(&mut self, run: u64) {
        // A report about an earlier run (killed for a restart) is stale.
        if self.plain.as_ref().map(|p| p.run) != Some(run) {
            return;
        }
        let Some(mut p) = self.plain.take() else { return };
        let code = match p.child.wait() {
            Ok(st) => match (st.code(), st.signal()) {
                (Some(c), _) => c as i64,
                (None, Some(sig)) => 128 + sig as i64,
                (None, None) => -1,
            },
            Err(_) => -1,
        };
        self.finish(code);
    }

    /// Ends a `noDebug` program, if one runs.
    fn kill_plain(&mut self) {
        if let Some(mut p) = self.plain.take() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Logpoints are the session's tracepoints: the hook prints their
    /// message when one is hit (with the program stopped there) and the
    /// program goes on, also in the middle of a step.
    /// Takes a new session: the interrupter for pause, the launch options
    /// the session keeps (freezeSteps), the logpoint hook.
    fn adopt(&mut self, mut session: Session) {
        self.shared.set_interrupter(session.interrupter());
        session.freeze_steps = self.freeze_steps;
        self.session = Some(session);
        self.install_trace_hook();
    }

    fn install_trace_hook(&mut self) {
        let (msgs, out, limits) = (self.logpoints.clone(), self.out.clone(), self.limits);
        let subst = self.subst.clone();
        let Some(s) = self.session.as_mut() else { return };
        s.set_trace_hook(Some(Box::new(move |s: &mut Session, hit: &TraceHit| {
            let Some(msg) = msgs.borrow().get(&hit.id).cloned() else { return };
            let text = log_message(s, &msg, &limits);
            let at = s.current_frame().ok();
            let source = at.as_ref().and_then(|f| f.file.as_deref()).map(|f| source_ref_with(&subst, f));
            out.output_at("console", text, source, at.map(|f| f.line));
        })));
    }

    fn attach(&mut self, a: AttachArgs) -> R<()> {
        if self.session.is_some() {
            return Err("a program is already being debugged".into());
        }
        match a.mode.as_deref() {
            None | Some("local") => {}
            Some(m) => return Err(format!("attach mode {m:?} is not supported (use local)")),
        }
        let pid = a.process_id.ok_or("attach: \"processId\" is required")?;
        let pid = i32::try_from(pid).map_err(|_| format!("invalid processId {pid}"))?;
        let session = Session::attach(pid).map_err(err)?;
        self.stop_on_entry = a.stop_on_entry;
        self.subst = a.substitute_path.clone();
        self.freeze_world = a.freeze_world;
        self.freeze_steps = a.freeze_steps;
        self.attached = true;
        self.adopt(session);
        Ok(())
    }

    /// Forwards the program's stdout and stderr as `output` events.
    fn forward_pipes(&mut self, pipes: Option<stillgo_proc::ChildPipes>) {
        let Some(p) = pipes else { return };
        self.shared.clear_stderr();
        let (tx, rx) = std::sync::mpsc::channel();
        self.pipes_done = Some(rx);
        self.pipes_open = 2;
        spawn_forwarder(p.stdout, "stdout", self.out.clone(), None, tx.clone());
        spawn_forwarder(p.stderr, "stderr", self.out.clone(), Some(self.shared.clone()), tx);
    }

    /// Waits (briefly) until the program's output has been forwarded, so
    /// it reaches the client before `exited`.
    fn drain_output(&mut self) {
        if let Some(rx) = &self.pipes_done {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while self.pipes_open > 0 {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(()) => self.pipes_open -= 1,
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        self.pipes_done = None;
        self.pipes_open = 0;
    }

    fn restart(&mut self) -> R<()> {
        if self.attached {
            return Err("cannot restart a program that was attached to".into());
        }
        if self.rebuild.is_some() {
            return self.rebuild_and_relaunch();
        }
        if let Some(opts) = self.plain_opts.clone() {
            self.kill_plain();
            return self.spawn_plain(&opts);
        }
        let s = self.session()?;
        let pipes = s.restart().map_err(err)?;
        let i = s.interrupter();
        self.shared.set_interrupter(i);
        self.invalidate();
        self.forward_pipes(pipes);
        Ok(())
    }

    /// Restart of a program built here: build it again from the sources as
    /// they are now (the user restarts after an edit), launch it, and set
    /// the breakpoints again, under the ids the client knows.
    fn rebuild_and_relaunch(&mut self) -> R<()> {
        let (package, flags, test) = self.rebuild.clone().ok_or("nothing to rebuild")?;
        // The old program goes first: the new binary replaces its file.
        if let Some(mut s) = self.session.take() {
            let _ = s.end();
        }
        self.kill_plain();
        self.shared.set_interrupter(None);
        self.invalidate();
        self.built.as_ref().ok_or("the built program is gone")?.rebuild(Some(&package), &flags, test)?;
        let opts = self.launch_opts.clone().ok_or("no launch to repeat")?;
        if self.no_debug {
            return self.spawn_plain(&opts);
        }
        let (session, pipes) = Session::launch(opts).map_err(err)?;
        self.adopt(session);
        self.forward_pipes(pipes);
        self.reapply_breakpoints();
        Ok(())
    }

    /// Sets every breakpoint the client asked for in the new session.
    fn reapply_breakpoints(&mut self) {
        self.dap_ids.clear();
        self.source_bps.clear();
        self.function_bps.clear();
        self.exception_bps.clear();
        self.logpoints.borrow_mut().clear();
        for (path, (wanted, old)) in std::mem::take(&mut self.source_reqs) {
            let new = self.apply_source(&path, &wanted).unwrap_or_else(|e| {
                wanted.iter().map(|b| BreakpointOut { id: None, verified: false, message: Some(e.clone()), source: None, line: Some(b.line) }).collect()
            });
            let outs = self.carry_ids(&old, new);
            self.source_reqs.insert(path, (wanted, outs));
        }
        let (wanted, old) = std::mem::take(&mut self.function_reqs);
        let new = self.apply_functions(&wanted);
        let outs = self.carry_ids(&old, new);
        self.function_reqs = (wanted, outs);
        let (filters, old) = std::mem::take(&mut self.exception_reqs);
        let new = self.apply_exceptions(&filters);
        let outs = self.carry_ids(&old, new);
        self.exception_reqs = (filters, outs);
    }

    /// Gives breakpoints set again the ids the client knows (the same
    /// position in the same request) and tells it about those that moved
    /// or changed state (`breakpoint` events).
    fn carry_ids(&mut self, old: &[BreakpointOut], new: Vec<BreakpointOut>) -> Vec<BreakpointOut> {
        let mut out = Vec::with_capacity(new.len());
        for (i, mut b) in new.into_iter().enumerate() {
            let before = old.get(i);
            match (before.and_then(|o| o.id), b.id) {
                (Some(known), Some(sid)) => {
                    self.dap_ids.insert(sid as u32, known);
                    b.id = Some(known);
                }
                (Some(known), None) => b.id = Some(known),
                (None, Some(sid)) => b.id = Some(self.dap_id(sid as u32)),
                (None, None) => {}
            }
            if let Some(o) = before {
                if b.id.is_some() && (o.verified != b.verified || o.line != b.line || o.message != b.message) {
                    self.out.event("breakpoint", Some(BreakpointEvent { reason: "changed", breakpoint: b.clone() }));
                }
            }
            out.push(b);
        }
        out
    }

    /// The id the client knows for session breakpoint `sid`.
    fn dap_id(&mut self, sid: u32) -> i64 {
        if let Some(d) = self.dap_ids.get(&sid) {
            return *d;
        }
        self.next_dap_id += 1;
        let d = self.next_dap_id;
        self.dap_ids.insert(sid, d);
        d
    }

    /// Answers for the client: session ids become the client's ids.
    fn expose(&mut self, mut outs: Vec<BreakpointOut>) -> Vec<BreakpointOut> {
        for b in &mut outs {
            if let Some(sid) = b.id {
                b.id = Some(self.dap_id(sid as u32));
            }
        }
        outs
    }

    fn disconnect(&mut self, a: DisconnectArgs) {
        let terminate = a.terminate_debuggee.unwrap_or(!self.attached);
        if terminate {
            self.kill_plain();
        } else if let Some(p) = self.plain.take() {
            // Left running: dropping the handle neither kills nor waits.
            drop(p);
        }
        if let Some(mut s) = self.session.take() {
            if terminate {
                if self.attached {
                    if let Some(pid) = s.pid() {
                        // SAFETY: plain kill(2). The user asked to end the
                        // process they attached to.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
                let _ = s.end();
            } else {
                let _ = s.detach();
            }
        }
        self.shared.set_interrupter(None);
    }

    fn terminate(&mut self) {
        self.kill_plain();
        if let Some(s) = self.session.as_mut() {
            if self.attached {
                if let Some(pid) = s.pid() {
                    // SAFETY: plain kill(2) of the debuggee, as requested.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            let _ = s.end();
        }
        self.shared.set_interrupter(None);
        self.invalidate();
    }

    // ---- breakpoints --------------------------------------------------------------

    fn set_breakpoints(&mut self, a: SetBreakpointsArgs) -> R<Vec<BreakpointOut>> {
        let path = a.source.path.clone().ok_or("setBreakpoints: source.path is required")?;
        let wanted: Vec<SourceBreakpoint> = match (a.breakpoints, a.lines) {
            (Some(b), _) => b,
            (None, Some(lines)) => lines
                .into_iter()
                .map(|line| SourceBreakpoint { line, column: None, condition: None, hit_condition: None, log_message: None })
                .collect(),
            (None, None) => Vec::new(),
        };
        if self.session.is_none() || self.no_debug {
            let why = if self.no_debug { "running without debugging" } else { "no program yet" };
            return Ok(wanted
                .iter()
                .map(|b| BreakpointOut { id: None, verified: false, message: Some(why.into()), source: None, line: Some(b.line) })
                .collect());
        }
        let outs = self.apply_source(&path, &wanted)?;
        let outs = self.expose(outs);
        self.source_reqs.insert(path, (wanted, outs.clone()));
        Ok(outs)
    }

    /// Sets the breakpoints of one source file (replacing its earlier
    /// ones); the answers carry session ids.
    fn apply_source(&mut self, path: &str, wanted: &[SourceBreakpoint]) -> R<Vec<BreakpointOut>> {
        let bpath = self.to_binary_path(path);
        for id in self.source_bps.remove(&bpath).unwrap_or_default() {
            self.logpoints.borrow_mut().remove(&id);
            let _ = self.session()?.clear_breakpoint(id);
        }
        let mut ids = Vec::new();
        let mut out = Vec::new();
        for b in wanted {
            let spec = format!("{bpath}:{}", b.line);
            match self.add_breakpoint(&spec, b.condition.clone(), b.hit_condition.as_deref()) {
                Ok(bo) => {
                    if let Some(id) = bo.id {
                        let id = id as u32;
                        ids.push(id);
                        if let Some(m) = b.log_message.clone() {
                            // A tracepoint: logged by the hook, never a stop.
                            self.logpoints.borrow_mut().insert(id, m);
                            self.session()?.set_tracepoint(id, true).map_err(err)?;
                        }
                    }
                    out.push(bo);
                }
                Err(m) => out.push(BreakpointOut { id: None, verified: false, message: Some(m), source: None, line: Some(b.line) }),
            }
        }
        self.source_bps.insert(bpath, ids);
        Ok(out)
    }

    fn add_breakpoint(&mut self, spec: &str, cond: Option<String>, hit: Option<&str>) -> R<BreakpointOut> {
        let cond = cond.filter(|c| !c.trim().is_empty());
        let hc = match hit.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) => Some(HitCondition::parse(h).ok_or_else(|| format!("invalid hit condition {h:?} (use N, == N, > N, >= N, % N...)"))?),
            None => None,
        };
        let s = self.session()?;
        let (bp, _moved) = s.set_breakpoint(spec, cond).map_err(err)?;
        if let Some(hc) = hc {
            s.set_hit_condition(bp.id, Some(hc)).map_err(err)?;
        }
        Ok(BreakpointOut {
            id: Some(bp.id as i64),
            verified: true,
            message: None,
            source: bp.file.as_deref().map(|f| self.source_ref(f)),
            line: Some(bp.line),
        })
    }

    fn set_function_breakpoints(&mut self, a: SetFunctionBreakpointsArgs) -> R<Vec<BreakpointOut>> {
        if self.no_debug {
            return Ok(a
                .breakpoints
                .iter()
                .map(|_| BreakpointOut { id: None, verified: false, message: Some("running without debugging".into()), source: None, line: None })
                .collect());
        }
        self.session()?;
        let outs = self.apply_functions(&a.breakpoints);
        let outs = self.expose(outs);
        self.function_reqs = (a.breakpoints, outs.clone());
        Ok(outs)
    }

    fn apply_functions(&mut self, wanted: &[FunctionBreakpoint]) -> Vec<BreakpointOut> {
        for id in std::mem::take(&mut self.function_bps) {
            if let Ok(s) = self.session() {
                let _ = s.clear_breakpoint(id);
            }
        }
        let mut out = Vec::new();
        for b in wanted {
            match self.add_breakpoint(&b.name, b.condition.clone(), b.hit_condition.as_deref()) {
                Ok(bo) => {
                    if let Some(id) = bo.id {
                        self.function_bps.push(id as u32);
                    }
                    out.push(bo);
                }
                Err(m) => out.push(BreakpointOut { id: None, verified: false, message: Some(m), source: None, line: None }),
            }
        }
        out
    }

    fn set_exception_breakpoints(&mut self, filters: Vec<String>) -> R<Vec<BreakpointOut>> {
        if self.session.is_none() || self.no_debug {
            return Ok(Vec::new());
        }
        let outs = self.apply_exceptions(&filters);
        let outs = self.expose(outs);
        self.exception_reqs = (filters, outs.clone());
        Ok(outs)
    }

    fn apply_exceptions(&mut self, filters: &[String]) -> Vec<BreakpointOut> {
        for (id, _) in std::mem::take(&mut self.exception_bps) {
            if let Ok(s) = self.session() {
                let _ = s.clear_breakpoint(id);
            }
        }
        let mut out = Vec::new();
        for f in filters {
            // An unrecovered panic ends in runtime.fatalpanic and a fatal
            // error (throw/fatal) in runtime.fatalthrow (runtime/panic.go),
            // before anything is printed or the process dies: stopping there
            // shows the failing goroutine's stack intact.
            let (func, kind) = match f.as_str() {
                "panic" => ("runtime.fatalpanic", ExceptionKind::Panic),
                "fatal" => ("runtime.fatalthrow", ExceptionKind::Fatal),
                other => {
                    out.push(BreakpointOut { id: None, verified: false, message: Some(format!("unknown exception filter {other:?}")), source: None, line: None });
                    continue;
                }
            };
            let set = self.session().and_then(|s| s.set_breakpoint(func, None).map_err(err));
            match set {
                Ok((bp, _)) => {
                    self.exception_bps.push((bp.id, kind));
                    out.push(BreakpointOut { id: Some(bp.id as i64), verified: true, message: None, source: None, line: None });
                }
                Err(e) => out.push(BreakpointOut { id: None, verified: false, message: Some(e), source: None, line: None }),
            }
        }
        out
    }

    // ---- running ------------------------------------------------------------------

    /// After configuration or a restart: report the entry stop when asked
    /// to (`stopOnEntry`), else let the program run.
    fn start_running(&mut self) {
        if self.stop_on_entry {
            self.report(Stop::Entry);
        } else {
            self.resume(Resume::Continue);
        }
    }

    /// Runs the program and reports how it stopped. Handles breakpoint
    /// changes made while it ran.
    fn resume(&mut self, kind: Resume) {
        if self.session.is_none() {
            return;
        }
        loop {
            self.invalidate();
            self.shared.running.store(true, Ordering::SeqCst);
            self.out.event("continued", Some(ContinuedEvent { thread_id: self.stopped_thread_id(), all_threads_continued: true }));
            let r = {
                let Some(s) = self.session.as_mut() else { return };
                match kind {
                    Resume::Continue => s.continue_(),
                    Resume::Next => s.next(),
                    Resume::StepIn => s.step(),
                    Resume::StepOut => s.step_out(),
                    Resume::Instruction => s.step_instruction(),
                }
            };
            self.shared.running.store(false, Ordering::SeqCst);
            if self.shared.quitting.load(Ordering::SeqCst) {
                // A disconnect/terminate/restart interrupted the program; it
                // is handled next, and the stop is not the user's.
                self.shared.reconfigure.store(false, Ordering::SeqCst);
                if let Ok(Stop::Exited { .. } | Stop::Killed { .. }) = &r {
                    self.report(r.unwrap_or(Stop::Entry));
                }
                return;
            }
            let stop = match r {
                Ok(s) => s,
                Err(e) => {
                    // A debugger message, not the program's stderr.
                    self.out.output("console", format!("stillgo: {e}\n"));
                    let alive = self.session.as_ref().map(Session::is_running).unwrap_or(false);
                    if alive {
                        self.report(Stop::Interrupted { tid: 0 });
                    } else {
                        self.finish(-1);
                    }
                    return;
                }
            };
            if matches!(stop, Stop::Interrupted { .. }) && self.shared.reconfigure.swap(false, Ordering::SeqCst) {
                // Interrupted to apply breakpoint changes: apply them, go on.
                self.apply_pending();
                if self.done {
                    return;
                }
                if kind == Resume::Continue {
                    continue;
                }
                // An interrupted step cannot be taken up where it was: show
                // where the program is rather than let it run away.
                self.report(stop);
                return;
            }
            // Logpoints never stop the program: the session's trace hook
            // (install_trace_hook) printed them while it ran.
            self.report(stop);
            return;
        }
    }

    /// Handles requests that arrived while the program ran.
    fn apply_pending(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Msg::Req(req) => self.handle(req),
                Msg::PlainExited(run) => self.plain_exited(run),
                Msg::Shutdown => {
                    self.done = true;
                    return;
                }
            }
            if self.done {
                return;
            }
        }
    }

    fn eval_text(&mut self, expr: &str) -> String {
        let limits = self.limits;
        match self.session.as_mut() {
            Some(s) => eval_text(s, expr, &limits),
            None => "<no program>".into(),
        }
    }

    fn stopped_thread_id(&self) -> i64 {
        let Some(s) = self.session.as_ref() else { return 0 };
        match s.selected_goroutine() {
            Some(g) => g as i64,
            // Before the runtime runs there is no goroutine: the thread that
            // stopped, or the main thread (its tid is the pid).
            None => s.selected_thread().or_else(|| s.pid()).map(|t| t as i64).unwrap_or(0),
        }
    }

    /// Sends the event for a stop.
    fn report(&mut self, stop: Stop) {
        self.invalidate();
        let (reason, description, ids): (&str, Option<String>, Vec<i64>) = match &stop {
            Stop::Exited { code } => {
                self.finish(*code as i64);
                return;
            }
            Stop::Killed { signal } => {
                self.finish(128 + *signal as i64);
                return;
            }
            Stop::Entry => ("entry", None, Vec::new()),
            Stop::Breakpoint { ids, .. } => {
                let exc = ids.iter().find_map(|id| self.exception_bps.iter().find(|(e, _)| e == id).map(|(_, k)| *k));
                match exc {
                    Some(k) => {
                        let (id, desc) = self.exception_text(k);
                        self.last_exception = Some((id.clone(), desc.clone()));
                        ("exception", Some(desc), Vec::new())
                    }
                    None => {
                        let reason = if ids.iter().all(|id| self.function_bps.contains(id)) { "function breakpoint" } else { "breakpoint" };
                        (reason, None, ids.iter().map(|i| self.dap_id(*i)).collect())
                    }
                }
            }
            Stop::StepDone { .. } => ("step", None, Vec::new()),
            Stop::Interrupted { .. } => ("pause", None, Vec::new()),
            Stop::Signal { signal, .. } => {
                let name = signal_name(*signal);
                let desc = format!("the program received signal {name}");
                self.last_exception = Some((name, desc.clone()));
                ("exception", Some(desc), Vec::new())
            }
        };
        let thread_id = self.stopped_thread_id();
        self.out.event(
            "stopped",
            Some(StoppedEvent {
                reason: reason.into(),
                description: description.clone(),
                thread_id,
                all_threads_stopped: true,
                hit_breakpoint_ids: ids,
                text: description,
            }),
        );
    }

    /// What an exception stop is about: the panic value or the fatal error.
    fn exception_text(&mut self, k: ExceptionKind) -> (String, String) {
        match k {
            ExceptionKind::Panic => {
                // runtime.fatalpanic(msgs *_panic): the value is msgs.arg.
                let v = self.eval_text("msgs.arg");
                ("panic".into(), format!("unrecovered panic: {v}"))
            }
            ExceptionKind::Fatal => {
                // runtime.throw(s string) / runtime.fatal(s string) call
                // fatalthrow; the message is the caller's argument `s`.
                let msg = self
                    .session
                    .as_mut()
                    .and_then(|s| {
                        let saved = s.selected_frame();
                        let r = s.select_frame(1).ok().and_then(|_| s.eval("s").ok()).and_then(|v| {
                            s.reader().ok().map(|r| stillgo_eval::format_val(&r, &v, &Limits::default()))
                        });
                        let _ = s.select_frame(saved);
                        r
                    })
                    .filter(|m| !m.contains("optimized away"))
                    .or_else(|| self.printed_fatal_error())
                    .unwrap_or_else(|| "(message unavailable)".into());
                ("fatal error".into(), format!("fatal error: {msg}"))
            }
        }
    }

    /// The runtime prints "fatal error: MSG" before calling fatalthrow
    /// (runtime/panic.go, `fatal` and `throw`), so when the argument is not
    /// readable the message is on the program's stderr. The pipe is read by
    /// another thread: give it a moment.
    fn printed_fatal_error(&self) -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        loop {
            let tail = self.shared.stderr_tail();
            if let Some(line) = tail.lines().rev().find_map(|l| l.strip_prefix("fatal error: ")) {
                return Some(line.trim_end().to_string());
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(&mut self, code: i64) {
        self.drain_output();
        self.shared.set_interrupter(None);
        self.out.event("exited", Some(ExitedEvent { exit_code: code }));
        self.out.event("terminated", Some(TerminatedEvent {}));
    }

    // ---- threads, stacks, variables -------------------------------------------------

    fn threads(&mut self) -> Vec<Thread> {
        let Some(s) = self.session.as_mut() else { return Vec::new() };
        if !s.is_running() {
            return Vec::new();
        }
        let mut out = Vec::new();
        match s.goroutines() {
            Ok(gs) if !gs.is_empty() => {
                out.reserve(gs.len());
                // A parked goroutine sits in the scheduler (runtime.gopark);
                // its start function says more about which one it is.
                // Names are looked up once per pc: 100,000 goroutines share
                // a handful of start functions.
                let mut names: HashMap<u64, String> = HashMap::new();
                for g in gs {
                    let parked = g.thread.is_none() && g.function.as_deref().map(|f| f.starts_with("runtime.")).unwrap_or(true);
                    let label = if parked && g.g.start_pc != 0 {
                        let pc = g.g.start_pc;
                        names.entry(pc).or_insert_with(|| s.program.func_name(pc).unwrap_or_else(|| "?".into())).clone()
                    } else {
                        g.function.clone().unwrap_or_else(|| "?".into())
                    };
                    out.push(Thread { id: g.g.id as i64, name: format!("[Go {}] {label}", g.g.id) });
                }
            }
            // Before the Go runtime has started (stopped at entry) there are
            // no goroutines: the OS threads stand in for them.
            _ => {
                if let Ok(ts) = s.threads() {
                    for t in ts {
                        out.push(Thread { id: t.tid as i64, name: format!("Thread {} {}", t.tid, t.function.as_deref().unwrap_or("?")) });
                    }
                }
            }
        }
        // While the program runs, the connection thread answers `threads`
        // with the list the client last saw.
        self.shared.set_threads(out.clone());
        out
    }

    fn target_of(&mut self, thread_id: i64) -> R<Target> {
        let s = self.session()?;
        if let Ok(g) = u64::try_from(thread_id) {
            if s.find_goroutine(g).is_ok() {
                return Ok(Target::Goroutine(g));
            }
        }
        if let Ok(t) = Tid::try_from(thread_id) {
            if s.threads().map(|ts| ts.iter().any(|x| x.tid == t)).unwrap_or(false) {
                return Ok(Target::Thread(t));
            }
        }
        Err(format!("unknown thread {thread_id}"))
    }

    fn select(&mut self, ctx: FrameCtx) -> R<()> {
        let s = self.session()?;
        match ctx.target {
            Target::Goroutine(g) => s.select_goroutine(g).map_err(err)?,
            Target::Thread(t) => s.select_thread(t).map_err(err)?,
        }
        s.select_frame(ctx.frame).map_err(err)?;
        Ok(())
    }

    fn stack_trace(&mut self, a: StackTraceArgs) -> R<StackTraceBody> {
        let target = self.target_of(a.thread_id)?;
        let s = self.session()?;
        let frames = match target {
            Target::Goroutine(g) => s.goroutine_stack(g, MAX_FRAMES).map_err(err)?,
            Target::Thread(t) => {
                s.select_thread(t).map_err(err)?;
                s.stack(MAX_FRAMES).map_err(err)?
            }
        };
        let total = frames.len() as u64;
        let start = a.start_frame.unwrap_or(0).min(total) as usize;
        let levels = a.levels.filter(|l| *l > 0).unwrap_or(total) as usize;
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate().skip(start).take(levels) {
            self.frames.push(FrameCtx { target, frame: i });
            let id = self.frames_base + self.frames.len() as i64;
            let name = f.function.as_deref().unwrap_or("?").to_string();
            let runtime = name.starts_with("runtime.");
            out.push(StackFrame {
                id,
                name,
                source: f.file.as_deref().map(|p| self.source_ref(p)),
                line: f.line,
                column: 1,
                instruction_pointer_reference: format!("{:#x}", f.pc),
                presentation_hint: if runtime { Some("subtle") } else { None },
            });
        }
        Ok(StackTraceBody { stack_frames: out, total_frames: total })
    }

    fn frame_ctx(&self, id: i64) -> R<FrameCtx> {
        usize::try_from(id.saturating_sub(self.frames_base))
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.frames.get(i))
            .copied()
            .ok_or_else(|| format!("unknown frame {id} (frames are valid until the program runs again)"))
    }

    fn handle_at(&self, id: i64) -> R<&Handle> {
        usize::try_from(id.saturating_sub(self.handles_base))
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.handles.get(i))
            .ok_or_else(|| format!("unknown variables reference {id} (they are valid until the program runs again)"))
    }

    /// A variable for the client, registering a handle when it has children.
    fn make_var(&mut self, ctx: FrameCtx, name: String, value: Value, path: Option<String>) -> R<Variable> {
        let limits = self.limits;
        let (text, ty, kids) = {
            let s = self.session()?;
            let r = s.reader().map_err(err)?;
            vars::describe(&r, &value, &limits)
        };
        let (named, indexed) = match kids {
            Kids::None => (None, None),
            Kids::Named(n) => (Some(n), None),
            Kids::Indexed(n) => (None, Some(n)),
        };
        let reference = if kids == Kids::None { 0 } else { self.push_handle(Handle::Value { ctx, value, path: path.clone() }) };
        Ok(Variable {
            name,
            value: text,
            ty,
            variables_reference: reference,
            named_variables: named,
            indexed_variables: indexed,
            evaluate_name: path,
        })
    }

    fn variables(&mut self, a: VariablesArgs) -> R<Vec<Variable>> {
        let (ctx, what) = match self.handle_at(a.variables_reference)? {
            Handle::Scope { ctx, args } => (*ctx, Err(*args)),
            Handle::Value { ctx, value, path } => (*ctx, Ok((value.clone(), path.clone()))),
        };
        self.select(ctx)?;
        match what {
            Err(args) => {
                let (_, fvars) = self.session()?.frame_vars().map_err(err)?;
                let mut out = Vec::new();
                for fv in fvars {
                    let is_arg = !matches!(fv.var.kind, stillgo_dwarf::VarKind::Local);
                    if is_arg != args {
                        continue;
                    }
                    let name = fv.var.name.clone();
                    out.push(self.make_var(ctx, name.clone(), fv.value, Some(name))?);
                }
                Ok(out)
            }
            Ok((value, path)) => {
                if a.filter.as_deref() == Some("named") && matches!(self.kids_of(&value)?, Kids::Indexed(_)) {
                    return Ok(Vec::new());
                }
                let limits = self.limits;
                let kids = {
                    let s = self.session()?;
                    let r = s.reader().map_err(err)?;
                    vars::children(&r, &value, path.as_deref(), a.start.unwrap_or(0), a.count, &limits).map_err(|e| e.to_string())?
                };
                let mut out = Vec::new();
                for c in kids {
                    match c.value {
                        ChildVal::Val(v) => out.push(self.make_var(ctx, c.name, v, c.path)?),
                        ChildVal::Text { value, ty } => out.push(Variable {
                            name: c.name,
                            value,
                            ty,
                            variables_reference: 0,
                            named_variables: None,
                            indexed_variables: None,
                            evaluate_name: None,
                        }),
                    }
                }
                Ok(out)
            }
        }
    }

    fn kids_of(&mut self, v: &Value) -> R<Kids> {
        let limits = self.limits;
        let s = self.session()?;
        let r = s.reader().map_err(err)?;
        Ok(vars::describe(&r, v, &limits).2)
    }

    /// The frame an evaluation runs in: the given one, or the top frame of
    /// the goroutine that stopped.
    fn eval_ctx(&mut self, frame_id: Option<i64>) -> R<FrameCtx> {
        if let Some(id) = frame_id {
            return self.frame_ctx(id);
        }
        let s = self.session()?;
        let target = match (s.selected_goroutine(), s.selected_thread()) {
            (Some(g), _) => Target::Goroutine(g),
            (None, Some(t)) => Target::Thread(t),
            _ => return Err("the program is not stopped".into()),
        };
        Ok(FrameCtx { target, frame: 0 })
    }

    fn evaluate(&mut self, a: EvaluateArgs) -> R<EvaluateBody> {
        if a.context.as_deref() != Some("clipboard") {
            return self.evaluate_in(&a);
        }
        // "Copy Value" copies the whole string, not the display's cut.
        let shown = self.limits;
        self.limits.max_string_len = self.limits.max_string_len.max(CLIPBOARD_STRING_LEN);
        let r = self.evaluate_in(&a);
        self.limits = shown;
        r
    }

    /// Evaluates in any context (watch, hover, repl, clipboard, variables):
    /// the context changes only how much of a value is shown.
    fn evaluate_in(&mut self, a: &EvaluateArgs) -> R<EvaluateBody> {
        let expr = a.expression.trim();
        if expr.is_empty() {
            return Err("empty expression".into());
        }
        let ctx = self.eval_ctx(a.frame_id)?;
        self.select(ctx)?;
        // Only `call EXPR` runs program code (a frozen-world call through
        // the runtime's debug-call protocol); plain expressions never do.
        if let Some(call) = expr.strip_prefix("call ").map(str::trim).or((expr == "call").then_some("")) {
            if call.is_empty() {
                return Err("call: missing expression, e.g. call f(x)".into());
            }
            return self.evaluate_call(ctx, call);
        }
        let v = self.session()?.eval(expr).map_err(err)?;
        match v {
            stillgo_eval::Val::Const(c) => Ok(EvaluateBody {
                result: stillgo_eval::format_const(&c),
                ty: String::new(),
                variables_reference: 0,
                named_variables: None,
                indexed_variables: None,
            }),
            stillgo_eval::Val::Value(v) => {
                let var = self.make_var(ctx, expr.to_string(), v, Some(expr.to_string()))?;
                Ok(EvaluateBody {
                    result: var.value,
                    ty: var.ty,
                    variables_reference: var.variables_reference,
                    named_variables: var.named_variables,
                    indexed_variables: var.indexed_variables,
                })
            }
        }
    }

    fn evaluate_call(&mut self, ctx: FrameCtx, expr: &str) -> R<EvaluateBody> {
        let freeze = self.freeze_world;
        let s = self.session()?;
        // The session's call path in every context. Whether the other
        // goroutines are frozen is the session's default unless the launch
        // configuration says (`freezeWorld`); a call blocked on the frozen
        // world comes back as an error saying what it waited for.
        let outcome = match freeze {
            None => s.call(expr),
            Some(f) => s.call_with(expr, CallOptions { thaw: !f, ..CallOptions::default() }),
        }
        .map_err(err)?;
        match outcome {
            CallOutcome::Panicked(p) => Err(format!("the call panicked: {p}")),
            CallOutcome::Refused(r) => Err(format!("the call was refused: {r}")),
            CallOutcome::Values(mut vals) => {
                if vals.len() == 1 && matches!(vals[0].value, stillgo_eval::Val::Value(_)) {
                    let Some(CallValue { value: stillgo_eval::Val::Value(v), .. }) = vals.pop() else {
                        return Err("no result".into());
                    };
                    // The result is a temporary: no evaluateName.
                    let var = self.make_var(ctx, expr.to_string(), v, None)?;
                    return Ok(EvaluateBody {
                        result: var.value,
                        ty: var.ty,
                        variables_reference: var.variables_reference,
                        named_variables: var.named_variables,
                        indexed_variables: var.indexed_variables,
                    });
                }
                let limits = self.limits;
                let s = self.session()?;
                let r = s.reader().map_err(err)?;
                let parts: Vec<String> = vals
                    .iter()
                    .map(|cv| {
                        let text = stillgo_eval::format_val(&r, &cv.value, &limits);
                        if cv.name.is_empty() { text } else { format!("{} = {text}", cv.name) }
                    })
                    .collect();
                let result = if parts.is_empty() { "(no results)".to_string() } else { parts.join(", ") };
                Ok(EvaluateBody { result, ty: String::new(), variables_reference: 0, named_variables: None, indexed_variables: None })
            }
        }
    }

    fn set_variable(&mut self, a: SetVariableArgs) -> R<SetVariableBody> {
        let (ctx, lhs) = match self.handle_at(a.variables_reference)? {
            Handle::Scope { ctx, .. } => (*ctx, Some(a.name.clone())),
            Handle::Value { ctx, value, path } => {
                let (ctx, value, path) = (*ctx, value.clone(), path.clone());
                let limits = self.limits;
                let s = self.session()?;
                let r = s.reader().map_err(err)?;
                let kids = vars::children(&r, &value, path.as_deref(), 0, None, &limits).map_err(|e| e.to_string())?;
                (ctx, kids.into_iter().find(|c| c.name == a.name).and_then(|c| c.path))
            }
        };
        let lhs = lhs.ok_or_else(|| format!("{} cannot be assigned from here", a.name))?;
        self.select(ctx)?;
        let limits = self.limits;
        let s = self.session()?;
        s.set_var(&format!("{lhs} = {}", a.value)).map_err(err)?;
        let v = s.eval(&lhs).map_err(err)?;
        match v {
            stillgo_eval::Val::Value(v) => {
                let var = self.make_var(ctx, lhs.clone(), v, Some(lhs))?;
                Ok(SetVariableBody { value: var.value, ty: var.ty, variables_reference: var.variables_reference })
            }
            c @ stillgo_eval::Val::Const(_) => {
                let r = s.reader().map_err(err)?;
                Ok(SetVariableBody { value: stillgo_eval::format_val(&r, &c, &limits), ty: String::new(), variables_reference: 0 })
            }
        }
    }

    // ---- disassembly --------------------------------------------------------------

    fn disassemble(&mut self, a: DisassembleArgs) -> R<DisassembleBody> {
        let count = usize::try_from(a.instruction_count).map_err(|_| "instructionCount must not be negative".to_string())?;
        // Bound the answer: a client asking for billions of instructions
        // gets an error, not an allocation.
        if count > 100_000 {
            return Err("instructionCount is limited to 100000".into());
        }
        let text = a.memory_reference.trim();
        let base = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => text.parse(),
        }
        .map_err(|_| format!("invalid memoryReference {:?}", a.memory_reference))?;
        let addr = base.wrapping_add_signed(a.offset.unwrap_or(0));
        let s = self.session()?;
        let program = &s.program;
        let func = program.bin.pclntab().func_for_pc(addr).ok_or_else(|| format!("no function at {addr:#x}"))?;
        let listing = stillgo_session::disasm::disassemble(program, func.entry, func.end, None, &[])?;
        struct Ins {
            addr: u64,
            bytes: String,
            text: String,
        }
        let mut ins = Vec::new();
        for line in listing.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 5 {
                continue;
            }
            let Some(a) = cols[2].strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()) else { continue };
            ins.push(Ins { addr: a, bytes: cols[3].trim().to_string(), text: cols[4].trim().to_string() });
        }
        let at = ins.iter().position(|i| i.addr >= addr).unwrap_or(ins.len()) as i64;
        let first = at + a.instruction_offset.unwrap_or(0);
        let mut out = Vec::with_capacity(count);
        for k in 0..count as i64 {
            let idx = first + k;
            match usize::try_from(idx).ok().and_then(|i| ins.get(i)) {
                Some(i) => {
                    let loc = program.line_for_pc(i.addr);
                    out.push(Instruction {
                        address: format!("{:#x}", i.addr),
                        instruction_bytes: Some(i.bytes.clone()),
                        instruction: i.text.clone(),
                        symbol: if i.addr == func.entry { Some(func.name.to_string()) } else { None },
                        location: loc.as_ref().map(|(f, _)| SourceRef {
                            name: Path::new(&**f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                            path: f.to_string(),
                        }),
                        line: loc.map(|(_, l)| l),
                        presentation_hint: None,
                    });
                }
                None => {
                    // Outside the function: placeholders keep the count the
                    // client asked for, at addresses that keep the order.
                    let pseudo = if idx < 0 { func.entry.saturating_sub(idx.unsigned_abs()) } else { func.end + (idx as u64 - ins.len() as u64) };
                    out.push(Instruction {
                        address: format!("{pseudo:#x}"),
                        instruction_bytes: None,
                        instruction: "??".into(),
                        symbol: None,
                        location: None,
                        line: None,
                        presentation_hint: Some("invalid"),
                    });
                }
            }
        }
        Ok(DisassembleBody { instructions: out })
    }
}

fn signal_name(sig: i32) -> String {
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
fn spawn_forwarder(mut f: std::fs::File, category: &'static str, out: Out, tail: Option<Arc<Shared>>, done: Sender<()>) {
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
fn to_client_path(subst: &[SubstitutePath], p: &str) -> String {
    for s in subst {
        if !s.to.is_empty() {
            if let Some(rest) = p.strip_prefix(&s.to) {
                return format!("{}{rest}", s.from);
            }
        }
    }
    p.to_string()
}

fn source_ref_with(subst: &[SubstitutePath], file: &str) -> SourceRef {
    let path = to_client_path(subst, file);
    let name = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.clone());
    SourceRef { name, path }
}

/// A value as one line of text, or the error in angle brackets.
fn eval_text(s: &mut Session, expr: &str, limits: &Limits) -> String {
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
fn log_message(s: &mut Session, msg: &str, limits: &Limits) -> String {
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
