//! Stack unwinding from the Go symbol table, the way the runtime's own
//! `gentraceback`/`unwinder` does it (runtime/traceback.go): a frame's size
//! at a pc comes from the function's pcsp table, the return address sits
//! right above the frame, and the caller's SP is just above that. This needs
//! no DWARF, so it works on stripped binaries too.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use stillgo_binary::Pclntab;
use stillgo_proc::Memory;

use stillgo_binary::native::{NativeRegs, DWARF_RA, DWARF_RBP, DWARF_REGS, DWARF_RSP};

use crate::native::NativeFrames;
use crate::versions::{is_top_frame_name, ASMCGOCALL, ASMCGOCALL_DEPTH_SLOT, ASMCGOCALL_G_SLOT, ASMCGOCALL_LANDINGPAD};

/// Where unwinding starts: a thread's registers, or a parked goroutine's
/// saved `g.sched`.
#[derive(Debug, Clone, Copy)]
pub struct UnwindStart {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
}

/// One logical frame. Inlined calls get frames of their own, sharing the
/// physical frame (same `sp`/`cfa`) of the function they were inlined into.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pc in this frame: the current pc for the innermost frame, the
    /// return address for callers.
    pub pc: u64,
    /// The pc used for source lookup: `pc - 1` for callers (the call
    /// instruction), except after a signal or async-preemption frame.
    pub lookup_pc: u64,
    pub sp: u64,
    /// Canonical frame address: the caller's SP. DWARF frame bases in Go are
    /// `DW_OP_call_frame_cfa`, so variables are found relative to this.
    pub cfa: u64,
    pub bp: u64,
    pub function: Option<Arc<str>>,
    /// Entry of the physical function (not the inlined one).
    pub func_entry: u64,
    pub file: Option<Arc<str>>,
    pub line: u32,
    /// This frame is an inlined call inside the physical frame.
    pub inlined: bool,
    /// The file of a C frame's code (the executable, or a shared library
    /// such as the C library, whose functions may have no symbol).
    pub object: Option<Arc<str>>,
    /// Index into the physical frame's inline chain: 0 is innermost.
    pub inline_depth: usize,
    /// Number of the physical frame this logical frame belongs to.
    pub physical: usize,
}

/// What the symbol table says about one pc, independent of any stack:
/// computed once per pc and shared (100,000 goroutines parked in the same
/// function need it once, not 100,000 times).
#[derive(Debug)]
struct PcInfo {
    function: Arc<str>,
    entry: u64,
    top: bool,
    /// Frame size at the pc (pcsp): the return address is at SP + delta.
    delta: u64,
    /// Inlined calls at the pc, innermost first: (function, file, line),
    /// then the physical function's own position last.
    logical: Vec<(Arc<str>, Option<Arc<str>>, u32)>,
}

/// Per-binary cache of [`PcInfo`], keyed by lookup pc.
#[derive(Default)]
pub struct PcCache {
    pcs: RefCell<HashMap<u64, Option<Arc<PcInfo>>>>,
    /// See [`asmcgocall_frame`].
    asmcgocall_frame: OnceCell<Option<u64>>,
}

impl PcCache {
    fn get(&self, pcln: &Pclntab, pc: u64) -> Option<Arc<PcInfo>> {
        if let Some(hit) = self.pcs.borrow().get(&pc) {
            return hit.clone();
        }
        let info = pc_info(pcln, pc).map(Arc::new);
        self.pcs.borrow_mut().insert(pc, info.clone());
        info
    }
}

fn pc_info(pcln: &Pclntab, pc: u64) -> Option<PcInfo> {
    let func = pcln.func_for_pc(pc)?;
    let delta = pcln.sp_delta(&func, pc).unwrap_or(0).max(0) as u64;
    let (mut file, mut line) = match pcln.line_for_pc(pc) {
        Some((f, l)) => (Some(Arc::<str>::from(f)), l),
        None => (None, 0),
    };
    let mut logical = Vec::new();
    for call in pcln.inline_stack(pc) {
        logical.push((Arc::<str>::from(call.func_name.as_ref()), file.clone(), line));
        // The caller of an inlined body is at the call site: the position
        // of the inlined call's parent pc.
        match pcln.line_for_pc(call.parent_pc) {
            Some((f, l)) => {
                file = Some(Arc::from(f));
                line = l;
            }
            None => line = call.call_line,
        }
    }
    let function: Arc<str> = Arc::from(func.name.as_ref());
    logical.push((function.clone(), file, line));
    let top = is_top_frame_name(&function) || func.is_topframe();
    Some(PcInfo { function, entry: func.entry, top, delta, logical })
}

/// Unwinds up to `max_frames` logical frames.
pub fn unwind(mem: &dyn Memory, pcln: &Pclntab, start: UnwindStart, max_frames: usize) -> Vec<Frame> {
    unwind_cached(mem, pcln, &PcCache::default(), start, max_frames)
}

/// [`unwind`] with a cache of symbol-table lookups kept by the caller.
pub fn unwind_cached(mem: &dyn Memory, pcln: &Pclntab, cache: &PcCache, start: UnwindStart, max_frames: usize) -> Vec<Frame> {
    walk(mem, pcln, cache, None, go_regs(start.pc, start.sp, start.bp), max_frames)
}

/// What unwinding through C needs beyond the Go symbol table.
pub struct Native<'a> {
    pub frames: &'a NativeFrames,
    /// The goroutine whose Go frames lie below a cgo call: its g address
    /// and stack top. `runtime.asmcgocall` saved its depth in that stack,
    /// not its SP (the stack may move during a callback).
    pub g: Option<(u64, u64)>,
}

/// Unwinds a stack that may run through C code: from all the registers of
/// a thread (C frames need more than pc/sp/bp: their CFA can be any
/// register), C frames by their call-frame information, Go frames by the
/// symbol table, across the switch from the system stack back to the
/// goroutine's stack in `runtime.asmcgocall`.
pub fn unwind_native(mem: &dyn Memory, pcln: &Pclntab, cache: &PcCache, native: &Native<'_>, regs: NativeRegs, max_frames: usize) -> Vec<Frame> {
    walk(mem, pcln, cache, Some(native), regs, max_frames)
}

/// Registers of a Go frame: Go code keeps no callee-saved registers, so
/// only these three are known in its callers.
fn go_regs(pc: u64, sp: u64, bp: u64) -> NativeRegs {
    let mut regs = [None; DWARF_REGS];
    regs[DWARF_RA] = Some(pc);
    regs[DWARF_RSP] = Some(sp);
    regs[DWARF_RBP] = Some(bp);
    regs
}

/// The caller of `runtime.asmcgocall` seen from the system stack, where
/// the C function it called (through `asmcgocall_landingpad`) returns to:
/// the save slots tell where the Go stack was (runtime/asm_amd64.s
/// asmcgocall: "save g", "save depth in stack"; on the `nosave` path, taken
/// when already on the system stack, g is 0 and the slot holds the old SP).
fn asmcgocall_caller(mem: &dyn Memory, pcln: &Pclntab, cache: &PcCache, native: Option<&Native<'_>>, sp: u64) -> Option<(u64, u64)> {
    let slot = mem.read_u64(sp + ASMCGOCALL_DEPTH_SLOT).ok()?;
    let g = mem.read_u64(sp + ASMCGOCALL_G_SLOT).ok()?;
    let go_sp = if g == 0 {
        slot
    } else {
        let (want_g, stack_hi) = native?.g?;
        // A g other than the one being unwound: its stack top is unknown.
        if g != want_g {
            return None;
        }
        stack_hi.checked_sub(slot)?
    };
    // The saved SP is the one after asmcgocall's prologue (which pushes BP
    // although the frame is $0: it calls functions): the return address is
    // that frame size above it.
    let frame = *cache.asmcgocall_frame.get_or_init(|| asmcgocall_frame(mem, pcln));
    let ret_at = go_sp + frame?;
    let ret = mem.read_u64(ret_at).ok()?;
    Some((ret, ret_at + 8))
}

/// The frame size of `runtime.asmcgocall` where it saves its SP
/// (`MOVQ SP, DX`), from the function's own pcsp table at that instruction.
fn asmcgocall_frame(mem: &dyn Memory, pcln: &Pclntab) -> Option<u64> {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind, Register};
    let f = pcln.func_by_name(ASMCGOCALL).or_else(|| pcln.func_by_name(&format!("{ASMCGOCALL}.abi0")))?;
    let len = usize::try_from(f.end.checked_sub(f.entry)?).ok()?.min(512);
    let mut code = vec![0u8; len];
    mem.read(f.entry, &mut code).ok()?;
    let mut dec = Decoder::with_ip(64, &code, f.entry, DecoderOptions::NONE);
    let saves_sp = dec.iter().find(|i| {
        i.mnemonic() == Mnemonic::Mov && i.op0_kind() == OpKind::Register && i.op0_register() == Register::RDX && i.op1_kind() == OpKind::Register && i.op1_register() == Register::RSP
    })?;
    u64::try_from(pcln.sp_delta(&f, saves_sp.ip())?).ok()
}

fn walk(mem: &dyn Memory, pcln: &Pclntab, cache: &PcCache, native: Option<&Native<'_>>, mut regs: NativeRegs, max_frames: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    // Whether `pc` is a return address (true for every caller) and must be
    // backed up by one to find the call instruction.
    let mut is_return_addr = false;
    let mut physical = 0usize;
    // The callee was on the system stack: C code, or the Go assembly that
    // calls it.
    let mut from_system_stack = false;
    while frames.len() < max_frames {
        let (Some(pc), Some(sp)) = (regs[DWARF_RA], regs[DWARF_RSP]) else { break };
        let bp = regs[DWARF_RBP].unwrap_or(0);
        if pc == 0 {
            break;
        }
        let lookup_pc = if is_return_addr { pc - 1 } else { pc };
        let Some(info) = cache.get(pcln, lookup_pc) else {
            // Not Go code: C code when its file has CFI for the pc, else
            // garbage, shown as the raw pc where the stack stops.
            let caller = native.and_then(|n| n.frames.caller(mem, &regs, lookup_pc));
            let (function, func_entry) = match native.and_then(|n| n.frames.function(lookup_pc)) {
                Some((name, entry)) => (Some(name), entry),
                None => (None, 0),
            };
            let cfa = caller.and_then(|c| c[DWARF_RSP]).unwrap_or(0);
            let object = native.and_then(|n| n.frames.code_at(lookup_pc)).map(|c| Arc::from(c.path().to_string_lossy()));
            frames.push(Frame { pc, lookup_pc, sp, cfa, bp, function, func_entry, file: None, line: 0, inlined: false, object, inline_depth: 0, physical });
            let Some(caller) = caller else { break };
            regs = caller;
            is_return_addr = true;
            from_system_stack = true;
            physical += 1;
            continue;
        };
        if from_system_stack && info.function.as_ref() == ASMCGOCALL {
            frames.push(Frame {
                pc,
                lookup_pc,
                sp,
                cfa: 0,
                bp,
                function: Some(info.function.clone()),
                func_entry: info.entry,
                file: info.logical.last().and_then(|l| l.1.clone()),
                line: info.logical.last().map_or(0, |l| l.2),
                inlined: false,
                object: None,
                inline_depth: 0,
                physical,
            });
            let Some((ret, caller_sp)) = asmcgocall_caller(mem, pcln, cache, native, sp) else { break };
            if let Some(f) = frames.last_mut() {
                f.cfa = caller_sp;
            }
            regs = go_regs(ret, caller_sp, bp);
            is_return_addr = true;
            from_system_stack = false;
            physical += 1;
            continue;
        }
        let delta = info.delta;
        let cfa = sp + delta + 8;
        let n = info.logical.len();
        for (depth, (function, file, line)) in info.logical.iter().enumerate() {
            if frames.len() >= max_frames {
                break;
            }
            frames.push(Frame {
                pc,
                lookup_pc,
                sp,
                cfa,
                bp,
                function: Some(function.clone()),
                func_entry: info.entry,
                file: file.clone(),
                line: *line,
                inlined: depth + 1 < n,
                object: None,
                inline_depth: depth,
                physical,
            });
        }
        if info.top {
            break;
        }
        // Return address lives at the top of the frame (right below CFA).
        let Ok(ret) = mem.read_u64(cfa - 8) else { break };
        // The frame pointer was pushed right below the return address once
        // the prologue ran.
        let mut caller_bp = bp;
        if delta >= 8 {
            if let Ok(saved_bp) = mem.read_u64(cfa - 16) {
                caller_bp = saved_bp;
            }
        }
        // After a signal or async preemption the "return address" is the
        // interrupted pc itself, not the instruction after a call
        // (runtime/traceback.go: funcID_sigpanic, asyncPreempt).
        is_return_addr = !matches!(info.function.as_ref(), "runtime.sigpanic" | "runtime.asyncPreempt");
        // Still on the system stack while returning through the Go assembly
        // between C and asmcgocall.
        from_system_stack = from_system_stack && info.function.as_ref() == ASMCGOCALL_LANDINGPAD;
        if ret == 0 || cfa <= sp {
            break;
        }
        regs = go_regs(ret, cfa, caller_bp);
        physical += 1;
    }
    frames
}
