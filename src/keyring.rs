//! The keys a running service uses, swappable at rotation.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::code::{KeyMaterial, KeySet};
use crate::keyfile::{self, KeyFileError};

/// The current key set, and the file it came from.
#[derive(Debug)]
pub struct Keys {
    file: Option<PathBuf>,
    current: RwLock<Arc<KeySet>>,
}

impl Keys {
    pub fn new(file: Option<PathBuf>, set: KeySet) -> Self {
        Self {
            file,
            current: RwLock::new(Arc::new(set)),
        }
    }

    /// The key set now. Callers keep the `Arc` for one request, so a
    /// rotation never changes keys halfway through one.
    pub fn get(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Rotates the key file and swaps the new set in.
    pub fn rotate(&self) -> Result<Arc<KeySet>, KeyFileError> {
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
