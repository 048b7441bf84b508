//! Stack unwinding from the Go symbol table, the way the runtime's own
//! `gentraceback`/`unwinder` does it (runtime/traceback.go): a frame's size
//! at a pc comes from the function's pcsp table, the return address sits
//! right above the frame, and the caller's SP is just above that. This needs
//! no DWARF, so it works on stripped binaries too.

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

/// Unwinds up to `max_frames` logical frames.
pub fn unwind(mem: &dyn Memory, pcln: &Pclntab, start: UnwindStart, max_frames: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    let (mut pc, mut sp, mut bp) = (start.pc, start.sp, start.bp);
    // Whether `pc` is a return address (true for every caller) and must be
    // backed up by one to find the call instruction.
    let mut is_return_addr = false;
    let mut physical = 0usize;
    while frames.len() < max_frames && pc != 0 {
        let lookup_pc = if is_return_addr { pc - 1 } else { pc };
        let Some(func) = pcln.func_for_pc(lookup_pc) else {
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
        let delta = pcln.sp_delta(&func, lookup_pc).unwrap_or(0).max(0) as u64;
        let cfa = sp + delta + 8;
        let (file, line) = match pcln.line_for_pc(lookup_pc) {
            Some((f, l)) => (Some(Arc::<str>::from(f.as_ref())), l),
            None => (None, 0),
        };
        // Logical frames for calls inlined at this pc, innermost first.
        let inlined = pcln.inline_stack(lookup_pc);
        // Every logical frame of this physical frame shares its registers.
        let logical = |function: Arc<str>, file: Option<Arc<str>>, line: u32, inlined: bool, inline_depth: usize| Frame {
            pc,
            lookup_pc,
            sp,
            cfa,
            bp,
            function: Some(function),
            func_entry: func.entry,
            file,
            line,
            inlined,
            inline_depth,
            physical,
        };
        let mut cur_file = file;
        let mut cur_line = line;
        for (depth, call) in inlined.iter().enumerate() {
            frames.push(logical(Arc::from(call.func_name.as_ref()), cur_file.clone(), cur_line, true, depth));
            // The caller of this inlined body is at the call site, which is
            // the position of the inlined call's parent pc.
            match pcln.line_for_pc(call.parent_pc) {
                Some((f, l)) => {
                    cur_file = Some(Arc::from(f.as_ref()));
                    cur_line = l;
                }
                None => {
                    cur_line = call.call_line;
                }
            }
        }
        let name: Arc<str> = Arc::from(func.name.as_ref());
        frames.push(logical(name.clone(), cur_file, cur_line, false, inlined.len()));
        if is_top_frame_name(&name) || func.is_topframe() {
            break;
        }
        // Return address lives at the top of the frame (right below CFA).
        let Ok(ret) = mem.read_u64(cfa - 8) else { break };
        // The frame pointer was pushed right below the return address once
        // the prologue ran (delta >= 16 in a function with a frame).
        if delta >= 8 {
            if let Ok(saved_bp) = mem.read_u64(cfa - 16) {
                bp = saved_bp;
            }
        }
        // After a signal or async preemption the "return address" is the
        // interrupted pc itself, not the instruction after a call
        // (runtime/traceback.go: funcID_sigpanic, asyncPreempt).
        is_return_addr = !matches!(name.as_ref(), "runtime.sigpanic" | "runtime.asyncPreempt");
        if ret == 0 || cfa <= sp {
            break;
        }
        pc = ret;
        sp = cfa;
        physical += 1;
    }
    frames
}
