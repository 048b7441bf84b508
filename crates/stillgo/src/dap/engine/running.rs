//! Where the program stands: stop events for the client (reasons, the
//! thread that stopped, exception details), the thread list, and which
//! goroutine or OS thread a DAP thread id names.

use std::collections::HashMap;
use std::time::Duration;

use stillgo_proc::Tid;
use stillgo_runtime::Limits;
use stillgo_session::Stop;

use crate::dap::protocol::*;

use super::handles::Target;
use super::state::*;

impl Engine {
    pub(super) fn stopped_thread_id(&self) -> i64 {
        let Some(s) = self.session.as_ref() else { return 0 };
        match s.selected_goroutine() {
            Some(g) => g as i64,
            // Before the runtime runs there is no goroutine: the thread that
            // stopped, or the main thread (its tid is the pid).
            None => s.selected_thread().or_else(|| s.pid()).map(|t| t as i64).unwrap_or(0),
        }
    }

    /// Sends the event for a stop.
    pub(super) fn report(&mut self, stop: Stop) {
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
                let exc = ids.iter().find_map(|id| self.bps.exception_bps.iter().find(|(e, _)| e == id).map(|(_, k)| *k));
                match exc {
                    Some(k) => {
                        let (id, desc) = self.exception_text(k);
                        self.last_exception = Some((id.clone(), desc.clone()));
                        ("exception", Some(desc), Vec::new())
                    }
                    None => {
                        let reason = if ids.iter().all(|id| self.bps.function_bps.contains(id)) { "function breakpoint" } else { "breakpoint" };
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
    pub(super) fn exception_text(&mut self, k: ExceptionKind) -> (String, String) {
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
    pub(super) fn printed_fatal_error(&self) -> Option<String> {
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

    pub(super) fn threads(&mut self) -> Vec<Thread> {
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
                    let parked = g.thread.is_none() && g.function.as_deref().map(stillgo_runtime::code::is_runtime_name).unwrap_or(true);
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

    /// What a DAP thread id names: DAP threads are goroutines (their id is
    /// the goroutine id, as with dlv). Only while no goroutine exists yet
    /// (stopped on entry, before the runtime created the first one) is the
    /// stopped OS thread reported, under its tid ([`Self::stopped_thread_id`],
    /// [`Self::threads`]); a goroutine id always wins.
    pub(super) fn target_of(&mut self, thread_id: i64) -> R<Target> {
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
}
