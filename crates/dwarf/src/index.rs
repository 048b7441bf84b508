//! Compile-unit index: what is read at load time, and the lazily built
//! whole-binary name indexes.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use gimli::{AttributeValue, EndianArcSlice, LittleEndian, Reader};
use rayon::prelude::*;

use crate::cache::{FuncEntry, LineTable};
use crate::types::{Type, TypeId};
use crate::{DieRef, DwarfError, DwarfSections, FunctionInfo, Global};

pub(crate) type R = EndianArcSlice<LittleEndian>;

/// Go-specific attributes (`cmd/internal/dwarf/dwarf.go`, `DW_AT_go_kind` ...).
pub(crate) const DW_AT_GO_KIND: gimli::DwAt = gimli::DwAt(0x2900);
pub(crate) const DW_AT_GO_KEY: gimli::DwAt = gimli::DwAt(0x2901);
pub(crate) const DW_AT_GO_ELEM: gimli::DwAt = gimli::DwAt(0x2902);
pub(crate) const DW_AT_GO_EMBEDDED_FIELD: gimli::DwAt = gimli::DwAt(0x2903);
pub(crate) const DW_AT_GO_RUNTIME_TYPE: gimli::DwAt = gimli::DwAt(0x2904);

/// A CU as parsed at load time, with its `(begin, end)` address ranges.
type LoadedCu = (Cu, Vec<(u64, u64)>);

/// One compile unit (one Go package).
/// A package's constants by (type name, value): their names.
pub(crate) type ConstNames = HashMap<(Arc<str>, i64), Arc<str>>;

pub(crate) struct Cu {
    pub(crate) unit: gimli::Unit<R>,
    pub(crate) name: Arc<str>,
    /// Global `.debug_info` offset of the unit header, and of its end.
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) files: OnceLock<Vec<Arc<str>>>,
    pub(crate) lines: OnceLock<LineTable>,
    pub(crate) funcs: OnceLock<Vec<FuncEntry>>,
}

/// Whole-binary indexes built by one parallel scan of every CU's top-level
/// DIEs, on first use.
#[derive(Default)]
pub(crate) struct NameIndex {
    /// Type name -> DIE; definitions carrying `DW_AT_go_kind` win over the
    /// same-named indirection typedefs the linker also emits.
    pub(crate) types: HashMap<String, (u64, bool)>,
    pub(crate) runtime_types: HashMap<u64, u64>,
    pub(crate) globals: Vec<Global>,
    pub(crate) global_by_name: HashMap<Arc<str>, usize>,
    pub(crate) constants: HashMap<String, i64>,
    pub(crate) funcs: HashMap<Arc<str>, FunctionInfo>,
}

/// DWARF of one Go binary. Cheap to share (`Send + Sync`); every lazy index
/// is built at most once.
pub struct DebugInfo {
    pub(crate) dwarf: gimli::Dwarf<R>,
    pub(crate) cus: Vec<Cu>,
    /// Sorted, non-overlapping `(begin, end, cu)` address ranges.
    pub(crate) ranges: Vec<(u64, u64, usize)>,
    /// Load bias of a position-independent executable (bias.rs).
    pub(crate) bias: u64,
    pub(crate) names: OnceLock<NameIndex>,
    /// Names of the `runtime` compile unit alone. The Go linker emits every
    /// type DIE of the program into the runtime CU
    /// (cmd/link/internal/ld/dwarf.go: `movetomodule(ctxt, &dwtypes)` appends
    /// them to `ctxt.runtimeCU`), so types and the runtime's own globals and
    /// constants are found without scanning the whole `.debug_info`.
    pub(crate) runtime_names: OnceLock<Option<NameIndex>>,
    /// Per package: (type name, value) -> name of the constant, for printing
    /// enum-like values as their constant (`main.Friday (5)`).
    pub(crate) consts_by_pkg: RwLock<HashMap<String, Arc<ConstNames>>>,
    /// Source file path -> CUs whose line table mentions it.
    pub(crate) file_index: OnceLock<HashMap<Arc<str>, Vec<usize>>>,
    /// Inlined function name -> entry pcs of its inlined copies.
    pub(crate) inlined: OnceLock<HashMap<Arc<str>, Vec<u64>>>,
    /// The same for package main's functions, from main's CUs alone.
    pub(crate) inlined_main: OnceLock<HashMap<Arc<str>, Vec<u64>>>,
    pub(crate) type_cache: RwLock<HashMap<TypeId, Arc<Type>>>,
}

impl std::fmt::Debug for DebugInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugInfo")
            .field("units", &self.cus.len())
            .field("ranges", &self.ranges.len())
            .finish()
    }
}

impl DebugInfo {
    /// Indexes the compile units of `sections`: headers, names and address
    /// ranges only.
    pub fn new(sections: DwarfSections) -> Result<DebugInfo, DwarfError> {
        if sections.debug_info.is_empty() {
            return Err(DwarfError::NoDebugInfo);
        }
        let s = sections;
        let load = |id: gimli::SectionId| -> Result<R, gimli::Error> {
            let data = match id {
                gimli::SectionId::DebugInfo => &s.debug_info,
                gimli::SectionId::DebugAbbrev => &s.debug_abbrev,
                gimli::SectionId::DebugLine => &s.debug_line,
                gimli::SectionId::DebugStr => &s.debug_str,
                gimli::SectionId::DebugLineStr => &s.debug_line_str,
                gimli::SectionId::DebugRanges => &s.debug_ranges,
                gimli::SectionId::DebugRngLists => &s.debug_rnglists,
                gimli::SectionId::DebugLoc => &s.debug_loc,
                gimli::SectionId::DebugLocLists => &s.debug_loclists,
                gimli::SectionId::DebugAddr => &s.debug_addr,
                gimli::SectionId::DebugStrOffsets => &s.debug_str_offsets,
                gimli::SectionId::DebugFrame => &s.debug_frame,
                _ => return Ok(R::new(Arc::from(Vec::new()), LittleEndian)),
            };
            Ok(R::new(data.clone(), LittleEndian))
        };
        let mut dwarf = gimli::Dwarf::load(load)?;
        // Go uses a single abbreviation table for every unit
        // (`cmd/internal/dwarf/dwarf.go`, `abbrevs`): parse it once.
        dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);

        let mut headers = Vec::new();
        let mut iter = dwarf.units();
        while let Some(h) = iter.next()? {
            headers.push(h);
        }
        let dwarf_ref = &dwarf;
        let parsed: Vec<Result<LoadedCu, DwarfError>> = headers
            .into_par_iter()
            .map(|header| {
                let start = header.offset().0 as u64;
                let end = start + header.length_including_self() as u64;
                let unit = gimli::Unit::new(dwarf_ref, header)?;
                let name: Arc<str> = match &unit.name {
                    Some(n) => Arc::from(n.to_string_lossy()?.as_ref()),
                    None => Arc::from(""),
                };
                let mut ranges = Vec::new();
                let mut it = dwarf_ref.unit_ranges(&unit)?;
                while let Some(r) = it.next()? {
                    if r.begin < r.end {
                        ranges.push((r.begin, r.end));
                    }
                }
                Ok((
                    Cu {
                        unit,
                        name,
                        start,
                        end,
                        files: OnceLock::new(),
                        lines: OnceLock::new(),
                        funcs: OnceLock::new(),
                    },
                    ranges,
                ))
            })
            .collect();
        let mut cus = Vec::with_capacity(parsed.len());
        let mut ranges = Vec::new();
        for (i, p) in parsed.into_iter().enumerate() {
            let (cu, r) = p?;
            ranges.extend(r.into_iter().map(|(b, e)| (b, e, i)));
            cus.push(cu);
        }
        ranges.sort_unstable();
        tracing::debug!(units = cus.len(), ranges = ranges.len(), "DWARF indexed");
        Ok(DebugInfo {
            dwarf,
            cus,
            ranges,
            bias: 0,
            names: OnceLock::new(),
            runtime_names: OnceLock::new(),
            consts_by_pkg: RwLock::new(HashMap::new()),
            file_index: OnceLock::new(),
            inlined: OnceLock::new(),
            inlined_main: OnceLock::new(),
            type_cache: RwLock::new(HashMap::new()),
        })
    }

    /// Names of the compile units (Go package paths), in `.debug_info` order.
    pub fn compile_units(&self) -> Vec<Arc<str>> {
        self.cus.iter().map(|c| c.name.clone()).collect()
    }

    /// The CU whose address ranges contain `pc`.
    pub(crate) fn cu_for_pc(&self, pc: u64) -> Option<usize> {
        let i = self.ranges.partition_point(|r| r.0 <= pc);
        let (b, e, cu) = *self.ranges.get(i.checked_sub(1)?)?;
        (b <= pc && pc < e).then_some(cu)
    }

    /// The CU containing global `.debug_info` offset `off`.
    pub(crate) fn cu_for_offset(&self, off: u64) -> Option<usize> {
        let i = self.cus.partition_point(|c| c.start <= off);
        let idx = i.checked_sub(1)?;
        let cu = self.cus.get(idx)?;
        (off < cu.end).then_some(idx)
    }

    /// Reads the DIE at global offset `off`.
    pub(crate) fn entry_at(
        &self,
        off: u64,
    ) -> Result<(usize, gimli::DebuggingInformationEntry<R>), DwarfError> {
        let cu_idx = self.cu_for_offset(off).ok_or(DwarfError::BadOffset(off))?;
        let cu = &self.cus[cu_idx];
        let uoff = gimli::UnitOffset((off - cu.start) as usize);
        let entry = cu.unit.entry(uoff)?;
        Ok((cu_idx, entry))
    }

    /// Resolves a reference attribute to a global offset.
    pub(crate) fn ref_global(&self, cu: usize, v: &AttributeValue<R>) -> Option<u64> {
        match v {
            AttributeValue::UnitRef(o) => Some(self.cus.get(cu)?.start + o.0 as u64),
            AttributeValue::DebugInfoRef(o) => Some(o.0 as u64),
            _ => None,
        }
    }

    pub(crate) fn attr_ref(
        &self,
        cu: usize,
        e: &gimli::DebuggingInformationEntry<R>,
        at: gimli::DwAt,
    ) -> Option<u64> {
        self.ref_global(cu, &e.attr_value(at)?)
    }

    pub(crate) fn attr_str(
        &self,
        cu: usize,
        e: &gimli::DebuggingInformationEntry<R>,
        at: gimli::DwAt,
    ) -> Option<String> {
        let v = e.attr_value(at)?;
        let unit = &self.cus.get(cu)?.unit;
        let r = self.dwarf.attr_string(unit, v).ok()?;
        r.to_string_lossy().ok().map(|s| s.into_owned())
    }

    pub(crate) fn global_offset(&self, cu: usize, o: gimli::UnitOffset) -> u64 {
        self.cus.get(cu).map_or(0, |c| c.start) + o.0 as u64
    }

    /// The `[begin, end)` ranges of a DIE.
    pub(crate) fn die_ranges(
        &self,
        cu: usize,
        e: &gimli::DebuggingInformationEntry<R>,
    ) -> Vec<std::ops::Range<u64>> {
        let mut out = Vec::new();
        let Some(c) = self.cus.get(cu) else { return out };
        if let Ok(mut it) = self.dwarf.die_ranges(&c.unit, e) {
            while let Ok(Some(r)) = it.next() {
                if r.begin < r.end {
                    out.push(r.begin..r.end);
                }
            }
        }
        out
    }

    // ---- whole-binary name index ----

    pub(crate) fn names(&self) -> &NameIndex {
        self.names.get_or_init(|| {
            let parts: Vec<NameIndex> = (0..self.cus.len())
                .into_par_iter()
                .map(|i| {
                    self.scan_names(i).unwrap_or_else(|e| {
                        tracing::warn!(cu = %self.cus[i].name, error = %e, "skipping CU in name index");
                        NameIndex::default()
                    })
                })
                .collect();
            let mut all = NameIndex::default();
            for p in parts {
                merge_types(&mut all.types, p.types);
                all.runtime_types.extend(p.runtime_types);
                for g in p.globals {
                    all.global_by_name.entry(g.name.clone()).or_insert(all.globals.len());
                    all.globals.push(g);
                }
                for (k, v) in p.constants {
                    all.constants.entry(k).or_insert(v);
                }
                for (k, v) in p.funcs {
                    all.funcs.entry(k).or_insert(v);
                }
            }
            all
        })
    }

    fn scan_names(&self, cu_idx: usize) -> Result<NameIndex, DwarfError> {
        let cu = &self.cus[cu_idx];
        let mut out = NameIndex::default();
        let mut cursor = cu.unit.entries();
        while let Some(e) = cursor.next_dfs()? {
            // Depth is relative to the root DIE: 1 means package level.
            if e.depth() != 1 {
                continue;
            }
            let tag = e.tag();
            match tag {
                gimli::DW_TAG_variable => {
                    let Some(name) = self.attr_str(cu_idx, e, gimli::DW_AT_name) else { continue };
                    let Some(addr) = self.static_address(cu_idx, e) else { continue };
                    let ty = self.attr_ref(cu_idx, e, gimli::DW_AT_type).unwrap_or(0);
                    out.globals.push(Global { name: Arc::from(name), addr, ty: TypeId(ty) });
                }
                gimli::DW_TAG_constant => {
                    let Some(name) = self.attr_str(cu_idx, e, gimli::DW_AT_name) else { continue };
                    let v = match e.attr_value(gimli::DW_AT_const_value) {
                        Some(AttributeValue::Sdata(v)) => Some(v),
                        Some(AttributeValue::Udata(v)) => Some(v as i64),
                        Some(AttributeValue::Data1(v)) => Some(v as i64),
                        Some(AttributeValue::Data2(v)) => Some(v as i64),
                        Some(AttributeValue::Data4(v)) => Some(v as i64),
                        Some(AttributeValue::Data8(v)) => Some(v as i64),
                        _ => None,
                    };
                    if let Some(v) = v {
                        out.constants.insert(name, v);
                    }
                }
                gimli::DW_TAG_subprogram => {
                    if let Some(f) = self.func_entry(cu_idx, e) {
                        out.funcs.insert(f.name.clone(), self.function_info(cu_idx, &f));
                    }
                }
                gimli::DW_TAG_base_type
                | gimli::DW_TAG_pointer_type
                | gimli::DW_TAG_structure_type
                | gimli::DW_TAG_typedef
                | gimli::DW_TAG_array_type
                | gimli::DW_TAG_subroutine_type
                | gimli::DW_TAG_unspecified_type => {
                    let off = self.global_offset(cu_idx, e.offset());
                    if let Some(AttributeValue::Addr(a) | AttributeValue::Udata(a)) =
                        e.attr_value(DW_AT_GO_RUNTIME_TYPE)
                    {
                        if a != 0 {
                            out.runtime_types.insert(a, off);
                        }
                    }
                    let Some(name) = self.attr_str(cu_idx, e, gimli::DW_AT_name) else { continue };
                    let def = e.has_attr(DW_AT_GO_KIND) || tag != gimli::DW_TAG_typedef;
                    match out.types.get(&name) {
                        Some(&(_, true)) => {}
                        Some(&(_, false)) if !def => {}
                        _ => {
                            out.types.insert(name, (off, def));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Address of a package-level variable (`DW_OP_addr` / `DW_OP_addrx`).
    fn static_address(&self, cu: usize, e: &gimli::DebuggingInformationEntry<R>) -> Option<u64> {
        let AttributeValue::Exprloc(expr) = e.attr_value(gimli::DW_AT_location)? else {
            return None;
        };
        let unit = &self.cus.get(cu)?.unit;
        let mut ops = expr.operations(unit.encoding());
        match ops.next().ok()?? {
            gimli::Operation::Address { address } => Some(address),
            gimli::Operation::AddressIndex { index } => self.dwarf.address(unit, index).ok(),
            _ => None,
        }
    }

    /// The runtime CU's names (None when the binary has no `runtime` CU).
    fn runtime_names(&self) -> Option<&NameIndex> {
        self.runtime_names
            .get_or_init(|| {
                // The linker may emit several CUs named `runtime` (one per
                // group of its object files); the types go to one of them.
                let cus: Vec<usize> = (0..self.cus.len()).filter(|&i| &*self.cus[i].name == "runtime").collect();
                if cus.is_empty() {
                    return None;
                }
                let parts: Vec<NameIndex> = cus.into_par_iter().filter_map(|i| self.scan_names(i).ok()).collect();
                let mut n = NameIndex::default();
                for p in parts {
                    merge_types(&mut n.types, p.types);
                    n.runtime_types.extend(p.runtime_types);
                    n.globals.extend(p.globals);
                    n.constants.extend(p.constants);
                }
                for (k, g) in n.globals.iter().enumerate() {
                    n.global_by_name.entry(g.name.clone()).or_insert(k);
                }
                Some(n)
            })
            .as_ref()
    }

    /// Looks up a type by its Go name (`runtime.g`, `*main.T`, `[]int`).
    pub fn type_by_name(&self, name: &str) -> Option<TypeId> {
        match self.runtime_names() {
            // Every type is in the runtime CU: a miss there is final.
            Some(rt) => rt.types.get(name).map(|&(o, _)| TypeId(o)),
            None => self.names().types.get(name).map(|&(o, _)| TypeId(o)),
        }
    }

    /// Maps a runtime type descriptor (as `DW_AT_go_runtime_type` records it)
    /// to its DWARF type.
    pub(crate) fn type_by_runtime_type_file(&self, rtype_addr: u64) -> Option<TypeId> {
        match self.runtime_names() {
            Some(rt) => rt.runtime_types.get(&rtype_addr).map(|&o| TypeId(o)),
            None => self.names().runtime_types.get(&rtype_addr).map(|&o| TypeId(o)),
        }
    }

    /// A package-level variable by its qualified name (`main.counter`).
    pub(crate) fn global_file(&self, name: &str) -> Option<Global> {
        if name.starts_with("runtime.") {
            if let Some(rt) = self.runtime_names() {
                return rt.global_by_name.get(name).and_then(|&i| rt.globals.get(i)).cloned();
            }
        }
        let n = self.names();
        n.global_by_name.get(name).and_then(|&i| n.globals.get(i)).cloned()
    }

    /// All package-level variables, optionally only those whose name starts
    /// with `package_prefix` (e.g. `"main."`), sorted by name.
    pub(crate) fn globals_file(&self, package_prefix: Option<&str>) -> Vec<Global> {
        let mut v: Vec<Global> = self
            .names()
            .globals
            .iter()
            .filter(|g| package_prefix.is_none_or(|p| g.name.starts_with(p)))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The package-level constant of type `type_name` (a Go type name such
    /// as `main.Weekday`) whose value is `value`, if any. Only the compile
    /// units of the type's package are read (once per package).
    pub fn constant_for(&self, type_name: &str, value: i64) -> Option<Arc<str>> {
        let base = type_name.split('[').next().unwrap_or(type_name);
        let slash = base.rfind('/').map_or(0, |i| i + 1);
        let pkg = &base[..slash + base[slash..].find('.')?];
        if let Some(m) = self.consts_by_pkg.read().ok()?.get(pkg) {
            return m.get(&(Arc::from(type_name), value)).cloned();
        }
        let mut m = HashMap::new();
        for cu in (0..self.cus.len()).filter(|&i| &*self.cus[i].name == pkg) {
            let mut cursor = self.cus[cu].unit.entries();
            while let Ok(Some(e)) = cursor.next_dfs() {
                if e.depth() != 1 || e.tag() != gimli::DW_TAG_constant {
                    continue;
                }
                let (Some(name), Some(ty)) = (self.attr_str(cu, e, gimli::DW_AT_name), self.attr_ref(cu, e, gimli::DW_AT_type)) else {
                    continue;
                };
                let Some(v) = e.attr_value(gimli::DW_AT_const_value).and_then(|v| match v {
                    AttributeValue::Sdata(v) => Some(v),
                    other => other.udata_value().map(|u| u as i64),
                }) else {
                    continue;
                };
                if let Ok(t) = self.type_(TypeId(ty)) {
                    m.entry((Arc::<str>::from(t.name.as_str()), v)).or_insert_with(|| Arc::<str>::from(name));
                }
            }
        }
        let m = Arc::new(m);
        let found = m.get(&(Arc::from(type_name), value)).cloned();
        if let Ok(mut w) = self.consts_by_pkg.write() {
            w.insert(pkg.to_string(), m);
        }
        found
    }

    /// Value of a `DW_TAG_constant` (`runtime._Grunning`, ...).
    pub fn constant(&self, name: &str) -> Option<i64> {
        if name.starts_with("runtime.") {
            if let Some(rt) = self.runtime_names() {
                return rt.constants.get(name).copied();
            }
        }
        self.names().constants.get(name).copied()
    }

    /// A concrete function by its qualified name (`main.main`).
    pub(crate) fn function_by_name_file(&self, name: &str) -> Option<FunctionInfo> {
        self.names().funcs.get(name).cloned()
    }

    pub(crate) fn die_ref(&self, cu: usize, o: gimli::UnitOffset) -> DieRef {
        DieRef(self.global_offset(cu, o))
    }
}

/// Merges per-CU type names: a definition (`DW_AT_go_kind`, or any tag but a
/// typedef) wins over the same-named indirection typedef the linker emits.
fn merge_types(into: &mut HashMap<String, (u64, bool)>, from: HashMap<String, (u64, bool)>) {
    for (k, (off, def)) in from {
        match into.get(&k) {
            Some(&(_, true)) => {}
            Some(&(_, false)) if !def => {}
            _ => {
                into.insert(k, (off, def));
            }
        }
    }
}
