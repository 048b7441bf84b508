//! The load bias of a position-independent executable (`-buildmode=pie`):
//! DWARF describes the addresses of the file, the process runs them
//! shifted by the distance the kernel (or the dynamic loader) chose. Every
//! address in or out of [`DebugInfo`]'s public API is the process's: the
//! file's addresses never leave the crate. The bias is 0 for executables
//! loaded where they were linked.

use std::ops::Range;

use crate::index::DebugInfo;
use crate::types::TypeId;
use crate::{DieRef, DwarfError, FunctionInfo, Global, InlinedFrame, LineInfo, LineLookup, LineRow, Location, LocationContext, Variable};

impl DebugInfo {
    /// The same debug information for a process that runs the file's code
    /// `bias` bytes away from its link addresses.
    pub fn with_load_bias(mut self, bias: u64) -> DebugInfo {
        self.bias = bias;
        self
    }

    /// See [`DebugInfo::with_load_bias`].
    pub fn load_bias(&self) -> u64 {
        self.bias
    }

    fn to_file(&self, pc: u64) -> u64 {
        pc.wrapping_sub(self.bias)
    }

    pub(crate) fn to_process(&self, addr: u64) -> u64 {
        addr.wrapping_add(self.bias)
    }

    fn function_out(&self, mut f: FunctionInfo) -> FunctionInfo {
        f.low_pc = self.to_process(f.low_pc);
        f.high_pc = self.to_process(f.high_pc);
        f
    }

    fn range_out(&self, r: Range<u64>) -> Range<u64> {
        self.to_process(r.start)..self.to_process(r.end)
    }

    /// The concrete function containing `pc`.
    pub fn function_at(&self, pc: u64) -> Option<FunctionInfo> {
        self.function_at_file(self.to_file(pc)).map(|f| self.function_out(f))
    }

    /// Inlined calls containing `pc`, innermost first.
    pub fn inline_chain(&self, pc: u64) -> Vec<InlinedFrame> {
        let mut chain = self.inline_chain_file(self.to_file(pc));
        for f in &mut chain {
            f.ranges = f.ranges.drain(..).map(|r| self.range_out(r)).collect();
        }
        chain
    }

    /// Entry pc of every inlined copy of `func_name`, sorted.
    pub fn inlined_entry_pcs(&self, func_name: &str) -> Vec<u64> {
        self.inlined_entry_pcs_file(func_name).into_iter().map(|a| self.to_process(a)).collect()
    }

    /// Formal parameters and locals visible at `pc` in the (inlined)
    /// function `inline_depth` levels out from the innermost.
    pub fn variables(&self, pc: u64, inline_depth: usize) -> Vec<Variable> {
        self.variables_file(self.to_file(pc), inline_depth)
    }

    /// Address ranges of a DIE (e.g. of an inlined frame).
    pub fn die_ranges_of(&self, die: DieRef) -> Vec<Range<u64>> {
        self.die_ranges_of_file(die).into_iter().map(|r| self.range_out(r)).collect()
    }

    /// Source position of `pc`.
    pub fn line_for_pc(&self, pc: u64) -> Option<LineInfo> {
        self.line_for_pc_file(self.to_file(pc))
    }

    /// Every line-table row whose address is in `range`, sorted by address.
    pub fn line_table_rows(&self, range: Range<u64>) -> Vec<LineRow> {
        let mut rows = self.line_table_rows_file(self.to_file(range.start)..self.to_file(range.end));
        for r in &mut rows {
            r.address = self.to_process(r.address);
        }
        rows
    }

    /// First address flagged `prologue_end` in the function starting at
    /// `func_entry`.
    pub fn prologue_end(&self, func_entry: u64) -> Option<u64> {
        self.prologue_end_file(self.to_file(func_entry)).map(|a| self.to_process(a))
    }

    /// Resolves `file:line` to code addresses (see the line table's rules).
    pub fn resolve_line(&self, file: &str, line: u32) -> Result<LineLookup, DwarfError> {
        let mut l = self.resolve_line_file(file, line)?;
        l.pcs = l.pcs.into_iter().map(|a| self.to_process(a)).collect();
        Ok(l)
    }

    /// The type whose runtime type descriptor is `rtype_off`: Go's
    /// `DW_AT_go_runtime_type` is an offset from `moduledata.types`
    /// (cmd/link/internal/ld/dwarf.go), the same wherever the binary runs.
    pub fn type_by_runtime_type(&self, rtype_off: u64) -> Option<TypeId> {
        self.type_by_runtime_type_file(rtype_off)
    }

    /// A package-level variable by its qualified name (`main.counter`).
    pub fn global(&self, name: &str) -> Option<Global> {
        self.global_file(name).map(|mut g| {
            g.addr = self.to_process(g.addr);
            g
        })
    }

    /// All package-level variables, optionally only those whose name starts
    /// with `package_prefix` (e.g. `"main."`), sorted by name.
    pub fn globals(&self, package_prefix: Option<&str>) -> Vec<Global> {
        let mut v = self.globals_file(package_prefix);
        for g in &mut v {
            g.addr = self.to_process(g.addr);
        }
        v
    }

    /// A concrete function by its qualified name (`main.main`).
    pub fn function_by_name(&self, name: &str) -> Option<FunctionInfo> {
        self.function_by_name_file(name).map(|f| self.function_out(f))
    }

    /// Where `var`'s value is at `pc` in a frame described by `ctx`.
    pub fn eval_location(&self, var: &Variable, pc: u64, ctx: &LocationContext<'_>) -> Result<Location, DwarfError> {
        self.eval_location_file(var, self.to_file(pc), ctx)
    }
}
