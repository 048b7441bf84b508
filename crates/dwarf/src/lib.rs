//! DWARF debug information for Go binaries, indexed lazily.
//!
//! Opening a binary ([`DebugInfo::new`]) only reads the compile-unit headers,
//! their root DIEs (name, `DW_AT_ranges`/`low_pc`/`high_pc`) and builds a
//! sorted address-range table; this is done in parallel across CUs. Go emits
//! one CU per package (`cmd/link/internal/ld/dwarf.go`, `dwarfGenerateDebugInfo`),
//! so a CU is a natural unit of laziness: its line table, its list of
//! functions, the whole-binary name indexes (types, globals, constants,
//! functions) and the inlining index are all built on first use and cached.
//!
//! Go toolchains up to 1.24 emit DWARF 4 (`.debug_loc`, `.debug_ranges`);
//! from 1.25 the linker emits DWARF 5 (`.debug_loclists`, `.debug_rnglists`,
//! `.debug_addr`, indexed addresses). Both are handled through gimli.

mod bias;
mod cache;
mod funcs;
mod index;
mod lines;
mod location;
mod typeread;
pub mod types;

use std::ops::Range;
use std::sync::Arc;

pub use index::DebugInfo;

/// `DebugInfo` is shared between debugger threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DebugInfo>();
};
pub use types::{Field, Type, TypeId, TypeKind};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DwarfError {
    #[error("malformed DWARF: {0}")]
    Gimli(#[from] gimli::Error),
    #[error("no DWARF debug information (.debug_info is empty)")]
    NoDebugInfo,
    #[error("unknown source file {file:?}{}", suggestion_text(.suggestions))]
    UnknownFile { file: String, suggestions: Vec<String> },
    #[error("no code at or after {file}:{line} in the same function")]
    NoCodeAtLine { file: String, line: u32 },
    #[error("no DIE at .debug_info offset {0:#x}")]
    BadOffset(u64),
    #[error("DIE at {offset:#x} is not a type (tag {tag})")]
    NotAType { offset: u64, tag: String },
    #[error("location expression needs {0}, which is not available")]
    Unavailable(&'static str),
    #[error("register {0} is not available in this frame")]
    MissingRegister(u16),
    #[error("cannot read target memory at {0:#x}")]
    Memory(u64),
    #[error("unsupported DWARF construct: {0}")]
    Unsupported(String),
}

fn suggestion_text(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" (ambiguous; candidates: {})", s.join(", "))
    }
}

/// The raw (already decompressed) DWARF sections of a binary. Missing
/// sections are empty.
#[derive(Debug, Clone)]
pub struct DwarfSections {
    pub debug_info: Arc<[u8]>,
    pub debug_abbrev: Arc<[u8]>,
    pub debug_line: Arc<[u8]>,
    pub debug_str: Arc<[u8]>,
    pub debug_line_str: Arc<[u8]>,
    pub debug_ranges: Arc<[u8]>,
    pub debug_rnglists: Arc<[u8]>,
    pub debug_loc: Arc<[u8]>,
    pub debug_loclists: Arc<[u8]>,
    pub debug_addr: Arc<[u8]>,
    pub debug_str_offsets: Arc<[u8]>,
    pub debug_frame: Arc<[u8]>,
}

impl Default for DwarfSections {
    fn default() -> Self {
        let empty: Arc<[u8]> = Arc::from(Vec::new());
        DwarfSections {
            debug_info: empty.clone(),
            debug_abbrev: empty.clone(),
            debug_line: empty.clone(),
            debug_str: empty.clone(),
            debug_line_str: empty.clone(),
            debug_ranges: empty.clone(),
            debug_rnglists: empty.clone(),
            debug_loc: empty.clone(),
            debug_loclists: empty.clone(),
            debug_addr: empty.clone(),
            debug_str_offsets: empty.clone(),
            debug_frame: empty,
        }
    }
}

impl DwarfSections {
    /// ELF names of every section [`DwarfSections::set`] accepts.
    pub const NAMES: [&'static str; 12] = [
        ".debug_info",
        ".debug_abbrev",
        ".debug_line",
        ".debug_str",
        ".debug_line_str",
        ".debug_ranges",
        ".debug_rnglists",
        ".debug_loc",
        ".debug_loclists",
        ".debug_addr",
        ".debug_str_offsets",
        ".debug_frame",
    ];

    /// Collects the sections `get` returns by ELF name.
    pub fn from_fn(mut get: impl FnMut(&str) -> Option<Arc<[u8]>>) -> DwarfSections {
        let mut s = DwarfSections::default();
        for name in Self::NAMES {
            if let Some(data) = get(name) {
                s.set(name, data);
            }
        }
        s
    }

    /// Sets a section by its ELF name (`.debug_info`, ...); unknown names
    /// are ignored so callers can feed every section of the file.
    pub fn set(&mut self, name: &str, data: Arc<[u8]>) {
        let slot = match name {
            ".debug_info" => &mut self.debug_info,
            ".debug_abbrev" => &mut self.debug_abbrev,
            ".debug_line" => &mut self.debug_line,
            ".debug_str" => &mut self.debug_str,
            ".debug_line_str" => &mut self.debug_line_str,
            ".debug_ranges" => &mut self.debug_ranges,
            ".debug_rnglists" => &mut self.debug_rnglists,
            ".debug_loc" => &mut self.debug_loc,
            ".debug_loclists" => &mut self.debug_loclists,
            ".debug_addr" => &mut self.debug_addr,
            ".debug_str_offsets" => &mut self.debug_str_offsets,
            ".debug_frame" => &mut self.debug_frame,
            _ => return,
        };
        *slot = data;
    }
}

/// A reference to a DIE: its global `.debug_info` offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DieRef(pub u64);

/// Source position of a pc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInfo {
    pub file: Arc<str>,
    pub line: u32,
    pub is_stmt: bool,
}

/// One row of a line table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    pub address: u64,
    pub file: Arc<str>,
    pub line: u32,
    pub is_stmt: bool,
    pub prologue_end: bool,
}

/// Result of [`DebugInfo::resolve_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineLookup {
    /// Full path of the matched file.
    pub file: Arc<str>,
    pub requested_line: u32,
    /// The line that actually has code (>= `requested_line`).
    pub line: u32,
    /// Every `is_stmt` address where `line` starts (inlined copies, loops).
    pub pcs: Vec<u64>,
}

/// A concrete (out-of-line) function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: Arc<str>,
    pub low_pc: u64,
    pub high_pc: u64,
    pub decl_file: Option<Arc<str>>,
    pub decl_line: u32,
    pub die: DieRef,
}

/// An inlined call (`DW_TAG_inlined_subroutine`) containing a pc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinedFrame {
    /// Name of the inlined function (from its abstract origin).
    pub name: Arc<str>,
    /// Where the inlined function was called from (a line of the caller).
    pub call_file: Option<Arc<str>>,
    pub call_line: u32,
    pub ranges: Vec<Range<u64>>,
    pub die: DieRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    Arg,
    Local,
    /// A result parameter: Go marks them with `DW_AT_variable_parameter` = 1
    /// (`cmd/internal/dwarf/dwarf.go`, `putvar`).
    ReturnValue,
}

/// Where a variable's location description lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarLocation {
    /// A single `exprloc` valid over the whole scope.
    Expr(Vec<u8>),
    /// A location list (offset into `.debug_loc` / `.debug_loclists`).
    List(u64),
    /// No `DW_AT_location` (or an empty one): optimized away.
    None,
}

/// A formal parameter or local variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub kind: VarKind,
    pub ty: TypeId,
    pub decl_line: u32,
    pub location: VarLocation,
    pub die: DieRef,
    /// Index of the CU whose encoding/bases interpret `location`.
    pub(crate) cu: usize,
}

/// Register and memory state of a frame, for location evaluation.
pub struct LocationContext<'a> {
    /// Canonical frame address (Go frame bases are `DW_OP_call_frame_cfa`).
    pub cfa: u64,
    /// Value of a DWARF-numbered register (0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi,
    /// 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip).
    pub regs: &'a dyn Fn(u16) -> Option<u64>,
    /// Reads target memory; returns false on failure.
    pub read_memory: &'a dyn Fn(u64, &mut [u8]) -> bool,
}

/// Where a variable's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Address(u64),
    /// The whole value lives in this DWARF register.
    Register(u16),
    /// The value is split in pieces (Go's register ABI splits strings,
    /// slices, interfaces and structs).
    Pieces(Vec<Piece>),
    /// Known value with no location (`DW_OP_stack_value`, constants).
    Value(u64),
    OptimizedAway,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Size in bytes.
    pub size: u64,
    pub loc: PieceLoc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceLoc {
    Address(u64),
    Register(u16),
    Value(u64),
    Unavailable,
}

/// A package-level variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub name: Arc<str>,
    pub addr: u64,
    pub ty: TypeId,
}
