//! The graph file: one header and the [`FrozenGraph`] body, written
//! atomically and checked in full when opened.
//!
//! Layout (version 1, little-endian `u32` words): a 16-word header (see
//! [`header`]) then the body exactly as the graph holds it in memory, so
//! saving is one sequential write and opening maps the file and uses the
//! body in place.
//!
//! Opening maps the file (`memmap2`) instead of reading it into a heap
//! buffer: a 1M-node graph then costs no heap copy, its pages are page
//! cache the kernel may evict under pressure, and reading the file no
//! longer needs twice its size in memory. The guarantees of the read-in
//! version are kept in full: the format has a single checksum over the
//! header and the whole body (no per-section checks), so `open` still
//! hashes every mapped word, then checks every index, before the graph is
//! used. That pass touches every page anyway, so the map is populated
//! up front.
//!
//! Mapping is sound only if nobody changes the file while it is mapped.
//! Helio never writes a graph file in place: [`FrozenGraph::save`] writes a
//! temporary file and renames it over the target, and segment files have
//! fresh names, so a mapping keeps its old, complete inode even if the path
//! is replaced or deleted. Another process truncating the file in place
//! would make searches fault (SIGBUS), as it would for the vector arena,
//! which is mapped too; one rewriting it in place after the checks could at
//! worst make a search panic on a bounds check, never read out of bounds.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

use super::frozen::{Body, FrozenGraph, Meta};
use super::{corrupt, GraphError, HNSW_MAX_LAYERS};
use crate::engine::types::Distance;

const MAGIC: [u8; 8] = *b"HELIOHNS";
const VERSION: u32 = 1;
const HEADER_WORDS: usize = 16;
const HEADER_BYTES: usize = HEADER_WORDS * 4;
/// Header words covered by the checksum (everything before it).
const HASHED_HEADER_WORDS: usize = 12;

fn distance_code(d: Distance) -> u32 {
    match d {
        Distance::Cosine => 0,
        Distance::Euclid => 1,
        Distance::Dot => 2,
        Distance::Manhattan => 3,
    }
}

fn distance_from_code(code: u32) -> Option<Distance> {
    Some(match code {
        0 => Distance::Cosine,
        1 => Distance::Euclid,
        2 => Distance::Dot,
        3 => Distance::Manhattan,
        _ => return None,
    })
}

/// File header (64 bytes, little-endian words): magic (2), version,
/// distance, dim, m, ef_construct, n, entry, max_level, body words (2),
/// checksum (2) of header words 0..12 and the body, reserved (2).
fn header(meta: &Meta, body_words: usize) -> [u32; HEADER_WORDS] {
    let mut h = [0u32; HEADER_WORDS];
    h[0] = u32::from_le_bytes(MAGIC[..4].try_into().unwrap());
    h[1] = u32::from_le_bytes(MAGIC[4..].try_into().unwrap());
    h[2] = VERSION;
    h[3] = distance_code(meta.distance);
    h[4] = meta.dim as u32;
    h[5] = meta.m as u32;
    h[6] = meta.ef_construct as u32;
    h[7] = meta.n as u32;
    h[8] = meta.entry;
    h[9] = meta.max_level as u32;
    h[10] = body_words as u32;
    h[11] = (body_words as u64 >> 32) as u32;
    h
}

/// A fast non-cryptographic checksum over words: four independent
/// multiply-rotate lanes (so it runs at memory speed), then a splitmix
/// finaliser. It catches torn writes and bit rot, not tampering.
fn checksum(parts: &[&[u32]]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lanes = [
        0x243f_6a88_85a3_08d3u64,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut len = 0u64;
    for part in parts {
        len += part.len() as u64;
        let mut chunks = part.chunks_exact(8);
        for c in &mut chunks {
            for (i, lane) in lanes.iter_mut().enumerate() {
                let w = c[2 * i] as u64 | (c[2 * i + 1] as u64) << 32;
                *lane = (*lane ^ w).wrapping_mul(K).rotate_left(29);
            }
        }
        for &w in chunks.remainder() {
            lanes[0] = (lanes[0] ^ w as u64).wrapping_mul(K).rotate_left(29);
        }
    }
    let mut h = len.wrapping_mul(K);
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K).rotate_left(31);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn write_words(out: &mut impl Write, words: &[u32]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    for chunk in words.chunks(16 * 1024) {
        buf.clear();
        chunk
            .iter()
            .for_each(|w| buf.extend_from_slice(&w.to_le_bytes()));
        out.write_all(&buf)?;
    }
    Ok(())
}

/// A graph file mapped read-only: the body is used in place, after the
/// header.
pub(super) struct MappedBody {
    map: Mmap,
}

impl MappedBody {
    /// Gives the map back where its bytes cannot serve as words in place:
    /// on a big-endian host (the file is little-endian), or if the body is
    /// misaligned (never, as maps are page-aligned).
    fn new(map: Mmap) -> Result<MappedBody, Mmap> {
        let usable = cfg!(target_endian = "little")
            && map.len() >= HEADER_BYTES
            && (map.len() - HEADER_BYTES).is_multiple_of(4)
            && (map.as_ptr() as usize + HEADER_BYTES).is_multiple_of(std::mem::align_of::<u32>());
        if usable {
            Ok(MappedBody { map })
        } else {
            Err(map)
        }
    }

    #[inline]
    pub(super) fn words(&self) -> &[u32] {
        let body = &self.map[HEADER_BYTES..];
        // SAFETY: `new` checked that the body is u32-aligned, a whole number
        // of words, and in the host's byte order; every bit pattern is a
        // valid u32; the slice borrows the map. The file is not changed
        // while mapped (module docs).
        unsafe { std::slice::from_raw_parts(body.as_ptr().cast::<u32>(), body.len() / 4) }
    }
}

impl FrozenGraph {
    /// Writes the graph to `path` atomically: a temporary file beside it,
    /// fsync, rename over `path`, fsync of the directory. A crash leaves
    /// either the old file or the new one, and a reader that has the old
    /// one mapped keeps it intact.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut head = header(&self.meta, self.words.len());
        let sum = checksum(&[&head[..HASHED_HEADER_WORDS], &self.words[..]]);
        head[12] = sum as u32;
        head[13] = (sum >> 32) as u32;
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        {
            let file = File::create(&tmp)?;
            let mut out = io::BufWriter::with_capacity(1 << 20, file);
            write_words(&mut out, &head)?;
            write_words(&mut out, &self.words[..])?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Opens a graph saved by [`save`](Self::save), checking its header,
    /// checksum and every index; a truncated or corrupt file is an error.
    /// `distance` is the collection's: a graph built for another one is an
    /// error. The body stays mapped from the file (on little-endian hosts;
    /// elsewhere it is decoded into memory); see the module docs.
    pub fn open(path: &Path, distance: Distance) -> Result<FrozenGraph, GraphError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < HEADER_BYTES as u64 || !len.is_multiple_of(4) {
            return Err(corrupt(format!("file length {len}")));
        }
        // SAFETY: graph files are never written in place (module docs).
        let map = unsafe { MmapOptions::new().populate().map(&file)? };
        if map.len() as u64 != len {
            return Err(corrupt("file changed while opening"));
        }
        let mut head = [0u32; HEADER_WORDS];
        for (w, b) in head.iter_mut().zip(map[..HEADER_BYTES].chunks_exact(4)) {
            *w = u32::from_le_bytes(b.try_into().unwrap());
        }
        if head[..2] != header(&Meta::EMPTY, 0)[..2] {
            return Err(corrupt("not a helio graph file"));
        }
        if head[2] != VERSION {
            return Err(corrupt(format!("version {}", head[2])));
        }
        let body_words = head[10] as u64 | (head[11] as u64) << 32;
        let file_words = (len - HEADER_BYTES as u64) / 4;
        if body_words != file_words {
            return Err(corrupt(format!(
                "header says {body_words} body words, file has {file_words}"
            )));
        }
        let body = match MappedBody::new(map) {
            Ok(mapped) => Body::Mapped(mapped),
            Err(map) => Body::Heap(
                map[HEADER_BYTES..]
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            ),
        };
        let sum = checksum(&[&head[..HASHED_HEADER_WORDS], &body[..]]);
        if sum != (head[12] as u64 | (head[13] as u64) << 32) {
            return Err(corrupt("checksum mismatch"));
        }
        let meta = Meta {
            distance: distance_from_code(head[3]).ok_or_else(|| corrupt("distance code"))?,
            dim: head[4] as usize,
            m: head[5] as usize,
            ef_construct: head[6] as usize,
            n: head[7] as usize,
            entry: head[8],
            max_level: head[9] as usize,
        };
        if meta.distance != distance {
            return Err(GraphError::DistanceMismatch {
                expected: distance,
                found: meta.distance,
            });
        }
        if meta.max_level >= HNSW_MAX_LAYERS * 4 {
            return Err(corrupt("level count"));
        }
        FrozenGraph::from_body(meta, body)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{GraphBuilder, GraphParams};
    use super::*;
    use crate::engine::types::Offset;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn save_open_round_trip_and_corruption() {
        let d = Distance::Euclid;
        let rows = data(2_000, 5, d);
        let queries = data(20, 6, d);
        let (src, g) = graph(&rows, d);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("graph.hnsw");
        g.save(&path).unwrap();
        let back = FrozenGraph::open(&path, d).unwrap();
        assert_eq!(back.len(), g.len());
        assert_eq!(back.params(), g.params());
        assert_eq!(back.distance(), d);
        assert_eq!(back.dim(), DIM);
        assert_eq!(back.max_level(), g.max_level());
        assert_eq!(back.offsets(), g.offsets());
        assert_eq!(back.words[..], g.words[..]);
        for q in &queries {
            assert_eq!(
                g.search(&src, q, 10, 32, None),
                back.search(&src, q, 10, 32, None)
            );
        }
        // Concurrent searches share the scratch pool and agree with serial ones.
        let serial: Vec<_> = queries
            .iter()
            .map(|q| g.search(&src, q, 10, 32, None))
            .collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for (q, want) in queries.iter().zip(&serial) {
                        assert_eq!(&back.search(&src, q, 10, 32, None), want);
                    }
                });
            }
        });

        let bytes = fs::read(&path).unwrap();
        let bad = dir.path().join("bad.hnsw");
        // Truncated anywhere, or a flipped bit in the header or body.
        for cut in [0, 10, 64, bytes.len() / 2, bytes.len() - 4] {
            fs::write(&bad, &bytes[..cut]).unwrap();
            assert!(FrozenGraph::open(&bad, d).is_err(), "truncated at {cut}");
        }
        for at in [3, 20, 70, bytes.len() / 3, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            fs::write(&bad, &flipped).unwrap();
            assert!(
                matches!(FrozenGraph::open(&bad, d), Err(GraphError::Corrupt(_))),
                "flip at {at}"
            );
        }
        assert!(matches!(
            FrozenGraph::open(&dir.path().join("missing"), d),
            Err(GraphError::Io(_))
        ));
        assert!(matches!(
            FrozenGraph::open(&path, Distance::Cosine),
            Err(GraphError::DistanceMismatch { .. })
        ));
    }

    /// The on-disk format is version 1 as before the split: magic, version
    /// and body length where they were, body words as the graph holds them.
    #[test]
    fn file_layout_is_version_one() {
        let rows = data(200, 9, Distance::Dot);
        let (_, g) = graph(&rows, Distance::Dot);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.hnsw");
        g.save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"HELIOHNS");
        let word = |i: usize| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(word(2), 1);
        assert_eq!(word(3), 2, "Dot's code");
        assert_eq!(word(7) as usize, rows.len());
        assert_eq!(word(10) as usize, g.words.len());
        assert_eq!(bytes.len(), HEADER_BYTES + 4 * g.words.len());
        assert!((0..g.words.len()).all(|i| word(HEADER_WORDS + i) == g.words[i]));
    }

    /// An opened graph is mapped, not copied, and stays valid when its path
    /// is saved over (rename) or deleted, as segment replacement does.
    #[test]
    fn open_maps_the_file_and_survives_replacement() {
        let d = Distance::Cosine;
        let rows = data(1_000, 10, d);
        let (src, g) = graph(&rows, d);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.hnsw");
        g.save(&path).unwrap();
        let back = FrozenGraph::open(&path, d).unwrap();
        if cfg!(target_endian = "little") {
            assert!(matches!(back.words, Body::Mapped(_)));
            assert_eq!(back.mapped_bytes(), g.words.len() * 4);
            assert!(back.memory_bytes() < g.memory_bytes() / 4);
        }
        assert_eq!(g.mapped_bytes(), 0);
        let want: Vec<_> = rows[..50]
            .iter()
            .map(|q| g.search(&src, q, 5, 32, None))
            .collect();
        // Another graph saved over the same path, then the path removed.
        let (_, other) = graph(&rows[..500], d);
        other.save(&path).unwrap();
        assert_eq!(FrozenGraph::open(&path, d).unwrap().len(), 500);
        #[cfg(unix)]
        fs::remove_file(&path).unwrap();
        for (q, want) in rows[..50].iter().zip(&want) {
            assert_eq!(&back.search(&src, q, 5, 32, None), want);
        }
    }

    #[test]
    fn empty_graph_round_trip() {
        let d = Distance::Dot;
        let empty = GraphBuilder::new(GraphParams::default(), d, DIM, 0).freeze();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.hnsw");
        empty.save(&path).unwrap();
        let back = FrozenGraph::open(&path, d).unwrap();
        assert!(back.is_empty());
        assert!(back
            .search(&vec![vec![1.0; DIM]], &[1.0; DIM], 5, 16, None)
            .is_empty());
    }

    /// `cargo test --release -- --ignored open_million`: a 1M-node graph
    /// with 32 links per node round-trips through the file; the time it
    /// took to open is printed (a measurement, not an assertion).
    #[test]
    #[ignore = "builds a 136 MB file; run by hand in release to see the open time"]
    fn open_million_points_quickly() {
        let n = 1_000_000usize;
        let mut rng = StdRng::seed_from_u64(11);
        let level0: Vec<Vec<u32>> = (0..n)
            .map(|_| (0..32).map(|_| rng.gen_range(0..n as u32)).collect())
            .collect();
        let offsets: Vec<Offset> = (0..n as Offset).collect();
        let levels = vec![0usize; n];
        let meta = Meta {
            distance: Distance::Cosine,
            dim: 384,
            m: 16,
            ef_construct: 100,
            n,
            entry: 0,
            max_level: 0,
        };
        let g = FrozenGraph::assemble(meta, &offsets, &levels, vec![level0]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.hnsw");
        g.save(&path).unwrap();
        drop(g);
        let t = std::time::Instant::now();
        let back = FrozenGraph::open(&path, Distance::Cosine).unwrap();
        let took = t.elapsed();
        eprintln!(
            "opened {} nodes, {} bytes in {took:?}; heap {} bytes, mapped {}",
            back.len(),
            fs::metadata(&path).unwrap().len(),
            back.memory_bytes(),
            back.mapped_bytes()
        );
        assert_eq!(back.len(), n);
        eprintln!("opened a 1M-node graph in {took:?}");
    }
}
