//! Everything stillgo knows about differences between Go versions, in one place.
//!
//! The rule: read layouts and constants from the binary's DWARF first (the
//! linker emits the runtime's own types and `DW_TAG_constant`s for
//! `runtime._G*` and `runtime.waitReason*`), and keep hard-coded facts here
//! only where DWARF cannot help, each with the runtime source it comes from.
//! `tests/layouts.rs` checks these facts against every supported toolchain.

use stillgo_binary::GoVersion;
use stillgo_dwarf::DebugInfo;

use crate::RuntimeError;

/// The Go releases stillgo supports (defined with `GoVersion` in
/// stillgo-binary, the lowest layer that refuses a binary).
pub use stillgo_binary::SUPPORTED_GO;

/// `stackPreempt` (runtime/stack.go: `uintptrMask & -1314`): the value the
/// scheduler stores in `g.stackguard0` to force a preemption at the next
/// function prologue. Not emitted in DWARF.
pub const STACK_PREEMPT: u64 = 0xffff_ffff_ffff_fade;

/// `_Gscan` bit of `g.atomicstatus` (runtime/runtime2.go), stable since Go 1.5.
pub const G_SCAN: u32 = 0x1000;

/// Goroutine status, from `runtime/runtime2.go` (`_Gidle` ... `_Gdeadextra`).
/// Values 0-9 are identical in Go 1.22-1.27; 1.27 adds 10 and 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GStatus {
    Idle,
    Runnable,
    Running,
    Syscall,
    Waiting,
    MoribundUnused,
    Dead,
    Enqueue,
    Copystack,
    Preempted,
    /// Go 1.27 `_Gleaked`: a goroutine the leak detector found blocked forever.
    Leaked,
    /// Go 1.27 `_Gdeadextra`: the g of an extra M kept for cgo callbacks.
    DeadExtra,
    Other(u32),
}

impl GStatus {
    pub fn from_raw(raw: u32) -> GStatus {
        match raw & !G_SCAN {
            0 => GStatus::Idle,
            1 => GStatus::Runnable,
            2 => GStatus::Running,
            3 => GStatus::Syscall,
            4 => GStatus::Waiting,
            5 => GStatus::MoribundUnused,
            6 => GStatus::Dead,
            7 => GStatus::Enqueue,
            8 => GStatus::Copystack,
            9 => GStatus::Preempted,
            10 => GStatus::Leaked,
            11 => GStatus::DeadExtra,
            n => GStatus::Other(n),
        }
    }

    /// Whether the goroutine exists from a user's point of view (Delve hides
    /// dead goroutines too).
    pub fn is_live(self) -> bool {
        !matches!(self, GStatus::Dead | GStatus::Idle | GStatus::DeadExtra)
    }

    pub fn describe(self) -> &'static str {
        match self {
            GStatus::Idle => "idle",
            GStatus::Runnable => "runnable",
            GStatus::Running => "running",
            GStatus::Syscall => "syscall",
            GStatus::Waiting => "waiting",
            GStatus::MoribundUnused => "moribund",
            GStatus::Dead => "dead",
            GStatus::Enqueue => "enqueue",
            GStatus::Copystack => "copystack",
            GStatus::Preempted => "preempted",
            GStatus::Leaked => "leaked",
            GStatus::DeadExtra => "dead (extra M)",
            GStatus::Other(_) => "unknown",
        }
    }
}

/// What stillgo makes of a binary's Go version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSupport {
    Supported,
    /// Built by a Go newer than the supported range: debugged on a best
    /// effort (DWARF first, the newest known layouts otherwise), with this
    /// warning for the user.
    Newer(String),
}

/// Whether the binary's Go version is one stillgo supports: older releases
/// are refused (their runtime layouts are unknown and pclntab formats
/// differ), newer ones get a warning and a best effort, as with Delve.
/// `enforce` false (`--check-go-version=false`) accepts older ones too.
pub fn check_supported(v: &GoVersion, enforce: bool) -> Result<VersionSupport, RuntimeError> {
    if SUPPORTED_GO.contains(v) {
        return Ok(VersionSupport::Supported);
    }
    let newer = (v.major, v.minor) > SUPPORTED_GO.newest;
    if !newer && enforce {
        return Err(RuntimeError::UnsupportedVersion(v.to_string()));
    }
    Ok(VersionSupport::Newer(format!(
        "this program was built with {v}, {} the supported {SUPPORTED_GO}: debugging it on a best effort (values may be unreadable); use a supported Go version for reliable results",
        if newer { "newer than" } else { "outside" }
    )))
}

/// Offsets of the runtime structures the debugger reads, resolved once per
/// binary from DWARF (`runtime.g`, `runtime.m`, `runtime.gobuf`,
/// `runtime.stack`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub g_size: u64,
    pub g_stack_lo: u64,
    pub g_stack_hi: u64,
    pub g_m: u64,
    pub g_sched_sp: u64,
    pub g_sched_pc: u64,
    pub g_sched_bp: u64,
    pub g_syscallsp: u64,
    pub g_syscallpc: u64,
    /// `atomicstatus` is a plain uint32 in older versions and an
    /// `atomic.Uint32` (whose `value` is at offset 0) since Go 1.20: the
    /// field offset is where the u32 lives either way.
    pub g_atomicstatus: u64,
    pub g_goid: u64,
    pub g_waitreason: u64,
    pub g_startpc: u64,
    pub g_gopc: u64,
    pub g_lockedm: u64,
    pub m_curg: u64,
    pub m_procid: u64,
    pub m_g0: u64,
    pub m_gsignal: u64,
    pub m_alllink: u64,
    /// `runtime.allgs` ([]*g) and `runtime.allm` (*m) addresses.
    pub allgs: u64,
    pub allm: u64,
    /// `runtime.waitReasonStrings` ([N]string): indexed by `g.waitreason`.
    /// The table itself moved and grew between versions (1.27 reorders the
    /// reasons), so it is read from the program, never hard-coded.
    pub wait_reason_strings: Option<(u64, u64)>,
}

impl Layout {
    /// Resolves the layout from DWARF.
    pub fn from_dwarf(dwarf: &DebugInfo) -> Result<Layout, RuntimeError> {
        let field = |ty: &str, f: &str| -> Result<u64, RuntimeError> {
            dwarf
                .struct_field(ty, f)
                .map(|(off, _)| off)
                .ok_or_else(|| RuntimeError::Layout(format!("{ty}.{f} not found in DWARF")))
        };
        let sched = field("runtime.g", "sched")?;
        let stack = field("runtime.g", "stack")?;
        let g_size = dwarf
            .type_by_name("runtime.g")
            .and_then(|id| dwarf.type_(id).ok())
            .map(|t| t.size)
            .ok_or_else(|| RuntimeError::Layout("runtime.g not found in DWARF".into()))?;
        let global = |name: &str| -> Result<u64, RuntimeError> {
            dwarf
                .global(name)
                .map(|g| g.addr)
                .ok_or_else(|| RuntimeError::Layout(format!("{name} not found in DWARF")))
        };
        let wait_reason_strings = dwarf.global("runtime.waitReasonStrings").and_then(|g| {
            let t = dwarf.type_(g.ty).ok()?;
            match t.kind {
                stillgo_dwarf::types::TypeKind::Array { len, .. } => Some((g.addr, len)),
                _ => None,
            }
        });
        Ok(Layout {
            g_size,
            g_stack_lo: stack + field("runtime.stack", "lo")?,
            g_stack_hi: stack + field("runtime.stack", "hi")?,
            g_m: field("runtime.g", "m")?,
            g_sched_sp: sched + field("runtime.gobuf", "sp")?,
            g_sched_pc: sched + field("runtime.gobuf", "pc")?,
            g_sched_bp: sched + field("runtime.gobuf", "bp")?,
            g_syscallsp: field("runtime.g", "syscallsp")?,
            g_syscallpc: field("runtime.g", "syscallpc")?,
            g_atomicstatus: field("runtime.g", "atomicstatus")?,
            g_goid: field("runtime.g", "goid")?,
            g_waitreason: field("runtime.g", "waitreason")?,
            g_startpc: field("runtime.g", "startpc")?,
            g_gopc: field("runtime.g", "gopc")?,
            g_lockedm: field("runtime.g", "lockedm")?,
            m_curg: field("runtime.m", "curg")?,
            m_procid: field("runtime.m", "procid")?,
            m_g0: field("runtime.m", "g0")?,
            m_gsignal: field("runtime.m", "gsignal")?,
            m_alllink: field("runtime.m", "alllink")?,
            allgs: global("runtime.allgs")?,
            allm: global("runtime.allm")?,
            wait_reason_strings,
        })
    }
}

/// Offset from a thread's `fs_base` of the slot holding its current `g`
/// (`runtime.tlsg` at -8 on linux/amd64: runtime/go_tls.h, cmd/link's TLS
/// offset). The same in Go 1.22-1.27.
pub const TLS_G_OFFSET: i64 = -8;

/// The offset in an `itab` (`runtime.itab` up to 1.21, `internal/abi.ITab`
/// after) of its dynamic type pointer: `{Inter *InterfaceType; Type *Type; ...}`.
pub const ITAB_TYPE_OFFSET: u64 = 8;

/// `internal/abi.Type` starts `{Size_ uintptr; PtrBytes uintptr; ...}` in
/// every supported version. A value is stored directly in an interface's data
/// word exactly when `Size_ == PtrBytes == 8` (1.27 caches this as
/// `TFlagDirectIface`; older versions as `KindDirectIface`, computed by the
/// compiler's `types.IsDirectIface`, which is the same condition), so
/// reading these two words works across versions.
pub const ABI_TYPE_SIZE_OFFSET: u64 = 0;
pub const ABI_TYPE_PTRBYTES_OFFSET: u64 = 8;

/// Function names whose goroutines are user goroutines although their start
/// function lives in package runtime (runtime/traceback.go
/// `isSystemGoroutine`: `runtime.main`, coroutines, `handleAsyncEvent`; the
/// finalizer and cleanup goroutines only while running user code, which we
/// treat as system for listing purposes).
pub fn is_user_start_func(name: &str) -> bool {
    if matches!(name, "runtime.main" | "runtime.corostart" | "runtime.handleAsyncEvent") {
        return true;
    }
    !name.starts_with("runtime.")
}

/// Start functions of goroutines that user scheduling being off stops like
/// user goroutines: the user ones, and the finalizer and cleanup goroutines,
/// which call user code (`schedEnabled` asks `isSystemGoroutine(gp, true)`,
/// "fixed" mode, in which they count as user goroutines; runtime/proc.go,
/// traceback.go). Their names: `runfinq` up to Go 1.24, `runFinalizers`
/// and `runCleanups` from Go 1.25.
pub fn stopped_by_disabled_user_scheduling(name: &str) -> bool {
    is_user_start_func(name) || matches!(name, "runtime.runfinq" | "runtime.runFinalizers" | "runtime.runCleanups")
}

/// Runtime functions that call user code themselves: deferred calls run by
/// `gopanic`, `deferreturn` and `Goexit` (runtime/panic.go, the
/// `p.nextDefer()` loops), `Error`/`String` methods called by
/// `preprintpanics`, and the function `reflect.Value.Call` runs through
/// `reflectcall`'s `runtime.callNN` trampolines (asm_amd64.s). A goroutine
/// inside one of them must not be let through the runtime up to its next
/// return into user code: the user code it calls would run first.
pub fn calls_user_code(name: &str) -> bool {
    if matches!(name, "runtime.gopanic" | "runtime.deferreturn" | "runtime.Goexit" | "runtime.preprintpanics" | "runtime.reflectcall") {
        return true;
    }
    name.strip_prefix("runtime.call").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The part of [`calls_user_code`] that runtime code reaches by itself: a
/// runtime error (`panicmem`, a send on a closed channel...) panics, and
/// `gopanic` runs the goroutine's deferred calls.
pub fn runs_deferred_calls_on_runtime_errors(name: &str) -> bool {
    matches!(name, "runtime.gopanic" | "runtime.preprintpanics")
}

/// Functions that end a stack: the runtime marks them with FUNCFLAG_TOPFRAME
/// (runtime/symtab.go), and these names are the fallback when flags are
/// unavailable.
pub fn is_top_frame_name(name: &str) -> bool {
    matches!(
        name,
        "runtime.goexit" | "runtime.mstart" | "runtime.mstart0" | "runtime.rt0_go"
    )
}

/// Runtime structure offsets for binaries without DWARF (stripped with
/// `-ldflags=-s -w`), per Go minor version, as read from each toolchain's
/// own DWARF (`tests/layouts.rs` checks every entry against it). Global
/// addresses are unknown here (0): they are discovered from the code of
/// the running program (see `goroutines::discover_allgs`).
pub fn fallback_layout(v: &GoVersion) -> Option<Layout> {
    if v.major != 1 {
        return None;
    }
    // Columns: g size; g.m; g.sched.bp; g.syscallsp; g.syscallpc;
    // g.atomicstatus; g.goid; g.waitreason; g.startpc; g.gopc; g.lockedm;
    // m.curg; m.procid; m.gsignal; m.alllink. Stable across the table:
    // g.stack.lo 0, g.stack.hi 8, g.sched.sp 56, g.sched.pc 64, m.g0 0.
    // Go 1.25 removed `gobuf.ret` (runtime/runtime2.go), which moves
    // `gobuf.bp` and everything after `g.sched` up by 8.
    let row: [u64; 15] = match v.minor {
        22 => [424, 48, 104, 112, 120, 144, 152, 176, 296, 280, 208, 192, 72, 80, 328],
        23 => [432, 48, 104, 112, 120, 152, 160, 184, 304, 288, 216, 192, 72, 80, 328],
        24 => [440, 48, 104, 112, 120, 152, 160, 184, 304, 288, 216, 192, 72, 80, 352],
        25 => [440, 48, 96, 104, 112, 144, 152, 176, 296, 280, 208, 184, 64, 72, 344],
        26 | 27 => [456, 48, 96, 104, 112, 144, 152, 176, 304, 288, 208, 184, 64, 72, 352],
        _ => return None,
    };
    Some(Layout {
        g_size: row[0],
        g_stack_lo: 0,
        g_stack_hi: 8,
        g_m: row[1],
        g_sched_sp: 56,
        g_sched_pc: 64,
        g_sched_bp: row[2],
        g_syscallsp: row[3],
        g_syscallpc: row[4],
        g_atomicstatus: row[5],
        g_goid: row[6],
        g_waitreason: row[7],
        g_startpc: row[8],
        g_gopc: row[9],
        g_lockedm: row[10],
        m_curg: row[11],
        m_procid: row[12],
        m_g0: 0,
        m_gsignal: row[13],
        m_alllink: row[14],
        allgs: 0,
        allm: 0,
        wait_reason_strings: None,
    })
}

// ---------------------------------------------------------------------------
// Injected function calls (runtime.debugCallV2): per-version knowledge.
//
// The protocol is identical in Go 1.22 to 1.27 on amd64 (checked in each
// toolchain's runtime/asm_amd64.s and runtime/debugcall.go); the constants
// below are the whole of what the debugger needs to know about it.
// ---------------------------------------------------------------------------

/// Symbol of the injection entry point (`TEXT runtime·debugCallV2<ABIInternal>`
/// in runtime/asm_amd64.s; ELF and pclntab name without ABI suffix).
pub const DEBUG_CALL_V2: &str = "runtime.debugCallV2";

/// Value of R12 at each `INT3` the runtime executes while running an injected
/// call (runtime/asm_amd64.s, comments of debugCallV2 and DEBUG_CALL_FN).
pub mod debug_call_r12 {
    /// The call frame is allocated (in `debugCallNN`): write the arguments at
    /// SP and in registers, push the trapping PC, jump to the function.
    pub const FRAME_READY: u64 = 0;
    /// The function returned: results are in registers and at SP.
    pub const RETURNED: u64 = 1;
    /// The function panicked (`runtime.debugCallPanicked`): the panic value,
    /// an `interface{}`, is at SP.
    pub const PANICKED: u64 = 2;
    /// `debugCallCheck` refused the call (or the frame is too large): the
    /// reason, a Go string, is at SP.
    pub const REFUSED: u64 = 8;
    /// All done: restore every register but RIP and RSP and resume; the
    /// runtime restores its saved pointer registers and returns to the
    /// pushed PC.
    pub const RESTORE: u64 = 16;
}

/// Offset below the SP (after the return PC has been pushed) where
/// `debugCallV2` reads the argument frame size
/// (`MOVQ frameSize-24(FP), DX // aka -16(RSP) before prologue`).
pub const DEBUG_CALL_FRAME_SIZE_SLOT: u64 = 16;

/// Largest argument frame `debugCallV2` can dispatch (`debugCall65536`);
/// larger frames are refused with "call frame too large".
pub const DEBUG_CALL_MAX_FRAME: u64 = 65536;

/// Stack the runtime needs below the goroutine's SP to start an injected
/// call: "there are at least 256 bytes free on the stack" (debugCallV2's
/// doc comment; its own frame is `$152`).
pub const DEBUG_CALL_STACK_NEEDED: u64 = 256;

/// After the `RESTORE` trap the runtime runs 15 register reloads and a RET
/// back to the pushed PC (asm_amd64.s); the debugger lets the thread run
/// alone to a breakpoint there, resuming at most this many times (stray
/// signals and breakpoints) before restoring by hand.
pub const DEBUG_CALL_RESTORE_MAX_STEPS: usize = 64;

/// Allocator used to place string literals passed as arguments in the
/// program's heap: `func mallocgc(size uintptr, typ *_type, needzero bool)
/// unsafe.Pointer` (runtime/malloc.go; same signature in 1.22 to 1.27). With
/// `typ == nil` the object is allocated without pointers (noscan).
pub const MALLOCGC: &str = "runtime.mallocgc";

/// Runtime functions that build map literals passed as call arguments, with
/// word-sized arguments only, the same in 1.22 to 1.27 and in both map
/// layouts: `makemap(t *maptype, hint int, h *hmap) *hmap`
/// (runtime/map.go; runtime/map_swiss.go and internal/runtime/maps from
/// 1.24), `mapassign(t *maptype, h *hmap, key unsafe.Pointer)
/// unsafe.Pointer` (the value's slot) and `typedmemmove(typ *abi.Type, dst,
/// src unsafe.Pointer)` (runtime/mbarrier.go).
pub const MAKEMAP: &str = "runtime.makemap";
pub const MAPASSIGN: &str = "runtime.mapassign";
pub const TYPEDMEMMOVE: &str = "runtime.typedmemmove";

/// Offset of `itab.Fun` (runtime/runtime2.go / internal/abi/iface.go:
/// `Inter *InterfaceType; Type *Type; Hash uint32; Fun [1]uintptr`).
pub const ITAB_FUN_OFFSET: u64 = 24;

/// Offset of `InterfaceType.Methods.len` (internal/abi/type.go:
/// `Type` (48 bytes), `PkgPath Name` (8), `Methods []Imethod`): the number
/// of entries in an itab's `Fun` array.
pub const INTERFACETYPE_METHODS_LEN_OFFSET: u64 = 48 + 8 + 8;

/// The runtime's itab hash table, used to find the itab of a (concrete
/// type, interface) pair when passing a value as an interface argument:
/// `var itabTable *itabTableType` with `size uintptr; count uintptr;
/// entries [size]*itab` (runtime/iface.go, same in 1.22 to 1.27). Go 1.27
/// no longer emits a `go:itab.T,I` symbol per itab (they are grouped, see
/// `moduledata.itaboffset`), so the table is the version-independent route;
/// every compiled-in itab is added to it by `itabsinit`.
pub const ITAB_TABLE: &str = "runtime.itabTable";
pub const ITAB_TABLE_SIZE_OFFSET: u64 = 0;
pub const ITAB_TABLE_ENTRIES_OFFSET: u64 = 16;
/// Largest table size believed (it doubles from 512 entries as itabs are added).
pub const ITAB_TABLE_MAX_SIZE: u64 = 1 << 20;

/// Messages of `runtime.boundsError` by `code` (runtime/error.go
/// `boundsErrorFmts`, identical in 1.22 to 1.27), used to show a panicking
/// injected call's index error as the runtime prints it; `%x` and `%y` are
/// the error's `x` and `y` fields.
pub const BOUNDS_ERROR_FMTS: [&str; 9] = [
    "index out of range [%x] with length %y",
    "slice bounds out of range [:%x] with length %y",
    "slice bounds out of range [:%x] with capacity %y",
    "slice bounds out of range [%x:%y]",
    "slice bounds out of range [::%x] with length %y",
    "slice bounds out of range [::%x] with capacity %y",
    "slice bounds out of range [:%x:%y]",
    "slice bounds out of range [%x:%y:]",
    "cannot convert slice with length %y to array or pointer to array with length %x",
];

/// `boundsNegErrorFmts` (runtime/error.go): the messages used instead when
/// `x` is negative (codes 0-7).
pub const BOUNDS_NEG_ERROR_FMTS: [&str; 8] = [
    "index out of range [%x]",
    "slice bounds out of range [:%x]",
    "slice bounds out of range [:%x]",
    "slice bounds out of range [%x:]",
    "slice bounds out of range [::%x]",
    "slice bounds out of range [::%x]",
    "slice bounds out of range [:%x:]",
    "slice bounds out of range [%x::]",
];

/// `runtime.debugCallPanicked` (asm_amd64.s): where the PANICKED trap is.
/// The FRAME_READY and RETURNED traps are in the local `debugCall32` ...
/// `debugCall65536` functions (pclntab names without package prefix).
pub const DEBUG_CALL_PANICKED: &str = "runtime.debugCallPanicked";
pub const DEBUG_CALL_FRAME_FN_PREFIX: &str = "debugCall";

// ---------------------------------------------------------------------------
// Frozen world (issue 4): scheduler facts the freezer relies on.
//
// Checked in the runtime sources of Go 1.22.10, 1.23.9, 1.24.11, 1.25.5,
// 1.26.6 and 1.27.3 (runtime/proc.go, runtime2.go, traceback.go, lock_*.go):
// * `schedule()` moves a goroutine for which `schedEnabled(gp)` is false to
//   `sched.disable.runnable` when `sched.disable.user` is set; `exitsyscall`
//   calls `Gosched()` for such a goroutine, `exitsyscall0` (1.27:
//   `exitsyscallNoP`) queues it. `schedEnabled(gp)` is
//   `isSystemGoroutine(gp, true)` while user scheduling is disabled.
// * `schedEnableUser(enable bool)` and `checkdead()` are real functions in
//   every version and build mode (the freezer patches their entry with RET
//   while frozen: `gcMarkDone` calls `schedEnableUser(true)` at the end of
//   every GC cycle, and `checkdead` throws "checkdead: runnable g" when every
//   M idles while user goroutines wait in `disable.runnable`).
// * `schedEnableUser(true)` is `globrunqputbatch(&sched.disable.runnable)`
//   under `sched.lock` plus `startm` for idle Ps; the freezer's thaw performs
//   the same queue splice itself while every thread is stopped.
// * Queue counts: 1.22-1.24 keep `sched.runqsize` and `sched.disable.n`
//   next to `gQueue{head, tail}`; from 1.25 `gQueue` carries `size int32`
//   and both separate counts are gone. Detected from DWARF below.
// * `sched.lock` (runtime.mutex `key`): 1.22/1.23 futex lock, held when
//   `key != 0`; 1.24+ spinbit lock (lock_spinbit.go, `mutexLocked = 0x1`),
//   held when `key & 1 != 0`.
// ---------------------------------------------------------------------------

/// The scheduler's global (`var sched schedt`, runtime/runtime2.go).
pub const SCHED_GLOBAL: &str = "runtime.sched";
/// `func schedEnableUser(enable bool)` (runtime/proc.go).
pub const SCHED_ENABLE_USER: &str = "runtime.schedEnableUser";
/// `func checkdead()` (runtime/proc.go).
pub const CHECKDEAD: &str = "runtime.checkdead";
/// `asyncPreempt` (runtime/preempt_amd64.s): what the SIGURG handler makes a
/// goroutine at an asynchronous safe point call (`doSigPreempt` pushes the
/// interrupted pc as the return address and jumps there). It saves every
/// register and deschedules the goroutine (`asyncPreempt2` ->
/// `gopreempt_m`), so the debugger can do the same push itself, without a
/// signal and whatever GODEBUG=asyncpreemptoff says. Same in 1.22 to 1.27.
pub const ASYNC_PREEMPT: &str = "runtime.asyncPreempt";
/// `var asyncPreemptStack uintptr` (runtime/preempt.go): the stack room
/// asyncPreempt needs below the interrupted sp, computed by the runtime's
/// init (max SP delta of asyncPreempt + asyncPreempt2 + 8); read from the
/// process. [`ASYNC_PREEMPT_STACK_MAX`] when it cannot be read: its upper
/// bound, `stackNosplit` (800 bytes on linux/amd64; init throws above it).
pub const ASYNC_PREEMPT_STACK_VAR: &str = "runtime.asyncPreemptStack";
/// See [`ASYNC_PREEMPT_STACK_VAR`].
pub const ASYNC_PREEMPT_STACK_MAX: u64 = 800;
/// `func newproc1(fn *funcval, callergp *g, callerpc uintptr, ...) *g`
/// (runtime/proc.go; `parked` and `waitreason` parameters since 1.23): every
/// goroutine is made here.
pub const NEWPROC1: &str = "runtime.newproc1";
/// Functions (name prefixes) that call newproc1: `newproc`'s systemstack
/// closure (`runtime.newproc.func1`), `newcoro` (coro.go, 1.23+),
/// `debugCallWrap`'s closure (debugcall.go), synctest (1.24+).
pub const NEWPROC1_CALLERS: &[&str] = &["runtime.newproc", "runtime.newcoro", "runtime.debugCallWrap", "runtime.synctest"];
/// Whether a goroutine parked with this wait reason
/// (`waitReasonStrings`, runtime/runtime2.go) may be waiting for another
/// goroutine (a channel, select, a sync primitive, a semaphore), as opposed
/// to a timer, I/O or the runtime itself, which end on their own while the
/// others are frozen. Unknown reasons count as waiting on others.
pub fn waits_on_other_goroutines(reason: &str) -> bool {
    const ON_THEIR_OWN: &[&str] = &["sleep", "IO wait", "debug call", "preempted", "stopping the world", "wait for GC cycle", "force gc (idle)", "garbage collection", "finalizer wait", "timer goroutine (idle)", "trace reader (blocked)"];
    !(reason.is_empty() || ON_THEIR_OWN.contains(&reason) || reason.starts_with("GC ") || reason.starts_with("garbage collection"))
}

/// Assembly that switches a thread from one stack or goroutine to another
/// (runtime/asm_amd64.s): inside it, TLS g, SP and `g.sched` disagree, so
/// the goroutine's position cannot be read. Same in 1.22 to 1.27.
pub const STACK_SWITCH_FUNCS: &[&str] = &[
    "runtime.gogo",
    "gogo",
    "runtime.mcall",
    "runtime.systemstack",
    "runtime.systemstack_switch",
    "runtime.morestack",
    "runtime.morestack_noctxt",
    "runtime.gosave_systemstack_switch",
    "runtime.asmcgocall",
];

/// `_Prunning` (runtime/runtime2.go), the P status canPreemptM requires.
pub const P_RUNNING: u32 = 1;

/// Functions whose body runs between `schedule()`'s check of
/// `sched.disable.user` and `execute()` setting `m.curg` (runtime/proc.go,
/// all versions): a thread stopped there may be about to run a user
/// goroutine it chose before user scheduling went off.
pub const SCHEDULE_WINDOW: &[&str] = &["runtime.schedule", "runtime.execute", "runtime.startlockedm"];
/// x86 `RET`: written at the entry of the functions above while frozen.
pub const X86_RET: u8 = 0xC3;
/// SIGURG, the runtime's asynchronous preemption signal (`sigPreempt` in
/// runtime/signal_unix.go).
pub const SIG_PREEMPT: i32 = 23;

/// Addresses and offsets of the scheduler state the freezer reads and
/// writes, resolved from DWARF (`runtime.schedt`, `runtime.gQueue`,
/// `runtime.g`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedLayout {
    /// `&sched.disable.user` (bool).
    pub disable_user: u64,
    /// `&sched.disable.runnable` (gQueue).
    pub disable_runnable: u64,
    /// `&sched.disable.n` (int32), Go 1.22-1.24 only.
    pub disable_n: Option<u64>,
    /// `&sched.runq` (gQueue).
    pub runq: u64,
    /// `&sched.runqsize` (int32), Go 1.22-1.24 only.
    pub runqsize: Option<u64>,
    /// `&sched.lock.key`.
    pub lock_key: u64,
    /// Offsets in `gQueue`: head, tail, and `size` (int32, Go 1.25+).
    pub gq_head: u64,
    pub gq_tail: u64,
    pub gq_size: Option<u64>,
    /// `&sched.sysmonwait` (atomic.Bool) and `&sched.sysmonnote.key`:
    /// sysmon's deep sleep (runtime/proc.go sysmon, up to forcegcperiod/2
    /// = 60 s when every P is idle), which the thaw ends.
    pub sysmonwait: Option<u64>,
    pub sysmonnote_key: Option<u64>,
    /// `&sched.ngsys` (atomic.Int32; the `value` at offset 0): the count
    /// of system goroutines, which follows isSystemGoroutine.
    pub ngsys: Option<u64>,
    /// Offsets in `runtime.g`.
    pub g_schedlink: u64,
    pub g_preempt: u64,
    pub g_stackguard0: u64,
}

impl SchedLayout {
    pub fn from_dwarf(dwarf: &DebugInfo) -> Result<SchedLayout, RuntimeError> {
        use stillgo_dwarf::types::TypeKind;
        let miss = |what: &str| RuntimeError::Layout(format!("{what} not found in DWARF"));
        let field = |ty: &str, f: &str| dwarf.struct_field(ty, f).map(|(o, _)| o);
        let sched = dwarf.global(SCHED_GLOBAL).ok_or_else(|| miss(SCHED_GLOBAL))?;
        let (disable_off, disable_ty) = dwarf.struct_field("runtime.schedt", "disable").ok_or_else(|| miss("runtime.schedt.disable"))?;
        let disable_fields = match dwarf.type_(disable_ty).map(|t| t.kind.clone()) {
            Ok(TypeKind::Struct { fields }) => fields,
            _ => return Err(miss("the struct type of runtime.schedt.disable")),
        };
        let dfield = |n: &str| disable_fields.iter().find(|f| f.name == n).map(|f| f.offset);
        let lock = field("runtime.schedt", "lock").ok_or_else(|| miss("runtime.schedt.lock"))?;
        let key = field("runtime.mutex", "key").ok_or_else(|| miss("runtime.mutex.key"))?;
        let base = sched.addr;
        Ok(SchedLayout {
            disable_user: base + disable_off + dfield("user").ok_or_else(|| miss("runtime.schedt.disable.user"))?,
            disable_runnable: base + disable_off + dfield("runnable").ok_or_else(|| miss("runtime.schedt.disable.runnable"))?,
            disable_n: dfield("n").map(|o| base + disable_off + o),
            runq: base + field("runtime.schedt", "runq").ok_or_else(|| miss("runtime.schedt.runq"))?,
            runqsize: field("runtime.schedt", "runqsize").map(|o| base + o),
            lock_key: base + lock + key,
            gq_head: field("runtime.gQueue", "head").ok_or_else(|| miss("runtime.gQueue.head"))?,
            gq_tail: field("runtime.gQueue", "tail").ok_or_else(|| miss("runtime.gQueue.tail"))?,
            gq_size: field("runtime.gQueue", "size"),
            sysmonwait: field("runtime.schedt", "sysmonwait").map(|o| base + o),
            sysmonnote_key: field("runtime.schedt", "sysmonnote").and_then(|o| field("runtime.note", "key").map(|k| base + o + k)),
            ngsys: field("runtime.schedt", "ngsys").map(|o| base + o),
            g_schedlink: field("runtime.g", "schedlink").ok_or_else(|| miss("runtime.g.schedlink"))?,
            g_preempt: field("runtime.g", "preempt").ok_or_else(|| miss("runtime.g.preempt"))?,
            g_stackguard0: field("runtime.g", "stackguard0").ok_or_else(|| miss("runtime.g.stackguard0"))?,
        })
    }
}

/// Whether `sched.lock` is held, from its `key` word (see above).
pub fn runtime_mutex_held(v: Option<&GoVersion>, key: u64) -> bool {
    match v {
        Some(v) if v.major == 1 && v.minor <= 23 => key != 0,
        // Spinbit mutex: bit 0 is the lock; the other bits mean sleeping or
        // spinning Ms even while it is free.
        _ => key & 1 != 0,
    }
}

/// Room the debugger wants on an idle M's g0 stack (below its SP) before
/// running `schedEnableUser(true)` there (startm/newm frames; g0 stacks of
/// Go-created Ms are 16 KiB: runtime/proc.go `malg(16384 * ...)` in allocm).
pub const IDLE_THREAD_STACK_NEEDED: u64 = 8192;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_functions_that_call_user_code() {
        for name in ["runtime.gopanic", "runtime.deferreturn", "runtime.Goexit", "runtime.reflectcall", "runtime.call16", "runtime.call1073741824"] {
            assert!(calls_user_code(name), "{name}");
        }
        for name in ["runtime.call", "runtime.callers", "runtime.call16x", "runtime.mallocgc", "main.gopanic", "runtime.gopark"] {
            assert!(!calls_user_code(name), "{name}");
        }
    }

    #[test]
    fn finalizer_and_cleanup_goroutines_stop_with_user_scheduling() {
        for name in ["main.worker", "runtime.main", "runtime.runfinq", "runtime.runFinalizers", "runtime.runCleanups"] {
            assert!(stopped_by_disabled_user_scheduling(name), "{name}");
        }
        for name in ["runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.forcegchelper"] {
            assert!(!stopped_by_disabled_user_scheduling(name), "{name}");
        }
    }
}

// Scheduler facts of the frozen world (crates/world): run queues, the M
// fields that say whether a thread may be preempted, where goroutines park.

/// `runtime.allp` and the run queue fields of `runtime.p` (runtime2.go,
/// the same in Go 1.22 to 1.27): `runqhead`, `runqtail uint32`,
/// `runq [256]guintptr`, `runnext guintptr`.
#[derive(Debug, Clone)]
pub struct RunQueues {
    /// Address of the `allp` slice header.
    pub allp: u64,
    pub p_runqhead: u64,
    pub p_runqtail: u64,
    pub p_runq: u64,
    pub p_runnext: u64,
}

/// Offsets of the M and P fields canPreemptM reads (runtime/preempt.go:
/// `m.mallocing`, `m.preemptoff`, `m.p`, `p.status`), from DWARF.
#[derive(Debug, Clone, Copy)]
pub struct MPreempt {
    pub mallocing: u64,
    pub preemptoff: u64,
    pub p: u64,
    pub p_status: u64,
}

impl RunQueues {
    /// None when the binary does not describe them (goroutines in flight
    /// between schedule() and execute() are then not looked for).
    pub fn from_dwarf(dwarf: &DebugInfo) -> Option<RunQueues> {
        let f = |n: &str| dwarf.struct_field("runtime.p", n).map(|(o, _)| o);
        Some(RunQueues { allp: dwarf.global("runtime.allp")?.addr, p_runqhead: f("runqhead")?, p_runqtail: f("runqtail")?, p_runq: f("runq")?, p_runnext: f("runnext")? })
    }
}

impl MPreempt {
    pub fn from_dwarf(dwarf: &DebugInfo) -> Option<MPreempt> {
        Some(MPreempt {
            mallocing: dwarf.struct_field("runtime.m", "mallocing")?.0,
            preemptoff: dwarf.struct_field("runtime.m", "preemptoff")?.0,
            p: dwarf.struct_field("runtime.m", "p")?.0,
            p_status: dwarf.struct_field("runtime.p", "status")?.0,
        })
    }
}

/// Length of `p.runq` (runtime2.go `runq [256]guintptr`, 1.22 to 1.27).
pub const P_RUNQ_LEN: u32 = 256;

/// Offset of `m.locks` (int32): an M holding runtime locks (lock2 raises it
/// before it waits) is never used to run code for the debugger.
pub fn m_locks_offset(dwarf: &DebugInfo) -> Option<u64> {
    dwarf.struct_field("runtime.m", "locks").map(|(o, _)| o)
}

/// Offset of `m.incgo` (bool, runtime2.go: "m is executing a cgo call"),
/// set by `cgocall` around the C function (runtime/cgocall.go).
pub fn m_incgo_offset(dwarf: &DebugInfo) -> Option<u64> {
    dwarf.struct_field("runtime.m", "incgo").map(|(o, _)| o)
}

/// Offsets of `m.vdsoSP` / `m.vdsoPC` (runtime/vdso_linux.go, set around a
/// vDSO call): where a thread inside a vDSO call (on the g0 stack, TLS
/// still naming the goroutine) came from.
pub fn m_vdso_offsets(dwarf: &DebugInfo) -> Option<(u64, u64)> {
    dwarf.struct_field("runtime.m", "vdsoSP").zip(dwarf.struct_field("runtime.m", "vdsoPC")).map(|((sp, _), (pc, _))| (sp, pc))
}

/// The Go assembly that runs C on the system stack (runtime/asm_amd64.s,
/// the same in Go 1.22-1.27): `asmcgocall` switches to g0's stack, saves
/// the goroutine's stack depth at 0(SP) and its g at 8(SP), and calls the
/// C function through `asmcgocall_landingpad`. Unwinding a thread in C
/// comes back through both and switches back to the goroutine's stack.
pub const ASMCGOCALL: &str = "runtime.asmcgocall";
pub const ASMCGOCALL_LANDINGPAD: &str = "runtime.asmcgocall_landingpad";
pub const ASMCGOCALL_DEPTH_SLOT: u64 = 0;
pub const ASMCGOCALL_G_SLOT: u64 = 8;

/// The C functions a thread the runtime starts runs before it has a `g`
/// (runtime/cgo/gcc_libinit.c `_cgo_try_pthread_create`, gcc_linux_amd64.c
/// `threadentry`, gcc_amd64.S `crosscall1`), and the C library's own
/// thread creation (glibc `clone3`, `start_thread`), which every thread
/// begins in.
pub const CGO_THREAD_START: &[&str] = &["threadentry", "crosscall1", "x_cgo_thread_start", "_cgo_sys_thread_start", "_cgo_try_pthread_create"];
pub const LIBC_THREAD_START: &[&str] = &["start_thread", "clone3", "__clone3", "clone", "__clone", "__GI___clone3", "__GI___clone"];

/// Runtime functions that may sit between a parked or preempted goroutine
/// and its user code without holding any runtime resource: park and
/// preemption plumbing, and the blocking primitives user code calls
/// (runtime/proc.go, preempt.go, chan.go, select.go, sema.go, netpoll.go).
/// A goroutine stopped anywhere else in the runtime is exempted instead of
/// frozen (the freezer's exemptions, docs/frozen-world.md step 1).
pub const PARK_FRAMES: &[&str] = &[
    "runtime.gopark",
    "runtime.goparkunlock",
    "runtime.mcall",
    "runtime.park_m",
    "runtime.asyncPreempt",
    "runtime.asyncPreempt2",
    "runtime.gopreempt_m",
    "runtime.goschedImpl",
    "runtime.gosched_m",
    "runtime.Gosched",
    "runtime.goschedguarded",
    "runtime.goschedguarded_m",
    "runtime.goschedIfBusy",
    "runtime.goyield",
    "runtime.goyield_m",
    "runtime.preemptPark",
    "runtime.morestack",
    "runtime.newstack",
    "runtime.chanrecv",
    "runtime.chanrecv1",
    "runtime.chanrecv2",
    "runtime.chansend",
    "runtime.chansend1",
    "runtime.selectgo",
    "runtime.block",
    "runtime.semacquire1",
    "runtime.netpollblock",
    "runtime.exitsyscall",
    "runtime.timeSleep",
];

#[cfg(test)]
mod support_tests {
    use super::*;

    #[test]
    fn older_refused_newer_warned() {
        assert_eq!(check_supported(&GoVersion::new(1, 24, 3), true).unwrap(), VersionSupport::Supported);
        assert!(check_supported(&GoVersion::new(1, 21, 0), true).is_err());
        assert!(matches!(check_supported(&GoVersion::new(1, 21, 0), false), Ok(VersionSupport::Newer(_))));
        let newest = SUPPORTED_GO.newest;
        match check_supported(&GoVersion::new(newest.0, newest.1 + 1, 0), true) {
            Ok(VersionSupport::Newer(w)) => assert!(w.contains("newer than the supported Go 1.22 to 1.27") && w.contains("best effort"), "{w}"),
            other => panic!("{other:?}"),
        }
    }
}
