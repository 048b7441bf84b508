//! Native (non-Go) code of one ELF file: its function symbols, to name C
//! frames, and its call-frame information (`.eh_frame`, `.debug_frame`), to
//! unwind them. Go frames never need this (they unwind from the pclntab);
//! C frames have no pclntab entry and, compiled with `-O2`, no frame
//! pointer, so CFI is the only reliable way through them (System V x86-64
//! psABI §3.7, DWARF 5 §6.4).
//!
//! One [`NativeCode`] is one mapped file: the Go executable itself (its cgo
//! code, the external linker's start-up code) or a shared library (libc, the
//! dynamic loader, libsqlite3). Addresses in and out are the process's:
//! `bias` is added to the file's link addresses.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use gimli::{BaseAddresses, CfaRule, DebugFrame, EhFrame, EndianSlice, LittleEndian, RegisterRule, UnwindContext, UnwindSection, UnwindTableRow};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

/// DWARF register numbers of x86-64 (psABI figure 3.36): the 16 general
/// registers and the return-address column.
pub const DWARF_REGS: usize = 17;
pub const DWARF_RBP: usize = 6;
pub const DWARF_RSP: usize = 7;
pub const DWARF_RA: usize = 16;

/// Loadable segments are mapped by page (4 KiB on x86-64).
const PAGE_MASK: u64 = 0xfff;

/// Registers of one native frame by DWARF number; `None` where the frame
/// does not know the value (a caller-saved register, or an unsupported
/// rule). The return-address column holds the frame's pc.
pub type NativeRegs = [Option<u64>; DWARF_REGS];

/// A function symbol of a native file.
#[derive(Debug, Clone)]
pub struct NativeSymbol {
    pub name: Arc<str>,
    /// Process address of the first instruction.
    pub addr: u64,
    pub size: u64,
}

/// Which CFI section an FDE lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    EhFrame,
    DebugFrame,
}

/// One FDE: the code it covers (link addresses) and where to parse it.
#[derive(Debug, Clone, Copy)]
struct FdeRef {
    start: u64,
    end: u64,
    section: Section,
    offset: usize,
}

/// Symbols and CFI of one ELF file mapped into the process.
pub struct NativeCode {
    path: PathBuf,
    bias: u64,
    /// Function symbols sorted by address (`.symtab`, else `.dynsym`).
    symbols: Vec<NativeSymbol>,
    eh_frame: Vec<u8>,
    eh_frame_addr: u64,
    debug_frame: Vec<u8>,
    text_addr: u64,
    /// FDEs of both sections sorted by start, built on the first unwind.
    fdes: OnceLock<Vec<FdeRef>>,
}

impl std::fmt::Debug for NativeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeCode").field("path", &self.path).field("bias", &self.bias).finish_non_exhaustive()
    }
}

impl NativeCode {
    /// Reads the symbols and CFI of `path`, loaded `bias` bytes away from its
    /// link addresses.
    pub fn open(path: &Path, bias: u64) -> std::io::Result<NativeCode> {
        let file = File::open(path)?;
        // SAFETY: the mapping is read-only and private; a file truncated
        // under us could fault, as with any mmap reader (the same risk
        // `Binary::open` takes).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let obj = object::File::parse(&*map).map_err(std::io::Error::other)?;
        let section = |name: &str| -> (Vec<u8>, u64) {
            obj.section_by_name(name)
                .and_then(|s| Some((s.uncompressed_data().ok()?.into_owned(), s.address())))
                .unwrap_or_default()
        };
        let (eh_frame, eh_frame_addr) = section(".eh_frame");
        let (debug_frame, _) = section(".debug_frame");
        let text_addr = obj.section_by_name(".text").map(|s| s.address()).unwrap_or(0);
        let mut symbols = function_symbols(obj.symbols(), bias);
        if symbols.is_empty() {
            symbols = function_symbols(obj.dynamic_symbols(), bias);
        }
        symbols.sort_by_key(|s| (s.addr, std::cmp::Reverse(s.size)));
        symbols.dedup_by_key(|s| s.addr);
        Ok(NativeCode { path: path.to_path_buf(), bias, symbols, eh_frame, eh_frame_addr, debug_frame, text_addr, fdes: OnceLock::new() })
    }

    /// [`NativeCode::open`] for a file the process maps at `start` from file
    /// offset `offset` (a line of `/proc/PID/maps`): the bias is where that
    /// mapping is against the load segment that holds the offset.
    pub fn open_mapped(path: &Path, start: u64, offset: u64) -> std::io::Result<NativeCode> {
        let file = File::open(path)?;
        // SAFETY: as in `open`.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let obj = object::File::parse(&*map).map_err(std::io::Error::other)?;
        // A segment's mapping starts at the page holding its first byte, so
        // two segments can share the mapping's first page: the mapping is
        // executable (only code is looked up here), so is its segment.
        let holds = |s: &object::Segment<'_, '_>| {
            let (off, size) = s.file_range();
            off & !PAGE_MASK <= offset && offset < off + size.max(1)
        };
        let executable = |s: &object::Segment<'_, '_>| matches!(s.flags(), object::SegmentFlags::Elf { p_flags, .. } if p_flags & object::elf::PF_X != object::elf::ProgramFlags(0));
        let seg = obj
            .segments()
            .filter(holds)
            .max_by_key(|s| executable(s))
            .ok_or_else(|| std::io::Error::other(format!("no load segment holds file offset {offset:#x}")))?;
        // The link address of the mapping's first byte (offset and address
        // are congruent modulo the page size in a loadable segment).
        let link = seg.address().wrapping_add(offset).wrapping_sub(seg.file_range().0);
        drop(obj);
        NativeCode::open(path, start.wrapping_sub(link))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bias(&self) -> u64 {
        self.bias
    }

    /// The function symbol whose extent holds `pc`. A pc past the end of
    /// the nearest symbol gets none: a wrong name is worse than none.
    pub fn symbol(&self, pc: u64) -> Option<&NativeSymbol> {
        let i = self.symbols.partition_point(|s| s.addr <= pc).checked_sub(1)?;
        let s = &self.symbols[i];
        (pc < s.addr + s.size.max(1)).then_some(s)
    }

    fn bases(&self) -> BaseAddresses {
        BaseAddresses::default().set_eh_frame(self.eh_frame_addr).set_text(self.text_addr)
    }

    fn fdes(&self) -> &[FdeRef] {
        self.fdes.get_or_init(|| {
            let bases = self.bases();
            let mut out = Vec::new();
            collect_fdes(&EhFrame::new(&self.eh_frame, LittleEndian), &bases, Section::EhFrame, &mut out);
            collect_fdes(&DebugFrame::new(&self.debug_frame, LittleEndian), &bases, Section::DebugFrame, &mut out);
            // .eh_frame first at equal starts: it is what the C runtime's own
            // unwinder trusts.
            out.sort_by_key(|f| (f.start, f.section == Section::DebugFrame));
            out
        })
    }

    /// Whether the file has CFI for `pc`.
    pub fn has_cfi(&self, pc: u64) -> bool {
        self.fde_for(pc.wrapping_sub(self.bias)).is_some()
    }

    fn fde_for(&self, addr: u64) -> Option<FdeRef> {
        let fdes = self.fdes();
        let i = fdes.partition_point(|f| f.start <= addr).checked_sub(1)?;
        // Overlapping FDEs are rare (a debug_frame copy of an eh_frame
        // entry); look back over those that start at the same place.
        fdes[..=i].iter().rev().take_while(|f| f.start == fdes[i].start || f.end > addr).find(|f| f.start <= addr && addr < f.end).copied()
    }

    /// The registers of the caller of a frame: `regs` are the frame's, `pc`
    /// the address to look the frame's CFI up at (a caller's return address
    /// minus one, so a call at the very end of a function is found in it).
    /// `read` reads a word of the process's memory. `None` when there is no
    /// CFI for `pc`, a rule cannot be evaluated, or the caller has no return
    /// address (the outermost frame: `_start`, `clone3`).
    pub fn caller(&self, regs: &NativeRegs, pc: u64, read: &dyn Fn(u64) -> Option<u64>) -> Option<NativeRegs> {
        let fde = self.fde_for(pc.wrapping_sub(self.bias))?;
        let bases = self.bases();
        let mut ctx = UnwindContext::new();
        let link_pc = pc.wrapping_sub(self.bias);
        match fde.section {
            Section::EhFrame => {
                let eh = EhFrame::new(&self.eh_frame, LittleEndian);
                let f = eh.fde_from_offset(&bases, gimli::EhFrameOffset(fde.offset), EhFrame::cie_from_offset).ok()?;
                apply_row(f.unwind_info_for_address(&eh, &bases, &mut ctx, link_pc).ok()?, regs, read)
            }
            Section::DebugFrame => {
                let df = DebugFrame::new(&self.debug_frame, LittleEndian);
                let f = df.fde_from_offset(&bases, gimli::DebugFrameOffset(fde.offset), DebugFrame::cie_from_offset).ok()?;
                apply_row(f.unwind_info_for_address(&df, &bases, &mut ctx, link_pc).ok()?, regs, read)
            }
        }
    }
}

/// The FDEs of one CFI section.
fn collect_fdes<'d, S: UnwindSection<EndianSlice<'d, LittleEndian>>>(section: &S, bases: &BaseAddresses, kind: Section, out: &mut Vec<FdeRef>) {
    let mut entries = section.entries(bases);
    while let Ok(Some(entry)) = entries.next() {
        if let gimli::CieOrFde::Fde(partial) = entry {
            if let Ok(fde) = partial.parse(S::cie_from_offset) {
                out.push(FdeRef { start: fde.initial_address(), end: fde.end_address(), section: kind, offset: fde.offset() });
            }
        }
    }
}

/// The function symbols of one symbol table, at process addresses.
fn function_symbols<'d: 'f, 'f>(syms: impl Iterator<Item = object::Symbol<'d, 'f>>, bias: u64) -> Vec<NativeSymbol> {
    syms.filter(|s| s.kind() == SymbolKind::Text && s.address() != 0 && !s.is_undefined())
        .filter_map(|s| {
            let name = s.name().ok().filter(|n| !n.is_empty())?;
            Some(NativeSymbol { name: Arc::from(name), addr: s.address().wrapping_add(bias), size: s.size() })
        })
        .collect()
}

/// The caller's registers by one row of the unwind table (DWARF 5 §6.4.1).
fn apply_row(row: &UnwindTableRow<usize>, regs: &NativeRegs, read: &dyn Fn(u64) -> Option<u64>) -> Option<NativeRegs> {
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => {
            let base = (*regs.get(register.0 as usize)?)?;
            base.checked_add_signed(*offset)?
        }
        // DWARF expressions for the CFA appear in hand-written assembly
        // (the PLT); not evaluated.
        CfaRule::Expression(_) => return None,
    };
    let mut caller: NativeRegs = [None; DWARF_REGS];
    for (n, slot) in caller.iter_mut().enumerate() {
        let rule = row.register(gimli::Register(n as u16));
        *slot = match rule {
            // Unmentioned callee-saved registers keep their value
            // (psABI: rbx, rbp, r12-r15); the others are unknown.
            None => matches!(n, 3 | 6 | 12..=15).then(|| regs[n]).flatten(),
            Some(RegisterRule::SameValue) => regs[n],
            Some(RegisterRule::Offset(off)) => read(cfa.checked_add_signed(off)?),
            Some(RegisterRule::ValOffset(off)) => cfa.checked_add_signed(off),
            Some(RegisterRule::Register(r)) => *regs.get(r.0 as usize)?,
            Some(RegisterRule::Constant(v)) => Some(v),
            Some(_) => None,
        };
    }
    // The caller's stack pointer is the CFA by definition.
    caller[DWARF_RSP] = Some(cfa);
    let ret = caller[DWARF_RA].filter(|&ra| ra != 0)?;
    // A stack grows down: a caller below its callee is garbage.
    if cfa <= regs[DWARF_RSP]? {
        return None;
    }
    caller[DWARF_RA] = Some(ret);
    Some(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn marker_function(x: u64) -> u64 {
        std::hint::black_box(x) * 3
    }

    /// This test executable, as the process maps it: its own functions
    /// are named and have CFI at their process addresses.
    #[test]
    fn names_and_cfi_of_this_executable() {
        let me = std::fs::read_link("/proc/self/exe").unwrap();
        let pc = marker_function as *const () as usize as u64;
        assert_eq!(marker_function(2), 6);
        let maps = stillgo_proc::maps::maps(std::process::id() as i32).unwrap();
        let m = maps
            .iter()
            .find(|m| (m.start..m.end).contains(&pc) && m.path.as_deref() == Some(me.as_path()))
            .expect("the mapping of this function");
        let (start, offset) = (m.start, m.offset);
        let code = NativeCode::open_mapped(&me, start, offset).unwrap();
        let sym = code.symbol(pc).expect("a symbol");
        assert_eq!(sym.addr, pc, "{} at {:#x}, bias {:#x}, start {start:#x} offset {offset:#x}", sym.name, sym.addr, code.bias());
        assert!(sym.name.contains("marker_function"), "{}", sym.name);
        assert!(code.has_cfi(pc + 1));
        // Past every symbol: no name rather than a wrong one.
        assert!(code.symbol(u64::MAX - 1).is_none());
    }
}
