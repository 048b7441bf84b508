//! The process's memory map, `/proc/PID/maps` (proc(5)): which file is
//! mapped where. Native code outside the Go executable (the C library, the
//! dynamic loader, a cgo dependency's shared library) is found from it.

use std::path::PathBuf;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset in the file of the mapping's first byte.
    pub offset: u64,
    pub executable: bool,
    /// The mapped file; `None` for anonymous memory and `[stack]`-like
    /// pseudo-paths.
    pub path: Option<PathBuf>,
}

/// The current memory map of `pid`.
pub fn maps(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(text.lines().filter_map(parse_line).collect())
}

/// `start-end perms offset dev inode path`, the path optional.
fn parse_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?;
    let offset = fields.next()?;
    let path = fields.nth(2).map(str::trim_start).filter(|p| p.starts_with('/')).map(PathBuf::from);
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset: u64::from_str_radix(offset, 16).ok()?,
        executable: perms.as_bytes().get(2) == Some(&b'x'),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_proc_maps() {
        let m = parse_line("7f1c2a428000-7f1c2a5bd000 r-xp 00028000 08:01 1311 /usr/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        assert_eq!((m.start, m.end, m.offset, m.executable), (0x7f1c2a428000, 0x7f1c2a5bd000, 0x28000, true));
        assert_eq!(m.path.as_deref(), Some(std::path::Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6")));
        let anon = parse_line("c000000000-c000400000 rw-p 00000000 00:00 0 ").unwrap();
        assert!(!anon.executable && anon.path.is_none());
        let stack = parse_line("7ffd1b5e1000-7ffd1b602000 rw-p 00000000 00:00 0                          [stack]").unwrap();
        assert!(stack.path.is_none());
        assert!(parse_line("garbage").is_none());
    }

    #[test]
    fn own_map_has_this_executable() {
        let me = std::fs::read_link("/proc/self/exe").unwrap();
        let maps = maps(std::process::id() as i32).unwrap();
        assert!(maps.iter().any(|m| m.executable && m.path.as_deref() == Some(me.as_path())), "{maps:?}");
    }
}
