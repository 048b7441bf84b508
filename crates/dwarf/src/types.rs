//! The Go type model, as read from DWARF.
//!
//! Go's compiler describes every type in `.debug_info` with a few Go-specific
//! attributes (see `cmd/link/internal/ld/dwarf.go` and
//! `cmd/internal/dwarf/dwarf.go`): `DW_AT_go_kind` (0x2900, the
//! `internal/abi.Kind` value), `DW_AT_go_key` (0x2901), `DW_AT_go_elem`
//! (0x2902), `DW_AT_go_embedded_field` (0x2903), `DW_AT_go_runtime_type`
//! (0x2904, address of the runtime `_type` descriptor),
//! `DW_AT_go_package_name` (0x2905) and `DW_AT_go_dict_index` (0x2906).
//!
//! This model is what the layers above see. It is deliberately close to Go
//! source, not to DWARF: a `map[string]int` is a [`TypeKind::Map`] whose
//! `header` is the runtime struct the map variable points to, a string is
//! [`TypeKind::String`] even though DWARF calls it a two-field struct.

/// Identifies a type: its DIE's offset within `.debug_info` (global offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u64);

/// A Go type.
#[derive(Debug, Clone, PartialEq)]
pub struct Type {
    pub id: TypeId,
    /// Name as Go prints it: `int`, `main.T`, `[]string`, `map[string]*main.T`,
    /// `main.Pair[int,string]`, `*main.T`, `func(int) string`.
    pub name: String,
    /// Size in bytes (`DW_AT_byte_size`); pointer-sized for pointers, maps,
    /// channels and funcs.
    pub size: u64,
    pub kind: TypeKind,
    /// The runtime type descriptor (`DW_AT_go_runtime_type`): its offset from
    /// `moduledata.types` (cmd/link/internal/ld/dwarf.go), used to map an
    /// interface's dynamic type (its `*_type`) back to DWARF.
    pub runtime_type: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Bool,
    /// Signed integers: int, int8 .. int64 (size from [`Type::size`]).
    Int,
    /// Unsigned integers: uint, uint8 .. uint64, uintptr.
    Uint,
    Float,
    Complex,
    /// Go string: `{str *uint8; len int}`.
    String,
    UnsafePointer,
    Pointer { elem: TypeId },
    Array { elem: TypeId, len: u64 },
    /// Go slice: `{array *T; len int; cap int}`.
    Slice { elem: TypeId },
    Struct { fields: Vec<Field> },
    /// `runtime.iface` (non-empty interface: `{tab *itab; data unsafe.Pointer}`)
    /// or `runtime.eface` (`{_type *_type; data unsafe.Pointer}`): `empty`
    /// says which.
    Interface { empty: bool },
    /// A map variable is a pointer to `header` (`runtime.hmap`-shaped
    /// `hash<K,V>` up to Go 1.23, Swiss-table `map<K,V>` from Go 1.24).
    Map { key: TypeId, value: TypeId, header: TypeId },
    /// A channel variable is a pointer to `header` (`hchan<T>`).
    Chan { elem: TypeId, header: TypeId },
    /// A func value is a pointer to a closure record whose first word is the
    /// code pointer.
    Func,
    /// A named type whose DWARF entry is a `DW_TAG_typedef` to another type
    /// that is not itself described by the kinds above (rare; most named Go
    /// types are emitted with their own kind).
    Typedef { target: TypeId },
    /// Anything the reader does not model (should not happen for Go code).
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub offset: u64,
    pub ty: TypeId,
    /// An embedded field (`DW_AT_go_embedded_field`): its fields are promoted.
    pub embedded: bool,
}
