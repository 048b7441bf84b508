//! setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints: the
//! client's breakpoints as session breakpoints, the ids the client knows
//! (stable across a rebuild), and setting them again in a rebuilt program.

use stillgo_session::HitCondition;

use crate::dap::protocol::*;

use super::state::*;

impl Engine {
    /// Sets every breakpoint the client asked for in the new session.
    pub(super) fn reapply_breakpoints(&mut self) {
        self.bps.dap_ids.clear();
        self.bps.source_bps.clear();
        self.bps.function_bps.clear();
        self.bps.exception_bps.clear();
        self.bps.logpoints.borrow_mut().clear();
        for (path, (wanted, old)) in std::mem::take(&mut self.bps.source_reqs) {
            let new = self.apply_source(&path, &wanted).unwrap_or_else(|e| {
                wanted.iter().map(|b| BreakpointOut { id: None, verified: false, message: Some(e.clone()), source: None, line: Some(b.line) }).collect()
            });
            let outs = self.carry_ids(&old, new);
            self.bps.source_reqs.insert(path, (wanted, outs));
        }
        let (wanted, old) = std::mem::take(&mut self.bps.function_reqs);
        let new = self.apply_functions(&wanted);
        let outs = self.carry_ids(&old, new);
        self.bps.function_reqs = (wanted, outs);
        let (filters, old) = std::mem::take(&mut self.bps.exception_reqs);
        let new = self.apply_exceptions(&filters);
        let outs = self.carry_ids(&old, new);
        self.bps.exception_reqs = (filters, outs);
    }

    /// Gives breakpoints set again the ids the client knows (the same
    /// position in the same request) and tells it about those that moved
    /// or changed state (`breakpoint` events).
    pub(super) fn carry_ids(&mut self, old: &[BreakpointOut], new: Vec<BreakpointOut>) -> Vec<BreakpointOut> {
        let mut out = Vec::with_capacity(new.len());
        for (i, mut b) in new.into_iter().enumerate() {
            let before = old.get(i);
            match (before.and_then(|o| o.id), b.id) {
                (Some(known), Some(sid)) => {
                    self.bps.dap_ids.insert(sid as u32, known);
                    b.id = Some(known);
                }
                (Some(known), None) => b.id = Some(known),
                (None, Some(sid)) => b.id = Some(self.dap_id(sid as u32)),
                (None, None) => {}
            }
            if let Some(o) = before {
                if b.id.is_some() && (o.verified != b.verified || o.line != b.line || o.message != b.message) {
                    self.out.event("breakpoint", Some(BreakpointEvent { reason: "changed", breakpoint: b.clone() }));
                }
            }
            out.push(b);
        }
        out
    }

    /// The id the client knows for session breakpoint `sid`.
    pub(super) fn dap_id(&mut self, sid: u32) -> i64 {
        if let Some(d) = self.bps.dap_ids.get(&sid) {
            return *d;
        }
        self.bps.next_dap_id += 1;
        let d = self.bps.next_dap_id;
        self.bps.dap_ids.insert(sid, d);
        d
    }

    /// Answers for the client: session ids become the client's ids.
    pub(super) fn expose(&mut self, mut outs: Vec<BreakpointOut>) -> Vec<BreakpointOut> {
        for b in &mut outs {
            if let Some(sid) = b.id {
                b.id = Some(self.dap_id(sid as u32));
            }
        }
        outs
    }

    pub(super) fn set_breakpoints(&mut self, a: SetBreakpointsArgs) -> R<Vec<BreakpointOut>> {
        let path = a.source.path.clone().ok_or("setBreakpoints: source.path is required")?;
        let wanted: Vec<SourceBreakpoint> = match (a.breakpoints, a.lines) {
            (Some(b), _) => b,
            (None, Some(lines)) => lines
                .into_iter()
                .map(|line| SourceBreakpoint { line, column: None, condition: None, hit_condition: None, log_message: None })
                .collect(),
            (None, None) => Vec::new(),
        };
        if self.session.is_none() || self.prog.no_debug {
            let why = if self.prog.no_debug { "running without debugging" } else { "no program yet" };
            return Ok(wanted
                .iter()
                .map(|b| BreakpointOut { id: None, verified: false, message: Some(why.into()), source: None, line: Some(b.line) })
                .collect());
        }
        let outs = self.apply_source(&path, &wanted)?;
        let outs = self.expose(outs);
        self.bps.source_reqs.insert(path, (wanted, outs.clone()));
        Ok(outs)
    }

    /// Sets the breakpoints of one source file (replacing its earlier
    /// ones); the answers carry session ids.
    pub(super) fn apply_source(&mut self, path: &str, wanted: &[SourceBreakpoint]) -> R<Vec<BreakpointOut>> {
        let bpath = self.to_binary_path(path);
        for id in self.bps.source_bps.remove(&bpath).unwrap_or_default() {
            self.bps.logpoints.borrow_mut().remove(&id);
            let _ = self.session()?.clear_breakpoint(id);
        }
        let mut ids = Vec::new();
        let mut out = Vec::new();
        for b in wanted {
            let spec = format!("{bpath}:{}", b.line);
            match self.add_breakpoint(&spec, b.condition.clone(), b.hit_condition.as_deref()) {
                Ok(bo) => {
                    if let Some(id) = bo.id {
                        let id = id as u32;
                        ids.push(id);
                        if let Some(m) = b.log_message.clone() {
                            // A tracepoint: logged by the hook, never a stop.
                            self.bps.logpoints.borrow_mut().insert(id, m);
                            self.session()?.set_tracepoint(id, true).map_err(err)?;
                        }
                    }
                    out.push(bo);
                }
                Err(m) => out.push(BreakpointOut { id: None, verified: false, message: Some(m), source: None, line: Some(b.line) }),
            }
        }
        self.bps.source_bps.insert(bpath, ids);
        Ok(out)
    }

    pub(super) fn add_breakpoint(&mut self, spec: &str, cond: Option<String>, hit: Option<&str>) -> R<BreakpointOut> {
        let cond = cond.filter(|c| !c.trim().is_empty());
        let hc = match hit.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) => Some(HitCondition::parse(h).ok_or_else(|| format!("invalid hit condition {h:?} (use N, == N, > N, >= N, % N...)"))?),
            None => None,
        };
        let s = self.session()?;
        let (bp, _moved) = s.set_breakpoint(spec, cond).map_err(err)?;
        if let Some(hc) = hc {
            s.set_hit_condition(bp.id, Some(hc)).map_err(err)?;
        }
        Ok(BreakpointOut {
            id: Some(bp.id as i64),
            verified: true,
            message: None,
            source: bp.file.as_deref().map(|f| self.source_ref(f)),
            line: Some(bp.line),
        })
    }

    pub(super) fn set_function_breakpoints(&mut self, a: SetFunctionBreakpointsArgs) -> R<Vec<BreakpointOut>> {
        if self.prog.no_debug {
            return Ok(a
                .breakpoints
                .iter()
                .map(|_| BreakpointOut { id: None, verified: false, message: Some("running without debugging".into()), source: None, line: None })
                .collect());
        }
        self.session()?;
        let outs = self.apply_functions(&a.breakpoints);
        let outs = self.expose(outs);
        self.bps.function_reqs = (a.breakpoints, outs.clone());
        Ok(outs)
    }

    pub(super) fn apply_functions(&mut self, wanted: &[FunctionBreakpoint]) -> Vec<BreakpointOut> {
        for id in std::mem::take(&mut self.bps.function_bps) {
            if let Ok(s) = self.session() {
                let _ = s.clear_breakpoint(id);
            }
        }
        let mut out = Vec::new();
        for b in wanted {
            match self.add_breakpoint(&b.name, b.condition.clone(), b.hit_condition.as_deref()) {
                Ok(bo) => {
                    if let Some(id) = bo.id {
                        self.bps.function_bps.push(id as u32);
                    }
                    out.push(bo);
                }
                Err(m) => out.push(BreakpointOut { id: None, verified: false, message: Some(m), source: None, line: None }),
            }
        }
        out
    }

    pub(super) fn set_exception_breakpoints(&mut self, filters: Vec<String>) -> R<Vec<BreakpointOut>> {
        if self.session.is_none() || self.prog.no_debug {
            return Ok(Vec::new());
        }
        let outs = self.apply_exceptions(&filters);
        let outs = self.expose(outs);
        self.bps.exception_reqs = (filters, outs.clone());
        Ok(outs)
    }

    pub(super) fn apply_exceptions(&mut self, filters: &[String]) -> Vec<BreakpointOut> {
        for (id, _) in std::mem::take(&mut self.bps.exception_bps) {
            if let Ok(s) = self.session() {
                let _ = s.clear_breakpoint(id);
            }
        }
        let mut out = Vec::new();
        for f in filters {
            // An unrecovered panic ends in runtime.fatalpanic and a fatal
            // error (throw/fatal) in runtime.fatalthrow (runtime/panic.go),
            // before anything is printed or the process dies: stopping there
            // shows the failing goroutine's stack intact.
            let (func, kind) = match f.as_str() {
                "panic" => ("runtime.fatalpanic", ExceptionKind::Panic),
                "fatal" => ("runtime.fatalthrow", ExceptionKind::Fatal),
                other => {
                    out.push(BreakpointOut { id: None, verified: false, message: Some(format!("unknown exception filter {other:?}")), source: None, line: None });
                    continue;
                }
            };
            let set = self.session().and_then(|s| s.set_breakpoint(func, None).map_err(err));
            match set {
                Ok((bp, _)) => {
                    self.bps.exception_bps.push((bp.id, kind));
                    out.push(BreakpointOut { id: Some(bp.id as i64), verified: true, message: None, source: None, line: None });
                }
                Err(e) => out.push(BreakpointOut { id: None, verified: false, message: Some(e), source: None, line: None }),
            }
        }
        out
    }
}
