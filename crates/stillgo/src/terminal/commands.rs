//! Terminal commands, named and behaving like Delve's.

use std::fmt::Write as _;

use stillgo_runtime::Frame;
use stillgo_session::breakpoints::{Breakpoint, HitCondition};
use stillgo_session::{source, Origin, Session, SessionError, Stop};

use super::Out;

#[path = "call_cmd.rs"]
mod call_cmd;

#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit,
}

pub struct Repl {
    pub session: Session,
    displays: Vec<(u32, String)>,
    next_display: u32,
    /// `config freeze`: calls freeze the other goroutines (default on).
    freeze: bool,
}

type CmdResult = Result<String, String>;

struct Command {
    names: &'static [&'static str],
    usage: &'static str,
    help: &'static str,
}

const COMMANDS: &[Command] = &[
    Command { names: &["break", "b"], usage: "break [name] <location> [if <condition>]", help: "Sets a breakpoint. Locations: file.go:line, line (in the current file), function (main.f, f, (*T).M, T.M), *address." },
    Command { names: &["condition", "cond"], usage: "condition <id> <expr> | condition -hitcount <id> <op> <n> | condition -clear <id>", help: "Sets or clears a breakpoint's condition or hit-count condition." },
    Command { names: &["breakpoints", "bp"], usage: "breakpoints", help: "Lists breakpoints." },
    Command { names: &["clear"], usage: "clear <id>", help: "Deletes a breakpoint." },
    Command { names: &["clearall"], usage: "clearall", help: "Deletes all breakpoints." },
    Command { names: &["continue", "c"], usage: "continue", help: "Runs until a breakpoint or the program ends. Ctrl-C stops the program." },
    Command { names: &["next", "n"], usage: "next", help: "Steps over to the next source line, on the current goroutine." },
    Command { names: &["step", "s"], usage: "step", help: "Single steps through the program, entering calls, on the current goroutine." },
    Command { names: &["stepout", "so"], usage: "stepout", help: "Runs until the current function returns, on the current goroutine." },
    Command { names: &["step-instruction", "si"], usage: "step-instruction", help: "Single steps one CPU instruction." },
    Command { names: &["restart", "r"], usage: "restart", help: "Restarts the program, keeping breakpoints." },
    Command { names: &["goroutines", "grs"], usage: "goroutines [-r|-u|-s]", help: "Lists goroutines (-u user location, default; -r runtime location; -s start location)." },
    Command { names: &["goroutine", "gr"], usage: "goroutine [<id>]", help: "Shows or switches the current goroutine." },
    Command { names: &["threads"], usage: "threads", help: "Lists threads." },
    Command { names: &["thread", "tr"], usage: "thread <id>", help: "Switches to a thread." },
    Command { names: &["stack", "bt"], usage: "stack [<depth>] [-full]", help: "Prints the stack of the current goroutine." },
    Command { names: &["frame"], usage: "frame <n> [<command>]", help: "Selects a frame, or runs a command in it." },
    Command { names: &["up"], usage: "up [<n>]", help: "Moves the selected frame up (towards callers)." },
    Command { names: &["down"], usage: "down [<n>]", help: "Moves the selected frame down." },
    Command { names: &["locals"], usage: "locals [<regex>]", help: "Prints local variables of the selected frame." },
    Command { names: &["args"], usage: "args [<regex>]", help: "Prints arguments of the selected frame." },
    Command { names: &["vars"], usage: "vars [<regex>]", help: "Prints package variables." },
    Command { names: &["print", "p"], usage: "print <expr>", help: "Evaluates a Go expression. Never runs program code." },
    Command { names: &["call"], usage: "call [-unsafe] [-freeze|-thaw] <expr>", help: "Calls functions of the program (f(1, \"x\"), x.M(), i.M(), closures) on the current goroutine; arguments are evaluated in the selected frame. Every other goroutine stays frozen during the call (goroutines the call starts run with it); -thaw (or config freeze off) lets them run, as with Delve. A frozen call blocked on a frozen goroutine is reported within a second (after 0.7 s waiting on a channel, lock or other goroutine; sleeps and I/O do not count): answer thaw (let the program run until it returns) or wait. Arguments pointing into the goroutine's stack are refused unless -unsafe." },
    Command { names: &["thaw"], usage: "thaw", help: "At a blocked call's prompt: lets every goroutine run until the call returns." },
    Command { names: &["whatis"], usage: "whatis <expr>", help: "Prints the type of an expression." },
    Command { names: &["set"], usage: "set <variable> = <value>", help: "Changes the value of a variable." },
    Command { names: &["display"], usage: "display -a <expr> | display -d <id> | display", help: "Prints expressions after every stop." },
    Command { names: &["list", "ls", "l"], usage: "list [<location>]", help: "Shows source code." },
    Command { names: &["disassemble", "disass"], usage: "disassemble [-a <start> <end>] [-l <location>]", help: "Disassembles the current function, an address range, or a location's function." },
    Command { names: &["regs"], usage: "regs", help: "Prints the registers of the current thread." },
    Command { names: &["config"], usage: "config [max-string-len|max-array-values|max-variable-recurse <n> | freeze on|off | freeze-steps on|off | substitute-path FROM [TO] | substitute-path -clear]", help: "Shows or changes settings. substitute-path: source paths in the binary starting with FROM are read from TO (as Delve's; trimmed -trimpath paths are found in the local module, module cache and GOROOT on their own). freeze: calls freeze every other goroutine (default on). freeze-steps: next, step and stepout freeze every other goroutine, so only the current one advances (default off)." },
    Command { names: &["help", "h"], usage: "help [<command>]", help: "Prints help." },
    Command { names: &["exit", "quit", "q"], usage: "exit", help: "Exits: kills a launched program, detaches from an attached one (leaving it running)." },
];

fn find_command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

impl Repl {
    pub fn new(session: Session) -> Repl {
        Repl { session, displays: Vec::new(), next_display: 1, freeze: true }
    }

    pub fn execute(&mut self, line: &str, out: &mut Out) -> Flow {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Flow::Continue;
        }
        let (cmd, rest) = match line.split_once(char::is_whitespace) {
            Some((c, r)) => (c, r.trim()),
            None => (line, ""),
        };
        let Some(command) = find_command(cmd) else {
            out.line(&format!("Command failed: command not available: {cmd} (help lists commands)"));
            return Flow::Continue;
        };
        let name = command.names[0];
        if name == "exit" {
            return Flow::Exit;
        }
        let res = self.dispatch(name, rest, out);
        match res {
            Ok(s) => out.print(&s),
            Err(e) => out.line(&format!("Command failed: {e}")),
        }
        Flow::Continue
    }

    pub fn shutdown(&mut self, out: &mut Out) {
        let attached = matches!(self.session.origin(), Origin::Attached(_));
        match self.session.end() {
            Ok(()) if attached => out.line("Detached: the program keeps running."),
            Ok(()) => {}
            Err(e) => out.line(&format!("Error while exiting: {e}")),
        }
    }

    fn dispatch(&mut self, name: &str, args: &str, out: &mut Out) -> CmdResult {
        let s = &mut self.session;
        match name {
            "help" => Ok(help(args)),
            "break" => self.cmd_break(args),
            "condition" => self.cmd_condition(args),
            "breakpoints" => Ok(self.session.breakpoints().iter().map(describe_bp_long).collect()),
            "clear" => {
                // By number, or by name for the debugger's own breakpoints.
                let id = match self.session.breakpoints().iter().find(|b| b.name.as_deref() == Some(args.trim())) {
                    Some(b) => b.id,
                    None => parse_id(args)?,
                };
                let s = &mut self.session;
                let bp = s.clear_breakpoint(id).map_err(err)?;
                Ok(format!("{} cleared at {}\n", bp_label(&bp), bp_where(&bp)))
            }
            "clearall" => {
                let n = s.clear_all().map_err(err)?;
                Ok(format!("{n} breakpoint(s) cleared\n"))
            }
            "continue" => self.run_cmd(out, |s| s.continue_()),
            "next" => self.run_cmd(out, |s| s.next()),
            "step" => self.run_cmd(out, |s| s.step()),
            "stepout" => self.run_cmd(out, |s| s.step_out()),
            "step-instruction" => self.run_cmd(out, |s| s.step_instruction()),
            "restart" => {
                s.restart().map_err(err)?;
                Ok(format!("Process restarted with PID {}\n", s.pid().unwrap_or(0)))
            }
            "goroutines" => self.cmd_goroutines(args),
            "goroutine" => self.cmd_goroutine(args),
            "threads" => self.cmd_threads(),
            "thread" => {
                let tid = parse_id(args)? as i32;
                s.select_thread(tid).map_err(err)?;
                Ok(format!("Switched to thread {tid}\n"))
            }
            "stack" => self.cmd_stack(args),
            "frame" => self.cmd_frame(args, out),
            "up" | "down" => {
                let n: i64 = if args.is_empty() { 1 } else { args.parse().map_err(|_| format!("invalid count {args:?}"))? };
                let cur = s.selected_frame() as i64;
                let to = if name == "up" { cur + n } else { cur - n };
                if to < 0 {
                    return Err("already at the bottom of the stack".into());
                }
                let f = s.select_frame(to as usize).map_err(err)?;
                Ok(format!("Frame {to}: {}\n{}", frame_where(&f), listing(&self.session.sources, &f)))
            }
            "locals" => self.cmd_vars(args, false),
            "args" => self.cmd_vars(args, true),
            "vars" => self.cmd_package_vars(args),
            "print" => {
                if args.is_empty() {
                    return Err("print needs an expression".into());
                }
                let v = s.eval(args).map_err(err)?;
                let r = s.reader().map_err(err)?;
                Ok(format!("{}\n", stillgo_eval::format_val(&r, &v, &s.limits)))
            }
            "call" => call_cmd::cmd_call(s, args, self.freeze),
            "thaw" => Ok("Nothing is frozen: calls thaw the program when they end (thaw answers a blocked call's prompt).\n".into()),
            "whatis" => {
                let v = s.eval(args).map_err(err)?;
                Ok(match v {
                    stillgo_eval::Val::Value(v) => format!("{}\n", v.ty.name),
                    stillgo_eval::Val::Const(c) => format!("untyped {}\n", const_kind(&c)),
                })
            }
            "set" => {
                s.set_var(args).map_err(err)?;
                Ok(String::new())
            }
            "display" => self.cmd_display(args),
            "list" => self.cmd_list(args),
            "disassemble" => self.cmd_disassemble(args),
            "regs" => {
                let r = s.regs().map_err(err)?;
                Ok(format_regs(&r))
            }
            "config" => self.cmd_config(args),
            other => Err(format!("{other} is not implemented yet")),
        }
    }

    // ---- running ------------------------------------------------------------

    fn run_cmd(&mut self, out: &mut Out, f: impl FnOnce(&mut Session) -> Result<Stop, SessionError>) -> CmdResult {
        // Remembered before running: once the process is gone the session
        // no longer knows its pid, but the exit message names it.
        let pid = self.session.pid();
        crate::interrupt::set_target(self.session.interrupter());
        let res = f(&mut self.session);
        crate::interrupt::set_target(None);
        let stop = res.map_err(err)?;
        if let Some(b) = self.session.last_step_freeze.take().and_then(|r| r.blocked) {
            out.print(&format!(
                "(the step waited on the frozen world: goroutine {} {}; the other goroutines were thawed to let it finish)\n",
                b.goroutine,
                b.describe()
            ));
        }
        out.print(&self.describe_stop(&stop, pid));
        Ok(self.print_displays())
    }

    fn describe_stop(&mut self, stop: &Stop, pid: Option<i32>) -> String {
        let s = &mut self.session;
        match stop {
            Stop::Exited { code } => match pid.or(s.pid()) {
                Some(pid) => format!("Process {pid} has exited with status {code}\n"),
                None => format!("Process has exited with status {code}\n"),
            },
            Stop::Killed { signal } => format!("Process was killed by signal {signal} ({})\n", signal_name(*signal)),
            Stop::Entry => "Stopped at program entry.\n".into(),
            Stop::Breakpoint { ids, tid, goroutine } => {
                let Ok(f) = s.current_frame() else { return format!("> stopped on thread {tid}\n") };
                let bps = s.breakpoints();
                let mut head = String::new();
                for id in ids {
                    if let Some(bp) = bps.iter().find(|b| b.id == *id) {
                        let ghits = goroutine.and_then(|g| bp.hits.get(&g).copied()).unwrap_or(0);
                        let g = goroutine.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
                        let _ = writeln!(head, "> [{}] {} (hits goroutine({g}):{ghits} total:{}) (PC: {:#x})", bp_label(bp), frame_where(&f), bp.total_hits, f.pc);
                        head.push_str(&self.panic_details(bp));
                    }
                }
                head + &listing(&self.session.sources, &f)
            }
            Stop::StepDone { .. } | Stop::Interrupted { .. } | Stop::Signal { .. } => {
                let goroutine = match stop {
                    Stop::StepDone { goroutine, .. } => *goroutine,
                    _ => None,
                };
                let mut head = String::new();
                if let Stop::Interrupted { .. } = stop {
                    head.push_str("Program stopped (interrupted).\n");
                }
                if let Stop::Signal { signal, .. } = stop {
                    let _ = writeln!(head, "Program received signal {} ({signal}).", signal_name(*signal));
                }
                let Ok(f) = s.current_frame() else { return head };
                let g = goroutine.or(s.selected_goroutine()).map(|g| format!("goroutine {g}: ")).unwrap_or_default();
                let _ = writeln!(head, "> {g}{} (PC: {:#x})", frame_where(&f), f.pc);
                head + &listing(&self.session.sources, &f)
            }
        }
    }

    /// What an unrecovered panic or fatal error is about, at its stop.
    fn panic_details(&mut self, bp: &Breakpoint) -> String {
        let s = &mut self.session;
        let text = match bp.name.as_deref() {
            // runtime.fatalpanic(msgs *_panic): the value is msgs.arg.
            Some("unrecovered-panic") => s.eval("msgs.arg").ok().map(|v| ("panic", v)),
            // runtime.throw(s string) / fatal(s) call fatalthrow: the
            // message is the caller's argument.
            Some("runtime-fatal-throw") => {
                let saved = s.selected_frame();
                let v = s.select_frame(1).ok().and_then(|_| s.eval("s").ok());
                let _ = s.select_frame(saved);
                v.map(|v| ("fatal error", v))
            }
            _ => None,
        };
        match (text, s.reader()) {
            (Some((what, v)), Ok(r)) => format!("\t{what}: {}\n", stillgo_eval::format_val(&r, &v, &s.limits)),
            _ => String::new(),
        }
    }

    fn print_displays(&mut self) -> String {
        let mut out = String::new();
        if !self.session.is_running() {
            return out;
        }
        for (id, expr) in self.displays.clone() {
            let v = match self.session.eval(&expr) {
                Ok(v) => match self.session.reader() {
                    Ok(r) => stillgo_eval::format_val(&r, &v, &self.session.limits),
                    Err(e) => e.to_string(),
                },
                Err(e) => format!("error: {e}"),
            };
            let _ = writeln!(out, "{id}: {expr} = {v}");
        }
        out
    }

    // ---- breakpoints --------------------------------------------------------

    fn cmd_break(&mut self, args: &str) -> CmdResult {
        if args.is_empty() {
            return Err("break needs a location (file:line, function, *address)".into());
        }
        let (loc, cond) = match args.split_once(" if ") {
            Some((l, c)) => (l.trim(), Some(c.trim().to_string())),
            None => (args, None),
        };
        let (bp, moved) = self.session.set_breakpoint(loc, cond).map_err(err)?;
        let mut s = format!("Breakpoint {} set at {}\n", bp.id, bp_where(&bp));
        if let Some(from) = moved {
            let _ = writeln!(s, "(line {from} has no code; the breakpoint moved to line {}, the next line with code)", bp.line);
        }
        if bp.addrs.len() > 1 {
            let _ = writeln!(s, "({} locations: every inlined copy and instantiation of this location)", bp.addrs.len());
        }
        Ok(s)
    }

    fn cmd_condition(&mut self, args: &str) -> CmdResult {
        let mut it = args.split_whitespace();
        match it.next() {
            Some("-hitcount") => {
                let id = parse_id(it.next().unwrap_or(""))?;
                let rest: Vec<&str> = it.collect();
                let hc = HitCondition::parse(&rest.join(" ")).ok_or("usage: condition -hitcount <id> <op> <n>, op one of == != > >= < <= %")?;
                self.session.set_hit_condition(id, Some(hc)).map_err(err)?;
                Ok(String::new())
            }
            Some("-clear") => {
                let id = parse_id(it.next().unwrap_or(""))?;
                self.session.set_condition(id, None).map_err(err)?;
                self.session.set_hit_condition(id, None).map_err(err)?;
                Ok(String::new())
            }
            Some(id) => {
                let id = parse_id(id)?;
                let cond = args.split_once(char::is_whitespace).map(|(_, c)| c.trim()).unwrap_or("");
                if cond.is_empty() {
                    return Err("usage: condition <id> <expr>".into());
                }
                self.session.set_condition(id, Some(cond.to_string())).map_err(err)?;
                Ok(String::new())
            }
            None => Err("usage: condition <id> <expr>".into()),
        }
    }

    // ---- goroutines and threads ---------------------------------------------

    fn cmd_goroutines(&mut self, args: &str) -> CmdResult {
        let mode = args.split_whitespace().find(|a| a.starts_with('-')).unwrap_or("-u");
        let cur = self.session.selected_goroutine();
        let gs = self.session.goroutines_with(mode == "-u").map_err(err)?;
        let mut out = String::new();
        for g in &gs {
            let mark = if Some(g.g.id) == cur { "*" } else { " " };
            let (label, loc) = match mode {
                "-r" => ("Runtime", format!("{} {} ({:#x})", pos(&g.file, g.line), g.function.as_deref().unwrap_or("?"), g.pc)),
                "-s" => {
                    let (f, l) = self.session.program.line_for_pc(g.g.start_pc).unzip();
                    ("Start", format!("{} {} ({:#x})", pos(&f, l.unwrap_or(0)), self.session.program.func_name(g.g.start_pc).unwrap_or_default(), g.g.start_pc))
                }
                _ => {
                    match &g.user_frame {
                        Some(f) => ("User", format!("{} {} ({:#x})", pos(&f.file, f.line), f.function.as_deref().unwrap_or("?"), f.pc)),
                        None => ("Runtime", format!("{} {} ({:#x})", pos(&g.file, g.line), g.function.as_deref().unwrap_or("?"), g.pc)),
                    }
                }
            };
            let _ = write!(out, "{mark} Goroutine {} - {label}: {loc}", g.g.id);
            if let Some(t) = g.thread {
                let _ = write!(out, " (thread {t})");
            }
            if let Some(w) = &g.wait_reason {
                let _ = write!(out, " [{w}]");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "[{} goroutines]", gs.len());
        Ok(out)
    }

    fn cmd_goroutine(&mut self, args: &str) -> CmdResult {
        let s = &mut self.session;
        if args.is_empty() {
            let g = s.selected_goroutine().ok_or("no goroutine selected")?;
            let f = s.current_frame().map_err(err)?;
            return Ok(format!("Thread {} at {}\nGoroutine {g}:\n\t{}\n", s.selected_thread().unwrap_or(0), pos(&f.file, f.line), frame_where(&f)));
        }
        let (id, rest) = match args.split_once(char::is_whitespace) {
            Some((a, b)) => (a, b.trim()),
            None => (args, ""),
        };
        let id: u64 = id.parse().map_err(|_| format!("invalid goroutine id {id:?}"))?;
        let prev = s.selected_goroutine();
        s.select_goroutine(id).map_err(err)?;
        if !rest.is_empty() {
            // `goroutine N cmd`: run cmd on N, then switch back.
            let mut o = Out { at_line_start: true };
            let r = self.dispatch_inline(rest, &mut o);
            if let Some(p) = prev {
                let _ = self.session.select_goroutine(p);
            }
            return r;
        }
        let t = s.selected_thread().map(|t| format!(" (thread {t})")).unwrap_or_default();
        Ok(format!("Switched from {} to {id}{t}\n", prev.map(|p| p.to_string()).unwrap_or_else(|| "0".into())))
    }

    fn dispatch_inline(&mut self, line: &str, out: &mut Out) -> CmdResult {
        let (cmd, rest) = line.split_once(char::is_whitespace).map(|(a, b)| (a, b.trim())).unwrap_or((line, ""));
        let c = find_command(cmd).ok_or_else(|| format!("command not available: {cmd}"))?;
        self.dispatch(c.names[0], rest, out)
    }

    fn cmd_threads(&mut self) -> CmdResult {
        let cur = self.session.selected_thread();
        let ts = self.session.threads().map_err(err)?;
        let mut out = String::new();
        for t in ts {
            let mark = if Some(t.tid) == cur { "*" } else { " " };
            let _ = write!(out, "{mark} Thread {} at {:#x} {} {}", t.tid, t.pc, pos(&t.file, t.line), t.function.as_deref().unwrap_or("?"));
            if let Some(g) = t.goroutine {
                let _ = write!(out, " (goroutine {g})");
            }
            out.push('\n');
        }
        Ok(out)
    }

    // ---- stacks and variables -------------------------------------------------

    fn cmd_stack(&mut self, args: &str) -> CmdResult {
        let mut depth = 50usize;
        let mut full = false;
        for a in args.split_whitespace() {
            match a {
                "-full" => full = true,
                n => depth = n.parse().map_err(|_| format!("invalid depth {n:?}"))?,
            }
        }
        let frames = self.session.stack(depth + 1).map_err(err)?;
        let mut out = String::new();
        let saved = self.session.selected_frame();
        for (i, f) in frames.iter().take(depth + 1).enumerate() {
            let inl = if f.inlined { " (inlined)" } else { "" };
            // A C function without a symbol is placed by its file, as GDB does.
            let from = match (&f.function, &f.object) {
                (None, Some(obj)) => format!(" from {obj}"),
                _ => String::new(),
            };
            let _ = writeln!(out, "{i:>2}  {:#018x} in {}{inl}{from}\n    at {}", f.pc, f.function.as_deref().unwrap_or("?"), pos(&f.file, f.line));
            if full && self.session.select_frame(i).is_ok() {
                if let Ok((_, vars)) = self.session.frame_vars() {
                    if let Ok(r) = self.session.reader() {
                        for v in vars {
                            let _ = writeln!(out, "        {} = {}", v.var.name, r.format(&v.value, &self.session.limits));
                        }
                    }
                }
            }
        }
        if full {
            let _ = self.session.select_frame(saved);
        }
        Ok(out)
    }

    fn cmd_frame(&mut self, args: &str, out: &mut Out) -> CmdResult {
        let (n, rest) = match args.split_once(char::is_whitespace) {
            Some((a, b)) => (a, b.trim()),
            None => (args, ""),
        };
        let n: usize = n.parse().map_err(|_| "usage: frame <n> [<command>]".to_string())?;
        if rest.is_empty() {
            let f = self.session.select_frame(n).map_err(err)?;
            return Ok(format!("Frame {n}: {}\n{}", frame_where(&f), listing(&self.session.sources, &f)));
        }
        let saved = self.session.selected_frame();
        self.session.select_frame(n).map_err(err)?;
        let r = self.dispatch_inline(rest, out);
        let _ = self.session.select_frame(saved);
        r
    }

    fn cmd_vars(&mut self, filter: &str, args: bool) -> CmdResult {
        let (_, vars) = self.session.frame_vars().map_err(err)?;
        let r = self.session.reader().map_err(err)?;
        let mut out = String::new();
        let mut n = 0;
        for v in vars {
            let is_arg = matches!(v.var.kind, stillgo_dwarf::VarKind::Arg | stillgo_dwarf::VarKind::ReturnValue);
            if is_arg != args || !matches_filter(&v.var.name, filter) {
                continue;
            }
            n += 1;
            let _ = writeln!(out, "{} = {}", v.var.name, r.format(&v.value, &self.session.limits));
        }
        if n == 0 {
            out.push_str(if args { "(no arguments)\n" } else { "(no locals)\n" });
        }
        Ok(out)
    }

    fn cmd_package_vars(&mut self, filter: &str) -> CmdResult {
        let dwarf = self.session.program.dwarf().map_err(err)?.clone();
        let r = self.session.reader().map_err(err)?;
        let mut out = String::new();
        for g in dwarf.globals(None) {
            if filter.is_empty() && (!stillgo_runtime::code::is_user(&g.name, None) || g.name.contains("..")) {
                continue;
            }
            if !matches_filter(&g.name, filter) {
                continue;
            }
            let Ok(t) = dwarf.type_(g.ty) else { continue };
            let v = stillgo_runtime::Value::at(t, g.addr);
            let _ = writeln!(out, "{} = {}", g.name, r.format(&v, &self.session.limits));
        }
        Ok(out)
    }

    fn cmd_display(&mut self, args: &str) -> CmdResult {
        if let Some(e) = args.strip_prefix("-a") {
            let e = e.trim();
            if e.is_empty() {
                return Err("usage: display -a <expr>".into());
            }
            stillgo_eval::parse_expr(e).map_err(|x| x.render(e))?;
            let id = self.next_display;
            self.next_display += 1;
            self.displays.push((id, e.to_string()));
            return Ok(self.print_displays());
        }
        if let Some(id) = args.strip_prefix("-d") {
            let id = parse_id(id.trim())?;
            let before = self.displays.len();
            self.displays.retain(|(i, _)| *i != id);
            if before == self.displays.len() {
                return Err(format!("no display {id}"));
            }
            return Ok(String::new());
        }
        Ok(self.print_displays())
    }

    // ---- source and code -----------------------------------------------------

    fn cmd_list(&mut self, args: &str) -> CmdResult {
        if args.is_empty() {
            let f = self.session.current_frame().map_err(err)?;
            return Ok(listing(&self.session.sources, &f));
        }
        let spec = stillgo_session::LocSpec::parse(args).map_err(err)?;
        let cur = self.session.current_file();
        let r = stillgo_session::locspec::resolve(&self.session.program, &spec, cur.as_deref()).map_err(err)?;
        let file = r.file.ok_or("no source for that location")?;
        let line = match spec {
            stillgo_session::LocSpec::FileLine { line, .. } | stillgo_session::LocSpec::Line(line) => r.moved_from.unwrap_or(line).max(1),
            _ => r.line,
        };
        let mut out = format!("Showing {}:{line}\n", file);
        out.push_str(&source::listing(&self.session.sources.local(&file), line, 5, 5, false)?);
        Ok(out)
    }

    fn cmd_disassemble(&mut self, args: &str) -> CmdResult {
        let parts: Vec<&str> = args.split_whitespace().collect();
        let pc = self.session.current_frame().ok().map(|f| f.pc);
        let bps: Vec<u64> = self.session.breakpoints().iter().flat_map(|b| b.addrs.clone()).collect();
        let program = &self.session.program;
        let (lo, hi) = match parts.as_slice() {
            ["-a", a, b] => {
                let lo = stillgo_session::locspec::parse_int(a).ok_or_else(|| format!("invalid address {a}"))?;
                let hi = stillgo_session::locspec::parse_int(b).ok_or_else(|| format!("invalid address {b}"))?;
                if hi <= lo || hi - lo > 1 << 20 {
                    return Err("invalid address range".into());
                }
                (lo, hi)
            }
            ["-l", loc @ ..] => {
                let spec = stillgo_session::LocSpec::parse(&loc.join(" ")).map_err(err)?;
                let r = stillgo_session::locspec::resolve(program, &spec, None).map_err(err)?;
                let a = *r.addrs.first().ok_or("no code there")?;
                let f = program.bin.pclntab().func_for_pc(a).ok_or("not in a function")?;
                (f.entry, f.end)
            }
            [] => {
                let pc = pc.ok_or("no current location")?;
                let f = program.bin.pclntab().func_for_pc(pc).ok_or("the current pc is not in a Go function")?;
                (f.entry, f.end)
            }
            _ => return Err("usage: disassemble [-a <start> <end>] [-l <location>]".into()),
        };
        stillgo_session::disasm::disassemble(&self.session.program, lo, hi, pc, &bps)
    }

    fn cmd_config(&mut self, args: &str) -> CmdResult {
        let parts: Vec<&str> = args.split_whitespace().collect();
        let l = &mut self.session.limits;
        match parts.as_slice() {
            [] | ["-list"] => {
                let mut out = format!(
                    "max-string-len = {}\nmax-array-values = {}\nmax-variable-recurse = {}\nfreeze = {}\nfreeze-steps = {}\nsubstitute-path =",
                    l.max_string_len,
                    l.max_array_values,
                    l.max_depth,
                    if self.freeze { "on" } else { "off" },
                    if self.session.freeze_steps { "on" } else { "off" }
                );
                for (from, to) in &self.session.sources.substitutions {
                    out.push_str(&format!(" {from:?} -> {to:?}"));
                }
                out.push('\n');
                Ok(out)
            }
            // Delve's forms: `substitute-path FROM TO` adds (or replaces) a
            // rule, `substitute-path FROM` removes it, `substitute-path -clear`
            // removes them all.
            ["substitute-path", "-clear"] => {
                self.session.sources.substitutions.clear();
                Ok(String::new())
            }
            ["substitute-path", from] => {
                self.session.sources.substitute(from, "");
                Ok(String::new())
            }
            ["substitute-path", from, to] => {
                self.session.sources.substitute(from, to);
                Ok(String::new())
            }
            ["freeze-steps", v] => {
                self.session.freeze_steps = match *v {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    _ => return Err("usage: config freeze-steps on|off".into()),
                };
                Ok(String::new())
            }
            ["freeze", v] => {
                self.freeze = match *v {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    _ => return Err("usage: config freeze on|off".into()),
                };
                Ok(String::new())
            }
            [key, val] => {
                let n: usize = val.parse().map_err(|_| format!("invalid number {val:?}"))?;
                match *key {
                    "max-string-len" => l.max_string_len = n,
                    "max-array-values" => l.max_array_values = n,
                    "max-variable-recurse" => l.max_depth = n,
                    k => return Err(format!("unknown setting {k}")),
                }
                Ok(String::new())
            }
            _ => Err("usage: config <setting> <value>".into()),
        }
    }
}

// ---- formatting helpers --------------------------------------------------------

fn err(e: SessionError) -> String {
    e.to_string()
}

fn parse_id(s: &str) -> Result<u32, String> {
    s.trim().parse().map_err(|_| format!("invalid id {:?}", s.trim()))
}

fn matches_filter(name: &str, filter: &str) -> bool {
    filter.is_empty() || name.contains(filter) || simple_regex(filter, name)
}

/// A tiny regex subset (`^`, `$`, `.*`) for name filters, so the common
/// Delve uses (`locals ^x`, `vars main\.`) work without a regex engine.
fn simple_regex(pat: &str, s: &str) -> bool {
    let anchored_start = pat.starts_with('^');
    let anchored_end = pat.ends_with('$') && !pat.ends_with("\\$");
    let core = pat.trim_start_matches('^').trim_end_matches('$').replace("\\.", ".");
    let parts: Vec<&str> = core.split(".*").collect();
    let mut pos = 0usize;
    for (i, p) in parts.iter().enumerate() {
        match s[pos..].find(p) {
            Some(idx) => {
                if i == 0 && anchored_start && idx != 0 {
                    return false;
                }
                pos += idx + p.len();
            }
            None => return false,
        }
    }
    !anchored_end || pos == s.len() || parts.last().is_some_and(|p| s.ends_with(p))
}

fn pos(file: &Option<std::sync::Arc<str>>, line: u32) -> String {
    match file {
        Some(f) => format!("{}:{line}", short_path(f)),
        None => "?".into(),
    }
}

/// Paths under the current directory are shown relative (`./main.go`), as Delve does.
fn short_path(f: &str) -> String {
    // The debugger never changes its directory: ask the OS once, not once
    // per printed location (100,000 goroutines print 100,000 of them).
    static CWD: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    if let Some(cwd) = CWD.get_or_init(|| std::env::current_dir().ok()) {
        if let Ok(rel) = std::path::Path::new(f).strip_prefix(cwd) {
            return format!("./{}", rel.display());
        }
    }
    f.to_string()
}

fn frame_where(f: &Frame) -> String {
    format!("{}() {}", f.function.as_deref().unwrap_or("?"), pos(&f.file, f.line))
}

fn listing(sources: &stillgo_session::paths::SourceMap, f: &Frame) -> String {
    match &f.file {
        Some(file) => source::listing(&sources.local(file), f.line, 5, 5, true).unwrap_or_default(),
        None => String::new(),
    }
}

fn bp_where(bp: &Breakpoint) -> String {
    let addr = bp.addrs.first().copied().unwrap_or(0);
    format!("{addr:#x} for {}() {}", bp.function.as_deref().unwrap_or("?"), pos(&bp.file, bp.line))
}

/// `Breakpoint 3`, or the name of a breakpoint the debugger set itself.
fn bp_label(bp: &Breakpoint) -> String {
    match &bp.name {
        Some(n) => n.clone(),
        None => format!("Breakpoint {}", bp.id),
    }
}

fn describe_bp_long(bp: &Breakpoint) -> String {
    let mut s = format!("Breakpoint {} at {} ({})\n", bp_label(bp).trim_start_matches("Breakpoint "), bp_where(bp), bp.total_hits);
    if let Some(c) = &bp.condition {
        let _ = writeln!(s, "\tcond {c}");
    }
    if let Some(h) = &bp.hit_condition {
        let _ = writeln!(s, "\tcond -hitcount {h}");
    }
    s
}

fn const_kind(c: &stillgo_eval::Const) -> &'static str {
    use stillgo_eval::Const::*;
    match c {
        Bool(_) => "bool",
        Int(_) => "int",
        Float(_) => "float",
        Complex(..) => "complex",
        Str(_) => "string",
        Nil => "nil",
    }
}

fn format_regs(r: &stillgo_proc::Registers) -> String {
    let raw = r.raw();
    let regs = [
        ("Rip", raw.rip),
        ("Rsp", raw.rsp),
        ("Rax", raw.rax),
        ("Rbx", raw.rbx),
        ("Rcx", raw.rcx),
        ("Rdx", raw.rdx),
        ("Rsi", raw.rsi),
        ("Rdi", raw.rdi),
        ("Rbp", raw.rbp),
        ("R8", raw.r8),
        ("R9", raw.r9),
        ("R10", raw.r10),
        ("R11", raw.r11),
        ("R12", raw.r12),
        ("R13", raw.r13),
        ("R14", raw.r14),
        ("R15", raw.r15),
        ("Rflags", raw.eflags),
        ("Fs_base", raw.fs_base),
    ];
    regs.iter().map(|(n, v)| format!("{n:>10} = {v:#018x}\n")).collect()
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

fn help(args: &str) -> String {
    if !args.is_empty() {
        return match find_command(args.trim()) {
            Some(c) => format!("{}\n\n{}\nAliases: {}\n", c.usage, c.help, c.names.join(", ")),
            None => format!("unknown command {args}\n"),
        };
    }
    let mut s = String::from("The following commands are available:\n");
    for c in COMMANDS {
        let alias = if c.names.len() > 1 { format!(" (alias: {})", c.names[1..].join(" | ")) } else { String::new() };
        let _ = writeln!(s, "    {}{alias}\t{}", c.names[0], c.help.split('.').next().unwrap_or(""));
    }
    s.push_str("Type help followed by a command for full documentation.\n");
    s
}
