//! Logical breakpoints (what the user asked for) over physical ones (one
//! int3 per address, owned by the process layer). Several logical
//! breakpoints may share an address; stepping adds its own temporary ones.
//!
//! A breakpoint can be a tracepoint (a DAP logpoint): a hit whose
//! condition holds is handed to the front end's trace hook while the
//! program is stopped there, and the program then goes on as if the
//! breakpoint were not there. In particular a tracepoint reached during a
//! `next`/`step`/`stepout` does not end the step: the step's plan (its
//! temporary breakpoints, goroutine and frame) stays in force, so the step
//! ends exactly where it would have ended without the tracepoint.

use std::collections::HashMap;
use std::sync::Arc;

use stillgo_proc::Tid;

use crate::locspec::Resolved;
use crate::{Result, Selection, Session, SessionError};

/// A tracepoint hit, as given to the [`TraceHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceHit {
    pub id: u32,
    pub tid: Tid,
    pub goroutine: Option<u64>,
}

/// Called for every tracepoint hit whose condition and hit condition hold,
/// with the program stopped at the tracepoint and the goroutine (or thread)
/// that hit it selected at frame 0, so expressions evaluate in the
/// tracepoint's frame. The selection is restored afterwards and the program
/// goes on. The hook must not resume the program.
pub type TraceHook = Box<dyn FnMut(&mut Session, &TraceHit)>;

/// `condition -hitcount ID OP N`: stop only when the hit count satisfies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitCondition {
    pub op: HitOp,
    pub n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// Every n-th hit (`% n`).
    Mod,
}

impl HitCondition {
    /// Parses `> 5`, `== 3`, `%2`, or a bare `5` (meaning `>= 5`, as VS
    /// Code's hitCondition).
    pub fn parse(s: &str) -> Option<HitCondition> {
        let s = s.trim();
        let ops = [("==", HitOp::Eq), ("!=", HitOp::Ne), (">=", HitOp::Ge), ("<=", HitOp::Le), (">", HitOp::Gt), ("<", HitOp::Lt), ("%", HitOp::Mod)];
        for (tok, op) in ops {
            if let Some(rest) = s.strip_prefix(tok) {
                return rest.trim().parse().ok().map(|n| HitCondition { op, n });
            }
        }
        s.parse().ok().map(|n| HitCondition { op: HitOp::Ge, n })
    }

    pub fn holds(&self, hits: u64) -> bool {
        match self.op {
            HitOp::Eq => hits == self.n,
            HitOp::Ne => hits != self.n,
            HitOp::Gt => hits > self.n,
            HitOp::Ge => hits >= self.n,
            HitOp::Lt => hits < self.n,
            HitOp::Le => hits <= self.n,
            HitOp::Mod => self.n != 0 && hits.is_multiple_of(self.n),
        }
    }
}

impl std::fmt::Display for HitCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            HitOp::Eq => "==",
            HitOp::Ne => "!=",
            HitOp::Gt => ">",
            HitOp::Ge => ">=",
            HitOp::Lt => "<",
            HitOp::Le => "<=",
            HitOp::Mod => "%",
        };
        write!(f, "{op} {}", self.n)
    }
}

#[derive(Debug, Clone)]
pub struct Breakpoint {
    pub id: u32,
    /// Breakpoints the debugger sets itself have a name instead of a number
    /// for the user (`unrecovered-panic`, `runtime-fatal-throw`, as in Delve).
    pub name: Option<String>,
    /// What the user typed.
    pub spec: String,
    pub addrs: Vec<u64>,
    pub file: Option<Arc<str>>,
    pub line: u32,
    pub function: Option<String>,
    pub condition: Option<String>,
    pub hit_condition: Option<HitCondition>,
    /// Hits whose condition held, in total and per goroutine.
    pub total_hits: u64,
    pub hits: HashMap<u64, u64>,
    /// A tracepoint: hits are reported to the trace hook and never stop
    /// the program (see the module comment).
    pub trace: bool,
}

#[derive(Default)]
pub(crate) struct Table {
    next_id: u32,
    bps: Vec<Breakpoint>,
    /// Set while a step runs: user breakpoints hit by other goroutines are
    /// ignored so the step finishes on the goroutine that started it.
    pub stepping_goroutine: Option<u64>,
    /// Receives tracepoint hits (None: they are counted, nothing else).
    pub trace_hook: Option<TraceHook>,
}

impl Table {
    pub fn add(&mut self, spec: String, r: Resolved, condition: Option<String>) -> Breakpoint {
        self.next_id += 1;
        let bp = Breakpoint {
            id: self.next_id,
            name: None,
            spec,
            addrs: r.addrs,
            file: r.file,
            line: r.line,
            function: r.function,
            condition,
            hit_condition: None,
            total_hits: 0,
            hits: HashMap::new(),
            trace: false,
        };
        self.bps.push(bp.clone());
        bp
    }

    /// Adds a named breakpoint; its id counts down from `u32::MAX` so user
    /// breakpoints keep the numbers 1, 2, 3...
    pub fn add_named(&mut self, name: &str, r: Resolved) -> Breakpoint {
        let named = self.bps.iter().filter(|b| b.name.is_some()).count() as u32;
        let mut bp = self.add(name.to_string(), r, None);
        self.next_id -= 1;
        bp.id = u32::MAX - named;
        bp.name = Some(name.to_string());
        if let Some(last) = self.bps.last_mut() {
            *last = bp.clone();
        }
        bp
    }

    pub fn list(&self) -> Vec<Breakpoint> {
        self.bps.clone()
    }

    pub fn remove(&mut self, id: u32) -> Option<Breakpoint> {
        let i = self.bps.iter().position(|b| b.id == id)?;
        Some(self.bps.remove(i))
    }

    /// Removes every user breakpoint (named ones stay, as in Delve).
    pub fn remove_all(&mut self) -> Vec<Breakpoint> {
        let (named, user): (Vec<_>, Vec<_>) = std::mem::take(&mut self.bps).into_iter().partition(|b| b.name.is_some());
        self.bps = named;
        user
    }

    pub fn uses(&self, addr: u64) -> bool {
        self.bps.iter().any(|b| b.addrs.contains(&addr))
    }

    /// Moves every breakpoint by `delta` bytes: the program was loaded
    /// elsewhere (a position-independent executable restarted with ASLR).
    pub fn shift(&mut self, delta: u64) {
        for b in &mut self.bps {
            for a in &mut b.addrs {
                *a = a.wrapping_add(delta);
            }
        }
    }

    pub fn all_addrs(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.bps.iter().flat_map(|b| b.addrs.iter().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn at(&self, addr: u64) -> Vec<Breakpoint> {
        self.bps.iter().filter(|b| b.addrs.contains(&addr)).cloned().collect()
    }

    pub fn set_condition(&mut self, id: u32, cond: Option<String>) -> Option<()> {
        self.bps.iter_mut().find(|b| b.id == id).map(|b| b.condition = cond)
    }

    pub fn set_hit_condition(&mut self, id: u32, hc: Option<HitCondition>) -> Option<()> {
        self.bps.iter_mut().find(|b| b.id == id).map(|b| b.hit_condition = hc)
    }

    pub fn set_trace(&mut self, id: u32, trace: bool) -> Option<()> {
        self.bps.iter_mut().find(|b| b.id == id).map(|b| b.trace = trace)
    }

    /// Counts a hit whose condition held; says whether to stop (the hit
    /// condition, if any, holds for the new count).
    pub fn record_hit(&mut self, id: u32, goroutine: Option<u64>) -> bool {
        let Some(b) = self.bps.iter_mut().find(|b| b.id == id) else { return false };
        b.total_hits += 1;
        if let Some(g) = goroutine {
            *b.hits.entry(g).or_default() += 1;
        }
        b.hit_condition.is_none_or(|hc| hc.holds(b.total_hits))
    }

    pub fn reset_hits(&mut self) {
        for b in &mut self.bps {
            b.total_hits = 0;
            b.hits.clear();
        }
    }
}

impl Session {
    /// Makes breakpoint `id` a tracepoint (hits go to the trace hook, the
    /// program never stops there) or a stopping breakpoint again.
    pub fn set_tracepoint(&mut self, id: u32, trace: bool) -> Result<()> {
        self.bps.set_trace(id, trace).ok_or_else(|| SessionError::Invalid(format!("no breakpoint {id}")))
    }

    /// Installs (or removes) the hook that receives tracepoint hits. It
    /// stays installed across `restart`.
    pub fn set_trace_hook(&mut self, hook: Option<TraceHook>) {
        self.bps.trace_hook = hook;
    }

    /// Hands one tracepoint hit to the hook, with the hitting goroutine
    /// selected for the duration of the call.
    pub(crate) fn fire_trace(&mut self, hit: TraceHit) {
        let Some(mut hook) = self.bps.trace_hook.take() else { return };
        let saved = self.sel.clone();
        self.sel = Selection { goroutine: hit.goroutine, thread: Some(hit.tid), frame: 0 };
        hook(self, &hit);
        self.sel = saved;
        // The hook may have installed another hook meanwhile: that one wins.
        if self.bps.trace_hook.is_none() {
            self.bps.trace_hook = Some(hook);
        }
    }

    /// Fires the tracepoints at `pc` for a hit by `tid` where a step ends
    /// (the step's own stop takes precedence over the breakpoints there, but
    /// a logpoint on the line the step lands on still logs). Conditions and
    /// hit conditions apply as for any hit.
    pub(crate) fn fire_tracepoints_at(&mut self, tid: Tid, pc: u64) {
        let traces: Vec<Breakpoint> = self.bps.at(pc).into_iter().filter(|b| b.trace).collect();
        if traces.is_empty() {
            return;
        }
        let goroutine = self.goroutine_of_thread(tid).ok().flatten();
        for bp in traces {
            if let Some(c) = &bp.condition {
                if !self.condition_holds(c, tid) {
                    continue;
                }
            }
            if self.bps.record_hit(bp.id, goroutine) {
                self.fire_trace(TraceHit { id: bp.id, tid, goroutine });
            }
        }
    }
}
