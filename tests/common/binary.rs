//! The real `relay-topup` binary as a person starts it: `serve` in a
//! folder of its own, on a free port, with the default SQLite file there
//! or a fresh PostgreSQL database.

use std::path::Path;
use std::process::Command;

use super::Db;

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The database a `serve` of `db` runs on: `Some(None)` for the default
/// SQLite file in its folder, `Some(Some(url))` for a fresh PostgreSQL
/// database, `None` when PostgreSQL is not here (the test is skipped).
pub async fn database(db: Db) -> Option<Option<String>> {
    match db {
        Db::Sqlite => Some(None),
        Db::Postgres => super::fresh_postgres_url().await.map(Some),
    }
}

/// `relay-topup serve --listen 127.0.0.1:PORT` in `dir` (plus
/// `--database-url` for PostgreSQL), its log in `dir/serve.log`.
pub fn serve(dir: &Path, port: u16, database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-topup"));
    cmd.current_dir(dir)
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("DATABASE_URL")
        .env_remove("RELAY_TOPUP_KEY_FILE")
        .env("RUST_LOG", "warn")
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap());
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    cmd
}
