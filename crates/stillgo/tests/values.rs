//! CLI integration tests: what a user sees from `print`, `locals` and
//! `whatis` when `stillgo exec` stops at `// BP:inspect` in testdata/values,
//! for every Go version under test (Debug builds).
//!
//! Each test function owns one debugger session per Go version, so the test
//! functions run in parallel.

use stillgo_testkit::{bp_line, build, go_versions, Flavor, GoToolchain, Session};

/// A session stopped at `// BP:inspect` of testdata/values.
fn at_inspect(tc: &GoToolchain) -> Session {
    let bin = build("values", tc, Flavor::Debug);
    let line = bp_line("values", "main.go", "inspect");
    let mut s = Session::exec(&bin, &[]);
    let out = s.send(&format!("break main.go:{line}"));
    assert!(out.contains(&format!("main.go:{line}")), "{tc}: break: {out}");
    let out = s.send("continue");
    assert!(out.contains("main.inspect"), "{tc}: continue: {out}");
    s
}

/// Sends `cmd` and asserts its output, trimmed, is exactly `want`.
fn expect(s: &mut Session, tc: &GoToolchain, cmd: &str, want: &str) {
    let out = s.send(cmd);
    assert_eq!(out.trim_end(), want, "{tc}: `{cmd}`");
}

/// Sends `cmd` and asserts its output contains every one of `parts`.
fn expect_contains(s: &mut Session, tc: &GoToolchain, cmd: &str, parts: &[&str]) -> String {
    let out = s.send(cmd);
    for p in parts {
        assert!(out.contains(p), "{tc}: `{cmd}`: expected {p:?} in:\n{out}");
    }
    out
}

/// Runs `check` for every Go version under test.
fn for_each_version(check: impl Fn(&GoToolchain, &mut Session)) {
    for tc in go_versions() {
        let mut s = at_inspect(&tc);
        check(&tc, &mut s);
        // The debugger must still be usable after everything above.
        expect(&mut s, &tc, "print vInt", "-12345");
    }
}

#[test]
fn scalars() {
    for_each_version(|tc, s| {
        for (cmd, want) in [
            ("print vBool", "true"),
            ("print vFalse", "false"),
            ("print vInt", "-12345"),
            ("print vInt8", "-128"),
            ("print vInt16", "-32768"),
            ("print vInt32", "-2147483648"),
            ("print vInt64", "-9223372036854775808"),
            ("print vUint", "12345"),
            ("print vUint8", "200"),
            ("print vUint16", "60000"),
            ("print vUint32", "4294967295"),
            ("print vUint64", "18446744073709551615"),
            ("print vUintptr", "4096"),
            ("print vFloat32", "1.25"),
            ("print vFloat64", "-0.1"),
            ("print vComplex64", "(3 - 4i)"),
            ("print vComplex128", "(0.5 + 10000000000i)"),
            ("print gBool", "true"),
            ("print gInt8", "-8"),
            ("print gUint64", "18000000000000000000"),
            ("print gFloat32", "3.5"),
            ("print gComplex64", "(1 + 2i)"),
            ("whatis vInt8", "int8"),
            ("whatis vUint16", "uint16"),
            ("whatis vFloat32", "float32"),
            ("whatis vComplex64", "complex64"),
            ("whatis vUintptr", "uintptr"),
        ] {
            expect(s, tc, cmd, want);
        }
    });
}

#[test]
fn strings() {
    for_each_version(|tc, s| {
        expect(s, tc, "print vEmpty", r#""""#);
        expect(s, tc, "print vASCII", r#""hello, world""#);
        expect(s, tc, "print vUnicode", r#""héllo, 世界 🌍""#);
        expect(s, tc, "whatis vUnicode", "string");
        // 5000 bytes: the first 64 are shown, then the count of the rest.
        let first64 = "0123456789".repeat(7)[..64].to_string();
        expect(s, tc, "print vLong", &format!("\"{first64}\"...+4936 more"));
        expect(s, tc, "print len(vLong)", "5000");
        expect(s, tc, "print gString", r#""package string""#);
        expect(s, tc, "print gEmptyStr", r#""""#);
        // Indexing a string gives a byte, slicing it a string.
        expect(s, tc, "print vASCII[0:5]", r#""hello""#);
        expect(s, tc, "print vASCII[7:]", r#""world""#);
        expect(s, tc, "print vASCII[1]", "101");
    });
}

#[test]
fn arrays_and_slices() {
    for_each_version(|tc, s| {
        expect(s, tc, "print vArray", "[5]int [10,20,30,40,50]");
        expect(s, tc, "print vArrayOfStr", r#"[2]string ["x","y"]"#);
        expect(s, tc, "print vMatrix", "[2][3]int [[1,2,3],[4,5,6]]");
        expect(s, tc, "print vMatrix[1][2]", "6");
        expect(s, tc, "print vNilSlice", "[]int nil");
        expect(s, tc, "print vEmptySlice", "[]int len: 0, cap: 0, []");
        expect(s, tc, "print vSlice", "[]int len: 3, cap: 3, [1,2,3]");
        expect(s, tc, "print vSubSlice", "[]int len: 5, cap: 10, [200,202,204,206,208]");
        expect(s, tc, "print vByteSlice", "[]uint8 len: 5, cap: 5, [98,121,116,101,115]");
        expect(s, tc, "print gNilSlice", "[]int nil");
        expect(s, tc, "print gSlice", r#"[]string len: 3, cap: 3, ["a","b","c"]"#);
        // 10000 elements: 64 shown, then the count of the rest.
        let first64: Vec<String> = (0..64).map(|i| (i * 2).to_string()).collect();
        expect(
            s,
            tc,
            "print vBigSlice",
            &format!("[]int len: 10000, cap: 10000, [{},...+9936 more]", first64.join(",")),
        );
        expect(s, tc, "print vBigSlice[9999]", "19998");
        expect(s, tc, "print vArray[1:3]", "[]int len: 2, cap: 4, [20,30]");
        expect(s, tc, "whatis vMatrix", "[2][3]int");
        expect(s, tc, "whatis vSlice[0:1]", "[]int");
    });
}

#[test]
fn structs_and_pointers() {
    for_each_version(|tc, s| {
        expect_contains(
            s,
            tc,
            "print vStruct",
            &[
                "main.Employee {Base: {ID: 2, Name: \"Alice\"}",
                "Address: {Street: \"1 Main St\", City: \"Springfield\", Loc: {X: 1.5, Y: -2.5}}",
                "Salary: 100000.5, Active: true}",
            ],
        );
        // Promoted fields: through the embedded value and the embedded pointer.
        expect(s, tc, "print vStruct.ID", "2");
        expect(s, tc, "print vStruct.Name", r#""Alice""#);
        expect(s, tc, "print vStruct.Base.Name", r#""Alice""#);
        expect(s, tc, "print vStruct.Score", "9.5");
        expect(s, tc, "print vStruct.Tags", r#"[]string len: 2, cap: 2, ["go","debug"]"#);
        expect(s, tc, "print vStruct.Address.Loc.X", "1.5");
        expect(s, tc, "whatis vStruct.Address.Loc", "values/geo.Point");
        expect(s, tc, "print vEmptyStruct", "struct {} {}");
        expect(s, tc, "print vAnon", r#"struct { A int; B string } {A: 1, B: "anon"}"#);
        // Pointers: nil, automatic dereference in selectors, explicit `*`.
        expect(s, tc, "print vNilPtr", "*main.Employee nil");
        expect(s, tc, "print vPtr.Name", r#""Alice""#);
        expect(s, tc, "print vPtr.Manager.Name", r#""Boss""#);
        expect(s, tc, "print (*vPtrPtr).ID", "2");
        expect(s, tc, "print *vIntPtr", "-12345");
        expect_contains(s, tc, "print vIntPtr", &["(*int)(0x"]);
        expect(s, tc, "print *vIntPtr", "-12345");
        expect(s, tc, "whatis vPtrPtr", "**main.Employee");
        expect_contains(s, tc, "print vPtr", &["*main.Employee {Base: {ID: 2, Name: \"Alice\"}"]);
        expect(s, tc, "print gPtr", r#"*main.Base {ID: 8, Name: "pointed"}"#);
        expect(s, tc, "print gNilPtr", "*main.Base nil");
        // Dereferencing nil is an error, not a crash.
        expect_contains(s, tc, "print vNilPtr.ID", &["nil pointer"]);
        // The cyclic list prints in bounded time and output.
        let out = expect_contains(s, tc, "print vCycle", &["*main.Node {Val: 1, Next: *{Val: 2"]);
        assert!(out.len() < 1000, "{tc}: cyclic list output too long: {out}");
        expect(s, tc, "print vCycle.Next.Next.Next.Val", "1");
        expect(s, tc, "print vCycle.Next.Next.Val", "3");
    });
}

#[test]
fn maps() {
    for_each_version(|tc, s| {
        expect(s, tc, "print vNilMap", "map[string]int nil");
        expect(s, tc, "print gNilMap", "map[string]int nil");
        expect(s, tc, "print vEmptyMap", "map[string]int []");
        // Iteration order is the runtime's: check each entry, not the order.
        let out = expect_contains(s, tc, "print vMap", &["map[string]int [", r#""one": 1"#, r#""two": 2"#, r#""three": 3"#]);
        assert!(!out.contains("more"), "{tc}: {out}");
        expect_contains(s, tc, "print vIntMap", &["map[int]string [", r#"1: "one""#, r#"2: "two""#, r#"3: "three""#]);
        expect_contains(
            s,
            tc,
            "print vStructKeyMap",
            &["map[struct { X int; Y int }]string [", r#"{X: 1, Y: 2}: "a""#, r#"{X: 3, Y: 4}: "b""#],
        );
        expect_contains(
            s,
            tc,
            "print vSliceValMap",
            &[r#""odd": len: 3, cap: 3, [1,3,5]"#, r#""even": len: 2, cap: 2, [2,4]"#],
        );
        expect_contains(s, tc, "print vPtrMap", &[r#""nil": *main.Base nil"#, r#""a": *{ID: 1, Name: "a"}"#]);
        // 100000 entries: 64 shown, then the count of the rest.
        let out = expect_contains(s, tc, "print vBigMap", &["map[int]int [", "...+99936 more]"]);
        assert_eq!(out.matches(": ").count(), 64, "{tc}: {out}");
        expect(s, tc, "print len(vBigMap)", "100000");
        expect(s, tc, "print vBigMap[99999]", "9999800001");
        expect(s, tc, "print vBigMap[300]", "90000");
        // Indexing.
        expect(s, tc, r#"print vMap["one"]"#, "1");
        expect(s, tc, r#"print vMap["three"] + vMap["two"]"#, "5");
        expect(s, tc, "print vIntMap[2]", r#""two""#);
        expect(s, tc, r#"print vPtrMap["b"].Name"#, r#""b""#);
        expect(s, tc, r#"print vSliceValMap["odd"][2]"#, "5");
        expect(s, tc, "print vStructKeyMap[struct{X, Y int}{3, 4}]", r#""b""#);
        expect(s, tc, "print vStructKeyMap[struct{X int; Y int}{X: 1, Y: 2}]", r#""a""#);
        expect(s, tc, "print len(vMap)", "3");
        expect(s, tc, "print len(vNilMap)", "0");
        expect_contains(s, tc, r#"print vMap["zzz"]"#, &["zzz"]);
        expect_contains(s, tc, "print gMap", &[r#""one": 1"#, r#""two": 2"#, r#""three": 3"#]);
        expect(s, tc, "whatis vSliceValMap", "map[string][]int");
    });
}

#[test]
fn channels() {
    for_each_version(|tc, s| {
        expect(s, tc, "print vNilChan", "chan int nil");
        expect(s, tc, "print vUnbuffered", "chan int 0/0");
        expect(s, tc, "print vBuffered", "chan int 3/5 [1,2,3]");
        expect(s, tc, "print vRecvOnly", "<-chan int 3/5 [1,2,3]");
        expect(s, tc, "print vSignal", "chan struct {} 0/0");
        expect(s, tc, "print gChan", "chan int 1/5 [1]");
        expect(s, tc, "print len(vBuffered)", "3");
        expect(s, tc, "print cap(vBuffered)", "5");
        expect(s, tc, "whatis vRecvOnly", "<-chan int");
    });
}

#[test]
fn interfaces() {
    for_each_version(|tc, s| {
        expect(s, tc, "print vErr", r#"error(*errors.errorString) *{s: "plain error"}"#);
        expect(s, tc, "print vCustomErr", r#"error(*main.NotFoundError) *{Key: "k1", Code: 404}"#);
        expect(s, tc, "print vNilErr", "error nil");
        expect(s, tc, "print vAnyInt", "interface {}(int) 7");
        expect(s, tc, "print vAnyString", r#"interface {}(string) "boxed""#);
        expect(s, tc, "print vAnyStruct", "interface {}(values/geo.Point) {X: 3, Y: 4}");
        expect_contains(s, tc, "print vAnyPtr", &["interface {}(*main.Employee) *{Base: {ID: 1, Name: \"Boss\"}"]);
        expect(s, tc, "print vNilAny", "interface {} nil");
        expect(s, tc, "print vShape", "main.Shape(main.Square) {Side: 2}");
        expect(s, tc, "print vShapePtr", "main.Shape(*values/geo.Circle) *{Center: {X: 0, Y: 0}, Radius: 1}");
        expect(s, tc, "print vShapeRect", r#"main.Shape(values/geo.Rect) {Min: {X: 0, Y: 0}, Max: {X: 2, Y: 3}, Label: "r"}"#);
        expect(s, tc, "print gErr", r#"error(*errors.errorString) *{s: "package error"}"#);
        expect(s, tc, "print gAny", "interface {}(int) 99");
        expect(s, tc, "print gShape", "main.Shape(main.Square) {Side: 3}");
        // Selectors see through the interface to the dynamic value.
        expect(s, tc, "print vCustomErr.Key", r#""k1""#);
        expect(s, tc, "print vAnyStruct.(geo.Point).Y", "4");
        expect(s, tc, r#"print vAnyStruct.("values/geo".Point).X"#, "3");
        expect(s, tc, "print vAnyInt.(int) + 1", "8");
        expect_contains(s, tc, "print vAnyInt.(string)", &["interface conversion", "int", "string"]);
        expect(s, tc, "whatis vShape", "main.Shape");
        expect(s, tc, "whatis vAnyInt", "interface {}");
    });
}

#[test]
fn funcs_unsafe_generics_named() {
    for_each_version(|tc, s| {
        expect(s, tc, "print vNilFunc", "nil");
        expect(s, tc, "print vNamedFunc", "strings.ToLower");
        expect(s, tc, "print vClosure", "main.inspect.func1");
        expect(s, tc, "print vMethodValue", "main.(*Employee).Describe-fm");
        expect(s, tc, "print gFunc", "strings.ToUpper");
        let out = s.send("print vUnsafe");
        assert!(out.trim_end().starts_with("unsafe.Pointer(0x"), "{tc}: {out}");
        // It points at vInt.
        expect(s, tc, "print *(*int)(vUnsafe)", "-12345");
        expect(s, tc, "print uintptr(vUnsafe) == uintptr(unsafe.Pointer(&vInt))", "true");
        expect(s, tc, "whatis vUnsafe", "unsafe.Pointer");
        // Generics.
        expect(s, tc, "print vPair", r#"main.Pair[string,int] {Key: "k", Val: 1}"#);
        expect(s, tc, "whatis vPair", "main.Pair[string,int]");
        expect(s, tc, "print vPairStruct", "main.Pair[int,values/geo.Point] {Key: 2, Val: {X: 1, Y: 1}}");
        expect(s, tc, "print vPairStruct.Val.X", "1");
        expect(s, tc, "print gPair", r#"main.Pair[string,int] {Key: "answer", Val: 42}"#);
        expect(s, tc, "print vStack", r#"*main.Stack[string] {items: len: 2, cap: 2, ["a","b"]}"#);
        expect(s, tc, "print vStack.items[1]", r#""b""#);
        expect(s, tc, "print vIntStack", "main.Stack[int] {items: len: 3, cap: 3, [1,2,3]}");
        // Named types keep their name.
        expect(s, tc, "print vTemp", "-40");
        expect(s, tc, "whatis vTemp", "main.Celsius");
        expect(s, tc, "print gTemp", "36.6");
        expect(s, tc, "print vDay", "Friday (5)");
        expect(s, tc, "print vDays", "[]main.Weekday len: 2, cap: 2, [1,0]");
        expect(s, tc, "print int(vDay) + 1", "6");
    });
}

#[test]
fn package_vars() {
    for_each_version(|tc, s| {
        expect(s, tc, "print gInt", "-42");
        expect(s, tc, "print main.gInt", "-42");
        expect(s, tc, "print gCounter", "1");
        expect(s, tc, "print gArray", "[4]int [1,2,3,4]");
        expect(s, tc, "print gGeo", r#"values/geo.Rect {Min: {X: 0, Y: 0}, Max: {X: 1, Y: 1}, Label: "unit"}"#);
        expect(s, tc, "print geo.Count", "42");
        expect(s, tc, "print geo.Count + 1", "43");
        expect(s, tc, r#"print "values/geo".Count"#, "42");
        expect(s, tc, "print geo.Origin", "values/geo.Point {X: 0, Y: 0}");
        expect(s, tc, "print geo.Unit.Label", r#""unit""#);
        expect(s, tc, "print geo.Names", r#"[]string len: 3, cap: 3, ["alpha","beta","gamma"]"#);
        expect(s, tc, "print geo.Names[2]", r#""gamma""#);
        expect_contains(s, tc, "print geo.Registry", &[r#""home": {X: 1, Y: 2}"#, r#""work": {X: 3, Y: 4}"#]);
        expect(s, tc, r#"print geo.Registry["work"].Y"#, "4");
        expect(s, tc, "whatis geo.Registry", "map[string]values/geo.Point");
    });
}

#[test]
fn expressions() {
    for_each_version(|tc, s| {
        for (cmd, want) in [
            ("print vInt * 2 + 1", "-24689"),
            ("print vInt / 100", "-123"),
            ("print vInt % 100", "-45"),
            ("print vUint8 + 100", "44"),
            ("print vInt8 < 0", "true"),
            ("print vInt == -12345 && vBool", "true"),
            ("print vASCII == \"hello, world\"", "true"),
            ("print vASCII + \"!\"", "\"hello, world!\""),
            ("print len(vSlice)", "3"),
            ("print cap(vSubSlice)", "10"),
            ("print len(vASCII)", "12"),
            ("print len(vArray)", "5"),
            ("print float64(vInt) / 2", "-6172.5"),
            ("print int8(vUint8)", "-56"),
            ("print uint8(300)", "44"),
            ("print 1 + 2", "3"),
            ("print 7 / 2.0", "3.5"),
            ("whatis float64(vInt)", "float64"),
            ("whatis vInt + 1", "int"),
            ("whatis 1 + 2", "untyped int"),
        ] {
            expect(s, tc, cmd, want);
        }
    });
}

#[test]
fn errors_keep_the_debugger_usable() {
    for_each_version(|tc, s| {
        // Syntax error: the message says what and where.
        expect_contains(s, tc, "print 1 +", &["expected expression", "column 4"]);
        expect_contains(s, tc, "print vSlice[", &["Command failed"]);
        // Unknown name.
        expect_contains(s, tc, "print nosuchvar", &["nosuchvar"]);
        expect_contains(s, tc, "print vStruct.NoSuchField", &["NoSuchField"]);
        // Mismatched types.
        expect_contains(s, tc, "print vInt + vUint", &["mismatched types int and uint"]);
        expect_contains(s, tc, "print vASCII + 1", &["Command failed"]);
        // Out of range.
        expect_contains(s, tc, "print vArray[9]", &["out of"]);
        expect_contains(s, tc, "print vSlice[5]", &["out of"]);
        expect_contains(s, tc, "whatis nosuchvar", &["nosuchvar"]);
    });
}

#[test]
fn locals() {
    for_each_version(|tc, s| {
        let out = s.send("locals");
        for line in [
            "vBool = true",
            "vInt8 = -128",
            "vUint64 = 18446744073709551615",
            "vComplex64 = (3 - 4i)",
            "vASCII = \"hello, world\"",
            "vArray = [5]int [10,20,30,40,50]",
            "vNilSlice = []int nil",
            "vBuffered = chan int 3/5 [1,2,3]",
            "vAnyInt = interface {}(int) 7",
            "vNilErr = error nil",
            "vClosure = main.inspect.func1",
            "vPair = main.Pair[string,int] {Key: \"k\", Val: 1}",
            "vTemp = -40",
            "vNilMap = map[string]int nil",
            "captured = 10",
        ] {
            assert!(out.lines().any(|l| l == line), "{tc}: locals: no line {line:?} in:\n{out}");
        }
        // Every local of inspect is listed (escaped ones too), each once.
        for name in ["vInt", "vStruct", "vPtr", "vBigMap", "vCycle", "vUnsafe", "vStack", "vDays", "vLong"] {
            let n = out
                .lines()
                .filter(|l| l.split(" = ").next().map(|v| v.trim_start_matches('&')) == Some(name))
                .count();
            assert_eq!(n, 1, "{tc}: locals: {name} listed {n} times:\n{out}");
        }
        let filtered = s.send("locals vAny");
        assert!(filtered.contains("vAnyString = interface {}(string) \"boxed\""), "{tc}: {filtered}");
        assert!(!filtered.contains("vBool"), "{tc}: {filtered}");
    });
}
