//! The Linux x86-64 kernel's signal frame, as far as a debugger needs it:
//! where the registers of the interrupted code are saved when a thread
//! runs a signal handler (`rt_sigframe` in arch/x86/include/asm/sigframe.h,
//! `struct ucontext` and `struct sigcontext` in the uapi headers).

use crate::memory::Memory;

/// The system call number of `futex(2)` on x86-64, for telling a thread
/// blocked in the kernel's futex wait (`orig_rax` of a stopped thread).
pub const SYS_FUTEX: u64 = libc::SYS_futex as u64;

/// Registers of the interrupted code saved in a signal frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedContext {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
}

/// `uc_stack` (ss_sp, ss_flags + padding, ss_size) precedes `uc_mcontext`.
const UC_STACK_WORDS: usize = 3;
/// `struct sigcontext` up to rip: r8..r15, rdi, rsi, rbp, rbx, rdx, rax,
/// rcx, rsp, rip.
const MCONTEXT_WORDS: usize = 17;
const MC_RBP: usize = 10;
const MC_RSP: usize = 15;
const MC_RIP: usize = 16;

/// The interrupted registers saved by the kernel on a signal stack
/// `[lo, hi)`, searched from `from` (the thread's sp) up: the frame is
/// found by its `uc_stack`, which describes that very stack (`ss_sp = lo`,
/// `ss_size = hi - lo`) and is followed by `uc_mcontext`. The nearest frame
/// above `from` is returned: the current one if handlers nested.
pub fn find_saved_context(mem: &dyn Memory, from: u64, hi: u64, lo: u64) -> Option<SavedContext> {
    let size = hi.checked_sub(lo)?;
    let from = from & !7;
    let buf = mem.read_vec(from, hi.checked_sub(from)? as usize).ok()?;
    let word = |i: usize| buf.get(8 * i..8 * i + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let words = buf.len() / 8;
    let mut i = 0;
    while i + UC_STACK_WORDS + MCONTEXT_WORDS <= words {
        if word(i) == Some(lo) && word(i + 2) == Some(size) {
            let mc = i + UC_STACK_WORDS;
            return Some(SavedContext { pc: word(mc + MC_RIP)?, sp: word(mc + MC_RSP)?, bp: word(mc + MC_RBP)? });
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryError;

    struct Buf(u64, Vec<u8>);
    impl Memory for Buf {
        fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), MemoryError> {
            let len = out.len();
            let bad = || MemoryError { addr, len, reason: "outside the test buffer".into() };
            let off = addr.checked_sub(self.0).ok_or_else(bad)? as usize;
            let src = self.1.get(off..off + len).ok_or_else(bad)?;
            out.copy_from_slice(src);
            Ok(())
        }
    }

    #[test]
    fn finds_the_frame_by_its_uc_stack() {
        let (lo, hi) = (0x1000u64, 0x1000u64 + 0x400);
        let mut words = vec![0u64; 0x400 / 8];
        let at = 40;
        words[at] = lo;
        words[at + 2] = 0x400;
        let mc = at + 3;
        words[mc + 10] = 0xbbbb;
        words[mc + 15] = 0x5555;
        words[mc + 16] = 0x4242;
        let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mem = Buf(lo, bytes);
        assert_eq!(find_saved_context(&mem, lo + 8, hi, lo), Some(SavedContext { pc: 0x4242, sp: 0x5555, bp: 0xbbbb }));
        // Searching from above the frame finds nothing.
        assert_eq!(find_saved_context(&mem, lo + 8 * (at as u64 + 1), hi, lo), None);
    }
}
