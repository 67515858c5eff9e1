//! The failures a deployment meets besides a crash: PostgreSQL stopped
//! under load and started again, and an SQLite database whose filesystem
//! fills up. The same clients and the same checks as the crash cycles;
//! the server process is never restarted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::note_skipped;
use crate::load::{Shared, requests_sent};
use crate::serve::Serve;

const CLIENTS: usize = 4;

/// A PostgreSQL cluster of this test's own, which it may stop and start.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs a PostgreSQL tool, as `postgres` when this test runs as root
/// (initdb refuses root).
fn pg(bin: &Path, tool: &str, args: &[&str]) {
    let program = bin.join(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start_new() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            if std::env::var("RELAY_TOPUP_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("RELAY_TOPUP_REQUIRE_POSTGRES=1 but PostgreSQL's server is not installed");
            }
            note_skipped(
                "postgres",
                "PostgreSQL outage (no PostgreSQL server installed)",
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("relay-topup-outage")
            .tempdir_in("/tmp")
            .unwrap();
        if is_root() {
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown postgres {}", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { bin, dir, port };
        pg(
            &cluster.bin,
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        cluster.start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        pg(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// A fast shutdown: sessions are cut, transactions in flight rolled back.
    fn stop(&self) {
        pg(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

/// Waits until the server's health check passes again.
async fn until_healthy(serve: &Serve) {
    for _ in 0..600 {
        let health = serve
            .client
            .get(format!("{}/healthz", serve.base))
            .send()
            .await;
        if health.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not serve again within a minute");
}

/// Every failure answered is one of `allowed`, with `Retry-After`, and
/// there was at least one.
fn assert_failures(shared: &Shared, allowed: &[&str]) {
    let failures = shared.failures();
    println!("failures answered: {failures:?}");
    assert!(!failures.is_empty(), "the outage met no request");
    for failure in failures.keys() {
        assert!(
            allowed
                .iter()
                .any(|a| failure == &format!("{a} with Retry-After")),
            "answered {failure}; only {allowed:?}, with Retry-After, may be: {failures:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_and_started_again() {
    let Some(cluster) = Cluster::start_new() else {
        return;
    };
    let dir = crate::serve::workdir("postgres-outage");
    let url = cluster.url();
    let (mut serve, admin) = Serve::first_start(&url, &dir).await;
    let shared = Shared::new(crate::setup(&serve, &admin).await);
    let clients = shared.start_load(&serve.base, CLIENTS, crate::model::time_seed());
    tokio::time::sleep(Duration::from_millis(800)).await;
    cluster.stop();
    // Long enough for requests to wait out their connection and be told.
    tokio::time::sleep(Duration::from_secs(7)).await;
    cluster.start();
    until_healthy(&serve).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    shared.stop_load();
    let sent = requests_sent(clients).await;
    assert!(serve.is_running(), "the server stopped with its database");
    let retried = shared.retry_pending(&serve).await;
    let vouchers = shared.check(&serve, &url, &dir).await;
    println!(
        "outage: {sent} requests, {retried} unanswered and retried, {vouchers} vouchers match"
    );
    assert_failures(&shared, &["503 database_unavailable"]);
    serve.kill();
}

/// A tmpfs of `size` mounted on `dir` for the test's life.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Self {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mount -t tmpfs on {} (this test runs as root)",
            dir.display()
        );
        Self(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {}", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_filesystem_fills_up_and_is_freed() {
    if !is_root() {
        note_skipped(
            "root",
            "SQLite disk full (mounting a small tmpfs needs root)",
        );
        return;
    }
    let dir = crate::serve::workdir("sqlite-disk-full");
    let small = dir.join("small");
    std::fs::create_dir(&small).unwrap();
    let mount = Mount::tmpfs(&small, "6m");
    let url = format!("sqlite://{}", small.join("relay.db").display());
    let (mut serve, admin) = Serve::first_start(&url, &dir).await;
    let shared = Shared::new(crate::setup(&serve, &admin).await);
    let clients = shared.start_load(&serve.base, CLIENTS, crate::model::time_seed());
    for _ in 0..1200 {
        if shared.failures().keys().any(|f| f.starts_with("507")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer full, for every client to meet it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shared.stop_load();
    let sent = requests_sent(clients).await;
    assert_failures(&shared, &["507 storage_full", "503 database_unavailable"]);
    assert!(
        serve.is_running(),
        "the server stopped when its disk filled"
    );
    // Full, the books still add up; then space is freed and work resumes.
    let verify = crate::common::cli(&url, &dir.join("crash.keys"), &["audit", "verify"]);
    assert!(
        verify.ok(),
        "audit verify on the full database: {}{}",
        verify.stdout,
        verify.stderr
    );
    mount.resize("256m");
    let retried = shared.retry_pending(&serve).await;
    let clients = shared.start_load(&serve.base, CLIENTS, crate::model::time_seed());
    tokio::time::sleep(Duration::from_millis(800)).await;
    shared.stop_load();
    let after = requests_sent(clients).await;
    shared.retry_pending(&serve).await;
    let vouchers = shared.check(&serve, &url, &dir).await;
    println!(
        "disk full: {sent} requests until full, {retried} refused and retried once freed, \
         {after} more requests, {vouchers} vouchers match"
    );
    serve.kill();
}
