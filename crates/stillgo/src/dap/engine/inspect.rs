//! Looking at a stopped program: stackTrace, scopes and variables,
//! evaluate (expressions, and `call` in the program), setVariable,
//! disassemble.

use std::path::Path;

use stillgo_runtime::Value;
use stillgo_session::{CallOptions, CallOutcome, CallValue};

use crate::dap::protocol::*;
use crate::dap::vars::{self, ChildVal, Kids};

use super::handles::{FrameCtx, Handle, Target};
use super::state::*;

/// Frames unwound for one stack trace (the editor pages through them).
pub(super) const MAX_FRAMES: usize = 1024;

/// Strings copied with the editor's "Copy Value" (evaluate in the
/// `clipboard` context) are read up to this many bytes, not cut at the
/// display limit.
pub(super) const CLIPBOARD_STRING_LEN: usize = 1 << 20;

impl Engine {
    pub(super) fn stack_trace(&mut self, a: StackTraceArgs) -> R<StackTraceBody> {
        let target = self.target_of(a.thread_id)?;
        let s = self.session()?;
        let frames = match target {
            Target::Goroutine(g) => s.goroutine_stack(g, MAX_FRAMES).map_err(err)?,
            Target::Thread(t) => {
                s.select_thread(t).map_err(err)?;
                s.stack(MAX_FRAMES).map_err(err)?
            }
        };
        let total = frames.len() as u64;
        let start = a.start_frame.unwrap_or(0).min(total) as usize;
        let levels = a.levels.filter(|l| *l > 0).unwrap_or(total) as usize;
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate().skip(start).take(levels) {
            let id = self.ids.push_frame(FrameCtx { target, frame: i });
            let name = match (&f.function, &f.object) {
                (Some(function), _) => function.to_string(),
                // A C function without a symbol: which file it is in.
                (None, Some(obj)) => format!("? ({})", obj.rsplit('/').next().unwrap_or(obj)),
                (None, None) => "?".to_string(),
            };
            // Not the user's code (runtime, std internals): shown subtle.
            let runtime = !stillgo_runtime::code::is_user(&name, f.file.as_deref());
            out.push(StackFrame {
                id,
                name,
                source: f.file.as_deref().map(|p| self.source_ref(p)),
                line: f.line,
                column: 1,
                instruction_pointer_reference: format!("{:#x}", f.pc),
                presentation_hint: if runtime { Some("subtle") } else { None },
            });
        }
        Ok(StackTraceBody { stack_frames: out, total_frames: total })
    }

    /// A variable for the client, registering a handle when it has children.
    pub(super) fn make_var(&mut self, ctx: FrameCtx, name: String, value: Value, path: Option<String>) -> R<Variable> {
        let limits = self.cfg.limits;
        let (text, ty, kids) = {
            let s = self.session()?;
            let r = s.reader().map_err(err)?;
            vars::describe(&r, &value, &limits)
        };
        let (named, indexed) = match kids {
            Kids::None => (None, None),
            Kids::Named(n) => (Some(n), None),
            Kids::Indexed(n) => (None, Some(n)),
        };
        let reference = if kids == Kids::None { 0 } else { self.ids.push_var(Handle::Value { ctx, value, path: path.clone() }) };
        Ok(Variable {
            name,
            value: text,
            ty,
            variables_reference: reference,
            named_variables: named,
            indexed_variables: indexed,
            evaluate_name: path,
        })
    }

    pub(super) fn variables(&mut self, a: VariablesArgs) -> R<Vec<Variable>> {
        let (ctx, what) = match self.ids.var(a.variables_reference)? {
            Handle::Scope { ctx, args } => (*ctx, Err(*args)),
            Handle::Value { ctx, value, path } => (*ctx, Ok((value.clone(), path.clone()))),
        };
        self.select(ctx)?;
        match what {
            Err(args) => {
                let (_, fvars) = self.session()?.frame_vars().map_err(err)?;
                let mut out = Vec::new();
                for fv in fvars {
                    let is_arg = !matches!(fv.var.kind, stillgo_dwarf::VarKind::Local);
                    if is_arg != args {
                        continue;
                    }
                    let name = fv.var.name.clone();
                    out.push(self.make_var(ctx, name.clone(), fv.value, Some(name))?);
                }
                Ok(out)
            }
            Ok((value, path)) => {
                if a.filter.as_deref() == Some("named") && matches!(self.kids_of(&value)?, Kids::Indexed(_)) {
                    return Ok(Vec::new());
                }
                let limits = self.cfg.limits;
                let kids = {
                    let s = self.session()?;
                    let r = s.reader().map_err(err)?;
                    vars::children(&r, &value, path.as_deref(), a.start.unwrap_or(0), a.count, &limits).map_err(|e| e.to_string())?
                };
                let mut out = Vec::new();
                for c in kids {
                    match c.value {
                        ChildVal::Val(v) => out.push(self.make_var(ctx, c.name, v, c.path)?),
                        ChildVal::Text { value, ty } => out.push(Variable {
                            name: c.name,
                            value,
                            ty,
                            variables_reference: 0,
                            named_variables: None,
                            indexed_variables: None,
                            evaluate_name: None,
                        }),
                    }
                }
                Ok(out)
            }
        }
    }

    pub(super) fn kids_of(&mut self, v: &Value) -> R<Kids> {
        let limits = self.cfg.limits;
        let s = self.session()?;
        let r = s.reader().map_err(err)?;
        Ok(vars::describe(&r, v, &limits).2)
    }

    /// The frame an evaluation runs in: the given one, or the top frame of
    /// the goroutine that stopped.
    pub(super) fn eval_ctx(&mut self, frame_id: Option<i64>) -> R<FrameCtx> {
        if let Some(id) = frame_id {
            return self.ids.frame(id);
        }
        let s = self.session()?;
        let target = match (s.selected_goroutine(), s.selected_thread()) {
            (Some(g), _) => Target::Goroutine(g),
            (None, Some(t)) => Target::Thread(t),
            _ => return Err("the program is not stopped".into()),
        };
        Ok(FrameCtx { target, frame: 0 })
    }

    pub(super) fn evaluate(&mut self, a: EvaluateArgs) -> R<EvaluateBody> {
        if a.context.as_deref() != Some("clipboard") {
            return self.evaluate_in(&a);
        }
        // "Copy Value" copies the whole string, not the display's cut.
        let shown = self.cfg.limits;
        self.cfg.limits.max_string_len = self.cfg.limits.max_string_len.max(CLIPBOARD_STRING_LEN);
        let r = self.evaluate_in(&a);
        self.cfg.limits = shown;
        r
    }

    /// Evaluates in any context (watch, hover, repl, clipboard, variables):
    /// the context changes only how much of a value is shown.
    pub(super) fn evaluate_in(&mut self, a: &EvaluateArgs) -> R<EvaluateBody> {
        let expr = a.expression.trim();
        if expr.is_empty() {
            return Err("empty expression".into());
        }
        let ctx = self.eval_ctx(a.frame_id)?;
        self.select(ctx)?;
        // Only `call EXPR` runs program code (a frozen-world call through
        // the runtime's debug-call protocol); plain expressions never do.
        if let Some(call) = expr.strip_prefix("call ").map(str::trim).or((expr == "call").then_some("")) {
            if call.is_empty() {
                return Err("call: missing expression, e.g. call f(x)".into());
            }
            return self.evaluate_call(ctx, call);
        }
        let v = self.session()?.eval(expr).map_err(err)?;
        match v {
            stillgo_eval::Val::Const(c) => Ok(EvaluateBody {
                result: stillgo_eval::format_const(&c),
                ty: String::new(),
                variables_reference: 0,
                named_variables: None,
                indexed_variables: None,
            }),
            stillgo_eval::Val::Value(v) => {
                let var = self.make_var(ctx, expr.to_string(), v, Some(expr.to_string()))?;
                Ok(EvaluateBody {
                    result: var.value,
                    ty: var.ty,
                    variables_reference: var.variables_reference,
                    named_variables: var.named_variables,
                    indexed_variables: var.indexed_variables,
                })
            }
        }
    }

    pub(super) fn evaluate_call(&mut self, ctx: FrameCtx, expr: &str) -> R<EvaluateBody> {
        let freeze = self.cfg.freeze_world;
        let s = self.session()?;
        // The session's call path in every context. Whether the other
        // goroutines are frozen is the session's default unless the launch
        // configuration says (`freezeWorld`); a call blocked on the frozen
        // world comes back as an error saying what it waited for.
        let outcome = match freeze {
            None => s.call(expr),
            Some(f) => s.call_with(expr, CallOptions { thaw: !f, ..CallOptions::default() }),
        }
        .map_err(err)?;
        match outcome {
            CallOutcome::Panicked(p) => Err(format!("the call panicked: {p}")),
            CallOutcome::Refused(r) => Err(format!("the call was refused: {r}")),
            CallOutcome::Values(mut vals) => {
                if vals.len() == 1 && matches!(vals[0].value, stillgo_eval::Val::Value(_)) {
                    let Some(CallValue { value: stillgo_eval::Val::Value(v), .. }) = vals.pop() else {
                        return Err("no result".into());
                    };
                    // The result is a temporary: no evaluateName.
                    let var = self.make_var(ctx, expr.to_string(), v, None)?;
                    return Ok(EvaluateBody {
                        result: var.value,
                        ty: var.ty,
                        variables_reference: var.variables_reference,
                        named_variables: var.named_variables,
                        indexed_variables: var.indexed_variables,
                    });
                }
                let limits = self.cfg.limits;
                let s = self.session()?;
                let r = s.reader().map_err(err)?;
                let parts: Vec<String> = vals
                    .iter()
                    .map(|cv| {
                        let text = stillgo_eval::format_val(&r, &cv.value, &limits);
                        if cv.name.is_empty() { text } else { format!("{} = {text}", cv.name) }
                    })
                    .collect();
                let result = if parts.is_empty() { "(no results)".to_string() } else { parts.join(", ") };
                Ok(EvaluateBody { result, ty: String::new(), variables_reference: 0, named_variables: None, indexed_variables: None })
            }
        }
    }

    pub(super) fn set_variable(&mut self, a: SetVariableArgs) -> R<SetVariableBody> {
        let (ctx, lhs) = match self.ids.var(a.variables_reference)? {
            Handle::Scope { ctx, .. } => (*ctx, Some(a.name.clone())),
            Handle::Value { ctx, value, path } => {
                let (ctx, value, path) = (*ctx, value.clone(), path.clone());
                let limits = self.cfg.limits;
                let s = self.session()?;
                let r = s.reader().map_err(err)?;
                let kids = vars::children(&r, &value, path.as_deref(), 0, None, &limits).map_err(|e| e.to_string())?;
                (ctx, kids.into_iter().find(|c| c.name == a.name).and_then(|c| c.path))
            }
        };
        let lhs = lhs.ok_or_else(|| format!("{} cannot be assigned from here", a.name))?;
        self.select(ctx)?;
        let limits = self.cfg.limits;
        let s = self.session()?;
        s.set_var(&format!("{lhs} = {}", a.value)).map_err(err)?;
        let v = s.eval(&lhs).map_err(err)?;
        match v {
            stillgo_eval::Val::Value(v) => {
                let var = self.make_var(ctx, lhs.clone(), v, Some(lhs))?;
                Ok(SetVariableBody { value: var.value, ty: var.ty, variables_reference: var.variables_reference })
            }
            c @ stillgo_eval::Val::Const(_) => {
                let r = s.reader().map_err(err)?;
                Ok(SetVariableBody { value: stillgo_eval::format_val(&r, &c, &limits), ty: String::new(), variables_reference: 0 })
            }
        }
    }

    pub(super) fn disassemble(&mut self, a: DisassembleArgs) -> R<DisassembleBody> {
        let count = usize::try_from(a.instruction_count).map_err(|_| "instructionCount must not be negative".to_string())?;
        // Bound the answer: a client asking for billions of instructions
        // gets an error, not an allocation.
        if count > 100_000 {
            return Err("instructionCount is limited to 100000".into());
        }
        let text = a.memory_reference.trim();
        let base = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => text.parse(),
        }
        .map_err(|_| format!("invalid memoryReference {:?}", a.memory_reference))?;
        let addr = base.wrapping_add_signed(a.offset.unwrap_or(0));
        let s = self.session()?;
        let program = &s.program;
        let func = program.bin.pclntab().func_for_pc(addr).ok_or_else(|| format!("no function at {addr:#x}"))?;
        let listing = stillgo_session::disasm::disassemble(program, func.entry, func.end, None, &[])?;
        struct Ins {
            addr: u64,
            bytes: String,
            text: String,
        }
        let mut ins = Vec::new();
        for line in listing.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 5 {
                continue;
            }
            let Some(a) = cols[2].strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()) else { continue };
            ins.push(Ins { addr: a, bytes: cols[3].trim().to_string(), text: cols[4].trim().to_string() });
        }
        let at = ins.iter().position(|i| i.addr >= addr).unwrap_or(ins.len()) as i64;
        let first = at + a.instruction_offset.unwrap_or(0);
        let mut out = Vec::with_capacity(count);
        for k in 0..count as i64 {
            let idx = first + k;
            match usize::try_from(idx).ok().and_then(|i| ins.get(i)) {
                Some(i) => {
                    let loc = program.line_for_pc(i.addr);
                    out.push(Instruction {
                        address: format!("{:#x}", i.addr),
                        instruction_bytes: Some(i.bytes.clone()),
                        instruction: i.text.clone(),
                        symbol: if i.addr == func.entry { Some(func.name.to_string()) } else { None },
                        location: loc.as_ref().map(|(f, _)| SourceRef {
                            name: Path::new(&**f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                            path: f.to_string(),
                        }),
                        line: loc.map(|(_, l)| l),
                        presentation_hint: None,
                    });
                }
                None => {
                    // Outside the function: placeholders keep the count the
                    // client asked for, at addresses that keep the order.
                    let pseudo = if idx < 0 { func.entry.saturating_sub(idx.unsigned_abs()) } else { func.end + (idx as u64 - ins.len() as u64) };
                    out.push(Instruction {
                        address: format!("{pseudo:#x}"),
                        instruction_bytes: None,
                        instruction: "??".into(),
                        symbol: None,
                        location: None,
                        line: None,
                        presentation_hint: Some("invalid"),
                    });
                }
            }
        }
        Ok(DisassembleBody { instructions: out })
    }
}
