//! The program being debugged, independent of any running process: its
//! binary, debug information and runtime layout. Survives `restart`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stillgo_binary::{Binary, GoVersion};
use stillgo_dwarf::{DebugInfo, DwarfSections};
use stillgo_runtime::Layout;

use crate::SessionError;

/// Whether binaries built by a Go older than the supported range are
/// refused (`--check-go-version`, true by default as in Delve; newer ones
/// always get a warning and a best effort).
pub static CHECK_GO_VERSION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub struct Program {
    pub path: PathBuf,
    pub bin: Arc<Binary>,
    /// None for binaries built without DWARF (`-ldflags=-w`) or stripped.
    pub dwarf: Option<Arc<DebugInfo>>,
    /// Runtime layout; None without DWARF.
    pub layout: Option<Layout>,
    pub go_version: Option<GoVersion>,
    /// What the user should know before trusting what they see (a Go
    /// version newer than the supported range).
    pub warnings: Vec<String>,
    /// What frozen-world calls need, resolved at the first one.
    pub(crate) freeze_facts: std::sync::OnceLock<Result<stillgo_world::FreezeFacts, stillgo_world::FreezeError>>,
}

impl Program {
    pub fn open(path: &Path) -> Result<Program, SessionError> {
        Program::open_loaded(path, 0)
    }

    /// The program as a process runs it `bias` bytes away from its link
    /// addresses (a position-independent executable; see
    /// [`Program::for_process`]).
    pub fn open_loaded(path: &Path, bias: u64) -> Result<Program, SessionError> {
        let bin = Arc::new(Binary::open_loaded(path, bias)?);
        let go_version = bin.go_version();
        let mut warnings = Vec::new();
        if let Some(v) = &go_version {
            let enforce = CHECK_GO_VERSION.load(std::sync::atomic::Ordering::Relaxed);
            if let stillgo_runtime::versions::VersionSupport::Newer(w) = stillgo_runtime::versions::check_supported(v, enforce)? {
                tracing::warn!("{w}");
                warnings.push(w);
            }
        }
        let dwarf = if bin.has_dwarf() {
            // .debug_frame is not needed: Go frames unwind from pclntab.
            let sections = DwarfSections::from_fn(|name| {
                (name != ".debug_frame").then(|| bin.section(name)).flatten().map(|d| Arc::from(d.as_ref()))
            });
            Some(Arc::new(DebugInfo::new(sections)?.with_load_bias(bias)))
        } else {
            None
        };
        let layout = match &dwarf {
            Some(d) => Some(Layout::from_dwarf(d)?),
            // Without DWARF: per-version offsets; global addresses are
            // found in the running program (Session::layout).
            None => go_version.as_ref().and_then(stillgo_runtime::versions::fallback_layout),
        };
        Ok(Program { path: path.to_path_buf(), bin, dwarf, layout, go_version, warnings, freeze_facts: Default::default() })
    }

    /// This program as process `pid` runs it: the same program when it is
    /// loaded at its link addresses, else opened again with the load bias
    /// the kernel chose (ASLR places a PIE anywhere), read from the
    /// process's auxiliary vector (`AT_ENTRY`, the entry point it runs).
    /// Refused when the process does not run this file (an entry point that
    /// no bias explains).
    pub fn for_process(self, pid: i32) -> Result<Program, SessionError> {
        Ok(self.rebased_for(pid)?.unwrap_or(self))
    }

    /// [`Program::for_process`], None when this program already fits.
    pub fn rebased_for(&self, pid: i32) -> Result<Option<Program>, SessionError> {
        let entry = stillgo_proc::auxv_entry(pid).map_err(|e| SessionError::Invalid(format!("cannot read where process {pid} runs its code: {e}")))?;
        let bias = entry.wrapping_sub(self.bin.link_entry());
        if bias == self.bin.load_bias() {
            return Ok(None);
        }
        if !self.bin.is_pie() {
            return Err(SessionError::Invalid(format!(
                "process {pid} runs its entry point at {entry:#x}, but {} is linked to run it at {:#x} and is not position-independent: the process does not run this binary",
                self.path.display(),
                self.bin.link_entry()
            )));
        }
        tracing::debug!(bias = format_args!("{bias:#x}"), "position-independent executable loaded away from its link addresses");
        Program::open_loaded(&self.path, bias).map(Some)
    }

    pub fn dwarf(&self) -> Result<&Arc<DebugInfo>, SessionError> {
        self.dwarf.as_ref().ok_or(SessionError::NoDebugInfo)
    }

    pub fn layout(&self) -> Result<&Layout, SessionError> {
        self.layout.as_ref().ok_or(SessionError::NoDebugInfo)
    }

    /// Source position of a pc: DWARF when present, else pclntab.
    pub fn line_for_pc(&self, pc: u64) -> Option<(Arc<str>, u32)> {
        if let Some(d) = &self.dwarf {
            if let Some(li) = d.line_for_pc(pc) {
                return Some((li.file, li.line));
            }
        }
        self.bin.pclntab().line_for_pc(pc).map(|(f, l)| (Arc::from(f), l))
    }

    pub fn func_name(&self, pc: u64) -> Option<String> {
        self.bin.pclntab().func_for_pc(pc).map(|f| f.name.to_string())
    }
}
