//! The background optimizer: one thread per collection that turns the
//! unindexed tail into graph segments, rebuilds segments whose deleted
//! share passed `deleted_threshold` or whose hnsw parameters changed, and
//! merges segments when there are too many.
//!
//! Graph construction never holds the collection's locks: it reads vectors
//! from the arena (append-only, so always safe to read) and takes the write
//! lock only to swap the finished segment in. Searches keep running on the
//! old segments meanwhile.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;

use super::collection::Collection;
use super::error::Result;
use super::hnsw::{Builder, GraphParams};
use super::points::Segment;
use super::storage::{sync_dir, Arena};
use super::types::{Distance, Offset};

/// A builder kept alive after its last freeze, so a stream of uploads grows
/// one segment instead of creating many small ones.
struct Appendable {
    builder: Builder,
    segment_id: String,
    built_with: (usize, usize),
    last_used: Instant,
}

/// How long an idle builder (and its copy of the vectors) is kept.
const BUILDER_IDLE: Duration = Duration::from_secs(20);
/// Segment count past which the two smallest are merged, when the
/// collection's `default_segment_number` is 0 (auto).
const AUTO_MAX_SEGMENTS: usize = 4;
/// Writes closer together than this count as one stream.
const STREAMING: Duration = Duration::from_secs(1);

pub fn spawn(collection: Weak<Collection>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("helio-optimizer".into())
        .spawn(move || run(collection))
        .expect("spawn optimizer thread")
}

fn run(weak: Weak<Collection>) {
    // One appendable builder per dense vector name.
    let mut appendable: HashMap<String, Appendable> = HashMap::new();
    loop {
        let Some(collection) = weak.upgrade() else {
            return;
        };
        if collection.stopped.load(Ordering::SeqCst) {
            return;
        }
        collection.optimizing.store(true, Ordering::SeqCst);
        let worked = match step_all(&collection, &mut appendable) {
            Ok(worked) => worked,
            Err(e) => {
                tracing::error!(collection = %collection.name, error = %e, "optimizer step failed");
                false
            }
        };
        collection.optimizing.store(false, Ordering::SeqCst);
        let before = appendable.len();
        appendable.retain(|_, a| a.last_used.elapsed() <= BUILDER_IDLE);
        if appendable.len() < before {
            release_memory();
        }
        if worked {
            continue;
        }
        let (lock, cvar) = &collection.wake;
        let mut pending = lock.lock();
        if !*pending {
            cvar.wait_for(&mut pending, Duration::from_secs(1));
        }
        *pending = false;
    }
}

/// Does one unit of work on the first dense vector that has some.
fn step_all(c: &Arc<Collection>, appendable: &mut HashMap<String, Appendable>) -> Result<bool> {
    let names: Vec<String> = c.points.read().dense.keys().cloned().collect();
    appendable.retain(|name, _| names.contains(name));
    for name in names {
        let mut slot = appendable.remove(&name);
        let worked = step(c, &name, &mut slot)?;
        if let Some(a) = slot {
            appendable.insert(name, a);
        }
        if worked {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Does one unit of work on dense vector `name`; returns whether there was any.
fn step(c: &Arc<Collection>, name: &str, appendable: &mut Option<Appendable>) -> Result<bool> {
    let config = c.config();
    let Some(vector) = config.dense_params(name).cloned() else {
        return Ok(false);
    };
    let hnsw = config.graph_hnsw(name);
    let params = (hnsw.m, hnsw.ef_construct);
    let distance = vector.distance;
    let graph_params = GraphParams {
        m: hnsw.m,
        ef_construct: hnsw.ef_construct,
    };
    let max_segment_points = config
        .optimizer_config
        .max_segment_size
        .map(|kb| (kb.saturating_mul(1024) / (vector.size * 4)).max(1))
        .unwrap_or(usize::MAX);

    let Some((segments, live, tail, arena)) = ({
        let p = c.points.read();
        p.dense.get(name).map(|s| {
            (
                s.segments.clone(),
                s.present.clone(),
                s.tail.clone(),
                s.arena.clone(),
            )
        })
    }) else {
        return Ok(false);
    };
    let space = Space {
        name,
        arena: &arena,
        distance,
    };

    // 1. Segments built with other hnsw parameters, or with too many deleted points.
    let opt = &config.optimizer_config;
    let stale = segments.iter().find(|s| {
        s.built_with != params
            || (s.members.len() as usize >= opt.vacuum_min_vector_number
                && s.deleted_share(&live) > opt.deleted_threshold)
    });
    if let Some(stale) = stale {
        if appendable
            .as_ref()
            .is_some_and(|a| a.segment_id == stale.id)
        {
            *appendable = None;
        }
        let members = &stale.members & &live;
        tracing::info!(collection = %c.name, segment = %stale.id, points = members.len(), "rebuilding segment");
        rebuild(
            c,
            &space,
            std::slice::from_ref(&stale.id),
            &members,
            graph_params,
            params,
        )?;
        return Ok(true);
    }

    // 2. Index the tail once it passes the indexing threshold.
    if let Some(threshold) = config.indexing_threshold_points(name) {
        // While writes stream in, let the tail grow with the graph (1/8 of
        // it) before each incremental insert, so a bulk load does not
        // freeze and save a large graph every few thousand points.
        let streaming = c.last_write.lock().elapsed() < STREAMING;
        let trigger = match appendable.as_ref() {
            Some(a) if streaming => threshold.max(a.builder.len() / 8),
            _ => threshold,
        };
        if tail.len() as usize >= trigger {
            let reuse = appendable.take().filter(|a| {
                a.built_with == params
                    && a.builder.len() + tail.len() as usize <= max_segment_points
            });
            let (builder, id, replaces) = match reuse {
                Some(a) => (a.builder, a.segment_id.clone(), vec![a.segment_id]),
                None => (
                    Builder::new(
                        c.options.builder,
                        graph_params,
                        distance,
                        vector.size,
                        tail.len() as usize,
                    ),
                    new_id(),
                    Vec::new(),
                ),
            };
            tracing::debug!(collection = %c.name, points = tail.len(), segment = %id, "indexing tail");
            insert(&space, &builder, &tail)?;
            install(
                c,
                &space,
                &replaces,
                Some((id, builder, params)),
                appendable,
            )?;
            return Ok(true);
        }
    }

    // 3. Too many segments: merge the two smallest.
    let max_segments = match opt.default_segment_number {
        0 => AUTO_MAX_SEGMENTS,
        n => n,
    };
    if segments.len() > max_segments {
        let mut by_size: Vec<&Arc<Segment>> = segments.iter().collect();
        by_size.sort_by_key(|s| s.members.intersection_len(&live));
        let (a, b) = (by_size[0], by_size[1]);
        if appendable
            .as_ref()
            .is_some_and(|x| x.segment_id == a.id || x.segment_id == b.id)
        {
            *appendable = None;
        }
        let members = (&a.members | &b.members) & &live;
        tracing::info!(collection = %c.name, points = members.len(), "merging segments");
        rebuild(
            c,
            &space,
            &[a.id.clone(), b.id.clone()],
            &members,
            graph_params,
            params,
        )?;
        return Ok(true);
    }
    Ok(false)
}

/// The dense vector an optimizer step works on.
struct Space<'a> {
    name: &'a str,
    arena: &'a Arena,
    distance: Distance,
}

/// Replaces `replaces` by one segment over `members` (none if empty).
fn rebuild(
    c: &Collection,
    space: &Space<'_>,
    replaces: &[String],
    members: &RoaringBitmap,
    graph_params: GraphParams,
    params: (usize, usize),
) -> Result<()> {
    let built = if members.is_empty() {
        None
    } else {
        let builder = Builder::new(
            c.options.builder,
            graph_params,
            space.distance,
            space.arena.dim(),
            members.len() as usize,
        );
        insert(space, &builder, members)?;
        Some((new_id(), builder, params))
    };
    install(c, space, replaces, built, &mut None)?;
    release_memory();
    Ok(())
}

/// Hands the heap pages of a dropped builder (and its copy of the vectors)
/// back to the OS; glibc would otherwise keep them for reuse, and the
/// process would look as if it held every vector twice.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn insert(space: &Space<'_>, builder: &Builder, offsets: &RoaringBitmap) -> Result<()> {
    const CHUNK: usize = 4096;
    let offsets: Vec<Offset> = offsets.iter().collect();
    for chunk in offsets.chunks(CHUNK) {
        let items: Vec<(Offset, &[f32])> = chunk.iter().map(|&o| (o, space.arena.get(o))).collect();
        builder.insert(&items);
    }
    Ok(())
}

/// Freezes the builder into a segment, persists it, and swaps it in for
/// the segments in `replaces` (with `built` = None they are just dropped).
/// Keeps the builder as the appendable one when `appendable` is given.
fn install(
    c: &Collection,
    space: &Space<'_>,
    replaces: &[String],
    built: Option<(String, Builder, (usize, usize))>,
    appendable: &mut Option<Appendable>,
) -> Result<()> {
    let seg_dir = c.dir.join("segments");
    let mut new_segment = None;
    if let Some((id, builder, built_with)) = built {
        let graph = builder.freeze();
        graph.save(&seg_dir.join(format!("{id}.hnsw")))?;
        sync_dir(&seg_dir)?;
        let members: RoaringBitmap = graph.offsets().iter().copied().collect();
        new_segment = Some(Arc::new(Segment {
            id: id.clone(),
            graph,
            members,
            built_with,
        }));
        *appendable = Some(Appendable {
            builder,
            segment_id: id,
            built_with,
            last_used: Instant::now(),
        });
    }
    let new_id = new_segment.as_ref().map(|s| s.id.clone());
    {
        let mut points = c.points.write();
        let Some(dense) = points.dense.get_mut(space.name) else {
            // The vector was dropped while its graph was being built.
            return Ok(());
        };
        let old = std::mem::take(&mut dense.segments);
        let mut list: Vec<Arc<Segment>> = old
            .iter()
            .filter(|s| !replaces.contains(&s.id) && Some(&s.id) != new_id.as_ref())
            .cloned()
            .collect();
        list.extend(new_segment.clone());
        dense.segments = list;
        // Durable first: a crash from here on reopens with the new list.
        if let Err(e) = c.save_segments_meta(&points) {
            if let Some(dense) = points.dense.get_mut(space.name) {
                dense.segments = old;
            }
            return Err(e);
        }
        if let (Some(segment), Some(dense)) = (&new_segment, points.dense.get_mut(space.name)) {
            dense.tail -= &segment.members;
        }
    }
    for old in replaces.iter().filter(|r| Some(*r) != new_id.as_ref()) {
        let _ = std::fs::remove_file(seg_dir.join(format!("{old}.hnsw")));
    }
    Ok(())
}
