//! Goroutine-aware `next`, `step` and `stepout`.
//!
//! Like Delve, stepping does not single-step through code: it puts
//! temporary breakpoints where the step may end (the other statements of the
//! current function, its return address, the bodies of functions called
//! from the current line) and lets the whole program run. A temporary
//! breakpoint only ends the step when the goroutine that started it hits it
//! in the same function invocation (same canonical frame address), so other
//! goroutines running the same code, and recursive calls, pass through.

use std::collections::HashSet;

use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic};
use stillgo_proc::Tid;

use stillgo_world::freeze::FrozenStep;

use crate::locspec::function_body_addr;
use crate::{Result, Session, SessionError, Stop};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Over,
    Into,
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TempKind {
    /// A statement of the function being stepped: stop if hit in the same
    /// invocation (and, for `next`, not inside a deeper inlined call).
    Line,
    /// The return address of the function: stop when the stack is back to
    /// the caller's (SP == the stepped frame's CFA).
    Return,
    /// The body of a function called from the current line (`step`).
    CallTarget,
    /// An indirect call instruction on the current line (`step`): step into
    /// it to find where it goes.
    IndirectCall,
}

#[derive(Debug, Clone, Copy)]
struct TempBp {
    addr: u64,
    kind: TempKind,
}

struct Plan {
    kind: Kind,
    goroutine: u64,
    cfa: u64,
    /// Top of the goroutine's stack when the step began: the runtime may
    /// move the stack during the step (growth in newstack, shrinking by the
    /// GC in shrinkstack; copystack keeps every frame's distance from the
    /// top), so frame addresses are compared relative to it.
    stack_hi: u64,
    inline_depth: usize,
    temps: Vec<TempBp>,
    /// Addresses where this step inserted a physical breakpoint.
    inserted: HashSet<u64>,
}

impl Session {
    /// Delve's `next`: the name users know, not an iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Stop> {
        self.step_with(Kind::Over)
    }

    pub fn step(&mut self) -> Result<Stop> {
        self.step_with(Kind::Into)
    }

    pub fn step_out(&mut self) -> Result<Stop> {
        self.step_with(Kind::Out)
    }

    fn step_with(&mut self, kind: Kind) -> Result<Stop> {
        self.last_step_freeze = None;
        if self.freeze_steps {
            return self.step_frozen(kind);
        }
        self.step_plain(kind, None)
    }

    /// A step during which only the stepping goroutine (and goroutines it
    /// starts) run, every other user goroutine frozen
    /// ([`stillgo_world::freeze::FrozenStep`]); everything is thawed when
    /// the step ends, however it ends. A step blocked a second on a frozen
    /// goroutine thaws the world and goes on (reported in
    /// `last_step_freeze`). A goroutine that is not on a thread (parked,
    /// selected by the user) steps unfrozen.
    fn step_frozen(&mut self, kind: Kind) -> Result<Stop> {
        let Some(goid) = self.selected_goroutine() else { return self.step_plain(kind, None) };
        let g = self.find_goroutine(goid)?;
        let mut tid = None;
        for t in self.proc()?.threads() {
            if self.goroutine_of_thread(t)? == Some(goid) {
                tid = Some(t);
                break;
            }
        }
        let Some(tid) = tid else { return self.step_plain(kind, None) };
        let facts = self.freeze_facts()?;
        let bin = self.program.bin.clone();
        let pcln = bin.pclntab();
        self.invalidate();
        // A Ctrl-C seen earlier is no request for this step.
        self.proc_mut()?.interrupter().take_user_request();
        let (mut frozen, began) = FrozenStep::begin(facts, self.proc_mut()?, pcln, tid);
        let result = match began {
            Ok(()) => match frozen.hooks(self.proc_mut()?, pcln, g.addr) {
                Ok(mut hooks) => {
                    let r = self.step_plain(kind, Some(&mut hooks));
                    // Where the stepping goroutine stopped: that thread stays
                    // put while the freezer finishes and thaws.
                    self.invalidate();
                    let now_tid = match r.as_ref() {
                        Ok(Stop::StepDone { tid: t, .. } | Stop::Breakpoint { tid: t, .. }) => *t,
                        _ => tid,
                    };
                    let finished = match self.proc.as_mut().filter(|p| p.is_alive()) {
                        Some(p) => hooks.finish(p, now_tid),
                        None => Ok(()),
                    };
                    match finished {
                        Err(e) if !matches!(e, stillgo_world::FreezeError::Exited(_)) => Err(SessionError::MayStayFrozen(e)),
                        _ => r,
                    }
                }
                Err(e) => Err(e.into()),
            },
            Err(stillgo_world::FreezeError::Exited(code)) => {
                self.program_exited(code);
                Ok(Stop::Exited { code })
            }
            Err(e) => Err(SessionError::Freeze(e)),
        };
        self.invalidate();
        let (report, thawed) = frozen.end(self.proc.as_mut(), pcln);
        self.invalidate();
        self.last_step_freeze = Some(report);
        match thawed {
            Err(stillgo_world::FreezeError::Exited(_)) | Ok(()) => result,
            Err(e) => Err(SessionError::MayStayFrozen(e)),
        }
    }

    /// A step; `hooks` see the events of other goroutines (a frozen step).
    pub(crate) fn step_plain(&mut self, kind: Kind, hooks: Option<&mut dyn stillgo_world::CallHooks>) -> Result<Stop> {
        let goroutine = self.selected_goroutine().ok_or_else(|| {
            SessionError::Invalid("no goroutine is selected (the Go runtime has not started yet?): use break and continue first".into())
        })?;
        self.sel.frame = 0;
        let frames = self.goroutine_stack(goroutine, 64)?;
        let f0 = frames.first().cloned().ok_or_else(|| SessionError::Invalid("empty stack".into()))?;
        let pcln = self.program.bin.pclntab();
        let func = pcln
            .func_for_pc(f0.pc)
            .ok_or_else(|| SessionError::Invalid(format!("cannot step: pc {:#x} is not in a Go function", f0.pc)))?;
        let depth0 = pcln.inline_stack(f0.pc).len();
        let stack_hi = self.find_goroutine(goroutine)?.stack_hi;
        let mut plan = Plan { kind, goroutine, cfa: f0.cfa, stack_hi, inline_depth: depth0, temps: Vec::new(), inserted: HashSet::new() };

        // Statements of the current physical function.
        let (cur_block, line_addrs) = self.statement_addrs(func.entry, func.end, f0.pc)?;
        if kind != Kind::Out || depth0 > 0 {
            for a in line_addrs {
                plan.temps.push(TempBp { addr: a, kind: TempKind::Line });
            }
        }
        // The return address: the first caller frame in another physical frame.
        if let Some(caller) = frames.iter().find(|f| f.physical > f0.physical) {
            plan.temps.push(TempBp { addr: caller.pc, kind: TempKind::Return });
        }
        if kind == Kind::Into {
            for (addr, target) in self.calls_in(cur_block.0, cur_block.1)? {
                match target {
                    Some(t) => {
                        if let Some(name) = self.program.func_name(t) {
                            if self.steppable(&name, t) {
                                if let Some(body) = function_body_addr(&self.program, &name) {
                                    plan.temps.push(TempBp { addr: body, kind: TempKind::CallTarget });
                                }
                            }
                        }
                    }
                    None => plan.temps.push(TempBp { addr, kind: TempKind::IndirectCall }),
                }
            }
        }
        self.insert_temps(&mut plan)?;
        self.bps.stepping_goroutine = Some(goroutine);
        // Tracepoints met on the way log through user_breakpoint_hit and
        // the run goes on under this plan; one where the step ends logs too.
        let result = self.run_until(
            &mut |s, tid, pc| {
                let end = s.step_hit(&mut plan, tid, pc);
                if end {
                    s.fire_tracepoints_at(tid, pc);
                }
                end
            },
            hooks,
        );
        self.bps.stepping_goroutine = None;
        // Remove temporary breakpoints whatever happened (the process may be gone).
        if let Some(p) = self.proc.as_mut() {
            for a in &plan.inserted {
                if !self.bps.uses(*a) {
                    let _ = p.remove_breakpoint(*a);
                }
            }
        }
        let stop = result?;
        Ok(self.finish_stop(stop))
    }

    fn insert_temps(&mut self, plan: &mut Plan) -> Result<()> {
        let p = self.proc_mut()?;
        for t in &plan.temps {
            if !p.has_breakpoint(t.addr) {
                p.set_breakpoint(t.addr)?;
                plan.inserted.insert(t.addr);
            }
        }
        Ok(())
    }

    /// `stack.hi` of the goroutine running on `tid`.
    fn thread_stack_hi(&self, tid: Tid) -> Option<u64> {
        let layout = self.program.layout.as_ref()?;
        let proc = self.proc().ok()?;
        let regs = proc.regs(tid).ok()?;
        let g = stillgo_runtime::goroutines::thread_goroutine_addr(proc, layout, regs.fs_base()).ok()??;
        Some(stillgo_runtime::goroutines::read_goroutine(proc, layout, g).ok()?.stack_hi)
    }

    /// Decides whether a breakpoint hit ends the step.
    fn step_hit(&mut self, plan: &mut Plan, tid: Tid, pc: u64) -> bool {
        let temps: Vec<TempBp> = plan.temps.iter().copied().filter(|t| t.addr == pc).collect();
        if temps.is_empty() {
            return false;
        }
        match self.goroutine_of_thread(tid) {
            Ok(Some(g)) if g == plan.goroutine => {}
            _ => return false,
        }
        let Ok(regs) = self.proc().and_then(|p| Ok(p.regs(tid)?)) else { return false };
        // Addresses on the goroutine's stack as they were when the step began.
        let moved = self.thread_stack_hi(tid).map_or(0, |hi| hi.wrapping_sub(plan.stack_hi));
        let sp = regs.sp().wrapping_sub(moved);
        let pcln = self.program.bin.pclntab();
        let cfa = pcln
            .func_for_pc(pc)
            .and_then(|f| pcln.sp_delta(&f, pc))
            .map(|d| sp + d.max(0) as u64 + 8);
        for t in temps {
            match t.kind {
                TempKind::Line => {
                    if cfa != Some(plan.cfa) {
                        continue;
                    }
                    let depth = pcln.inline_stack(pc).len();
                    let ok = match plan.kind {
                        Kind::Over => depth <= plan.inline_depth,
                        Kind::Into => true,
                        Kind::Out => depth < plan.inline_depth,
                    };
                    if ok {
                        return true;
                    }
                }
                TempKind::Return => {
                    if sp == plan.cfa {
                        return true;
                    }
                }
                TempKind::CallTarget => return true,
                TempKind::IndirectCall => {
                    if cfa != Some(plan.cfa) {
                        continue;
                    }
                    // Step into the call and see where it lands.
                    let Ok(p) = self.proc_mut() else { return false };
                    if p.single_step(tid).is_err() {
                        return false;
                    }
                    let Ok(r) = p.regs(tid) else { return false };
                    let Some(name) = self.program.func_name(r.pc()) else { return false };
                    if !self.steppable(&name, r.pc()) {
                        return false;
                    }
                    let Some(body) = function_body_addr(&self.program, &name) else { return false };
                    if body == r.pc() {
                        return true;
                    }
                    plan.temps.push(TempBp { addr: body, kind: TempKind::CallTarget });
                    let _ = self.insert_temps(plan);
                    return false;
                }
            }
        }
        false
    }

    /// Statement start addresses of the function `[entry, end)`, except the
    /// block of rows that holds `pc` (the line being stepped from). Also
    /// returns that block's address range.
    fn statement_addrs(&self, entry: u64, end: u64, pc: u64) -> Result<((u64, u64), Vec<u64>)> {
        let Some(d) = &self.program.dwarf else {
            // Without DWARF, pclntab line changes stand in for statements.
            return Ok(((pc, pc + 1), self.pcln_line_starts(entry, end, pc)));
        };
        let rows = d.line_table_rows(entry..end);
        let idx = rows.iter().rposition(|r| r.address <= pc);
        let (mut lo, mut hi) = (pc, pc + 1);
        if let Some(i) = idx {
            let key = (&rows[i].file, rows[i].line);
            let mut a = i;
            while a > 0 && (&rows[a - 1].file, rows[a - 1].line) == key {
                a -= 1;
            }
            let mut b = i;
            while b + 1 < rows.len() && (&rows[b + 1].file, rows[b + 1].line) == key {
                b += 1;
            }
            lo = rows[a].address;
            hi = rows.get(b + 1).map(|r| r.address).unwrap_or(end);
        }
        let addrs = rows
            .iter()
            .filter(|r| r.is_stmt && r.line != 0 && (r.address < lo || r.address >= hi) && r.address < end)
            .map(|r| r.address)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        Ok(((lo, hi), addrs))
    }

    fn pcln_line_starts(&self, entry: u64, end: u64, pc: u64) -> Vec<u64> {
        let pcln = self.program.bin.pclntab();
        let cur = pcln.line_for_pc(pc).map(|(_, l)| l);
        let mut out = Vec::new();
        let mut prev = None;
        let mut a = entry;
        // Walk instruction boundaries with the decoder.
        let bytes = self.program.bin.read_static(entry, (end - entry) as usize).unwrap_or(&[]);
        let mut dec = Decoder::with_ip(64, bytes, entry, DecoderOptions::NONE);
        while dec.can_decode() && a < end {
            let ins = dec.decode();
            a = ins.ip();
            let l = pcln.line_for_pc(a).map(|(_, l)| l);
            if l != prev && l != cur {
                out.push(a);
            }
            prev = l;
        }
        out
    }

    /// CALL instructions in `[lo, hi)`: (address, direct target or None).
    fn calls_in(&self, lo: u64, hi: u64) -> Result<Vec<(u64, Option<u64>)>> {
        let len = hi.saturating_sub(lo) as usize;
        let Some(bytes) = self.program.bin.read_static(lo, len) else { return Ok(Vec::new()) };
        let mut dec = Decoder::with_ip(64, bytes, lo, DecoderOptions::NONE);
        let mut out = Vec::new();
        while dec.can_decode() {
            let ins = dec.decode();
            match ins.flow_control() {
                FlowControl::Call => out.push((ins.ip(), Some(ins.near_branch_target()))),
                FlowControl::IndirectCall if ins.mnemonic() == Mnemonic::Call => out.push((ins.ip(), None)),
                _ => {}
            }
        }
        Ok(out)
    }
}

impl Session {
    /// Functions `step` enters: the user's own code (stillgo_runtime::code),
    /// as with Delve; the runtime's internals are stepped over.
    fn steppable(&self, name: &str, pc: u64) -> bool {
        let file = self.program.line_for_pc(pc).map(|(f, _)| f);
        stillgo_runtime::code::is_user(name, file.as_deref())
    }
}
