//! Where a goroutine can be preempted asynchronously (by the SIGURG the
//! runtime, or the freezer, sends to its thread).
//!
//! runtime/preempt.go `isAsyncSafePoint` decides in the signal handler; the
//! debugger makes the same decision beforehand so it only relies on a signal
//! where the signal will stop the goroutine before it runs another
//! instruction. The rules are the same in Go 1.22 to 1.27 (the runtime's
//! prefix list changed from `runtime/internal/` to `internal/runtime/` as
//! the packages moved; both are checked).

use stillgo_binary::{Func, Pclntab, PCDATA_UNSAFE_POINT};

/// internal/abi/symtab.go `FUNCDATA_LocalsPointerMaps`: functions without it
/// are assembly (or otherwise not well-formed for preemption).
const FUNCDATA_LOCALS_POINTER_MAPS: u8 = 1;
/// internal/abi/symtab.go `UnsafePointSafe`; the other values are
/// `UnsafePointUnsafe` (-2) and the restartable sequences (-3, -4, -5),
/// where the runtime resumes at the start of the sequence or the function
/// rather than at the interrupted pc. The debugger only preempts where the
/// goroutine resumes at the interrupted pc, so those count as unsafe here.
const UNSAFE_POINT_SAFE: i32 = -1;

/// Packages the runtime never preempts asynchronously (preempt.go).
fn never_async_preempted(name: &str) -> bool {
    crate::code::is_runtime_name(name) || name.starts_with("reflect.")
}

/// Whether `pc` (in `f`) is an asynchronous safe point by the code alone:
/// not assembly, marked safe by the compiler (not in an unsafe or a
/// restartable sequence), and the innermost
/// (possibly inlined) function not in a package the runtime never
/// preempts. The thread state conditions of `isAsyncSafePoint` (m.locks,
/// m.mallocing, enough stack) hold in user code and are not checked.
pub fn async_safe_point(pcln: &Pclntab, f: &Func, pc: u64) -> bool {
    if f.is_asm() || pcln.funcdata(f, FUNCDATA_LOCALS_POINTER_MAPS).is_none() {
        return false;
    }
    if pcln.pcdata(f, PCDATA_UNSAFE_POINT, pc).is_some_and(|v| v != UNSAFE_POINT_SAFE) {
        return false;
    }
    let inner = pcln.inline_stack(pc);
    let name = inner.first().map_or(&*f.name, |c| &*c.func_name);
    !never_async_preempted(name)
}

/// Whether `ret` can be a return address: an x86 CALL instruction ends
/// exactly there. `before` holds the bytes just before `ret` (up to 7, the
/// longest CALL form used by Go code). A breakpoint must only be written
/// at an instruction boundary: one inside an instruction corrupts it for
/// every thread that runs it.
pub fn follows_call(before: &[u8], ret: u64) -> bool {
    use iced_x86::{Decoder, DecoderOptions, FlowControl};
    (2..=before.len().min(7)).any(|len| {
        let start = before.len() - len;
        let mut d = Decoder::with_ip(64, &before[start..], ret - len as u64, DecoderOptions::NONE);
        let ins = d.decode();
        !ins.is_invalid() && ins.len() == len && matches!(ins.flow_control(), FlowControl::Call | FlowControl::IndirectCall)
    })
}

/// Whether an instruction starts at `addr`, decoding the function's code
/// (`code`, from `entry`) from its entry: the only sure way to know, since
/// x86 instructions have no fixed length.
pub fn is_instruction_boundary(code: &[u8], entry: u64, addr: u64) -> bool {
    use iced_x86::{Decoder, DecoderOptions};
    let mut d = Decoder::with_ip(64, code, entry, DecoderOptions::NONE);
    while d.can_decode() {
        let ip = d.ip();
        if ip == addr {
            return true;
        }
        if ip > addr {
            return false;
        }
        let ins = d.decode();
        if ins.is_invalid() {
            return false;
        }
    }
    d.ip() == addr
}

#[cfg(test)]
mod tests {
    use super::*;

    // MOVQ 8(SP), AX; CALL rel32; RET
    const CODE: [u8; 11] = [0x48, 0x8b, 0x44, 0x24, 0x08, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3];
    const ENTRY: u64 = 0x401000;

    #[test]
    fn boundaries_are_decoded_from_the_entry() {
        for (off, want) in [(0, true), (1, false), (4, false), (5, true), (6, false), (10, true)] {
            assert_eq!(is_instruction_boundary(&CODE, ENTRY, ENTRY + off), want, "offset {off}");
        }
    }

    #[test]
    fn return_addresses_follow_a_call() {
        assert!(follows_call(&CODE[3..10], ENTRY + 10));
        assert!(!follows_call(&CODE[0..5], ENTRY + 5));
    }
}
