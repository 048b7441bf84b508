//! The terminal front end: a REPL with Delve's command names.
//!
//! Interactive (standard input is a terminal): line editing and history.
//! Scripted (standard input is a pipe or file): commands are read line by
//! line, and before reading each one the prompt is printed alone on its own
//! line, so a driver can tell where each reply ends (the framing contract
//! documented in `stillgo-testkit`).

mod commands;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use stillgo_proc::{LaunchOptions, StdioMode};
use stillgo_session::Session;

use crate::build::Built;

pub enum Target {
    Launch { binary: PathBuf, args: Vec<String>, cleanup: Option<Built> },
    Attach(i32),
}

pub const PROMPT: &str = "(stillgo) ";

/// Output sink that remembers whether the last byte was a newline, so the
/// scripted prompt always starts a line.
pub struct Out {
    at_line_start: bool,
}

impl Out {
    pub fn print(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
        self.at_line_start = s.ends_with('\n');
    }
    pub fn line(&mut self, s: &str) {
        self.print(s);
        if !s.ends_with('\n') {
            self.print("\n");
        }
    }
    fn ensure_line_start(&mut self) {
        if !self.at_line_start {
            self.print("\n");
        }
    }
}

pub fn run(target: Target, wd: Option<PathBuf>, init: Option<String>) -> Result<ExitCode, String> {
    crate::interrupt::install();
    let (session, _built) = match target {
        Target::Launch { binary, args, cleanup } => {
            if !binary.exists() {
                return Err(format!("could not launch process: {}: no such file or directory", binary.display()));
            }
            let opts = LaunchOptions {
                program: binary.clone(),
                args,
                env: None,
                cwd: wd,
                disable_aslr: true,
                stdio: StdioMode::Inherit,
                new_process_group: std::io::stdin().is_terminal(),
            };
            let (s, _pipes) = Session::launch(opts).map_err(|e| e.to_string())?;
            (s, cleanup)
        }
        Target::Attach(pid) => (Session::attach(pid).map_err(|e| e.to_string())?, None),
    };
    let mut session = session;
    // Like Delve, stop where an unrecovered panic or a fatal runtime error
    // is about to kill the program (runtime/panic.go: fatalpanic,
    // fatalthrow), with the failing goroutine's stack intact.
    for (name, func) in [("unrecovered-panic", "runtime.fatalpanic"), ("runtime-fatal-throw", "runtime.fatalthrow")] {
        if let Err(e) = session.set_named_breakpoint(name, func) {
            tracing::debug!(%name, error = %e, "no stop-on-panic breakpoint");
        }
    }
    let mut repl = commands::Repl::new(session);
    let mut out = Out { at_line_start: true };
    for w in &repl.session.program.warnings {
        out.line(&format!("Warning: {w}"));
    }
    if repl.session.program.dwarf.is_none() {
        // Say only what really works: the goroutine list needs the runtime
        // layout, which may be unknown without DWARF.
        let works = if repl.session.program.layout.is_some() {
            "breakpoints on functions, stacks and goroutines still work"
        } else {
            "breakpoints on functions and stacks still work; goroutine listing is unavailable"
        };
        out.line(&format!(
            "Warning: this binary has no debug information (built with -ldflags=-w or stripped): variables and types are unavailable; {works}."
        ));
    }
    if let Some(init) = init {
        for line in init.lines() {
            if repl.execute(line, &mut out) == commands::Flow::Exit {
                repl.shutdown(&mut out);
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        interactive(&mut repl, &mut out);
    } else {
        let mut lines = stdin.lock().lines();
        loop {
            out.ensure_line_start();
            out.print(&format!("{PROMPT}\n"));
            let Some(Ok(line)) = lines.next() else { break };
            if repl.execute(&line, &mut out) == commands::Flow::Exit {
                break;
            }
        }
    }
    repl.shutdown(&mut out);
    Ok(ExitCode::SUCCESS)
}

fn interactive(repl: &mut commands::Repl, out: &mut Out) {
    let mut rl = match rustyline::DefaultEditor::new() {
        Ok(rl) => rl,
        Err(e) => {
            out.line(&format!("cannot start line editor: {e}"));
            return;
        }
    };
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".stillgo_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut last = String::new();
    loop {
        match rl.readline(PROMPT) {
            Ok(line) => {
                // An empty line repeats the last command, as in Delve.
                let cmd = if line.trim().is_empty() { last.clone() } else { line.clone() };
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                    last = line;
                }
                out.at_line_start = true;
                if repl.execute(&cmd, out) == commands::Flow::Exit {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
}
