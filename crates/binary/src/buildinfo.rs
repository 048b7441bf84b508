//! Go build information: the `.go.buildinfo` section written by the linker.
//!
//! Layout (cmd/link/internal/ld/data.go `buildinfo`, read back by
//! debug/buildinfo `readRawBuildInfo`): a 32-byte header made of the magic
//! `"\xff Go buildinf:"` (14 bytes), the pointer size (1 byte) and a flags
//! byte. When `flags & 2` (flagsVersionInl, every Go since 1.18) the header is
//! followed by two varint-length-prefixed strings: the toolchain version
//! (`runtime.buildVersion`) and the module info (`runtime.modinfo`), the latter
//! wrapped in 16-byte sentinels (cmd/go/internal/modload `ModInfoProg`).

use std::cmp::Ordering;
use std::fmt;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_SIZE: usize = 32;
const FLAGS_VERSION_INL: u8 = 0x2;
const FLAGS_BIG_ENDIAN: u8 = 0x1;
/// Length of each sentinel around the module info
/// (cmd/go/internal/modload/build.go `infoStart`/`infoEnd`).
const MODINFO_SENTINEL_LEN: usize = 16;

/// A Go release version, e.g. `go1.24.11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version (e.g. 24).
    pub minor: u32,
    /// Patch release (0 for `go1.24`, release candidates and devel builds).
    pub patch: u32,
}

impl GoVersion {
    /// Builds a version from its parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        GoVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses a toolchain version string as stored in the build info:
    /// `go1.24.11`, `go1.27`, `go1.27rc1`, `go1.24.11 X:boringcrypto`,
    /// `devel go1.27-abcdef Tue ...`. Returns `None` when no `goMAJOR.MINOR`
    /// can be found.
    pub fn parse(s: &str) -> Option<GoVersion> {
        let s = s.trim();
        let s = s.strip_prefix("devel ").unwrap_or(s);
        let rest = s.strip_prefix("go")?;
        let mut parts = rest.splitn(3, '.');
        let major = leading_number(parts.next()?)?;
        let minor = leading_number(parts.next()?)?;
        // A patch component only counts when the minor component is purely
        // numeric ("go1.27rc1.x" is not a patch release).
        let patch = parts.next().and_then(leading_number).unwrap_or(0);
        Some(GoVersion {
            major,
            minor,
            patch,
        })
    }
}

/// Parses the decimal digits at the start of `s`.
fn leading_number(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.get(..end)?.parse().ok()
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}

impl PartialOrd for GoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A range of Go releases, by (major, minor), both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoRange {
    pub oldest: (u32, u32),
    pub newest: (u32, u32),
}

/// The Go releases stillgo supports: the one definition every check and
/// every message about supported versions derives from (the runtime facts
/// for each of them are in stillgo-runtime's `versions.rs`).
pub const SUPPORTED_GO: GoRange = GoRange { oldest: (1, 22), newest: (1, 27) };

impl GoRange {
    pub fn contains(&self, v: &GoVersion) -> bool {
        (self.oldest..=self.newest).contains(&(v.major, v.minor))
    }
}

/// `Go 1.22 to 1.27`.
impl fmt::Display for GoRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Go {}.{} to {}.{}", self.oldest.0, self.oldest.1, self.newest.0, self.newest.1)
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "go{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The decoded build information of a Go executable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// The raw toolchain version string, e.g. `go1.24.11`.
    pub version: String,
    /// The main package path (`path` line of the module info), e.g.
    /// `example.com/prog` or `command-line-arguments`.
    pub main_path: Option<String>,
    /// The main module path (`mod` line of the module info).
    pub main_module: Option<String>,
    /// The whole module info text (without sentinels), as `go version -m` shows it.
    pub modinfo: String,
}

impl BuildInfo {
    /// Built with `-trimpath`: file names are `module/dir/x.go`, not paths.
    pub fn trimpath(&self) -> bool {
        self.modinfo.lines().any(|l| l.trim() == "build\t-trimpath=true" || l.split_whitespace().eq(["build", "-trimpath=true"]))
    }
}

/// Why the build info could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BuildInfoError {
    /// No magic at the start of the section.
    NoMagic,
    /// A pre-1.18 layout (strings referenced by pointer) or a big-endian target.
    UnsupportedLayout,
    /// A truncated or malformed string.
    Truncated,
}

/// Decodes the contents of the `.go.buildinfo` section.
pub(crate) fn parse_buildinfo(data: &[u8]) -> Result<BuildInfo, BuildInfoError> {
    // debug/buildinfo searches for the magic at 16-byte aligned offsets; the
    // linker places it at the start of the section, which is what we read.
    let start = (0..data.len())
        .step_by(16)
        .find(|&i| data.get(i..i + MAGIC.len()) == Some(MAGIC))
        .ok_or(BuildInfoError::NoMagic)?;
    let header = data
        .get(start..start + HEADER_SIZE)
        .ok_or(BuildInfoError::Truncated)?;
    let flags = header
        .get(MAGIC.len() + 1)
        .copied()
        .ok_or(BuildInfoError::Truncated)?;
    if flags & FLAGS_VERSION_INL == 0 || flags & FLAGS_BIG_ENDIAN != 0 {
        return Err(BuildInfoError::UnsupportedLayout);
    }
    let rest = data
        .get(start + HEADER_SIZE..)
        .ok_or(BuildInfoError::Truncated)?;
    let (version, rest) = read_prefixed_string(rest)?;
    let (modinfo_raw, _) = read_prefixed_string(rest)?;
    let version = String::from_utf8_lossy(version).into_owned();
    let modinfo = strip_sentinels(modinfo_raw);
    let modinfo = String::from_utf8_lossy(modinfo).into_owned();
    let field = |key: &str| {
        modinfo.lines().find_map(|line| {
            let mut cols = line.split('\t');
            (cols.next() == Some(key)).then(|| cols.next().unwrap_or("").to_string())
        })
    };
    Ok(BuildInfo {
        main_path: field("path"),
        main_module: field("mod"),
        version,
        modinfo,
    })
}

/// Removes the 16-byte sentinels around the module info, when present
/// (debug/buildinfo `readRawBuildInfo`: `len(mod) >= 33 && mod[len(mod)-17] == '\n'`).
fn strip_sentinels(raw: &[u8]) -> &[u8] {
    let n = raw.len();
    if n > 2 * MODINFO_SENTINEL_LEN && raw.get(n - MODINFO_SENTINEL_LEN - 1) == Some(&b'\n') {
        raw.get(MODINFO_SENTINEL_LEN..n - MODINFO_SENTINEL_LEN)
            .unwrap_or(raw)
    } else {
        raw
    }
}

/// Reads a string prefixed with its unsigned LEB128 length (encoding/binary `Uvarint`).
fn read_prefixed_string(data: &[u8]) -> Result<(&[u8], &[u8]), BuildInfoError> {
    let mut len: u64 = 0;
    let mut shift = 0u32;
    let mut used = 0usize;
    loop {
        let b = *data.get(used).ok_or(BuildInfoError::Truncated)?;
        used += 1;
        if shift >= 64 {
            return Err(BuildInfoError::Truncated);
        }
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let len = usize::try_from(len).map_err(|_| BuildInfoError::Truncated)?;
    let end = used.checked_add(len).ok_or(BuildInfoError::Truncated)?;
    let s = data.get(used..end).ok_or(BuildInfoError::Truncated)?;
    Ok((s, data.get(end..).unwrap_or(&[])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_versions() {
        assert_eq!(
            GoVersion::parse("go1.24.11"),
            Some(GoVersion::new(1, 24, 11))
        );
        assert_eq!(GoVersion::parse("go1.27"), Some(GoVersion::new(1, 27, 0)));
        assert_eq!(
            GoVersion::parse("go1.27rc1"),
            Some(GoVersion::new(1, 27, 0))
        );
        assert_eq!(
            GoVersion::parse("go1.22.10 X:boringcrypto"),
            Some(GoVersion::new(1, 22, 10))
        );
        assert_eq!(
            GoVersion::parse("devel go1.27-abcdef Tue Jan 1"),
            Some(GoVersion::new(1, 27, 0))
        );
        assert_eq!(GoVersion::parse("gccgo"), None);
        assert_eq!(GoVersion::new(1, 24, 11).to_string(), "go1.24.11");
        assert!(GoVersion::new(1, 22, 10) < GoVersion::new(1, 24, 0));
    }

    #[test]
    fn parse_section() {
        let mut sec = Vec::new();
        sec.extend_from_slice(MAGIC);
        sec.push(8);
        sec.push(FLAGS_VERSION_INL);
        sec.resize(HEADER_SIZE, 0);
        let v = b"go1.24.11";
        sec.push(v.len() as u8);
        sec.extend_from_slice(v);
        let mut m = vec![b'x'; 16];
        m.extend_from_slice(b"path\texample.com/prog\nmod\texample.com/prog\t(devel)\t\n");
        m.extend_from_slice(&[b'y'; 16]);
        sec.push(m.len() as u8);
        sec.extend_from_slice(&m);
        let bi = parse_buildinfo(&sec).unwrap();
        assert_eq!(bi.version, "go1.24.11");
        assert_eq!(bi.main_path.as_deref(), Some("example.com/prog"));
        assert_eq!(bi.main_module.as_deref(), Some("example.com/prog"));
        assert_eq!(
            parse_buildinfo(b"nothing here"),
            Err(BuildInfoError::NoMagic)
        );
        sec.truncate(HEADER_SIZE + 4);
        assert_eq!(parse_buildinfo(&sec), Err(BuildInfoError::Truncated));
    }
}
