//! Every file the project's prose names exists: the README, ARCHITECTURE.md,
//! `docs/`, and the comments of the source and the tests point readers to
//! paths in this repository, and a renamed or deleted file must not leave
//! them pointing nowhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::path::{Path, PathBuf};

/// The folders whose files prose may name, as the first part of a path.
const ROOTS: &[&str] = &[
    "src",
    "tests",
    "docs",
    "benches",
    "fuzz",
    "scripts",
    "migrations",
    "examples",
];
/// The endings of the files a path may name.
const ENDINGS: &[&str] = &[".rs", ".md", ".json", ".sh", ".toml", ".sql"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn texts(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            texts(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
            out.push(path);
        }
    }
}

/// The repository paths named in `text`: `src/app/issue.rs`, `docs/contract.md`.
fn paths_in(text: &str) -> Vec<String> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let mut found = Vec::new();
    for (start, _) in text.match_indices(|c: char| c.is_ascii_lowercase()) {
        if start > 0 && text[..start].chars().last().is_some_and(is_path_char) {
            continue;
        }
        let rest = &text[start..];
        let end = rest.find(|c: char| !is_path_char(c)).unwrap_or(rest.len());
        let candidate = rest[..end].trim_end_matches('.');
        let Some((first, _)) = candidate.split_once('/') else {
            continue;
        };
        if ROOTS.contains(&first) && ENDINGS.iter().any(|e| candidate.ends_with(e)) {
            found.push(candidate.to_owned());
        }
    }
    found
}

#[test]
fn every_file_the_prose_names_exists() {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    for dir in ["docs", "src", "tests", "benches", "fuzz"] {
        texts(&root.join(dir), &mut files);
    }
    files.retain(|f| !f.starts_with(root.join("fuzz/target")));
    let mut missing = Vec::new();
    let mut named = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for path in paths_in(&text) {
            named += 1;
            if !root.join(&path).exists() {
                missing.push(format!("{} names {path}", file.display()));
            }
        }
    }
    assert!(
        named > 20,
        "too few paths found ({named}): the reader is broken"
    );
    assert!(
        missing.is_empty(),
        "names of missing files:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_reader_finds_paths_in_prose() {
    let text = "see `src/app/issue.rs`, docs/pin-format.md. Not mysrc/x.rs nor src/dir/.";
    assert_eq!(paths_in(text), ["src/app/issue.rs", "docs/pin-format.md"]);
}
