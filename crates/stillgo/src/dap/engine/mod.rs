//! The engine thread: owns the [`Session`] (which must live on one thread,
//! ptrace ties the tracee to the thread that attached it) and answers the
//! requests the connection thread forwards.
//!
//! While the program runs the engine is blocked in the session; the
//! connection thread answers `pause` itself (through the session's
//! `Interrupter`) and, for requests that need the engine (breakpoint
//! changes, disconnect), interrupts the program first and marks why, so the
//! engine applies them and resumes (or ends) without reporting a stop.
//!
//! | file | requests |
//! |---|---|
//! | `mod.rs` | the request loop: dispatch, continue/next/step/pause and the wait for the next stop |
//! | `lifecycle.rs` | launch, attach, noDebug, restart, disconnect, terminate |
//! | `breakpoints.rs` | setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints |
//! | `running.rs` | stop events, threads, DAP thread ids |
//! | `inspect.rs` | stackTrace, scopes, variables, evaluate, setVariable, disassemble |
//! | `handles.rs` | frame and variable ids, valid until the program runs again |
//! | `state.rs` | the engine's state and shared helpers |
//!
//! Files depend on each other bottom up, in this order: `handles.rs`,
//! `state.rs`, `breakpoints.rs`, `lifecycle.rs`, `running.rs`,
//! `inspect.rs`; no file imports from this one.

mod breakpoints;
mod handles;
mod inspect;
mod lifecycle;
mod running;
mod state;

use std::sync::atomic::Ordering;

use serde::Serialize;
use stillgo_session::{Session, Stop};

use crate::dap::protocol::*;
use crate::dap::Msg;

use self::handles::Handle;
use self::state::*;
pub use self::state::Engine;

impl Engine {
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
        if self.prog.no_debug
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
                let ctx = self.ids.frame(a.frame_id)?;
                let locals = self.ids.push_var(Handle::Scope { ctx, args: false });
                let args = self.ids.push_var(Handle::Scope { ctx, args: true });
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
                    if self.session.is_none() && self.prog.plain.is_none() && self.prog.rebuild.is_some() {
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

    /// After configuration or a restart: report the entry stop when asked
    /// to (`stopOnEntry`), else let the program run.
    fn start_running(&mut self) {
        if self.prog.stop_on_entry {
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
}
