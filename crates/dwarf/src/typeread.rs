//! Reading Go types from DWARF (`cmd/link/internal/ld/dwarf.go`,
//! `newtype`/`defgotype`).

use std::sync::Arc;

use gimli::AttributeValue;

use crate::index::{
    DebugInfo, R, DW_AT_GO_ELEM, DW_AT_GO_EMBEDDED_FIELD, DW_AT_GO_KEY, DW_AT_GO_KIND,
    DW_AT_GO_RUNTIME_TYPE,
};
use crate::types::{Field, Type, TypeId, TypeKind};
use crate::DwarfError;

/// `internal/abi.Kind` values (`internal/abi/type.go`).
mod kind {
    pub const BOOL: u64 = 1;
    pub const COMPLEX64: u64 = 15;
    pub const COMPLEX128: u64 = 16;
    pub const CHAN: u64 = 18;
    pub const FUNC: u64 = 19;
    pub const INTERFACE: u64 = 20;
    pub const MAP: u64 = 21;
    pub const SLICE: u64 = 23;
    pub const STRING: u64 = 24;
    pub const UNSAFE_POINTER: u64 = 26;
}

type Entry = gimli::DebuggingInformationEntry<R>;

/// Typedef chains are short; this bounds malformed cycles.
const MAX_TYPEDEF_HOPS: usize = 16;

impl DebugInfo {
    /// The type with DIE offset `id` (cached). The linker emits, for each
    /// named type, a same-named `DW_TAG_typedef` that merely points at the
    /// definition (`dwarf.go`, `dotypedef`); such indirections are resolved,
    /// so the returned [`Type::id`] may differ from `id`.
    pub fn type_(&self, id: TypeId) -> Result<Arc<Type>, DwarfError> {
        if let Ok(c) = self.type_cache.read() {
            if let Some(t) = c.get(&id) {
                return Ok(t.clone());
            }
        }
        let mut cur = id;
        let mut t = None;
        for _ in 0..MAX_TYPEDEF_HOPS {
            match self.read_type(cur)? {
                Ok(ty) => {
                    t = Some(Arc::new(ty));
                    break;
                }
                Err(next) => cur = next,
            }
        }
        let t = t.ok_or_else(|| DwarfError::Unsupported(format!("typedef cycle at {:#x}", id.0)))?;
        if let Ok(mut c) = self.type_cache.write() {
            c.insert(id, t.clone());
            c.insert(t.id, t.clone());
        }
        Ok(t)
    }

    /// Reads one type DIE; `Ok(Err(target))` means "a pure indirection,
    /// follow `target`".
    fn read_type(&self, id: TypeId) -> Result<Result<Type, TypeId>, DwarfError> {
        let (cu, e) = self.entry_at(id.0)?;
        let name = self.attr_str(cu, &e, gimli::DW_AT_name).unwrap_or_default();
        let go_kind = e.attr(DW_AT_GO_KIND).and_then(|a| a.udata_value());
        let size = e.attr(gimli::DW_AT_byte_size).and_then(|a| a.udata_value());
        let runtime_type = match e.attr_value(DW_AT_GO_RUNTIME_TYPE) {
            Some(AttributeValue::Addr(a) | AttributeValue::Udata(a)) if a != 0 => Some(a),
            _ => None,
        };
        let target = self.attr_ref(cu, &e, gimli::DW_AT_type).map(TypeId);
        let go_ref = |at| self.attr_ref(cu, &e, at).map(TypeId);
        let ptr = u64::from(self.cus[cu].unit.header.address_size());
        let tag = e.tag();
        let (kind, size) = match tag {
            gimli::DW_TAG_base_type => {
                let enc = e.attr_value(gimli::DW_AT_encoding);
                let k = match (go_kind, enc) {
                    (Some(kind::BOOL), _) | (_, Some(AttributeValue::Encoding(gimli::DW_ATE_boolean))) => {
                        TypeKind::Bool
                    }
                    (Some(kind::UNSAFE_POINTER), _) => TypeKind::UnsafePointer,
                    (Some(kind::COMPLEX64 | kind::COMPLEX128), _)
                    | (_, Some(AttributeValue::Encoding(gimli::DW_ATE_complex_float))) => TypeKind::Complex,
                    (_, Some(AttributeValue::Encoding(gimli::DW_ATE_float))) => TypeKind::Float,
                    (_, Some(AttributeValue::Encoding(gimli::DW_ATE_signed))) => TypeKind::Int,
                    (_, Some(AttributeValue::Encoding(gimli::DW_ATE_unsigned))) => TypeKind::Uint,
                    (_, Some(AttributeValue::Encoding(gimli::DW_ATE_unsigned_char))) => TypeKind::Uint,
                    (_, Some(AttributeValue::Encoding(gimli::DW_ATE_signed_char))) => TypeKind::Int,
                    _ => TypeKind::Unknown,
                };
                (k, size.unwrap_or(0))
            }
            gimli::DW_TAG_pointer_type => {
                let k = match (go_kind, target) {
                    (Some(kind::UNSAFE_POINTER), _) | (_, None) => TypeKind::UnsafePointer,
                    (_, Some(elem)) => TypeKind::Pointer { elem },
                };
                (k, size.unwrap_or(ptr))
            }
            gimli::DW_TAG_subroutine_type => (TypeKind::Func, size.unwrap_or(ptr)),
            gimli::DW_TAG_array_type => {
                let len = self.array_len(cu, &e)?;
                let elem = target.unwrap_or(TypeId(0));
                (TypeKind::Array { elem, len }, size.unwrap_or(0))
            }
            gimli::DW_TAG_structure_type => {
                let k = match go_kind {
                    Some(kind::STRING) => TypeKind::String,
                    Some(kind::SLICE) => match go_ref(DW_AT_GO_ELEM) {
                        Some(elem) => TypeKind::Slice { elem },
                        None => TypeKind::Struct { fields: self.fields(cu, &e)? },
                    },
                    _ => TypeKind::Struct { fields: self.fields(cu, &e)? },
                };
                (k, size.unwrap_or(0))
            }
            gimli::DW_TAG_typedef => {
                let Some(target) = target else {
                    return Ok(Ok(Type { id, name, size: 0, kind: TypeKind::Unknown, runtime_type }));
                };
                match go_kind {
                    // The linker's `dotypedef` indirection carries no kind.
                    None => return Ok(Err(target)),
                    Some(kind::MAP) => {
                        // `map[K]V` is a typedef of `*hash<K,V>` / `*map<K,V>`
                        // (`dwarf.go`, `synthesizemaptypes` / `synthesizemaptypesSwiss`).
                        let header = self.pointee(target).unwrap_or(target);
                        let k = TypeKind::Map {
                            key: go_ref(DW_AT_GO_KEY).unwrap_or(TypeId(0)),
                            value: go_ref(DW_AT_GO_ELEM).unwrap_or(TypeId(0)),
                            header,
                        };
                        (k, ptr)
                    }
                    Some(kind::CHAN) => {
                        // `chan T` is a typedef of `*hchan<T>` (`synthesizechantypes`).
                        let header = self.pointee(target).unwrap_or(target);
                        let elem = go_ref(DW_AT_GO_ELEM).unwrap_or(TypeId(0));
                        (TypeKind::Chan { elem, header }, ptr)
                    }
                    Some(kind::INTERFACE) => {
                        // Interfaces are typedefs of `runtime.eface` (empty)
                        // or `runtime.iface` (`dwarf.go`, `defgotype`).
                        let tname = self
                            .entry_at(target.0)
                            .ok()
                            .and_then(|(c, te)| self.attr_str(c, &te, gimli::DW_AT_name))
                            .unwrap_or_default();
                        (TypeKind::Interface { empty: tname == "runtime.eface" }, 2 * ptr)
                    }
                    Some(kind::FUNC) => (TypeKind::Func, ptr),
                    Some(_) => {
                        let sz = self.type_(target).map(|t| t.size).unwrap_or(0);
                        (TypeKind::Typedef { target }, sz)
                    }
                }
            }
            other => {
                return Err(DwarfError::NotAType { offset: id.0, tag: other.to_string() });
            }
        };
        Ok(Ok(Type { id, name, size, kind, runtime_type }))
    }

    fn pointee(&self, ptr: TypeId) -> Option<TypeId> {
        let (cu, e) = self.entry_at(ptr.0).ok()?;
        if e.tag() != gimli::DW_TAG_pointer_type {
            // Possibly the linker's indirection typedef: follow it once.
            if e.tag() == gimli::DW_TAG_typedef && !e.has_attr(DW_AT_GO_KIND) {
                let t = self.attr_ref(cu, &e, gimli::DW_AT_type)?;
                return self.pointee(TypeId(t));
            }
            return None;
        }
        self.attr_ref(cu, &e, gimli::DW_AT_type).map(TypeId)
    }

    fn children(&self, cu: usize, e: &Entry) -> Result<Vec<Entry>, DwarfError> {
        let mut out = Vec::new();
        if !e.has_children() {
            return Ok(out);
        }
        let c = &self.cus[cu];
        let mut cursor = c.unit.entries_at_offset(e.offset())?;
        cursor.next_dfs()?;
        while let Some(child) = cursor.next_dfs()? {
            match child.depth() {
                d if d <= 0 => break,
                1 => out.push(child.clone()),
                _ => {}
            }
        }
        Ok(out)
    }

    fn array_len(&self, cu: usize, e: &Entry) -> Result<u64, DwarfError> {
        for c in self.children(cu, e)? {
            if c.tag() == gimli::DW_TAG_subrange_type {
                if let Some(n) = c.attr(gimli::DW_AT_count).and_then(|a| a.udata_value()) {
                    return Ok(n);
                }
                if let Some(n) = c.attr(gimli::DW_AT_upper_bound).and_then(|a| a.udata_value()) {
                    return Ok(n + 1);
                }
            }
        }
        Ok(0)
    }

    fn fields(&self, cu: usize, e: &Entry) -> Result<Vec<Field>, DwarfError> {
        let mut out = Vec::new();
        for c in self.children(cu, e)? {
            if c.tag() != gimli::DW_TAG_member {
                continue;
            }
            let name = self.attr_str(cu, &c, gimli::DW_AT_name).unwrap_or_default();
            let offset = c.attr(gimli::DW_AT_data_member_location).and_then(|a| a.udata_value()).unwrap_or(0);
            let ty = TypeId(self.attr_ref(cu, &c, gimli::DW_AT_type).unwrap_or(0));
            let embedded = match c.attr_value(DW_AT_GO_EMBEDDED_FIELD) {
                Some(AttributeValue::Flag(b)) => b,
                Some(v) => v.udata_value().is_some_and(|v| v != 0),
                None => false,
            };
            out.push(Field { name, offset, ty, embedded });
        }
        Ok(out)
    }

    /// Offset and type of `field` in the struct named `type_name`
    /// (e.g. `("runtime.g", "goid")`).
    pub fn struct_field(&self, type_name: &str, field: &str) -> Option<(u64, TypeId)> {
        let mut t = self.type_(self.type_by_name(type_name)?).ok()?;
        for _ in 0..MAX_TYPEDEF_HOPS {
            match &t.kind {
                TypeKind::Struct { fields } => {
                    return fields.iter().find(|f| f.name == field).map(|f| (f.offset, f.ty));
                }
                TypeKind::Typedef { target } => t = self.type_(*target).ok()?,
                _ => return None,
            }
        }
        None
    }
}
