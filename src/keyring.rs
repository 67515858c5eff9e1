//! The keys a running service uses, swappable at rotation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::code::{KeyMaterial, KeySet};
use crate::keyfile::{self, KeyFileError};

/// The current key set, and the file it came from.
#[derive(Debug)]
pub struct Keys {
    file: Option<PathBuf>,
    current: RwLock<Arc<KeySet>>,
    /// Held from reading the file to swapping the set, so that rotations in
    /// this process swap in the order they wrote (the file lock orders them
    /// against other processes).
    rotating: Mutex<()>,
    /// When the file was last read again for keys another process added
    /// (Unix seconds): at most once a second, however many codes ask.
    reloaded_at_secs: AtomicI64,
}

impl Keys {
    pub fn new(file: Option<PathBuf>, set: KeySet) -> Self {
        Self {
            file,
            current: RwLock::new(Arc::new(set)),
            rotating: Mutex::new(()),
            reloaded_at_secs: AtomicI64::new(i64::MIN),
        }
    }

    /// Reads the key file again and swaps in what it holds now, so that a
    /// rotation made by another server on the same database (which wrote
    /// the file this one reads) is used without a restart. At most once a
    /// second (`now_secs`): `None` when it is too soon, when there is no
    /// file, or when the file holds no key this process lacks. Blocking.
    pub fn reload(&self, now_secs: i64) -> Result<Option<Arc<KeySet>>, KeyFileError> {
        let last = self.reloaded_at_secs.load(Ordering::Relaxed);
        if now_secs.saturating_sub(last) < 1
            || self
                .reloaded_at_secs
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(None);
        }
        let Some(path) = &self.file else {
            return Ok(None);
        };
        let _order = match self.rotating.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let fresh = Arc::new(KeySet::from_material(&keyfile::load(path)?)?);
        let now = self.get();
        let same = fresh.codes.active() == now.codes.active()
            && fresh.pins.active() == now.pins.active()
            && fresh.signing_key().id() == now.signing_key().id();
        if same {
            return Ok(None);
        }
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::clone(&fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&fresh),
        }
        Ok(Some(fresh))
    }

    /// The key set now. Callers keep the `Arc` for one request, so a
    /// rotation never changes keys halfway through one.
    pub fn get(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Rotates the key file and swaps the new set in. Blocking (file lock,
    /// fsync): call it off the async workers.
    ///
    /// The new set is the whole file as rotated, so it also holds any key
    /// another process added since this one started.
    pub fn rotate(&self) -> Result<Arc<KeySet>, KeyFileError> {
        let _order = match self.rotating.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let material: KeyMaterial = match &self.file {
            Some(path) => keyfile::rotate(path)?,
            None => {
                return Err(KeyFileError::Format {
                    path: PathBuf::new(),
                    reason: "this service runs without a key file and cannot rotate".into(),
                });
            }
        };
        let set = Arc::new(KeySet::from_material(&material)?);
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::clone(&set),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&set),
        }
        Ok(set)
    }
}
