//! Calls with the world frozen (issue 4): the session side of
//! `stillgo_eval::freeze`. A call freezes every other user goroutine before
//! its first injection (argument allocations included) and thaws them when
//! the whole expression is done, on every path (success, panic, refusal,
//! error): the process is never left frozen between commands.

use stillgo_eval::call::{self as ec, CallEnv, CallError};
use stillgo_eval::freeze::{Blocked, BlockedChoice, FreezeFacts, Freezer, FrozenCall};
use stillgo_proc::{Process, Tid};

use crate::call::{CallOptions, CallOutcome};
use crate::stepping::Kind;
use crate::Stop;
use crate::{Result, Session, SessionError};

/// What the freezer did during one `call`.
#[derive(Debug, Clone, Default)]
pub struct FreezeReport {
    /// The other goroutines were frozen during the call.
    pub frozen: bool,
    /// The call blocked on the frozen world (reported to the handler).
    pub blocked: Option<Blocked>,
    /// The world was thawed before the call ended (the handler chose thaw).
    pub thawed_early: bool,
    /// Rounds of preemption requests needed to stop the other goroutines.
    pub rounds: u32,
}

/// The freezer of one `call` and whom to ask when the call blocks.
pub(crate) struct FrozenCtx<'h> {
    pub(crate) freezer: Freezer,
    pub(crate) on_blocked: &'h mut dyn FnMut(&Blocked) -> BlockedChoice,
}

impl Session {
    /// Runs `expr`'s calls; unless `opts.thaw`, every other user goroutine
    /// stays frozen meanwhile. `on_blocked` is asked what to do when the
    /// call waits a second on something only a frozen goroutine can provide
    /// (again every second while the answer is `Wait`).
    pub fn call_frozen_with(
        &mut self,
        expr: &str,
        opts: CallOptions,
        on_blocked: &mut dyn FnMut(&Blocked) -> BlockedChoice,
    ) -> Result<(CallOutcome, FreezeReport)> {
        if opts.thaw {
            let (r, _) = self.call_in(expr, opts, None);
            return Ok((r?, FreezeReport::default()));
        }
        let facts = self.freeze_facts()?;
        let ctx = FrozenCtx { freezer: Freezer::new(facts), on_blocked };
        let (result, ctx) = self.call_in(expr, opts, Some(ctx));
        let mut report = FreezeReport::default();
        let Some(mut ctx) = ctx else { return Ok((result?, report)) };
        report.frozen = ctx.freezer.rounds > 0 || ctx.freezer.is_frozen() || ctx.freezer.blocked.is_some();
        report.blocked = ctx.freezer.blocked.take();
        report.thawed_early = ctx.freezer.thawed_for_blocked;
        report.rounds = ctx.freezer.rounds;
        // Thaw on every path; a thaw failure wins over the call's result
        // (the user must know the program may be left frozen).
        let bin = self.program.bin.clone();
        let thawed = match self.proc.as_mut() {
            Some(p) if p.is_alive() => ctx.freezer.thaw(p, bin.pclntab()),
            _ => Ok(()),
        };
        self.invalidate();
        if let Err(e) = thawed {
            return Err(SessionError::Invalid(format!("{e}; the program may stay frozen: detach or kill it")));
        }
        Ok((result?, report))
    }

    /// A step (`next`, `step`, `stepout`) during which only the stepping
    /// goroutine (and goroutines it starts) run: every other user goroutine
    /// is frozen as for a call, the stepping one runs as if it were a
    /// system goroutine (so it may sleep, allocate, collect garbage, be
    /// preempted), and everything is thawed when the step ends, however it
    /// ends. A step blocked a second on a frozen goroutine thaws the world
    /// and goes on (reported in `last_step_freeze`). A goroutine that is not
    /// on a thread (parked, selected by the user) steps unfrozen.
    pub(crate) fn step_frozen(&mut self, kind: Kind) -> Result<Stop> {
        let Some(goid) = self.selected_goroutine() else { return self.step_plain(kind, None) };
        let g = self.find_goroutine(goid)?;
        let mut tid = None;
        for t in self.proc()?.threads() {
            if self.goroutine_of_thread(t)? == Some(goid) {
                tid = Some(t);
                break;
            }
        }
        let Some(tid) = tid else { return self.step_plain(kind, None) };
        let facts = self.freeze_facts()?;
        let bin = self.program.bin.clone();
        let pcln = bin.pclntab();
        let mut freezer = Freezer::new(facts);
        self.invalidate();
        {
            let p = self.proc_mut()?;
            // A Ctrl-C seen earlier is no request for this step.
            p.interrupter().take_user_request();
            match freezer.freeze(p, pcln, tid) {
                Ok(()) => {}
                Err(stillgo_eval::freeze::FreezeError::Exited(code)) => {
                    let s = Stop::Exited { code };
                    self.process_gone(&s);
                    self.last_stop = Some(s.clone());
                    return Ok(s);
                }
                Err(e) => return Err(SessionError::Invalid(e.to_string())),
            }
        }
        let mut on_blocked = |_: &Blocked| BlockedChoice::Thaw;
        let mut hooks = FrozenCall::new(&mut freezer, pcln, &mut on_blocked);
        let started = {
            use stillgo_eval::call::CallHooks;
            let p = self.proc_mut()?;
            hooks.call_started(p, g.addr).map_err(SessionError::from).and_then(|()| hooks.freezer.run_with(p, g.addr).map_err(|e| SessionError::Invalid(e.to_string())))
        };
        let result = match started {
            Ok(()) => self.step_plain(kind, Some(&mut hooks)),
            Err(e) => Err(e),
        };
        // Where the stepping goroutine stopped: that thread stays put while
        // the freezer finishes and thaws.
        self.invalidate();
        let mut now_tid = tid;
        if let Ok(Stop::StepDone { tid: t, .. } | Stop::Breakpoint { tid: t, .. }) = result.as_ref() {
            now_tid = *t;
        }
        let mut thaw_err = None;
        if let Some(p) = self.proc.as_mut().filter(|p| p.is_alive()) {
            if let Err(e) = hooks.finish(p, now_tid) {
                thaw_err = Some(e);
            }
            let r = freezer.thaw(p, pcln);
            if let Err(e) = r {
                thaw_err.get_or_insert(e);
            }
        }
        self.invalidate();
        self.last_step_freeze = Some(FreezeReport {
            frozen: true,
            blocked: freezer.blocked.take(),
            thawed_early: freezer.thawed_for_blocked,
            rounds: freezer.rounds,
        });
        if let Some(e) = thaw_err {
            if !matches!(e, stillgo_eval::freeze::FreezeError::Exited(_)) {
                return Err(SessionError::Invalid(format!("{e}; the program may stay frozen: detach or kill it")));
            }
        }
        result
    }

    fn freeze_facts(&mut self) -> Result<FreezeFacts> {
        let layout = self.program.layout()?.clone();
        let p = &self.program;
        p.freeze_facts
            .get_or_init(|| FreezeFacts::resolve(p.dwarf.as_deref(), &p.bin, &layout, p.go_version.as_ref()).map_err(|e| e.to_string()))
            .clone()
            .map_err(SessionError::Invalid)
    }

    /// Freezes the world around the call thread `tid`.
    pub(crate) fn freeze_for(&mut self, ctx: &mut FrozenCtx<'_>, tid: Tid) -> Result<()> {
        let bin = self.program.bin.clone();
        self.invalidate();
        let r = ctx.freezer.freeze(self.proc_mut()?, bin.pclntab(), tid);
        self.invalidate();
        match r {
            Ok(()) => Ok(()),
            Err(stillgo_eval::freeze::FreezeError::Exited(code)) => {
                let s = crate::Stop::Exited { code };
                self.process_gone(&s);
                self.last_stop = Some(s);
                Err(SessionError::Invalid(format!("the program exited while its goroutines were being frozen (status {code})")))
            }
            Err(e) => Err(SessionError::Invalid(e.to_string())),
        }
    }
}

/// One injection with the freezer's hooks.
pub(crate) fn inject_frozen(
    proc: &mut Process,
    ctx: &mut FrozenCtx<'_>,
    tid: Tid,
    env: &CallEnv,
    spec: &ec::CallSpec,
    layout: &ec::FrameLayout,
) -> std::result::Result<ec::CallOutcome, CallError> {
    let mut hooks = FrozenCall::new(&mut ctx.freezer, env.pcln, &mut *ctx.on_blocked);
    let res = ec::inject_with(proc, tid, env, spec, layout, &mut hooks);
    if proc.is_alive() {
        if let Err(e) = hooks.finish(proc, tid) {
            return match (res, e) {
                (_, stillgo_eval::freeze::FreezeError::Exited(c)) => Err(CallError::Exited(c)),
                (Ok(_), e) => Err(e.into()),
                (Err(r), _) => Err(r),
            };
        }
    }
    res
}
