//! The program being debugged, independent of any running process: its
//! binary, debug information and runtime layout. Survives `restart`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stillgo_binary::{Binary, GoVersion};
use stillgo_dwarf::{DebugInfo, DwarfSections};
use stillgo_runtime::Layout;

use crate::SessionError;

pub struct Program {
    pub path: PathBuf,
    pub bin: Arc<Binary>,
    /// None for binaries built without DWARF (`-ldflags=-w`) or stripped.
    pub dwarf: Option<Arc<DebugInfo>>,
    /// Runtime layout; None without DWARF.
    pub layout: Option<Layout>,
    pub go_version: Option<GoVersion>,
    /// What frozen-world calls need, resolved at the first one.
    pub(crate) freeze_facts: std::sync::OnceLock<Result<stillgo_world::FreezeFacts, stillgo_world::FreezeError>>,
}

impl Program {
    pub fn open(path: &Path) -> Result<Program, SessionError> {
        let bin = Arc::new(Binary::open(path)?);
        let go_version = bin.go_version();
        if let Some(v) = &go_version {
            stillgo_runtime::versions::check_supported(v)?;
        }
        let dwarf = if bin.has_dwarf() {
            // .debug_frame is not needed: Go frames unwind from pclntab.
            let sections = DwarfSections::from_fn(|name| {
                (name != ".debug_frame").then(|| bin.section(name)).flatten().map(|d| Arc::from(d.as_ref()))
            });
            Some(Arc::new(DebugInfo::new(sections)?))
        } else {
            None
        };
        let layout = match &dwarf {
            Some(d) => Some(Layout::from_dwarf(d)?),
            // Without DWARF: per-version offsets; global addresses are
            // found in the running program (Session::layout).
            None => go_version.as_ref().and_then(stillgo_runtime::versions::fallback_layout),
        };
        Ok(Program { path: path.to_path_buf(), bin, dwarf, layout, go_version, freeze_facts: Default::default() })
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
