//! Full-storage snapshots: every collection and every alias in one tar
//! file, restored when a server starts (`helio serve --storage-snapshot`).
//!
//! The archive holds, in this order:
//! - `collections/<n>.snapshot`: one collection snapshot each, exactly as
//!   [`Collection::snapshot`] writes it, so each is one consistent point in
//!   time of its collection (collections are taken one after another, as
//!   Qdrant takes them; a full snapshot is not one instant across them);
//! - `storage.json`: the manifest, naming the collection of each entry
//!   with its size and SHA-256, and the aliases;
//! - `storage.json.sha256`: the manifest's own SHA-256.
//!
//! Entries are numbered, never named after collections, so no name a
//! client chose becomes a path in the archive. The manifest comes last
//! because it carries the checksums of what precedes it: a reader unpacks
//! every collection aside while hashing it, then checks them all against
//! the manifest before the storage is touched. A truncated file lacks the
//! manifest; a damaged one fails a checksum or the tar format.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::collection::snapshot::append_entry;
use crate::engine::collection::snapshot::{
    COLLECTIONS_DIR, STORAGE_MANIFEST as MANIFEST, STORAGE_MANIFEST_SUM as MANIFEST_SUM,
};
use crate::engine::collection::Collection;
use crate::engine::database::validate_name;
use crate::engine::error::{EngineError, Result};

const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created: String,
    helio_version: String,
    collections: Vec<Entry>,
    /// alias → collection.
    aliases: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    name: String,
    /// The entry's path inside the archive.
    file: String,
    size: u64,
    sha256: String,
}

/// Writes a full-storage snapshot of `collections` and `aliases` to `out`.
/// Each collection is first written to a file in `work` (an empty
/// directory), then copied into the archive and deleted, so the extra disk
/// used is one collection snapshot at a time. Returns the archive's SHA-256.
pub(in crate::engine) fn write(
    out: &Path,
    work: &Path,
    collections: &[Arc<Collection>],
    aliases: &BTreeMap<String, String>,
) -> Result<String> {
    let file = HashingWriter {
        inner: BufWriter::new(File::create(out)?),
        hasher: Sha256::new(),
    };
    let mut tar = tar::Builder::new(file);
    let mut entries = Vec::with_capacity(collections.len());
    for (i, collection) in collections.iter().enumerate() {
        let tmp = work.join(format!("{i}.snapshot"));
        collection.snapshot(&tmp)?;
        let size = std::fs::metadata(&tmp)?.len();
        let file = format!("{COLLECTIONS_DIR}{i}.snapshot");
        let mut reader = HashingReader::new(File::open(&tmp)?.take(size));
        append_entry(&mut tar, &file, size, &mut reader)?;
        if reader.size != size {
            return Err(EngineError::Storage(format!(
                "snapshot of `{}` changed while it was archived",
                collection.name()
            )));
        }
        std::fs::remove_file(&tmp)?;
        entries.push(Entry {
            name: collection.name().to_string(),
            file,
            size,
            sha256: reader.hex(),
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        created: chrono::Utc::now().to_rfc3339(),
        helio_version: env!("CARGO_PKG_VERSION").to_string(),
        collections: entries,
        aliases: aliases.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    append_entry(&mut tar, MANIFEST, bytes.len() as u64, bytes.as_slice())?;
    let sum = hex::encode(Sha256::digest(&bytes).as_slice());
    append_entry(&mut tar, MANIFEST_SUM, sum.len() as u64, sum.as_bytes())?;
    let mut file = tar.into_inner()?;
    file.flush()?;
    file.inner.get_ref().sync_all()?;
    Ok(hex::encode(file.hasher.finalize().as_slice()))
}

/// What an archive held: each collection unpacked into a directory of its
/// own, ready for [`Collection::open`], and the aliases. The directories
/// still in place when this is dropped are removed, so any error on the
/// way leaves nothing behind.
pub(in crate::engine) struct Unpacked {
    /// (collection name, directory), in the archive's order.
    pub collections: Vec<(String, PathBuf)>,
    pub aliases: BTreeMap<String, String>,
    staged: Vec<PathBuf>,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        for dir in &self.staged {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Reads the archive at `path`, unpacking each collection into a new
/// directory from `stage` (which must not exist yet), and checks every
/// entry against the manifest: sizes, checksums, names and aliases.
pub(in crate::engine) fn unpack(
    path: &Path,
    mut stage: impl FnMut() -> PathBuf,
) -> Result<Unpacked> {
    let bad = |msg: String| {
        EngineError::BadRequest(format!(
            "Wrong input: storage snapshot {}: {msg}",
            path.display()
        ))
    };
    let file = File::open(path).map_err(|e| bad(format!("cannot open it ({e})")))?;
    let size = file.metadata()?.len();
    if size % 512 != 0 {
        return Err(bad(format!(
            "{size} bytes is not a whole number of tar blocks: truncated, or not a snapshot"
        )));
    }
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut out = Unpacked {
        collections: Vec::new(),
        aliases: BTreeMap::new(),
        staged: Vec::new(),
    };
    // entry path → (directory, sha256, size)
    let mut found: BTreeMap<String, (PathBuf, String, u64)> = BTreeMap::new();
    let mut manifest: Option<(Vec<u8>, Option<String>)> = None;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar file ({e})")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("unreadable entry ({e})")))?;
        let name = entry
            .path()
            .map_err(|e| bad(format!("bad entry name ({e})")))?
            .to_string_lossy()
            .into_owned();
        if let Some((_, sum)) = &mut manifest {
            if name != MANIFEST_SUM || sum.is_some() {
                return Err(bad(format!("entry `{name}` after the manifest")));
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("unreadable manifest checksum ({e})")))?;
            *sum = Some(text);
            continue;
        }
        if name == crate::engine::collection::snapshot::MANIFEST {
            return Err(bad(
                "this is a collection snapshot; upload it to /collections/{name}/snapshots/upload"
                    .into(),
            ));
        }
        if name == MANIFEST {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| bad(format!("unreadable manifest ({e})")))?;
            manifest = Some((bytes, None));
            continue;
        }
        if !is_collection_entry(&name) || !entry.header().entry_type().is_file() {
            return Err(bad(format!("unexpected entry `{name}`")));
        }
        if found.contains_key(&name) {
            return Err(bad(format!("entry `{name}` appears twice")));
        }
        let dir = stage();
        out.staged.push(dir.clone());
        let mut reader = HashingReader::new(&mut entry);
        crate::engine::collection::snapshot::extract(&mut reader, &dir).map_err(|e| match e {
            EngineError::BadRequest(m) => {
                bad(format!("{name}: {}", m.trim_start_matches("Wrong input: ")))
            }
            other => other,
        })?;
        // The inner tar ends before its entry does (end-of-archive blocks).
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| bad(format!("{name}: unreadable ({e})")))?;
        let (sha256, size) = (reader.hex(), reader.size);
        found.insert(name, (dir, sha256, size));
    }
    let (bytes, sum) = manifest.ok_or_else(|| {
        bad(format!(
            "no {MANIFEST}: not a Helio storage snapshot, or a truncated one"
        ))
    })?;
    let sum = sum.ok_or_else(|| bad(format!("no {MANIFEST_SUM}: a truncated snapshot")))?;
    if !hex::encode(Sha256::digest(&bytes).as_slice()).eq_ignore_ascii_case(sum.trim()) {
        return Err(bad(
            "checksum mismatch of the manifest, the file is damaged".into(),
        ));
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("bad manifest ({e})")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "format {} is not readable by this Helio (reads {FORMAT})",
            manifest.format
        )));
    }
    let mut names = BTreeSet::new();
    for entry in &manifest.collections {
        validate_name(&entry.name).map_err(|_| {
            bad(format!(
                "manifest names an invalid collection {:?}",
                entry.name
            ))
        })?;
        if !names.insert(entry.name.clone()) {
            return Err(bad(format!("collection `{}` appears twice", entry.name)));
        }
        let (dir, sha256, size) = found.remove(&entry.file).ok_or_else(|| {
            bad(format!(
                "collection `{}`: entry `{}` is missing",
                entry.name, entry.file
            ))
        })?;
        if size != entry.size || !sha256.eq_ignore_ascii_case(&entry.sha256) {
            return Err(bad(format!(
                "collection `{}`: checksum mismatch, the file is damaged",
                entry.name
            )));
        }
        out.collections.push((entry.name.clone(), dir));
    }
    for (_, dir) in &out.collections {
        crate::engine::collection::snapshot::prepare(dir)?;
    }
    if let Some(extra) = found.keys().next() {
        return Err(bad(format!("entry `{extra}` is not in the manifest")));
    }
    for (alias, target) in &manifest.aliases {
        validate_name(alias)
            .map_err(|_| bad(format!("manifest names an invalid alias {alias:?}")))?;
        if !names.contains(target) {
            return Err(bad(format!(
                "alias `{alias}` points to `{target}`, which is not in the snapshot"
            )));
        }
        if names.contains(alias) {
            return Err(bad(format!("alias `{alias}` is also a collection")));
        }
    }
    out.aliases = manifest.aliases;
    Ok(out)
}

fn is_collection_entry(name: &str) -> bool {
    name.strip_prefix(COLLECTIONS_DIR)
        .and_then(|rest| rest.strip_suffix(".snapshot"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Counts and hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize().as_slice())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Hashes what is written through it: the archive's checksum without
/// reading the file again.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use crate::engine::collection::payload::PayloadSelector;
    use crate::engine::config::{CollectionConfig, VectorParams};
    use crate::engine::database::AliasAction;
    use crate::engine::query::scroll::ScrollRequest;
    use crate::engine::types::{Distance, PointId, VectorSelector};
    use crate::engine::{Database, EngineError, EngineOptions, PointInsert, UpdateOp};

    use super::MANIFEST;

    fn options() -> EngineOptions {
        EngineOptions {
            fsync: false,
            ..Default::default()
        }
    }

    /// Two collections, some points, an alias.
    fn filled(root: &Path) -> Database {
        let db = Database::open(root, options()).unwrap();
        for (name, dim, n) in [("panels", 4, 300u64), ("inverters", 3, 40)] {
            let config = CollectionConfig::new(VectorParams::new(dim, Distance::Cosine));
            db.create(name, config).unwrap();
            let points = (0..n)
                .map(|i| {
                    let v = (0..dim)
                        .map(|d| ((i * 7 + d as u64) % 11) as f32 + 0.5)
                        .collect();
                    let payload = json!({"i": i, "kind": name}).as_object().unwrap().clone();
                    PointInsert::dense(PointId::Num(i), v, payload)
                })
                .collect();
            db.get(name)
                .unwrap()
                .update(vec![UpdateOp::Upsert(points)])
                .unwrap();
        }
        db.update_aliases(&[AliasAction::Create {
            alias: "live".into(),
            collection: "panels".into(),
        }])
        .unwrap();
        db
    }

    /// Every point of every collection, with payload and vectors, and the aliases.
    fn content(db: &Database) -> String {
        let mut out = String::new();
        for name in db.names() {
            let (records, _) = db
                .get(&name)
                .unwrap()
                .read(
                    &ScrollRequest {
                        filter: None,
                        limit: 100_000,
                        offset: None,
                        order_by: None,
                        with_payload: PayloadSelector::All,
                        with_vector: VectorSelector::All,
                    },
                    None,
                )
                .unwrap();
            for r in records {
                out += &format!("{name} {:?} {:?} {:?}\n", r.id, r.payload, r.vector);
            }
        }
        out + &format!("{:?}", db.aliases(None))
    }

    /// The storage's directory entries a failed restore must not change.
    fn listing(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join("collections"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip_restores_every_point_and_alias() {
        let dir = tempfile::tempdir().unwrap();
        let source = filled(&dir.path().join("a"));
        let made = source.create_storage_snapshot().unwrap();
        assert!(made.name.starts_with("full-snapshot-") && made.name.ends_with(".snapshot"));
        let path = source.storage_snapshot_path(&made.name).unwrap();
        assert_eq!(
            made.checksum.as_deref(),
            Some(
                crate::engine::database::sha256_file(&path)
                    .unwrap()
                    .as_str()
            )
        );
        assert_eq!(source.list_storage_snapshots().unwrap().len(), 1);
        // Nothing of the work directory is left beside it.
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        let target = Database::open(&dir.path().join("b"), options()).unwrap();
        let restored = target.restore_storage_snapshot(&path, false).unwrap();
        assert_eq!(restored.collections, ["inverters", "panels"]);
        assert_eq!(restored.aliases, [("live".into(), "panels".into())]);
        assert_eq!(content(&target), content(&source));
        assert!(content(&source).contains("panels Num(299)"));
        // And durably so.
        drop(target);
        let target = Database::open(&dir.path().join("b"), options()).unwrap();
        assert_eq!(content(&target), content(&source));
        assert_eq!(target.get("live").unwrap().name(), "panels");
    }

    #[test]
    fn a_damaged_or_truncated_archive_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = filled(&dir.path().join("a"));
        let made = source.create_storage_snapshot().unwrap();
        let bytes = std::fs::read(source.storage_snapshot_path(&made.name).unwrap()).unwrap();

        let target = Database::open(&dir.path().join("b"), options()).unwrap();
        let config = CollectionConfig::new(VectorParams::new(2, Distance::Dot));
        target.create("other", config).unwrap();
        let before = (content(&target), listing(&dir.path().join("b")));

        let bad = dir.path().join("bad.snapshot");
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        // Only the end-of-archive blocks missing is harmless: every entry
        // is there and checked. Cut into the manifest instead.
        let manifest_at = {
            let mut archive = tar::Archive::new(bytes.as_slice());
            let entry = archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap())
                .find(|e| e.path().unwrap().to_str() == Some(MANIFEST))
                .unwrap();
            entry.raw_file_position() as usize
        };
        for cut in [
            0,
            100,
            512,
            4096,
            bytes.len() / 2,
            manifest_at + 10,
            bytes.len() - 1536,
            bytes.len() - 1,
        ] {
            cases.push((format!("truncated at {cut}"), bytes[..cut].to_vec()));
        }
        // One flipped byte anywhere: a tar header, a vector, the database,
        // the manifest.
        for at in (0..bytes.len()).step_by(bytes.len() / 23) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            if flipped[at] != bytes[at] && !only_padding(&bytes, at) {
                cases.push((format!("byte {at} flipped"), flipped));
            }
        }
        // A change the JSON still parses: only the manifest's own checksum
        // tells.
        let created = manifest_at
            + bytes[manifest_at..]
                .windows(11)
                .position(|w| w == b"\"created\": ")
                .unwrap()
            + 12;
        let mut edited = bytes.clone();
        edited[created] = if bytes[created] == b'1' { b'2' } else { b'1' };
        cases.push(("manifest edited".into(), edited));
        cases.push(("not a tar".into(), b"hello".repeat(300)));
        assert!(cases.len() > 25);
        for (case, data) in cases {
            std::fs::write(&bad, &data).unwrap();
            let err = target
                .restore_storage_snapshot(&bad, true)
                .expect_err(&case);
            assert!(matches!(err, EngineError::BadRequest(_)), "{case}: {err:?}");
            assert_eq!(
                (content(&target), listing(&dir.path().join("b"))),
                before,
                "{case}"
            );
        }
    }

    /// Whether byte `at` is tar padding (zeros nobody reads: the tail of a
    /// block after an entry's data, or the end-of-archive blocks).
    fn only_padding(bytes: &[u8], at: usize) -> bool {
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let start = entry.raw_header_position() as usize;
            let data = entry.raw_file_position() as usize;
            let end = data + entry.size() as usize;
            if (start..end).contains(&at) {
                return false;
            }
        }
        true
    }

    #[test]
    fn taken_names_need_force_and_other_collections_stay() {
        let dir = tempfile::tempdir().unwrap();
        let source = filled(&dir.path().join("a"));
        let made = source.create_storage_snapshot().unwrap();
        let path = source.storage_snapshot_path(&made.name).unwrap();

        let target = Database::open(&dir.path().join("b"), options()).unwrap();
        target.restore_storage_snapshot(&path, false).unwrap();
        // Change the restored storage, and add a collection of its own.
        target.delete("inverters").unwrap();
        let config = CollectionConfig::new(VectorParams::new(2, Distance::Dot));
        target.create("inverters", config.clone()).unwrap();
        target.create("mine", config).unwrap();
        let changed = content(&target);

        let err = target.restore_storage_snapshot(&path, false).unwrap_err();
        assert!(
            matches!(&err, EngineError::AlreadyExists(m) if m.contains("`inverters`") && m.contains("`panels`")),
            "{err:?}"
        );
        assert_eq!(content(&target), changed);

        target.restore_storage_snapshot(&path, true).unwrap();
        assert_eq!(target.names(), ["inverters", "mine", "panels"]);
        let (records, _) = target
            .get("inverters")
            .unwrap()
            .read(
                &ScrollRequest {
                    filter: None,
                    limit: 1000,
                    offset: None,
                    order_by: None,
                    with_payload: PayloadSelector::None,
                    with_vector: VectorSelector::None,
                },
                None,
            )
            .unwrap();
        assert_eq!(records.len(), 40);

        // An alias of the archive that names a kept collection is refused
        // even with force.
        target.delete("panels").unwrap();
        target.delete("inverters").unwrap();
        let config = CollectionConfig::new(VectorParams::new(2, Distance::Dot));
        target.create("live", config).unwrap();
        let err = target.restore_storage_snapshot(&path, true).unwrap_err();
        assert!(
            matches!(&err, EngineError::AlreadyExists(m) if m.contains("alias `live`")),
            "{err:?}"
        );
        assert_eq!(target.names(), ["live", "mine"]);
    }

    #[test]
    fn each_kind_of_snapshot_is_refused_where_the_other_belongs() {
        let dir = tempfile::tempdir().unwrap();
        let source = filled(&dir.path().join("a"));
        let full = source.create_storage_snapshot().unwrap();
        let full = source.storage_snapshot_path(&full.name).unwrap();
        let one = source.create_snapshot("panels").unwrap();
        let one = source.snapshot_path("panels", &one.name).unwrap();

        let target = Database::open(&dir.path().join("b"), options()).unwrap();
        let err = target.restore_storage_snapshot(&one, false).unwrap_err();
        assert!(err.to_string().contains("collection snapshot"), "{err}");
        let err = target.recover("x", &full).unwrap_err();
        assert!(err.to_string().contains("full-storage snapshot"), "{err}");
        assert!(target.names().is_empty());
        // The full snapshot is not one of the collection's snapshots.
        assert_eq!(source.list_snapshots("panels").unwrap().len(), 1);
    }

    #[test]
    fn snapshot_names_from_routes_are_never_paths() {
        let dir = tempfile::tempdir().unwrap();
        let db = filled(&dir.path().join("a"));
        db.create_snapshot("panels").unwrap();
        std::fs::write(dir.path().join("a/outside.snapshot"), b"x").unwrap();
        for name in [
            "../outside.snapshot",
            "..",
            "panels",
            "panels/x.snapshot",
            "/etc/passwd",
            ".hidden.snapshot",
            "",
        ] {
            assert!(
                matches!(
                    db.storage_snapshot_path(name),
                    Err(EngineError::NotFound(_))
                ),
                "{name}"
            );
            assert!(db.delete_storage_snapshot(name).is_err(), "{name}");
        }
        assert!(dir.path().join("a/outside.snapshot").exists());
        // A collection's snapshot directory is not a full snapshot.
        assert!(db.list_storage_snapshots().unwrap().is_empty());
    }
}
