//! The debugger side of the runtime's call-injection protocol
//! (`runtime.debugCallV2`, runtime/asm_amd64.s and runtime/debugcall.go).
//!
//! One injected call, as a state machine driven by the `INT3` traps the
//! runtime executes with a reason code in R12:
//!
//! ```text
//!   start: save regs, push PC, frame size at SP-16, PC = debugCallV2
//!   R12=0  (FRAME_READY)  write args at SP / in registers, push trap PC, PC = fn
//!   R12=1  (RETURNED)     read results from registers and SP
//!   R12=2  (PANICKED)     read the panic value (an interface{}) at SP
//!   R12=8  (REFUSED)      read the reason (a string) at SP
//!   R12=16 (RESTORE)      restore all registers but RIP/RSP; run alone to the pushed PC
//! ```
//!
//! While the call runs every thread of the process runs (as in Delve): the
//! call may need other threads (a garbage collection stops the world and
//! waits for every P; a lock may be held by another goroutine), and until
//! the frozen-world machinery exists, letting them run is what keeps such
//! calls from deadlocking. Other threads' breakpoint hits and traps during
//! the call are stepped over and not reported (their hit counts do not
//! change); the call's own thread is the only one whose traps drive the
//! protocol (`debugCallWrap` locks the call to its thread: runtime/debugcall.go).

use std::sync::Arc;

use stillgo_dwarf::types::Type;
use stillgo_dwarf::DebugInfo;
use stillgo_binary::Pclntab;
use stillgo_proc::{Memory, Process, ResumeMode, StopEvent, Tid};
use stillgo_runtime::versions::{self, debug_call_r12 as r12};
use stillgo_runtime::{Limits, Reader, Value};

use crate::abi::{int_reg, set_int_reg, Assign, FrameLayout, Reg, RegPiece};
use crate::events::wait_alive;
use crate::race;
use crate::hooks::{CallHooks, EventAction, RunAll};
use crate::CallError;

/// An argument (receiver included) ready to be passed: its type and bytes.
#[derive(Debug, Clone)]
pub struct ArgValue {
    pub ty: Arc<Type>,
    pub bytes: Vec<u8>,
}

/// A resolved call: what to run and with what.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// Display name of the callee (for messages).
    pub name: String,
    /// Entry PC of the function to run.
    pub pc: u64,
    /// Closure context (RDX) for func values: the closure record's address.
    pub context: Option<u64>,
    pub args: Vec<ArgValue>,
    /// Result types and names (`~r0` for unnamed results).
    pub results: Vec<(String, Arc<Type>)>,
}

/// A named result of a call.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub name: String,
    pub value: Value,
}

/// How an injected call ended. In every case the goroutine's registers
/// and stack have been restored.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    Returned(Vec<CallResult>),
    /// The call panicked; the panic value, formatted.
    Panicked(String),
    /// The runtime refused to run the call; its reason.
    Refused(String),
}

/// What the injection needs to know about the program.
pub struct CallEnv<'a> {
    pub dwarf: &'a DebugInfo,
    pub pcln: &'a Pclntab,
    /// Address of `runtime.debugCallV2`.
    pub debug_call_v2: u64,
    /// Lowest address of the goroutine's stack (`g.stack.lo`), to check
    /// that the runtime has the room it needs.
    pub stack_lo: Option<u64>,
    pub limits: &'a Limits,
    /// Heap objects the garbage collector must keep while the call runs
    /// although nothing in the program references them yet (allocations
    /// for the arguments of a later call): see [`MAX_ROOTS`].
    pub roots: &'a [u64],
}

/// How many [`CallEnv::roots`] a call can carry. They are loaded into
/// general registers of the goroutine when the injection starts;
/// debugCallV2 saves every general register in its frame first thing
/// ("Save all registers that may contain pointers so they can be
/// conservatively scanned", runtime/asm_amd64.s), and the garbage collector
/// scans that frame conservatively (runtime/mgcmark.go scanframeworker,
/// `isDebugCall`) for as long as the call runs. The registers get their
/// values back when the call ends, like every other.
pub const MAX_ROOTS: usize = 9;

/// The registers carrying roots: not RSP/RIP, R14 (g, read by
/// debugCallCheck), RBP (frame pointer) or RAX (the frame size).
fn set_root_reg(r: &mut stillgo_proc::Registers, i: usize, v: u64) {
    match i {
        0 => r.set_rbx(v),
        1 => r.set_rcx(v),
        2 => r.set_rdi(v),
        3 => r.set_rsi(v),
        4 => r.set_r8(v),
        5 => r.set_r9(v),
        6 => r.set_r10(v),
        7 => r.set_r11(v),
        _ => r.set_r13(v),
    }
}

/// State of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for FRAME_READY (or REFUSED).
    Starting,
    /// The function is running.
    Running,
    /// Outcome known; waiting for RESTORE.
    Finishing,
}

/// Runs one call on thread `tid` (stopped, its goroutine at a safe point in
/// user code) and restores the thread afterwards, whatever happens.
pub fn inject(proc: &mut Process, tid: Tid, env: &CallEnv, spec: &CallSpec, layout: &FrameLayout) -> Result<CallOutcome, CallError> {
    inject_with(proc, tid, env, spec, layout, &mut RunAll)
}

/// [`inject`] with [`CallHooks`].
pub fn inject_with(
    proc: &mut Process,
    tid: Tid,
    env: &CallEnv,
    spec: &CallSpec,
    layout: &FrameLayout,
    hooks: &mut dyn CallHooks,
) -> Result<CallOutcome, CallError> {
    if layout.size > versions::DEBUG_CALL_MAX_FRAME {
        return Err(CallError::Refused(format!(
            "the call's argument frame is {} bytes, more than the runtime's limit of {} (call frame too large)",
            layout.size,
            versions::DEBUG_CALL_MAX_FRAME
        )));
    }
    if env.roots.len() > MAX_ROOTS {
        return Err(CallError::Abi(format!("{} objects to keep alive during the call, at most {MAX_ROOTS}", env.roots.len())));
    }
    let saved = proc.regs(tid)?;
    let saved_fp = proc.fp_regs(tid)?;
    if let Some(lo) = env.stack_lo {
        // Below `lo` is not this goroutine's stack: the thread runs on the
        // system stack (g0, gsignal), where debugCallV2 runs fine and
        // refuses the call itself (runtime/debugcall.go debugCallCheck:
        // "executing on Go runtime stack"), a refusal with its own advice.
        if saved.sp() >= lo && saved.sp() < lo + versions::DEBUG_CALL_STACK_NEEDED + 8 {
            return Err(CallError::Refused("the goroutine has too little stack left for an injected call".into()));
        }
    }
    // Step 2-5 of debugCallV2's doc comment: push the PC, frame size at
    // SP-16, PC = debugCallV2.
    let sp = saved.sp() - 8;
    let mut start = saved;
    proc.write_memory(sp, &saved.pc().to_le_bytes())?;
    proc.write_memory(sp - versions::DEBUG_CALL_FRAME_SIZE_SLOT, &layout.size.to_le_bytes())?;
    start.set_sp(sp);
    start.set_pc(env.debug_call_v2);
    start.set_rax(layout.size);
    for (i, &root) in env.roots.iter().enumerate() {
        set_root_reg(&mut start, i, root);
    }
    proc.set_regs(tid, &start)?;

    let mut phase = Phase::Starting;
    let mut outcome: Option<Result<CallOutcome, CallError>> = None;
    // The stopped goroutine (ABIInternal's g register in user code), on
    // whose behalf the call runs (race.rs).
    let caller_g = saved.r14();
    let mut race_ctx: Option<race::SharedRaceContext> = None;
    loop {
        proc.resume(hooks.resume_mode(tid))?;
        let ev = wait_alive(proc, CallError::Exited)?;
        tracing::trace!(?ev, ?phase, "call event");
        let pc = match ev {
            StopEvent::Trap { tid: t, pc } if t == tid && is_protocol_trap(env.pcln, pc) => pc,
            // Another goroutine's breakpoint, runtime.Breakpoint() or a
            // signal: not ours; resuming steps over / delivers it. An
            // interrupt (Ctrl-C) cannot abandon a running call: the
            // calling goroutine is parked inside debugCallWrap until the
            // call returns.
            StopEvent::Trap { .. } | StopEvent::Breakpoint { .. } | StopEvent::Signal { .. } | StopEvent::Interrupted { .. } => {
                match hooks.foreign_event(proc, &ev)? {
                    EventAction::Continue => continue,
                }
            }
            StopEvent::Exec { .. } => return Err(CallError::Protocol("the program called exec during the call".into())),
            // (The end of the process came back as an error from wait_alive.)
            StopEvent::SingleStep { .. } | StopEvent::ThreadExited { .. } | StopEvent::Exited { .. } | StopEvent::Killed { .. } => {
                return Err(CallError::Protocol(format!("unexpected event during the call: {ev:?}")))
            }
        };
        let regs = proc.regs(tid)?;
        let code = regs.r12();
        // The called function is done (or was never started): the call
        // goroutine gets its own race context back before it ends.
        if matches!(code, r12::RETURNED | r12::PANICKED | r12::RESTORE) {
            if let Some(r) = race_ctx.take() {
                r.give_back(proc)?;
            }
        }
        match (code, phase) {
            (r12::FRAME_READY, Phase::Starting) => {
                let started = hooks.call_started(proc, regs.r14());
                let shared = started.and_then(|()| race::share(proc, env.dwarf, caller_g, regs.r14()));
                match shared.and_then(|r| {
                    race_ctx = r;
                    write_frame(proc, tid, regs, pc, spec, layout)
                }) {
                    Ok(()) => phase = Phase::Running,
                    Err(e) => {
                        // Resuming without redirecting runs debugCallNN on to
                        // its RETURNED trap and the restore path: the call is
                        // abandoned cleanly.
                        outcome = Some(Err(e));
                        phase = Phase::Finishing;
                    }
                }
            }
            (r12::RETURNED, Phase::Running) => {
                outcome = Some(read_results(proc, tid, spec, layout).map(CallOutcome::Returned));
                phase = Phase::Finishing;
            }
            (r12::RETURNED, Phase::Finishing) => {}
            (r12::PANICKED, Phase::Running) => {
                outcome = Some(Ok(CallOutcome::Panicked(read_panic(proc, env, regs.sp()))));
                phase = Phase::Finishing;
            }
            (r12::REFUSED, Phase::Starting) => {
                let reason = read_go_string(proc, regs.sp()).unwrap_or_else(|_| "unknown reason".into());
                outcome = Some(Ok(CallOutcome::Refused(reason)));
                phase = Phase::Finishing;
            }
            (r12::RESTORE, _) => {
                restore(proc, tid, &saved, &saved_fp)?;
                return outcome.unwrap_or_else(|| Err(CallError::Protocol("the runtime ended the call without running it".into())));
            }
            (other, ph) => {
                // Not a protocol trap we expect (e.g. a stray INT3 in code the
                // call runs): note it and keep going; the runtime will reach
                // RESTORE on its own.
                tracing::warn!(code = other, ?ph, pc, "unexpected trap during injected call");
            }
        }
    }
}

/// Whether an INT3 that left the PC at `pc` is one of the protocol's (in
/// `runtime.debugCallV2`, a `debugCallNN` frame or
/// `runtime.debugCallPanicked`, runtime/asm_amd64.s), not one the called
/// code executed (`runtime.Breakpoint()`), whose R12 means nothing.
fn is_protocol_trap(pcln: &Pclntab, pc: u64) -> bool {
    pcln.func_for_pc(pc.wrapping_sub(1)).is_some_and(|f| {
        let n: &str = &f.name;
        n == versions::DEBUG_CALL_V2 || n == versions::DEBUG_CALL_PANICKED || n.strip_prefix(versions::DEBUG_CALL_FRAME_FN_PREFIX).is_some_and(|d| d.parse::<u64>().is_ok())
    })
}

/// R12=0: the frame is allocated at SP. Write stack arguments, load
/// register arguments, push the trapping PC, jump to the function.
fn write_frame(proc: &mut Process, tid: Tid, mut regs: stillgo_proc::Registers, trap_pc: u64, spec: &CallSpec, layout: &FrameLayout) -> Result<(), CallError> {
    let base = regs.sp();
    let mut fp = proc.fp_regs(tid)?;
    let mut frame = vec![0u8; layout.size as usize];
    for (arg, asg) in spec.args.iter().zip(&layout.args) {
        match asg {
            Assign::Stack(off) => {
                let o = *off as usize;
                let dst = frame
                    .get_mut(o..o + arg.bytes.len())
                    .ok_or_else(|| CallError::Abi(format!("argument of type {} outside the frame", arg.ty.name)))?;
                dst.copy_from_slice(&arg.bytes);
            }
            Assign::Regs(pieces) => {
                for p in pieces {
                    let bytes = piece_bytes(&arg.bytes, p)?;
                    match p.reg {
                        Reg::Int(i) => set_int_reg(&mut regs, i, u64_of(&bytes)),
                        Reg::Float(i) => {
                            let mut x = [0u8; 16];
                            let n = bytes.len().min(16);
                            x[..n].copy_from_slice(&bytes[..n]);
                            fp.set_xmm(i as usize, x);
                        }
                    }
                }
            }
        }
    }
    if !frame.is_empty() {
        proc.write_memory(base, &frame)?;
    }
    // The function returns to the instruction after the FRAME_READY INT3,
    // which sets R12=1 and traps again (DEBUG_CALL_FN in asm_amd64.s).
    let sp = base - 8;
    proc.write_memory(sp, &trap_pc.to_le_bytes())?;
    regs.set_sp(sp);
    regs.set_pc(spec.pc);
    if let Some(ctx) = spec.context {
        regs.set_rdx(ctx);
    }
    proc.set_fp_regs(tid, &fp)?;
    proc.set_regs(tid, &regs)?;
    Ok(())
}

fn piece_bytes(value: &[u8], p: &RegPiece) -> Result<Vec<u8>, CallError> {
    value
        .get(p.offset as usize..(p.offset + p.size) as usize)
        .map(|b| b.to_vec())
        .ok_or_else(|| CallError::Abi("value shorter than its type".into()))
}

fn u64_of(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    let n = b.len().min(8);
    x[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(x)
}

/// R12=1: results are in the result registers and at SP (the frame's base,
/// which may have moved if the call's goroutine stack grew).
fn read_results(proc: &Process, tid: Tid, spec: &CallSpec, layout: &FrameLayout) -> Result<Vec<CallResult>, CallError> {
    let regs = proc.regs(tid)?;
    let fp = proc.fp_regs(tid)?;
    let base = regs.sp();
    let mut out = Vec::with_capacity(spec.results.len());
    for ((name, ty), asg) in spec.results.iter().zip(&layout.results) {
        let mut bytes = vec![0u8; ty.size as usize];
        match asg {
            Assign::Stack(off) => {
                if !bytes.is_empty() {
                    bytes = proc.read_vec(base + off, ty.size as usize)?;
                }
            }
            Assign::Regs(pieces) => {
                for p in pieces {
                    let src: Vec<u8> = match p.reg {
                        Reg::Int(i) => int_reg(&regs, i).to_le_bytes().to_vec(),
                        Reg::Float(i) => fp.xmm(i as usize).map(|x| x.to_vec()).unwrap_or_default(),
                    };
                    let (o, n) = (p.offset as usize, p.size as usize);
                    let dst = bytes.get_mut(o..o + n).ok_or_else(|| CallError::Abi("result piece outside its value".into()))?;
                    let s = src.get(..n).ok_or_else(|| CallError::Abi("register narrower than a result piece".into()))?;
                    dst.copy_from_slice(s);
                }
            }
        }
        out.push(CallResult { name: name.clone(), value: Value::bytes(ty.clone(), bytes) });
    }
    Ok(out)
}

/// A Go string header (ptr, len) at `addr`, read as text.
fn read_go_string(proc: &Process, addr: u64) -> Result<String, CallError> {
    let ptr = proc.read_u64(addr)?;
    let len = proc.read_u64(addr + 8)?.min(1 << 16);
    let bytes = proc.read_vec(ptr, len as usize)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// R12=2: the panic value, an `interface{}` at SP
/// (runtime·debugCallPanicked copies `val` to 0(SP) and 8(SP)).
fn read_panic(proc: &Process, env: &CallEnv, sp: u64) -> String {
    let raw = match proc.read_vec(sp, 16) {
        Ok(b) => b,
        Err(e) => return format!("<panic value unreadable: {e}>"),
    };
    let Some(eface) = ["interface {}", "any"].iter().find_map(|n| env.dwarf.type_by_name(n)).and_then(|id| env.dwarf.type_(id).ok()) else {
        return format!("<panic value of type at {:#x}>", u64_of(&raw[..8]));
    };
    let reader = Reader::new(proc, env.dwarf, env.pcln);
    let v = Value::bytes(eface, raw);
    match reader.interface_value(&v) {
        // As the runtime prints them (runtime/panic.go printpanicval): a
        // string as is; runtime.errorString's Error() adds "runtime error: "
        // (runtime/error.go); runtime.plainError is the bare string.
        Ok(Some((tn, Some(inner)))) if tn == "string" || tn == "runtime.errorString" || tn == "runtime.plainError" => {
            let prefix = if tn == "runtime.errorString" { "runtime error: " } else { "" };
            match reader.string(&inner, 1 << 12) {
                Ok((s, _)) => format!("{prefix}{s}"),
                Err(_) => reader.format(&inner, env.limits),
            }
        }
        Ok(Some((tn, Some(inner)))) if tn == "runtime.boundsError" => bounds_error(&reader, &inner).unwrap_or_else(|| reader.format(&inner, env.limits)),
        Ok(Some((_, Some(inner)))) => reader.format(&inner, env.limits),
        Ok(Some((tn, None))) => format!("<{tn}>"),
        Ok(None) => "nil".into(),
        Err(e) => format!("<panic value unreadable: {e}>"),
    }
}

/// `runtime error: index out of range [10] with length 4`, as
/// `boundsError.Error` formats it (runtime/error.go; negative indexes get
/// the runtime's shorter message).
fn bounds_error(reader: &Reader, v: &Value) -> Option<String> {
    let num = |name: &str| -> Option<i128> { reader.field(v, name).ok().flatten().and_then(|f| reader.as_i128(&f).ok()) };
    let (x, y, signed, code) = (num("x")?, num("y")?, num("signed")? != 0, num("code")?);
    let code = usize::try_from(code).ok()?;
    let mut fmt = *versions::BOUNDS_ERROR_FMTS.get(code)?;
    if signed && x < 0 {
        if let Some(neg) = versions::BOUNDS_NEG_ERROR_FMTS.get(code) {
            fmt = neg;
        }
    }
    let x = if signed { x } else { x as u64 as i128 };
    Some(format!("runtime error: {}", fmt.replace("%x", &x.to_string()).replace("%y", &y.to_string())))
}

/// R12=16: restore every register but RIP and RSP, then let the runtime's
/// restore sequence run (it reloads the pointer registers it saved, which
/// stack copying may have updated, and returns to the pushed PC) alone, up
/// to a breakpoint at the original PC, so the thread stops exactly where it
/// was. (Single-stepping the ~16 instructions costs a ptrace round trip
/// each; one temporary breakpoint costs one.)
fn restore(proc: &mut Process, tid: Tid, saved: &stillgo_proc::Registers, saved_fp: &stillgo_proc::FpRegisters) -> Result<(), CallError> {
    let cur = proc.regs(tid)?;
    let mut r = *saved;
    r.set_pc(cur.pc());
    r.set_sp(cur.sp());
    proc.set_regs(tid, &r)?;
    proc.set_fp_regs(tid, saved_fp)?;
    let back = |proc: &Process| proc.regs(tid).map(|now| now.pc() == saved.pc() && now.sp() == saved.sp());
    // The original PC usually holds the user's breakpoint already.
    let temporary = !proc.has_breakpoint(saved.pc());
    if temporary {
        proc.set_breakpoint(saved.pc())?;
    }
    let mut result = Err(CallError::Protocol("the runtime did not return to the call site after the call".into()));
    for _ in 0..versions::DEBUG_CALL_RESTORE_MAX_STEPS {
        proc.resume(ResumeMode::Only(vec![tid]))?;
        match wait_alive(proc, CallError::Exited)? {
            StopEvent::Breakpoint { tid: t, .. } if t == tid && back(proc)? => {
                result = Ok(());
                break;
            }
            StopEvent::Breakpoint { .. } | StopEvent::Signal { .. } | StopEvent::Interrupted { .. } => {}
            other => {
                result = Err(CallError::Protocol(format!("unexpected event while restoring: {other:?}")));
                break;
            }
        }
    }
    if temporary {
        proc.remove_breakpoint(saved.pc())?;
    }
    if result.is_ok() {
        // Every register as before the call (the runtime's reloads are the
        // same values unless the stack moved, which cannot happen to the
        // calling goroutine: debugCallWrap sets asyncSafePoint, which also
        // prevents stack shrinks).
        proc.set_regs(tid, saved)?;
        return Ok(());
    }
    // Could not get back: put everything back by hand (the original stack
    // is unchanged apart from the area below SP).
    proc.set_regs(tid, saved)?;
    result.map_err(|e| CallError::Protocol(format!("{e}; registers restored by hand")))
}
