//! Prints what stillgo-binary sees in a Go executable:
//! `cargo run -p stillgo-binary --example gobin_info -- PATH [FUNC]`.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: gobin_info PATH [FUNC]");
        std::process::exit(2);
    };
    let t = Instant::now();
    let bin = match stillgo_binary::open(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let tab = bin.pclntab();
    println!(
        "{}: {:?}, {} funcs, stripped={}, dwarf={}, opened in {:?}",
        path.display(),
        bin.go_version_string(),
        tab.len(),
        bin.is_stripped(),
        bin.has_dwarf(),
        t.elapsed()
    );
    println!(
        "text {:#x?} pclntab text_start {:#x}",
        bin.text_range(),
        tab.text_start()
    );
    println!("moduledata: {:#x?}", bin.moduledata());
    if let Ok(spec) = std::env::var("GOBIN_LINE") {
        if let Some((file, line)) = spec.rsplit_once(':') {
            let t = Instant::now();
            let pcs = tab.pcs_for_line(file, line.parse().unwrap_or(0));
            println!(
                "{spec}: {pcs:#x?} in {:?} ({:?})",
                t.elapsed(),
                tab.resolve_file(file)
            );
        }
    }
    if let Some(name) = args.next() {
        for f in tab.find_funcs(&name) {
            println!(
                "{} [{:#x}, {:#x}) flag={} id={}",
                f.name, f.entry, f.end, f.flag, f.func_id
            );
            for e in tab.line_table(&f) {
                println!(
                    "  {:#x}-{:#x} {}:{} sp={:?} inl={:?}",
                    e.pc.start,
                    e.pc.end,
                    e.file,
                    e.line,
                    tab.sp_delta(&f, e.pc.start),
                    tab.inline_stack(e.pc.start)
                        .iter()
                        .map(|c| c.func_name.to_string())
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}
