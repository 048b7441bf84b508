//! `stillgo-binary`: reading Go executables (linux/amd64 ELF).
//!
//! Opening a binary maps the file and reads only headers: the ELF section
//! and program headers, the Go build info and the pclntab header. Function
//! tables are decoded on demand and indexes (ELF symbols by name, pclntab
//! functions by name, per-file line starts) are built on first use.
//!
//! The Go symbol table (`.gopclntab`) answers code-location questions even
//! for stripped binaries (`-ldflags='-s -w'`); DWARF is left to
//! `stillgo-dwarf`, which gets the raw section bytes from [`Binary::section`].

mod buildinfo;
mod error;
mod image;
pub mod native;
mod pclntab;
mod pcvalue;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol};

pub use buildinfo::{BuildInfo, GoRange, GoVersion, SUPPORTED_GO};
pub use error::BinaryError;
pub use pclntab::{
    package_of, Func, InlinedCall, LineEntry, LogicalFrame, ModuleData, Pclntab, FUNCDATA_INL_TREE,
    FUNCFLAG_ASM, FUNCFLAG_SPWRITE, FUNCFLAG_TOPFRAME, PCDATA_ARG_LIVE_INDEX,
    PCDATA_INL_TREE_INDEX, PCDATA_STACK_MAP_INDEX, PCDATA_UNSAFE_POINT,
};

use image::{Image, Segment};
use pclntab::{ModuleDataHints, PclntabError};


/// `e_ident[EI_CLASS]` values (ELF gABI).
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;

/// An ELF symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Symbol name as in `.symtab` (assembly functions carry an `.abi0` suffix).
    pub name: String,
    /// Value (address).
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// What we keep of an ELF section header.
#[derive(Debug, Clone)]
struct SectionInfo {
    name: String,
    addr: u64,
    size: u64,
    /// File range, `None` for `SHT_NOBITS`.
    file: Option<Range<usize>>,
}

/// An opened Go executable. Cheap to share across threads (`Send + Sync`).
pub struct Binary {
    path: PathBuf,
    image: Arc<Image>,
    sections: Vec<SectionInfo>,
    entry: u64,
    text: Range<u64>,
    build_info: Option<BuildInfo>,
    go_version: Option<GoVersion>,
    pclntab: Pclntab,
    symbols: OnceLock<HashMap<Box<str>, (u64, u64)>>,
}

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary")
            .field("path", &self.path)
            .field("go_version", &self.go_version)
            .field("pclntab", &self.pclntab)
            .finish_non_exhaustive()
    }
}

/// Opens a Go executable. See [`Binary::open`].
pub fn open(path: &Path) -> Result<Binary, BinaryError> {
    Binary::open(path)
}

impl Binary {
    /// Maps `path` and reads its headers.
    ///
    /// Errors: [`BinaryError::NotFound`], [`BinaryError::NotReadable`],
    /// [`BinaryError::NotElf`], [`BinaryError::NotAmd64`],
    /// [`BinaryError::NotGo`], [`BinaryError::UnsupportedGoVersion`],
    /// [`BinaryError::Corrupt`].
    pub fn open(path: &Path) -> Result<Binary, BinaryError> {
        Binary::open_loaded(path, 0)
    }

    /// [`Binary::open`] for a process that runs the file `bias` bytes away
    /// from its link addresses (a position-independent executable: process
    /// address = link address + bias). Every address in or out of the
    /// binary's API is then the process's.
    pub fn open_loaded(path: &Path, bias: u64) -> Result<Binary, BinaryError> {
        let path = path.to_path_buf();
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BinaryError::NotFound(path.clone()),
            _ => BinaryError::NotReadable {
                path: path.clone(),
                source: e,
            },
        })?;
        let meta = file.metadata().map_err(|e| BinaryError::NotReadable {
            path: path.clone(),
            source: e,
        })?;
        if meta.is_dir() {
            return Err(BinaryError::NotReadable {
                path: path.clone(),
                source: std::io::Error::other("is a directory"),
            });
        }
        if meta.len() < 4 {
            return Err(BinaryError::NotElf(path));
        }
        // SAFETY: the mapping is private and read-only. The debugger does not
        // write the executable; if another process truncates it while mapped,
        // reads could fault, which is the accepted cost of not copying
        // 100 MB binaries into memory.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| BinaryError::NotReadable {
            path: path.clone(),
            source: e,
        })?;
        let mut image = Image::new(map);

        let corrupt = |detail: String| BinaryError::Corrupt {
            path: path.clone(),
            detail,
        };
        let (sections, segments, entry, text, build_info, gopclntab) = {
            let data = image.bytes();
            if data.get(..4) != Some(&elf::ELFMAG[..]) {
                return Err(BinaryError::NotElf(path));
            }
            // e_ident[EI_CLASS] is byte 4 of the ELF identification.
            let ident_class = data.get(4).copied();
            let ehdr = ElfFile64::<Endianness>::parse(data);
            let elf_file = match (ident_class, ehdr) {
                (Some(ELFCLASS64), Ok(f)) => f,
                (Some(ELFCLASS32), _) => return Err(BinaryError::NotAmd64(path)),
                (_, Err(e)) => return Err(corrupt(format!("bad ELF headers: {e}"))),
                (_, Ok(_)) => return Err(BinaryError::NotAmd64(path)),
            };
            let endian = elf_file.endian();
            let header = elf_file.elf_header();
            if header.e_machine(endian) != elf::EM_X86_64 || !elf_file.is_little_endian() {
                return Err(BinaryError::NotAmd64(path));
            }
            let entry = header.e_entry(endian);
            let mut segments = Vec::new();
            for ph in elf_file.elf_program_headers() {
                if ph.p_type(endian) == elf::PT_LOAD {
                    segments.push(Segment {
                        vaddr: ph.p_vaddr(endian),
                        filesz: ph.p_filesz(endian),
                        offset: ph.p_offset(endian),
                    });
                }
            }
            let sections: Vec<SectionInfo> = elf_file
                .sections()
                .map(|s| SectionInfo {
                    name: s.name().unwrap_or("").to_string(),
                    addr: s.address(),
                    size: s.size(),
                    file: s.file_range().and_then(|(o, n)| {
                        let o = usize::try_from(o).ok()?;
                        Some(o..o.checked_add(usize::try_from(n).ok()?)?)
                    }),
                })
                .collect();
            let find = |n: &str| sections.iter().find(|s| s.name == n);
            let text = find(".text").map_or(0..0, |s| s.addr..s.addr.saturating_add(s.size));
            let build_info = find(".go.buildinfo")
                .and_then(|s| data.get(s.file.clone()?))
                .and_then(|d| buildinfo::parse_buildinfo(d).ok());
            let gopclntab = find(".gopclntab").cloned();
            (sections, segments, entry, text, build_info, gopclntab)
        };
        image.set_segments(segments);
        image.set_bias(bias);
        let image = Arc::new(image);

        let go_version = build_info
            .as_ref()
            .and_then(|b| GoVersion::parse(&b.version));
        let Some(gopclntab) = gopclntab else {
            return Err(if build_info.is_some() {
                corrupt("Go build info present but no .gopclntab section".into())
            } else {
                BinaryError::NotGo(path)
            });
        };
        // Which Go versions to accept is the runtime model's decision
        // (stillgo_runtime::versions::check_supported): this layer reads
        // what it can.
        let find = |n: &str| sections.iter().find(|s| s.name == n);
        let hints = ModuleDataHints {
            // Go 1.27 gives the moduledata its own `.go.module` section
            // (cmd/link/internal/ld/data.go); before, it is in `.noptrdata`.
            scan: [".go.module", ".noptrdata", ".data"]
                .iter()
                .filter_map(|n| find(n))
                .map(|s| s.addr..s.addr.saturating_add(s.size))
                .collect(),
            go_minor: go_version.map(|v| v.minor),
            rodata: find(".rodata").map(|s| s.addr),
        };
        let sect = gopclntab
            .file
            .clone()
            .ok_or_else(|| corrupt(".gopclntab has no file contents".into()))?;
        let mut pclntab = Pclntab::parse(Arc::clone(&image), sect, gopclntab.addr, hints)
            .map_err(|e| match e {
            PclntabError::OldVersion(v) => BinaryError::UnsupportedGoVersion {
                path: path.clone(),
                found: format!("{v} (pclntab format)"),
            },
            PclntabError::Corrupt(d) => corrupt(d),
        })?;
        let text_start = text_start(&image, &pclntab, &sections, &text).map_err(&corrupt)?;
        pclntab.set_text_start(text_start);
        check_entries(&image, &pclntab).map_err(corrupt)?;
        pclntab.set_text_start(text_start.wrapping_add(bias));
        tracing::debug!(
            path = %path.display(),
            version = ?go_version,
            nfunc = pclntab.len(),
            "opened Go binary"
        );
        Ok(Binary {
            path,
            image,
            sections,
            entry,
            text,
            build_info,
            go_version,
            pclntab,
            symbols: OnceLock::new(),
        })
    }

    /// The path the binary was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Version of the Go toolchain that built the binary, from the build info.
    pub fn go_version(&self) -> Option<GoVersion> {
        self.go_version
    }

    /// The decoded build info (raw version string, main package and module).
    pub fn build_info(&self) -> Option<&BuildInfo> {
        self.build_info.as_ref()
    }

    /// The raw toolchain version string, e.g. `go1.24.11`.
    pub fn go_version_string(&self) -> Option<&str> {
        self.build_info.as_ref().map(|b| b.version.as_str())
    }

    /// The main module path, e.g. `example.com/prog`.
    pub fn main_module(&self) -> Option<&str> {
        self.build_info.as_ref()?.main_module.as_deref()
    }

    fn find_section(&self, name: &str) -> Option<&SectionInfo> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Whether the binary has DWARF (`.debug_info`, possibly compressed as `.zdebug_info`).
    pub fn has_dwarf(&self) -> bool {
        self.find_section(".debug_info").is_some() || self.find_section(".zdebug_info").is_some()
    }

    /// Whether the ELF symbol table is missing (`-ldflags=-s`).
    pub fn is_stripped(&self) -> bool {
        self.find_section(".symtab").is_none()
    }

    /// Contents of an ELF section, decompressed when `SHF_COMPRESSED` or
    /// stored as `.zdebug_*` (asking for `.debug_x` also finds `.zdebug_x`).
    /// Decompresses on every call: callers should keep the result.
    pub fn section(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let file = ElfFile64::<Endianness>::parse(self.image.bytes()).ok()?;
        let section = file.section_by_name(name)?;
        match section.uncompressed_data() {
            Ok(data) => Some(data),
            Err(e) => {
                tracing::warn!(section = name, error = %e, "cannot decompress ELF section");
                None
            }
        }
    }

    /// Virtual address range of an ELF section.
    pub fn section_range(&self, name: &str) -> Option<Range<u64>> {
        self.find_section(name)
            .map(|s| self.to_process(s.addr)..self.to_process(s.addr.saturating_add(s.size)))
    }

    /// ELF entry point.
    pub fn entry(&self) -> u64 {
        self.to_process(self.entry)
    }

    /// ELF entry point at its link address (to compute a load bias).
    pub fn link_entry(&self) -> u64 {
        self.entry
    }

    /// The load bias the binary was opened with ([`Binary::open_loaded`]).
    pub fn load_bias(&self) -> u64 {
        self.image.bias()
    }

    /// Whether the file is position-independent (ELF type `ET_DYN`: built
    /// with `-buildmode=pie`), so the process may run it anywhere.
    pub fn is_pie(&self) -> bool {
        // e_type, the 16-bit field after e_ident (ELF gABI); ET_DYN = 3.
        self.image.bytes().get(16..18) == Some(&3u16.to_le_bytes()[..])
    }

    fn to_process(&self, link: u64) -> u64 {
        link.wrapping_add(self.image.bias())
    }

    /// Address range of the `.text` section.
    pub fn text_range(&self) -> Range<u64> {
        self.to_process(self.text.start)..self.to_process(self.text.end)
    }

    fn symbol_index(&self) -> &HashMap<Box<str>, (u64, u64)> {
        self.symbols.get_or_init(|| {
            let mut map = HashMap::new();
            if let Ok(file) = ElfFile64::<Endianness>::parse(self.image.bytes()) {
                for sym in file.symbols() {
                    if let Ok(name) = sym.name() {
                        if !name.is_empty() {
                            map.entry(Box::from(name))
                                .or_insert((sym.address(), sym.size()));
                        }
                    }
                }
            }
            map
        })
    }

    /// Looks up an ELF `.symtab` symbol by exact name (index built on first
    /// use). `None` when stripped.
    pub fn symbol(&self, name: &str) -> Option<Symbol> {
        let &(addr, size) = self.symbol_index().get(name)?;
        Some(Symbol {
            name: name.to_string(),
            addr: self.to_process(addr),
            size,
        })
    }

    /// The Go symbol table.
    pub fn pclntab(&self) -> &Pclntab {
        &self.pclntab
    }

    /// `runtime.firstmoduledata` (text, data, types and gofunc bases), found
    /// without symbols; see [`Pclntab::moduledata`].
    pub fn moduledata(&self) -> Option<ModuleData> {
        self.pclntab.moduledata()
    }

    /// The file bytes mapped at `[addr, addr+len)`: initial contents of
    /// `.rodata`, `.data`, `.noptrdata`, ... `None` for addresses not backed by
    /// the file (bss, heap) or ranges crossing a segment boundary.
    pub fn read_static(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.image.read_static(addr, len)
    }
}

/// `runtime.text`, the base of every function entry in the pclntab. Its
/// own symbol when the binary has a symbol table; else the pclntab
/// header's textStart (stored before Go 1.27); else `moduledata.text`
/// (runtime/symtab.go, found in stripped binaries too); else the start of
/// `.text`, but only when `.text` holds Go's code alone: an external
/// linker (cgo programs, `-linkmode=external`) puts C start-up code
/// (`_start`, `.init`, `.plt`) before it, where a breakpoint would land
/// in the wrong instruction.
fn text_start(image: &Image, pcln: &Pclntab, sections: &[SectionInfo], text: &Range<u64>) -> Result<u64, String> {
    if let Some(a) = elf_symbol(image, "runtime.text") {
        return Ok(a);
    }
    if pcln.text_start() != 0 {
        return Ok(pcln.text_start());
    }
    if let Some(md) = pcln.moduledata_link().filter(|md| md.text != 0 && md.text >= text.start && md.text < text.end) {
        return Ok(md.text);
    }
    let c_startup = sections.iter().any(|s| matches!(s.name.as_str(), ".init" | ".plt" | ".plt.got" | ".plt.sec"));
    if !c_startup && text.start != 0 {
        return Ok(text.start);
    }
    Err("cannot tell where Go's code starts: no runtime.text symbol, no textStart in .gopclntab, no readable runtime.firstmoduledata, and .text begins with the external linker's start-up code (build without -s, or with -ldflags=-linkmode=internal)".into())
}

/// Checks the pclntab's function addresses against the ELF symbol table
/// where both know a function: a disagreement means the debugger would
/// write breakpoints at wrong addresses, so the binary is refused.
fn check_entries(image: &Image, pcln: &Pclntab) -> Result<(), String> {
    for name in ["runtime.main", "runtime.goexit", "main.main"] {
        let (Some(f), Some(sym)) = (pcln.func_by_name(name), elf_symbol(image, name)) else { continue };
        if f.entry != sym {
            return Err(format!(
                "the Go symbol table puts {name} at {:#x}, the ELF symbol table at {sym:#x} (runtime.text at {:#x}): cannot map the binary's code",
                f.entry,
                pcln.text_start()
            ));
        }
    }
    Ok(())
}

/// The address of an ELF symbol, looked up without building the index.
fn elf_symbol(image: &Image, name: &str) -> Option<u64> {
    let file = ElfFile64::<Endianness>::parse(image.bytes()).ok()?;
    file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn binary_is_send_sync() {
        assert_send_sync::<Binary>();
        assert_send_sync::<Pclntab>();
        assert_send_sync::<Func>();
    }
}
