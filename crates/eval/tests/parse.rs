//! Parser tests: precedence, every syntactic form, round-trip printing,
//! spans, error messages, and a deterministic no-panic fuzz.

use stillgo_eval::ast::*;
use stillgo_eval::parser::{parse_assignment, parse_type, MAX_DEPTH};
use stillgo_eval::{parse_expr, ParseError};

fn parse(src: &str) -> Expr {
    match parse_expr(src) {
        Ok(e) => e,
        Err(e) => panic!("parse of {src:?} failed:\n{}", e.render(src)),
    }
}

/// Normalised Go text.
fn show(src: &str) -> String {
    parse(src).to_string()
}

/// Fully parenthesised form: shows operator grouping.
fn group(src: &str) -> String {
    format!("{:#}", parse(src))
}

fn err(src: &str) -> ParseError {
    match parse_expr(src) {
        Ok(e) => panic!("expected {src:?} to fail, parsed as {e}"),
        Err(e) => e,
    }
}

fn lit(src: &str) -> LitKind {
    match parse(src) {
        Expr::BasicLit(l) => {
            assert_eq!(l.raw, src.trim());
            l.kind
        }
        other => panic!("{src:?} is not a literal: {other:?}"),
    }
}

/// Display output must re-parse to something that displays identically.
fn assert_round_trip(src: &str) {
    let once = show(src);
    let twice = show(&once);
    assert_eq!(once, twice, "round trip of {src:?}");
}

#[test]
fn precedence_table() {
    let cases = [
        ("a + b * c", "(a + (b * c))"),
        ("a * b + c", "((a * b) + c)"),
        ("a - b - c", "((a - b) - c)"),
        ("a / b * c % d", "(((a / b) * c) % d)"),
        ("a << 1 + b", "((a << 1) + b)"),
        ("a + b << 1", "(a + (b << 1))"),
        ("a & b | c", "((a & b) | c)"),
        ("a | b & c", "(a | (b & c))"),
        ("a &^ b ^ c", "((a &^ b) ^ c)"),
        ("a ^ b &^ c", "(a ^ (b &^ c))"),
        ("a == b + c", "(a == (b + c))"),
        ("a < b == c > d", "(((a < b) == c) > d)"),
        ("a && b || c && d", "((a && b) || (c && d))"),
        ("a || b && c", "(a || (b && c))"),
        ("a == 1 && b != 2 || c <= 3 && d >= 4", "(((a == 1) && (b != 2)) || ((c <= 3) && (d >= 4)))"),
        ("-a * b", "((-a) * b)"),
        ("-a.b", "(-a.b)"),
        ("*p.x", "(*p.x)"),
        ("&x[1]", "(&x[1])"),
        ("!a && b", "((!a) && b)"),
        ("^a + b", "((^a) + b)"),
        ("<-ch + 1", "((<-ch) + 1)"),
        ("- -x", "(-(-x))"),
        ("a >> b >> c", "((a >> b) >> c)"),
        ("(a + b) * c", "((a + b) * c)"),
        ("x*y < 3 || !ok", "(((x * y) < 3) || (!ok))"),
        ("*p + *q", "((*p) + (*q))"),
        ("a * *p", "(a * (*p))"),
        ("a&&b", "(a && b)"),
        ("a & &b", "(a & (&b))"),
    ];
    for (src, want) in cases {
        assert_eq!(group(src), want, "grouping of {src:?}");
        assert_round_trip(src);
    }
}

#[test]
fn normalised_display() {
    let cases = [
        ("a+b*c", "a + b * c"),
        ("  f( x,y ,z )", "f(x, y, z)"),
        ("f(xs...)", "f(xs...)"),
        ("f(a, xs...,)", "f(a, xs...)"),
        ("x.(  *pkg.T )", "x.(*pkg.T)"),
        ("m[ \"k\" ]", "m[\"k\"]"),
        ("a[ i : j ]", "a[i:j]"),
        ("a[:j]", "a[:j]"),
        ("a[i:]", "a[i:]"),
        ("a[:]", "a[:]"),
        ("a[i:j:k]", "a[i:j:k]"),
        ("a[:j:k]", "a[:j:k]"),
        ("T{1,2}", "T{1, 2}"),
        ("T{X:1,Y:2,}", "T{X: 1, Y: 2}"),
        ("[]int{1,2,3}", "[]int{1, 2, 3}"),
        ("[...]int{1,2}", "[...]int{1, 2}"),
        ("map[string]int{\"a\":1}", "map[string]int{\"a\": 1}"),
        ("&T{}", "&T{}"),
        ("[]Point{{1,2},{X:3}}", "[]Point{{1, 2}, {X: 3}}"),
        ("map[Point]string{{1,2}:\"a\"}", "map[Point]string{{1, 2}: \"a\"}"),
        ("m[T{1,2}]", "m[T{1, 2}]"),
        ("int64(x)", "int64(x)"),
        ("[]byte(s)", "[]byte(s)"),
        ("(*T)(p)", "(*T)(p)"),
        ("*(*int)(unsafe.Pointer(p))", "*(*int)(unsafe.Pointer(p))"),
        ("\"github.com/x/y\".Var", "\"github.com/x/y\".Var"),
        ("Pair[int,string]{1,\"a\"}", "Pair[int, string]{1, \"a\"}"),
        ("pkg.Pair[int, []string]", "pkg.Pair[int, []string]"),
        ("map[string][]*T(nil)", "map[string][]*T(nil)"),
        ("chan int(nil)", "chan int(nil)"),
        ("(<-chan int)(c)", "(<-chan int)(c)"),
        ("(chan<- int)(c)", "(chan<- int)(c)"),
        ("x.(chan <- int)", "x.(chan<- int)"),
        ("x.(<-chan int)", "x.(<-chan int)"),
        ("x.(chan (<-chan int))", "x.(chan (<-chan int))"),
        ("x.(interface{})", "x.(interface{})"),
        ("x.(any)", "x.(any)"),
        ("x.(interface{ String() string; io.Reader })", "x.(interface{String() string; io.Reader})"),
        ("x.(func(int, ...string) (int, error))", "x.(func(int, ...string) (int, error))"),
        ("x.(func(a, b int, c ...string) error)", "x.(func(a int, b int, c ...string) error)"),
        ("x.(func())", "x.(func())"),
        ("x.(func(a []int, b [4]int))", "x.(func(a []int, b [4]int))"),
        ("x.(func(Pair[int]) Pair[string])", "x.(func(Pair[int]) Pair[string])"),
        ("struct{X int; Y, Z string `json:\"y\"`; *Emb; pkg.T}{}", "struct{X int; Y, Z string `json:\"y\"`; *Emb; pkg.T}{}"),
        ("x.(struct{})", "x.(struct{})"),
        ("x.(struct{a [4]int; Pair[int]; b Pair[int, string]; c, d []T; pkg.G[T]})", "x.(struct{a [4]int; Pair[int]; b Pair[int, string]; c, d []T; pkg.G[T]})"),
        ("x.(func(Pair[int, string], []int) (r Pair[int], err error))", "x.(func(Pair[int, string], []int) (r Pair[int], err error))"),
        ("x.(func(a Pair[int]))", "x.(func(a Pair[int]))"),
        ("x.(func(a, b))", "x.(func(a, b))"),
        ("x.(func(...interface{}))", "x.(func(...interface{}))"),
        ("[4]int{}", "[4]int{}"),
        ("[N*2]int{}", "[N * 2]int{}"),
        ("x.([2][]map[int]chan *T)", "x.([2][]map[int]chan *T)"),
        ("main.(*T).Method", "main.(*T).Method"),
        ("a.b.c.d", "a.b.c.d"),
        ("x.M()", "x.M()"),
        ("x.M()(1)[2].f", "x.M()(1)[2].f"),
        ("new(T)", "new(T)"),
        ("make([]int, 3, 10)", "make([]int, 3, 10)"),
        ("len(\"héllo\")", "len(\"héllo\")"),
        ("f /* c */ (1) // trailing", "f(1)"),
        ("- - x", "- -x"),
        ("& &x", "& &x"),
        ("& ^x", "& ^x"),
        ("<-<-ch", "<-<-ch"),
        ("! !b", "!!b"),
        ("'a' + 1", "'a' + 1"),
        ("`raw\\n` + \"x\"", "`raw\\n` + \"x\""),
        ("1_000 + 0x_FF", "1_000 + 0x_FF"),
    ];
    for (src, want) in cases {
        assert_eq!(show(src), want, "display of {src:?}");
        assert_round_trip(src);
    }
}

#[test]
fn integer_literals() {
    let cases: [(&str, u128); 14] = [
        ("0", 0),
        ("42", 42),
        ("1_000_000", 1_000_000),
        ("0x1F", 31),
        ("0XdeadBEEF", 0xdead_beef),
        ("0x_ff", 255),
        ("0o17", 15),
        ("0O17", 15),
        ("017", 15),
        ("0_17", 15),
        ("0b1010", 10),
        ("0B1_0", 2),
        ("18446744073709551616", 1 << 64),
        ("340282366920938463463374607431768211455", u128::MAX),
    ];
    for (src, want) in cases {
        assert_eq!(lit(src), LitKind::Int(want), "{src}");
    }
}

#[test]
fn float_and_imaginary_literals() {
    let cases: [(&str, f64); 14] = [
        ("1.5", 1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1E+3", 1000.0),
        ("2.5e-1", 0.25),
        ("1_0.2_5", 10.25),
        ("1.e2", 100.0),
        ("09.5", 9.5),
        ("0e0", 0.0),
        ("0x1p-2", 0.25),
        ("0x1.8p1", 3.0),
        ("0X_1FFFP-16", 0x1fff as f64 / 65536.0),
        ("0x.8p0", 0.5),
    ];
    for (src, want) in cases {
        assert_eq!(lit(src), LitKind::Float(want), "{src}");
    }
    let imag: [(&str, f64); 6] =
        [("2i", 2.0), ("1.5i", 1.5), ("0123i", 123.0), ("0x10i", 16.0), ("1e2i", 100.0), ("0b11i", 3.0)];
    for (src, want) in imag {
        assert_eq!(lit(src), LitKind::Imag(want), "{src}");
    }
}

#[test]
fn rune_and_string_literals() {
    let runes = [
        ("'a'", 'a'),
        ("'\\n'", '\n'),
        ("'\\x41'", 'A'),
        ("'\\101'", 'A'),
        ("'\\u00e9'", 'é'),
        ("'\\U0001F600'", '😀'),
        ("'\\''", '\''),
        ("'\\\\'", '\\'),
        ("'\\xff'", '\u{ff}'),
        ("'é'", 'é'),
        ("'\\a'", '\u{7}'),
        ("'\\v'", '\u{b}'),
    ];
    for (src, want) in runes {
        assert_eq!(lit(src), LitKind::Rune(want), "{src}");
    }
    let strings: [(&str, &[u8]); 9] = [
        ("\"\"", b""),
        ("\"hi\\tthere\\n\"", b"hi\tthere\n"),
        ("\"\\a\\b\\f\\r\\v\\\\\\\"\"", b"\x07\x08\x0c\r\x0b\\\""),
        ("\"\\xff\\x00\"", b"\xff\x00"),
        ("\"\\377\\101\"", b"\xffA"),
        ("\"\\u00e9\"", "é".as_bytes()),
        ("\"\\U0001F600\"", "😀".as_bytes()),
        ("`a\\n\"b`", b"a\\n\"b"),
        ("`a\r\nb`", b"a\nb"),
    ];
    for (src, want) in strings {
        assert_eq!(lit(src), LitKind::Str(want.to_vec()), "{src}");
    }
}

#[test]
fn predeclared_names_are_identifiers() {
    for name in ["true", "false", "nil", "any", "int", "len", "_", "ñame", "x1"] {
        assert_eq!(parse(name), Expr::Ident(Ident { name: name.into(), span: Span::new(0, name.len()) }));
    }
}

#[test]
fn tree_shapes() {
    match parse("Pair[int, string]") {
        Expr::Index { indices, .. } => assert_eq!(indices.len(), 2),
        e => panic!("{e:?}"),
    }
    match parse("f(xs...)") {
        Expr::Call { args, ellipsis, .. } => {
            assert!(ellipsis);
            assert_eq!(args.len(), 1);
        }
        e => panic!("{e:?}"),
    }
    match parse("a[1:2:3]") {
        Expr::Slice { low: Some(_), high: Some(_), max: Some(_), .. } => {}
        e => panic!("{e:?}"),
    }
    match parse("a[:]") {
        Expr::Slice { low: None, high: None, max: None, .. } => {}
        e => panic!("{e:?}"),
    }
    // A quoted package path is a string literal with a selector.
    match parse("\"github.com/x/y\".Var") {
        Expr::Selector { expr, sel, .. } => {
            assert_eq!(sel.name, "Var");
            assert!(matches!(*expr, Expr::BasicLit(Lit { kind: LitKind::Str(_), .. })));
        }
        e => panic!("{e:?}"),
    }
    match parse("x.(*pkg.T)") {
        Expr::TypeAssert { ty, .. } => match ty.kind {
            TypeKind::Pointer(inner) => match inner.kind {
                TypeKind::Named { pkg: Some(PkgRef::Name(p)), name, args } => {
                    assert_eq!((p.name.as_str(), name.name.as_str(), args.len()), ("pkg", "T", 0));
                }
                k => panic!("{k:?}"),
            },
            k => panic!("{k:?}"),
        },
        e => panic!("{e:?}"),
    }
    match parse("<-chan int") {
        Expr::TypeExpr(TypeExpr { kind: TypeKind::Chan { dir: ChanDir::Recv, .. }, .. }) => {}
        e => panic!("{e:?}"),
    }
    match parse("<-ch") {
        Expr::Unary { op: UnaryOp::Recv, .. } => {}
        e => panic!("{e:?}"),
    }
    match parse("T{X: 1}") {
        Expr::Composite { ty: Some(t), elems, .. } => {
            assert!(matches!(t.kind, TypeKind::Named { .. }));
            assert_eq!(elems.len(), 1);
            assert!(elems[0].key.is_some());
        }
        e => panic!("{e:?}"),
    }
    match parse("x.(func(a, b int, c ...string))") {
        Expr::TypeAssert { ty, .. } => match ty.kind {
            TypeKind::Func(sig) => {
                assert!(sig.variadic);
                let names: Vec<_> = sig.params.iter().map(|p| p.name.as_ref().map(|n| n.name.clone())).collect();
                assert_eq!(names, [Some("a".into()), Some("b".into()), Some("c".into())]);
                assert_eq!(sig.params[1].ty.to_string(), "int");
                assert_eq!(sig.params[2].ty.to_string(), "string");
            }
            k => panic!("{k:?}"),
        },
        e => panic!("{e:?}"),
    }
}

#[test]
fn expressions_convert_to_types() {
    let cases = [
        ("T", "T"),
        ("pkg.T", "pkg.T"),
        ("\"a/b\".T", "\"a/b\".T"),
        ("*pkg.T", "*pkg.T"),
        ("(*T)", "*T"),
        ("Pair[int, *string]", "Pair[int, *string]"),
        ("pkg.Pair[[]int, map[K]V]", "pkg.Pair[[]int, map[K]V]"),
        ("[]byte", "[]byte"),
    ];
    for (src, want) in cases {
        let t = parse(src).to_type().unwrap_or_else(|| panic!("{src} should be a type"));
        assert_eq!(t.to_string(), want);
    }
    for not_type in ["f()", "a + b", "1", "x.y.z", "a[1:2]", "-T"] {
        assert!(parse(not_type).to_type().is_none(), "{not_type}");
    }
}

#[test]
fn parse_type_entry_point() {
    for src in ["*main.T", "map[string][]int", "chan<- func(int) error", "main.Pair[int,string]", "\"a/b\".T", "[3]struct{}"] {
        let t = parse_type(src).unwrap_or_else(|e| panic!("{}", e.render(src)));
        assert_eq!(parse_type(&t.to_string()).map(|t2| t2.to_string()), Ok(t.to_string()));
    }
    assert!(parse_type("1 + 2").is_err());
    assert!(parse_type("[...]int").is_err());
}

#[test]
fn spans() {
    let src = "foo.bar[ 1 ] + f(x)";
    let e = parse(src);
    assert_eq!(e.span(), Span::new(0, src.len()));
    let Expr::Binary { lhs, rhs, .. } = e else { panic!() };
    assert_eq!(&src[lhs.span().start..lhs.span().end], "foo.bar[ 1 ]");
    assert_eq!(&src[rhs.span().start..rhs.span().end], "f(x)");
    let Expr::Index { expr, indices, .. } = *lhs else { panic!() };
    assert_eq!(expr.span(), Span::new(0, 7));
    assert_eq!(indices[0].span(), Span::new(9, 10));
    let Expr::Selector { sel, .. } = *expr else { panic!() };
    assert_eq!(sel.span, Span::new(4, 7));

    let src = "  -(*p).x  ";
    let e = parse(src);
    assert_eq!(e.span(), Span::new(2, 9));

    let src = "x.(*T)";
    let Expr::TypeAssert { ty, span, .. } = parse(src) else { panic!() };
    assert_eq!(span, Span::new(0, 6));
    assert_eq!(ty.span, Span::new(3, 5));

    let src = "[]int{1, 2}";
    let Expr::Composite { ty: Some(ty), span, elems } = parse(src) else { panic!() };
    assert_eq!(span, Span::new(0, 11));
    assert_eq!(ty.span, Span::new(0, 5));
    assert_eq!(elems[1].value.span(), Span::new(9, 10));

    // Multi-byte characters: spans are byte offsets.
    let src = "\"é\" + ñ";
    let Expr::Binary { rhs, .. } = parse(src) else { panic!() };
    assert_eq!(rhs.span(), Span::new(7, 9));
}

#[test]
fn error_messages() {
    let cases = [
        ("(1 + 2", "expected ')' at column 7, found end of expression"),
        ("a #b", "invalid character '#' at column 3"),
        ("\"abc", "unterminated string literal"),
        ("`abc", "unterminated raw string literal"),
        ("'ab'", "more than one character in rune literal"),
        ("''", "empty rune literal or unescaped ' in rune literal"),
        ("'a", "unterminated rune literal"),
        ("\"\\q\"", "unknown escape sequence '\\q' at column 2"),
        ("'\\\"'", "unknown escape sequence '\\\"' at column 2"),
        ("\"\\x4\"", "escape sequence has too few digits"),
        ("\"\\400\"", "escape sequence is invalid Unicode code point"),
        ("'\\ud800'", "escape sequence is invalid Unicode code point"),
        ("340282366920938463463374607431768211456", "integer literal too large"),
        ("0x", "hexadecimal literal has no digits"),
        ("0b102", "invalid digit '2' in binary literal"),
        ("0o78", "invalid digit '8' in octal literal"),
        ("089", "invalid digit '8' in octal literal"),
        ("1__0", "'_' must separate successive digits at column 2"),
        ("10_", "'_' must separate successive digits at column 3"),
        ("0x1.8", "hexadecimal mantissa requires a 'p' exponent"),
        ("1e+", "exponent has no digits at column 2"),
        ("0b1.0", "invalid radix point in binary literal"),
        ("", "expected expression at column 1, found end of expression"),
        ("a +", "expected expression at column 4, found end of expression"),
        ("a b", "expected end of expression at column 3, found identifier 'b'"),
        ("f(1 2)", "expected ')' at column 5, found literal 2"),
        ("a[]", "expected expression at column 3, found ']'"),
        ("a[1:2:]", "final index required in 3-index slice at column 7"),
        ("a[1::3]", "middle index required in 3-index slice at column 5"),
        ("x.(type)", "use of .(type) outside type switch at column 4"),
        ("x.", "expected selector name or '(' after '.' at column 3, found end of expression"),
        ("x.(1)", "expected type at column 4, found literal 1"),
        ("if x", "expected expression at column 1, found keyword 'if'"),
        ("f(){1}", "invalid composite literal type f() before '{' at column 4"),
        ("[...]int", "expected '{' after [...] array type at column 9, found end of expression"),
        ("x.(func(...int, int))", "can only use ... with final parameter in list at column 9"),
        ("x.(func(a int, []int))", "mixed named and unnamed parameters at column 16"),
        ("/* x", "unterminated comment"),
        ("a = 1", "expected end of expression at column 3, found '='"),
        ("T{1 2}", "expected '}' or ',' at column 5, found literal 2"),
        ("\"very long string literal indeed\" \"x\"", "expected end of expression at column 35, found literal \"x\""),
        ("f(1) \"very long string literal indeed!\"", "expected end of expression at column 6, found literal \"very long string litera..."),
    ];
    for (src, want) in cases {
        assert_eq!(err(src).message, want, "error for {src:?}");
    }
}

#[test]
fn error_spans_and_render() {
    let src = "(1 + 2";
    let e = err(src);
    assert_eq!(e.span, Span::new(6, 6));
    assert_eq!(e.render(src), "expected ')' at column 7, found end of expression\n    (1 + 2\n          ^");
    assert_eq!(e.to_string(), e.message);

    let src = "a + #";
    let e = err(src);
    assert_eq!(e.span, Span::new(4, 5));
    assert_eq!(e.render(src), "invalid character '#' at column 5\n    a + #\n        ^");

    let src = "x + \"abc";
    let e = err(src);
    assert_eq!(e.span, Span::new(4, 8));
    assert_eq!(e.render(src), "unterminated string literal\n    x + \"abc\n        ^^^^");

    // Columns count characters, not bytes.
    let src = "é + §";
    let e = err(src);
    assert_eq!(e.message, "invalid character '§' at column 5");
    assert_eq!(e.render(src), "invalid character '§' at column 5\n    é + §\n        ^");

    // Tabs are preserved in the caret line so it lines up.
    let src = "\ta b";
    let e = err(src);
    assert_eq!(e.render(src), format!("{}\n    \ta b\n    \t  ^", e.message));

    // Rendering against a different (shorter) source must not panic.
    let _ = e.render("");
    let _ = e.render("é");
}

#[test]
fn assignment() {
    let (l, r) = parse_assignment("p.x[3] = -1 + y").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.to_string(), "p.x[3]");
    assert_eq!(r.to_string(), "-1 + y");
    let (l, r) = parse_assignment("*(*int)(unsafe.Pointer(0xc000010000)) = 5").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.to_string(), "*(*int)(unsafe.Pointer(0xc000010000))");
    assert_eq!(r.to_string(), "5");
    assert_eq!(
        parse_assignment("a == b").map_err(|e| e.message),
        Err("expected '=' at column 7, found end of expression".to_string())
    );
    assert_eq!(
        parse_assignment("a = b = c").map_err(|e| e.message),
        Err("expected end of expression at column 7, found '='".to_string())
    );
    assert!(parse_assignment("= 1").is_err());
    assert!(parse_assignment("a =").is_err());
}

#[test]
fn nesting_up_to_the_limit_parses() {
    // Grow each form until the depth limit rejects it; everything below must
    // parse, print and drop within a default-sized (2 MiB) test thread, and
    // the limit must not be absurdly low for any form.
    type Form = fn(usize) -> String;
    let forms: [(&str, Form); 10] = [
        ("parens", |n| format!("{}x{}", "(".repeat(n), ")".repeat(n))),
        ("negations", |n| format!("{}x", "-".repeat(n))),
        ("indexes", |n| format!("x{}", "[0]".repeat(n))),
        ("nested index", |n| format!("{}0{}", "a[".repeat(n), "]".repeat(n))),
        ("pointer types", |n| format!("x.({}T)", "*".repeat(n))),
        ("slice types", |n| format!("{}int{{}}", "[]".repeat(n))),
        ("sums", |n| format!("{}1", "1+".repeat(n))),
        ("calls", |n| format!("f{}", "(1)".repeat(n))),
        ("func types", |n| format!("x.({}T{})", "func(".repeat(n), ")".repeat(n))),
        ("composites", |n| format!("T{}{}", "{".repeat(n), "}".repeat(n))),
    ];
    for (what, form) in forms {
        let mut n = 1;
        while parse_expr(&form(n)).is_ok() {
            let e = parse(&form(n));
            assert_eq!(show(&e.to_string()), e.to_string(), "{what} n={n}");
            n += 1;
            assert!(n < 10 * MAX_DEPTH, "{what}: no depth limit");
        }
        let e = err(&form(n));
        assert!(e.message.starts_with("expression nested too deeply"), "{what} n={n}: {}", e.message);
        assert!(n > MAX_DEPTH / 3, "{what}: limit hit at only {n} levels");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let n = 10_000;
    let forms = [
        "(".repeat(n),
        format!("{}x{}", "(".repeat(n), ")".repeat(n)),
        format!("{}x", "-".repeat(n)),
        format!("{}x", "*".repeat(n)),
        format!("{}x", "<-".repeat(n)),
        format!("x{}", "[0]".repeat(n)),
        format!("x{}", ".f".repeat(n)),
        format!("f{}", "()".repeat(n)),
        format!("x.({}T)", "*".repeat(n)),
        format!("x.({}T)", "[]".repeat(n)),
        format!("{}int(x)", "[]".repeat(n)),
        format!("x.({}T)", "chan ".repeat(n)),
        format!("x.({}", "func(".repeat(n)),
        format!("x.({}", "struct{a ".repeat(n)),
        format!("T{}", "{".repeat(n)),
        format!("a{}", "[a".repeat(n)),
        format!("{}1", "1+".repeat(n)),
        format!("{}1", "1*2+".repeat(n)),
        format!("x.({}", "map[".repeat(n)),
        "a[".repeat(n),
    ];
    for src in forms {
        let e = err(&src);
        assert!(
            e.message.starts_with("expression nested too deeply"),
            "{}...: {}",
            &src[..20.min(src.len())],
            e.message
        );
    }
}

#[test]
fn ambiguous_nested_declarations_parse_in_linear_time() {
    // `name [` is ambiguous between an array-typed name and a generic type;
    // resolving it by backtracking would take exponential time here.
    let n = 60;
    for src in [
        format!("x.({}T{})", "func(a [".repeat(n), "]int)".repeat(n)),
        format!("x.({}T{})", "struct{a [".repeat(n), "]int}".repeat(n)),
        format!("x.({}", "func(a [".repeat(n)),
    ] {
        let start = std::time::Instant::now();
        let _ = parse_expr(&src);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{src}");
    }
}

/// xorshift64* : deterministic, dependency-free pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CORPUS: &[&str] = &[
    "a + b * c",
    "x.(*pkg.T).f[3:4:5]",
    "*(*int)(unsafe.Pointer(p))",
    "map[string][]int{\"a\": {1, 2}}",
    "Pair[int, string]{1, \"x\"}",
    "\"github.com/x/y\".Var",
    "f(xs...) && !ok || <-ch == 0x1p-2",
    "[...]T{{1, 2}, {X: 3}}",
    "x.(func(a, b int, c ...string) (int, error))",
    "x.(struct{X int; Y string `tag`; *E})",
    "x.(interface{ M(int) string; io.Reader })",
    "'\\u00e9' + '\\x41' - 0b1_0 &^ 0o17 << 2i",
    "a[i:] [:j] [1] (x)",
    "(<-chan int)(c)",
    "&T{A: []byte(\"s\"), B: map[K]V{}}",
];

const ALPHABET: &[&str] = &[
    "(", ")", "[", "]", "{", "}", ".", ",", ":", ";", "...", "*", "&", "<-", "-", "+", "!", "^", "&^", "=", "==",
    "\"", "'", "`", "\\", "0x", "0", "1", "_", "e", "p", "i", "a", "T", "map", "chan", "func", "struct",
    "interface", "type", " ", "é", "\n", "/*", "//", "#", "\u{0}", "\\x", "\\u", "9",
];

/// Returns whether `src` parsed, after checking the invariants.
fn check_no_panic_and_round_trip(src: &str) -> bool {
    let _ = parse_assignment(src);
    let _ = parse_type(src);
    if let Ok(e) = parse_expr(src) {
        let printed = e.to_string();
        let again = parse_expr(&printed).unwrap_or_else(|err| {
            panic!("display of {src:?} = {printed:?} does not re-parse: {}", err.render(&printed))
        });
        assert_eq!(again.to_string(), printed, "display not stable for {src:?}");
        let _ = format!("{e:#}");
        let _ = e.to_type();
        let span = e.span();
        assert!(span.start <= span.end && span.end <= src.len(), "bad span {span:?} for {src:?}");
        true
    } else if let Err(e) = parse_expr(src) {
        let _ = e.render(src);
        assert!(e.span.start <= e.span.end && e.span.end <= src.len(), "bad span {:?} for {src:?}", e.span);
        assert!(!e.message.is_empty());
        false
    } else {
        false
    }
}

#[test]
fn fuzz_random_bytes() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..4000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = check_no_panic_and_round_trip(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn fuzz_token_soup() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut parsed = 0;
    for _ in 0..6000 {
        let n = rng.below(25);
        let s: String = (0..n).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
        if check_no_panic_and_round_trip(&s) {
            parsed += 1;
        }
    }
    assert!(parsed > 50, "only {parsed} token soups parsed");
}

#[test]
fn fuzz_mutated_valid_expressions() {
    for src in CORPUS {
        assert!(check_no_panic_and_round_trip(src), "corpus entry {src:?} must parse");
    }
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut parsed = 0;
    for _ in 0..8000 {
        let mut chars: Vec<char> = CORPUS[rng.below(CORPUS.len())].chars().collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(4) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => {
                    let piece = ALPHABET[rng.below(ALPHABET.len())];
                    for (k, c) in piece.chars().enumerate() {
                        chars.insert(at + k, c);
                    }
                }
                2 if at < chars.len() => {
                    let end = (at + rng.below(8)).min(chars.len());
                    let dup: Vec<char> = chars[at..end].to_vec();
                    let to = rng.below(chars.len() + 1);
                    for (k, c) in dup.into_iter().enumerate() {
                        chars.insert(to + k, c);
                    }
                }
                _ => {
                    let a = rng.below(chars.len().max(1));
                    let b = rng.below(chars.len().max(1));
                    if a < chars.len() && b < chars.len() {
                        chars.swap(a, b);
                    }
                }
            }
        }
        let s: String = chars.into_iter().collect();
        if check_no_panic_and_round_trip(&s) {
            parsed += 1;
        }
    }
    // The round-trip property is only exercised by mutants that still parse.
    assert!(parsed > 1000, "only {parsed} mutants parsed");
}
