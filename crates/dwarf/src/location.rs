//! Evaluation of location descriptions (`exprloc` and location lists).
//!
//! Go's compiler describes a variable either with a single `exprloc`
//! (`-N -l` builds: `DW_OP_fbreg` off the frame base, which is
//! `DW_OP_call_frame_cfa`), or with location lists whose entries use
//! `DW_OP_regN`, `DW_OP_fbreg` and `DW_OP_piece` to split composite values
//! across registers (`cmd/compile/internal/ssagen/ssa.go` and
//! `cmd/compile/internal/dwarfgen`, `BuildFuncDebug`).

use gimli::{EvaluationResult, Reader};

use crate::index::{DebugInfo, R};
use crate::{DwarfError, Location, LocationContext, Piece, PieceLoc, VarLocation, Variable};

impl DebugInfo {
    /// Where `var`'s value is at `pc` in a frame described by `ctx`.
    pub(crate) fn eval_location_file(
        &self,
        var: &Variable,
        pc: u64,
        ctx: &LocationContext<'_>,
    ) -> Result<Location, DwarfError> {
        let cu = self.cus.get(var.cu).ok_or(DwarfError::BadOffset(var.die.0))?;
        let unit = &cu.unit;
        let expr: R = match &var.location {
            VarLocation::None => return Ok(Location::OptimizedAway),
            VarLocation::Expr(b) => R::new(std::sync::Arc::from(b.as_slice()), gimli::LittleEndian),
            VarLocation::List(off) => {
                let mut it = self
                    .dwarf
                    .locations(unit, gimli::LocationListsOffset(*off as usize))?;
                let mut found = None;
                while let Some(entry) = it.next()? {
                    if entry.range.begin <= pc && pc < entry.range.end {
                        found = Some(entry.data.0);
                        break;
                    }
                }
                match found {
                    Some(e) => e,
                    None => return Ok(Location::OptimizedAway),
                }
            }
        };
        if expr.is_empty() {
            return Ok(Location::OptimizedAway);
        }
        let mut eval = gimli::Expression(expr).evaluation(unit.encoding());
        let mut res = eval.evaluate()?;
        loop {
            res = match res {
                EvaluationResult::Complete => break,
                EvaluationResult::RequiresCallFrameCfa | EvaluationResult::RequiresFrameBase => {
                    // Go's DW_AT_frame_base is always DW_OP_call_frame_cfa
                    // (`cmd/internal/dwarf/dwarf.go`, `putInlinedFunc`/`PutDefaultFunc`).
                    if matches!(res, EvaluationResult::RequiresFrameBase) {
                        eval.resume_with_frame_base(ctx.cfa)?
                    } else {
                        eval.resume_with_call_frame_cfa(ctx.cfa)?
                    }
                }
                EvaluationResult::RequiresRegister { register, .. } => {
                    let v = (ctx.regs)(register.0).ok_or(DwarfError::MissingRegister(register.0))?;
                    eval.resume_with_register(gimli::Value::Generic(v))?
                }
                EvaluationResult::RequiresMemory { address, size, .. } => {
                    let n = usize::from(size).min(8);
                    let mut buf = [0u8; 8];
                    let dst = buf.get_mut(..n).ok_or(DwarfError::Memory(address))?;
                    if !(ctx.read_memory)(address, dst) {
                        return Err(DwarfError::Memory(address));
                    }
                    eval.resume_with_memory(gimli::Value::Generic(u64::from_le_bytes(buf)))?
                }
                EvaluationResult::RequiresRelocatedAddress(a) => eval.resume_with_relocated_address(self.to_process(a))?,
                EvaluationResult::RequiresIndexedAddress { index, .. } => {
                    let a = self.dwarf.address(unit, index)?;
                    eval.resume_with_indexed_address(self.to_process(a))?
                }
                EvaluationResult::RequiresTls(_) => return Err(DwarfError::Unavailable("TLS")),
                other => {
                    return Err(DwarfError::Unsupported(format!("location expression needs {other:?}")))
                }
            };
        }
        let pieces = eval.result();
        let conv = |l: &gimli::Location<R>| -> PieceLoc {
            match l {
                gimli::Location::Address { address } => PieceLoc::Address(*address),
                gimli::Location::Register { register } => PieceLoc::Register(register.0),
                gimli::Location::Value { value } => PieceLoc::Value(value.to_u64(u64::MAX).unwrap_or(0)),
                _ => PieceLoc::Unavailable,
            }
        };
        match pieces.as_slice() {
            [] => Ok(Location::OptimizedAway),
            [p] if p.size_in_bits.is_none() => Ok(match conv(&p.location) {
                PieceLoc::Address(a) => Location::Address(a),
                PieceLoc::Register(r) => Location::Register(r),
                PieceLoc::Value(v) => Location::Value(v),
                PieceLoc::Unavailable => Location::OptimizedAway,
            }),
            ps => Ok(Location::Pieces(
                ps.iter()
                    .map(|p| Piece { size: p.size_in_bits.unwrap_or(0) / 8, loc: conv(&p.location) })
                    .collect(),
            )),
        }
    }
}
