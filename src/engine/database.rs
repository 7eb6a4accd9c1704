//! All collections under one storage directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use super::collection::Collection;
use super::error::{EngineError, Result};
use super::optimizer;
use super::params::CollectionConfig;
use super::storage::sync_dir;
use super::EngineOptions;

pub struct Database {
    root: PathBuf,
    options: EngineOptions,
    collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    /// Optimizer threads, joined on drop so that reopening the same
    /// storage never races a thread of the previous instance.
    optimizers: Mutex<Vec<JoinHandle<()>>>,
    /// An exclusive lock on `root/.lock`, held while the database is open:
    /// two processes writing one storage would corrupt it.
    _lock: std::fs::File,
}

impl Database {
    /// Opens every collection under `root/collections`, starting an
    /// optimizer thread for each.
    pub fn open(root: &Path, options: EngineOptions) -> Result<Database> {
        let dir = root.join("collections");
        std::fs::create_dir_all(&dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(".lock"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EngineError::Locked(root.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        let mut collections = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                // Half-created or half-deleted collections from a crash.
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            }
            let collection = Arc::new(Collection::open(&entry.path(), &name, options)?);
            collections.insert(name, collection);
        }
        let handles = collections
            .values()
            .map(|c| optimizer::spawn(Arc::downgrade(c)))
            .collect();
        Ok(Database {
            root: root.to_path_buf(),
            options,
            collections: RwLock::new(collections),
            optimizers: Mutex::new(handles),
            _lock: lock,
        })
    }

    fn dir(&self) -> PathBuf {
        self.root.join("collections")
    }

    pub fn get(&self, name: &str) -> Result<Arc<Collection>> {
        self.collections
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("Collection `{name}` doesn't exist!")))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.collections.read().contains_key(name)
    }

    pub fn names(&self) -> Vec<String> {
        self.collections.read().keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Arc<Collection>> {
        self.collections.read().values().cloned().collect()
    }

    /// Creates a collection atomically: it is built in a hidden directory
    /// and renamed into place, so a crash never leaves half of one.
    pub fn create(&self, name: &str, config: CollectionConfig) -> Result<()> {
        validate_name(name)?;
        config.validate()?;
        let mut collections = self.collections.write();
        if collections.contains_key(name) {
            return Err(EngineError::AlreadyExists(format!(
                "Collection `{name}` already exists!"
            )));
        }
        let tmp = self
            .dir()
            .join(format!(".new-{}", uuid::Uuid::new_v4().simple()));
        let created = Collection::create(&tmp, name, config, self.options);
        let collection = match created {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        drop(collection);
        let path = self.dir().join(name);
        std::fs::rename(&tmp, &path)?;
        sync_dir(&self.dir())?;
        let collection = Arc::new(Collection::open(&path, name, self.options)?);
        self.optimizers
            .lock()
            .push(optimizer::spawn(Arc::downgrade(&collection)));
        collections.insert(name.to_string(), collection);
        Ok(())
    }

    /// Deletes a collection; returns false when it did not exist.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let Some(collection) = self.collections.write().remove(name) else {
            return Ok(false);
        };
        collection.stop();
        let path = self.dir().join(name);
        let trash = self
            .dir()
            .join(format!(".del-{}", uuid::Uuid::new_v4().simple()));
        std::fs::rename(&path, &trash)?;
        sync_dir(&self.dir())?;
        drop(collection);
        let _ = std::fs::remove_dir_all(&trash);
        Ok(true)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        for collection in self.collections.read().values() {
            collection.stop();
        }
        self.collections.write().clear();
        for handle in self.optimizers.lock().drain(..) {
            let _ = handle.join();
        }
    }
}

fn validate_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name.chars().any(|c| {
            matches!(
                c,
                '/' | '\\' | '\0' | ':' | '*' | '?' | '"' | '<' | '>' | '|'
            ) || c.is_control()
        });
    if bad {
        return Err(EngineError::BadRequest(format!(
            "Validation error in path parameters: [name: collection name {name:?} must be 1 to 255 characters and cannot start with '.' or contain / \\ : * ? \" < > | or control characters]"
        )));
    }
    Ok(())
}
