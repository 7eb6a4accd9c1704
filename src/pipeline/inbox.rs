//! The drop folder: which files are ready, and where they go afterwards.
//!
//! ```text
//! data/inbox/       distributors (or an SFTP job, or a person) drop files here
//! data/processed/   <YYYYMMDDTHHMMSSZ>-<safe name>, ingested
//! data/rejected/    <YYYYMMDDTHHMMSSZ>-<safe name>, plus <safe name>.errors.csv
//!                   (rejected rows) or <safe name>.error.txt (unreadable file)
//! ```
//!
//! Nothing here trusts a file name: names are reduced to `[A-Za-z0-9._-]`
//! before they become part of a path, and archived files never overwrite
//! one another, so every original is kept.
//!
//! A file is ready when two consecutive scans see the same size and
//! modification time and it has been quiet for a settle period. That covers
//! writers that copy in place (SMB, `scp`); writers that use a temporary
//! name and rename when done are covered by skipping temporary names.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::report::write_error_report;
use super::validate::RowError;

/// Longest safe name kept; with the timestamp prefix and a collision
/// suffix it stays far below the 255-byte limit of common file systems.
const MAX_SAFE_NAME: usize = 120;

/// Extensions that mark a file as still being written by someone.
const TEMPORARY_SUFFIXES: [&str; 6] = [".tmp", ".part", ".partial", ".crdownload", ".swp", ".lock"];

/// What became of a file: `processed` (its valid rows are the
/// distributor's new offer) or `rejected` (nothing of it was loaded); also
/// the folder it is archived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Processed,
    Rejected,
}

/// What a scan saw of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    modified: SystemTime,
    /// When this (size, mtime) was first seen, by our clock: a file copied
    /// with its mtime preserved from a machine whose clock is ahead would
    /// otherwise wait until our clock caught up.
    since: SystemTime,
}

pub struct Inbox {
    inbox: PathBuf,
    processed: PathBuf,
    rejected: PathBuf,
    seen: Mutex<HashMap<OsString, Seen>>,
}

impl Inbox {
    pub fn open(root: &Path) -> io::Result<Inbox> {
        let inbox = Inbox {
            inbox: Inbox::dir(root),
            processed: root.join("processed"),
            rejected: root.join("rejected"),
            seen: Mutex::new(HashMap::new()),
        };
        for dir in [&inbox.inbox, &inbox.processed, &inbox.rejected] {
            fs::create_dir_all(dir)?;
        }
        Ok(inbox)
    }

    /// The folder files are dropped into, under the data directory `root`.
    pub fn dir(root: &Path) -> PathBuf {
        root.join("inbox")
    }

    pub fn inbox_dir(&self) -> &Path {
        &self.inbox
    }

    /// Files ready to ingest, sorted by name. A file stays in the list on
    /// every scan until the caller archives it.
    ///
    /// Symlinks, directories and other special files are skipped: a link
    /// would let anyone who can write to the inbox make us read (and then
    /// move) a file elsewhere. One unreadable entry does not stop the scan.
    pub fn ready_files(&self, settle: Duration) -> io::Result<Vec<PathBuf>> {
        self.ready_files_at(settle, SystemTime::now())
    }

    /// [`Inbox::ready_files`] with the clock passed in, for tests.
    fn ready_files_at(&self, settle: Duration, now: SystemTime) -> io::Result<Vec<PathBuf>> {
        let entries = fs::read_dir(&self.inbox)?;
        // Poisoning only means another scan panicked mid-way; the map is
        // a cache of observations and a stale one only delays a file.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut current = HashMap::new();
        let mut ready = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    tracing::warn!(%error, dir = %self.inbox.display(), "inbox entry unreadable");
                    continue;
                }
            };
            let name = entry.file_name();
            if is_temporary(&name.to_string_lossy()) {
                continue;
            }
            // `DirEntry::metadata` does not follow symlinks.
            let meta = match entry.metadata() {
                Ok(meta) if meta.file_type().is_file() => meta,
                Ok(_) => continue,
                // Gone between listing and stat: a writer renamed it.
                Err(_) => continue,
            };
            let size = meta.len();
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let previous = seen
                .get(&name)
                .filter(|s| s.size == size && s.modified == modified);
            let since = previous.map_or(now, |s| s.since);
            if previous.is_some() {
                let by_mtime = now.duration_since(modified).unwrap_or(Duration::ZERO);
                let by_us = now.duration_since(since).unwrap_or(Duration::ZERO);
                if by_mtime.max(by_us) >= settle {
                    ready.push(entry.path());
                }
            }
            current.insert(
                name,
                Seen {
                    size,
                    modified,
                    since,
                },
            );
        }
        // Forget files that left, so a new file under an old name starts over.
        *seen = current;
        ready.sort();
        Ok(ready)
    }

    /// Moves `file` into processed/ or rejected/ under a timestamped safe
    /// name, never replacing an existing file.
    ///
    /// A hard link plus unlink does the move: unlike `rename`, `link`
    /// fails when the target exists, so "never overwrite" holds even
    /// against another process. Across file systems (or where links are
    /// not supported) the file is copied to a new file, synced, and only
    /// then removed from the inbox.
    pub fn archive(&self, file: &Path, outcome: Outcome, now: i64) -> io::Result<PathBuf> {
        let original = file.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} has no file name", file.display()),
            )
        })?;
        let dir = match outcome {
            Outcome::Processed => &self.processed,
            Outcome::Rejected => &self.rejected,
        };
        let safe = safe_name(&original.to_string_lossy());
        let (stem, ext) = split_extension(&safe);
        let stamp = utc_stamp(now);
        for n in 0..10_000u32 {
            let name = if n == 0 {
                format!("{stamp}-{safe}")
            } else {
                format!("{stamp}-{stem}-{n}{ext}")
            };
            let target = dir.join(name);
            match move_no_replace(file, &target) {
                Ok(()) => {
                    sync_dir(dir);
                    sync_dir(&self.inbox);
                    return Ok(target);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("no free archive name for {safe} in {}", dir.display()),
        ))
    }

    /// Writes rejected/<safe name>.errors.csv. A newer report for the same
    /// name replaces the older one whole; a reader never sees half a file.
    pub fn write_report(&self, file_name: &str, errors: &[RowError]) -> io::Result<PathBuf> {
        let target = self
            .rejected
            .join(format!("{}.errors.csv", safe_name(file_name)));
        write_atomic(&target, |out| write_error_report(errors, out))?;
        Ok(target)
    }

    /// Writes rejected/<safe name>.error.txt: one line, so an operator can
    /// `cat` the folder and read one reason per file.
    pub fn write_failure(&self, file_name: &str, reason: &str) -> io::Result<PathBuf> {
        let target = self
            .rejected
            .join(format!("{}.error.txt", safe_name(file_name)));
        let line: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write_atomic(&target, |out| writeln!(out, "{}", line.trim()))?;
        Ok(target)
    }
}

/// Hidden files, Office lock files (`~$x.xlsx`) and the in-progress names
/// of browsers, editors and copy tools.
fn is_temporary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || TEMPORARY_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// A file name reduced to `[A-Za-z0-9._-]`, usable as one path component
/// on any file system we might be archived to (including an SMB share):
/// no separators, no leading dot or dash, no Windows device name, at most
/// 120 characters with the extension kept, never empty.
pub fn safe_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut out = mapped.trim_start_matches('.').to_string();
    if out.starts_with('-') {
        out.replace_range(..1, "_");
    }
    if out.len() > MAX_SAFE_NAME {
        // All ASCII by now, so byte slicing is on character boundaries.
        let (stem, ext) = split_extension(&out);
        out = if ext.len() <= 16 {
            format!("{}{ext}", &stem[..MAX_SAFE_NAME - ext.len()])
        } else {
            out[..MAX_SAFE_NAME].to_string()
        };
    }
    if out.is_empty() {
        return "file".to_string();
    }
    let device = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(device.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (device.len() == 4
            && (device.starts_with("COM") || device.starts_with("LPT"))
            && device.as_bytes().get(3).is_some_and(u8::is_ascii_digit));
    if reserved {
        out.insert(0, '_');
        out.truncate(MAX_SAFE_NAME);
    }
    out
}

/// `("a.b", ".csv")` for `a.b.csv`; no extension for `csv` or `.csv`.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

/// `YYYYMMDDTHHMMSSZ`: sorts as text in time order and has no `:` for
/// file systems that refuse it.
fn utc_stamp(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Moves `from` to `to`, failing with `AlreadyExists` if `to` exists.
fn move_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            if let Err(e) = fs::remove_file(from) {
                // Keep one copy, in the inbox, so the move is retried.
                let _ = fs::remove_file(to);
                return Err(e);
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(e) if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(from).is_err() => {
            Err(e)
        }
        Err(_) => copy_no_replace(from, to).and_then(|()| fs::remove_file(from)),
    }
}

fn copy_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let mut source = File::open(from)?;
    let mut target = OpenOptions::new().write(true).create_new(true).open(to)?;
    let copied = io::copy(&mut source, &mut target).and_then(|_| target.sync_all());
    if let Err(e) = copied {
        let _ = fs::remove_file(to);
        return Err(e);
    }
    Ok(())
}

/// Persists a directory's entries (a rename or link is durable only once
/// its directory is synced). Best effort: not every platform can.
fn sync_dir(dir: &Path) {
    if let Err(error) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(%error, dir = %dir.display(), "directory sync failed");
    }
}

/// Writes through a hidden temporary file in the same directory, synced,
/// then renamed over `target`: the target is the old file or the new one,
/// never a torn mix, even across a crash.
fn write_atomic(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        fs::rename(&temp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    } else {
        sync_dir(dir);
    }
    result
}

/// Wakes the ingest loop on create, modify and rename events in `dir`.
/// Events are only a hint (some file systems, like network shares, send
/// none), so the caller keeps rescanning; errors are logged, not fatal.
/// A full channel is impossible (unbounded) and a closed one means the
/// loop is shutting down, so send failures are ignored.
pub fn watch(
    dir: &Path,
    tx: std::sync::mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                if matches!(
                    event.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any
                ) {
                    let _ = tx.send(());
                }
            }
            Err(error) => tracing::warn!(%error, "inbox watcher error"),
        })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(r: io::Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn setup() -> (tempfile::TempDir, Inbox) {
        let dir = ok(tempfile::tempdir());
        let inbox = ok(Inbox::open(dir.path()));
        (dir, inbox)
    }

    /// Writes `name` in the inbox with an mtime `age` in the past.
    fn drop_file(inbox: &Inbox, name: &str, body: &[u8], age: Duration) -> PathBuf {
        let path = inbox.inbox_dir().join(name);
        ok(fs::write(&path, body));
        let file = ok(OpenOptions::new().write(true).open(&path));
        ok(file.set_modified(SystemTime::now() - age));
        path
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect()
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = ok(fs::read_dir(dir))
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    const OLD: Duration = Duration::from_secs(60);

    #[test]
    fn open_creates_the_three_folders_and_is_idempotent() {
        let (dir, _inbox) = setup();
        for sub in ["inbox", "processed", "rejected"] {
            assert!(dir.path().join(sub).is_dir());
        }
        ok(Inbox::open(dir.path()));
    }

    #[test]
    fn ready_after_two_agreeing_scans_skipping_temporary_and_hidden() {
        let (_dir, inbox) = setup();
        for name in [
            "b.csv",
            "a.csv",
            ".hidden.csv",
            "~$planilha.xlsx",
            "x.csv.tmp",
            "x.csv.PART",
            "x.partial",
            "x.crdownload",
            ".x.swp",
            "x.swp",
            "x.lock",
        ] {
            drop_file(&inbox, name, b"sku\n1\n", OLD);
        }
        ok(fs::create_dir(inbox.inbox_dir().join("sub.csv")));
        assert!(ok(inbox.ready_files(Duration::ZERO)).is_empty());
        let ready = ok(inbox.ready_files(Duration::ZERO));
        assert_eq!(names(&ready), ["a.csv", "b.csv"]);
        assert!(ready.iter().all(|p| p.parent() == Some(inbox.inbox_dir())));
    }

    #[test]
    fn a_growing_file_waits_until_it_stops() {
        let (_dir, inbox) = setup();
        let path = drop_file(&inbox, "big.csv", b"sku\n", OLD);
        let now = SystemTime::now();
        assert!(ok(inbox.ready_files_at(Duration::ZERO, now)).is_empty());
        let mut f = ok(OpenOptions::new().append(true).open(&path));
        ok(f.write_all(b"1\n"));
        // Same mtime as before, on purpose: the size alone must tell.
        ok(f.set_modified(now - OLD));
        assert!(ok(inbox.ready_files_at(Duration::ZERO, now)).is_empty());
        assert_eq!(
            names(&ok(inbox.ready_files_at(Duration::ZERO, now))),
            ["big.csv"]
        );
    }

    #[test]
    fn settle_time_counts_from_mtime_or_from_first_sight() {
        let (_dir, inbox) = setup();
        let settle = Duration::from_secs(5);
        let now = SystemTime::now();
        let path = drop_file(&inbox, "fresh.csv", b"x", Duration::ZERO);
        let f = ok(OpenOptions::new().write(true).open(&path));
        ok(f.set_modified(now));
        assert!(ok(inbox.ready_files_at(settle, now)).is_empty());
        assert!(ok(inbox.ready_files_at(settle, now + Duration::from_secs(2))).is_empty());
        assert_eq!(
            ok(inbox.ready_files_at(settle, now + Duration::from_secs(6))).len(),
            1
        );

        // An mtime in the future (clock skew): our own observation counts.
        let (_dir, inbox) = setup();
        let path = drop_file(&inbox, "skew.csv", b"x", Duration::ZERO);
        let f = ok(OpenOptions::new().write(true).open(&path));
        ok(f.set_modified(now + Duration::from_secs(3600)));
        assert!(ok(inbox.ready_files_at(settle, now)).is_empty());
        assert!(ok(inbox.ready_files_at(settle, now + Duration::from_secs(1))).is_empty());
        assert_eq!(
            ok(inbox.ready_files_at(settle, now + Duration::from_secs(6))).len(),
            1
        );
    }

    #[test]
    fn a_file_that_left_and_came_back_starts_over() {
        let (_dir, inbox) = setup();
        let path = drop_file(&inbox, "a.csv", b"x", OLD);
        ok(inbox.ready_files(Duration::ZERO));
        ok(fs::remove_file(&path));
        assert!(ok(inbox.ready_files(Duration::ZERO)).is_empty());
        drop_file(&inbox, "a.csv", b"x", OLD);
        assert!(ok(inbox.ready_files(Duration::ZERO)).is_empty());
        assert_eq!(ok(inbox.ready_files(Duration::ZERO)).len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let (dir, inbox) = setup();
        let outside = dir.path().join("secret.csv");
        ok(fs::write(&outside, b"sku\n1\n"));
        ok(std::os::unix::fs::symlink(
            &outside,
            inbox.inbox_dir().join("link.csv"),
        ));
        ok(inbox.ready_files(Duration::ZERO));
        assert!(ok(inbox.ready_files(Duration::ZERO)).is_empty());
    }

    #[test]
    fn safe_names() {
        for (name, want) in [
            ("catalogo.csv", "catalogo.csv"),
            ("../../etc/passwd", "_.._etc_passwd"),
            ("a/b.csv", "a_b.csv"),
            ("a\\b.csv", "a_b.csv"),
            ("con.csv", "_con.csv"),
            ("LPT1", "_LPT1"),
            ("console.csv", "console.csv"),
            ("Preços Março 2024.csv", "Pre_os_Mar_o_2024.csv"),
            ("...", "file"),
            ("", "file"),
            ("-rf.csv", "_rf.csv"),
            (".bashrc", "bashrc"),
            ("a\0b\nc.csv", "a_b_c.csv"),
            ("日本.csv", "__.csv"),
        ] {
            assert_eq!(safe_name(name), want, "{name:?}");
        }
        let long = format!("{}.csv", "x".repeat(300));
        let safe = safe_name(&long);
        assert_eq!(safe.len(), MAX_SAFE_NAME);
        assert!(safe.ends_with("x.csv"));
        let weird_ext = format!("a.{}", "y".repeat(300));
        assert_eq!(safe_name(&weird_ext).len(), MAX_SAFE_NAME);
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_700_000_000), "20231114T221320Z");
        assert_eq!(utc_stamp(1_709_251_199), "20240229T235959Z");
        assert_eq!(utc_stamp(-1), "19691231T235959Z");
        assert_eq!(utc_stamp(i64::MAX), "19700101T000000Z");
    }

    #[test]
    fn archive_names_collisions_and_containment() {
        let (_dir, inbox) = setup();
        let now = 1_700_000_000;
        let a = drop_file(&inbox, "lista de preços.csv", b"one", OLD);
        let first = ok(inbox.archive(&a, Outcome::Processed, now));
        assert_eq!(
            first.file_name().map(|n| n.to_string_lossy().into_owned()),
            Some("20231114T221320Z-lista_de_pre_os.csv".into())
        );
        assert!(!a.exists());
        let a = drop_file(&inbox, "lista de preços.csv", b"two", OLD);
        let second = ok(inbox.archive(&a, Outcome::Processed, now));
        let a = drop_file(&inbox, "lista_de_pre_os.csv", b"three", OLD);
        let third = ok(inbox.archive(&a, Outcome::Processed, now));
        assert_eq!(
            listing(&inbox.processed),
            [
                "20231114T221320Z-lista_de_pre_os-1.csv",
                "20231114T221320Z-lista_de_pre_os-2.csv",
                "20231114T221320Z-lista_de_pre_os.csv",
            ]
        );
        assert_eq!(ok(fs::read(&first)), b"one");
        assert_eq!(ok(fs::read(&second)), b"two");
        assert_eq!(ok(fs::read(&third)), b"three");
        assert!(listing(inbox.inbox_dir()).is_empty());

        let b = drop_file(&inbox, "con.csv", b"x", OLD);
        let rejected = ok(inbox.archive(&b, Outcome::Rejected, now));
        assert_eq!(rejected.parent(), Some(inbox.rejected.as_path()));
        let missing = inbox.archive(&b, Outcome::Rejected, now);
        assert!(missing.is_err_and(|e| e.kind() == io::ErrorKind::NotFound));
    }

    #[test]
    fn archive_never_leaves_its_folder_whatever_the_name() {
        let (dir, inbox) = setup();
        // Names a file in the inbox can really have; the path-like ones
        // ("a/b.csv", "../../etc/passwd") can only reach us as text, below.
        for name in [
            "con.csv",
            "ção ☀.csv",
            "..a..csv",
            "a\\b.csv",
            "x\ny.csv",
            "-",
        ] {
            let source = drop_file(&inbox, name, name.as_bytes(), OLD);
            let target = ok(inbox.archive(&source, Outcome::Rejected, 0));
            assert_eq!(target.parent(), Some(inbox.rejected.as_path()), "{name:?}");
            assert_eq!(ok(fs::read(&target)), name.as_bytes());
        }
        for name in [
            "..",
            "a/b.csv",
            "../../etc/passwd",
            "/etc/passwd",
            "con.csv",
            "C:\\x.csv",
        ] {
            let report = ok(inbox.write_report(name, &[]));
            assert_eq!(report.parent(), Some(inbox.rejected.as_path()), "{name:?}");
            let failure = ok(inbox.write_failure(name, "x"));
            assert_eq!(failure.parent(), Some(inbox.rejected.as_path()), "{name:?}");
        }
        let no_name = inbox.archive(&inbox.inbox_dir().join(".."), Outcome::Rejected, 0);
        assert!(no_name.is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput));
        assert_eq!(listing(dir.path()), ["inbox", "processed", "rejected"]);
        assert!(listing(inbox.inbox_dir()).is_empty());
        assert!(listing(&inbox.rejected).iter().all(|n| !n.starts_with('.')));
    }

    #[test]
    fn archive_falls_back_to_copy_when_linking_fails() {
        let (dir, inbox) = setup();
        let from = dir.path().join("x.csv");
        ok(fs::write(&from, b"data"));
        let to = inbox.processed.join("copy.csv");
        ok(copy_no_replace(&from, &to));
        assert_eq!(ok(fs::read(&to)), b"data");
        let again = copy_no_replace(&from, &to);
        assert!(again.is_err_and(|e| e.kind() == io::ErrorKind::AlreadyExists));
        assert_eq!(ok(fs::read(&to)), b"data");
    }

    #[test]
    fn report_is_written_atomically() {
        let (_dir, inbox) = setup();
        let error = RowError {
            line: 3,
            column: "Preço".into(),
            value: "=1+1".into(),
            reason: "not a number".into(),
            field: None,
        };
        let path = ok(inbox.write_report("../lista.csv", &[error.clone(), error]));
        assert_eq!(
            path.file_name().map(|n| n.to_string_lossy().into_owned()),
            Some("_lista.csv.errors.csv".into())
        );
        let body = ok(fs::read(&path));
        assert!(body.starts_with(b"\xEF\xBB\xBFline,column,value,reason\r\n3,Pre"));
        assert!(String::from_utf8_lossy(&body).contains("'=1+1"));

        // A newer report replaces the old one whole.
        ok(inbox.write_report("../lista.csv", &[]));
        assert_eq!(
            ok(fs::read(&path)),
            b"\xEF\xBB\xBFline,column,value,reason\r\n"
        );

        // A write that fails half-way leaves the previous report and no
        // temporary file behind.
        let failed = write_atomic(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(
            ok(fs::read(&path)),
            b"\xEF\xBB\xBFline,column,value,reason\r\n"
        );
        assert_eq!(listing(&inbox.rejected), ["_lista.csv.errors.csv"]);
    }

    #[test]
    fn failure_reason_is_one_line() {
        let (_dir, inbox) = setup();
        let path = ok(inbox.write_failure("vazio.csv", "empty file\nno header\r"));
        assert!(path.ends_with("rejected/vazio.csv.error.txt"));
        assert_eq!(ok(fs::read_to_string(&path)), "empty file no header\n");
    }

    #[test]
    fn watcher_reports_a_new_file() {
        let (_dir, inbox) = setup();
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = ok(watch(inbox.inbox_dir(), tx).map_err(io::Error::other));
        ok(fs::write(inbox.inbox_dir().join("new.csv"), b"sku\n"));
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
        drop(watcher);
    }
}
