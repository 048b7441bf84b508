//! Variables of a frame: DWARF says where each lives, the frame says where
//! that is now.

use stillgo_dwarf::{DebugInfo, Location, LocationContext, PieceLoc, Variable};

use crate::stack::Frame;
use crate::value::{Loc, Value};
use crate::RuntimeError;
use stillgo_proc::Memory;

/// Registers known in a frame, by DWARF register number (0 rax, 1 rdx,
/// 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip). Only the
/// innermost frame has them all: Go's ABI has no callee-saved registers
/// (cmd/compile/abi-internal.md), so callers know only SP, PC and BP.
#[derive(Debug, Clone, Default)]
pub struct FrameRegs {
    pub regs: [Option<u64>; 17],
}

impl FrameRegs {
    pub fn for_caller(frame: &Frame) -> FrameRegs {
        let mut r = FrameRegs::default();
        r.regs[6] = Some(frame.bp);
        r.regs[7] = Some(frame.sp);
        r.regs[16] = Some(frame.pc);
        r
    }
}

/// A variable with its value located in a frame.
#[derive(Debug, Clone)]
pub struct FrameVar {
    pub var: Variable,
    pub value: Value,
}

/// Locates every variable visible in `frame`.
pub fn frame_variables(
    dwarf: &DebugInfo,
    mem: &dyn Memory,
    frame: &Frame,
    regs: &FrameRegs,
) -> Result<Vec<FrameVar>, RuntimeError> {
    let vars = dwarf.variables(frame.lookup_pc, frame.inline_depth);
    let mut out = Vec::with_capacity(vars.len());
    for mut var in vars {
        let ty = dwarf.type_(var.ty).map_err(|e| RuntimeError::Type(e.to_string()))?;
        let loc = locate(dwarf, mem, frame, regs, &var, ty.size);
        let mut value = Value { ty, loc };
        // The compiler names a variable that escaped to the heap `&x` and
        // describes the stack slot holding its address
        // (cmd/compile/internal/dwarfgen: `n.Heapaddr`). Users think of `x`:
        // show the variable itself.
        if let Some(plain) = var.name.strip_prefix('&') {
            if let stillgo_dwarf::types::TypeKind::Pointer { elem } = value.ty.kind {
                if let (Ok(et), Some(addr)) = (dwarf.type_(elem), pointer_value(mem, &value)) {
                    var.name = plain.to_string();
                    value = Value::at(et, addr);
                }
            }
        }
        out.push(FrameVar { var, value });
    }
    Ok(out)
}

fn locate(dwarf: &DebugInfo, mem: &dyn Memory, frame: &Frame, regs: &FrameRegs, var: &Variable, size: u64) -> Loc {
    let read = |addr: u64, buf: &mut [u8]| mem.read(addr, buf).is_ok();
    let reg = |r: u16| regs.regs.get(r as usize).copied().flatten();
    let ctx = LocationContext { cfa: frame.cfa, regs: &reg, read_memory: &read };
    match dwarf.eval_location(var, frame.lookup_pc, &ctx) {
        Ok(Location::Address(a)) => Loc::Memory(a),
        Ok(Location::Register(r)) => match regs.regs.get(r as usize).copied().flatten() {
            Some(v) => {
                let mut b = v.to_le_bytes().to_vec();
                b.resize(size as usize, 0);
                Loc::Bytes(b.into())
            }
            None => Loc::Unavailable("register not saved in this frame".into()),
        },
        Ok(Location::Pieces(pieces)) => {
            let mut bytes = Vec::with_capacity(size as usize);
            for p in pieces {
                let n = p.size as usize;
                match p.loc {
                    PieceLoc::Address(a) => match mem.read_vec(a, n) {
                        Ok(b) => bytes.extend_from_slice(&b),
                        Err(e) => return Loc::Unavailable(e.to_string()),
                    },
                    PieceLoc::Register(r) => match regs.regs.get(r as usize).copied().flatten() {
                        Some(v) => {
                            let mut b = v.to_le_bytes().to_vec();
                            b.resize(n, 0);
                            bytes.extend_from_slice(&b);
                        }
                        None => return Loc::Unavailable("part of it is in a register not saved in this frame".into()),
                    },
                    PieceLoc::Value(v) => {
                        let mut b = v.to_le_bytes().to_vec();
                        b.resize(n, 0);
                        bytes.extend_from_slice(&b);
                    }
                    PieceLoc::Unavailable => return Loc::OptimizedAway,
                }
            }
            bytes.resize(size as usize, 0);
            Loc::Bytes(bytes.into())
        }
        Ok(Location::Value(v)) => {
            let mut b = v.to_le_bytes().to_vec();
            b.resize(size as usize, 0);
            Loc::Bytes(b.into())
        }
        Ok(Location::OptimizedAway) => Loc::OptimizedAway,
        Err(e) => Loc::Unavailable(e.to_string()),
    }
}

/// The address a pointer-typed value holds, when it can be read and is not nil.
fn pointer_value(mem: &dyn Memory, v: &Value) -> Option<u64> {
    let p = match &v.loc {
        Loc::Memory(a) => mem.read_u64(*a).ok()?,
        Loc::Bytes(b) => u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
        _ => return None,
    };
    (p != 0).then_some(p)
}
