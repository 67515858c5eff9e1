//! What a newcomer meets first: an SQLite URL of their own is created like
//! the default one, and a path that cannot be opened is named.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use common::cli;

#[test]
fn an_sqlite_url_without_mode_creates_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new.db");
    let url = format!("sqlite://{}", file.display());
    let keys = dir.path().join("test.keys");
    let run = cli(&url, &keys, &["structure", "add", "Centre social"]);
    assert!(run.ok(), "{run:?}");
    assert!(file.exists());
    let listed = cli(&url, &keys, &["structure", "list"]);
    assert!(listed.stdout.contains("Centre social"), "{listed:?}");
}

#[test]
fn a_path_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-such-folder").join("new.db");
    let url = format!("sqlite://{}", file.display());
    let run = cli(&url, &dir.path().join("test.keys"), &["structure", "list"]);
    assert!(!run.ok(), "{run:?}");
    let expected = format!("cannot open the SQLite database {}", file.display());
    assert!(run.stderr.contains(&expected), "{run:?}");
    assert!(run.stderr.contains("does its folder exist"), "{run:?}");
}
