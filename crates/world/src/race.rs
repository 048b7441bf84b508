//! Injected calls in programs built with `-race`.
//!
//! Every injected call runs on a goroutine of its own, which
//! `debugCallWrap` starts from the stopped goroutine (runtime/debugcall.go)
//! and which switches straight back to it when the call ends: the race
//! detector sees a goroutine created there, but nothing that orders it
//! after the previous call's goroutine. Two calls touching the same memory
//! (a map literal built by `makemap` then `mapassign` calls, a value set by
//! one call and read by the next) are then reported as a data race that
//! never happened: the program's own output fills with `WARNING: DATA
//! RACE`. The calls are in fact sequential, each on behalf of the stopped
//! goroutine, so for as long as the called function runs its goroutine
//! carries the stopped goroutine's race context (`g.racectx`, the
//! ThreadSanitizer state every race hook passes: runtime/race.go), and
//! gets its own back before it ends (`racegoend` must end its own). The
//! stopped goroutine is parked in `debugCallWrap` meanwhile, so only one
//! goroutine uses that context at a time. In a build without `-race`
//! `racectx` is always 0 and nothing is done.

use stillgo_dwarf::DebugInfo;
use stillgo_proc::{Memory, Process};

use crate::CallError;

/// The call goroutine's own race context, while it borrows the caller's.
pub(crate) struct SharedRaceContext {
    at: u64,
    own: u64,
}

/// At FRAME_READY: `call_g` runs the call for `caller_g`.
pub(crate) fn share(proc: &mut Process, dwarf: &DebugInfo, caller_g: u64, call_g: u64) -> Result<Option<SharedRaceContext>, CallError> {
    let Some((off, _)) = dwarf.struct_field("runtime.g", "racectx") else { return Ok(None) };
    if caller_g == 0 || call_g == 0 || caller_g == call_g {
        return Ok(None);
    }
    let caller_ctx = proc.read_u64(caller_g + off)?;
    if caller_ctx == 0 {
        return Ok(None);
    }
    let at = call_g + off;
    let own = proc.read_u64(at)?;
    proc.write_memory(at, &caller_ctx.to_le_bytes())?;
    Ok(Some(SharedRaceContext { at, own }))
}

impl SharedRaceContext {
    /// When the called function has returned or panicked: the call
    /// goroutine ends with its own context.
    pub(crate) fn give_back(self, proc: &mut Process) -> Result<(), CallError> {
        proc.write_memory(self.at, &self.own.to_le_bytes())?;
        Ok(())
    }
}
