//! The key file: code keys, signing keys and the pepper, kept outside the
//! database (a database leak must not let anyone mint codes) in a JSON file
//! of mode 0600.
//!
//! Writes go to a temporary file in the same directory, are synced, then
//! renamed over the old file, so a crash leaves either the old or the new
//! keys, never half of each. A file that group or others may read is refused
//! rather than trusted.
//!
//! Every change (creation, rotation) reads, changes and writes the file while
//! holding an exclusive lock on a companion file (`<key file>.lock`), so
//! that two rotations, in one server, in several servers or in the command
//! line, never both add "the next" key id with different secrets: the last
//! writer would otherwise replace a key that codes were already made with.
//! The lock is on a file of its own because the key file itself is replaced
//! by rename, and a lock on the old inode would not stop the next writer.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::Ed25519KeyPair;

use crate::code::keys::PEPPER_BYTES;
use crate::code::pin_tag::PIN_KEY_BYTES;
use crate::code::tag::CODE_KEY_BYTES;
use crate::code::{KeyError, KeyMaterial, KeySet};

/// The key file's name when none is given.
pub const DEFAULT_KEY_FILE: &str = "relay-topup.keys";
/// The only mode the key file may have.
const KEY_FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} has mode {mode:o}: group or others may read it; run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not valid: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("key file {path} already exists; refusing to overwrite keys")]
    Exists { path: PathBuf },
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("the system random number generator failed")]
    Random,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

fn random_bytes<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], KeyFileError> {
    let mut out = [0u8; N];
    rng.fill(&mut out).map_err(|_| KeyFileError::Random)?;
    Ok(out)
}

fn new_signing_pkcs8(rng: &SystemRandom) -> Result<Vec<u8>, KeyFileError> {
    Ed25519KeyPair::generate_pkcs8(rng)
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|_| KeyFileError::Random)
}

/// Fresh key material from the system's random number generator.
pub fn generate() -> Result<KeyMaterial, KeyFileError> {
    let rng = SystemRandom::new();
    let code = random_bytes::<CODE_KEY_BYTES>(&rng)?;
    let pepper = random_bytes::<PEPPER_BYTES>(&rng)?;
    let pin = random_bytes::<PIN_KEY_BYTES>(&rng)?;
    Ok(KeyMaterial::new(
        code,
        new_signing_pkcs8(&rng)?,
        pepper,
        pin,
    ))
}

/// Reads and checks the key file. A file written before PINs existed is
/// given its first PIN key, under the file's lock.
pub fn load(path: &Path) -> Result<KeyMaterial, KeyFileError> {
    let material = read(path)?;
    if !material.pin_keys.is_empty() {
        return checked(material);
    }
    let _lock = lock(path)?;
    load_locked(path)
}

/// [`load`] for a caller that holds the lock.
fn load_locked(path: &Path) -> Result<KeyMaterial, KeyFileError> {
    let mut material = read(path)?;
    if material.add_first_pin_key(random_bytes::<PIN_KEY_BYTES>(&SystemRandom::new())?) {
        let material = checked(material)?;
        save(path, &material)?;
        tracing::info!(path = %path.display(), "key file given its first PIN key");
        return Ok(material);
    }
    checked(material)
}

/// Builds the key set once so that a bad key is reported at load, not at
/// the first issue.
fn checked(material: KeyMaterial) -> Result<KeyMaterial, KeyFileError> {
    KeySet::from_material(&material)?;
    Ok(material)
}

/// Reads the key file as it is: mode and format, no key check.
fn read(path: &Path) -> Result<KeyMaterial, KeyFileError> {
    let mode = fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    serde_json::from_str(&text).map_err(|e| KeyFileError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Holds the key file's lock until dropped (closing the file releases it).
#[derive(Debug)]
pub struct KeyFileLock {
    _file: File,
}

/// The companion file whose lock guards changes to `path`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Waits for, then takes, the exclusive lock that guards changes to the key
/// file at `path`. Blocking: call it off the async workers.
pub fn lock(path: &Path) -> Result<KeyFileLock, KeyFileError> {
    let lock = lock_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(KEY_FILE_MODE)
        .open(&lock)
        .map_err(io_error(&lock))?;
    file.lock().map_err(io_error(&lock))?;
    Ok(KeyFileLock { _file: file })
}

/// A temporary file name no other writer uses at the same time, even one
/// that ignores the lock (a server of an older release).
fn temporary_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    PathBuf::from(name)
}

/// Writes the key file atomically with mode 0600. Callers that read the
/// file first hold its [`lock`].
pub fn save(path: &Path, material: &KeyMaterial) -> Result<(), KeyFileError> {
    let text = serde_json::to_string_pretty(material).map_err(|e| KeyFileError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let tmp = temporary_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(KEY_FILE_MODE)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    // The mode given to `open` only applies to a file it creates; a stale
    // temporary file keeps its old mode unless we set it.
    file.set_permissions(fs::Permissions::from_mode(KEY_FILE_MODE))
        .map_err(io_error(&tmp))?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(source) = written {
        // Leave no stray copy of the secrets behind.
        let _ = fs::remove_file(&tmp);
        return Err(KeyFileError::Io { path: tmp, source });
    }
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<(), KeyFileError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(parent))
}

/// Creates a new key file; refuses to overwrite an existing one.
pub fn create(path: &Path) -> Result<KeyMaterial, KeyFileError> {
    let _lock = lock(path)?;
    create_locked(path)
}

fn create_locked(path: &Path) -> Result<KeyMaterial, KeyFileError> {
    if path.exists() {
        return Err(KeyFileError::Exists {
            path: path.to_owned(),
        });
    }
    let material = generate()?;
    save(path, &material)?;
    Ok(material)
}

/// Loads the key file, creating it first if it does not exist. Returns the
/// material and whether it was created.
pub fn load_or_create(path: &Path) -> Result<(KeyMaterial, bool), KeyFileError> {
    // Under the lock, so two servers starting together on a new key file
    // cannot each create keys and keep different ones.
    let _lock = lock(path)?;
    if path.exists() {
        Ok((load_locked(path)?, false))
    } else {
        Ok((create_locked(path)?, true))
    }
}

/// Adds a new code key, PIN key and signing key, keeping the old ones.
/// Blocking: waits for any other change to the file to finish first.
pub fn rotate(path: &Path) -> Result<KeyMaterial, KeyFileError> {
    let _lock = lock(path)?;
    let mut material = load_locked(path)?;
    let rng = SystemRandom::new();
    material.rotate(
        random_bytes::<CODE_KEY_BYTES>(&rng)?,
        new_signing_pkcs8(&rng)?,
        random_bytes::<PIN_KEY_BYTES>(&rng)?,
    )?;
    KeySet::from_material(&material)?;
    save(path, &material)?;
    Ok(material)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_file_is_0600_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keys");
        let created = create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap(), created);
    }

    #[test]
    fn readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keys");
        create(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&path).unwrap_err();
            assert!(
                matches!(err, KeyFileError::Permissions { mode: m, .. } if m == mode),
                "{err}"
            );
        }
    }

    #[test]
    fn create_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keys");
        let first = create(&path).unwrap();
        assert!(matches!(create(&path), Err(KeyFileError::Exists { .. })));
        assert_eq!(load(&path).unwrap(), first);
    }

    #[test]
    fn rotation_keeps_old_keys_and_activates_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keys");
        let before = KeySet::from_material(&create(&path).unwrap()).unwrap();
        let old_code = before
            .codes
            .encode(crate::code::VoucherRef {
                key_id: before.codes.active(),
                serial: crate::code::Serial::new(42).unwrap(),
            })
            .unwrap();
        let after = KeySet::from_material(&rotate(&path).unwrap()).unwrap();
        assert_ne!(after.codes.active(), before.codes.active());
        assert_ne!(after.signing_key().id(), before.signing_key().id());
        assert_eq!(after.verifying_keys().iter().count(), 2);
        let parsed = crate::code::parse(&old_code.to_string()).unwrap();
        assert!(
            after.codes.verify(&parsed).is_ok(),
            "old codes verify after rotation"
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let material = generate().unwrap();
        let keys = KeySet::from_material(&material).unwrap();
        let secret_hex = hex::encode(material.code_keys[0].secret);
        let pepper_hex = hex::encode(material.pepper);
        for text in [
            format!("{material:?}"),
            format!("{keys:?}"),
            format!("{:?}", keys.signing_key()),
        ] {
            assert!(!text.contains(&secret_hex[..16]), "{text}");
            assert!(!text.contains(&pepper_hex[..16]), "{text}");
            assert!(!text.contains(&hex::encode(&material.signing_keys[0].pkcs8)[..16]));
        }
    }

    #[test]
    fn garbage_file_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keys");
        fs::write(&path, "{not json").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load(&path), Err(KeyFileError::Format { .. })));
    }
}
