//! Stack unwinding from the Go symbol table, the way the runtime's own
//! `gentraceback`/`unwinder` does it (runtime/traceback.go): a frame's size
//! at a pc comes from the function's pcsp table, the return address sits
//! right above the frame, and the caller's SP is just above that. This needs
//! no DWARF, so it works on stripped binaries too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use stillgo_binary::Pclntab;
use stillgo_proc::Memory;

use crate::versions::is_top_frame_name;

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
pub struct PcCache(RefCell<HashMap<u64, Option<Arc<PcInfo>>>>);

impl PcCache {
    fn get(&self, pcln: &Pclntab, pc: u64) -> Option<Arc<PcInfo>> {
        if let Some(hit) = self.0.borrow().get(&pc) {
            return hit.clone();
        }
        let info = pc_info(pcln, pc).map(Arc::new);
        self.0.borrow_mut().insert(pc, info.clone());
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
    let mut frames = Vec::new();
    let (mut pc, mut sp, mut bp) = (start.pc, start.sp, start.bp);
    // Whether `pc` is a return address (true for every caller) and must be
    // backed up by one to find the call instruction.
    let mut is_return_addr = false;
    let mut physical = 0usize;
    while frames.len() < max_frames && pc != 0 {
        let lookup_pc = if is_return_addr { pc - 1 } else { pc };
        let Some(info) = cache.get(pcln, lookup_pc) else {
            // Not Go code (or garbage): show the raw pc and stop.
            frames.push(Frame {
                pc,
                lookup_pc,
                sp,
                cfa: 0,
                bp,
                function: None,
                func_entry: 0,
                file: None,
                line: 0,
                inlined: false,
                inline_depth: 0,
                physical,
            });
            break;
        };
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
        if delta >= 8 {
            if let Ok(saved_bp) = mem.read_u64(cfa - 16) {
                bp = saved_bp;
            }
        }
        // After a signal or async preemption the "return address" is the
        // interrupted pc itself, not the instruction after a call
        // (runtime/traceback.go: funcID_sigpanic, asyncPreempt).
        is_return_addr = !matches!(info.function.as_ref(), "runtime.sigpanic" | "runtime.asyncPreempt");
        if ret == 0 || cfa <= sp {
            break;
        }
        pc = ret;
        sp = cfa;
        physical += 1;
    }
    frames
}
