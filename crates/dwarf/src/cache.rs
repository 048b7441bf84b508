//! What the lazy per-compile-unit caches of [`crate::DebugInfo`] hold: a
//! unit's concrete functions and its line table, filled on first use by
//! `funcs.rs` and `lines.rs`.

use std::sync::Arc;

/// A concrete subprogram of a CU.
#[derive(Debug, Clone)]
pub(crate) struct FuncEntry {
    pub(crate) name: Arc<str>,
    pub(crate) low: u64,
    pub(crate) high: u64,
    pub(crate) decl_file: Option<u32>,
    pub(crate) decl_line: u32,
    pub(crate) offset: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRow {
    pub(crate) addr: u64,
    /// End of this row's address range (next row of the sequence).
    pub(crate) end: u64,
    pub(crate) file: u32,
    pub(crate) line: u32,
    pub(crate) is_stmt: bool,
    pub(crate) prologue_end: bool,
    /// First row of an `is_stmt` run of this (file, line) in its sequence.
    pub(crate) stmt_start: bool,
}

#[derive(Debug, Default)]
pub(crate) struct LineTable {
    /// Sorted by address (stable, so that among rows at one address the
    /// last one, which owns the range, is found by binary search).
    pub(crate) rows: Vec<RawRow>,
}

