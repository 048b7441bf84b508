//! Functions, inlined calls and variables.
//!
//! Go emits, per package CU, one `DW_TAG_subprogram` per concrete function
//! (with `low_pc`/`high_pc` and `DW_AT_frame_base = DW_OP_call_frame_cfa`),
//! abstract subprograms (`DW_AT_inline`) for functions inlined somewhere,
//! and `DW_TAG_inlined_subroutine` children that refer to them through
//! `DW_AT_abstract_origin`, possibly across CUs
//! (`cmd/internal/dwarf/dwarf.go`, `putInlinedFunc`, `PutAbstractFunc`).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use gimli::{AttributeValue, Reader};
use rayon::prelude::*;

use crate::cache::FuncEntry;
use crate::index::{DebugInfo, R};
use crate::types::TypeId;
use crate::{DieRef, DwarfError, FunctionInfo, InlinedFrame, VarKind, VarLocation, Variable};

/// An inlined call found at a pc, with the abstract origin's details.
struct RawInline {
    frame: InlinedFrame,
    decl_line: u32,
}

type Entry = gimli::DebuggingInformationEntry<R>;

fn udata(e: &Entry, at: gimli::DwAt) -> Option<u64> {
    e.attr(at).and_then(|a| a.udata_value())
}

impl DebugInfo {
    /// A concrete subprogram DIE as a [`FuncEntry`] (None for abstract ones).
    pub(crate) fn func_entry(&self, cu: usize, e: &Entry) -> Option<FuncEntry> {
        if e.tag() != gimli::DW_TAG_subprogram || e.has_attr(gimli::DW_AT_inline) {
            return None;
        }
        let ranges = self.die_ranges(cu, e);
        let low = ranges.iter().map(|r| r.start).min()?;
        let high = ranges.iter().map(|r| r.end).max()?;
        let name = self.attr_str(cu, e, gimli::DW_AT_name)?;
        let decl_file = match e.attr_value(gimli::DW_AT_decl_file) {
            Some(AttributeValue::FileIndex(i)) => Some(i as u32),
            Some(v) => v.udata_value().map(|i| i as u32),
            None => None,
        };
        Some(FuncEntry {
            name: Arc::from(name),
            low,
            high,
            decl_file,
            decl_line: udata(e, gimli::DW_AT_decl_line).unwrap_or(0) as u32,
            offset: self.global_offset(cu, e.offset()),
        })
    }

    pub(crate) fn function_info(&self, cu: usize, f: &FuncEntry) -> FunctionInfo {
        FunctionInfo {
            name: f.name.clone(),
            low_pc: f.low,
            high_pc: f.high,
            decl_file: f.decl_file.and_then(|i| self.cu_files(cu).get(i as usize).cloned()),
            decl_line: f.decl_line,
            die: DieRef(f.offset),
        }
    }

    /// Concrete functions of a CU, sorted by entry pc.
    pub(crate) fn cu_funcs(&self, cu: usize) -> &[FuncEntry] {
        let Some(c) = self.cus.get(cu) else { return &[] };
        c.funcs.get_or_init(|| {
            let mut out = Vec::new();
            let mut cursor = c.unit.entries();
            loop {
                match cursor.next_dfs() {
                    Ok(Some(e)) => {
                        if e.depth() == 1 {
                            if let Some(f) = self.func_entry(cu, e) {
                                out.push(f);
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(cu = %c.name, error = %err, "bad DIE tree");
                        break;
                    }
                }
            }
            out.sort_by_key(|f| f.low);
            out
        })
    }

    pub(crate) fn func_entry_at(&self, pc: u64) -> Option<(usize, &FuncEntry)> {
        let cu = self.cu_for_pc(pc)?;
        let funcs = self.cu_funcs(cu);
        let i = funcs.partition_point(|f| f.low <= pc).checked_sub(1)?;
        let f = funcs.get(i)?;
        (pc < f.high).then_some((cu, f))
    }

    /// The concrete function containing `pc`.
    pub(crate) fn function_at_file(&self, pc: u64) -> Option<FunctionInfo> {
        let (cu, f) = self.func_entry_at(pc)?;
        Some(self.function_info(cu, f))
    }

    /// Name and `decl_line` of a DIE, following `DW_AT_abstract_origin`.
    fn origin_name_line(&self, cu: usize, e: &Entry) -> (Option<String>, u32) {
        let mut name = self.attr_str(cu, e, gimli::DW_AT_name);
        let mut line = udata(e, gimli::DW_AT_decl_line);
        if name.is_none() || line.is_none() {
            if let Some(off) = self.attr_ref(cu, e, gimli::DW_AT_abstract_origin) {
                if let Ok((ocu, oe)) = self.entry_at(off) {
                    name = name.or_else(|| self.attr_str(ocu, &oe, gimli::DW_AT_name));
                    line = line.or_else(|| udata(&oe, gimli::DW_AT_decl_line));
                }
            }
        }
        (name, line.unwrap_or(0) as u32)
    }

    fn inline_chain_raw(&self, pc: u64) -> Vec<RawInline> {
        let Some((cu, f)) = self.func_entry_at(pc) else { return Vec::new() };
        let mut out = Vec::new();
        let mut walk = || -> Result<(), DwarfError> {
            let c = &self.cus[cu];
            let uoff = gimli::UnitOffset((f.offset - c.start) as usize);
            let mut cursor = c.unit.entries_at_offset(uoff)?;
            cursor.next_dfs()?;
            while let Some(e) = cursor.next_dfs()? {
                if e.depth() <= 0 {
                    break;
                }
                if e.tag() != gimli::DW_TAG_inlined_subroutine {
                    continue;
                }
                let ranges = self.die_ranges(cu, e);
                if !ranges.iter().any(|r| r.contains(&pc)) {
                    continue;
                }
                let (name, decl_line) = self.origin_name_line(cu, e);
                let call_file = match e.attr_value(gimli::DW_AT_call_file) {
                    Some(AttributeValue::FileIndex(i)) => Some(i),
                    Some(v) => v.udata_value(),
                    None => None,
                }
                .and_then(|i| self.cu_files(cu).get(i as usize).cloned());
                out.push(RawInline {
                    frame: InlinedFrame {
                        name: Arc::from(name.unwrap_or_default()),
                        call_file,
                        call_line: udata(e, gimli::DW_AT_call_line).unwrap_or(0) as u32,
                        ranges,
                        die: self.die_ref(cu, e.offset()),
                    },
                    decl_line,
                });
            }
            Ok(())
        };
        if let Err(e) = walk() {
            tracing::warn!(error = %e, pc, "bad DIE tree while looking for inlined calls");
        }
        // DFS found them outermost first.
        out.reverse();
        out
    }

    /// Inlined calls containing `pc`, innermost first.
    pub(crate) fn inline_chain_file(&self, pc: u64) -> Vec<InlinedFrame> {
        self.inline_chain_raw(pc).into_iter().map(|r| r.frame).collect()
    }

    /// `decl_line` and name of the innermost (possibly inlined) function at `pc`.
    pub(crate) fn innermost_decl(&self, pc: u64) -> Option<(u32, Arc<str>)> {
        if let Some(r) = self.inline_chain_raw(pc).into_iter().next() {
            return Some((r.decl_line, r.frame.name));
        }
        let (_, f) = self.func_entry_at(pc)?;
        Some((f.decl_line, f.name.clone()))
    }

    /// Entry pc of every inlined copy of `func_name`, sorted.
    pub(crate) fn inlined_entry_pcs_file(&self, func_name: &str) -> Vec<u64> {
        // A function can only be inlined into a package that imports its
        // package, and nothing imports package main: its functions' copies
        // are all in main's own compile units. Scanning those alone keeps
        // `break main.f` from walking a 100 MB binary's whole .debug_info.
        let idx = if func_name.starts_with("main.") {
            self.inlined_main.get_or_init(|| {
                let cus: Vec<usize> = (0..self.cus.len()).filter(|&i| &*self.cus[i].name == "main").collect();
                self.inlined_index(cus)
            })
        } else {
            self.inlined.get_or_init(|| self.inlined_index((0..self.cus.len()).collect()))
        };
        idx.get(func_name).cloned().unwrap_or_default()
    }

    /// Inlined function name -> entry pcs of its copies, over `cus`.
    fn inlined_index(&self, cus: Vec<usize>) -> HashMap<Arc<str>, Vec<u64>> {
        let parts: Vec<Vec<(u64, u64)>> = cus.into_par_iter().map(|cu| self.scan_inlined(cu)).collect();
        let mut names: HashMap<u64, Arc<str>> = HashMap::new();
        let mut map: HashMap<Arc<str>, Vec<u64>> = HashMap::new();
        for (origin, pc) in parts.into_iter().flatten() {
            let name = match names.get(&origin) {
                Some(n) => n.clone(),
                None => {
                    let n: Arc<str> = self
                        .entry_at(origin)
                        .ok()
                        .and_then(|(ocu, oe)| self.attr_str(ocu, &oe, gimli::DW_AT_name))
                        .map(Arc::from)
                        .unwrap_or_else(|| Arc::from(""));
                    names.insert(origin, n.clone());
                    n
                }
            };
            map.entry(name).or_default().push(pc);
        }
        for v in map.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        map
    }

    /// `(abstract origin, entry pc)` of every inlined call in a CU.
    fn scan_inlined(&self, cu: usize) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let c = &self.cus[cu];
        let mut cursor = c.unit.entries();
        loop {
            let e = match cursor.next_dfs() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(cu = %c.name, error = %err, "bad DIE tree");
                    break;
                }
            };
            if e.tag() != gimli::DW_TAG_inlined_subroutine {
                continue;
            }
            let Some(origin) = self.attr_ref(cu, e, gimli::DW_AT_abstract_origin) else { continue };
            let entry = match e.attr_value(gimli::DW_AT_entry_pc) {
                Some(v) => self.dwarf.attr_address(&c.unit, v).ok().flatten(),
                None => None,
            }
            .or_else(|| self.die_ranges(cu, e).iter().map(|r| r.start).min());
            if let Some(pc) = entry {
                out.push((origin, pc));
            }
        }
        out
    }

    /// Parameters and locals visible at `pc` in the frame `inline_depth`
    /// (0 = innermost, possibly inlined, frame; `inline_chain(pc).len()` =
    /// the concrete function). Variables of lexical blocks not covering `pc`
    /// and of nested inlined calls are excluded.
    pub(crate) fn variables_file(&self, pc: u64, inline_depth: usize) -> Vec<Variable> {
        let Some((cu, f)) = self.func_entry_at(pc) else { return Vec::new() };
        let chain = self.inline_chain_raw(pc);
        let scope = match chain.get(inline_depth) {
            Some(r) => r.frame.die.0,
            None if inline_depth == chain.len() => f.offset,
            None => return Vec::new(),
        };
        match self.scope_variables(cu, scope, pc) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, pc, "bad DIE tree while reading variables");
                Vec::new()
            }
        }
    }

    fn scope_variables(&self, cu: usize, scope: u64, pc: u64) -> Result<Vec<Variable>, DwarfError> {
        let c = &self.cus[cu];
        let uoff = gimli::UnitOffset((scope - c.start) as usize);
        let mut cursor = c.unit.entries_at_offset(uoff)?;
        cursor.next_dfs()?;
        let mut out = Vec::new();
        // Depth of an entry whose subtree is being skipped.
        let mut skip: Option<isize> = None;
        while let Some(e) = cursor.next_dfs()? {
            let depth = e.depth();
            if depth <= 0 {
                break;
            }
            if let Some(d) = skip {
                if depth > d {
                    continue;
                }
                skip = None;
            }
            match e.tag() {
                gimli::DW_TAG_inlined_subroutine => skip = Some(depth),
                gimli::DW_TAG_lexical_block => {
                    let r = self.die_ranges(cu, e);
                    if !r.is_empty() && !r.iter().any(|r| r.contains(&pc)) {
                        skip = Some(depth);
                    }
                }
                gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable => {
                    if let Some(v) = self.variable(cu, e)? {
                        out.push(v);
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn variable(&self, cu: usize, e: &Entry) -> Result<Option<Variable>, DwarfError> {
        let origin = match self.attr_ref(cu, e, gimli::DW_AT_abstract_origin) {
            Some(off) => Some(self.entry_at(off)?),
            None => None,
        };
        let get_str = |at| {
            self.attr_str(cu, e, at)
                .or_else(|| origin.as_ref().and_then(|(oc, oe)| self.attr_str(*oc, oe, at)))
        };
        let Some(name) = get_str(gimli::DW_AT_name) else { return Ok(None) };
        let ty = self
            .attr_ref(cu, e, gimli::DW_AT_type)
            .or_else(|| origin.as_ref().and_then(|(oc, oe)| self.attr_ref(*oc, oe, gimli::DW_AT_type)))
            .unwrap_or(0);
        let decl_line = udata(e, gimli::DW_AT_decl_line)
            .or_else(|| origin.as_ref().and_then(|(_, oe)| udata(oe, gimli::DW_AT_decl_line)))
            .unwrap_or(0) as u32;
        let flag = |x: &Entry| match x.attr_value(gimli::DW_AT_variable_parameter) {
            Some(AttributeValue::Flag(b)) => Some(b),
            Some(v) => v.udata_value().map(|v| v != 0),
            None => None,
        };
        let is_result = flag(e).or_else(|| origin.as_ref().and_then(|(_, oe)| flag(oe))).unwrap_or(false);
        let kind = match e.tag() {
            gimli::DW_TAG_formal_parameter if is_result => VarKind::ReturnValue,
            gimli::DW_TAG_formal_parameter => VarKind::Arg,
            _ => VarKind::Local,
        };
        let unit = &self.cus[cu].unit;
        let location = match e.attr_value(gimli::DW_AT_location) {
            Some(AttributeValue::Exprloc(expr)) => {
                let bytes = expr.0.to_slice()?.into_owned();
                if bytes.is_empty() {
                    VarLocation::None
                } else {
                    VarLocation::Expr(bytes)
                }
            }
            Some(AttributeValue::LocationListsRef(o)) => VarLocation::List(o.0 as u64),
            Some(AttributeValue::DebugLocListsIndex(i)) => {
                VarLocation::List(self.dwarf.locations_offset(unit, i)?.0 as u64)
            }
            Some(AttributeValue::SecOffset(o)) => VarLocation::List(o as u64),
            _ => VarLocation::None,
        };
        Ok(Some(Variable {
            name,
            kind,
            ty: TypeId(ty),
            decl_line,
            location,
            die: self.die_ref(cu, e.offset()),
            cu,
        }))
    }

    /// Address ranges of a DIE (e.g. of an inlined frame).
    pub(crate) fn die_ranges_of_file(&self, die: DieRef) -> Vec<Range<u64>> {
        match self.entry_at(die.0) {
            Ok((cu, e)) => self.die_ranges(cu, &e),
            Err(_) => Vec::new(),
        }
    }
}
