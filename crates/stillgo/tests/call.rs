//! `call`: injected function calls through runtime.debugCallV2, driven
//! through the CLI on testdata/calls for every Go version under test.
//!
//! Every case ends by letting the program run on to a later breakpoint and
//! checking its state there, which proves the call left the goroutine's
//! registers and stack as they were.

use std::time::{Duration, Instant};

use stillgo_testkit::{bp_line, build, go_versions, Flavor, GoToolchain, Session};

const PROG: &str = "calls";

fn line(name: &str) -> u32 {
    bp_line(PROG, "main.go", name)
}

/// A session stopped at the first hit of `// BP:work` (n == 1).
fn at_work(tc: &GoToolchain, flavor: Flavor) -> Session {
    let bin = build(PROG, tc, flavor);
    let mut s = Session::exec(&bin, &[]);
    let out = s.send(&format!("break main.go:{}", line("work")));
    assert!(out.contains("Breakpoint 1"), "{tc}: {out}");
    let out = s.send("continue");
    assert!(out.contains("main.work"), "{tc}: {out}");
    s
}

fn expect(s: &mut Session, tc: &GoToolchain, cmd: &str, want: &str) {
    let out = s.send(cmd);
    assert_eq!(out.trim_end(), want, "{tc}: `{cmd}`\n{}", s.transcript());
}

fn expect_contains(s: &mut Session, tc: &GoToolchain, cmd: &str, parts: &[&str]) -> String {
    let out = s.send(cmd);
    for p in parts {
        assert!(out.contains(p), "{tc}: `{cmd}`: expected {p:?} in:\n{out}");
    }
    out
}

/// Continues to the second hit of BP:work and checks the program's state
/// there: the loop advanced normally (n == 2, counter == 2).
fn continue_to_second_work(s: &mut Session, tc: &GoToolchain) {
    let out = s.send("continue");
    assert!(out.contains("main.work") && out.contains("hits goroutine(1):2"), "{tc}: continue: {out}");
    expect(s, tc, "print counter", "2");
}

#[test]
fn call_forms() {
    for tc in go_versions() {
        let mut s = at_work(&tc, Flavor::Debug);
        let regs_before = s.send("regs");
        let stack_before = s.send("stack");
        for (cmd, want) in [
            // Plain and package-qualified functions, string literals.
            ("call add(1, 2)", "3"),
            ("call add(n, 40)", "41"),
            ("call greet(\"world\")", "\"hello, world\""),
            ("call strings.Repeat(\"ab\", 3)", "\"ababab\""),
            // Every integer and float size, bool, complex.
            ("call kinds(-8, -16, -32, -64, 8, 16, 32, 64, 7, 9, 1.5, 2.25, true, cx)", "\"-8 -16 -32 -64 8 16 32 64 7 9 1.5 2.25 true (1.5-2i)\""),
            ("call mix(-1, 2, 3, 4, 0.5, 1.25, true)", "-9.75"),
            // More arguments than registers (ints and floats).
            ("call many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)", "650"),
            ("call floats(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)", "153"),
            // Arrays and structs on the stack, structs in registers.
            ("call sumArr(arr)", "60"),
            ("call bigArg(big, 10)", "20.25"),
            ("call movePoint(p, 1, 1)", "main.Point {X: 4, Y: 5}"),
            // Slices, maps, pointers, channels, funcs, interfaces.
            // xs, words, m, pp and p live on the stack (they do not escape):
            // passing them needs -unsafe (see call_errors for the refusal).
            ("call -unsafe sumSlice(xs)", "10"),
            ("call -unsafe join(words, \"-\")", "\"a-b-c\""),
            ("call -unsafe lookup(m, \"two\")", "2"),
            ("call -unsafe refs(pp, m, ch, fnVar, err, p)", "\"5 2 3 5 e1 (3,4)\""),
            ("call -unsafe refs(&p, m, ch, add, nil, 42)", "\"3 2 3 5 <nil> 42\""),
            ("call -unsafe refs(&p, m, ch, add, nil, \"str\")", "\"3 2 3 5 <nil> str\""),
            ("call describe(r)", "\"it is a rect 4x5\""),
            ("call -unsafe describe(sh)", "\"it is a rect 2x3\""),
            // Composite literal and variadic arguments.
            ("call join([]string{\"x\", \"y\"}, \"+\")", "\"x+y\""),
            ("call sumArr([3]int{1, 2, 3})", "6"),
            ("call movePoint(Point{Y: 5}, 1, 0)", "main.Point {X: 1, Y: 5}"),
            ("call nameOf(Named{Point{1, 2}, \"nm\"})", "\"nm(1,2)\""),
            ("call bigArg(Big{A: [4]int{1, 1, 1, 1}, F: 1.5}, 2)", "7.5"),
            ("call index([]int{4, 5}, 1)", "5"),
            // Keyed slice and array literals, map literals (built by the
            // runtime's makemap/mapassign: bucket maps up to Go 1.23,
            // Swiss tables from 1.24).
            ("call sumSlice([]int{2: 5, 7, 0: 1})", "13"),
            ("call index([]int{3: 9}, 3)", "9"),
            ("call sumArr([3]int{1: 7})", "7"),
            ("call mapSum(map[string]int{\"a\": 1, \"bb\": 22})", "\"2: a=1 bb=22 \""),
            ("call mapSum(map[string]int{})", "\"0: \""),
            ("call pointNames(map[Point][]string{{1, 2}: {\"x\", \"y\"}, Point{3, 4}: nil})", "\"1/2:x+y 3/4:\""),
            ("call mapLen(map[int]float64{1: 0.5, 2: 1, 3: 2})", "3"),
            ("call fmt.Sprint(map[string]int{\"z\": 26}, []int{1: 4})", "\"map[z:26] [0 4]\""),
            ("call sum(1, 2, 3)", "6"),
            ("call -unsafe sum(xs...)", "10"),
            ("call sum()", "0"),
            ("call concat(\"+\", \"a\", \"bc\")", "\"a+bc\""),
            ("call concat(\"/\", []string{\"a\", \"b\"}...)", "\"a/b\""),
            // Variadic ...any: constants, variables and composite literals
            // boxed in the program's heap.
            ("call fmt.Sprint(1, \"a\", 2.5, p, true)", "\"1a2.5 (3,4) true\""),
            ("call fmt.Sprintf(\"%d-%s-%v-%v\", 42, \"x\", []int{1, 2}, Point{5, 6})", "\"42-x-[1 2]-(5,6)\""),
            ("call fmt.Sprint([]any{[]int{1}, Point{1, 1}}...)", "\"[1] (1,1)\""),
            // Methods: value and pointer receivers through values and pointers,
            // promoted methods, interface dispatch (itab and dynamic type).
            ("call p.Sum()", "7"),
            ("call pp.Sum()", "11"),
            ("call named.Sum()", "15"),
            ("call named.String()", "\"(7,8)\""),
            // The values in sh (some versions) and sh2 are on the stack: see
            // call_errors for the refusal without -unsafe.
            ("call -unsafe sh.Describe(\"x\")", "\"x rect 2x3\""),
            ("call -unsafe sh.Area()", "6"),
            ("call -unsafe sh2.Area()", "12"),
            ("call -unsafe sh2.Describe(\"c\")", "\"c circle\""),
            ("call err.Error()", "\"e1\""),
            // Closures with their context, method values, func variables.
            ("call adder(5)", "106"),
            ("call sumFn()", "7"),
            ("call fnVar(3, 4)", "7"),
            // Calls nested in expressions.
            ("call add(add(1, 2), 3) + 1", "7"),
            ("call p.String()[0]", "40"),
            ("call -unsafe len(join(words, \",\"))", "5"),
        ] {
            expect(&mut s, &tc, cmd, want);
        }
        // Multiple results, named; results spilled to the stack.
        expect(&mut s, &tc, "call divmod(17, 5)", "q = 3\nr = 2");
        expect(&mut s, &tc, "call bigResult(7)", "a = [3]int [7,14,21]\ns = \"big\"");
        expect(&mut s, &tc, "call makeBig(5)", "main.Big {A: [5,6,7,8], F: 0.5}\n5");
        // Error results with their dynamic type.
        expect(&mut s, &tc, "call mayFail(-3)", "0\nerror(*main.MyErr) *{Code: -3}");
        expect(&mut s, &tc, "call mayFail(0)", "0\nerror(*errors.errorString) *{s: \"zero\"}");
        expect(&mut s, &tc, "call mayFail(4)", "40\nerror nil");
        // Registers and stack exactly as before all those calls.
        assert_eq!(s.send("regs"), regs_before, "{tc}: registers changed by calls");
        assert_eq!(s.send("stack"), stack_before, "{tc}: stack changed by calls");
        // Side effects stay: pointer receivers modify the variable.
        expect(&mut s, &tc, "call -unsafe p.Scale(2)", "");
        expect(&mut s, &tc, "print p", "main.Point {X: 6, Y: 8}");
        expect(&mut s, &tc, "call -unsafe pp.Scale(3)", "");
        expect(&mut s, &tc, "print pp", "*main.Point {X: 15, Y: 18}");
        // Stepping still works after calls.
        let out = s.send("next");
        let stop = out.lines().next().unwrap_or("");
        assert!(
            stop.contains("main.work()") && !stop.contains(&format!("main.go:{}", line("work"))),
            "{tc}: next after calls: {out}"
        );
        continue_to_second_work(&mut s, &tc);
        expect(&mut s, &tc, "call add(n, 1)", "3");
    }
}

#[test]
fn call_errors() {
    for tc in go_versions() {
        let mut s = at_work(&tc, Flavor::Debug);
        for (cmd, want) in [
            ("call nosuch(1)", "could not find function main.nosuch"),
            ("call add(1)", "not enough arguments in call to main.add: have 1, want (int, int)"),
            ("call add(1, 2, 3)", "too many arguments in call to main.add: have 3, want (int, int)"),
            ("call add(\"x\", 2)", "cannot use \"x\" (untyped string constant) as int value in argument a"),
            ("call add(p, 1)", "cannot use main.Point {X: 3, Y: 4} (type main.Point) as type int"),
            ("call nilFn(1)", "cannot call nilFn: it is a nil func value"),
            ("call nilSh.Area()", "cannot call nilSh.Area: nilSh is a nil interface"),
            ("call n(1)", "cannot call non-function n (type int)"),
            ("call p.Nope()", "has no method Nope"),
            // Pointers to stack objects are refused: the callee could keep them.
            ("call refs(&p, m, ch, add, nil, 1)", "cannot use &p as argument p of main.refs: &p points to the goroutine's stack (stack object passed to escaping pointer)"),
            ("call sumSlice(xs)", "cannot use xs as argument xs of main.sumSlice: xs points to the goroutine's stack"),
            ("call lookup(m, \"one\")", "cannot use m as argument m of main.lookup: m points to the goroutine's stack"),
            ("call p.Scale(2)", "cannot use p as the receiver of main.(*Point).Scale: p points to the goroutine's stack"),
            // Interface method calls receive the data word: &Circle{2} is on the stack.
            ("call sh2.Area()", "cannot call sh2.Area: the value in sh2 is on the goroutine's stack (stack object passed to escaping pointer)"),
            ("call sh2.Describe(\"c\")", "use `call -unsafe` if it does not"),
            // Wrong literals.
            ("call sumArr([3]int{3: 1})", "argument a: array index 3 out of bounds [0:3]"),
            ("call sumSlice([]int{1: 1, 1: 2})", "argument xs: duplicate index 1 in array or slice literal"),
            ("call mapSum(map[string]int{\"a\"})", "argument m: missing key in map literal of type map[string]int"),
            ("call n + 1", "not a function call"),
            ("call hugeArg([9000]int{})", "the call's argument frame is 72000 bytes, more than the runtime's limit of 65536 (call frame too large)"),
            // Variadic or not, from the declaration.
            ("call -unsafe sum(xs)", "cannot use []int len: 4, cap: 4, [1,2,3,4] (type []int) as type int"),
            ("call sumSlice(5)", "cannot use 5 (untyped int constant) as []int value in argument xs"),
            ("call sumSlice(1, 2)", "too many arguments in call to main.sumSlice: have 2, want ([]int)"),
            ("call add(1, 2...)", "cannot use ... in call to non-variadic main.add"),
            ("call -unsafe sumSlice(xs...)", "cannot use ... in call to non-variadic main.sumSlice"),
            // print never runs code.
            ("print add(1, 2)", "print never runs program code; use `call add(1, 2)`"),
            ("print p.Sum()", "print never runs program code"),
        ] {
            let out = s.send(cmd);
            assert!(out.contains("Command failed") && out.contains(want), "{tc}: `{cmd}`: expected {want:?} in:\n{out}");
        }
        // A parked goroutine (blocked on a channel): arguments come from its
        // frame, the call runs on a goroutine stopped in user code.
        let grs = s.send("goroutines");
        let parked = grs
            .lines()
            .find(|l| l.contains("main.parked") && l.contains("chan receive"))
            .and_then(|l| l.split_whitespace().skip_while(|w| *w != "Goroutine").nth(1))
            .and_then(|id| id.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{tc}: no parked goroutine in:\n{grs}"));
        s.send(&format!("goroutine {parked}"));
        let stack = s.send("stack");
        let frame = stack
            .lines()
            .find(|l| l.contains("in main.parked"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{tc}: main.parked not in the parked goroutine's stack:\n{stack}"));
        expect(&mut s, &tc, &format!("frame {frame} call add(local, 1)"), "22");
        expect(&mut s, &tc, &format!("frame {frame} call sleepy(id)"), "7");
        // Pointers into the parked goroutine's stack are refused too.
        expect_contains(
            &mut s,
            &tc,
            &format!("frame {frame} call refs(&local, nil, nil, nil, nil, 1)"),
            &["cannot use &local as argument p of main.refs: &local points to the goroutine's stack"],
        );
        s.send("goroutine 1");
        expect(&mut s, &tc, "call add(1, 2)", "3");
        continue_to_second_work(&mut s, &tc);
    }
}

/// Generic functions and methods of generic types: the shape instantiation
/// (`main.Sum[go.shape.int]`) runs with the dictionary of the type
/// arguments (`main..dict.Sum[int]`), inferred from the arguments, given
/// explicitly, or taken from the receiver's type.
#[test]
fn call_generics() {
    for tc in go_versions() {
        let bin = build(PROG, &tc, Flavor::Debug);
        let mut s = Session::exec(&bin, &[]);
        s.send(&format!("break generics.go:{}", bp_line(PROG, "generics.go", "generics")));
        let out = s.send("continue");
        assert!(out.contains("main.generics"), "{tc}: {out}");
        for (cmd, want) in [
            // Inferred type arguments; named types share the shape of their
            // underlying type (MyInt runs as go.shape.int).
            ("call Sum(ints)", "6"),
            ("call Sum(mine)", "9"),
            ("call Sum(fl)", "0.75"),
            ("call Sum([]int{1, 2})", "3"),
            ("call Sum([]MyInt{2: 5})", "5"),
            ("call Map(ints, itoa)", "[]string len: 3, cap: 3, [\"#1\",\"#2\",\"#3\"]"),
            ("call Count(2, 1, 2, 2)", "2"),
            ("call Count(\"a\", \"b\", \"a\")", "1"),
            ("call Count(3, ints...)", "1"),
            // Pointer shape (go.shape.*uint8) and struct shape.
            ("call Pick(genPoint, genPoint, true)", "*main.Point {X: 1, Y: 2}"),
            ("call Pick(Point{1, 1}, Point{2, 2}, false)", "main.Point {X: 2, Y: 2}"),
            ("call Pick(\"x\", \"y\", false)", "\"y\""),
            // Explicit type arguments.
            ("call Sum[int](ints)", "6"),
            ("call Sum[float64]([]float64{1.5, 2})", "3.5"),
            ("call Map[int, string]([]int{4}, itoa)", "[]string len: 1, cap: 1, [\"#4\"]"),
            ("call Zero[float64]()", "0"),
            // Methods of generic types, value and pointer receivers.
            ("call intStack.Len()", "2"),
            ("call intStack.Peek()", "8"),
            ("call strStack.Peek()", "\"top\""),
            ("call strStack.Len()", "1"),
            ("call vs.Len()", "2"),
            ("call pair.Describe(\"=\")", "\"k=9\""),
            ("call Sum(ints) + intStack.Len() * 10", "26"),
            ("call intStack.Push(9)", ""),
            ("call intStack.Peek()", "9"),
            ("print intStack.items", "[]int len: 3, cap: 4, [7,8,9]"),
        ] {
            expect(&mut s, &tc, cmd, want);
        }
        for (cmd, want) in [
            // The shape instantiations are what runs.
            ("call Sum(ints, 1)", "too many arguments in call to main.Sum[go.shape.int]: have 2, want ([]int)"),
            ("call intStack.Push()", "not enough arguments in call to main.(*Stack[go.shape.int]).Push: have 0, want (int)"),
            ("call Zero()", "cannot infer the type arguments of main.Zero"),
            ("call Sum[int8](nil)", "main.Sum[int8] is not in the binary"),
            ("call Sum([]int8{1})", "no instantiation of main.Sum in the binary fits these arguments"),
        ] {
            let out = s.send(cmd);
            assert!(out.contains("Command failed") && out.contains(want), "{tc}: `{cmd}`: expected {want:?} in:\n{out}");
        }
        s.send("clearall");
        let out = s.send("continue");
        assert!(out.contains("total 459 37 3 true"), "{tc}: the program's result changed: {out}");
        // Optimized: Go 1.22 leaves `.dict` out of DWARF there; its ABI
        // position is fixed (checked against the compiler's frame size).
        let bin = build(PROG, &tc, Flavor::Optimized);
        let mut s = Session::exec(&bin, &[]);
        s.send(&format!("break generics.go:{}", bp_line(PROG, "generics.go", "generics")));
        let out = s.send("continue");
        assert!(out.contains("main.generics"), "{tc}: {out}");
        for (cmd, want) in [
            ("call Sum(ints)", "6"),
            ("call Sum(mine)", "9"),
            ("call Map(ints, itoa)", "[]string len: 3, cap: 3, [\"#1\",\"#2\",\"#3\"]"),
            ("call Count(3, ints...)", "1"),
            ("call Pick(genPoint, genPoint, true)", "*main.Point {X: 1, Y: 2}"),
            ("call intStack.Peek()", "8"),
            ("call strStack.Len()", "1"),
        ] {
            expect(&mut s, &tc, cmd, want);
        }
        s.send("clearall");
        let out = s.send("continue");
        assert!(out.contains("total 459 37 3 true"), "{tc}: the program's result changed: {out}");
    }
}

#[test]
fn call_panic_refusal_exit() {
    for tc in go_versions() {
        let mut s = at_work(&tc, Flavor::Debug);
        expect(&mut s, &tc, "call boom(\"bad\")", "panic: bad");
        expect(&mut s, &tc, "call add(1, 2)", "3");
        expect(&mut s, &tc, "call boom(\"again\") + 1", "panic: again");
        // Runtime errors inside the call, shown as the runtime prints them.
        expect(&mut s, &tc, "call -unsafe index(xs, 10)", "panic: runtime error: index out of range [10] with length 4");
        expect(&mut s, &tc, "call index([]int{1}, -1)", "panic: runtime error: index out of range [-1]");
        expect(&mut s, &tc, "call -unsafe refs(nil, m, ch, add, nil, 1)", "panic: runtime error: invalid memory address or nil pointer dereference");
        continue_to_second_work(&mut s, &tc);
        // Stopped inside the runtime: refused with advice.
        s.send("clearall");
        s.send("break runtime.NumGoroutine");
        let out = s.send("continue");
        assert!(out.contains("runtime.NumGoroutine"), "{tc}: {out}");
        expect_contains(&mut s, &tc, "call main.add(1, 2)", &["call from within the Go runtime", "step out to user code first"]);
        s.send("stepout");
        expect(&mut s, &tc, "call add(1, 2)", "3");
        // The program exits during a call.
        expect_contains(&mut s, &tc, "call exitNow(3)", &["the program exited during the call (status 3)"]);
        expect_contains(&mut s, &tc, "print counter", &["has exited"]);
    }
}

#[test]
fn call_from_caller_frame_and_while_others_hit_breakpoints() {
    for tc in go_versions() {
        let mut s = at_work(&tc, Flavor::Debug);
        // Other goroutines run during the call; their breakpoint hits are
        // stepped over without stopping the call.
        s.send(&format!("break main.go:{}", line("tick")));
        expect(&mut s, &tc, "call sleepy(30)", "30");
        // A call that allocates 64 MiB and runs a garbage collection.
        expect(&mut s, &tc, "call gcNow(64)", "64");
        s.send("clear 2");
        s.send("clear 1");
        s.send(&format!("break main.go:{}", line("inner")));
        let out = s.send("continue");
        assert!(out.contains("main.inner"), "{tc}: {out}");
        // Arguments evaluated in frame 1 (main.outer's `local`).
        expect(&mut s, &tc, "frame 1 call add(local, 1000)", "1010");
        expect(&mut s, &tc, "call add(v, 1)", "11");
        // A breakpoint inside the called function does not stop the call.
        expect(&mut s, &tc, "call inner(1)", "2");
        s.send("clearall");
        let out = s.send("continue");
        assert!(out.contains("total 459 37 3 true"), "{tc}: the program's result changed: {out}");
    }
}

/// The three counters of testdata/calls/busy.go.
fn busy_counts(s: &mut Session, tc: &GoToolchain) -> [u64; 3] {
    let out = s.send("call busyCounts()");
    let mut v = [0u64; 3];
    for (i, name) in ["reads", "pids", "allocs"].iter().enumerate() {
        v[i] = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{tc}: no {name} in:\n{out}"));
    }
    v
}

/// Calls while other goroutines are blocked in read(2) on a pipe, call
/// getpid(2) in a tight loop and allocate fast enough to keep the garbage
/// collector running (testdata/calls/busy.go, argument "busy"): every call
/// returns the right value, those goroutines make progress during the
/// calls, and the program goes on to a later breakpoint with its state
/// intact.
#[test]
fn call_while_others_in_syscalls_and_runtime() {
    for tc in go_versions() {
        let bin = build(PROG, &tc, Flavor::Debug);
        let mut s = Session::exec(&bin, &["busy"]);
        s.send(&format!("break main.go:{}", line("work")));
        let out = s.send("continue");
        assert!(out.contains("main.work"), "{tc}: {out}");
        // The three readers are in read(2).
        let grs = s.send("goroutines");
        let in_syscall: Vec<u64> = grs
            .lines()
            .filter(|l| l.contains("syscall"))
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "Goroutine").nth(1))
            .filter_map(|id| id.parse().ok())
            .collect();
        assert!(in_syscall.len() >= 3, "{tc}: expected the readers in system calls:\n{grs}");
        let regs_before = s.send("regs");
        let before = busy_counts(&mut s, &tc);
        for (cmd, want) in [
            ("call add(1, 2)", "3"),
            ("call greet(\"sys\")", "\"hello, sys\""),
            // A garbage collection (stop the world) while threads are in
            // system calls and another goroutine allocates.
            ("call gcNow(16)", "16"),
            ("call sleepy(30)", "30"),
            ("call fmt.Sprint(map[string]int{\"a\": 1}, []int{1: 2})", "\"map[a:1] [0 2]\""),
            ("call strings.Repeat(\"ab\", 2)", "\"abab\""),
        ] {
            expect(&mut s, &tc, cmd, want);
        }
        for i in 0..30 {
            expect(&mut s, &tc, &format!("call add({i}, n)"), &(i + 1).to_string());
        }
        // Arguments needing several allocations each (strings, boxed
        // values, a map built by the runtime): they must all survive the
        // collections running between their allocation and the call.
        for i in 0..10 {
            expect(&mut s, &tc, &format!("call mapSum(map[string]int{{\"a\": {i}, \"bb\": 22, \"ccc\": 3}})"), &format!("\"3: a={i} bb=22 ccc=3 \""));
            expect(&mut s, &tc, "call fmt.Sprintf(\"%d-%s-%v-%v\", 42, \"x\", []int{1, 2}, Point{5, 6})", "\"42-x-[1 2]-(5,6)\"");
        }
        // The world was frozen (the default): no goroutine moved.
        let after = busy_counts(&mut s, &tc);
        assert_eq!(after, before, "{tc}: goroutines ran during frozen calls");
        // The same calls with the world running (call -thaw): the readers,
        // the getpid loop and the allocator run during them.
        for i in 0..10 {
            expect(&mut s, &tc, &format!("call -thaw add({i}, n)"), &(i + 1).to_string());
            expect(&mut s, &tc, &format!("call -thaw mapSum(map[string]int{{\"a\": {i}, \"bb\": 22, \"ccc\": 3}})"), &format!("\"3: a={i} bb=22 ccc=3 \""));
            expect(&mut s, &tc, "call -thaw gcNow(1)", "1");
        }
        let after = busy_counts(&mut s, &tc);
        for (k, name) in ["reads", "getpid calls", "allocations"].iter().enumerate() {
            assert!(after[k] > before[k], "{tc}: no {name} during the thawed calls: {before:?} -> {after:?}");
        }
        assert_eq!(s.send("regs"), regs_before, "{tc}: registers changed by calls");
        // Selecting a goroutine blocked in a system call: the call runs on
        // the thread of goroutine 1, stopped in user code.
        s.send(&format!("goroutine {}", in_syscall[0]));
        expect(&mut s, &tc, "call main.add(2, 3)", "5");
        s.send("goroutine 1");
        continue_to_second_work(&mut s, &tc);
        expect(&mut s, &tc, "call gcNow(8)", "8");
        s.send("clearall");
        let out = s.send("continue");
        assert!(out.contains("total 459 37 3 true"), "{tc}: the program's result changed: {out}");
    }
}

/// The runtime's refusals that depend on where the goroutine stopped
/// (runtime/debugcall.go debugCallCheck): at an unsafe point, and on the
/// system stack. Both come with advice, and the program goes on normally.
#[test]
fn call_refused_at_unsafe_point_and_on_system_stack() {
    for tc in go_versions() {
        let bin = build(PROG, &tc, Flavor::Debug);
        // main.work's prologue checks the stack bound in an unsafe-point
        // range (PCDATA_UnsafePoint, table 0, not -1 = UnsafePointSafe:
        // cmd/internal/obj/x86/obj6.go stacksplit marks the check and the
        // morestack call). Stopped at the instruction right after the
        // range, the runtime looks at pc-1 (inside it) and refuses.
        let mut s = Session::exec(&bin, &[]);
        // The debuggee's pid is its first thread's; a position-independent
        // build runs away from its link addresses.
        let threads = s.send("threads");
        let pid: i32 = threads.split_whitespace().skip_while(|w| *w != "Thread").nth(1).and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{tc}: {threads}"));
        let end = {
            let program = stillgo_session::Program::open(&bin).expect("open").for_process(pid).expect("the process runs the binary");
            let pcln = program.bin.pclntab();
            let f = pcln.func_by_name("main.work").expect("main.work");
            let mut seen_unsafe = false;
            (f.entry..f.end)
                .find(|&pc| match pcln.pcdata(&f, 0, pc) {
                    Some(-1) | None => seen_unsafe,
                    Some(_) => {
                        seen_unsafe = true;
                        false
                    }
                })
                .unwrap_or_else(|| panic!("{tc}: no unsafe-point range in main.work"))
        };
        let out = s.send(&format!("break *{end:#x}"));
        assert!(out.contains("main.work"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("main.work"), "{tc}: {out}");
        let regs_before = s.send("regs");
        expect_contains(&mut s, &tc, "call add(1, 2)", &["the runtime refused the call: call not at safe point", "step to the next line first"]);
        assert_eq!(s.send("regs"), regs_before, "{tc}: registers changed by the refused call");
        s.send("clearall");
        s.send(&format!("break main.go:{}", line("work")));
        let out = s.send("continue");
        assert!(out.contains("main.work") && out.contains("hits goroutine(1):1"), "{tc}: {out}");
        expect(&mut s, &tc, "call add(1, 2)", "3");
        // runtime.readmemstats_m runs on the system stack (through
        // runtime.systemstack from runtime.ReadMemStats, called once by
        // main via readStats).
        s.send("clearall");
        let out = s.send("break runtime.readmemstats_m");
        assert!(out.contains("Breakpoint"), "{tc}: {out}");
        let out = s.send("continue");
        assert!(out.contains("Breakpoint"), "{tc}: {out}");
        expect_contains(
            &mut s,
            &tc,
            "call main.add(1, 2)",
            &["the runtime refused the call: executing on Go runtime stack", "on the system stack; step out to user code first"],
        );
        s.send("clearall");
        let out = s.send("continue");
        assert!(out.contains("total 459 37 3 true"), "{tc}: the program's result changed: {out}");
    }
}

#[test]
fn call_optimized() {
    for tc in go_versions() {
        let mut s = at_work(&tc, Flavor::Optimized);
        for (cmd, want) in [
            ("call add(1, 2)", "3"),
            ("call greet(\"x\")", "\"hello, x\""),
            ("call strings.Repeat(\"-\", 4)", "\"----\""),
            ("call divmod(9, 4)", "q = 2\nr = 1"),
            ("call boom(\"q\")", "panic: q"),
            ("call mayFail(0)", "0\nerror(*errors.errorString) *{s: \"zero\"}"),
            ("call sum(1, 2, 3)", "6"),
            ("call counterValue()", "1"),
        ] {
            expect(&mut s, &tc, cmd, want);
        }
        let out = s.send("continue");
        assert!(out.contains("hits goroutine(1):2"), "{tc}: {out}");
        expect(&mut s, &tc, "call counterValue()", "2");
    }
}

/// PID of the debuggee: the child of the stillgo process.
fn debuggee_pid(stillgo: u32) -> u32 {
    let tasks = std::fs::read_dir(format!("/proc/{stillgo}/task")).expect("stillgo tasks");
    for t in tasks.flatten() {
        let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next().and_then(|p| p.parse().ok()) {
            return pid;
        }
    }
    panic!("stillgo {stillgo} has no child process");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[test]
fn call_many_times() {
    for tc in go_versions() {
        let mut s = at_work(&tc, Flavor::Debug);
        s.set_timeout(Duration::from_secs(300));
        let prog = debuggee_pid(s.pid());
        // Warm up (first calls map code, build indexes).
        for i in 0..20 {
            expect(&mut s, &tc, &format!("call add({i}, 1)"), &(i + 1).to_string());
        }
        let (dbg0, prog0) = (rss_kib(s.pid()), rss_kib(prog));
        for i in 0..500 {
            let out = if i % 2 == 0 {
                s.send(&format!("call add({i}, n)"))
            } else {
                s.send(&format!("call greet(\"n{i}\")"))
            };
            let want = if i % 2 == 0 { (i + 1).to_string() } else { format!("\"hello, n{i}\"") };
            assert_eq!(out.trim_end(), want, "{tc}: call #{i}");
        }
        let (dbg1, prog1) = (rss_kib(s.pid()), rss_kib(prog));
        println!("{tc}: 500 calls: debugger RSS {dbg0} -> {dbg1} KiB, program RSS {prog0} -> {prog1} KiB");
        assert!(dbg1 < dbg0 + 20 * 1024, "{tc}: debugger RSS grew from {dbg0} to {dbg1} KiB over 500 calls");
        assert!(prog1 < prog0 + 20 * 1024, "{tc}: program RSS grew from {prog0} to {prog1} KiB over 500 calls");
        // Latency of a trivial call, measured through the CLI round trip.
        let mut times = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let out = s.send("call add(1, 2)");
            times.push(t.elapsed());
            assert_eq!(out.trim_end(), "3", "{tc}");
        }
        times.sort();
        println!("{tc}: median call latency over 50 calls: {:?} (min {:?}, max {:?})", times[25], times[0], times[49]);
        continue_to_second_work(&mut s, &tc);
    }
}

/// Memory that holds nothing: laying out a frame reads only types.
struct NoMemory;

impl stillgo_proc::Memory for NoMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), stillgo_proc::MemoryError> {
        Err(stillgo_proc::MemoryError { addr, len: buf.len(), reason: "no process".into() })
    }
}

/// The ABI layout (argument registers, stack slots, spill area) agrees with
/// the compiler's: for every function with debug information in the main
/// package and in strings, strconv and fmt, the frame size computed from the
/// DWARF parameter types equals the argument size the compiler recorded in
/// the pclntab (`_func.args`, the ABIInternal argument frame including the
/// spill area).
#[test]
fn abi_layout_matches_compiler() {
    use stillgo_dwarf::VarKind;
    for tc in go_versions() {
        for flavor in [Flavor::Debug, Flavor::Optimized] {
            let bin = build(PROG, &tc, flavor);
            let program = stillgo_session::Program::open(&bin).expect("open");
            let dwarf = program.dwarf().expect("dwarf").clone();
            let pcln = program.bin.pclntab();
            let reader = stillgo_runtime::Reader::new(&NoMemory, &dwarf, pcln);
            let mut checked = 0;
            let mut shapes = 0;
            let mut mismatches = Vec::new();
            for f in pcln.funcs() {
                let name = f.name.to_string();
                // Assembly functions have no DWARF parameters.
                if f.args < 0 || f.is_asm() {
                    continue;
                }
                // Functions also called from assembly have an ABI0 wrapper
                // (`F.abi0`) and record the ABI0 frame size instead.
                if program.bin.symbol(&format!("{name}.abi0")).is_some() {
                    continue;
                }
                let Some(info) = dwarf.function_by_name(&name) else { continue };
                if info.low_pc != f.entry {
                    continue;
                }
                let vars = dwarf.variables(info.low_pc, 0);
                let ty = |k: VarKind| -> Vec<_> {
                    vars.iter().filter(|v| v.kind == k).filter_map(|v| dwarf.type_(v.ty).ok()).collect()
                };
                let (mut args, results) = (ty(VarKind::Arg), ty(VarKind::ReturnValue));
                let mut n = vars.iter().filter(|v| v.kind != VarKind::Local).count();
                // Generic shape instantiations take the dictionary first,
                // or right after a method's receiver, where DWARF lists it
                // as `.dict` (optimized Go 1.22 builds may leave it out).
                if name.contains("go.shape.") {
                    // Only the instantiations themselves take a dictionary
                    // (`F[...]`, `T[...].M`, `(*T[...]).M`): closures in them
                    // get it from their context, type:.eq functions take none.
                    let tail = name.rsplit_once(']').map(|(_, t)| t).unwrap_or("");
                    let m = tail.strip_prefix(").").or_else(|| tail.strip_prefix('.'));
                    let head = name.split_once('[').map(|(h, _)| h).unwrap_or(&name);
                    let own = head.rsplit('/').next().unwrap_or(head).matches('.').count() == 1;
                    // Closures are named funcN, gowrapN, deferwrapN.
                    let closure = |m: &str| {
                        ["func", "gowrap", "deferwrap"].iter().any(|p| m.strip_prefix(p).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())))
                    };
                    let m = m.filter(|m| !closure(m));
                    if name.starts_with("type:") || !own || !(tail.is_empty() || m.is_some_and(|m| !m.contains('.'))) {
                        continue;
                    }
                }
                if name.contains("go.shape.") && !vars.iter().any(|v| v.name == ".dict") {
                    let is_method = name.rsplit_once(']').is_some_and(|(_, tail)| !tail.is_empty());
                    let uintptr = dwarf.type_by_name("uintptr").and_then(|t| dwarf.type_(t).ok()).expect("uintptr");
                    args.insert(usize::from(is_method).min(args.len()), uintptr);
                    n += 1;
                }
                shapes += usize::from(name.contains("go.shape."));
                if args.len() + results.len() != n {
                    continue;
                }
                let layout = stillgo_world::layout(&reader, &args, &results).expect("layout");
                checked += 1;
                if layout.size != f.args as u64 {
                    mismatches.push(format!("{name}: ours {} compiler {}", layout.size, f.args));
                }
            }
            println!("{tc} {flavor:?}: ABI layout of {checked} functions checked ({shapes} generic shape instantiations)");
            assert!(checked > 100, "{tc} {flavor:?}: only {checked} functions checked");
            assert!(shapes >= 10, "{tc} {flavor:?}: only {shapes} shape instantiations checked");
            assert!(mismatches.is_empty(), "{tc} {flavor:?}: {} of {checked} differ:\n{}", mismatches.len(), mismatches.join("\n"));
        }
    }
}
