//! Ctrl-C (SIGINT to the debugger) while the program runs stops the program
//! instead of killing the debugger, and the session stays usable.

use std::time::Duration;

use stillgo_testkit::{build, go_versions, Flavor, Session};

#[test]
fn sigint_stops_the_running_program() {
    for tc in go_versions() {
        let bin = build("spin", &tc, Flavor::Debug);
        let mut s = Session::exec(&bin, &[]);
        let pid = s.pid() as i32;
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            // SAFETY: sending a signal to the debugger process we started.
            unsafe { libc::kill(pid, libc::SIGINT) };
        });
        let out = s.send("continue");
        sender.join().expect("signal thread");
        assert!(out.contains("interrupted"), "{tc}: continue was not interrupted: {out}");
        // The debugger is alive and the program is intact: variables read,
        // and the program keeps running afterwards to a breakpoint.
        let out = s.send("print main.ticks > 0");
        assert!(out.contains("true"), "{tc}: {out}");
        let out = s.send("break main.tick");
        assert!(out.contains("Breakpoint 1 set"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("[Breakpoint 1] main.tick()"), "{tc}: {out}");
    }
}
