//! The crate's layering, read from its source: every module stands on a
//! floor, may use only modules on lower floors, and no files use each other
//! in a loop. ARCHITECTURE.md draws the same picture; this test keeps it
//! true as the code grows.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and its floor; a module may use only modules on
/// a lower floor. A new module must be placed here.
const FLOORS: &[(&str, u8)] = &[
    ("code", 0),
    ("clock", 0),
    ("tokens", 0),
    ("qr", 0),
    ("metrics", 0),
    ("parse_problems", 0),
    ("connections", 1),
    ("domain", 1),
    ("passwords", 1),
    ("audit", 2),
    ("keyfile", 2),
    ("config", 2),
    ("keyring", 3),
    ("storage", 4),
    ("app", 5),
    ("integrity", 6),
    ("http", 7),
    ("web", 8),
    ("server", 9),
    ("cli", 10),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
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

/// The file's path under `src/`, without `.rs`: `app/issue`, `http/mod`.
fn name_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap().with_extension("");
    rel.to_string_lossy().replace('\\', "/")
}

/// The top-level module a file belongs to (`cli.rs` and `cli/` alike).
fn module_of(name: &str) -> &str {
    name.split('/').next().unwrap()
}

/// The code of a file without its comments and string literals' worth of
/// prose: lines that are comments are dropped, and the tests module, whose
/// imports serve only the tests, is cut off.
fn code_of(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or(text);
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names that follow `prefix::` in `code`: `crate::app::issue` gives
/// `app::issue`; `super::{a, b::c}` gives `a` and `b::c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().last();
        rest = &rest[at + needle.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            found.extend(group[..end].split(',').map(|s| s.trim().to_owned()));
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            found.push(rest[..end].trim_end_matches(':').to_owned());
        }
    }
    found.retain(|p| !p.is_empty());
    found
}

/// The file a path names, from a folder: `issue` in `app` is `app/issue`
/// if that file exists, else the folder's `mod.rs` (a name it defines).
fn file_named(files: &BTreeSet<String>, folder: &str, path: &str) -> Option<String> {
    let first = path.split("::").next()?;
    let joined = |f: &str| {
        if folder.is_empty() {
            f.to_owned()
        } else {
            format!("{folder}/{f}")
        }
    };
    for candidate in [joined(first), joined(&format!("{first}/mod"))] {
        if files.contains(&candidate) {
            return Some(candidate);
        }
    }
    // The folder's own file: `a/mod.rs`, or `a.rs` beside the folder.
    [joined("mod"), folder.to_owned()]
        .into_iter()
        .find(|f| files.contains(f))
}

/// Every file's uses of other files of the crate.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: BTreeSet<String> = paths.iter().map(|p| name_of(p)).collect();
    let mut edges = BTreeMap::new();
    for path in &paths {
        let name = name_of(path);
        if name == "lib" || name == "main" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        let folder = match name.rsplit_once('/') {
            Some((folder, _)) => folder.to_owned(),
            None => String::new(),
        };
        // `super` in `a/b.rs` is `a`; in `a/mod.rs` it is the crate root.
        let parent = if name.ends_with("/mod") {
            folder.rsplit_once('/').map_or("", |(p, _)| p).to_owned()
        } else {
            folder.clone()
        };
        let mut uses = BTreeSet::new();
        for p in paths_after(&code, "crate") {
            let (top, rest) = p.split_once("::").unwrap_or((&p, ""));
            let target = if rest.is_empty() {
                file_named(&files, "", top)
            } else {
                file_named(&files, top, rest).or_else(|| file_named(&files, "", top))
            };
            uses.extend(target);
        }
        for p in paths_after(&code, "super") {
            uses.extend(file_named(&files, &parent, &p));
        }
        uses.remove(&name);
        edges.insert(name, uses);
    }
    edges
}

fn floor(module: &str) -> u8 {
    FLOORS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("module `{module}` has no floor in tests/layers.rs"))
}

#[test]
fn no_module_uses_one_on_its_own_floor_or_above() {
    let mut wrong = Vec::new();
    for (file, uses) in graph() {
        let from = module_of(&file);
        for used in uses {
            let to = module_of(&used);
            if to != from && floor(to) >= floor(from) {
                wrong.push(format!("{file} uses {used}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "uses that run up or across:\n{}",
        wrong.join("\n")
    );
}

/// A loop of files, if any, by depth-first search.
fn find_loop(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|s| s == at) {
            return Some(stack[start..].to_vec());
        }
        if done.contains(at) {
            return None;
        }
        stack.push(at.to_owned());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(found) = visit(next, edges, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(at.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut done, &mut Vec::new()))
}

#[test]
fn no_files_use_each_other_in_a_loop() {
    let edges = graph();
    assert!(edges.len() > 50, "the source was not read: {edges:?}");
    if let Some(found) = find_loop(&edges) {
        panic!("files that use each other in a loop: {}", found.join(" → "));
    }
}

#[test]
fn the_reader_sees_uses_and_loops() {
    let code =
        "use super::{a, b::c};\nuse crate::app::issue::{self, X};\nlet x = crate::web::router(s);";
    assert_eq!(paths_after(code, "super"), ["a", "b::c"]);
    assert_eq!(paths_after(code, "crate"), ["app::issue", "web::router"]);
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("x", vec!["y"]), ("y", vec!["z"]), ("z", vec!["x"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(find_loop(&edges).map(|l| l.len()), Some(3));
}
