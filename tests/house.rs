//! The walls of the house, checked on every test run: no circle between top-level modules
//! nor between files (from the `crate::`/`super::` paths that non-test code names), and no
//! source file over [`MAX_LINES`] lines, and no reading of the wall clock outside the one
//! clock (`src/clock.rs`). docs/architecture.md draws the same rooms.
//!
//! Run it alone with `cargo test --test house`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file that needs more lines than this holds several concerns: give it a folder.
const MAX_LINES: usize = 1_000;

/// One source file of the library: its module path and the code it names, tests and
/// comments aside.
struct Room {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` → `["a", "b"]`; `src/lib.rs` → `[]`; `src/main.rs` is another crate.
fn module_of(path: &Path) -> Option<Vec<String>> {
    let rel = path.strip_prefix(src()).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?.to_string();
    match (parts.is_empty(), stem.as_str()) {
        (true, "lib") => Some(vec![]),
        (true, "main") => None,
        (_, "mod") => Some(parts),
        _ => {
            parts.push(stem);
            Some(parts)
        }
    }
}

/// The code of a file without comments and without `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") || trimmed.starts_with("#[cfg(all(test") {
            // Skip the attributed item: up to its closing brace (or `;`).
            let mut depth = 0i32;
            let mut opened = false;
            for item in lines.by_ref() {
                for c in item.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && item.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Parses a use-tree after `crate::` (or `super::`): every full path it names.
fn paths_after(rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 0;
    let mut path = prefix;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() {
                    return i;
                }
                if bytes[i] == b'}' {
                    return i + 1;
                }
                let used = paths_after(&rest[i..], path.clone(), out);
                if used == 0 {
                    i += 1;
                } else {
                    i += used;
                }
            }
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if start == i {
            out.push(path);
            return i;
        }
        path.push(rest[start..i].to_string());
        if rest[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The modules a room declares in its own file (`mod x;`, `pub mod x;`): a bare `x::`
/// path in it names its child `x` (lib.rs names every top-level module this way).
fn children(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("pub ").unwrap_or(line);
            let rest = rest.strip_prefix("pub(crate) ").unwrap_or(rest);
            let name = rest.strip_prefix("mod ")?.strip_suffix(';')?.trim();
            (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

/// Every module path a room's code names through `crate::`, `super::`, or a bare path
/// into a child module it declares.
fn named_paths(room: &Room) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code = &room.code;
    // Only lib.rs: elsewhere a parent naming its child (`pub use child::X`) is the usual
    // shape of a folder, and the child's `super::` arrow back is the circle counted.
    let declared = if room.module.is_empty() {
        children(code)
    } else {
        BTreeSet::new()
    };
    for child in declared {
        let needle = format!("{child}::");
        for (at, _) in code.match_indices(&needle) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            paths_after(&code[at..], room.module.clone(), &mut out);
        }
    }
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        paths_after(&code[at + "crate::".len()..], Vec::new(), &mut out);
    }
    for (at, _) in code.match_indices("super::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // A file's `super` is its parent module (`mod.rs`-less layout: src/a/b.rs → a).
        let mut parent = room.module.clone();
        parent.pop();
        paths_after(&code[at + "super::".len()..], parent, &mut out);
    }
    out
}

fn rooms() -> Vec<Room> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let module = module_of(&path)?;
            let text = std::fs::read_to_string(&path).expect("source file");
            Some(Room {
                code: code_of(&text),
                path,
                module,
            })
        })
        .collect()
}

/// The room a path lands in: the longest module prefix that is a file.
fn resolve<'a>(path: &[String], by_module: &'a BTreeMap<Vec<String>, usize>) -> Option<&'a usize> {
    (0..=path.len())
        .rev()
        .find_map(|n| by_module.get(&path[..n]))
}

/// Strongly connected components of more than one node (Tarjan's algorithm).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

/// `from -> to: names` for every arrow inside a circle, to say what ties it.
fn explain(circle: &[String], arrows: &BTreeMap<(String, String), BTreeSet<String>>) -> String {
    let mut out = String::new();
    for ((from, to), names) in arrows {
        if circle.contains(from) && circle.contains(to) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            out.push_str(&format!("    {from} -> {to}: {}\n", names.join(", ")));
        }
    }
    out
}

struct Graph {
    files: BTreeMap<String, BTreeSet<String>>,
    file_arrows: BTreeMap<(String, String), BTreeSet<String>>,
    tops: BTreeMap<String, BTreeSet<String>>,
    top_arrows: BTreeMap<(String, String), BTreeSet<String>>,
}

/// What lib.rs re-exports (`pub use x::Y;`, `pub use x::{Y, Z};`): `crate::Y` is an alias
/// of `crate::x::Y`, an arrow to `x`, not to lib.
fn reexports(rooms: &[Room]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Some(lib) = rooms.iter().find(|r| r.module.is_empty()) else {
        return out;
    };
    for (at, _) in lib.code.match_indices("pub use ") {
        let mut paths = Vec::new();
        paths_after(&lib.code[at + "pub use ".len()..], Vec::new(), &mut paths);
        for path in paths {
            if let Some(last) = path.last() {
                out.insert(last.clone(), path.clone());
            }
        }
    }
    out
}

fn graph(rooms: &[Room]) -> Graph {
    let aliases = reexports(rooms);
    let by_module: BTreeMap<Vec<String>, usize> = rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (r.module.clone(), i))
        .collect();
    let name = |i: usize| {
        rooms[i]
            .path
            .strip_prefix(src())
            .unwrap()
            .display()
            .to_string()
    };
    let top = |m: &[String]| m.first().cloned().unwrap_or_else(|| "lib".to_string());
    let mut g = Graph {
        files: BTreeMap::new(),
        file_arrows: BTreeMap::new(),
        tops: BTreeMap::new(),
        top_arrows: BTreeMap::new(),
    };
    for (i, room) in rooms.iter().enumerate() {
        g.files.entry(name(i)).or_default();
        g.tops.entry(top(&room.module)).or_default();
        for path in named_paths(room) {
            // `super::super::x`, `self::x`: resolved against the path before them.
            let mut path = path.into_iter().fold(Vec::new(), |mut out, segment| {
                match segment.as_str() {
                    "super" => {
                        out.pop();
                    }
                    "self" => {}
                    _ => out.push(segment),
                }
                out
            });
            if let Some(target) = path.first().and_then(|first| aliases.get(first)) {
                path.splice(..1, target.iter().cloned());
            }
            let Some(&j) = resolve(&path, &by_module) else {
                continue;
            };
            let what = path.join("::");
            if j != i {
                g.files.entry(name(i)).or_default().insert(name(j));
                g.file_arrows
                    .entry((name(i), name(j)))
                    .or_default()
                    .insert(what.clone());
            }
            let (a, b) = (top(&room.module), top(&rooms[j].module));
            if a != b {
                g.tops.entry(a.clone()).or_default().insert(b.clone());
                g.top_arrows.entry((a, b)).or_default().insert(what);
            }
        }
    }
    g
}

#[test]
fn no_circle_between_top_level_modules() {
    let g = graph(&rooms());
    let found = circles(&g.tops);
    let report: String = found
        .iter()
        .map(|c| format!("  {}\n{}", c.join(" <-> "), explain(c, &g.top_arrows)))
        .collect();
    assert!(
        found.is_empty(),
        "top-level modules import each other in a circle:\n{report}"
    );
}

/// File circles allowed, each exactly as listed (no file more, so none grows and no new
/// one appears; once one is gone the check asks for its line to be removed). Empty: the
/// last ones, in the fake GitHub's folder, are untied (its data types sit in `state.rs` at
/// the bottom; see docs/architecture.md), so any circle between files fails.
const KNOWN_FILE_CIRCLES: &[&[&str]] = &[];

#[test]
fn no_circle_between_files() {
    let g = graph(&rooms());
    let found = circles(&g.files);
    let known: Vec<Vec<String>> = KNOWN_FILE_CIRCLES
        .iter()
        .map(|c| c.iter().map(|f| f.to_string()).collect())
        .collect();
    let report: String = found
        .iter()
        .filter(|c| !known.contains(c))
        .map(|c| format!("  {}\n{}", c.join(" <-> "), explain(c, &g.file_arrows)))
        .collect();
    assert!(
        report.is_empty(),
        "files import each other in a circle:\n{report}"
    );
    let gone: Vec<String> = known
        .iter()
        .filter(|c| !found.contains(c))
        .map(|c| format!("  {}", c.join(" <-> ")))
        .collect();
    assert!(
        gone.is_empty(),
        "these circles are gone: remove them from KNOWN_FILE_CIRCLES\n{}",
        gone.join("\n")
    );
}

#[test]
fn no_source_file_over_the_line_limit() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("  {} {lines}", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines (split by concern):\n{}",
        long.join("\n")
    );
}

/// Where the wall clock may be read directly: the one clock, and the fake GitHub (test-only:
/// it plays GitHub's own clock). Everything else reads time from an injected
/// `clock::Clock`.
const CLOCK_READERS: &[&str] = &["clock.rs", "github/fake/"];

/// Direct readings of the wall clock in non-test code outside [`CLOCK_READERS`].
fn clock_reads(rooms: &[Room]) -> Vec<String> {
    const READS: &[&str] = &[
        "SystemTime::now",
        "Utc::now",
        "Local::now",
        "OffsetDateTime::now",
    ];
    rooms
        .iter()
        .filter_map(|room| {
            let name = room.path.strip_prefix(src()).ok()?.display().to_string();
            if CLOCK_READERS
                .iter()
                .any(|allowed| name.starts_with(allowed))
            {
                return None;
            }
            let found: Vec<&str> = READS
                .iter()
                .copied()
                .filter(|read| room.code.contains(read))
                .collect();
            (!found.is_empty()).then(|| format!("  {name}: {}", found.join(", ")))
        })
        .collect()
}

#[test]
fn time_is_read_only_through_the_one_clock() {
    let reads = clock_reads(&rooms());
    assert!(
        reads.is_empty(),
        "the wall clock is read outside src/clock.rs (take a clock::Clock instead):\n{}",
        reads.join("\n")
    );
    // The check itself: a reading in code is found; one in a test or a comment is not.
    let room = |module: &str, code: &str| Room {
        path: src().join(format!("{module}.rs")),
        module: vec![module.to_string()],
        code: code_of(code),
    };
    let rooms = [
        room("a", "fn f() { let t = std::time::SystemTime::now(); }\n"),
        room(
            "b",
            "// SystemTime::now()\n#[cfg(test)]\nmod t {\n fn g() { SystemTime::now(); }\n}\n",
        ),
        room("clock", "fn now() { SystemTime::now(); }\n"),
    ];
    assert_eq!(
        clock_reads(&rooms),
        vec!["  a.rs: SystemTime::now".to_string()]
    );
}

#[test]
fn the_check_sees_a_circle_when_there_is_one() {
    // The checker itself: two rooms naming each other form a circle; a chain does not.
    let room = |module: &str, code: &str| Room {
        path: src().join(format!("{module}.rs")),
        module: vec![module.to_string()],
        code: code_of(code),
    };
    let looped = [
        room("a", "use crate::b::X;\n"),
        room("b", "use crate::{a::{Y, Z}, c};\n"),
        room(
            "c",
            "// use crate::a;\n#[cfg(test)]\nmod tests {\n use crate::a;\n}\n",
        ),
    ];
    let g = graph(&looped);
    assert_eq!(
        circles(&g.tops),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
    let chain = [
        room("a", "use crate::b::X;\n"),
        room("b", "use crate::c;\n"),
        room("c", ""),
    ];
    assert!(circles(&graph(&chain).tops).is_empty());
    // lib.rs names its modules without `crate::`; what it re-exports is the module's.
    let lib = |code: &str| Room {
        path: src().join("lib.rs"),
        module: vec![],
        code: code_of(code),
    };
    let through_lib = [
        lib("pub mod a;\npub mod b;\npub use b::Thing;\nfn run() { a::go(); }\n"),
        room("a", "use crate::Thing;\n"),
        room("b", "pub struct Thing;\n"),
    ];
    let g = graph(&through_lib);
    assert!(circles(&g.tops).is_empty(), "{:?}", g.tops);
    assert!(g.tops["lib"].contains("a") && g.tops["a"].contains("b"));
    let back_to_lib = [
        lib("pub mod a;\npub fn run() { a::go(); }\n"),
        room("a", "fn go() { crate::run(); }\n"),
    ];
    assert_eq!(
        circles(&graph(&back_to_lib).tops),
        vec![vec!["a".to_string(), "lib".to_string()]]
    );
    // Between files of one folder, through `super::` (as the fake's files were): the
    // model naming the log's type while the log names the model's.
    let file = |module: &[&str], code: &str| Room {
        path: src().join(format!("{}.rs", module.join("/"))),
        module: module.iter().map(|m| m.to_string()).collect(),
        code: code_of(code),
    };
    let folder = [
        file(&["g"], "mod log;\nmod state;\n"),
        file(&["g", "state"], "use super::log::Entry;\n"),
        file(&["g", "log"], "use super::state::{Shared, Item};\n"),
        file(&["g", "render"], "use super::state::Item;\n"),
    ];
    assert_eq!(
        circles(&graph(&folder).files),
        vec![vec!["g/log.rs".to_string(), "g/state.rs".to_string()]]
    );
    let untied = [
        file(&["g"], "mod log;\nmod state;\n"),
        file(&["g", "state"], "pub struct Entry;\n"),
        file(&["g", "log"], "use super::state::{Entry, Shared};\n"),
    ];
    assert!(circles(&graph(&untied).files).is_empty());
}
