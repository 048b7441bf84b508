//! DWARF debug information for Go binaries, indexed lazily.
pub mod types;
