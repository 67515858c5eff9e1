//! The demo's tokens, ready to copy: as shell lines printed once, and in
//! `relay-topup-demo.env` (mode 0600) beside the database, so that the
//! README's examples run as written after `. ./relay-topup-demo.env`.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::server::FirstStart;

/// The file's name; it sits beside an SQLite database, or in the working
/// directory for PostgreSQL.
pub const DEMO_ENV_FILE: &str = "relay-topup-demo.env";
/// Secrets: only the owner reads them.
const DEMO_ENV_MODE: u32 = 0o600;

/// `export NAME='value'` for each token made at this start, in the names
/// the README uses.
pub fn shell_lines(first: &FirstStart) -> Vec<String> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if let Some(token) = &first.admin_token {
        pairs.push(("ADMIN_TOKEN", token));
    }
    if let Some(demo) = &first.demo {
        pairs.push(("STRUCTURE_TOKEN", &demo.structure_token));
        pairs.push(("OPERATOR_TOKEN", &demo.operator_token));
        if let Some(token) = &demo.second_operator_token {
            pairs.push(("OPERATOR_TOKEN_2", token));
        }
        pairs.push(("AUDITOR_TOKEN", &demo.auditor_token));
    }
    pairs
        .into_iter()
        .map(|(name, value)| format!("export {name}='{}'", value.replace('\'', "")))
        .collect()
}

/// Where the file goes: beside the SQLite file the URL names, else here.
pub fn path_for(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest));
    let dir = file
        .and_then(|f| Path::new(f).parent())
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    dir.join(DEMO_ENV_FILE)
}

/// Writes the lines with mode 0600, replacing the file of an earlier demo
/// whole (its tokens belonged to another database).
pub fn write(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let tmp = path.with_extension("env.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(DEMO_ENV_MODE)
        .open(&tmp)?;
    // The mode given to `open` applies only to a file it creates.
    file.set_permissions(fs::Permissions::from_mode(DEMO_ENV_MODE))?;
    let written = file
        .write_all(format!("{}\n", lines.join("\n")).as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_sits_beside_the_database() {
        assert_eq!(
            path_for("sqlite://data/relay.sqlite?mode=rwc"),
            Path::new("data").join(DEMO_ENV_FILE)
        );
        assert_eq!(
            path_for("sqlite:relay.sqlite"),
            Path::new(".").join(DEMO_ENV_FILE)
        );
        assert_eq!(
            path_for("postgres://u@h/db"),
            Path::new(".").join(DEMO_ENV_FILE)
        );
    }

    #[test]
    fn only_the_owner_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEMO_ENV_FILE);
        write(&path, &["export A='b'".into()]).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap(), "export A='b'\n");
    }
}
