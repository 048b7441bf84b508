//! Go values in the target: a typed location, read lazily.
//!
//! A [`Value`] is a type plus where its bytes are (target memory, or bytes
//! already assembled from registers or computed by the evaluator). Children
//! (fields, elements, map entries, the target of a pointer) are derived on
//! demand by [`Reader`], so printing a 1,000,000-element slice reads only the
//! elements shown.

use std::sync::Arc;

use stillgo_binary::Pclntab;
use stillgo_dwarf::types::{Type, TypeId, TypeKind};
use stillgo_dwarf::DebugInfo;
use stillgo_proc::Memory;

use crate::versions::{ABI_TYPE_PTRBYTES_OFFSET, ABI_TYPE_SIZE_OFFSET, ITAB_TYPE_OFFSET};
use crate::RuntimeError;

/// Where a value's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Loc {
    /// In target memory at this address.
    Memory(u64),
    /// Already read or computed (register pieces, constants, results).
    Bytes(Arc<[u8]>),
    /// Not available at this pc: the compiler did not keep it.
    OptimizedAway,
    /// Could not be located (reason).
    Unavailable(String),
}

/// A typed value in the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub ty: Arc<Type>,
    pub loc: Loc,
}

impl Value {
    pub fn at(ty: Arc<Type>, addr: u64) -> Value {
        Value { ty, loc: Loc::Memory(addr) }
    }
    pub fn bytes(ty: Arc<Type>, bytes: Vec<u8>) -> Value {
        Value { ty, loc: Loc::Bytes(bytes.into()) }
    }
    pub fn addr(&self) -> Option<u64> {
        match self.loc {
            Loc::Memory(a) => Some(a),
            _ => None,
        }
    }
}

/// Reads values: target memory plus the type information to interpret it.
pub struct Reader<'a> {
    pub mem: &'a dyn Memory,
    pub dwarf: &'a DebugInfo,
    pub pcln: &'a Pclntab,
}

/// A field of a struct value, resolved through embedding.
#[derive(Debug, Clone)]
pub struct FieldValue {
    pub name: String,
    pub embedded: bool,
    pub value: Value,
}

impl<'a> Reader<'a> {
    pub fn new(mem: &'a dyn Memory, dwarf: &'a DebugInfo, pcln: &'a Pclntab) -> Self {
        Reader { mem, dwarf, pcln }
    }

    pub fn ty(&self, id: TypeId) -> Result<Arc<Type>, RuntimeError> {
        self.dwarf.type_(id).map_err(|e| RuntimeError::Type(e.to_string()))
    }

    /// Follows typedefs to the type that says what the bytes are.
    pub fn underlying(&self, ty: &Arc<Type>) -> Result<Arc<Type>, RuntimeError> {
        let mut t = ty.clone();
        for _ in 0..32 {
            match t.kind {
                TypeKind::Typedef { target } => t = self.ty(target)?,
                _ => return Ok(t),
            }
        }
        Err(RuntimeError::Type(format!("typedef cycle at {}", ty.name)))
    }

    /// The bytes of a value (exactly `ty.size` of them).
    pub fn read_bytes(&self, v: &Value) -> Result<Vec<u8>, RuntimeError> {
        match &v.loc {
            Loc::Memory(a) => Ok(self.mem.read_vec(*a, v.ty.size as usize)?),
            Loc::Bytes(b) => Ok(b.to_vec()),
            Loc::OptimizedAway => Err(RuntimeError::OptimizedAway),
            Loc::Unavailable(r) => Err(RuntimeError::Unavailable(r.clone())),
        }
    }

    /// A sub-range of a value: a field or element at `offset`.
    pub fn sub(&self, v: &Value, offset: u64, ty: Arc<Type>) -> Value {
        let loc = match &v.loc {
            Loc::Memory(a) => Loc::Memory(a + offset),
            Loc::Bytes(b) => {
                let (s, e) = (offset as usize, (offset + ty.size) as usize);
                match b.get(s..e) {
                    Some(x) => Loc::Bytes(x.into()),
                    None => Loc::Unavailable("value is shorter than its type".into()),
                }
            }
            other => other.clone(),
        };
        Value { ty, loc }
    }

    pub fn read_u64_at(&self, v: &Value, offset: u64) -> Result<u64, RuntimeError> {
        match &v.loc {
            Loc::Memory(a) => Ok(self.mem.read_u64(a + offset)?),
            Loc::Bytes(b) => {
                let o = offset as usize;
                b.get(o..o + 8)
                    .and_then(|s| s.try_into().ok())
                    .map(u64::from_le_bytes)
                    .ok_or_else(|| RuntimeError::Unavailable("value is shorter than its type".into()))
            }
            Loc::OptimizedAway => Err(RuntimeError::OptimizedAway),
            Loc::Unavailable(r) => Err(RuntimeError::Unavailable(r.clone())),
        }
    }

    /// Integer value of a bool/int/uint-like value, sign-extended per type.
    pub fn as_i128(&self, v: &Value) -> Result<i128, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        let b = self.read_bytes(v)?;
        let mut w = [0u8; 8];
        let n = b.len().min(8);
        w[..n].copy_from_slice(&b[..n]);
        let raw = u64::from_le_bytes(w);
        Ok(match t.kind {
            TypeKind::Int => {
                let bits = (n * 8) as u32;
                if bits == 0 {
                    0
                } else if bits >= 64 {
                    raw as i64 as i128
                } else {
                    let shift = 64 - bits;
                    (((raw << shift) as i64) >> shift) as i128
                }
            }
            _ => raw as i128,
        })
    }

    pub fn as_f64(&self, v: &Value) -> Result<f64, RuntimeError> {
        let b = self.read_bytes(v)?;
        Ok(match b.len() {
            4 => f32::from_le_bytes(b[..4].try_into().unwrap_or([0; 4])) as f64,
            8 => f64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
            n => return Err(RuntimeError::Type(format!("float of size {n}"))),
        })
    }

    /// Reads a Go string (at most `limit` bytes), returning (text, full length).
    pub fn string(&self, v: &Value, limit: usize) -> Result<(String, u64), RuntimeError> {
        let data = self.read_u64_at(v, 0)?;
        let len = self.read_u64_at(v, 8)?;
        if len > (1 << 40) {
            return Err(RuntimeError::Corrupt(format!("string length {len}")));
        }
        let n = (len as usize).min(limit);
        let bytes = if n == 0 { Vec::new() } else { self.mem.read_vec(data, n)? };
        Ok((String::from_utf8_lossy(&bytes).into_owned(), len))
    }

    /// Slice header: (data, len, cap).
    pub fn slice_header(&self, v: &Value) -> Result<(u64, u64, u64), RuntimeError> {
        Ok((self.read_u64_at(v, 0)?, self.read_u64_at(v, 8)?, self.read_u64_at(v, 16)?))
    }

    /// Element `i` of an array, slice or string (strings give a byte).
    pub fn index(&self, v: &Value, i: u64) -> Result<Value, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        match &t.kind {
            TypeKind::Array { elem, len } => {
                if i >= *len {
                    return Err(RuntimeError::Index(format!("index {i} out of bounds [0:{len}]")));
                }
                let et = self.ty(*elem)?;
                let size = et.size;
                Ok(self.sub(v, i * size, et))
            }
            TypeKind::Slice { elem } => {
                let (data, len, _) = self.slice_header(v)?;
                if i >= len {
                    return Err(RuntimeError::Index(format!("index {i} out of bounds [0:{len}]")));
                }
                let et = self.ty(*elem)?;
                let size = et.size;
                Ok(Value::at(et, data + i * size))
            }
            _ => Err(RuntimeError::Type(format!("cannot index {}", v.ty.name))),
        }
    }

    /// Target of a pointer (None for nil).
    pub fn deref(&self, v: &Value) -> Result<Option<Value>, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        match t.kind {
            TypeKind::Pointer { elem } => {
                let p = self.read_u64_at(v, 0)?;
                if p == 0 {
                    return Ok(None);
                }
                Ok(Some(Value::at(self.ty(elem)?, p)))
            }
            _ => Err(RuntimeError::Type(format!("cannot dereference {}", v.ty.name))),
        }
    }

    /// The direct fields of a struct value.
    pub fn fields(&self, v: &Value) -> Result<Vec<FieldValue>, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        let TypeKind::Struct { fields } = &t.kind else {
            return Err(RuntimeError::Type(format!("{} is not a struct", v.ty.name)));
        };
        fields
            .iter()
            .map(|f| {
                Ok(FieldValue {
                    name: f.name.clone(),
                    embedded: f.embedded,
                    value: self.sub(v, f.offset, self.ty(f.ty)?),
                })
            })
            .collect()
    }

    /// Field `name` of a struct (or of the struct a pointer points to),
    /// including fields promoted from embedded structs (breadth first, as Go
    /// resolves selectors), dereferencing embedded pointers on the way.
    pub fn field(&self, v: &Value, name: &str) -> Result<Option<Value>, RuntimeError> {
        let mut level = vec![self.auto_deref(v)?];
        for _ in 0..8 {
            let mut next = Vec::new();
            for cur in &level {
                let Some(cur) = cur else { continue };
                let t = self.underlying(&cur.ty)?;
                if !matches!(t.kind, TypeKind::Struct { .. }) {
                    continue;
                }
                for f in self.fields(cur)? {
                    if f.name == name {
                        return Ok(Some(f.value));
                    }
                    if f.embedded {
                        next.push(self.auto_deref(&f.value)?);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        Ok(None)
    }

    /// A struct stays as is; a pointer to a struct is followed (Go's
    /// automatic dereference in selectors). None for a nil pointer.
    pub fn auto_deref(&self, v: &Value) -> Result<Option<Value>, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        match t.kind {
            TypeKind::Pointer { .. } => self.deref(v),
            _ => Ok(Some(v.clone())),
        }
    }

    /// The dynamic value held by an interface; None for a nil interface.
    /// Returns (dynamic type name, value). When the dynamic type has no DWARF
    /// description the value is None and the name says so.
    pub fn interface_value(&self, v: &Value) -> Result<Option<(String, Option<Value>)>, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        let TypeKind::Interface { empty } = t.kind else {
            return Err(RuntimeError::Type(format!("{} is not an interface", v.ty.name)));
        };
        let w0 = self.read_u64_at(v, 0)?;
        let data = self.read_u64_at(v, 8)?;
        if w0 == 0 {
            return Ok(None);
        }
        // eface: {_type, data}; iface: {tab *itab, data} with itab.Type at +8.
        let rtype = if empty { w0 } else { self.mem.read_u64(w0 + ITAB_TYPE_OFFSET)? };
        // DW_AT_go_runtime_type holds the descriptor's offset from the start
        // of the module's type section (cmd/link/internal/ld/dwarf.go,
        // `DW_CLS_GO_TYPEREF` is written as an offset into `runtime.types`),
        // not its address: translate through moduledata.types.
        let key = match self.types_base()? {
            Some(base) if rtype >= base => rtype - base,
            _ => rtype,
        };
        let Some(tid) = self.dwarf.type_by_runtime_type(key).or_else(|| self.dwarf.type_by_runtime_type(rtype)) else {
            return Ok(Some((format!("<type at {rtype:#x}>"), None)));
        };
        let dt = self.ty(tid)?;
        let size = self.mem.read_u64(rtype + ABI_TYPE_SIZE_OFFSET)?;
        let ptrbytes = self.mem.read_u64(rtype + ABI_TYPE_PTRBYTES_OFFSET)?;
        let direct = size == 8 && ptrbytes == 8;
        let name = dt.name.clone();
        let val = if direct {
            Value::bytes(dt, data.to_le_bytes().to_vec())
        } else if data == 0 {
            return Ok(Some((name, None)));
        } else {
            Value::at(dt, data)
        };
        Ok(Some((name, Some(val))))
    }

    /// Start of the main module's type descriptors: `runtime.firstmoduledata.types`
    /// (runtime/symtab.go, `moduledata.types`). `None` when the binary's DWARF
    /// does not describe `firstmoduledata`.
    fn types_base(&self) -> Result<Option<u64>, RuntimeError> {
        let Some(g) = self.dwarf.global("runtime.firstmoduledata") else { return Ok(None) };
        let md = Value::at(self.ty(g.ty)?, g.addr);
        match self.field(&md, "types")? {
            Some(f) => Ok(Some(self.read_u64_at(&f, 0)?)),
            None => Ok(None),
        }
    }

    /// Name of the function a func value points to ("" for nil).
    pub fn func_name(&self, v: &Value) -> Result<Option<(u64, String)>, RuntimeError> {
        let closure = self.read_u64_at(v, 0)?;
        if closure == 0 {
            return Ok(None);
        }
        let pc = self.mem.read_u64(closure)?;
        let name = self
            .pcln
            .func_for_pc(pc)
            .map(|f| f.name.to_string())
            .unwrap_or_else(|| format!("{pc:#x}"));
        Ok(Some((pc, name)))
    }

    /// A channel's state: (qcount, dataqsiz, closed, buffered elements up to
    /// `limit`, in receive order).
    pub fn chan_state(&self, v: &Value, limit: usize) -> Result<Option<ChanState>, RuntimeError> {
        let t = self.underlying(&v.ty)?;
        let TypeKind::Chan { elem, header } = t.kind else {
            return Err(RuntimeError::Type(format!("{} is not a channel", v.ty.name)));
        };
        let p = self.read_u64_at(v, 0)?;
        if p == 0 {
            return Ok(None);
        }
        let h = Value::at(self.ty(header)?, p);
        let get = |name: &str| -> Result<u64, RuntimeError> {
            match self.field(&h, name)? {
                Some(f) => Ok(self.as_i128(&f)? as u64),
                None => Err(RuntimeError::Layout(format!("hchan.{name} missing"))),
            }
        };
        let qcount = get("qcount")?;
        let dataqsiz = get("dataqsiz")?;
        let recvx = get("recvx")?;
        let closed = get("closed")? != 0;
        let buf = match self.field(&h, "buf")? {
            Some(f) => self.read_u64_at(&f, 0)?,
            None => 0,
        };
        let et = self.ty(elem)?;
        let mut elems = Vec::new();
        if dataqsiz > 0 && buf != 0 {
            for i in 0..qcount.min(limit as u64) {
                let slot = (recvx + i) % dataqsiz;
                elems.push(Value::at(et.clone(), buf + slot * et.size));
            }
        }
        Ok(Some(ChanState { addr: p, qcount, dataqsiz, closed, elems }))
    }
}

#[derive(Debug, Clone)]
pub struct ChanState {
    pub addr: u64,
    pub qcount: u64,
    pub dataqsiz: u64,
    pub closed: bool,
    pub elems: Vec<Value>,
}
