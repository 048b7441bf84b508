//! The `call` command: runs function calls in the program
//! (Session::call) and prints their results.

use stillgo_session::{CallOptions, CallOutcome, Session};

/// `call [-unsafe] <expr>`.
pub fn cmd_call(s: &mut Session, args: &str) -> Result<String, String> {
    let mut opts = CallOptions::default();
    let mut expr = args.trim();
    if let Some(rest) = expr.strip_prefix("-unsafe") {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            opts.allow_stack_pointers = true;
            expr = rest.trim_start();
        }
    }
    if expr.is_empty() {
        return Err("call needs an expression, e.g. call f(1, \"x\")".into());
    }
    match s.call_with(expr, opts).map_err(|e| e.to_string())? {
        CallOutcome::Values(vals) => {
            if vals.is_empty() {
                return Ok(String::new());
            }
            let r = s.reader().map_err(|e| e.to_string())?;
            let mut out = String::new();
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
        CallOutcome::Panicked(p) => Ok(format!("panic: {p}\n")),
        CallOutcome::Refused(r) => Err(r),
    }
}
