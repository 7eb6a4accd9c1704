//! Collection snapshots: one tar file that restores a collection exactly.
//!
//! A snapshot holds what the collection's durable state is made of: a
//! compacted copy of its SQLite database (ids, payloads, sparse vectors,
//! config, payload index definitions) and the written part of each dense
//! vector arena, plus a manifest. Graphs are left out: they are derived
//! data, and the optimizer rebuilds them after a restore, while searches
//! are already exact in the meantime.
//!
//! Writes to the collection wait while the snapshot is taken, so it is
//! one consistent point in time; reads go on.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::collection::{arena_dir, Collection, META_SEGMENTS};
use crate::engine::error::{EngineError, Result};
use crate::engine::storage::{sync_dir, Store};

/// The manifest's name inside the tar, first entry of every snapshot.
pub(in crate::engine) const MANIFEST: &str = "snapshot.json";
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    collection: String,
    created: String,
    helio_version: String,
}

// The names of a full-storage snapshot's entries (`database/storage_snapshot.rs`
// writes them), known here so that a collection restore given such an
// archive can say what it was given.

/// The manifest's name inside the archive, next to last.
pub(in crate::engine) const STORAGE_MANIFEST: &str = "storage.json";
/// The manifest's own SHA-256, the last entry.
pub(in crate::engine) const STORAGE_MANIFEST_SUM: &str = "storage.json.sha256";
/// Where the collection snapshots sit inside it.
pub(in crate::engine) const COLLECTIONS_DIR: &str = "collections/";

fn is_storage_snapshot_entry(name: &str) -> bool {
    name == STORAGE_MANIFEST || name == STORAGE_MANIFEST_SUM || name.starts_with(COLLECTIONS_DIR)
}

impl Collection {
    /// Writes a snapshot of this collection to `out` (created or replaced).
    pub fn snapshot(&self, out: &Path) -> Result<()> {
        let tmp_db = out.with_extension("db.tmp");
        let _ = std::fs::remove_file(&tmp_db);
        let writer = self.writer.lock();
        let until = writer.next_offset;
        let arenas: Vec<(String, std::sync::Arc<crate::engine::storage::Arena>)> = self
            .points
            .read()
            .dense
            .iter()
            .map(|(n, s)| (n.clone(), s.arena.clone()))
            .collect();
        for (_, arena) in &arenas {
            arena.flush(0, until)?;
        }
        self.store.copy_to(&tmp_db)?;

        let file = File::create(out)?;
        let mut tar = tar::Builder::new(BufWriter::new(file));
        let manifest = Manifest {
            format: FORMAT,
            collection: self.name.clone(),
            created: chrono::Utc::now().to_rfc3339(),
            helio_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        append_bytes(
            &mut tar,
            MANIFEST,
            &serde_json::to_vec_pretty(&manifest).expect("manifest serialises"),
        )?;
        let mut db = File::open(&tmp_db)?;
        tar.append_file("points.db", &mut db)?;
        for (name, arena) in &arenas {
            let dir = arena_dir(name);
            for (chunk, bytes) in arena.export(until) {
                append_bytes(&mut tar, &format!("{dir}/{chunk}"), bytes)?;
            }
        }
        drop(writer);
        let mut inner = tar.into_inner()?;
        inner.flush()?;
        inner.get_ref().sync_all()?;
        let _ = std::fs::remove_file(&tmp_db);
        Ok(())
    }
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> Result<()> {
    append_entry(tar, path, bytes.len() as u64, bytes)
}

/// Appends a plain file entry of `size` bytes read from `data`.
pub(in crate::engine) fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    header.set_cksum();
    tar.append_data(&mut header, path, data)?;
    Ok(())
}

/// Unpacks `snapshot` into the empty directory `dir` as a collection that
/// [`Collection::open`] can open, checking it is one of ours. Returns the
/// name of the collection it was taken from.
pub fn unpack(snapshot: &Path, dir: &Path) -> Result<String> {
    unpack_from(File::open(snapshot)?, dir)
}

/// [`unpack`] from a stream.
pub fn unpack_from(reader: impl Read, dir: &Path) -> Result<String> {
    let name = extract(reader, dir)?;
    prepare(dir)?;
    Ok(name)
}

/// Makes files [`extract`]ed into `dir` a collection [`Collection::open`]
/// can open. Kept apart so that a full-storage snapshot can check every
/// checksum before it opens any database it unpacked.
pub(in crate::engine) fn prepare(dir: &Path) -> Result<()> {
    // Graphs were left out; the optimizer builds them again.
    let store = Store::open(&dir.join("points.db"), true)?;
    store.set_meta(META_SEGMENTS, "[]")?;
    drop(store);
    sync_dir(dir)
}

/// The files of a collection snapshot read from a stream into `dir`,
/// checked to be ours (a full-storage snapshot holds collection snapshots
/// as entries of its own tar, read without a copy on disk). Returns the
/// name of the collection it was taken from.
pub(in crate::engine) fn extract(reader: impl Read, dir: &Path) -> Result<String> {
    let bad = |msg: String| EngineError::BadRequest(format!("Wrong input: snapshot: {msg}"));
    let mut archive = tar::Archive::new(reader);
    let mut manifest: Option<Manifest> = None;
    std::fs::create_dir_all(dir.join("segments"))?;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar file ({e})")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("unreadable entry ({e})")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad entry name ({e})")))?
            .into_owned();
        let name = path.to_string_lossy().into_owned();
        if name == MANIFEST {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("unreadable manifest ({e})")))?;
            manifest =
                Some(serde_json::from_str(&text).map_err(|e| bad(format!("bad manifest ({e})")))?);
            continue;
        }
        let allowed = name == "points.db"
            || (name.starts_with("vectors")
                && name.ends_with(".f32")
                && name.matches('/').count() == 1);
        if is_storage_snapshot_entry(&name) {
            return Err(bad(
                "this is a full-storage snapshot; restore it with `helio serve --storage-snapshot FILE`".into(),
            ));
        }
        if !allowed || !entry.header().entry_type().is_file() {
            return Err(bad(format!("unexpected entry `{name}`")));
        }
        // `unpack_in` refuses paths that would leave `dir`.
        let inside = entry
            .unpack_in(dir)
            .map_err(|e| bad(format!("cannot unpack `{name}` ({e})")))?;
        if !inside {
            return Err(bad(format!("entry `{name}` points outside the collection")));
        }
    }
    let manifest = manifest.ok_or_else(|| bad("no snapshot.json: not a Helio snapshot".into()))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "format {} is not readable by this Helio (reads {FORMAT})",
            manifest.format
        )));
    }
    if !dir.join("points.db").exists() {
        return Err(bad("no points.db".into()));
    }
    Ok(manifest.collection)
}
