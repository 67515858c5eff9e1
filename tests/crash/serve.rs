//! The real `relay-topup serve` as a child process: started on a free
//! port, killed with SIGKILL, started again on the same database.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Answer, read};

pub struct Serve {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A folder for one test's database, key file and server logs, kept under
/// `target/tmp/crash/` after the run for whoever reads a failure.
pub fn workdir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("crash")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Generous limits everywhere but what is under test: the load must not
/// be refused for going fast, and holds must not lapse during a run.
fn command(url: &str, dir: &Path, port: u16, run: usize) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-topup"));
    cmd.arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", url])
        .arg("--key-file")
        .arg(dir.join("crash.keys"))
        .args(["--issue-rate-codes-per-hour", "4000000000"])
        .args(["--issue-burst-codes", "1000000"])
        .args([
            "--operator-rate-per-sec",
            "1000000",
            "--operator-burst",
            "1000000",
        ])
        .args([
            "--failures-per-source",
            "1000000",
            "--failures-global",
            "1000000",
        ])
        .args(["--line-failures", "1000000"])
        .args(["--hold-secs", "86400"])
        .args(["--max-connections", "16"])
        .env_remove("DATABASE_URL")
        .env_remove("RELAY_TOPUP_KEY_FILE")
        .env("RUST_LOG", "warn")
        // The server's log, kept for whoever reads a failure.
        .stderr(std::fs::File::create(dir.join(format!("serve-{run}.log"))).unwrap());
    cmd
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl Serve {
    /// The first start on an empty database: returns the admin token it
    /// prints.
    pub async fn first_start(url: &str, dir: &Path) -> (Self, String) {
        let port = free_port();
        let mut child = command(url, dir, port, 0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Read until the token, then drain, so that the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(token) = line.strip_prefix("first admin token (shown once): ") {
                    let _ = tx.send(token.to_owned());
                }
            }
        });
        let admin = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
            .await
            .unwrap()
            .expect("serve printed no admin token");
        let serve = Self::up(child, port).await;
        (serve, admin)
    }

    /// Starts again on the same database and key file.
    pub async fn restart(url: &str, dir: &Path, run: usize) -> Self {
        let port = free_port();
        let child = command(url, dir, port, run)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self::up(child, port).await
    }

    /// Waits until `/healthz` answers 200.
    async fn up(mut child: Child, port: u16) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let probe = client();
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("serve exited at start: {status}");
            }
            let health = probe.get(format!("{base}/healthz")).send().await;
            if health.is_ok_and(|r| r.status() == 200) {
                return Self {
                    child,
                    base,
                    client: client(),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("serve did not answer /healthz within a minute");
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn post(&self, token: &str, path: &str, body: Value, key: Option<&str>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        read(request.send().await.unwrap()).await
    }
}
