//! Go maps in both runtime layouts, told apart by the DWARF of the map header.
//!
//! - Up to Go 1.23 (and 1.24 built with `GOEXPERIMENT=noswissmap`): the
//!   hash map of runtime/map.go. A map is `*hash<K,V>` (`runtime.hmap`:
//!   `count`, `B`, `buckets`, `oldbuckets`, ...), buckets are
//!   `bucket<K,V>{tophash [8]uint8; keys [8]K; values [8]V; overflow *bucket}`
//!   (the linker's `synthesizemaptypesOld`). A cell is live when its tophash
//!   is >= `minTopHash` (5); evacuated cells of old buckets carry 2..4.
//! - From Go 1.24: Swiss tables (internal/runtime/maps). A map is
//!   `*map<K,V>{used; seed; dirPtr; dirLen; globalDepth; ...}`. With
//!   `dirLen == 0` `dirPtr` is a single group; otherwise a `[dirLen]*table`
//!   directory in which a table covering several hash prefixes appears
//!   several times in a row. A table's `groups.data` points to
//!   `lengthMask+1` groups `{ctrl uint64; slots [8]{key; elem}}` (or, with
//!   1.27's `GOEXPERIMENT=mapsplitgroup`, `{ctrl; keys [8]K; elems [8]V}`).
//!   Slot i is full when byte i of ctrl has its high bit clear
//!   (internal/runtime/maps/group.go: `ctrlEmpty` 0x80, `ctrlDeleted` 0xFE).
//!
//! Keys or values larger than 128 bytes are stored indirectly; DWARF then
//! describes the slot as a pointer, which is how we detect it.

use std::collections::HashSet;
use std::sync::Arc;

use stillgo_dwarf::types::{Type, TypeKind};

use crate::value::{Reader, Value};
use crate::RuntimeError;

/// Entries visited in iteration order, with paging.
pub struct MapPage {
    pub len: u64,
    pub entries: Vec<(Value, Value)>,
}

const MIN_TOP_HASH: u8 = 5;
const SWISS_SLOTS: u64 = 8;
/// Bound on groups/buckets walked for one page, against corrupt maps.
const MAX_WALK: u64 = 1 << 28;

impl Reader<'_> {
    /// Number of entries (the header's `count` or `used`); None for nil.
    pub fn map_len(&self, v: &Value) -> Result<Option<u64>, RuntimeError> {
        let Some(h) = self.map_header(v)? else { return Ok(None) };
        for name in ["count", "used"] {
            if let Some(f) = self.field(&h, name)? {
                return Ok(Some(self.as_i128(&f)? as u64));
            }
        }
        Err(RuntimeError::Layout(format!("map header {} has neither count nor used", h.ty.name)))
    }

    fn map_header(&self, v: &Value) -> Result<Option<Value>, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        let TypeKind::Map { header, .. } = t.kind else {
            return Err(RuntimeError::Type(format!("{} is not a map", v.ty.name)));
        };
        let p = self.read_u64_at(v, 0)?;
        if p == 0 {
            return Ok(None);
        }
        Ok(Some(Value::at(self.ty(header)?, p)))
    }

    /// Entries `skip .. skip+limit` in the map's memory order.
    pub fn map_entries(&self, v: &Value, skip: u64, limit: u64) -> Result<MapPage, RuntimeError> {
        let Some(h) = self.map_header(v)? else {
            return Ok(MapPage { len: 0, entries: Vec::new() });
        };
        let len = self.map_len(v)?.unwrap_or(0);
        let t = self.underlying(&v.ty)?;
        let TypeKind::Map { key, value, .. } = t.kind else {
            return Err(RuntimeError::Type(format!("{} is not a map", v.ty.name)));
        };
        let (kt, vt) = (self.ty(key)?, self.ty(value)?);
        let mut out = Collector { skip, limit, seen: 0, entries: Vec::new() };
        if self.field(&h, "buckets")?.is_some() {
            self.walk_hmap(&h, &kt, &vt, &mut out)?;
        } else if self.field(&h, "dirPtr")?.is_some() {
            self.walk_swiss(&h, &kt, &vt, &mut out)?;
        } else {
            return Err(RuntimeError::Layout(format!("unknown map layout {}", h.ty.name)));
        }
        Ok(MapPage { len, entries: out.entries })
    }

    fn walk_hmap(&self, h: &Value, kt: &Arc<Type>, vt: &Arc<Type>, out: &mut Collector) -> Result<(), RuntimeError> {
        let b = self.field_int(h, "B")? as u32;
        if b > 40 {
            return Err(RuntimeError::Corrupt(format!("map B = {b}")));
        }
        let buckets = self.field_req(h, "buckets")?;
        let bucket_ptr_ty = self.underlying(&buckets.ty)?;
        let TypeKind::Pointer { elem: bucket_tid } = bucket_ptr_ty.kind else {
            return Err(RuntimeError::Layout("hmap.buckets is not a pointer".into()));
        };
        let bucket_ty = self.ty(bucket_tid)?;
        let nb = 1u64 << b;
        let mut walked = 0u64;
        for field in ["oldbuckets", "buckets"] {
            let base = self.read_u64_at(&self.field_req(h, field)?, 0)?;
            if base == 0 {
                continue;
            }
            // The old array has half as many buckets while growing to double
            // size; reading the live cells of both visits each entry once.
            let count = if field == "oldbuckets" { self.old_bucket_count(h, nb)? } else { nb };
            for i in 0..count {
                let mut addr = base + i * bucket_ty.size;
                while addr != 0 {
                    walked += 1;
                    if walked > MAX_WALK {
                        return Err(RuntimeError::Corrupt("map bucket chain too long".into()));
                    }
                    let bucket = Value::at(bucket_ty.clone(), addr);
                    let tophash = self.read_bytes(&self.field_req(&bucket, "tophash")?)?;
                    let keys = self.field_req(&bucket, "keys")?;
                    let vals = self.field_req(&bucket, "values")?;
                    for (j, th) in tophash.iter().enumerate() {
                        if *th < MIN_TOP_HASH {
                            continue;
                        }
                        if out.want() {
                            let k = self.slot(&self.index(&keys, j as u64)?, kt)?;
                            let v = self.slot(&self.index(&vals, j as u64)?, vt)?;
                            out.push(k, v);
                        } else {
                            out.seen += 1;
                        }
                        if out.full() {
                            return Ok(());
                        }
                    }
                    addr = self.read_u64_at(&self.field_req(&bucket, "overflow")?, 0)?;
                }
            }
        }
        Ok(())
    }

    fn old_bucket_count(&self, h: &Value, nb: u64) -> Result<u64, RuntimeError> {
        // runtime/map.go: sameSizeGrow is flag bit 8; otherwise the old
        // array is half the size.
        let flags = self.field_int(h, "flags")? as u64;
        Ok(if flags & 8 != 0 { nb } else { (nb / 2).max(1) })
    }

    fn walk_swiss(&self, h: &Value, kt: &Arc<Type>, vt: &Arc<Type>, out: &mut Collector) -> Result<(), RuntimeError> {
        let dir_ptr_v = self.field_req(h, "dirPtr")?;
        let dir_ptr = self.read_u64_at(&dir_ptr_v, 0)?;
        let dir_len = self.field_int(h, "dirLen")? as u64;
        if dir_ptr == 0 {
            return Ok(());
        }
        // dirPtr is typed **table<K,V>; find the table and group types.
        let table_ptr_ty = self.pointee(&dir_ptr_v.ty)?;
        let table_ty = self.pointee(&table_ptr_ty)?;
        let groups_ref = self.field_type(&table_ty, "groups")?;
        let group_ptr_ty = self.field_type(&groups_ref, "data")?;
        let group_ty = self.pointee(&group_ptr_ty)?;
        if dir_len == 0 {
            return self.walk_group(&Value::at(group_ty, dir_ptr), kt, vt, out);
        }
        if dir_len > (1 << 24) {
            return Err(RuntimeError::Corrupt(format!("map dirLen = {dir_len}")));
        }
        let dir = self.mem.read_vec(dir_ptr, (dir_len * 8) as usize)?;
        let mut seen_tables = HashSet::new();
        for chunk in dir.chunks_exact(8) {
            let tp = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            if tp == 0 || !seen_tables.insert(tp) {
                continue;
            }
            let table = Value::at(table_ty.clone(), tp);
            let groups = self.field_req(&table, "groups")?;
            let data = self.read_u64_at(&self.field_req(&groups, "data")?, 0)?;
            let mask = self.field_int(&groups, "lengthMask")? as u64;
            if mask >= MAX_WALK {
                return Err(RuntimeError::Corrupt(format!("map table lengthMask = {mask}")));
            }
            for g in 0..=mask {
                self.walk_group(&Value::at(group_ty.clone(), data + g * group_ty.size), kt, vt, out)?;
                if out.full() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn walk_group(&self, group: &Value, kt: &Arc<Type>, vt: &Arc<Type>, out: &mut Collector) -> Result<(), RuntimeError> {
        let ctrl = self.read_u64_at(&self.field_req(group, "ctrl")?, 0)?;
        let slots = self.field(group, "slots")?;
        for i in 0..SWISS_SLOTS {
            let c = (ctrl >> (8 * i)) as u8;
            if c & 0x80 != 0 {
                continue;
            }
            if !out.want() {
                out.seen += 1;
                continue;
            }
            let (k, v) = match &slots {
                Some(slots) => {
                    let slot = self.index(slots, i)?;
                    (self.field_req(&slot, "key")?, self.field_req(&slot, "elem")?)
                }
                None => {
                    let keys = self.field_req(group, "keys")?;
                    let elems = self.field_req(group, "elems")?;
                    (self.index(&keys, i)?, self.index(&elems, i)?)
                }
            };
            out.push(self.slot(&k, kt)?, self.slot(&v, vt)?);
            if out.full() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A key or value slot: the value itself, or (stored indirectly) the
    /// value its pointer points to.
    fn slot(&self, slot: &Value, want: &Arc<Type>) -> Result<Value, RuntimeError> {
        if slot.ty.id == want.id {
            return Ok(slot.clone());
        }
        let t = self.underlying(&slot.ty)?;
        if let TypeKind::Pointer { elem } = t.kind {
            if elem == want.id {
                let p = self.read_u64_at(slot, 0)?;
                return Ok(Value::at(want.clone(), p));
            }
        }
        Ok(Value { ty: want.clone(), loc: slot.loc.clone() })
    }

    fn field_req(&self, v: &Value, name: &str) -> Result<Value, RuntimeError> {
        self.field(v, name)?
            .ok_or_else(|| RuntimeError::Layout(format!("{} has no field {name}", v.ty.name)))
    }

    fn field_int(&self, v: &Value, name: &str) -> Result<i128, RuntimeError> {
        self.as_i128(&self.field_req(v, name)?)
    }

    fn field_type(&self, t: &Arc<Type>, name: &str) -> Result<Arc<Type>, RuntimeError> {
        let u = self.underlying(t)?;
        if let TypeKind::Struct { fields } = &u.kind {
            if let Some(f) = fields.iter().find(|f| f.name == name) {
                return self.ty(f.ty);
            }
        }
        Err(RuntimeError::Layout(format!("{} has no field {name}", t.name)))
    }

    fn pointee(&self, t: &Arc<Type>) -> Result<Arc<Type>, RuntimeError> {
        match self.underlying(t)?.kind {
            TypeKind::Pointer { elem } => self.ty(elem),
            _ => Err(RuntimeError::Layout(format!("{} is not a pointer", t.name))),
        }
    }
}

struct Collector {
    skip: u64,
    limit: u64,
    seen: u64,
    entries: Vec<(Value, Value)>,
}

impl Collector {
    fn want(&self) -> bool {
        self.seen >= self.skip
    }
    fn full(&self) -> bool {
        self.entries.len() as u64 >= self.limit
    }
    fn push(&mut self, k: Value, v: Value) {
        self.seen += 1;
        self.entries.push((k, v));
    }
}
