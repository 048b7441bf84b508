//! Debugging aids (tracing at DEBUG/TRACE level only): where every user
//! goroutine stood when the freeze completed, which of them moved by the
//! end of the call, a dump of every goroutine and thread.

use std::collections::HashMap;

use stillgo_binary::Pclntab;
use stillgo_proc::Process;
use stillgo_runtime::goroutines::thread_goroutine_addr;
use stillgo_runtime::versions::GStatus;

use super::state::*;

impl Freezer {
    /// Debug: where every user goroutine is.
    pub(super) fn positions(&mut self, proc: &Process, pcln: &Pclntab) -> HashMap<u64, (GStatus, u64, u64, u64)> {
        let Ok(gs) = stillgo_runtime::goroutines::all_goroutines(proc, &self.facts.layout) else { return HashMap::new() };
        gs.into_iter().filter(|g| self.is_user_start(pcln, g.start_pc) || self.exempt.contains_key(&g.addr)).map(|g| (g.addr, (g.status, g.sched_pc, g.sched_sp, g.id))).collect()
    }

    /// Debug: reports user goroutines that moved since the freeze completed.
    pub(super) fn report_moved(&mut self, proc: &Process, pcln: &Pclntab) {
        let now = self.positions(proc, pcln);
        for (g, before) in std::mem::take(&mut self.snapshot) {
            if self.family.contains_key(&g) || self.exempt.contains_key(&g) {
                continue;
            }
            if let Some(after) = now.get(&g) {
                if (after.1, after.2) != (before.1, before.2) {
                    let f = |pc: u64| pcln.func_for_pc(pc).map(|f| f.name.to_string()).unwrap_or_default();
                    tracing::debug!(id = before.3, status_before = ?before.0, from = f(before.1), status_after = ?after.0, to = f(after.1), "MOVED while frozen");
                }
            }
        }
    }

    /// Debug dump of every user goroutine: status, where, thread.
    pub(super) fn dump(&mut self, proc: &Process, pcln: &Pclntab, what: &str) {
        let layout = self.facts.layout.clone();
        let mut threads = HashMap::new();
        for tid in proc.threads() {
            let Ok(regs) = proc.regs(tid) else { continue };
            let curg = thread_goroutine_addr(proc, &layout, regs.fs_base()).ok().flatten();
            if let Some(g) = curg {
                threads.insert(g, (tid, regs.pc()));
            }
            let f = pcln.func_for_pc(regs.pc()).map(|f| f.name.to_string()).unwrap_or_default();
            tracing::trace!(what, tid, pc = regs.pc(), f, curg, "thread");
        }
        let Ok(gs) = stillgo_runtime::goroutines::all_goroutines(proc, &layout) else { return };
        tracing::debug!(what, disable_user = read_u8(proc, self.facts.sched.disable_user).ok(), patch = ?self.patches.iter().map(|&(a, _)| read_u8(proc, a).ok()).collect::<Vec<_>>(), "sched");
        for g in gs {
            if !self.is_user_start(pcln, g.start_pc) && !self.exempt.contains_key(&g.addr) {
                continue;
            }
            let f = |pc: u64| pcln.func_for_pc(pc).map(|f| f.name.to_string()).unwrap_or_default();
            let th = threads.get(&g.addr).map(|&(t, pc)| format!("tid {t} at {}", f(pc)));
            tracing::debug!(what, id = g.id, addr = g.addr, status = ?g.status, sched = f(g.sched_pc), ?th, exempt = self.exempt.contains_key(&g.addr), start = f(g.start_pc), "goroutine");
        }
    }
}
