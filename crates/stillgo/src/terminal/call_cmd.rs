//! The `call` command: runs function calls in the program
//! (Session::call_frozen_with) and prints their results.
//!
//! By default every other goroutine stays frozen during the call
//! (docs/frozen-world.md); `call -thaw` or `config freeze off` lets them
//! run. A call that blocks on a frozen goroutine is reported within a second
//! with what it waits for, and the user answers at a prompt: `thaw` lets
//! the program run until the call returns, `wait` keeps waiting frozen.

use std::io::{IsTerminal, Write};

use stillgo_session::{Blocked, BlockedChoice};
use stillgo_session::{CallOptions, CallOutcome, Session};

/// `call [-unsafe] [-thaw] <expr>`; `freeze` is the `config freeze` setting.
pub fn cmd_call(s: &mut Session, args: &str, freeze: bool) -> Result<String, String> {
    let mut opts = CallOptions { thaw: !freeze, ..CallOptions::default() };
    let mut expr = args.trim();
    loop {
        let flag = ["-unsafe", "-thaw", "-freeze"].into_iter().find(|f| {
            expr.strip_prefix(f).is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        });
        let Some(flag) = flag else { break };
        match flag {
            "-unsafe" => opts.allow_stack_pointers = true,
            "-thaw" => opts.thaw = true,
            _ => opts.thaw = false,
        }
        expr = expr[flag.len()..].trim_start();
    }
    if expr.is_empty() {
        return Err("call needs an expression, e.g. call f(1, \"x\")".into());
    }
    let mut ask = ask_blocked;
    let (outcome, report) = s.call_frozen_with(expr, opts, &mut ask).map_err(|e| e.to_string())?;
    let mut out = String::new();
    if report.thawed_early {
        out.push_str("(the other goroutines were thawed to let the call finish)\n");
    }
    match outcome {
        CallOutcome::Values(vals) => {
            if vals.is_empty() {
                return Ok(out);
            }
            let r = s.reader().map_err(|e| e.to_string())?;
            for v in vals {
                let text = stillgo_eval::format_val(&r, &v.value, &s.limits);
                if v.name.is_empty() || v.name.starts_with('~') {
                    out.push_str(&text);
                } else {
                    out.push_str(&format!("{} = {text}", v.name));
                }
                out.push('\n');
            }
            Ok(out)
        }
        CallOutcome::Panicked(p) => Ok(format!("{out}panic: {p}\n")),
        CallOutcome::Refused(r) => Err(r),
    }
}

/// The blocked-call prompt. Reads the answer from standard input directly
/// (the REPL is inside the `call` command); in scripted mode the prompt
/// line is printed alone, as before every command (testkit framing).
fn ask_blocked(b: &Blocked) -> BlockedChoice {
    let msg = format!(
        "The call is blocked: goroutine {} {} (after {} ms) while the other goroutines are frozen.\n\
         Answer thaw to let the whole program run until the call returns, or wait to keep waiting frozen.\n",
        b.goroutine,
        b.describe(),
        b.after.as_millis()
    );
    let interactive = std::io::stdin().is_terminal();
    loop {
        {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(msg.as_bytes());
            let _ = if interactive { o.write_all(b"thaw/wait> ") } else { o.write_all(format!("{}\n", crate::terminal::PROMPT).as_bytes()) };
            let _ = o.flush();
        }
        // Unbuffered: the REPL's reader must not lose the lines after this one.
        let Some(line) = read_line_raw() else {
            // End of input: never leave the program hung.
            return BlockedChoice::Thaw;
        };
        match line.trim() {
            "thaw" | "t" => return BlockedChoice::Thaw,
            "wait" | "w" | "" => return BlockedChoice::Wait,
            other => {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "unknown answer {other:?}: thaw or wait");
            }
        }
    }
}

/// One line from file descriptor 0, read byte by byte with read(2): the
/// REPL holds std's stdin lock (and its buffer) while a command runs, so
/// going through `std::io::stdin()` would deadlock; the REPL reads whole
/// lines only when the previous command is done, so its buffer holds
/// nothing past the `call` line when the prompt is answered.
fn read_line_raw() -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        // SAFETY: read(2) into a valid one-byte buffer.
        let n = unsafe { libc::read(0, b.as_mut_ptr() as *mut libc::c_void, 1) };
        match n {
            0 => return if line.is_empty() { None } else { Some(String::from_utf8_lossy(&line).into_owned()) },
            1 if b[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            1 => line.push(b[0]),
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => continue,
            _ => return None,
        }
    }
}
