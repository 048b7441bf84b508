//! Disassembly with source positions and symbols, Delve style.

use std::fmt::Write;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, SymbolResolver, SymbolResult};

use crate::program::Program;

/// Function names by entry address, for call and jump targets.
struct Symbols(std::sync::Arc<stillgo_binary::Binary>);

impl SymbolResolver for Symbols {
    fn symbol(&mut self, _ins: &Instruction, _operand: u32, _op: Option<u32>, address: u64, _size: u32) -> Option<SymbolResult<'_>> {
        let f = self.0.pclntab().func_for_pc(address)?;
        if f.entry == address {
            Some(SymbolResult::with_string(address, f.name.to_string()))
        } else {
            None
        }
    }
}

/// Disassembles `[lo, hi)`, marking `pc` with `=>` and breakpoint
/// addresses with a dot.
pub fn disassemble(program: &Program, lo: u64, hi: u64, pc: Option<u64>, bps: &[u64]) -> Result<String, String> {
    let len = hi.saturating_sub(lo) as usize;
    let bytes = program
        .bin
        .read_static(lo, len)
        .ok_or_else(|| format!("no code at {lo:#x}..{hi:#x}"))?;
    let mut dec = Decoder::with_ip(64, bytes, lo, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::with_options(Some(Box::new(Symbols(program.bin.clone()))), None);
    fmt.options_mut().set_first_operand_char_index(8);
    let mut out = String::new();
    if let Some(f) = program.bin.pclntab().func_for_pc(lo) {
        let file = program.line_for_pc(f.entry).map(|(f, _)| f.to_string()).unwrap_or_default();
        let _ = writeln!(out, "TEXT {}(SB) {}", f.name, file);
    }
    let mut text = String::new();
    while dec.can_decode() {
        let ins = dec.decode();
        text.clear();
        fmt.format(&ins, &mut text);
        let at = ins.ip();
        let start = (at - lo) as usize;
        let raw: String = bytes[start..start + ins.len()].iter().map(|b| format!("{b:02x}")).collect();
        let pos = program
            .line_for_pc(at)
            .map(|(f, l)| format!("{}:{}", f.rsplit('/').next().unwrap_or(&f), l))
            .unwrap_or_default();
        let mark = if Some(at) == pc { "=>" } else if bps.contains(&at) { " ." } else { "  " };
        let _ = writeln!(out, "{mark}\t{pos}\t{at:#x}\t{raw:<20}\t{text}");
    }
    Ok(out)
}
