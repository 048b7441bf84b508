//! The memory-mapped executable and its loadable segments.

use memmap2::Mmap;

/// A `PT_LOAD` program header: where file bytes are mapped in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub vaddr: u64,
    /// Bytes backed by the file (`p_filesz`); the rest up to `p_memsz` is zero-filled (bss).
    pub filesz: u64,
    pub offset: u64,
}

/// The mapped file, shared between [`crate::Binary`] and [`crate::Pclntab`].
pub(crate) struct Image {
    map: Mmap,
    segments: Vec<Segment>,
    /// Load bias of a position-independent executable: process address =
    /// link address + bias (see [`crate::Binary::open_loaded`]).
    bias: u64,
}

impl Image {
    pub fn new(map: Mmap) -> Self {
        Image {
            map,
            segments: Vec::new(),
            bias: 0,
        }
    }

    pub fn set_segments(&mut self, segments: Vec<Segment>) {
        self.segments = segments;
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    pub fn set_bias(&mut self, bias: u64) {
        self.bias = bias;
    }

    pub fn bias(&self) -> u64 {
        self.bias
    }

    /// File bytes the process has at `[addr, addr+len)` before it ran
    /// (a process address, see [`Image::read_link`]).
    pub fn read_static(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.read_link(addr.wrapping_sub(self.bias), len)
    }

    /// File bytes mapped at link address `[addr, addr+len)`, when the whole
    /// range lies in the file-backed part of one loadable segment.
    pub fn read_link(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let len64 = u64::try_from(len).ok()?;
        let end = addr.checked_add(len64)?;
        let seg = self
            .segments
            .iter()
            .find(|s| addr >= s.vaddr && end <= s.vaddr.saturating_add(s.filesz))?;
        let start = seg.offset.checked_add(addr - seg.vaddr)?;
        let start = usize::try_from(start).ok()?;
        self.map.get(start..start.checked_add(len)?)
    }

    pub fn u32_at(&self, off: usize) -> Option<u32> {
        le_u32(self.map.get(off..off.checked_add(4)?)?)
    }
}

pub(crate) fn le_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

pub(crate) fn le_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}
