//! Reading target memory, the one interface the upper layers need from a process.

/// Error reading or writing target memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot access memory at {addr:#x} ({len} bytes): {reason}")]
pub struct MemoryError {
    pub addr: u64,
    pub len: usize,
    pub reason: String,
}

/// Something whose memory can be read in bulk: a live process (through
/// `process_vm_readv`), or a per-stop cache in front of it.
pub trait Memory {
    /// Fills `buf` from `addr`. Either the whole range is read or an error is
    /// returned. Software breakpoints the debugger inserted are never visible:
    /// the original bytes are returned.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError>;

    fn read_u64(&self, addr: u64) -> Result<u64, MemoryError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn read_u32(&self, addr: u64) -> Result<u32, MemoryError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }
}
