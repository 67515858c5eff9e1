//! `relay-topup audit export` and `relay-topup audit verify`: the offline
//! audit, over a database or over an export of one.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Subcommand;

use crate::audit::snapshot::{KeyRow, Line, Snapshot};
use crate::audit::verify::{self, Scope};
use crate::code::KeySet;
use crate::code::attestation::{PUBLIC_KEY_BYTES, VerifyingKeys};
use crate::keyfile;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Writes the event log, checkpoints and audited tables as JSON Lines
    /// (one object a line, with a "type" member), with the public keys.
    Export {
        /// Where to write; standard output if absent.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Checks the event chain, the checkpoints, every attestation and every
    /// balance of the database (or of an export); exits with 1 on any
    /// inconsistency.
    Verify {
        /// Verify this export instead of the database.
        #[arg(long)]
        export: Option<PathBuf>,
        /// The published keys (the JSON `GET /v1/keys` serves). Without it,
        /// the key file's public keys are used, or else the export's own.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Print the findings as JSON Lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn run(
    database_url: &str,
    key_file: &Path,
    command: AuditCommand,
) -> Result<ExitCode, String> {
    match command {
        AuditCommand::Export { output } => {
            let mut snapshot = read_database(database_url).await?;
            if let Ok(material) = keyfile::load(key_file) {
                let keys = KeySet::from_material(&material).map_err(err)?;
                snapshot.keys = key_rows(keys.verifying_keys());
            }
            write_export(&snapshot, output.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { export, keys, json } => {
            let snapshot = match &export {
                Some(path) => read_export(path)?,
                None => read_database(database_url).await?,
            };
            let keys = published_keys(keys.as_deref(), key_file, &snapshot)?;
            Ok(report(&snapshot, &keys, json))
        }
    }
}

async fn read_database(url: &str) -> Result<Snapshot, String> {
    let store = crate::storage::Store::open(url, &crate::storage::PoolSettings::default())
        .await
        .map_err(err)?;
    let snapshot = store.audit_snapshot().await.map_err(err);
    store.close().await;
    snapshot
}

fn key_rows(keys: &VerifyingKeys) -> Vec<KeyRow> {
    keys.iter()
        .map(|(kid, key)| KeyRow {
            kid,
            public_key: URL_SAFE_NO_PAD.encode(key),
        })
        .collect()
}

fn write_export(snapshot: &Snapshot, output: Option<&Path>) -> Result<(), String> {
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut lines = 0u64;
    for line in snapshot.lines() {
        serde_json::to_writer(&mut out, &line).map_err(err)?;
        out.write_all(b"\n").map_err(err)?;
        lines += 1;
    }
    out.flush().map_err(err)?;
    eprintln!(
        "exported {lines} lines: {} events, {} checkpoints, {} vouchers",
        snapshot.events.len(),
        snapshot.checkpoints.len(),
        snapshot.vouchers.len()
    );
    Ok(())
}

fn read_export(path: &Path) -> Result<Snapshot, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut snapshot = Snapshot::default();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(err)?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
        snapshot.push(parsed);
    }
    Ok(snapshot)
}

/// The keys to verify against, from the most independent source given.
fn published_keys(
    keys: Option<&Path>,
    key_file: &Path,
    snapshot: &Snapshot,
) -> Result<VerifyingKeys, String> {
    if let Some(path) = keys {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        #[derive(serde::Deserialize)]
        struct Published {
            keys: Vec<KeyRow>,
        }
        let published: Published =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        return to_verifying(&published.keys);
    }
    if let Ok(material) = keyfile::load(key_file) {
        let set = KeySet::from_material(&material).map_err(err)?;
        return Ok(set.verifying_keys().clone());
    }
    eprintln!(
        "warning: no --keys and no key file: checking against the keys the export carries, \
         which prove nothing if the export itself was altered"
    );
    to_verifying(&snapshot.keys)
}

fn to_verifying(rows: &[KeyRow]) -> Result<VerifyingKeys, String> {
    let mut keys = VerifyingKeys::default();
    for row in rows {
        let bytes = URL_SAFE_NO_PAD
            .decode(&row.public_key)
            .ok()
            .and_then(|b| <[u8; PUBLIC_KEY_BYTES]>::try_from(b).ok())
            .ok_or_else(|| format!("key {}: not a base64url Ed25519 public key", row.kid))?;
        keys.insert(row.kid, bytes);
    }
    Ok(keys)
}

fn report(snapshot: &Snapshot, keys: &VerifyingKeys, json: bool) -> ExitCode {
    let outcome = verify::verify(snapshot, keys, Scope { attestations: true });
    if json {
        for f in &outcome.findings {
            println!("{}", serde_json::to_string(f).unwrap_or_default());
        }
    } else {
        let (seq, hash) = outcome.head.clone().unwrap_or_default();
        println!(
            "checked {} events (head seq {seq}, hash {hash}), {} checkpoints, {} vouchers",
            outcome.events, outcome.checkpoints, outcome.vouchers
        );
        if !outcome.people.is_empty() {
            println!("people who acted: {}", outcome.people.len());
            for person in &outcome.people {
                println!("  {person}");
            }
        }
        for f in &outcome.findings {
            println!("FAIL {f}");
        }
    }
    if outcome.findings.is_empty() {
        eprintln!("audit verify: no inconsistency");
        ExitCode::SUCCESS
    } else {
        eprintln!("audit verify: {} inconsistencies", outcome.findings.len());
        ExitCode::FAILURE
    }
}
