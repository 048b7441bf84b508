//! Which signals stop the debugger.

/// Which program signals `Process::wait` reports as `StopEvent::Signal`.
/// Every other signal is passed straight to the program on the spot.
///
/// The default reports nothing: Go programs use signals internally (SIGURG
/// for asynchronous preemption, `preemptM` in runtime/signal_unix.go;
/// SIGPROF for the profiler; SIGSEGV/SIGBUS/SIGFPE become run-time panics in
/// `sigpanic`), so stopping on them would both disturb and mislead.
/// A reported signal is still delivered to the program on the next resume
/// of its thread unless the caller discards it
/// (`Process::discard_pending_signals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalPolicy {
    /// Bit `n` set: signal `n` (1..=64) is reported.
    report: u64,
}

impl SignalPolicy {
    /// Pass every signal through (the default).
    pub fn pass_all() -> SignalPolicy {
        SignalPolicy::default()
    }

    /// Reports `sig` (true) or passes it silently (false). Signals outside
    /// 1..=64 are ignored.
    pub fn set_report(&mut self, sig: i32, report: bool) -> &mut Self {
        if (1..=64).contains(&sig) {
            let bit = 1u64 << (sig - 1);
            if report {
                self.report |= bit;
            } else {
                self.report &= !bit;
            }
        }
        self
    }

    /// True if `sig` stops the debugger.
    pub fn reports(&self, sig: i32) -> bool {
        (1..=64).contains(&sig) && self.report & (1u64 << (sig - 1)) != 0
    }
}
