//! The per-version runtime layout table in `versions.rs` (used for binaries
//! without DWARF) must agree with the runtime's own DWARF for every
//! supported toolchain.

use std::sync::Arc;

use stillgo_binary::Binary;
use stillgo_dwarf::{DebugInfo, DwarfSections};
use stillgo_runtime::versions::{fallback_layout, Layout};
use stillgo_testkit::{build, toolchain, Flavor, ALL_VERSIONS};

fn dwarf_of(bin: &Binary) -> DebugInfo {
    DebugInfo::new(DwarfSections::from_fn(|name| bin.section(name).map(|d| Arc::from(d.as_ref())))).expect("dwarf")
}

#[test]
fn fallback_layouts_match_dwarf_for_every_supported_version() {
    for v in ALL_VERSIONS {
        let tc = toolchain(v);
        let path = build("hello", &tc, Flavor::Debug);
        let bin = Binary::open(&path).expect("open");
        let version = bin.go_version().expect("go version");
        let from_dwarf = Layout::from_dwarf(&dwarf_of(&bin)).expect("layout from DWARF");
        let fb = fallback_layout(&version).unwrap_or_else(|| panic!("no fallback layout for {version}: {from_dwarf:#?}"));
        let expected = Layout { allgs: 0, allm: 0, wait_reason_strings: None, ..from_dwarf };
        assert_eq!(fb, expected, "{version}: fallback layout differs from DWARF");
    }
}
