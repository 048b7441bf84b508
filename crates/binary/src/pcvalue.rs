//! Decoding of pc-value tables (`pctab`).
//!
//! Each table is a sequence of pairs `(value delta, pc delta)`: the value
//! delta is a zig-zag encoded varint, the pc delta an unsigned varint in
//! units of the instruction quantum (1 on amd64). The value starts at -1 and
//! the pc at the function entry; after applying a pair, the value holds for
//! `[old pc, new pc)`. A zero value delta ends the table, except on the
//! very first pair (runtime/symtab.go `step`, `readvarint`, `pcvalue`;
//! written by cmd/internal/obj/pcln.go `funcpctab`).

/// `sys.PCQuantum` on amd64.
const PC_QUANTUM: u64 = 1;

/// Iterator over the `[start, end)` ranges of a pc-value table and their values.
#[derive(Clone)]
pub(crate) struct PcValues<'a> {
    p: &'a [u8],
    entry: u64,
    pc: u64,
    val: i32,
    done: bool,
}

impl<'a> PcValues<'a> {
    pub fn new(table: &'a [u8], entry: u64) -> Self {
        PcValues {
            p: table,
            entry,
            pc: entry,
            val: -1,
            done: false,
        }
    }

    /// The value at `pc`, if the table covers it.
    pub fn lookup(self, pc: u64) -> Option<i32> {
        if pc < self.entry {
            return None;
        }
        for (start, end, val) in self {
            if pc >= start && pc < end {
                return Some(val);
            }
        }
        None
    }
}

/// Reads an unsigned LEB128 varint of at most 32 bits (runtime `readvarint`).
fn read_varint(p: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, &b) in p.iter().enumerate().take(5) {
        v |= u32::from(b & 0x7f) << (7 * i as u32);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

impl Iterator for PcValues<'_> {
    type Item = (u64, u64, i32);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // runtime.pcvalue passes `first = pc == f.entry()`.
        let first = self.pc == self.entry;
        let step = (|| {
            let (uv, n) = read_varint(self.p)?;
            if uv == 0 && !first {
                return None;
            }
            let rest = self.p.get(n..)?;
            let (pcdelta, m) = read_varint(rest)?;
            let rest = rest.get(m..)?;
            // Zig-zag decoding: int32(-(uv & 1) ^ (uv >> 1)).
            let delta = ((uv >> 1) as i32) ^ -((uv & 1) as i32);
            Some((delta, u64::from(pcdelta) * PC_QUANTUM, rest))
        })();
        match step {
            Some((delta, pcdelta, rest)) => {
                self.p = rest;
                self.val = self.val.wrapping_add(delta);
                let start = self.pc;
                self.pc = self.pc.saturating_add(pcdelta);
                Some((start, self.pc, self.val))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// Walks two pc-value tables of the same function together, yielding
/// non-empty ranges with both values.
pub(crate) fn zip_tables<'a>(
    mut a: PcValues<'a>,
    mut b: PcValues<'a>,
) -> impl Iterator<Item = (u64, u64, i32, i32)> + 'a {
    let mut ca = a.next();
    let mut cb = b.next();
    let mut pc = a.entry;
    std::iter::from_fn(move || loop {
        let ((_, ea, va), (_, eb, vb)) = (ca?, cb?);
        let end = ea.min(eb);
        let start = pc;
        pc = pc.max(end);
        if ea <= end {
            ca = a.next();
        }
        if eb <= end {
            cb = b.next();
        }
        if end > start {
            return Some((start, end, va, vb));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_runtime_example() {
        // value -1 -> 0 (delta +1 = zigzag 2) for 3 bytes, then +8 (zigzag 16) for 5 bytes,
        // then -8 (zigzag 15) for 1 byte, then end.
        let t = [2u8, 3, 16, 5, 15, 1, 0];
        let v: Vec<_> = PcValues::new(&t, 100).collect();
        assert_eq!(v, vec![(100, 103, 0), (103, 108, 8), (108, 109, 0)]);
        assert_eq!(PcValues::new(&t, 100).lookup(104), Some(8));
        assert_eq!(PcValues::new(&t, 100).lookup(109), None);
        assert_eq!(PcValues::new(&t, 100).lookup(99), None);
        // Truncated tables stop instead of panicking.
        assert_eq!(PcValues::new(&[0x80], 0).count(), 0);
        assert_eq!(PcValues::new(&[2], 0).count(), 0);
    }

    #[test]
    fn multi_byte_varint() {
        // pc delta 300 = 0xac 0x02.
        let t = [2u8, 0xac, 0x02, 0];
        let v: Vec<_> = PcValues::new(&t, 0).collect();
        assert_eq!(v, vec![(0, 300, 0)]);
    }

    #[test]
    fn zip() {
        let a = [2u8, 3, 2, 5, 0]; // 0 on [0,3), 1 on [3,8)
        let b = [4u8, 4, 2, 4, 0]; // 1 on [0,4), 2 on [4,8)
        let z: Vec<_> = zip_tables(PcValues::new(&a, 0), PcValues::new(&b, 0)).collect();
        assert_eq!(z, vec![(0, 3, 0, 1), (3, 4, 1, 1), (4, 8, 1, 2)]);
    }
}
