//! Helpers shared by the session tests: launching a testdata program under
//! a [`Session`], where the selected frame is, and values as numbers.
#![allow(dead_code)]

use stillgo_eval::{Const, Val};
use stillgo_proc::{ChildPipes, LaunchOptions, StdioMode};
use stillgo_session::{Session, Stop};
use stillgo_testkit::{build, Flavor, GoToolchain};

/// `program` (testdata/) built by `tc` as `flavor`, launched and stopped at
/// its entry. The program's output goes to pipes kept with the session
/// (a Go program writing to a closed pipe dies of SIGPIPE).
pub fn launch(program: &str, tc: &GoToolchain, flavor: Flavor) -> (Session, ChildPipes) {
    let bin = build(program, tc, flavor);
    let opts = LaunchOptions { stdio: StdioMode::Piped, ..LaunchOptions::new(&bin) };
    let (s, pipes) = Session::launch(opts).unwrap_or_else(|e| panic!("{tc}: launch {program}: {e}"));
    assert!(matches!(s.last_stop, Some(Stop::Entry)), "{tc}: {:?}", s.last_stop);
    (s, pipes.expect("piped stdio"))
}

/// Function and line of the selected frame.
pub fn at(s: &mut Session) -> (String, u32) {
    let f = s.current_frame().expect("current frame");
    (f.function.as_deref().unwrap_or("?").to_string(), f.line)
}

/// An integer value of the program (a variable, or a constant expression).
pub fn int(s: &mut Session, expr: &str) -> i128 {
    let v = s.eval(expr).unwrap_or_else(|e| panic!("eval {expr}: {e}"));
    val_int(s, &v)
}

pub fn val_int(s: &Session, v: &Val) -> i128 {
    match v {
        Val::Value(v) => s.reader().expect("reader").as_i128(v).expect("an integer"),
        Val::Const(Const::Int(i)) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// The text of a Go string value.
pub fn val_string(s: &Session, v: &Val) -> String {
    match v {
        Val::Value(v) => s.reader().expect("reader").string(v, 1 << 10).expect("a string").0,
        Val::Const(Const::Str(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a string: {other:?}"),
    }
}

/// The goroutine of a breakpoint or step stop.
pub fn stop_goroutine(stop: &Stop) -> Option<u64> {
    match stop {
        Stop::Breakpoint { goroutine, .. } | Stop::StepDone { goroutine, .. } => *goroutine,
        _ => None,
    }
}
