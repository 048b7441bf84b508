//! Finding marked source lines, so tests never hard-code line numbers.

use std::path::PathBuf;

use crate::testdata_dir;

/// Absolute path of `testdata/<program>/<file>` (what a debugger shows and
/// what `break <file>:<line>` takes). Panics if it does not exist.
pub fn source_path(program: &str, file: &str) -> PathBuf {
    let p = testdata_dir().join(program).join(file);
    if !p.is_file() {
        panic!("source file {} does not exist", p.display());
    }
    p
}

/// The 1-based line of `testdata/<program>/<file>` that contains `marker`
/// (e.g. `"// BP:loop"`). The marker must end at a word boundary, so
/// `// BP:loop` does not match `// BP:loop2`. Panics when the marker is
/// missing or appears on more than one line.
pub fn source_line(program: &str, file: &str, marker: &str) -> u32 {
    let path = source_path(program, file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let hits = marker_lines(&text, marker);
    match hits.as_slice() {
        [line] => *line,
        [] => panic!("marker {marker:?} not found in {}", path.display()),
        many => panic!("marker {marker:?} appears on several lines of {}: {many:?}", path.display()),
    }
}

/// Shorthand for `source_line(program, file, "// BP:<name>")`.
pub fn bp_line(program: &str, file: &str, name: &str) -> u32 {
    source_line(program, file, &format!("// BP:{name}"))
}

/// 1-based numbers of the lines containing `marker` as a whole token.
pub fn marker_lines(text: &str, marker: &str) -> Vec<u32> {
    let mut lines = Vec::new();
    if marker.is_empty() {
        return lines;
    }
    for (idx, line) in text.lines().enumerate() {
        let found = line.match_indices(marker).any(|(at, m)| {
            let next = line[at + m.len()..].chars().next();
            !next.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '.' || c == '-')
        });
        if found {
            lines.push(u32::try_from(idx + 1).unwrap_or(u32::MAX));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_matches_whole_token_only() {
        let text = "a\nx := 1 // BP:loop\ny := 2 // BP:loop2\nz // BP:loop-end\n";
        assert_eq!(marker_lines(text, "// BP:loop"), vec![2]);
        assert_eq!(marker_lines(text, "// BP:loop2"), vec![3]);
        assert_eq!(marker_lines(text, "// BP:loop-end"), vec![4]);
        assert_eq!(marker_lines(text, "// BP:nope"), Vec::<u32>::new());
        assert_eq!(marker_lines("// BP:a\n// BP:a x\n", "// BP:a"), vec![1, 2]);
    }

    #[test]
    fn source_line_finds_corpus_markers() {
        let line = bp_line("hello", "main.go", "loop");
        let text = std::fs::read_to_string(source_path("hello", "main.go")).unwrap();
        let got = text.lines().nth(line as usize - 1).unwrap();
        assert!(got.contains("normalize(w)"), "line {line}: {got}");
        let geo = std::fs::read_to_string(source_path("values", "geo/geo.go")).unwrap();
        let n = source_line("values", "geo/geo.go", "var Count");
        assert!(geo.lines().nth(n as usize - 1).unwrap().starts_with("var Count = 42"));
    }

    #[test]
    #[should_panic(expected = "not found")]
    fn missing_marker_panics() {
        bp_line("hello", "main.go", "no-such-marker");
    }

    #[test]
    #[should_panic(expected = "several lines")]
    fn duplicated_marker_panics() {
        // "return" occurs on many lines of hello/main.go.
        source_line("hello", "main.go", "return");
    }

    #[test]
    #[should_panic(expected = "does not exist")]
    fn missing_file_panics() {
        source_line("hello", "nope.go", "// BP:x");
    }
}
