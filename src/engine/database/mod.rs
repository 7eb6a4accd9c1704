//! All collections under one storage directory.

pub mod storage_snapshot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use crate::engine::collection::optimizer;
use crate::engine::collection::snapshot;
use crate::engine::collection::{Collection, ReadRequest};
use crate::engine::config::CollectionConfig;
use crate::engine::error::{EngineError, Result};
use crate::engine::storage::sync_dir;
use crate::engine::EngineOptions;

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
    /// alias → collection, mirrored in `root/aliases.json`.
    aliases: RwLock<BTreeMap<String, String>>,
}

/// One change of `POST /collections/aliases`; a list of them applies
/// atomically (all or none), so a rename of an alias to another
/// collection never leaves a moment without it.
#[derive(Debug, Clone, PartialEq)]
pub enum AliasAction {
    Create { alias: String, collection: String },
    Delete { alias: String },
    Rename { from: String, to: String },
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
        let aliases = match std::fs::read(root.join(ALIASES_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| EngineError::Storage(format!("corrupt {ALIASES_FILE}: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        // Work directories of full snapshots cut short by a crash.
        if let Ok(entries) = std::fs::read_dir(root.join("snapshots")) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(FULL_WORK_PREFIX)
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
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
            aliases: RwLock::new(aliases),
        })
    }

    fn dir(&self) -> PathBuf {
        self.root.join("collections")
    }

    /// The storage directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A collection by name or by alias.
    pub fn get(&self, name: &str) -> Result<Arc<Collection>> {
        let collections = self.collections.read();
        if let Some(c) = collections.get(name) {
            return Ok(c.clone());
        }
        self.aliases
            .read()
            .get(name)
            .and_then(|target| collections.get(target))
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("Collection `{name}` doesn't exist!")))
    }

    /// Every alias as (alias, collection), or only those of `collection`.
    pub fn aliases(&self, collection: Option<&str>) -> Vec<(String, String)> {
        self.aliases
            .read()
            .iter()
            .filter(|(_, c)| collection.is_none_or(|want| want == c.as_str()))
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect()
    }

    /// Applies alias changes all or nothing, durably.
    pub fn update_aliases(&self, actions: &[AliasAction]) -> Result<()> {
        let collections = self.collections.read();
        let mut aliases = self.aliases.write();
        let mut next = aliases.clone();
        for action in actions {
            match action {
                AliasAction::Create { alias, collection } => {
                    validate_name(alias)?;
                    if !collections.contains_key(collection) {
                        return Err(EngineError::NotFound(format!(
                            "Collection `{collection}` doesn't exist!"
                        )));
                    }
                    if collections.contains_key(alias) {
                        return Err(EngineError::AlreadyExists(format!(
                            "Alias `{alias}` is the name of a collection"
                        )));
                    }
                    // Creating an existing alias points it elsewhere, as Qdrant does.
                    next.insert(alias.clone(), collection.clone());
                }
                AliasAction::Delete { alias } => {
                    if next.remove(alias).is_none() {
                        return Err(EngineError::NotFound(format!(
                            "Alias `{alias}` doesn't exist!"
                        )));
                    }
                }
                AliasAction::Rename { from, to } => {
                    validate_name(to)?;
                    let target = next.remove(from).ok_or_else(|| {
                        EngineError::NotFound(format!("Alias `{from}` doesn't exist!"))
                    })?;
                    if collections.contains_key(to) {
                        return Err(EngineError::AlreadyExists(format!(
                            "Alias `{to}` is the name of a collection"
                        )));
                    }
                    next.insert(to.clone(), target);
                }
            }
        }
        self.save_aliases(&next)?;
        *aliases = next;
        Ok(())
    }

    /// Writes the alias map to a temporary file and renames it into place.
    fn save_aliases(&self, aliases: &BTreeMap<String, String>) -> Result<()> {
        let tmp = self.root.join(format!("{ALIASES_FILE}.tmp"));
        let bytes = serde_json::to_vec(aliases).expect("a string map serialises");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.root.join(ALIASES_FILE))?;
        sync_dir(&self.root)?;
        Ok(())
    }

    /// Every read of a collection over the API enters here: what the
    /// request borrows from other collections (`lookup_from`) is looked up,
    /// then the collection admits and runs it ([`Collection::read`]).
    pub fn read<R: ReadRequest>(
        &self,
        collection: &Collection,
        mut req: R,
        timeout: Option<u64>,
    ) -> Result<R::Output> {
        req.resolve(&|name: &str| self.get(name))?;
        collection.read(&req, timeout)
    }

    /// [`Database::read`] for the `/batch` routes ([`Collection::read_batch`]).
    pub fn read_batch<R: ReadRequest>(
        &self,
        collection: &Collection,
        mut reqs: Vec<R>,
        timeout: Option<u64>,
    ) -> Result<Vec<R::Output>> {
        for req in &mut reqs {
            req.resolve(&|name: &str| self.get(name))?;
        }
        collection.read_batch(&reqs, timeout)
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
        self.check_not_alias(name)?;
        let tmp = self.staging_dir("new");
        let created = Collection::create(&tmp, name, config, self.options);
        let collection = match created {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        drop(collection);
        self.install(&mut collections, &tmp, name)
    }

    /// Moves a collection built in `tmp` to its place, opens it and starts
    /// its optimizer. The caller holds the collections' write lock.
    fn install(
        &self,
        collections: &mut BTreeMap<String, Arc<Collection>>,
        tmp: &Path,
        name: &str,
    ) -> Result<()> {
        let path = self.dir().join(name);
        std::fs::rename(tmp, &path)?;
        sync_dir(&self.dir())?;
        let collection = Arc::new(Collection::open(&path, name, self.options)?);
        self.optimizers
            .lock()
            .push(optimizer::spawn(Arc::downgrade(&collection)));
        collections.insert(name.to_string(), collection);
        Ok(())
    }

    /// A hidden directory beside the collections: start-up deletes it if a
    /// crash leaves it behind.
    fn staging_dir(&self, kind: &str) -> PathBuf {
        self.dir()
            .join(format!(".{kind}-{}", uuid::Uuid::new_v4().simple()))
    }

    fn check_not_alias(&self, name: &str) -> Result<()> {
        if self.aliases.read().contains_key(name) {
            return Err(EngineError::AlreadyExists(format!(
                "Collection name `{name}` is already used by an alias"
            )));
        }
        Ok(())
    }

    /// Deletes a collection; returns false when it did not exist.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let Some(collection) = self.collections.write().remove(name) else {
            return Ok(false);
        };
        collection.stop();
        // Aliases of a deleted collection go with it.
        {
            let mut aliases = self.aliases.write();
            if aliases.values().any(|c| c == name) {
                let mut next = aliases.clone();
                next.retain(|_, c| c != name);
                self.save_aliases(&next)?;
                *aliases = next;
            }
        }
        let path = self.dir().join(name);
        let trash = self.staging_dir("del");
        std::fs::rename(&path, &trash)?;
        sync_dir(&self.dir())?;
        drop(collection);
        let _ = std::fs::remove_dir_all(&trash);
        Ok(true)
    }
}

const ALIASES_FILE: &str = "aliases.json";

/// A snapshot file as the snapshot routes list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotDescription {
    pub name: String,
    /// UTC, without zone, as Qdrant writes it.
    pub creation_time: Option<String>,
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub checksum: Option<String>,
}

impl Database {
    fn snapshots_dir(&self, collection: &str) -> PathBuf {
        self.root.join("snapshots").join(collection)
    }

    /// Takes a snapshot of `collection` into `snapshots/<collection>/`.
    pub fn create_snapshot(&self, collection: &str) -> Result<SnapshotDescription> {
        let c = self.get(collection)?;
        let dir = self.snapshots_dir(c.name());
        std::fs::create_dir_all(&dir)?;
        let now = chrono::Utc::now();
        let name = format!(
            "{}-{}.snapshot",
            c.name(),
            now.format("%Y-%m-%d-%H-%M-%S-%3f")
        );
        let tmp = dir.join(format!(".{name}.tmp"));
        c.snapshot(&tmp)?;
        let checksum = sha256_file(&tmp)?;
        std::fs::write(dir.join(format!("{name}.checksum")), &checksum)?;
        std::fs::rename(&tmp, dir.join(&name))?;
        sync_dir(&dir)?;
        self.describe(&dir, &name)
    }

    fn describe(&self, dir: &Path, name: &str) -> Result<SnapshotDescription> {
        let meta = std::fs::metadata(dir.join(name))?;
        let creation_time = meta.modified().ok().map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        });
        let checksum = std::fs::read_to_string(dir.join(format!("{name}.checksum"))).ok();
        Ok(SnapshotDescription {
            name: name.to_string(),
            creation_time,
            size: meta.len(),
            checksum,
        })
    }

    /// Snapshots of `collection`, oldest first.
    pub fn list_snapshots(&self, collection: &str) -> Result<Vec<SnapshotDescription>> {
        let c = self.get(collection)?;
        self.snapshot_files(&self.snapshots_dir(c.name()))
    }

    /// The snapshot files directly in `dir` (no subdirectories, no hidden
    /// work files), oldest first.
    fn snapshot_files(&self, dir: &Path) -> Result<Vec<SnapshotDescription>> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if is_file && plain_snapshot_name(&name) {
                    out.push(self.describe(dir, &name)?);
                }
            }
        }
        out.sort_by(|a, b| {
            a.creation_time
                .cmp(&b.creation_time)
                .then(a.name.cmp(&b.name))
        });
        Ok(out)
    }

    /// The file of snapshot `name` of `collection`; the name is checked so
    /// it can never point outside the snapshot directory.
    pub fn snapshot_path(&self, collection: &str, name: &str) -> Result<PathBuf> {
        let c = self.get(collection)?;
        let path = self.snapshots_dir(c.name()).join(name);
        if !plain_snapshot_name(name) || !path.is_file() {
            return Err(EngineError::NotFound(format!(
                "Snapshot {name} of collection {collection} not found"
            )));
        }
        Ok(path)
    }

    pub fn delete_snapshot(&self, collection: &str, name: &str) -> Result<()> {
        let path = self.snapshot_path(collection, name)?;
        std::fs::remove_file(&path)?;
        let _ = std::fs::remove_file(path.with_file_name(format!("{name}.checksum")));
        Ok(())
    }

    /// Replaces (or creates) collection `name` with the content of
    /// `snapshot`. The snapshot is unpacked and opened aside first: a bad
    /// file leaves the existing collection untouched.
    pub fn recover(&self, name: &str, snapshot: &Path) -> Result<()> {
        validate_name(name)?;
        self.check_not_alias(name)?;
        let tmp = self.staging_dir("new");
        let checked = snapshot::unpack(snapshot, &tmp)
            .and_then(|_| Collection::open(&tmp, name, self.options));
        match checked {
            Ok(c) => {
                c.stop();
                drop(c);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        }
        let mut collections = self.collections.write();
        if let Some(old) = collections.remove(name) {
            old.stop();
            let trash = self.staging_dir("del");
            std::fs::rename(self.dir().join(name), &trash)?;
            drop(old);
            let _ = std::fs::remove_dir_all(&trash);
        }
        self.install(&mut collections, &tmp, name)?;
        tracing::info!(collection = name, snapshot = %snapshot.display(), "collection recovered from snapshot");
        Ok(())
    }
}

/// Name prefix of full-storage snapshots, as Qdrant names them.
const FULL_PREFIX: &str = "full-snapshot-";
/// Hidden work directories of full snapshots being written, in
/// `snapshots/`; start-up removes those a crash left.
const FULL_WORK_PREFIX: &str = ".full-";

/// Collections and aliases a full-storage snapshot brought in.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRestore {
    /// Collections created or replaced, in the archive's order.
    pub collections: Vec<String>,
    pub aliases: Vec<(String, String)>,
}

impl Database {
    fn full_snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// Takes a snapshot of every collection, with the aliases, into one
    /// file `snapshots/full-snapshot-<time>.snapshot`, beside the
    /// directories of the per-collection snapshots. The set of collections
    /// and aliases is read at one instant; each collection is then one
    /// consistent point in time of its own.
    pub fn create_storage_snapshot(&self) -> Result<SnapshotDescription> {
        let (collections, aliases) = {
            let collections = self.collections.read();
            let aliases = self.aliases.read();
            (
                collections.values().cloned().collect::<Vec<_>>(),
                aliases.clone(),
            )
        };
        let dir = self.full_snapshots_dir();
        std::fs::create_dir_all(&dir)?;
        let name = format!(
            "{FULL_PREFIX}{}.snapshot",
            chrono::Utc::now().format("%Y-%m-%d-%H-%M-%S-%3f")
        );
        let work = dir.join(format!(
            "{FULL_WORK_PREFIX}{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&work)?;
        let written = (|| {
            let tmp = work.join("archive.tmp");
            let checksum = storage_snapshot::write(&tmp, &work, &collections, &aliases)?;
            std::fs::write(dir.join(format!("{name}.checksum")), &checksum)?;
            std::fs::rename(&tmp, dir.join(&name))?;
            sync_dir(&dir)
        })();
        let _ = std::fs::remove_dir_all(&work);
        written?;
        tracing::info!(snapshot = %name, collections = collections.len(), "full storage snapshot created");
        self.describe(&dir, &name)
    }

    /// Full-storage snapshots, oldest first: the snapshot files directly in
    /// `snapshots/` (collections keep theirs in subdirectories).
    pub fn list_storage_snapshots(&self) -> Result<Vec<SnapshotDescription>> {
        self.snapshot_files(&self.full_snapshots_dir())
    }

    /// The file of full-storage snapshot `name`; the name is checked so it
    /// can never point outside `snapshots/`.
    pub fn storage_snapshot_path(&self, name: &str) -> Result<PathBuf> {
        let path = self.full_snapshots_dir().join(name);
        if !plain_snapshot_name(name) || !path.is_file() {
            return Err(EngineError::NotFound(format!(
                "Full storage snapshot {name} not found"
            )));
        }
        Ok(path)
    }

    pub fn delete_storage_snapshot(&self, name: &str) -> Result<()> {
        let path = self.storage_snapshot_path(name)?;
        std::fs::remove_file(&path)?;
        let _ = std::fs::remove_file(path.with_file_name(format!("{name}.checksum")));
        Ok(())
    }

    /// Brings every collection and alias of the full-storage snapshot at
    /// `archive` into this storage. The whole archive is unpacked, checked
    /// and opened aside first: a damaged or foreign file is an error that
    /// changes nothing.
    ///
    /// A collection or alias of the archive whose name is already taken is
    /// an error (again changing nothing) unless `force`: then the archive's
    /// collections replace those of the same name, its aliases point where
    /// the archive says, and a stored alias named like one of its
    /// collections is dropped. Collections and aliases the archive does not
    /// name are kept; an alias of the archive that is the name of a kept
    /// collection is refused even with `force`.
    pub fn restore_storage_snapshot(&self, archive: &Path, force: bool) -> Result<StorageRestore> {
        let unpacked = storage_snapshot::unpack(archive, || self.staging_dir("new"))?;
        for (name, dir) in &unpacked.collections {
            let opened = Collection::open(dir, name, self.options).map_err(|e| {
                EngineError::BadRequest(format!(
                    "Wrong input: storage snapshot {}: collection `{name}` does not open ({e})",
                    archive.display()
                ))
            })?;
            opened.stop();
        }
        let mut collections = self.collections.write();
        let mut aliases = self.aliases.write();
        let mut taken = Vec::new();
        for (name, _) in &unpacked.collections {
            if collections.contains_key(name) {
                taken.push(format!("collection `{name}` exists"));
            }
            if let Some(target) = aliases.get(name) {
                taken.push(format!("`{name}` is an alias of `{target}`"));
            }
        }
        let mut refused = Vec::new();
        for (alias, target) in &unpacked.aliases {
            if collections.contains_key(alias) {
                refused.push(format!("alias `{alias}` is the name of a collection"));
            }
            match aliases.get(alias) {
                Some(now) if now != target => {
                    taken.push(format!("alias `{alias}` points to `{now}`"))
                }
                _ => {}
            }
        }
        if !refused.is_empty() || (!taken.is_empty() && !force) {
            refused.extend(if force { Vec::new() } else { taken });
            return Err(EngineError::AlreadyExists(format!(
                "storage snapshot {}: {}",
                archive.display(),
                refused.join("; ")
            )));
        }
        let mut next = aliases.clone();
        for (name, dir) in &unpacked.collections {
            next.remove(name);
            if let Some(old) = collections.remove(name) {
                old.stop();
                let trash = self.staging_dir("del");
                std::fs::rename(self.dir().join(name), &trash)?;
                drop(old);
                let _ = std::fs::remove_dir_all(&trash);
            }
            self.install(&mut collections, dir, name)?;
        }
        next.extend(unpacked.aliases.clone());
        self.save_aliases(&next)?;
        *aliases = next;
        let restored = StorageRestore {
            collections: unpacked
                .collections
                .iter()
                .map(|(n, _)| n.clone())
                .collect(),
            aliases: unpacked.aliases.clone().into_iter().collect(),
        };
        tracing::info!(snapshot = %archive.display(), collections = restored.collections.len(), aliases = restored.aliases.len(), "storage restored from full snapshot");
        Ok(restored)
    }
}

/// A snapshot file name as a route may take it: never a path.
fn plain_snapshot_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.ends_with(".snapshot")
        && !name.contains(['/', '\\', '\0'])
}

/// SHA-256 of a file, hex, read in blocks.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize().as_slice()))
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

pub(in crate::engine) fn validate_name(name: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::VectorParams;
    use crate::engine::types::Distance;

    fn options() -> EngineOptions {
        EngineOptions {
            fsync: false,
            ..Default::default()
        }
    }

    #[test]
    fn aliases_survive_reopen_and_die_with_their_collection() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::open(dir.path(), options()).unwrap();
            let config = CollectionConfig::new(VectorParams::new(2, Distance::Dot));
            db.create("a", config).unwrap();
            db.update_aliases(&[AliasAction::Create {
                alias: "live".into(),
                collection: "a".into(),
            }])
            .unwrap();
        }
        let db = Database::open(dir.path(), options()).unwrap();
        assert_eq!(db.get("live").unwrap().name(), "a");
        assert_eq!(db.aliases(Some("a")), vec![("live".into(), "a".into())]);
        db.delete("a").unwrap();
        assert!(db.get("live").is_err());
        drop(db);
        let db = Database::open(dir.path(), options()).unwrap();
        assert!(db.aliases(None).is_empty());
    }

    #[test]
    fn a_second_process_cannot_open_the_same_storage() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), options()).unwrap();
        // Another open file description conflicts like another process would.
        let second = Database::open(dir.path(), options());
        assert!(matches!(second, Err(EngineError::Locked(_))));
        drop(db);
        assert!(Database::open(dir.path(), options()).is_ok());
    }
}
