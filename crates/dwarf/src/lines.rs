//! Line tables. Go emits one line program per CU (package); because of
//! inlining it mentions files of other packages too
//! (`cmd/link/internal/ld/dwarf.go`, `writelines`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use gimli::Reader;
use rayon::prelude::*;

use crate::cache::{LineTable, RawRow};
use crate::index::DebugInfo;
use crate::{DwarfError, LineInfo, LineLookup, LineRow};

impl DebugInfo {
    /// File table of a CU, indexed by the raw file index of its line program.
    pub(crate) fn cu_files(&self, cu: usize) -> &[Arc<str>] {
        let Some(c) = self.cus.get(cu) else { return &[] };
        c.files.get_or_init(|| {
            let mut out = Vec::new();
            let Some(prog) = &c.unit.line_program else { return out };
            let header = prog.header();
            let n = header.file_names().len() as u64;
            // DWARF 5 file indexes start at 0, DWARF 4 at 1.
            let (first, last) = if header.version() >= 5 { (0, n) } else { (1, n + 1) };
            out.resize(first as usize, Arc::from(""));
            for i in first..last {
                let path = header.file(i).map(|f| {
                    let name = self
                        .dwarf
                        .attr_string(&c.unit, f.path_name())
                        .ok()
                        .and_then(|r| r.to_string_lossy().ok().map(|s| s.into_owned()))
                        .unwrap_or_default();
                    let dir = f
                        .directory(header)
                        .and_then(|d| self.dwarf.attr_string(&c.unit, d).ok())
                        .and_then(|r| r.to_string_lossy().ok().map(|s| s.into_owned()))
                        .unwrap_or_default();
                    join_path(&dir, &name)
                });
                out.push(Arc::from(path.unwrap_or_default()));
            }
            out
        })
    }

    pub(crate) fn cu_lines(&self, cu: usize) -> &LineTable {
        static EMPTY: LineTable = LineTable { rows: Vec::new() };
        let Some(c) = self.cus.get(cu) else { return &EMPTY };
        c.lines.get_or_init(|| match self.parse_lines(cu) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(cu = %c.name, error = %e, "bad line program");
                LineTable::default()
            }
        })
    }

    fn parse_lines(&self, cu: usize) -> Result<LineTable, DwarfError> {
        let Some(prog) = self.cus.get(cu).and_then(|c| c.unit.line_program.clone()) else {
            return Ok(LineTable::default());
        };
        let mut rows: Vec<RawRow> = Vec::new();
        let mut seq_start = 0usize;
        let mut it = prog.rows();
        while let Some((_, row)) = it.next_row()? {
            let addr = row.address();
            if let Some(prev) = rows.len().checked_sub(1).filter(|&p| p >= seq_start) {
                rows[prev].end = addr;
            }
            if row.end_sequence() {
                seq_start = rows.len();
                continue;
            }
            let file = row.file_index() as u32;
            let line = row.line().map_or(0, |l| l.get() as u32);
            let is_stmt = row.is_stmt();
            let stmt_start = is_stmt
                && match rows.len().checked_sub(1).filter(|&p| p >= seq_start) {
                    Some(p) => {
                        let q = &rows[p];
                        !(q.file == file && q.line == line && q.is_stmt)
                    }
                    None => true,
                };
            rows.push(RawRow {
                addr,
                end: addr,
                file,
                line,
                is_stmt,
                prologue_end: row.prologue_end(),
                stmt_start,
            });
        }
        rows.sort_by_key(|r| r.addr);
        Ok(LineTable { rows })
    }

    fn file_name(&self, cu: usize, idx: u32) -> Arc<str> {
        self.cu_files(cu).get(idx as usize).cloned().unwrap_or_else(|| Arc::from("?"))
    }

    /// Source position of `pc`.
    pub(crate) fn line_for_pc_file(&self, pc: u64) -> Option<LineInfo> {
        let cu = self.cu_for_pc(pc)?;
        let rows = &self.cu_lines(cu).rows;
        let i = rows.partition_point(|r| r.addr <= pc).checked_sub(1)?;
        let r = rows.get(i)?;
        if pc >= r.end {
            return None;
        }
        Some(LineInfo { file: self.file_name(cu, r.file), line: r.line, is_stmt: r.is_stmt })
    }

    /// Every line-table row whose address is in `range`, sorted by address.
    pub(crate) fn line_table_rows_file(&self, range: Range<u64>) -> Vec<LineRow> {
        let mut cus: Vec<usize> = self
            .ranges
            .iter()
            .filter(|(b, e, _)| *b < range.end && range.start < *e)
            .map(|r| r.2)
            .collect();
        cus.sort_unstable();
        cus.dedup();
        let mut out = Vec::new();
        for cu in cus {
            let rows = &self.cu_lines(cu).rows;
            let from = rows.partition_point(|r| r.addr < range.start);
            for r in rows[from..].iter().take_while(|r| r.addr < range.end) {
                out.push(LineRow {
                    address: r.addr,
                    file: self.file_name(cu, r.file),
                    line: r.line,
                    is_stmt: r.is_stmt,
                    prologue_end: r.prologue_end,
                });
            }
        }
        out.sort_by_key(|r| r.address);
        out
    }

    /// First address flagged `prologue_end` in the function starting at
    /// `func_entry` (Go sets it after the stack-growth check,
    /// `cmd/internal/obj/x86/obj6.go` marks the prologue end).
    pub(crate) fn prologue_end_file(&self, func_entry: u64) -> Option<u64> {
        let f = self.function_at_file(func_entry)?;
        let cu = self.cu_for_pc(func_entry)?;
        let rows = &self.cu_lines(cu).rows;
        let from = rows.partition_point(|r| r.addr < f.low_pc);
        rows[from..]
            .iter()
            .take_while(|r| r.addr < f.high_pc)
            .find(|r| r.prologue_end)
            .map(|r| r.addr)
    }

    fn files_to_cus(&self) -> &HashMap<Arc<str>, Vec<usize>> {
        self.file_index.get_or_init(|| {
            let per_cu: Vec<Vec<Arc<str>>> = (0..self.cus.len())
                .into_par_iter()
                .map(|cu| self.cu_files(cu).iter().filter(|f| !f.is_empty()).cloned().collect())
                .collect();
            let mut map: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
            for (cu, files) in per_cu.into_iter().enumerate() {
                for f in files {
                    let v = map.entry(f).or_default();
                    if v.last() != Some(&cu) {
                        v.push(cu);
                    }
                }
            }
            map
        })
    }

    /// Every source file named by a line table, sorted.
    pub fn files(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.files_to_cus().keys().cloned().collect();
        v.sort();
        v
    }

    /// Matches a user-supplied file name: an exact path, or a unique suffix
    /// at a path-component boundary.
    fn match_file(&self, file: &str) -> Result<Arc<str>, DwarfError> {
        let idx = self.files_to_cus();
        if let Some((k, _)) = idx.get_key_value(file) {
            return Ok(k.clone());
        }
        let mut cands: Vec<&Arc<str>> = idx
            .keys()
            .filter(|k| {
                k.len() > file.len()
                    && k.ends_with(file)
                    && (file.starts_with('/') || k.as_bytes()[k.len() - file.len() - 1] == b'/')
            })
            .collect();
        cands.sort();
        match cands.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(DwarfError::UnknownFile {
                file: file.to_string(),
                suggestions: cands.iter().map(|c| c.to_string()).collect(),
            }),
        }
    }

    /// Resolves `file:line` to code addresses. If the line has no code, moves
    /// forward to the next line with `is_stmt` code of the same function.
    pub(crate) fn resolve_line_file(&self, file: &str, line: u32) -> Result<LineLookup, DwarfError> {
        let path = self.match_file(file)?;
        let cus = self.files_to_cus().get(&path).cloned().unwrap_or_default();
        // line -> statement-start pcs, for every line >= `line` in this file.
        let mut by_line: BTreeMap<u32, HashSet<u64>> = BTreeMap::new();
        for cu in cus {
            let files = self.cu_files(cu);
            let idxs: Vec<u32> = files
                .iter()
                .enumerate()
                .filter(|(_, f)| **f == path)
                .map(|(i, _)| i as u32)
                .collect();
            for r in &self.cu_lines(cu).rows {
                if r.stmt_start && r.line >= line && idxs.contains(&r.file) {
                    by_line.entry(r.line).or_default().insert(r.addr);
                }
            }
        }
        let no_code = || DwarfError::NoCodeAtLine { file: path.to_string(), line };
        for (&l, pcs) in &by_line {
            let mut pcs: Vec<u64> = pcs.iter().copied().collect();
            pcs.sort_unstable();
            if l != line {
                // Only move forward within the function that encloses
                // `line`: the code found must belong to a function (or
                // inlined function) declared at or before `line`.
                let Some(&pc) = pcs.first() else { continue };
                match self.innermost_decl(pc) {
                    Some((decl, _)) if decl <= line => {}
                    // A closure declared later inside the enclosing
                    // function: keep looking past it.
                    Some((_, name)) if is_closure(&name) => continue,
                    _ => return Err(no_code()),
                }
            }
            let pcs = self.first_per_block(pcs);
            return Ok(LineLookup { file: path.clone(), requested_line: line, line: l, pcs });
        }
        Err(no_code())
    }

    /// One pc per function and per inlined copy: the lowest of `pcs`
    /// (sorted) in each. A line whose code the compiler split into several
    /// blocks (a `for` header's init, condition and increment; a call
    /// whose arguments are computed first) gets one breakpoint, at its
    /// first statement, as Delve places it; a breakpoint at every block
    /// stopped a `for` line twice per iteration.
    fn first_per_block(&self, pcs: Vec<u64>) -> Vec<u64> {
        let mut seen = HashSet::new();
        pcs.into_iter()
            .filter(|&pc| {
                let func = self.func_entry_at(pc).map(|(_, f)| f.low);
                let inlined = self.inline_chain_file(pc).first().map(|f| f.die);
                seen.insert((func, inlined))
            })
            .collect()
    }
}

/// Go names closures `outer.funcN` (`cmd/compile/internal/ir/func.go`,
/// `closureName`).
fn is_closure(name: &str) -> bool {
    name.rsplit('.').next().is_some_and(|last| {
        last.strip_prefix("func").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn join_path(dir: &str, name: &str) -> String {
    if name.starts_with('/') || dir.is_empty() || dir == "." {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}
