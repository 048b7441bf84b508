//! launch, attach, noDebug runs, the program's output, restart (with a
//! rebuild), disconnect and terminate.

use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stillgo_proc::{ChildPipes, LaunchOptions, StdioMode};
use stillgo_session::{Session, TraceHit};

use crate::dap::protocol::*;
use crate::dap::Msg;
use crate::build;

use super::state::*;

impl Engine {
    pub(super) fn launch(&mut self, a: LaunchArgs) -> R<()> {
        if self.session.is_some() || self.prog.plain_opts.is_some() {
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
                self.prog.built = Some(built);
                self.prog.rebuild = Some((package, flags, mode == "test"));
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
        self.cfg.subst = a.substitute_path.clone();
        self.prog.attached = false;
        self.cfg.freeze_world = a.freeze_world;
        self.cfg.freeze_steps = a.freeze_steps;
        if self.prog.rebuild.is_some() {
            self.prog.launch_opts = Some(opts.clone());
        }
        if a.no_debug {
            // "Run without debugging": no ptrace at all, as dlv does.
            self.prog.no_debug = true;
            self.prog.stop_on_entry = false;
            self.spawn_plain(&opts)?;
            self.prog.plain_opts = Some(opts);
            return Ok(());
        }
        let search = opts.cwd.clone();
        let (mut session, pipes) = Session::launch(opts).map_err(err)?;
        if let Some(dir) = search {
            session.sources.also_search(dir);
        }
        self.prog.no_debug = false;
        self.prog.stop_on_entry = a.stop_on_entry;
        self.adopt(session);
        self.forward_pipes(pipes);
        Ok(())
    }

    /// Starts the program of a `noDebug` launch as a plain child process,
    /// its output forwarded, and a thread that reports when it ends.
    pub(super) fn spawn_plain(&mut self, opts: &LaunchOptions) -> R<()> {
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
        self.prog.plain_runs += 1;
        let run = self.prog.plain_runs;
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
        self.prog.plain = Some(PlainRun { child, run });
        Ok(())
    }

    /// A `noDebug` program ended: report its exit status.
    pub(super) fn plain_exited(&mut self, run: u64) {
        // A report about an earlier run (killed for a restart) is stale.
        if self.prog.plain.as_ref().map(|p| p.run) != Some(run) {
            return;
        }
        let Some(mut p) = self.prog.plain.take() else { return };
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

    /// Logpoints are the session's tracepoints: the hook prints their
    /// message when one is hit (with the program stopped there) and the
    /// program goes on, also in the middle of a step.
    /// Takes a new session: the interrupter for pause, the launch options
    /// the session keeps (freezeSteps), the logpoint hook.
    pub(super) fn adopt(&mut self, mut session: Session) {
        self.shared.set_interrupter(session.interrupter());
        session.freeze_steps = self.cfg.freeze_steps;
        self.session = Some(session);
        self.install_trace_hook();
    }

    pub(super) fn install_trace_hook(&mut self) {
        let (msgs, out, limits) = (self.bps.logpoints.clone(), self.out.clone(), self.cfg.limits);
        let subst = self.cfg.subst.clone();
        let Some(s) = self.session.as_mut() else { return };
        s.set_trace_hook(Some(Box::new(move |s: &mut Session, hit: &TraceHit| {
            let Some(msg) = msgs.borrow().get(&hit.id).cloned() else { return };
            let text = log_message(s, &msg, &limits);
            let at = s.current_frame().ok();
            let source = at.as_ref().and_then(|f| f.file.as_deref()).map(|f| source_ref_with(&subst, &s.sources.local(f)));
            out.output_at("console", text, source, at.map(|f| f.line));
        })));
    }

    pub(super) fn attach(&mut self, a: AttachArgs) -> R<()> {
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
        self.prog.stop_on_entry = a.stop_on_entry;
        self.cfg.subst = a.substitute_path.clone();
        self.cfg.freeze_world = a.freeze_world;
        self.cfg.freeze_steps = a.freeze_steps;
        self.prog.attached = true;
        self.adopt(session);
        Ok(())
    }

    /// Forwards the program's stdout and stderr as `output` events.
    pub(super) fn forward_pipes(&mut self, pipes: Option<stillgo_proc::ChildPipes>) {
        let Some(p) = pipes else { return };
        self.shared.clear_stderr();
        let (tx, rx) = std::sync::mpsc::channel();
        self.prog.pipes_done = Some(rx);
        self.prog.pipes_open = 2;
        spawn_forwarder(p.stdout, "stdout", self.out.clone(), None, tx.clone());
        spawn_forwarder(p.stderr, "stderr", self.out.clone(), Some(self.shared.clone()), tx);
    }

    pub(super) fn restart(&mut self) -> R<()> {
        if self.prog.attached {
            return Err("cannot restart a program that was attached to".into());
        }
        if self.prog.rebuild.is_some() {
            return self.rebuild_and_relaunch();
        }
        if let Some(opts) = self.prog.plain_opts.clone() {
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
    pub(super) fn rebuild_and_relaunch(&mut self) -> R<()> {
        let (package, flags, test) = self.prog.rebuild.clone().ok_or("nothing to rebuild")?;
        // The old program goes first: the new binary replaces its file.
        if let Some(mut s) = self.session.take() {
            let _ = s.end();
        }
        self.kill_plain();
        self.shared.set_interrupter(None);
        self.invalidate();
        self.prog.built.as_ref().ok_or("the built program is gone")?.rebuild(Some(&package), &flags, test)?;
        let opts = self.prog.launch_opts.clone().ok_or("no launch to repeat")?;
        if self.prog.no_debug {
            return self.spawn_plain(&opts);
        }
        let (session, pipes) = Session::launch(opts).map_err(err)?;
        self.adopt(session);
        self.forward_pipes(pipes);
        self.reapply_breakpoints();
        Ok(())
    }

    pub(super) fn disconnect(&mut self, a: DisconnectArgs) {
        let terminate = a.terminate_debuggee.unwrap_or(!self.prog.attached);
        if terminate {
            self.kill_plain();
        } else if let Some(p) = self.prog.plain.take() {
            // Left running: dropping the handle neither kills nor waits.
            drop(p);
        }
        if let Some(mut s) = self.session.take() {
            if terminate {
                if self.prog.attached {
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

    pub(super) fn terminate(&mut self) {
        self.kill_plain();
        if let Some(s) = self.session.as_mut() {
            if self.prog.attached {
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
}
