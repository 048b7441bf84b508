//! Register sets of a stopped thread.

use std::fmt;

/// The general-purpose registers of a thread (`PTRACE_GETREGS`), including
/// `fs_base` (Go keeps the current `g` at `fs_base - 8`: runtime/tls_amd64.h
/// / `runtime·settls` in sys_linux_amd64.s).
#[derive(Clone, Copy)]
pub struct Registers(pub libc::user_regs_struct);

macro_rules! accessors {
    ($($get:ident $set:ident $field:ident),* $(,)?) => {
        $(
            #[doc = concat!("Value of `", stringify!($field), "`.")]
            pub fn $get(&self) -> u64 { self.0.$field }
            #[doc = concat!("Sets `", stringify!($field), "`.")]
            pub fn $set(&mut self, v: u64) { self.0.$field = v; }
        )*
    };
}

impl Registers {
    accessors!(
        pc set_pc rip, sp set_sp rsp, bp set_bp rbp,
        rax set_rax rax, rbx set_rbx rbx, rcx set_rcx rcx, rdx set_rdx rdx,
        rsi set_rsi rsi, rdi set_rdi rdi, r8 set_r8 r8, r9 set_r9 r9,
        r10 set_r10 r10, r11 set_r11 r11, r12 set_r12 r12, r13 set_r13 r13,
        r14 set_r14 r14, r15 set_r15 r15, eflags set_eflags eflags,
        fs_base set_fs_base fs_base, gs_base set_gs_base gs_base,
        orig_rax set_orig_rax orig_rax,
    );

    /// The raw kernel structure.
    pub fn raw(&self) -> &libc::user_regs_struct {
        &self.0
    }

    /// The raw kernel structure, mutable.
    pub fn raw_mut(&mut self) -> &mut libc::user_regs_struct {
        &mut self.0
    }

    /// Register by DWARF number (System V AMD64 psABI, figure 3.36:
    /// 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15,
    /// 16 return address = rip).
    pub fn dwarf(&self, reg: u16) -> Option<u64> {
        let r = &self.0;
        Some(match reg {
            0 => r.rax,
            1 => r.rdx,
            2 => r.rcx,
            3 => r.rbx,
            4 => r.rsi,
            5 => r.rdi,
            6 => r.rbp,
            7 => r.rsp,
            8 => r.r8,
            9 => r.r9,
            10 => r.r10,
            11 => r.r11,
            12 => r.r12,
            13 => r.r13,
            14 => r.r14,
            15 => r.r15,
            16 => r.rip,
            _ => return None,
        })
    }
}

impl fmt::Debug for Registers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0;
        f.debug_struct("Registers")
            .field("rip", &format_args!("{:#x}", r.rip))
            .field("rsp", &format_args!("{:#x}", r.rsp))
            .field("rbp", &format_args!("{:#x}", r.rbp))
            .field("rax", &format_args!("{:#x}", r.rax))
            .field("rbx", &format_args!("{:#x}", r.rbx))
            .field("rcx", &format_args!("{:#x}", r.rcx))
            .field("rdx", &format_args!("{:#x}", r.rdx))
            .field("r14", &format_args!("{:#x}", r.r14))
            .field("fs_base", &format_args!("{:#x}", r.fs_base))
            .finish_non_exhaustive()
    }
}

/// The x87/SSE state of a thread (`PTRACE_GETFPREGS`, the FXSAVE layout):
/// xmm0-15 and mxcsr, needed to save and restore a thread around an
/// injected call (Go's register ABI passes floats in X0-X14:
/// src/cmd/compile/abi-internal.md).
#[derive(Clone, Copy)]
pub struct FpRegisters(pub libc::user_fpregs_struct);

impl FpRegisters {
    /// Number of XMM registers on x86-64.
    pub const XMM_COUNT: usize = 16;

    /// XMM register `i` (0-15) as little-endian bytes.
    pub fn xmm(&self, i: usize) -> Option<[u8; 16]> {
        let words = self.0.xmm_space.get(i * 4..i * 4 + 4)?;
        let mut out = [0u8; 16];
        for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        Some(out)
    }

    /// Sets XMM register `i` (0-15); returns false if `i` is out of range.
    pub fn set_xmm(&mut self, i: usize, value: [u8; 16]) -> bool {
        let Some(words) = self.0.xmm_space.get_mut(i * 4..i * 4 + 4) else {
            return false;
        };
        for (w, chunk) in words.iter_mut().zip(value.chunks_exact(4)) {
            let mut b = [0u8; 4];
            b.copy_from_slice(chunk);
            *w = u32::from_le_bytes(b);
        }
        true
    }

    /// The low 64 bits of XMM register `i` as an f64 (a float64 argument or
    /// result in Go's register ABI).
    pub fn xmm_f64(&self, i: usize) -> Option<f64> {
        let b = self.xmm(i)?;
        let mut lo = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        Some(f64::from_le_bytes(lo))
    }

    pub fn mxcsr(&self) -> u32 {
        self.0.mxcsr
    }

    pub fn set_mxcsr(&mut self, v: u32) {
        self.0.mxcsr = v;
    }

    pub fn raw(&self) -> &libc::user_fpregs_struct {
        &self.0
    }

    pub fn raw_mut(&mut self) -> &mut libc::user_fpregs_struct {
        &mut self.0
    }
}

impl fmt::Debug for FpRegisters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FpRegisters")
            .field("mxcsr", &format_args!("{:#x}", self.0.mxcsr))
            .finish_non_exhaustive()
    }
}
