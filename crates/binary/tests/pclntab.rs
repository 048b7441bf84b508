//! Checks the pclntab decoder against the Go toolchain's own view of real
//! binaries (`go tool nm`, `go tool objdump`) for several Go versions.

mod common;

use std::collections::HashMap;

use common::{basename, build, mark_line, nm, objdump, Variant, VERSIONS};
use stillgo_binary::{Binary, BinaryError, GoVersion, PCDATA_INL_TREE_INDEX};

fn open(ver: &str, v: Variant) -> Binary {
    let path = build(ver, v);
    Binary::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// The pclntab spelling of an ELF symbol name: assembly functions carry
/// `.abi0` in the ELF symbol table only.
fn normalize(name: &str) -> String {
    name.strip_suffix(".abi0").unwrap_or(name).to_string()
}

#[test]
fn go_version_and_build_info() {
    for ver in VERSIONS {
        for v in [Variant::NoOpt, Variant::Stripped] {
            let bin = open(ver, v);
            assert_eq!(bin.go_version_string(), Some(format!("go{ver}").as_str()));
            let parsed = GoVersion::parse(&format!("go{ver}")).unwrap();
            assert_eq!(bin.go_version(), Some(parsed));
            assert_eq!(bin.go_version().unwrap().to_string(), format!("go{ver}"));
            assert_eq!(bin.main_module(), Some("example.com/prog"));
            assert_eq!(bin.is_stripped(), v == Variant::Stripped, "{ver} {v:?}");
            assert_eq!(bin.has_dwarf(), v != Variant::Stripped, "{ver} {v:?}");
        }
    }
}

#[test]
fn functions_match_go_tool_nm() {
    for ver in VERSIONS {
        for v in [Variant::NoOpt, Variant::Opt] {
            let path = build(ver, v);
            let bin = Binary::open(&path).unwrap();
            let tab = bin.pclntab();
            let syms: Vec<_> = nm(ver, &path)
                .into_iter()
                .filter(|s| matches!(s.kind, 'T' | 't') && s.size > 0)
                .collect();
            let funcs: Vec<_> = tab.funcs().collect();
            assert_eq!(funcs.len(), tab.len());
            let by_addr: HashMap<u64, &stillgo_binary::Func> =
                funcs.iter().map(|f| (f.entry, f)).collect();
            let mut checked = 0;
            for s in &syms {
                let f = by_addr.get(&s.addr).unwrap_or_else(|| {
                    panic!("{ver} {v:?}: no pclntab func at {:#x} ({})", s.addr, s.name)
                });
                // `_.` names are linknamed closures whose ELF name lost the package.
                // The pclntab may keep a `·` where the ELF name has `.`.
                if !s.name.starts_with("_.") {
                    assert_eq!(
                        f.name.replace('·', "."),
                        normalize(&s.name),
                        "{ver} {v:?} at {:#x}",
                        s.addr
                    );
                }
                assert!(
                    f.end >= s.addr + s.size,
                    "{ver} {v:?}: {} ends early",
                    f.name
                );
                let found = tab.func_for_pc(s.addr + s.size - 1).unwrap();
                assert_eq!(found.entry, s.addr);
                checked += 1;
            }
            assert!(checked > 1000, "only {checked} text symbols compared");
            // Every pclntab function is an ELF text symbol too.
            assert_eq!(
                funcs.len(),
                syms.len(),
                "{ver} {v:?}: function counts differ"
            );
            for name in [
                "main.main",
                "main.bigFrame",
                "main.makeCounter.func1",
                "example.com/prog/shapes.(*Rect).Scale",
                "runtime.goexit",
            ] {
                let f = tab
                    .func_by_name(name)
                    .unwrap_or_else(|| panic!("{ver}: no {name}"));
                assert_eq!(&*f.name, name);
                let elf = bin
                    .symbol(name)
                    .or_else(|| bin.symbol(&format!("{name}.abi0")));
                assert_eq!(f.entry, elf.unwrap().addr, "{ver} {name}");
            }
            assert!(tab.func_by_name("main.nosuch").is_none());
            assert!(tab.func_for_pc(0).is_none());
            let goexit = tab.func_by_name("runtime.goexit").unwrap();
            assert!(goexit.is_topframe() && goexit.is_asm() && goexit.package() == "runtime");
            let main = tab.func_by_name("main.main").unwrap();
            assert!(!main.is_topframe() && !main.is_asm() && main.package() == "main");
            assert_eq!(main.package(), "main");
            let scale = tab
                .func_by_name("example.com/prog/shapes.(*Rect).Scale")
                .unwrap();
            assert_eq!(scale.package(), "example.com/prog/shapes");
            assert_eq!(
                scale.start_line as u32,
                mark_line("shapes/shapes.go", "scale") - 1
            );
        }
    }
}

#[test]
fn find_funcs_by_partial_name() {
    for ver in VERSIONS {
        let bin = open(ver, Variant::NoOpt);
        let tab = bin.pclntab();
        let names = |p: &str| -> Vec<String> {
            tab.find_funcs(p)
                .iter()
                .map(|f| f.name.to_string())
                .collect()
        };
        assert_eq!(names("main.bigFrame"), ["main.bigFrame"]);
        assert_eq!(names("bigFrame"), ["main.bigFrame"]);
        for p in [
            "Scale",
            "Rect.Scale",
            "(*Rect).Scale",
            "shapes.(*Rect).Scale",
        ] {
            assert_eq!(
                names(p),
                ["example.com/prog/shapes.(*Rect).Scale"],
                "{ver} {p}"
            );
        }
        let sums = names("Sum");
        assert_eq!(sums.len(), 2, "{ver}: two instantiations of Sum: {sums:?}");
        assert!(
            sums.iter()
                .all(|n| n.starts_with("example.com/prog/shapes.Sum[")),
            "{sums:?}"
        );
        assert_eq!(names("makeCounter.func1"), ["main.makeCounter.func1"]);
        assert!(names("igFrame").is_empty());
    }
}

/// Instructions of the functions we inspect, from objdump.
const FUNCS_RE: &str = r"^(main\.|example\.com/prog/shapes\.)";

fn check_lines(ver: &str, v: Variant, bin: &Binary, truth_ver_bin: &std::path::Path) {
    let tab = bin.pclntab();
    let insns = objdump(ver, truth_ver_bin, FUNCS_RE);
    assert!(insns.len() > 100);
    for i in &insns {
        let (file, line) = tab
            .line_for_pc(i.addr)
            .unwrap_or_else(|| panic!("{ver} {v:?}: no line for {:#x}", i.addr));
        assert_eq!(
            (basename(file), line),
            (i.file.as_str(), i.line),
            "{ver} {v:?} {} at {:#x}",
            i.func,
            i.addr
        );
        assert!(file.starts_with('/'), "absolute path expected: {file}");
        assert_eq!(&*tab.func_for_pc(i.addr).unwrap().name, normalize(&i.func));
    }
}

#[test]
fn line_for_pc_matches_objdump() {
    for ver in VERSIONS {
        for v in [Variant::NoOpt, Variant::Opt] {
            let path = build(ver, v);
            check_lines(ver, v, &Binary::open(&path).unwrap(), &path);
        }
    }
}

#[test]
fn stripped_binary_has_same_functions_and_lines() {
    for ver in VERSIONS {
        let full = build(ver, Variant::Opt);
        let stripped = open(ver, Variant::Stripped);
        assert!(stripped.symbol("main.main").is_none());
        assert!(stripped.section(".debug_info").is_none());
        let full_bin = Binary::open(&full).unwrap();
        let a: Vec<_> = full_bin
            .pclntab()
            .funcs()
            .map(|f| (f.name, f.entry, f.end))
            .collect();
        let b: Vec<_> = stripped
            .pclntab()
            .funcs()
            .map(|f| (f.name, f.entry, f.end))
            .collect();
        assert!(a.len() > 1000);
        assert_eq!(a, b, "{ver}: -s -w must not move code");
        // objdump cannot read a stripped binary; the code is identical, so the
        // unstripped build's objdump is the ground truth.
        check_lines(ver, Variant::Stripped, &stripped, &full);
        let md = stripped
            .moduledata()
            .expect("moduledata found without symbols");
        let full_md = full_bin.moduledata().unwrap();
        // Data may move and type data differ in length (-w drops some); code does not.
        assert_eq!(
            (md.text, md.etext, md.types, md.rodata, md.gofunc),
            (
                full_md.text,
                full_md.etext,
                full_md.types,
                full_md.rodata,
                full_md.gofunc
            )
        );
        assert_eq!(
            stripped.read_static(md.addr, 8),
            Some(&stripped.pclntab().addr().to_le_bytes()[..])
        );
    }
}

#[test]
fn pcs_for_line_are_attributed_to_that_line() {
    for ver in VERSIONS {
        for v in [Variant::NoOpt, Variant::Opt, Variant::Stripped] {
            let bin = open(ver, v);
            let tab = bin.pclntab();
            let truth_bin = build(
                ver,
                if v == Variant::Stripped {
                    Variant::Opt
                } else {
                    v
                },
            );
            let insns = objdump(ver, &truth_bin, FUNCS_RE);
            let line_of: HashMap<u64, (&str, u32)> = insns
                .iter()
                .map(|i| (i.addr, (i.file.as_str(), i.line)))
                .collect();
            let cases = [
                ("main.go", "prog/main.go", "bigloop"),
                ("main.go", "main.go", "closure"),
                ("shapes.go", "shapes/shapes.go", "scale"),
                ("main.go", "prog/main.go", "add"),
            ];
            for (base, query, mark) in cases {
                let line = mark_line(
                    if base == "main.go" {
                        "main.go"
                    } else {
                        "shapes/shapes.go"
                    },
                    mark,
                );
                let pcs = tab.pcs_for_line(query, line);
                assert!(!pcs.is_empty(), "{ver} {v:?}: no pcs for {query}:{line}");
                for pc in &pcs {
                    assert_eq!(
                        line_of.get(pc),
                        Some(&(base, line)),
                        "{ver} {v:?} {query}:{line} pc {pc:#x}"
                    );
                }
                // The first instruction objdump attributes to the line is among them.
                let first = insns
                    .iter()
                    .find(|i| i.file == base && i.line == line)
                    .unwrap();
                assert!(
                    pcs.contains(&first.addr),
                    "{ver} {v:?} {query}:{line}: {pcs:x?} lacks {:#x}",
                    first.addr
                );
                // Full path works too.
                let full: Vec<&str> = tab.resolve_file(query);
                assert_eq!(full.len(), 1);
                assert_eq!(tab.pcs_for_line(full[0], line), pcs);
            }
            // The inlined `add` shows up inside main.main in optimized builds.
            let add_pcs = tab.pcs_for_line("prog/main.go", mark_line("main.go", "add"));
            let in_main = add_pcs
                .iter()
                .any(|&pc| &*tab.func_for_pc(pc).unwrap().name == "main.main");
            assert_eq!(in_main, v != Variant::NoOpt, "{ver} {v:?}");
            assert!(tab.pcs_for_line("nosuch.go", 1).is_empty());
            assert!(tab.pcs_for_line("prog/main.go", 100_000).is_empty());
            assert!(tab
                .files()
                .iter()
                .any(|f| f.ends_with("/prog/shapes/shapes.go")));
            assert!(tab.files().iter().any(|f| f.ends_with("/runtime/proc.go")));
        }
    }
}

#[test]
fn sp_delta_matches_frame_size() {
    for ver in VERSIONS {
        for v in [Variant::NoOpt, Variant::Opt] {
            let path = build(ver, v);
            let bin = Binary::open(&path).unwrap();
            let tab = bin.pclntab();
            for name in ["main.bigFrame", "main.main"] {
                let re = format!("^{}$", name.replace('.', r"\."));
                let insns = objdump(ver, &path, &re);
                let f = tab.func_by_name(name).unwrap();
                assert_eq!(tab.sp_delta(&f, f.entry), Some(0));
                let (idx, sub) = insns
                    .iter()
                    .enumerate()
                    .find(|(_, i)| i.text.starts_with("SUBQ $") && i.text.ends_with(", SP"))
                    .unwrap_or_else(|| panic!("{ver} {name}: no SUBQ"));
                let frame = u64::from_str_radix(
                    sub.text
                        .trim_start_matches("SUBQ $0x")
                        .trim_end_matches(", SP"),
                    16,
                )
                .unwrap();
                let push = insns.iter().position(|i| i.text == "PUSHQ BP").unwrap();
                assert!(push < idx);
                // After PUSHQ BP the frame has grown by 8; after SUBQ by frame+8.
                assert_eq!(
                    tab.sp_delta(&f, insns[push + 1].addr),
                    Some(8),
                    "{ver} {name}"
                );
                let body = insns[idx + 1].addr;
                assert_eq!(
                    tab.sp_delta(&f, body),
                    Some(frame as i32 + 8),
                    "{ver} {v:?} {name}"
                );
                assert_eq!(tab.skip_prologue_hint(&f), body, "{ver} {v:?} {name}");
                // The stack-growth check precedes the frame: delta 0 there.
                assert_eq!(tab.sp_delta(&f, insns[1].addr), Some(0));
                assert_eq!(tab.sp_delta(&f, f.end), None);
            }
        }
    }
}

#[test]
fn inline_stack_names_inlined_function() {
    for ver in VERSIONS {
        let add_line = mark_line("main.go", "add");
        let call_line = mark_line("main.go", "calladd");
        for v in [Variant::Opt, Variant::Stripped, Variant::NoOpt] {
            let bin = open(ver, v);
            let tab = bin.pclntab();
            let main = tab.func_by_name("main.main").unwrap();
            let mut inlined = 0;
            for e in tab.line_table(&main) {
                let stack = tab.inline_stack(e.pc.start);
                if e.file.ends_with("/prog/main.go") && e.line == add_line {
                    inlined += 1;
                    assert_eq!(stack.len(), 1, "{ver} {v:?}: {stack:?}");
                    let call = &stack[0];
                    assert_eq!(&*call.func_name, "main.add");
                    assert_eq!(call.call_line, call_line);
                    assert!(call
                        .call_file
                        .as_deref()
                        .unwrap()
                        .ends_with("/prog/main.go"));
                    assert!(main.contains(call.parent_pc));
                    assert_eq!(call.start_line as u32, add_line - 1);
                    let frames = tab.logical_frames(e.pc.start);
                    let shown: Vec<_> = frames
                        .iter()
                        .map(|f| (&*f.func_name, f.line, f.inlined))
                        .collect();
                    assert_eq!(
                        shown,
                        [
                            ("main.add", add_line, true),
                            ("main.main", call_line, false)
                        ]
                    );
                    assert!(
                        tab.pcdata(&main, PCDATA_INL_TREE_INDEX, e.pc.start)
                            .unwrap()
                            >= 0
                    );
                }
            }
            if v == Variant::NoOpt {
                assert_eq!(inlined, 0, "{ver}: nothing inlined with -l");
                let pc = tab.skip_prologue_hint(&main);
                assert!(tab.inline_stack(pc).is_empty());
                assert_eq!(tab.logical_frames(pc).len(), 1);
            } else {
                assert!(
                    inlined > 0,
                    "{ver} {v:?}: main.add not inlined into main.main"
                );
            }
        }
    }
}

#[test]
fn moduledata_sections_and_static_data() {
    for ver in VERSIONS {
        let bin = open(ver, Variant::NoOpt);
        let tab = bin.pclntab();
        let md = bin.moduledata().expect("moduledata");
        assert_eq!(md.addr, bin.symbol("runtime.firstmoduledata").unwrap().addr);
        assert_eq!(md.gofunc, bin.symbol("go:func.*").unwrap().addr);
        assert_eq!(md.text, bin.text_range().start);
        assert_eq!(md.text, tab.text_start());
        assert_eq!(md.etext, bin.symbol("runtime.etext").unwrap().addr);
        assert_eq!(md.types, bin.symbol("runtime.types").unwrap().addr);
        assert_eq!(md.rodata, bin.section_range(".rodata").unwrap().start);
        assert_eq!(bin.entry(), bin.symbol("_rt0_amd64_linux").unwrap().addr);
        assert!(bin.text_range().contains(&bin.entry()));
        // The pclntab header as seen at its virtual address.
        assert_eq!(
            bin.read_static(tab.addr(), 4),
            Some(&[0xf1, 0xff, 0xff, 0xff][..])
        );
        assert!(
            bin.read_static(md.bss, 8).is_none(),
            "bss is not file-backed"
        );
        // runtime.buildVersion is a string header in .data pointing into .rodata.
        let bv = bin.symbol("runtime.buildVersion").unwrap();
        let hdr = bin.read_static(bv.addr, 16).unwrap();
        let ptr = u64::from_le_bytes(hdr[..8].try_into().unwrap());
        let len = u64::from_le_bytes(hdr[8..].try_into().unwrap()) as usize;
        assert_eq!(
            bin.read_static(ptr, len),
            Some(format!("go{ver}").as_bytes())
        );
        // DWARF sections come back decompressed.
        let info = bin.section(".debug_info").expect(".debug_info");
        let version = u16::from_le_bytes([info[4], info[5]]);
        assert!((2..=5).contains(&version), "{ver}: DWARF version {version}");
        let line = bin.section(".debug_line").expect(".debug_line");
        assert!(line.len() > 1000);
        assert!(bin.section(".nosuch").is_none());
    }
}

#[test]
fn open_errors() {
    let dir = common::workspace_root().join("target/stillgo-binary-tests/errors");
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("does-not-exist");
    let e = Binary::open(&missing).unwrap_err();
    assert!(matches!(e, BinaryError::NotFound(_)), "{e}");
    assert!(e.to_string().contains("does-not-exist"));

    let text = dir.join("notes.txt");
    std::fs::write(&text, "just some text, not a program\n").unwrap();
    let e = Binary::open(&text).unwrap_err();
    assert!(matches!(e, BinaryError::NotElf(_)), "{e}");
    assert!(e.to_string().ends_with("is not an ELF executable"), "{e}");

    let c_src = dir.join("hello.c");
    std::fs::write(
        &c_src,
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
    )
    .unwrap();
    let c_bin = dir.join("hello");
    let st = std::process::Command::new("cc")
        .arg("-o")
        .arg(&c_bin)
        .arg(&c_src)
        .status()
        .expect("run cc");
    assert!(st.success(), "cc failed");
    let e = Binary::open(&c_bin).unwrap_err();
    assert!(matches!(e, BinaryError::NotGo(_)), "{e}");
    assert!(e.to_string().contains("is not a Go program"), "{e}");

    let e = Binary::open(&dir).unwrap_err();
    assert!(matches!(e, BinaryError::NotReadable { .. }), "{e}");
}
