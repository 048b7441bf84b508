//! Frame and variable ids for the client. An id is valid until the program
//! runs again, and ids of earlier stops are never reused, so a stale id
//! from the client is an error rather than another stop's frame or
//! variable.

use stillgo_proc::Tid;
use stillgo_runtime::Value;

/// What a DAP thread id names (see `running.rs`, `Engine::target_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Goroutine(u64),
    Thread(Tid),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct FrameCtx {
    pub(super) target: Target,
    pub(super) frame: usize,
}

/// What a variables reference names.
pub(super) enum Handle {
    Scope { ctx: FrameCtx, args: bool },
    Value { ctx: FrameCtx, value: Value, path: Option<String> },
}

#[derive(Default)]
pub(super) struct Handles {
    frames: Vec<FrameCtx>,
    vars: Vec<Handle>,
    /// Ids handed out before the last stop (never reused).
    frames_base: i64,
    vars_base: i64,
}

impl Handles {
    pub(super) fn push_frame(&mut self, f: FrameCtx) -> i64 {
        self.frames.push(f);
        self.frames_base + self.frames.len() as i64
    }

    pub(super) fn push_var(&mut self, h: Handle) -> i64 {
        self.vars.push(h);
        self.vars_base + self.vars.len() as i64
    }

    pub(super) fn frame(&self, id: i64) -> Result<FrameCtx, String> {
        usize::try_from(id.saturating_sub(self.frames_base))
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.frames.get(i))
            .copied()
            .ok_or_else(|| format!("unknown frame {id} (frames are valid until the program runs again)"))
    }

    pub(super) fn var(&self, id: i64) -> Result<&Handle, String> {
        usize::try_from(id.saturating_sub(self.vars_base))
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.vars.get(i))
            .ok_or_else(|| format!("unknown variables reference {id} (they are valid until the program runs again)"))
    }

    /// The program runs: every id handed out so far becomes stale.
    pub(super) fn clear(&mut self) {
        self.frames_base += self.frames.len() as i64;
        self.vars_base += self.vars.len() as i64;
        self.frames.clear();
        self.vars.clear();
    }
}
