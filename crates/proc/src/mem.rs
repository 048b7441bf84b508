//! Raw access to target memory: `process_vm_readv` for bulk reads, with
//! `/proc/pid/mem` as the fallback for pages it refuses and as the write
//! path (it writes through read-only text mappings, like ptrace POKE, but
//! in one call).

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::MemoryError;

const PAGE: u64 = 4096;
/// Linux `UIO_MAXIOV`: at most this many remote iovecs per call.
const MAX_IOV: usize = 1024;

pub(crate) struct RawMemory {
    pid: i32,
    /// `/proc/pid/mem`, opened once: it is bound to the address space at
    /// open time, so it is reopened after an exec.
    file: File,
}

impl RawMemory {
    pub(crate) fn open(pid: i32) -> std::io::Result<RawMemory> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        Ok(RawMemory { pid, file })
    }

    /// Reads exactly `buf.len()` bytes at `addr` (breakpoints visible).
    pub(crate) fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let mut done = 0usize;
        while done < buf.len() {
            let n = self.vm_readv(addr + done as u64, &mut buf[done..]);
            if n == 0 {
                break;
            }
            done += n;
        }
        if done == buf.len() {
            return Ok(());
        }
        // process_vm_readv stops at the first remote iovec it cannot read;
        // /proc/pid/mem uses FOLL_FORCE and can read e.g. PROT_NONE-guarded
        // pages the target may still legitimately own.
        let rest = &mut buf[done..];
        let start = addr + done as u64;
        let mut off = 0usize;
        while off < rest.len() {
            match self.file.read_at(&mut rest[off..], start + off as u64) {
                Ok(0) => {
                    return Err(err(start + off as u64, rest.len() - off, "end of readable memory"))
                }
                Ok(n) => off += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err(start + off as u64, rest.len() - off, &e.to_string())),
            }
        }
        Ok(())
    }

    /// One `process_vm_readv` call covering as much of `buf` as fits in
    /// `MAX_IOV` pages; returns the bytes read (0 on failure at `addr`).
    fn vm_readv(&self, addr: u64, buf: &mut [u8]) -> usize {
        // Split the remote range at page boundaries so that a failure on one
        // page still returns everything before it (partial transfers happen
        // at iovec granularity).
        let mut remote: Vec<libc::iovec> = Vec::new();
        let mut a = addr;
        let end = addr.saturating_add(buf.len() as u64);
        while a < end && remote.len() < MAX_IOV {
            let next = ((a / PAGE) + 1).saturating_mul(PAGE).min(end);
            remote.push(libc::iovec { iov_base: a as *mut libc::c_void, iov_len: (next - a) as usize });
            a = next;
        }
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: (a - addr) as usize };
        // SAFETY: `local` covers memory we own; remote addresses are only
        // interpreted by the kernel in the target's address space.
        let r = unsafe { libc::process_vm_readv(self.pid, &local, 1, remote.as_ptr(), remote.len() as libc::c_ulong, 0) };
        if r <= 0 {
            0
        } else {
            r as usize
        }
    }

    /// Writes all of `data` at `addr` (works on read-only text).
    pub(crate) fn write(&self, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        let mut off = 0usize;
        while off < data.len() {
            match self.file.write_at(&data[off..], addr + off as u64) {
                Ok(0) => return Err(err(addr + off as u64, data.len() - off, "short write")),
                Ok(n) => off += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err(addr + off as u64, data.len() - off, &e.to_string())),
            }
        }
        Ok(())
    }
}

pub(crate) fn err(addr: u64, len: usize, reason: &str) -> MemoryError {
    MemoryError { addr, len, reason: reason.to_string() }
}
