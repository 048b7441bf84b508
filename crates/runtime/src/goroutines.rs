//! Goroutines: reading `runtime.allgs` and each `runtime.g`.

use stillgo_proc::Memory;

use crate::versions::{GStatus, Layout, TLS_G_OFFSET};
use crate::RuntimeError;

/// A goroutine as read from its `runtime.g` at one stop.
#[derive(Debug, Clone)]
pub struct Goroutine {
    /// Address of the `runtime.g`.
    pub addr: u64,
    pub id: u64,
    pub status: GStatus,
    /// Raw `g.waitreason` (meaningful when status is Waiting).
    pub wait_reason: u8,
    /// Saved context from `g.sched` (valid when the goroutine is not running).
    pub sched_pc: u64,
    pub sched_sp: u64,
    pub sched_bp: u64,
    /// Saved context at syscall entry (`entersyscall` saves `syscallsp/pc`).
    pub syscall_sp: u64,
    pub syscall_pc: u64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    /// Start function (`g.startpc`) and the pc of the `go` statement (`g.gopc`).
    pub start_pc: u64,
    pub go_pc: u64,
    /// The `runtime.m` it runs on (0 when not running).
    pub m: u64,
    pub locked_m: u64,
}

impl Goroutine {
    pub fn contains_sp(&self, sp: u64) -> bool {
        self.stack_lo <= sp && sp < self.stack_hi
    }
}

fn u64_at(buf: &[u8], off: u64) -> u64 {
    let o = off as usize;
    buf.get(o..o + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(0)
}

fn u32_at(buf: &[u8], off: u64) -> u32 {
    let o = off as usize;
    buf.get(o..o + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        .unwrap_or(0)
}

/// Reads one `runtime.g` in a single memory read.
pub fn read_goroutine(mem: &dyn Memory, layout: &Layout, addr: u64) -> Result<Goroutine, RuntimeError> {
    let buf = mem.read_vec(addr, layout.g_size as usize)?;
    Ok(decode_g(&buf, layout, addr))
}

fn decode_g(buf: &[u8], l: &Layout, addr: u64) -> Goroutine {
    Goroutine {
        addr,
        id: u64_at(buf, l.g_goid),
        status: GStatus::from_raw(u32_at(buf, l.g_atomicstatus)),
        wait_reason: buf.get(l.g_waitreason as usize).copied().unwrap_or(0),
        sched_pc: u64_at(buf, l.g_sched_pc),
        sched_sp: u64_at(buf, l.g_sched_sp),
        sched_bp: u64_at(buf, l.g_sched_bp),
        syscall_sp: u64_at(buf, l.g_syscallsp),
        syscall_pc: u64_at(buf, l.g_syscallpc),
        stack_lo: u64_at(buf, l.g_stack_lo),
        stack_hi: u64_at(buf, l.g_stack_hi),
        start_pc: u64_at(buf, l.g_startpc),
        go_pc: u64_at(buf, l.g_gopc),
        m: u64_at(buf, l.g_m),
        locked_m: u64_at(buf, l.g_lockedm),
    }
}

/// Every goroutine in `runtime.allgs` that is not dead, in allgs order.
///
/// `allgs` only grows (runtime/proc.go `allgadd`; dead gs are reused from
/// the free list, never removed), so a snapshot at a stop is complete.
pub fn all_goroutines(mem: &dyn Memory, layout: &Layout) -> Result<Vec<Goroutine>, RuntimeError> {
    // allgs is a []*g: {array, len, cap}.
    let hdr = mem.read_vec(layout.allgs, 24)?;
    let array = u64_at(&hdr, 0);
    let len = u64_at(&hdr, 8);
    if len > 50_000_000 {
        return Err(RuntimeError::Corrupt(format!("runtime.allgs has implausible length {len}")));
    }
    let ptrs = mem.read_vec(array, (len * 8) as usize)?;
    let mut out = Vec::with_capacity(len as usize);
    let mut buf = vec![0u8; layout.g_size as usize];
    for chunk in ptrs.chunks_exact(8) {
        let gaddr = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if gaddr == 0 {
            continue;
        }
        if mem.read(gaddr, &mut buf).is_err() {
            continue;
        }
        let g = decode_g(&buf, layout, gaddr);
        if g.status.is_live() {
            out.push(g);
        }
    }
    Ok(out)
}

/// The user goroutine a thread is running, given its `fs_base`: the g in
/// TLS, or, when the thread is on its g0/gsignal stack (runtime code on the
/// system stack, a signal handler), that M's `curg`.
pub fn thread_goroutine_addr(mem: &dyn Memory, layout: &Layout, fs_base: u64) -> Result<Option<u64>, RuntimeError> {
    if fs_base == 0 {
        return Ok(None);
    }
    let g = mem.read_u64(fs_base.wrapping_add(TLS_G_OFFSET as u64))?;
    if g == 0 {
        return Ok(None);
    }
    let m = mem.read_u64(g + layout.g_m)?;
    if m == 0 {
        return Ok(Some(g));
    }
    let g0 = mem.read_u64(m + layout.m_g0)?;
    let gsignal = mem.read_u64(m + layout.m_gsignal)?;
    if g == g0 || g == gsignal {
        let curg = mem.read_u64(m + layout.m_curg)?;
        return Ok(if curg == 0 { None } else { Some(curg) });
    }
    Ok(Some(g))
}

/// Reads `runtime.waitReasonStrings` once: the text for each wait reason.
pub fn wait_reason_table(mem: &dyn Memory, layout: &Layout) -> Vec<String> {
    let Some((addr, len)) = layout.wait_reason_strings else {
        return Vec::new();
    };
    let Ok(hdrs) = mem.read_vec(addr, (len * 16) as usize) else {
        return Vec::new();
    };
    hdrs.chunks_exact(16)
        .map(|h| {
            let p = u64_at(h, 0);
            let n = u64_at(h, 8).min(256) as usize;
            mem.read_vec(p, n).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
        })
        .collect()
}

/// Finds `runtime.allgs` in a binary without symbols or DWARF.
///
/// `runtime.allgadd` (runtime/proc.go) appends every new g to `allgs`, so its
/// code references the slice header RIP-relatively. Each such operand is a
/// candidate; the right one holds a plausible `[]*g` whose first element is
/// the main goroutine (goid 1: `runtime.main`'s g is created first, by
/// `newproc` in `rt0_go`, and `allgs` never drops entries).
pub fn discover_allgs(mem: &dyn Memory, bin: &stillgo_binary::Binary, layout: &Layout) -> Option<u64> {
    use iced_x86::{Decoder, DecoderOptions};
    let pcln = bin.pclntab();
    let mut candidates = Vec::new();
    for name in ["runtime.allgadd", "runtime.forEachG", "runtime.forEachGRace"] {
        let Some(f) = pcln.func_by_name(name) else { continue };
        let Some(code) = bin.read_static(f.entry, (f.end - f.entry) as usize) else { continue };
        let mut dec = Decoder::with_ip(64, code, f.entry, DecoderOptions::NONE);
        while dec.can_decode() {
            let ins = dec.decode();
            if ins.is_ip_rel_memory_operand() {
                let a = ins.ip_rel_memory_address();
                if !candidates.contains(&a) {
                    candidates.push(a);
                }
            }
        }
    }
    candidates.into_iter().find(|&a| {
        let Ok(hdr) = mem.read_vec(a, 24) else { return false };
        let (ptr, len, cap) = (u64_at(&hdr, 0), u64_at(&hdr, 8), u64_at(&hdr, 16));
        if ptr == 0 || len == 0 || len > cap || cap > (1 << 28) {
            return false;
        }
        let Ok(first) = mem.read_u64(ptr) else { return false };
        first != 0 && mem.read_u64(first + layout.g_goid).ok() == Some(1)
    })
}

/// The indirect calls of the runtime functions `select` picks among those
/// that call user code themselves ([`crate::versions::calls_user_code`]:
/// the deferred-call loops of `gopanic`, `deferreturn`, `Goexit`,
/// reflectcall's trampolines): a breakpoint there stops a goroutine right
/// before it enters the user function. Found by decoding their code.
pub fn user_callback_call_sites(bin: &stillgo_binary::Binary, select: fn(&str) -> bool) -> Vec<u64> {
    use iced_x86::{Decoder, DecoderOptions, FlowControl};
    let pcln = bin.pclntab();
    let mut out = Vec::new();
    for f in pcln.funcs() {
        if !select(&f.name) {
            continue;
        }
        let Some(code) = bin.read_static(f.entry, (f.end - f.entry) as usize) else { continue };
        let mut dec = Decoder::with_ip(64, code, f.entry, DecoderOptions::NONE);
        while dec.can_decode() {
            let ins = dec.decode();
            if ins.flow_control() == FlowControl::IndirectCall {
                out.push(ins.ip());
            }
        }
    }
    out
}

/// Return addresses of the calls to `runtime.newproc1` (the function that
/// creates every goroutine: `newproc` for `go` statements, `newcoro`,
/// `debugCallWrap`, synctest), where RAX holds the new `*g` (ABIInternal
/// result) before the goroutine is queued (`runqput` follows in the
/// caller) and `m.curg` is the creating goroutine (the callers run on the
/// system stack). Found by decoding the callers' code.
pub fn newproc1_return_sites(bin: &stillgo_binary::Binary) -> Vec<u64> {
    use iced_x86::{Decoder, DecoderOptions, FlowControl};
    let pcln = bin.pclntab();
    let Some(target) = pcln.func_by_name(crate::versions::NEWPROC1).map(|f| f.entry) else { return Vec::new() };
    let mut out = Vec::new();
    for f in pcln.funcs() {
        if !crate::versions::NEWPROC1_CALLERS.iter().any(|p| f.name.starts_with(p)) {
            continue;
        }
        let Some(code) = bin.read_static(f.entry, (f.end - f.entry) as usize) else { continue };
        let mut dec = Decoder::with_ip(64, code, f.entry, DecoderOptions::NONE);
        while dec.can_decode() {
            let ins = dec.decode();
            if ins.flow_control() == FlowControl::Call && ins.near_branch_target() == target {
                out.push(ins.next_ip());
            }
        }
    }
    out
}
