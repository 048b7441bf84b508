//! Go's register-based calling convention (ABIInternal) on amd64, as
//! specified in `src/cmd/compile/abi-internal.md`: which registers and which
//! stack slots hold each argument and result of a call.

use std::sync::Arc;

use stillgo_dwarf::types::{Type, TypeKind};
use stillgo_runtime::Reader;

use crate::CallError;

/// Integer argument registers, in assignment order (abi-internal.md,
/// "amd64 architecture": RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11).
pub const INT_REGS: usize = 9;
/// Floating-point argument registers X0-X14.
pub const FLOAT_REGS: usize = 15;
const PTR: u64 = 8;

/// Integer argument registers in ABI order, as accessors on the register set.
pub(crate) fn set_int_reg(r: &mut stillgo_proc::Registers, i: u8, v: u64) {
    match i {
        0 => r.set_rax(v),
        1 => r.set_rbx(v),
        2 => r.set_rcx(v),
        3 => r.set_rdi(v),
        4 => r.set_rsi(v),
        5 => r.set_r8(v),
        6 => r.set_r9(v),
        7 => r.set_r10(v),
        _ => r.set_r11(v),
    }
}

pub(crate) fn int_reg(r: &stillgo_proc::Registers, i: u8) -> u64 {
    match i {
        0 => r.rax(),
        1 => r.rbx(),
        2 => r.rcx(),
        3 => r.rdi(),
        4 => r.rsi(),
        5 => r.r8(),
        6 => r.r9(),
        7 => r.r10(),
        _ => r.r11(),
    }
}

/// The registers ABIInternal fixes on entry to any Go function
/// (abi-internal.md, "amd64 architecture"): R14 holds the current `g`, X15
/// is zero. Code the debugger starts on a thread by setting its PC (not
/// through debugCallV2, which sets them itself) must set them first.
pub fn set_fixed_regs(r: &mut stillgo_proc::Registers, fp: &mut stillgo_proc::FpRegisters, g: u64) {
    r.set_r14(g);
    fp.set_xmm(15, [0; 16]);
}


/// A register of the argument sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// Index into RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11.
    Int(u8),
    /// Index into X0-X14.
    Float(u8),
}

/// A base value of an argument or result (a scalar component) and the
/// register it travels in: `size` bytes at `offset` in the value's memory
/// layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegPiece {
    pub offset: u64,
    pub size: u64,
    pub reg: Reg,
}

/// Where one argument or result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assign {
    /// Entirely in registers (possibly none, for values without scalars).
    Regs(Vec<RegPiece>),
    /// Entirely on the stack, at this offset from the callee's argument
    /// frame start (the SP at the call, before the return PC is pushed).
    Stack(u64),
}

/// The argument frame of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLayout {
    pub args: Vec<Assign>,
    pub results: Vec<Assign>,
    /// Total size of the stack part: stack arguments, stack results, spill
    /// space for register arguments, each group pointer-aligned.
    pub size: u64,
}

fn align_up(x: u64, a: u64) -> u64 {
    if a <= 1 {
        x
    } else {
        x.div_ceil(a) * a
    }
}

/// Alignment of a type in memory (Go's `Type.Align_` for amd64).
pub fn align_of(r: &Reader, t: &Arc<Type>) -> Result<u64, CallError> {
    align_depth(r, t, 0)
}

fn align_depth(r: &Reader, t: &Arc<Type>, depth: u32) -> Result<u64, CallError> {
    if depth > 64 {
        return Err(CallError::Abi(format!("type {} is nested too deeply", t.name)));
    }
    let u = r.underlying(t)?;
    Ok(match &u.kind {
        TypeKind::Bool | TypeKind::Int | TypeKind::Uint | TypeKind::Float => u.size.clamp(1, PTR),
        TypeKind::Complex => (u.size / 2).clamp(1, PTR),
        TypeKind::Struct { fields } => {
            let mut a = 1;
            for f in fields {
                a = a.max(align_depth(r, &r.ty(f.ty)?, depth + 1)?);
            }
            a
        }
        TypeKind::Array { elem, .. } => align_depth(r, &r.ty(*elem)?, depth + 1)?,
        _ => PTR,
    })
}

/// Register and stack cursors of the assignment algorithm.
struct Cursor {
    int: usize,
    float: usize,
    stack: u64,
}

impl Cursor {
    /// Register-assigns `t` (at `base` within the top-level value), pushing
    /// pieces; false when it does not fit or cannot go in registers.
    fn regs(&mut self, r: &Reader, t: &Arc<Type>, base: u64, out: &mut Vec<RegPiece>, depth: u32) -> Result<bool, CallError> {
        if depth > 64 {
            return Ok(false);
        }
        let u = r.underlying(t)?;
        let int = |c: &mut Cursor, out: &mut Vec<RegPiece>, off: u64, size: u64| {
            if c.int >= INT_REGS {
                return false;
            }
            out.push(RegPiece { offset: off, size, reg: Reg::Int(c.int as u8) });
            c.int += 1;
            true
        };
        let float = |c: &mut Cursor, out: &mut Vec<RegPiece>, off: u64, size: u64| {
            if c.float >= FLOAT_REGS {
                return false;
            }
            out.push(RegPiece { offset: off, size, reg: Reg::Float(c.float as u8) });
            c.float += 1;
            true
        };
        Ok(match &u.kind {
            TypeKind::Bool | TypeKind::Int | TypeKind::Uint if u.size <= PTR => int(self, out, base, u.size),
            TypeKind::Float if u.size == 4 || u.size == 8 => float(self, out, base, u.size),
            TypeKind::Complex if u.size == 8 || u.size == 16 => {
                let h = u.size / 2;
                float(self, out, base, h) && float(self, out, base + h, h)
            }
            TypeKind::Pointer { .. } | TypeKind::Map { .. } | TypeKind::Chan { .. } | TypeKind::Func | TypeKind::UnsafePointer => {
                int(self, out, base, PTR)
            }
            TypeKind::String | TypeKind::Interface { .. } => int(self, out, base, PTR) && int(self, out, base + PTR, PTR),
            TypeKind::Slice { .. } => {
                int(self, out, base, PTR) && int(self, out, base + PTR, PTR) && int(self, out, base + 2 * PTR, PTR)
            }
            TypeKind::Struct { fields } => {
                for f in fields {
                    let ft = r.ty(f.ty)?;
                    if !self.regs(r, &ft, base + f.offset, out, depth + 1)? {
                        return Ok(false);
                    }
                }
                true
            }
            TypeKind::Array { len: 0, .. } => true,
            TypeKind::Array { elem, len: 1 } => {
                let et = r.ty(*elem)?;
                self.regs(r, &et, base, out, depth + 1)?
            }
            _ => false,
        })
    }

    /// Adds `t` to the stack sequence S; returns its offset.
    fn stack_field(&mut self, r: &Reader, t: &Arc<Type>) -> Result<u64, CallError> {
        let off = align_up(self.stack, align_of(r, t)?);
        self.stack = off + t.size;
        Ok(off)
    }

    /// "Assigning a receiver, argument, or result V of underlying type T".
    fn assign(&mut self, r: &Reader, t: &Arc<Type>) -> Result<Assign, CallError> {
        let (si, sf) = (self.int, self.float);
        if t.size == 0 {
            return Ok(Assign::Stack(self.stack_field(r, t)?));
        }
        let mut pieces = Vec::new();
        if self.regs(r, t, 0, &mut pieces, 0)? {
            return Ok(Assign::Regs(pieces));
        }
        self.int = si;
        self.float = sf;
        Ok(Assign::Stack(self.stack_field(r, t)?))
    }
}

/// Lays out a call of a function whose receiver and arguments have types
/// `args` and whose results have types `results` (abi-internal.md, "Function
/// call argument and result passing").
pub fn layout(r: &Reader, args: &[Arc<Type>], results: &[Arc<Type>]) -> Result<FrameLayout, CallError> {
    let mut c = Cursor { int: 0, float: 0, stack: 0 };
    let mut a = Vec::with_capacity(args.len());
    for t in args {
        a.push(c.assign(r, t)?);
    }
    c.stack = align_up(c.stack, PTR);
    c.int = 0;
    c.float = 0;
    let mut res = Vec::with_capacity(results.len());
    for t in results {
        res.push(c.assign(r, t)?);
    }
    c.stack = align_up(c.stack, PTR);
    // Spill space for every register-assigned argument, in its memory layout.
    for (t, asg) in args.iter().zip(&a) {
        if matches!(asg, Assign::Regs(_)) {
            c.stack_field(r, t)?;
        }
    }
    c.stack = align_up(c.stack, PTR);
    Ok(FrameLayout { args: a, results: res, size: c.stack })
}
