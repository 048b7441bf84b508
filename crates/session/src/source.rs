//! Source listing around a location, Delve style:
//! `=>  12:` followed by a tab and the source line.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Reads source files once per session (files do not change under a debugger
/// often enough to matter, and listings after every step must be cheap).
type SourceCache = Mutex<HashMap<String, Option<Arc<Vec<String>>>>>;

fn cache() -> &'static SourceCache {
    static C: OnceLock<SourceCache> = OnceLock::new();
    C.get_or_init(Default::default)
}

pub fn file_lines(path: &str) -> Option<Arc<Vec<String>>> {
    let mut c = cache().lock().ok()?;
    c.entry(path.to_string())
        .or_insert_with(|| {
            std::fs::read_to_string(path).ok().map(|t| Arc::new(t.lines().map(str::to_string).collect()))
        })
        .clone()
}

/// Lines `line-before ..= line+after` of `path`, the current one marked.
pub fn listing(path: &str, line: u32, before: u32, after: u32, mark: bool) -> Result<String, String> {
    let lines = file_lines(path).ok_or_else(|| format!("could not read source file {path}"))?;
    let first = line.saturating_sub(before).max(1);
    let last = (line + after).min(lines.len() as u32);
    if first > lines.len() as u32 {
        return Err(format!("{path} has only {} lines", lines.len()));
    }
    let mut out = String::new();
    for n in first..=last {
        let text = lines.get((n - 1) as usize).map(String::as_str).unwrap_or("");
        let m = if mark && n == line { "=>" } else { "  " };
        let _ = writeln!(out, "{m}{n:>5}:\t{text}");
    }
    Ok(out)
}
