//! The Go symbol table (`.gopclntab`): functions, file/line, SP deltas,
//! PCDATA and the inline tree.
//!
//! Layout (Go 1.20+, magic 0xFFFFFFF1; runtime/symtab.go `pcHeader`,
//! `moduledata`, written by cmd/link/internal/ld/pcln.go): the section starts
//! with the header, followed by `funcnametab` (NUL-terminated names), `cutab`
//! (per compilation unit, `uint32` offsets into `filetab`), `filetab`
//! (NUL-terminated paths), `pctab` (pc-value tables) and `pclntable`, which
//! begins with the functab (`nfunc+1` pairs `{entryOff, funcOff uint32}`,
//! the last one marking the end of text) followed by the `_func` records.
//!
//! Only the header is read when a binary is opened; everything else is
//! decoded on demand, and the name and per-file line indexes are built
//! lazily on first use.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::image::{le_u32, le_u64, Image};
use crate::pcvalue::{zip_tables, PcValues};

/// Magic of the Go 1.20+ pclntab (internal/abi `Go120PCLnTabMagic`).
pub(crate) const GO120_MAGIC: u32 = 0xFFFF_FFF1;
/// Older magics (internal/abi/symtab.go), recognised only to report the version.
pub(crate) const OLD_MAGICS: [(u32, &str); 3] = [
    (0xFFFF_FFFB, "Go 1.2-1.15"),
    (0xFFFF_FFFA, "Go 1.16-1.17"),
    (0xFFFF_FFF0, "Go 1.18-1.19"),
];

/// Size of the fixed part of `runtime._func` (runtime/runtime2.go): ten
/// 32-bit fields followed by funcID, flag, a pad byte and nfuncdata.
const FUNC_SIZE: usize = 44;
/// Offsets of the `_func` fields.
const F_ENTRY_OFF: usize = 0;
const F_NAME_OFF: usize = 4;
const F_ARGS: usize = 8;
const F_DEFERRETURN: usize = 12;
const F_PCSP: usize = 16;
const F_PCFILE: usize = 20;
const F_PCLN: usize = 24;
const F_NPCDATA: usize = 28;
const F_CU_OFFSET: usize = 32;
const F_START_LINE: usize = 36;
const F_FUNC_ID: usize = 40;
const F_FLAG: usize = 41;
const F_NFUNCDATA: usize = 43;

/// internal/abi/symtab.go `PCDATA_*` table indexes.
pub const PCDATA_UNSAFE_POINT: u32 = 0;
/// See [`PCDATA_UNSAFE_POINT`].
pub const PCDATA_STACK_MAP_INDEX: u32 = 1;
/// See [`PCDATA_UNSAFE_POINT`].
pub const PCDATA_INL_TREE_INDEX: u32 = 2;
/// See [`PCDATA_UNSAFE_POINT`].
pub const PCDATA_ARG_LIVE_INDEX: u32 = 3;
/// internal/abi/symtab.go `FUNCDATA_InlTree`.
pub const FUNCDATA_INL_TREE: u8 = 3;

/// internal/abi/symtab.go `FuncFlag` bits.
pub const FUNCFLAG_TOPFRAME: u8 = 1 << 0;
/// See [`FUNCFLAG_TOPFRAME`].
pub const FUNCFLAG_SPWRITE: u8 = 1 << 1;
/// See [`FUNCFLAG_TOPFRAME`].
pub const FUNCFLAG_ASM: u8 = 1 << 2;

/// Size of a `runtime.inlinedCall` (runtime/symtabinl.go): funcID uint8,
/// 3 pad bytes, nameOff int32, parentPc int32, startLine int32.
const INLINED_CALL_SIZE: u64 = 16;
/// Bound on inline depth, so a corrupt tree cannot loop forever.
const MAX_INLINE_DEPTH: usize = 256;

/// A function from the pclntab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    /// Full symbol name as the runtime prints it, e.g. `main.main`,
    /// `example.com/p.(*T).M`, `main.Sum[...]`, `main.f.func1`.
    pub name: Arc<str>,
    /// First instruction.
    pub entry: u64,
    /// End of the function (entry of the next one in the functab).
    pub end: u64,
    /// Size of the in/out arguments (`_func.args`; negative for unknown, see `abi.ArgsSizeUnknown`).
    pub args: i32,
    /// Offset from `entry` of the deferreturn call, 0 if none.
    pub deferreturn: u32,
    /// `abi.FuncID`; the numbering differs between Go versions.
    pub func_id: u8,
    /// `abi.FuncFlag` bits ([`FUNCFLAG_TOPFRAME`], ...).
    pub flag: u8,
    /// Line of the `func` keyword (or `TEXT` directive).
    pub start_line: i32,
    raw: RawFunc,
}

/// The fixed fields of a `_func` needed to decode its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawFunc {
    /// Index in the functab.
    index: u32,
    /// Offset of the `_func` record in the mapped file.
    off: usize,
    entry: u64,
    end: u64,
    name_off: u32,
    pcsp: u32,
    pcfile: u32,
    pcln: u32,
    npcdata: u32,
    cu_offset: u32,
    nfuncdata: u8,
}

impl Func {
    /// Whether the function was written in assembly.
    pub fn is_asm(&self) -> bool {
        self.flag & FUNCFLAG_ASM != 0
    }

    /// Whether the function is at the top of its stack (runtime.goexit,
    /// mstart, rt0_go, ...): unwinding stops there (runtime/traceback.go).
    pub fn is_topframe(&self) -> bool {
        self.flag & FUNCFLAG_TOPFRAME != 0
    }

    /// Whether the function writes SP arbitrarily, so its frame cannot be
    /// unwound with the pcsp table (runtime/traceback.go `unwinder.resolveInternal`).
    pub fn is_spwrite(&self) -> bool {
        self.flag & FUNCFLAG_SPWRITE != 0
    }

    /// Whether `pc` lies in `[entry, end)`.
    pub fn contains(&self, pc: u64) -> bool {
        pc >= self.entry && pc < self.end
    }

    /// The package path, e.g. `example.com/prog/shapes` for
    /// `example.com/prog/shapes.(*Rect).Scale` (the name up to the first
    /// `.` after the last `/`, as runtime/symtab.go `funcpkgpath`).
    pub fn package(&self) -> &str {
        package_of(&self.name)
    }

}

/// The package path of a function name.
pub fn package_of(name: &str) -> &str {
    // Generic instantiations carry "[...]"; type arguments never count.
    let head = name
        .find('[')
        .map_or(name, |i| name.get(..i).unwrap_or(name));
    let after_slash = head.rfind('/').map_or(0, |i| i + 1);
    match head.get(after_slash..).and_then(|s| s.find('.')) {
        Some(dot) => head.get(..after_slash + dot).unwrap_or(head),
        None => head,
    }
}

/// One level of inlining at a pc, innermost first (see [`Pclntab::inline_stack`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinedCall {
    /// The inlined (called) function.
    pub func_name: Arc<str>,
    /// Its `abi.FuncID`.
    pub func_id: u8,
    /// Its `func` line.
    pub start_line: i32,
    /// An instruction of the caller whose position is the call site
    /// (absolute address).
    pub parent_pc: u64,
    /// File of the call site (position at `parent_pc`).
    pub call_file: Option<Arc<str>>,
    /// Line of the call site.
    pub call_line: u32,
}

/// A logical (source-level) frame at a pc: inlined calls expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalFrame {
    /// Function name.
    pub func_name: Arc<str>,
    /// Current file in that function.
    pub file: Option<Arc<str>>,
    /// Current line in that function.
    pub line: u32,
    /// True for inlined functions; false for the physical function (last frame).
    pub inlined: bool,
}

/// A row of a function's line table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEntry<'a> {
    /// Instructions covered.
    pub pc: Range<u64>,
    /// Source file (innermost position: inside inlined bodies, the inlined function's file).
    pub file: &'a str,
    /// Source line.
    pub line: u32,
}

/// Selected fields of `runtime.moduledata` (runtime/symtab.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleData {
    /// Address of the moduledata itself (`runtime.firstmoduledata`).
    pub addr: u64,
    /// `text` / `etext`.
    pub text: u64,
    /// See `text`.
    pub etext: u64,
    /// `noptrdata` / `enoptrdata`.
    pub noptrdata: u64,
    /// See `noptrdata`.
    pub enoptrdata: u64,
    /// `data` / `edata`.
    pub data: u64,
    /// See `data`.
    pub edata: u64,
    /// `bss` / `ebss`.
    pub bss: u64,
    /// See `bss`.
    pub ebss: u64,
    /// `noptrbss` / `enoptrbss`.
    pub noptrbss: u64,
    /// See `noptrbss`.
    pub enoptrbss: u64,
    /// `end`.
    pub end: u64,
    /// `types` / `etypes`: base of type descriptors (`abi.Type` offsets are relative to `types`).
    pub types: u64,
    /// See `types`.
    pub etypes: u64,
    /// `rodata`.
    pub rodata: u64,
    /// `gofunc`: base of FUNCDATA offsets (`go:func.*`).
    pub gofunc: u64,
}

impl ModuleData {
    /// The record as the process sees it, `bias` bytes from its link
    /// addresses (the words are pointers; a 0 stays 0).
    fn biased(mut self, bias: u64) -> ModuleData {
        for w in [
            &mut self.addr, &mut self.text, &mut self.etext, &mut self.noptrdata, &mut self.enoptrdata, &mut self.data, &mut self.edata,
            &mut self.bss, &mut self.ebss, &mut self.noptrbss, &mut self.enoptrbss, &mut self.end, &mut self.types, &mut self.etypes,
            &mut self.rodata, &mut self.gofunc,
        ] {
            if *w != 0 {
                *w = w.wrapping_add(bias);
            }
        }
        self
    }
}

/// Where to look for `runtime.firstmoduledata`, which is not referenced by
/// the pclntab itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModuleDataHints {
    /// Address ranges to scan, in order.
    pub scan: Vec<Range<u64>>,
    /// Minor Go version, selecting the moduledata layout.
    pub go_minor: Option<u32>,
    /// Start of `.rodata`, to validate the layout when the version is unknown.
    pub rodata: Option<u64>,
}

/// (line, pc) pairs where runs of a line start in one file, sorted.
type LineStarts = Arc<Vec<(u32, u64)>>;

/// The decoded Go symbol table of a binary. Cheap to create: only the
/// header is read up front.
pub struct Pclntab {
    image: Arc<Image>,
    /// Virtual address of the section (= `runtime.pcheader`).
    addr: u64,
    /// File offset of the section (the header).
    header_off: usize,
    nfunc: usize,
    nfiles: usize,
    text_start: u64,
    funcnametab: Range<usize>,
    cutab: Range<usize>,
    filetab: Range<usize>,
    pctab: Range<usize>,
    pclntable: Range<usize>,
    md_hints: ModuleDataHints,
    moduledata: OnceLock<Option<ModuleData>>,
    /// Functab indexes sorted by name.
    by_name: OnceLock<Vec<u32>>,
    /// Compilation units: (cutab start index, functab indexes), sorted by start.
    cus: OnceLock<Vec<(u32, Vec<u32>)>>,
    /// Per filetab offset: (line, pc) where a run of that line starts, sorted.
    file_lines: Mutex<HashMap<u32, LineStarts>>,
}

impl std::fmt::Debug for Pclntab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pclntab")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("nfunc", &self.nfunc)
            .field("nfiles", &self.nfiles)
            .field("text_start", &format_args!("{:#x}", self.text_start))
            .finish_non_exhaustive()
    }
}

/// Errors from the header; turned into [`crate::BinaryError`] by the caller.
#[derive(Debug)]
pub(crate) enum PclntabError {
    OldVersion(&'static str),
    Corrupt(String),
}

impl Pclntab {
    /// Parses the header of the `.gopclntab` section at file range `sect`
    /// (virtual address `addr`). Function entries are offsets from
    /// `runtime.text`: the header's textStart when it is stored (0 from Go
    /// 1.27, runtime/symtab.go `pcHeader`: "This is no longer stored as it
    /// requires a relocation"), else [`Pclntab::text_start`] stays 0 until
    /// the caller sets it ([`Pclntab::set_text_start`]).
    pub(crate) fn parse(
        image: Arc<Image>,
        sect: Range<usize>,
        addr: u64,
        md_hints: ModuleDataHints,
    ) -> Result<Pclntab, PclntabError> {
        let corrupt = |s: &str| PclntabError::Corrupt(format!(".gopclntab: {s}"));
        let data = image
            .bytes()
            .get(sect.clone())
            .ok_or_else(|| corrupt("section outside the file"))?;
        let magic = le_u32(data).ok_or_else(|| corrupt("truncated header"))?;
        if magic != GO120_MAGIC {
            if let Some((_, v)) = OLD_MAGICS.iter().find(|(m, _)| *m == magic) {
                return Err(PclntabError::OldVersion(v));
            }
            return Err(corrupt(&format!("unknown magic {magic:#x}")));
        }
        // pad1, pad2, minLC, ptrSize.
        let (min_lc, ptr_size) = (data.get(6).copied(), data.get(7).copied());
        if min_lc != Some(1) || ptr_size != Some(8) {
            return Err(corrupt(&format!(
                "unexpected instruction quantum {min_lc:?} / pointer size {ptr_size:?} (not amd64)"
            )));
        }
        let word = |i: usize| -> Result<u64, PclntabError> {
            data.get(8 + 8 * i..)
                .and_then(le_u64)
                .ok_or_else(|| corrupt("truncated header"))
        };
        let nfunc = word(0)?;
        let nfiles = word(1)?;
        let text_start = word(2)?;
        let offs = [word(3)?, word(4)?, word(5)?, word(6)?, word(7)?];
        let len = data.len() as u64;
        if offs.windows(2).any(|w| w[0] > w[1]) || offs[4] > len {
            return Err(corrupt("table offsets out of order"));
        }
        let abs = |a: u64, b: u64| -> Range<usize> {
            // Offsets were checked against the section length, which fits in usize.
            (sect.start + a as usize)..(sect.start + b as usize)
        };
        let nfunc = usize::try_from(nfunc).map_err(|_| corrupt("bad nfunc"))?;
        let pclntable = abs(offs[4], len);
        // The functab has nfunc+1 entries of 8 bytes.
        if nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .is_none_or(|n| n > pclntable.len())
        {
            return Err(corrupt("functab larger than the section"));
        }
        Ok(Pclntab {
            addr,
            header_off: sect.start,
            nfunc,
            nfiles: usize::try_from(nfiles).map_err(|_| corrupt("bad nfiles"))?,
            text_start,
            funcnametab: abs(offs[0], offs[1]),
            cutab: abs(offs[1], offs[2]),
            filetab: abs(offs[2], offs[3]),
            pctab: abs(offs[3], offs[4]),
            pclntable,
            image,
            md_hints,
            moduledata: OnceLock::new(),
            by_name: OnceLock::new(),
            cus: OnceLock::new(),
            file_lines: Mutex::new(HashMap::new()),
        })
    }

    fn bytes(&self, r: &Range<usize>) -> &[u8] {
        self.image.bytes().get(r.clone()).unwrap_or(&[])
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.nfunc
    }

    /// Whether the table has no functions.
    pub fn is_empty(&self) -> bool {
        self.nfunc == 0
    }

    /// Base of function entry offsets (`runtime.text`); 0 when the header
    /// does not store it and it is not known yet.
    pub fn text_start(&self) -> u64 {
        self.text_start
    }

    /// Sets `runtime.text` (see [`Pclntab::parse`]).
    pub(crate) fn set_text_start(&mut self, text: u64) {
        self.text_start = text;
    }

    /// Address of the table (`runtime.pcheader`) in the process.
    pub fn addr(&self) -> u64 {
        self.addr.wrapping_add(self.image.bias())
    }

    // ---- functab ----

    /// Functab entry `i`: (entry offset, func offset).
    fn ftab(&self, i: usize) -> Option<(u32, u32)> {
        let t = self.bytes(&self.pclntable);
        let e = t.get(i.checked_mul(8)?..)?;
        Some((le_u32(e)?, le_u32(e.get(4..)?)?))
    }

    fn raw(&self, i: usize) -> Option<RawFunc> {
        if i >= self.nfunc {
            return None;
        }
        let (entry_off, func_off) = self.ftab(i)?;
        let (end_off, _) = self.ftab(i + 1)?;
        let off = self.pclntable.start.checked_add(func_off as usize)?;
        let rec = self.image.bytes().get(off..off.checked_add(FUNC_SIZE)?)?;
        let u = |o: usize| rec.get(o..).and_then(le_u32);
        // _func.entryOff must agree with the functab (runtime/symtab.go findfunc
        // trusts the functab; a mismatch means we are misreading the table).
        if u(F_ENTRY_OFF)? != entry_off {
            return None;
        }
        Some(RawFunc {
            index: i as u32,
            off,
            entry: self.text_start.checked_add(u64::from(entry_off))?,
            end: self.text_start.checked_add(u64::from(end_off))?,
            name_off: u(F_NAME_OFF)?,
            pcsp: u(F_PCSP)?,
            pcfile: u(F_PCFILE)?,
            pcln: u(F_PCLN)?,
            npcdata: u(F_NPCDATA)?,
            cu_offset: u(F_CU_OFFSET)?,
            nfuncdata: *rec.get(F_NFUNCDATA)?,
        })
    }

    fn func_from_raw(&self, raw: RawFunc) -> Option<Func> {
        let rec = self.image.bytes().get(raw.off..raw.off + FUNC_SIZE)?;
        let u = |o: usize| rec.get(o..).and_then(le_u32);
        Some(Func {
            name: Arc::from(self.name_at(raw.name_off).unwrap_or("?")),
            entry: raw.entry,
            end: raw.end,
            args: u(F_ARGS)? as i32,
            deferreturn: u(F_DEFERRETURN)?,
            func_id: *rec.get(F_FUNC_ID)?,
            flag: *rec.get(F_FLAG)?,
            start_line: u(F_START_LINE)? as i32,
            raw,
        })
    }

    /// The function with functab index `i`.
    pub fn func_at(&self, i: usize) -> Option<Func> {
        self.raw(i).and_then(|r| self.func_from_raw(r))
    }

    fn name_at(&self, name_off: u32) -> Option<&str> {
        cstr(self.bytes(&self.funcnametab), name_off as usize)
    }

    fn raw_name(&self, raw: &RawFunc) -> &str {
        self.name_at(raw.name_off).unwrap_or("?")
    }

    fn func_index_for_pc(&self, pc: u64) -> Option<usize> {
        let off = pc.checked_sub(self.text_start)?;
        let off = u32::try_from(off).ok()?;
        let (end, _) = self.ftab(self.nfunc)?;
        if off >= end {
            return None;
        }
        // Last entry whose entry offset is <= off.
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.ftab(mid)?.0 <= off {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// The function containing `pc` (binary search over the functab, as
    /// runtime/symtab.go `findfunc` without its bucket accelerator).
    pub fn func_for_pc(&self, pc: u64) -> Option<Func> {
        self.func_at(self.func_index_for_pc(pc)?)
    }

    /// All functions in address order.
    pub fn funcs(&self) -> impl Iterator<Item = Func> + '_ {
        (0..self.nfunc).filter_map(|i| self.func_at(i))
    }

    fn name_index(&self) -> &[u32] {
        self.by_name.get_or_init(|| {
            let mut idx: Vec<(u32, &str)> = (0..self.nfunc)
                .into_par_iter()
                .filter_map(|i| {
                    let r = self.raw(i)?;
                    Some((i as u32, self.raw_name(&r)))
                })
                .collect();
            idx.par_sort_unstable_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)));
            idx.into_iter().map(|(i, _)| i).collect()
        })
    }

    /// The function with exactly this name (first in address order if the
    /// name is duplicated). Builds a sorted name index on first use.
    pub fn func_by_name(&self, name: &str) -> Option<Func> {
        let idx = self.name_index();
        let pos = idx.partition_point(|&i| {
            self.raw(i as usize)
                .is_some_and(|r| self.raw_name(&r) < name)
        });
        let i = *idx.get(pos)?;
        let r = self.raw(i as usize)?;
        (self.raw_name(&r) == name).then(|| self.func_from_raw(r))?
    }

    /// Functions matching a user-written name: the exact name, or a name
    /// ending in `pattern` right after a `.` or `/`. Pointer receivers may be
    /// written without `(*...)` and generic functions without `[...]`:
    /// `foo` and `main.foo` match `main.foo`; `T.M`, `(*T).M` and
    /// `pkg.(*T).M` match `pkg.(*T).M`; `Sum` matches `pkg.Sum[...]`.
    /// An exact match, when there is one, is the only result.
    pub fn find_funcs(&self, pattern: &str) -> Vec<Func> {
        if let Some(f) = self.func_by_name(pattern) {
            return vec![f];
        }
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<usize> = (0..self.nfunc)
            .into_par_iter()
            .filter(|&i| {
                self.raw(i)
                    .is_some_and(|r| name_matches(self.raw_name(&r), pattern))
            })
            .collect();
        hits.sort_unstable();
        hits.into_iter().filter_map(|i| self.func_at(i)).collect()
    }

    // ---- per-function tables ----

    fn table(&self, off: u32, entry: u64) -> Option<PcValues<'_>> {
        // Offset 0 means "no table" (runtime/symtab.go pcvalue).
        if off == 0 {
            return None;
        }
        let t = self.bytes(&self.pctab).get(off as usize..)?;
        Some(PcValues::new(t, entry))
    }

    /// Source file number `fileno` of a function's compilation unit
    /// (runtime/symtab.go `funcfile`).
    fn file_name(&self, cu_offset: u32, fileno: i32) -> Option<&str> {
        let fileoff = self.file_off(cu_offset, fileno)?;
        cstr(self.bytes(&self.filetab), fileoff as usize)
    }

    fn file_off(&self, cu_offset: u32, fileno: i32) -> Option<u32> {
        let idx = cu_offset.checked_add(u32::try_from(fileno).ok()?)? as usize;
        let off = self
            .bytes(&self.cutab)
            .get(idx.checked_mul(4)?..)
            .and_then(le_u32)?;
        (off != u32::MAX).then_some(off)
    }

    /// File and line of the instruction at `pc` (runtime/symtab.go
    /// `funcline1`). This is the innermost position: for an instruction of
    /// an inlined body it is the inlined function's line, as `go tool
    /// objdump` prints; the enclosing calls come from [`Pclntab::inline_stack`].
    pub fn line_for_pc(&self, pc: u64) -> Option<(&str, u32)> {
        let raw = self.raw(self.func_index_for_pc(pc)?)?;
        self.line_in(&raw, pc)
    }

    fn line_in(&self, raw: &RawFunc, pc: u64) -> Option<(&str, u32)> {
        let fileno = self.table(raw.pcfile, raw.entry)?.lookup(pc)?;
        let line = self.table(raw.pcln, raw.entry)?.lookup(pc)?;
        let file = self.file_name(raw.cu_offset, fileno)?;
        Some((file, u32::try_from(line).ok()?))
    }

    /// The line table of a function: consecutive ranges with their file and line.
    pub fn line_table(&self, f: &Func) -> Vec<LineEntry<'_>> {
        let raw = f.raw;
        let (Some(files), Some(lines)) = (
            self.table(raw.pcfile, raw.entry),
            self.table(raw.pcln, raw.entry),
        ) else {
            return Vec::new();
        };
        let mut out: Vec<LineEntry<'_>> = Vec::new();
        for (start, end, fileno, line) in zip_tables(files, lines) {
            let (Some(file), Ok(line)) =
                (self.file_name(raw.cu_offset, fileno), u32::try_from(line))
            else {
                continue;
            };
            match out.last_mut() {
                Some(last) if last.pc.end == start && last.line == line && last.file == file => {
                    last.pc.end = end;
                }
                _ => out.push(LineEntry {
                    pc: start..end,
                    file,
                    line,
                }),
            }
        }
        out
    }

    /// Bytes the frame has grown at `pc` (pcsp table; 0 at entry, where only
    /// the return address is on the stack). On amd64 the CFA is
    /// `SP + delta + 8` (runtime/traceback.go `unwinder.resolveInternal`:
    /// `frame.fp = frame.sp + uintptr(funcspdelta(f, frame.pc))` then `+= PtrSize`).
    pub fn sp_delta(&self, f: &Func, pc: u64) -> Option<i32> {
        self.table(f.raw.pcsp, f.entry)?.lookup(pc)
    }

    /// Value of PCDATA table `table` ([`PCDATA_UNSAFE_POINT`], ...) at `pc`
    /// (runtime/symtab.go `pcdatavalue`).
    pub fn pcdata(&self, f: &Func, table: u32, pc: u64) -> Option<i32> {
        self.pcdata_raw(&f.raw, table, pc)
    }

    fn pcdata_raw(&self, raw: &RawFunc, table: u32, pc: u64) -> Option<i32> {
        if table >= raw.npcdata {
            return None;
        }
        // pcdata offsets follow the fixed _func fields (runtime/symtab.go `pcdatastart`).
        let off = raw.off + FUNC_SIZE + 4 * table as usize;
        let start = self.image.u32_at(off)?;
        self.table(start, raw.entry)?.lookup(pc)
    }

    /// Address of FUNCDATA `i` of a function, relative to `moduledata.gofunc`
    /// (runtime/symtab.go `funcdata`). `None` when absent.
    pub fn funcdata(&self, f: &Func, i: u8) -> Option<u64> {
        self.funcdata_raw(&f.raw, i)
    }

    fn funcdata_raw(&self, raw: &RawFunc, i: u8) -> Option<u64> {
        if i >= raw.nfuncdata {
            return None;
        }
        let off = raw.off + FUNC_SIZE + 4 * raw.npcdata as usize + 4 * usize::from(i);
        let rel = self.image.u32_at(off)?;
        if rel == u32::MAX {
            return None;
        }
        self.moduledata()?.gofunc.checked_add(u64::from(rel))
    }

    /// The calls inlined at `pc`, innermost first: walks the inline tree
    /// (FUNCDATA_InlTree) following PCDATA_InlTreeIndex at each call's
    /// `parentPc` (runtime/symtabinl.go `inlineUnwinder`). Empty when `pc`
    /// is not in inlined code.
    pub fn inline_stack(&self, pc: u64) -> Vec<InlinedCall> {
        let Some(raw) = self.func_index_for_pc(pc).and_then(|i| self.raw(i)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let Some(mut idx) = self.pcdata_raw(&raw, PCDATA_INL_TREE_INDEX, pc) else {
            return out;
        };
        if idx < 0 {
            return out;
        }
        let Some(tree) = self.funcdata_raw(&raw, FUNCDATA_INL_TREE) else {
            return out;
        };
        while idx >= 0 && out.len() < MAX_INLINE_DEPTH {
            let Some(entry) = tree
                .checked_add(idx as u64 * INLINED_CALL_SIZE)
                .and_then(|a| self.image.read_static(a, INLINED_CALL_SIZE as usize))
            else {
                break;
            };
            let field = |o: usize| entry.get(o..).and_then(le_u32);
            let (Some(func_id), Some(name_off), Some(parent), Some(start_line)) =
                (entry.first().copied(), field(4), field(8), field(12))
            else {
                break;
            };
            let parent_pc = raw.entry.wrapping_add_signed(i64::from(parent as i32));
            let call = self.line_in(&raw, parent_pc);
            out.push(InlinedCall {
                func_name: Arc::from(self.name_at(name_off).unwrap_or("?")),
                func_id,
                start_line: start_line as i32,
                parent_pc,
                call_file: call.map(|(f, _)| Arc::from(f)),
                call_line: call.map_or(0, |(_, l)| l),
            });
            idx = match self.pcdata_raw(&raw, PCDATA_INL_TREE_INDEX, parent_pc) {
                Some(i) => i,
                None => break,
            };
        }
        out
    }

    /// The source-level frames at `pc`, innermost first: each inlined call,
    /// then the physical function. Empty when `pc` is in no function.
    pub fn logical_frames(&self, pc: u64) -> Vec<LogicalFrame> {
        let Some(f) = self.func_for_pc(pc) else {
            return Vec::new();
        };
        let (mut file, mut line) = match self.line_for_pc(pc) {
            Some((f, l)) => (Some(Arc::from(f)), l),
            None => (None, 0),
        };
        let mut out = Vec::new();
        for call in self.inline_stack(pc) {
            out.push(LogicalFrame {
                func_name: call.func_name,
                file,
                line,
                inlined: true,
            });
            file = call.call_file;
            line = call.call_line;
        }
        out.push(LogicalFrame {
            func_name: f.name,
            file,
            line,
            inlined: false,
        });
        out
    }

    /// A breakpoint address past the prologue of `f` for binaries without
    /// DWARF. Heuristic: Go's amd64 prologue is the stack-growth check
    /// (`CMPQ SP, 16(R14); JBE morestack`), then `PUSHQ BP; MOVQ SP, BP;
    /// SUBQ $frame, SP` (cmd/internal/obj/x86/obj6.go `preprocess`), during
    /// which the pcsp value grows step by step. The hint is the start of the
    /// first pcsp range after the growth stops, i.e. the first instruction
    /// with the full frame. Frameless functions (pcsp always 0) get `entry`.
    pub fn skip_prologue_hint(&self, f: &Func) -> u64 {
        let Some(table) = self.table(f.raw.pcsp, f.entry) else {
            return f.entry;
        };
        // (peak value, start of its range)
        let mut peak: Option<(i32, u64)> = None;
        for (start, _end, val) in table {
            if start >= f.end {
                break;
            }
            match peak {
                None if val > 0 => peak = Some((val, start)),
                None => {}
                Some((p, _)) if val > p => peak = Some((val, start)),
                Some((_, s)) => return s,
            }
        }
        peak.map_or(f.entry, |(_, s)| s)
    }

    // ---- files and lines ----

    /// All source file paths in the table.
    pub fn files(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.nfiles);
        for s in self.bytes(&self.filetab).split(|&b| b == 0) {
            if let Ok(s) = std::str::from_utf8(s) {
                if !s.is_empty() {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Filetab entries (offset, path) matching `file`: the exact path if it
    /// exists, else every path ending in `/file`.
    fn match_files(&self, file: &str) -> Vec<(u32, &str)> {
        let tab = self.bytes(&self.filetab);
        let mut exact = Vec::new();
        let mut suffix = Vec::new();
        let mut off = 0usize;
        for s in tab.split(|&b| b == 0) {
            let this = off;
            off += s.len() + 1;
            let Ok(s) = std::str::from_utf8(s) else {
                continue;
            };
            if s.is_empty() {
                continue;
            }
            if s == file {
                exact.push((this as u32, s));
            } else if s.len() > file.len()
                && s.ends_with(file)
                && s.as_bytes().get(s.len() - file.len() - 1) == Some(&b'/')
            {
                suffix.push((this as u32, s));
            }
        }
        if exact.is_empty() {
            suffix
        } else {
            exact
        }
    }

    /// Full paths matching a user-written file name (exact path or path suffix).
    pub fn resolve_file(&self, file: &str) -> Vec<&str> {
        self.match_files(file).into_iter().map(|(_, s)| s).collect()
    }

    fn cus(&self) -> &[(u32, Vec<u32>)] {
        self.cus.get_or_init(|| {
            let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
            for i in 0..self.nfunc {
                if let Some(r) = self.raw(i) {
                    map.entry(r.cu_offset).or_default().push(i as u32);
                }
            }
            let mut v: Vec<_> = map.into_iter().collect();
            v.sort_unstable_by_key(|(c, _)| *c);
            v
        })
    }

    /// Starts of the runs of each line of the file at filetab offset `fileoff`,
    /// over all functions of the compilation units referencing it.
    fn lines_of_file(&self, fileoff: u32) -> Arc<Vec<(u32, u64)>> {
        if let Ok(cache) = self.file_lines.lock() {
            if let Some(v) = cache.get(&fileoff) {
                return Arc::clone(v);
            }
        }
        let cus = self.cus();
        let cutab_len = (self.cutab.len() / 4) as u32;
        let cutab = self.bytes(&self.cutab);
        // The files of CU k are cutab[cu_k .. cu_{k+1}] (cmd/link/internal/ld/pcln.go
        // `generateFilenameTabs` writes each CU's file list contiguously).
        let candidates: Vec<(i32, &[u32])> = cus
            .iter()
            .enumerate()
            .filter_map(|(k, (cu, funcs))| {
                // Functions without a compilation unit have cuOffset ^0
                // (cmd/link/internal/ld/pcln.go `writeFuncs`, `cuIdx := ^uint32(0)`): clamp.
                let end = cus
                    .get(k + 1)
                    .map_or(cutab_len, |(next, _)| *next)
                    .min(cutab_len);
                let fileno = (*cu..end)
                    .position(|j| cutab.get(j as usize * 4..).and_then(le_u32) == Some(fileoff))?;
                Some((fileno as i32, funcs.as_slice()))
            })
            .collect();
        tracing::debug!(
            cus = candidates.len(),
            funcs = candidates.iter().map(|(_, f)| f.len()).sum::<usize>(),
            "scanning line tables"
        );
        let mut rows: Vec<(u32, u64)> = candidates
            .par_iter()
            .flat_map_iter(|(fileno, funcs)| {
                funcs
                    .iter()
                    .flat_map(move |&i| self.line_starts(i as usize, *fileno))
            })
            .collect();
        rows.sort_unstable();
        rows.dedup();
        let rows = Arc::new(rows);
        if let Ok(mut cache) = self.file_lines.lock() {
            cache.insert(fileoff, Arc::clone(&rows));
        }
        rows
    }

    /// (line, pc) at each pc of function `i` where file `fileno` and a line
    /// begin, coming from a different position.
    fn line_starts(&self, i: usize, fileno: i32) -> Vec<(u32, u64)> {
        let Some(raw) = self.raw(i) else {
            return Vec::new();
        };
        let (Some(files), Some(lines)) = (
            self.table(raw.pcfile, raw.entry),
            self.table(raw.pcln, raw.entry),
        ) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut prev: Option<(i32, i32, u64)> = None;
        for (start, end, f, l) in zip_tables(files, lines) {
            if start >= raw.end {
                break;
            }
            let continues = prev.is_some_and(|(pf, pl, pend)| pf == f && pl == l && pend == start);
            if f == fileno && !continues {
                if let Ok(l) = u32::try_from(l) {
                    out.push((l, start));
                }
            }
            prev = Some((f, l, end));
        }
        out
    }

    /// Addresses where code for `file:line` begins, across all functions
    /// (including copies inlined elsewhere), sorted. `file` is a full path
    /// or a path suffix that must identify a single file; an ambiguous or
    /// unknown file gives no pcs. A line split into several runs (e.g. a
    /// `for` statement's condition and increment) yields the start of each
    /// run; a function's `func` line also covers the stack-growth epilogue.
    /// Results are cached per file.
    pub fn pcs_for_line(&self, file: &str, line: u32) -> Vec<u64> {
        let files = self.match_files(file);
        let [(fileoff, _)] = files.as_slice() else {
            return Vec::new();
        };
        let rows = self.lines_of_file(*fileoff);
        let lo = rows.partition_point(|&(l, _)| l < line);
        let mut pcs: Vec<u64> = rows
            .get(lo..)
            .unwrap_or(&[])
            .iter()
            .take_while(|&&(l, _)| l == line)
            .map(|&(_, pc)| pc)
            .collect();
        pcs.sort_unstable();
        pcs
    }

    // ---- moduledata ----

    /// `runtime.firstmoduledata`, found (also in stripped binaries) by
    /// scanning `.noptrdata` for a record whose first fields point at this
    /// pclntab (cmd/link/internal/ld/symtab.go writes
    /// `pcHeader` then the `funcnametab` slice first).
    pub fn moduledata(&self) -> Option<ModuleData> {
        let md = (*self.moduledata.get_or_init(|| self.find_moduledata()))?;
        Some(md.biased(self.image.bias()))
    }

    /// `runtime.firstmoduledata` at link addresses.
    pub(crate) fn moduledata_link(&self) -> Option<ModuleData> {
        *self.moduledata.get_or_init(|| self.find_moduledata())
    }

    fn find_moduledata(&self) -> Option<ModuleData> {
        let funcnametab_addr = self.addr + (self.funcnametab.start - self.header_off) as u64;
        let found = self.md_hints.scan.iter().find_map(|r| {
            let len = usize::try_from(r.end.checked_sub(r.start)?).ok()?;
            let data = self.image.read_link(r.start, len)?;
            (0..data.len().saturating_sub(16)).step_by(8).find_map(|o| {
                let w = data.get(o..o + 16)?;
                (le_u64(w) == Some(self.addr)
                    && w.get(8..).and_then(le_u64) == Some(funcnametab_addr))
                .then_some(r.start + o as u64)
            })
        })?;
        self.decode_moduledata(found)
    }

    fn decode_moduledata(&self, addr: u64) -> Option<ModuleData> {
        // Word indexes in runtime.moduledata (runtime/symtab.go): Go 1.22-1.26
        // have `types, etypes, rodata, gofunc` at 37..=40; Go 1.27 inserted
        // `typedesclen` after `types` and `itaboffset, itabsize` after `etypes`.
        const OLD: [usize; 4] = [37, 38, 39, 40];
        const NEW: [usize; 4] = [37, 39, 42, 43];
        let words = self.image.read_link(addr, 45 * 8)?;
        let w = |i: usize| words.get(i * 8..).and_then(le_u64);
        let layout = match self.md_hints.go_minor {
            Some(m) if m >= 27 => NEW,
            Some(_) => OLD,
            // Unknown version: the layout whose `rodata` is the .rodata section.
            None => match self.md_hints.rodata {
                Some(r) if w(NEW[2]) == Some(r) => NEW,
                _ => OLD,
            },
        };
        Some(ModuleData {
            addr,
            text: w(22)?,
            etext: w(23)?,
            noptrdata: w(24)?,
            enoptrdata: w(25)?,
            data: w(26)?,
            edata: w(27)?,
            bss: w(28)?,
            ebss: w(29)?,
            noptrbss: w(30)?,
            enoptrbss: w(31)?,
            end: w(34)?,
            types: w(layout[0])?,
            etypes: w(layout[1])?,
            rodata: w(layout[2])?,
            gofunc: w(layout[3])?,
        })
    }
}

/// The NUL-terminated string at `off` in `tab`.
fn cstr(tab: &[u8], off: usize) -> Option<&str> {
    let s = tab.get(off..)?;
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    std::str::from_utf8(s.get(..end)?).ok()
}

/// Whether a function name matches a user pattern (see [`Pclntab::find_funcs`]).
fn name_matches(name: &str, pattern: &str) -> bool {
    let suffix_at_boundary = |name: &str| {
        name == pattern
            || (name.len() > pattern.len()
                && name.ends_with(pattern)
                && matches!(
                    name.as_bytes().get(name.len() - pattern.len() - 1),
                    Some(b'.' | b'/')
                ))
    };
    if suffix_at_boundary(name) {
        return true;
    }
    let simplified = simplify_name(name);
    simplified != name && suffix_at_boundary(&simplified)
}

/// Drops generic type arguments (`[...]`, `[go.shape.int]`) and turns
/// `(*T)` into `T`.
fn simplify_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    while let Some(start) = out.find("(*") {
        let Some(len) = out.get(start..).and_then(|s| s.find(')')) else {
            break;
        };
        let inner = out.get(start + 2..start + len).unwrap_or("").to_string();
        out.replace_range(start..start + len + 1, &inner);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages() {
        assert_eq!(package_of("main.main"), "main");
        assert_eq!(
            package_of("example.com/prog/shapes.(*Rect).Scale"),
            "example.com/prog/shapes"
        );
        assert_eq!(
            package_of("internal/runtime/atomic.Load"),
            "internal/runtime/atomic"
        );
        assert_eq!(package_of("example.com/p.Sum[...]"), "example.com/p");
    }

    #[test]
    fn matching() {
        assert!(name_matches("main.foo", "foo"));
        assert!(name_matches("main.foo", "main.foo"));
        assert!(!name_matches("main.xfoo", "foo"));
        assert!(name_matches("example.com/p.(*T).M", "T.M"));
        assert!(name_matches("example.com/p.(*T).M", "(*T).M"));
        assert!(name_matches("example.com/p.(*T).M", "p.T.M"));
        assert!(name_matches("example.com/p.Sum[...]", "Sum"));
        assert!(name_matches("example.com/p.Sum[...]", "p.Sum"));
        assert!(name_matches("example.com/p.Sum[go.shape.int]", "Sum"));
        assert!(name_matches(
            "example.com/p.(*List[go.shape.int]).Push",
            "List.Push"
        ));
        assert!(!name_matches("example.com/p.Summary", "Sum"));
    }
}
