//! The README's examples run as written, on SQLite and PostgreSQL: the
//! real binary serves `serve --demo` in an empty directory, and every shell
//! block of the README that calls the API runs, in order, in one shell in
//! that directory after nothing but the README's own `. ./relay-topup-demo.env`
//! — only the address changes (the test's port for `127.0.0.1:8080`). Each
//! request must answer 2xx (`curl --fail-with-body`), and the redemption
//! redeems a code the issue example just issued.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Db, binary};

/// The README's shell blocks that talk to the API, in order.
fn api_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                if block.contains("127.0.0.1:8080/v1/") || block.contains("relay-topup-demo.env") {
                    blocks.push(block.clone());
                }
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// `serve --demo` in `dir`, as the README starts it (plus the port, and
/// the database for PostgreSQL); waits for it to print its tokens.
fn serve_demo(dir: &std::path::Path, port: u16, database_url: Option<&str>) -> std::process::Child {
    let mut child = binary::serve(dir, port, database_url)
        .arg("--demo")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    while !printed
        .iter()
        .any(|l: &String| l.starts_with("demo tokens written to"))
    {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("serve --demo printed no tokens");
        printed.push(line);
    }
    for name in [
        "ADMIN_TOKEN",
        "STRUCTURE_TOKEN",
        "OPERATOR_TOKEN",
        "OPERATOR_TOKEN_2",
        "AUDITOR_TOKEN",
    ] {
        let export = format!("export {name}='");
        assert!(
            printed.iter().any(|l| l.starts_with(&export)),
            "{name}: {printed:?}"
        );
    }
    child
}

async fn the_readme_examples_run_as_written(db: Db) {
    let Some(database_url) = binary::database(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = binary::free_port();
    let mut server = serve_demo(dir.path(), port, database_url.as_deref());
    let env_file = dir.path().join("relay-topup-demo.env");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&env_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the tokens file is the owner's only");

    let blocks = api_blocks();
    assert!(blocks.len() >= 3, "{blocks:?}");
    let script = blocks.join("\n");
    for tool in ["uuidgen", "jq", "python", "http "] {
        assert!(!script.contains(tool), "the README needs {tool}");
    }
    let run = Command::new("bash")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .arg("-c")
        .arg(format!(
            "set -eu -o pipefail\n{}",
            script.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "README examples failed:\n{out}\n{err}"
    );
    // Three codes issued, one of them redeemed for the line, and the
    // auditor's report answered.
    assert_eq!(out.matches("\"code\":\"").count(), 3, "{out}");
    assert!(out.contains("\"state\":\"redeemed\""), "{out}");
    assert!(out.contains("\"balances\""), "{out}");
    assert!(out.contains("\"invariants\""), "{out}");
    eprintln!("README examples answered:\n{out}");
    let _ = server.kill();
    let _ = server.wait();
}
both!(the_readme_examples_run_as_written);
