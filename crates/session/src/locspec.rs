//! Location specifications, as Delve's `break`, `list` and `disassemble`
//! accept them: `file.go:12`, `12` (a line in the current file), `main.f`,
//! `f`, `(*T).M`, `pkg.(*T).M`, `*0x4a1234`.

use std::sync::Arc;

use crate::program::Program;
use crate::SessionError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocSpec {
    FileLine { file: String, line: u32 },
    Line(u32),
    Function(String),
    Address(u64),
}

impl LocSpec {
    pub fn parse(s: &str) -> Result<LocSpec, SessionError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SessionError::BadLocation("empty location".into()));
        }
        if let Some(a) = s.strip_prefix('*') {
            return parse_int(a.trim())
                .map(LocSpec::Address)
                .ok_or_else(|| SessionError::BadLocation(format!("invalid address {a:?}")));
        }
        if let Ok(n) = s.parse::<u32>() {
            return Ok(LocSpec::Line(n));
        }
        if let Some((file, line)) = s.rsplit_once(':') {
            if let Ok(n) = line.trim().parse::<u32>() {
                return Ok(LocSpec::FileLine { file: file.trim().to_string(), line: n });
            }
            return Err(SessionError::BadLocation(format!("invalid line number in {s:?}")));
        }
        Ok(LocSpec::Function(s.to_string()))
    }
}

pub fn parse_int(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Where a location spec resolved to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Every address: one per function and per inlined copy (a line split
    /// over code blocks gets its first, as in Delve).
    pub addrs: Vec<u64>,
    pub file: Option<Arc<str>>,
    pub line: u32,
    pub function: Option<String>,
    /// When a line without code was moved to the next line with code.
    pub moved_from: Option<u32>,
}

/// Finds functions named by `name`: an exact name, or a suffix after a
/// package qualifier (`f` finds `main.f`, `T.M` finds `main.T.M` and
/// `main.(*T).M`).
pub fn find_functions(program: &Program, name: &str) -> Vec<String> {
    let pcln = program.bin.pclntab();
    if pcln.func_by_name(name).is_some() {
        return vec![name.to_string()];
    }
    let mut found: Vec<String> = pcln.find_funcs(name).into_iter().map(|f| f.name.to_string()).collect();
    if found.is_empty() {
        // `T.M` for a pointer-receiver method is `(*T).M`.
        if let Some((t, m)) = name.rsplit_once('.') {
            if !t.starts_with('(') {
                let alt = match t.rsplit_once('.') {
                    Some((pkg, ty)) => format!("{pkg}.(*{ty}).{m}"),
                    None => format!("(*{t}).{m}"),
                };
                found = pcln.find_funcs(&alt).into_iter().map(|f| f.name.to_string()).collect();
            }
        }
    }
    if found.is_empty() {
        found = find_inlined_only(program, name);
    } else if !name.contains('.') && found.len() > 1 {
        // A bare name (`add`) means a package-level function before a
        // method of the same name (`runtime.(*addrRanges).add`), including
        // one that only exists inlined.
        let mut plain: Vec<String> = found.iter().filter(|f| is_plain_function(f, name)).cloned().collect();
        plain.extend(find_inlined_only(program, name));
        // Among several packages, the program's own `main` wins: a bare
        // name typed by the user almost always means their code, not
        // `runtime.add` or `reflect.add`.
        let in_main: Vec<String> = plain.iter().filter(|f| stillgo_binary::package_of(f) == "main").cloned().collect();
        if in_main.len() == 1 {
            found = in_main;
        } else if !plain.is_empty() {
            found = plain;
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Whether `qualified` is the package-level function `bare` of some package
/// (`main.add` for `add`), not a method or closure.
fn is_plain_function(qualified: &str, bare: &str) -> bool {
    let pkg = stillgo_binary::package_of(qualified);
    qualified.get(pkg.len()..).and_then(|r| r.strip_prefix('.')) == Some(bare)
}

/// Functions that exist only as inlined copies (the compiler inlined every
/// call, so the linker emitted no pclntab entry for them): found through
/// DWARF's `DW_TAG_inlined_subroutine` origins. A bare name is tried in
/// every package that has code.
fn find_inlined_only(program: &Program, name: &str) -> Vec<String> {
    let Some(d) = &program.dwarf else { return Vec::new() };
    if !d.inlined_entry_pcs(name).is_empty() {
        return vec![name.to_string()];
    }
    if name.contains('.') || name.contains('/') {
        return Vec::new();
    }
    let mut packages: Vec<String> = program
        .bin
        .pclntab()
        .funcs()
        .map(|f| stillgo_binary::package_of(&f.name).to_string())
        .filter(|p| !p.is_empty())
        .collect();
    packages.sort();
    packages.dedup();
    packages
        .into_iter()
        .map(|p| format!("{p}.{name}"))
        .filter(|q| !d.inlined_entry_pcs(q).is_empty())
        .collect()
}

/// The address where a breakpoint on a function goes: after the prologue
/// that checks for stack growth (DWARF's prologue_end, else the pclntab
/// heuristic), like Delve.
pub fn function_body_addr(program: &Program, name: &str) -> Option<u64> {
    let pcln = program.bin.pclntab();
    let f = pcln.func_by_name(name)?;
    if let Some(d) = &program.dwarf {
        if let Some(pe) = d.prologue_end(f.entry) {
            if pe >= f.entry && pe < f.end {
                return Some(pe);
            }
        }
    }
    Some(pcln.skip_prologue_hint(&f))
}

pub fn resolve(program: &Program, spec: &LocSpec, current_file: Option<&str>) -> Result<Resolved, SessionError> {
    match spec {
        LocSpec::Address(a) => {
            let (file, line) = program.line_for_pc(*a).map(|(f, l)| (Some(f), l)).unwrap_or((None, 0));
            if program.bin.pclntab().func_for_pc(*a).is_none() {
                return Err(SessionError::BadLocation(format!("address {a:#x} is not in any function")));
            }
            Ok(Resolved { addrs: vec![*a], file, line, function: program.func_name(*a), moved_from: None })
        }
        LocSpec::Function(name) => {
            let found = find_functions(program, name);
            match found.len() {
                0 => Err(SessionError::BadLocation(format!("location \"{name}\" not found: no function with that name"))),
                1 => {
                    let fname = &found[0];
                    let mut addrs: Vec<u64> = function_body_addr(program, fname).into_iter().collect();
                    // Every inlined copy too: a breakpoint on an inlined
                    // function must stop wherever its body was copied.
                    if let Some(d) = &program.dwarf {
                        addrs.extend(d.inlined_entry_pcs(fname));
                    }
                    addrs.sort_unstable();
                    addrs.dedup();
                    let first = *addrs.first().ok_or_else(|| SessionError::BadLocation(format!("{fname} has no code")))?;
                    let (file, line) = program.line_for_pc(first).map(|(f, l)| (Some(f), l)).unwrap_or((None, 0));
                    Ok(Resolved { addrs, file, line, function: Some(fname.clone()), moved_from: None })
                }
                _ => Err(SessionError::BadLocation(format!(
                    "location \"{name}\" is ambiguous: {}",
                    found.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                ))),
            }
        }
        LocSpec::Line(n) => {
            let file = current_file.ok_or_else(|| SessionError::BadLocation("no current file: use file:line".into()))?;
            resolve_file_line(program, file, *n)
        }
        LocSpec::FileLine { file, line } => resolve_file_line(program, file, *line),
    }
}

fn resolve_file_line(program: &Program, file: &str, line: u32) -> Result<Resolved, SessionError> {
    if let Some(d) = &program.dwarf {
        let lk = d.resolve_line(file, line).map_err(|e| SessionError::BadLocation(e.to_string()))?;
        let function = lk.pcs.first().and_then(|pc| program.func_name(*pc));
        return Ok(Resolved {
            moved_from: (lk.line != lk.requested_line).then_some(lk.requested_line),
            addrs: lk.pcs,
            file: Some(lk.file),
            line: lk.line,
            function,
        });
    }
    // Without DWARF, pclntab still maps lines to code.
    let pcs = program.bin.pclntab().pcs_for_line(file, line);
    if pcs.is_empty() {
        return Err(SessionError::BadLocation(format!("could not find {file}:{line}")));
    }
    let (f, _) = program.line_for_pc(pcs[0]).unzip();
    Ok(Resolved { function: program.func_name(pcs[0]), addrs: pcs, file: f, line, moved_from: None })
}
