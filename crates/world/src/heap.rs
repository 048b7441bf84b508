//! Heap objects for a call's arguments: string and slice literals, composite
//! literals behind pointers, map literals. The resolver (stillgo-eval)
//! describes them as [`Alloc`]s; here they are made in the program's heap
//! by the runtime's own allocator (`runtime.mallocgc`) and map functions
//! (`makemap`, `mapassign`, `typedmemmove`), each run as an injected call,
//! and their addresses are patched into the argument bytes before the call
//! that uses them.
//!
//! Other goroutines run during every injected call (unless the world is
//! frozen), so the garbage collector runs too, and a new object must stay
//! reachable from the moment it is allocated until the call references it:
//!
//! * every object is recorded in a holder, an array of pointers allocated
//!   first, and the holder (with the first objects) is a root of every
//!   later injection ([`crate::CallEnv::roots`]: debugCallV2 saves the
//!   registers in its frame, which the collector scans conservatively);
//! * that only protects an object from the marking phases that scan the
//!   goroutine after the object exists. A marking phase that starts during
//!   the injection that allocates it may scan the goroutine first, and free
//!   the object at its end. So an allocation is kept only if no collection
//!   started during its injection (`runtime.work.cycles`, incremented when a
//!   cycle starts: runtime/mgc.go gcStart), and made again otherwise. An
//!   object allocated while marking is allocated black (runtime/malloc.go),
//!   and one allocated with no cycle starting is scanned through the holder
//!   by the next cycle.
//!
//! (The runtime's pinner for debuggers, `runtime.debugPinnerV1`, Go 1.23+,
//! does not close that window: the object is pinned by a later injection,
//! by which time that collection may have freed it. Tested: pinning alone
//! still let such objects be freed under a busy collector.)

use std::sync::Arc;

use stillgo_dwarf::types::Type;
use stillgo_proc::{Memory, Process};
use stillgo_runtime::versions::{MAKEMAP, MALLOCGC, MAPASSIGN, TYPEDMEMMOVE};
use stillgo_runtime::{Loc, Reader, Value};

use crate::abi::{layout, FrameLayout};
use crate::caller::Caller;
use crate::error::explain_refusal;
use crate::inject::{ArgValue, CallOutcome, CallSpec, MAX_ROOTS};
use crate::CallError;

/// Memory the call needs in the program's heap before it can run (string
/// literals, variadic argument arrays, values boxed in interfaces): one
/// allocation of `data`, whose address is written at `offset` of argument
/// `arg`; `inner` lists pointers inside `data` to patch as (position in
/// data, offset in data they point to). `rtype` is the runtime type
/// descriptor to allocate with, so the garbage collector scans the object
/// (`data` is then one value or an array of that type); 0 allocates
/// without pointers (bytes, or objects pointing only into themselves).
///
/// With `parent: Some(d)` the address goes at `offset` of the data of the
/// allocation `d` places later in the list instead of into the argument
/// (objects referenced from other new objects, e.g. values boxed in the
/// elements of a variadic `...any`); children always come before their
/// parent, so allocating in list order resolves every address.
#[derive(Debug, Clone)]
pub struct Alloc {
    pub arg: usize,
    pub offset: usize,
    pub data: Vec<u8>,
    pub inner: Vec<(usize, usize)>,
    pub rtype: u64,
    pub parent: Option<usize>,
    /// A map literal: `data` is a staging area holding each entry's key
    /// and value (in their memory layout, with their own allocations
    /// patched in); the address patched into the argument or parent is
    /// that of a new map filled from it by the runtime's own functions.
    pub map: Option<MapInit>,
}

/// How to build a map from a staging area (see [`Alloc::map`]): for each
/// entry, `mapassign(map_type, m, &key)` returns the value's slot and
/// `typedmemmove(elem_type, slot, &value)` fills it.
#[derive(Debug, Clone)]
pub struct MapInit {
    pub map_type: u64,
    pub elem_type: u64,
    /// (key offset, value offset) in the staging data, per entry.
    pub entries: Vec<(u64, u64)>,
}

/// A call ready to run once its heap objects exist.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    pub spec: CallSpec,
    pub layout: FrameLayout,
    pub allocs: Vec<Alloc>,
    /// Runtime type of a pointer (`unsafe.Pointer`): the holder of the
    /// allocations is an array of them, so the collector scans it.
    /// Needed only when `allocs` is not empty.
    pub holder_rtype: u64,
}

/// Attempts at an allocation no garbage collection cycle started during.
const MAX_FRESH_TRIES: usize = 32;

impl Caller<'_> {
    /// Makes the heap objects `call` needs, then runs it.
    pub fn run(&mut self, proc: &mut Process, call: PreparedCall) -> Result<CallOutcome, CallError> {
        if call.allocs.is_empty() {
            return self.inject(proc, &call.spec, &call.layout);
        }
        let r = self.allocate_and_run(proc, call);
        self.roots.clear();
        r
    }

    fn allocate_and_run(&mut self, proc: &mut Process, mut call: PreparedCall) -> Result<CallOutcome, CallError> {
        let allocs = std::mem::take(&mut call.allocs);
        let slots = (allocs.len() + allocs.iter().filter(|a| a.map.is_some()).count()) as u64;
        let holder = self.fresh(proc, |c, p| c.allocate(p, 8 * slots, call.holder_rtype))?;
        self.roots.push(holder);
        let mut held = 0u64;
        let mut hold = |c: &mut Self, proc: &mut Process, addr: u64| -> Result<(), CallError> {
            if held >= slots {
                return Err(CallError::Heap("internal: more allocations than planned".into()));
            }
            proc.write_memory(holder + 8 * held, &addr.to_le_bytes())?;
            held += 1;
            if c.roots.len() < MAX_ROOTS {
                c.roots.push(addr);
            }
            Ok(())
        };
        // Addresses of children, to write into their parent's data.
        let mut pending: Vec<Vec<(usize, u64)>> = vec![Vec::new(); allocs.len()];
        let bad = |what: &str| CallError::Heap(format!("internal: allocation {what} out of range"));
        for (i, a) in allocs.iter().enumerate() {
            let addr = self.fresh(proc, |c, p| c.allocate(p, a.data.len() as u64, a.rtype))?;
            hold(self, proc, addr)?;
            let mut data = a.data.clone();
            let patches = a.inner.iter().map(|(pos, off)| (*pos, addr + *off as u64)).chain(pending[i].iter().copied());
            for (pos, ptr) in patches.collect::<Vec<_>>() {
                data.get_mut(pos..pos + 8).ok_or_else(|| bad("patch"))?.copy_from_slice(&ptr.to_le_bytes());
            }
            proc.write_memory(addr, &data)?;
            // A map literal: `addr` is its staging area; the value is a map.
            let addr = match &a.map {
                Some(init) => self.build_map(proc, addr, init, &mut hold)?,
                None => addr,
            };
            match a.parent {
                Some(d) => pending.get_mut(i + d).ok_or_else(|| bad("parent"))?.push((a.offset, addr)),
                None => {
                    let arg = call.spec.args.get_mut(a.arg).ok_or_else(|| bad("argument"))?;
                    arg.bytes.get_mut(a.offset..a.offset + 8).ok_or_else(|| bad("pointer"))?.copy_from_slice(&addr.to_le_bytes());
                }
            }
        }
        self.inject(proc, &call.spec, &call.layout)
    }

    /// Garbage collection cycles started so far (`runtime.work.cycles`,
    /// runtime/mgc.go); None when the binary does not describe it.
    fn gc_cycles(&self, proc: &Process) -> Option<u32> {
        let reader = Reader::new(proc, &self.dwarf, self.bin.pclntab());
        let g = self.dwarf.global("runtime.work")?;
        let work = Value::at(reader.ty(g.ty).ok()?, g.addr);
        let cycles = reader.field(&work, "cycles").ok()??;
        // atomic.Uint32: its uint32 is the only sized field.
        let Loc::Memory(addr) = cycles.loc else { return None };
        let b = proc.read_vec(addr, 4).ok()?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// Runs `f` (an injection returning a new object) until no garbage
    /// collection cycle started during it (see the module documentation).
    fn fresh(&mut self, proc: &mut Process, mut f: impl FnMut(&mut Self, &mut Process) -> Result<u64, CallError>) -> Result<u64, CallError> {
        for _ in 0..MAX_FRESH_TRIES {
            let before = self.gc_cycles(proc);
            let addr = f(self, proc)?;
            if before.is_none() || self.gc_cycles(proc) == before {
                return Ok(addr);
            }
            tracing::debug!(addr, "a collection started during the allocation; allocating again");
        }
        Err(CallError::Heap(format!(
            "the garbage collector started a new cycle during each of {MAX_FRESH_TRIES} attempts to allocate the call's arguments; try again"
        )))
    }

    /// A base type by its DWARF name (`uintptr`, `bool`).
    fn base_type(&self, name: &str) -> Result<Arc<Type>, CallError> {
        let id = self.dwarf.type_by_name(name).ok_or_else(|| CallError::Heap(format!("type {name} is not in the binary's debug information")))?;
        self.dwarf.type_(id).map_err(|e| CallError::Heap(e.to_string()))
    }

    /// `runtime.mallocgc(size, typ, true)`: memory in the program's heap
    /// (`rtype` 0: without pointers). Nothing references it yet: callers
    /// keep it alive as the module documentation explains.
    fn allocate(&mut self, proc: &mut Process, size: u64, rtype: u64) -> Result<u64, CallError> {
        let f = self
            .bin
            .pclntab()
            .func_by_name(MALLOCGC)
            .ok_or_else(|| CallError::Heap(format!("{MALLOCGC} not found: cannot allocate memory for arguments")))?;
        let (uintptr, boolean) = (self.base_type("uintptr")?, self.base_type("bool")?);
        let spec = CallSpec {
            name: MALLOCGC.into(),
            pc: f.entry,
            context: None,
            args: vec![
                ArgValue { ty: uintptr.clone(), bytes: size.to_le_bytes().to_vec() },
                ArgValue { ty: uintptr.clone(), bytes: rtype.to_le_bytes().to_vec() },
                ArgValue { ty: boolean.clone(), bytes: vec![1] },
            ],
            results: vec![("p".into(), uintptr.clone())],
        };
        let layout = {
            let reader = Reader::new(proc, &self.dwarf, self.bin.pclntab());
            layout(&reader, &[uintptr.clone(), uintptr.clone(), boolean], &[uintptr])?
        };
        let addr = self.word_result(proc, &spec, &layout, "allocating memory for the arguments")?;
        if addr == 0 {
            return Err(CallError::Heap("allocation in the program failed".into()));
        }
        Ok(addr)
    }

    /// A map filled from a staging area ([`MapInit`]) by the runtime's
    /// makemap, mapassign and typedmemmove. The new map is held before the
    /// calls that fill it: between them nothing else references it.
    fn build_map(
        &mut self,
        proc: &mut Process,
        stage: u64,
        init: &MapInit,
        hold: &mut dyn FnMut(&mut Self, &mut Process, u64) -> Result<(), CallError>,
    ) -> Result<u64, CallError> {
        let m = self.fresh(proc, |c, p| c.call_runtime(p, MAKEMAP, &[init.map_type, init.entries.len() as u64, 0], true))?;
        hold(self, proc, m)?;
        for &(ko, vo) in &init.entries {
            let slot = self.call_runtime(proc, MAPASSIGN, &[init.map_type, m, stage + ko], true)?;
            self.call_runtime(proc, TYPEDMEMMOVE, &[init.elem_type, slot, stage + vo], false)?;
        }
        Ok(m)
    }

    /// Calls runtime function `name` with word arguments; returns its
    /// one-word result (0 without `result`).
    fn call_runtime(&mut self, proc: &mut Process, name: &str, args: &[u64], result: bool) -> Result<u64, CallError> {
        let f = self.bin.pclntab().func_by_name(name).ok_or_else(|| CallError::Heap(format!("{name} is not in the binary: cannot build the value")))?;
        let uintptr = self.base_type("uintptr")?;
        let arg_types = vec![uintptr.clone(); args.len()];
        let result_types = if result { vec![uintptr.clone()] } else { vec![] };
        let spec = CallSpec {
            name: name.into(),
            pc: f.entry,
            context: None,
            args: args.iter().map(|a| ArgValue { ty: uintptr.clone(), bytes: a.to_le_bytes().to_vec() }).collect(),
            results: result_types.iter().map(|t| ("r".to_string(), t.clone())).collect(),
        };
        let layout = {
            let reader = Reader::new(proc, &self.dwarf, self.bin.pclntab());
            layout(&reader, &arg_types, &result_types)?
        };
        self.word_result(proc, &spec, &layout, &format!("{name} while building an argument"))
    }

    /// Runs a runtime helper and reads its one-word result (0 if none).
    fn word_result(&mut self, proc: &mut Process, spec: &CallSpec, layout: &FrameLayout, what: &str) -> Result<u64, CallError> {
        match self.inject(proc, spec, layout)? {
            CallOutcome::Returned(r) => match r.first() {
                Some(v) => Ok(Reader::new(proc, &self.dwarf, self.bin.pclntab()).read_u64_at(&v.value, 0)?),
                None => Ok(0),
            },
            CallOutcome::Panicked(p) => Err(CallError::Heap(format!("{what} panicked: {p}"))),
            CallOutcome::Refused(r) => Err(CallError::Refused(explain_refusal(&r))),
        }
    }
}
