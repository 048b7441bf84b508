//! Native (C) code in the running process, for stacks that go through C:
//! which file holds a pc, the function symbol there, and the caller of a C
//! frame by its call-frame information ([`stillgo_binary::native`]).
//!
//! The files are those the process maps executable (`/proc/PID/maps`): the
//! Go executable (its cgo code and the external linker's start-up code),
//! the C library, the dynamic loader, any shared library of a cgo
//! dependency. They are read the first time a C frame needs them; the map
//! is read again when a pc is in none of them (a library `dlopen`ed since).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use stillgo_binary::native::{NativeCode, NativeRegs};
use stillgo_proc::Memory;

/// One executable mapping and the file it maps.
struct Mapped {
    range: Range<u64>,
    code: Option<Arc<NativeCode>>,
}

/// The native code of one process.
pub struct NativeFrames {
    pid: i32,
    mapped: RefCell<Vec<Mapped>>,
    /// Files already opened, by path (a file maps several ranges).
    files: RefCell<HashMap<PathBuf, Option<Arc<NativeCode>>>>,
    /// The map may have changed since it was read.
    stale: Cell<bool>,
}

impl NativeFrames {
    pub fn new(pid: i32) -> NativeFrames {
        NativeFrames { pid, mapped: RefCell::default(), files: RefCell::default(), stale: Cell::new(true) }
    }

    /// The program ran: the next pc outside every known file rereads the map.
    pub fn invalidate(&self) {
        self.stale.set(true);
    }

    fn find(&self, pc: u64) -> Option<Option<Arc<NativeCode>>> {
        self.mapped.borrow().iter().find(|m| m.range.contains(&pc)).map(|m| m.code.clone())
    }

    /// The file that holds `pc`, if it is mapped executable and readable.
    pub fn code_at(&self, pc: u64) -> Option<Arc<NativeCode>> {
        if let Some(found) = self.find(pc) {
            return found;
        }
        if !self.stale.replace(false) {
            return None;
        }
        self.reread();
        self.find(pc).flatten()
    }

    fn reread(&self) {
        let Ok(maps) = stillgo_proc::maps(self.pid) else { return };
        let mut files = self.files.borrow_mut();
        let mut mapped = Vec::new();
        for m in maps.iter().filter(|m| m.executable) {
            let code = m.path.as_ref().and_then(|path| {
                files
                    .entry(path.clone())
                    .or_insert_with(|| {
                        let opened = NativeCode::open_mapped(path, m.start, m.offset);
                        if let Err(e) = &opened {
                            tracing::debug!("native code of {}: {e}", path.display());
                        }
                        opened.ok().map(Arc::new)
                    })
                    .clone()
            });
            mapped.push(Mapped { range: m.start..m.end, code });
        }
        *self.mapped.borrow_mut() = mapped;
    }

    /// The C function at `pc`, named as Delve names C functions (`C.name`),
    /// and its entry.
    pub fn function(&self, pc: u64) -> Option<(Arc<str>, u64)> {
        let code = self.code_at(pc)?;
        let sym = code.symbol(pc)?;
        Some((Arc::from(format!("C.{}", sym.name)), sym.addr))
    }

    /// The caller's registers of the native frame with registers `regs`,
    /// its CFI looked up at `lookup_pc`.
    pub fn caller(&self, mem: &dyn Memory, regs: &NativeRegs, lookup_pc: u64) -> Option<NativeRegs> {
        let code = self.code_at(lookup_pc)?;
        code.caller(regs, lookup_pc, &|addr| mem.read_u64(addr).ok())
    }
}
