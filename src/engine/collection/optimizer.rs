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

use crate::engine::collection::points::Segment;
use crate::engine::collection::Collection;
use crate::engine::config::OptimizersConfig;
use crate::engine::error::{EngineError, Result};
use crate::engine::index::hnsw::{Builder, GraphParams};
use crate::engine::storage::{sync_dir, Arena};
use crate::engine::types::{Distance, Offset};

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
    let stale = segments
        .iter()
        .find_map(|s| stale_reason(s, params, &live, opt).map(|why| (s, why)));
    if let Some((stale, why)) = stale {
        if appendable
            .as_ref()
            .is_some_and(|a| a.segment_id == stale.id)
        {
            *appendable = None;
        }
        let members = &stale.members & &live;
        tracing::info!(collection = %c.name, segment = %stale.id, points = members.len(), "rebuilding segment");
        let id = new_id();
        let inputs = vec![segment_info(&stale.id, members.len())];
        tracked(c, name, why, &id, inputs, || {
            rebuild(
                c,
                &space,
                std::slice::from_ref(&stale.id),
                &members,
                graph_params,
                params,
                id.clone(),
            )
        })?;
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
            // Only a builder whose segment is still this vector's (a vector
            // dropped and added again starts over).
            let reuse = appendable.take().filter(|a| {
                segments.iter().any(|s| s.id == a.segment_id)
                    && a.built_with == params
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
            let mut inputs: Vec<SegmentInfo> = segments
                .iter()
                .filter(|s| replaces.contains(&s.id))
                .map(|s| segment_info(&s.id, s.members.intersection_len(&live)))
                .collect();
            inputs.push(tail_info(c, name, tail.len()));
            tracked(c, name, "indexing", &id.clone(), inputs, || {
                insert(&space, &builder, &tail)?;
                install(
                    c,
                    &space,
                    &replaces,
                    Some((id, builder, params)),
                    appendable,
                )
            })?;
            return Ok(true);
        }
    }

    // 3. Too many segments: merge the two smallest.
    if segments.len() > max_segments(opt) {
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
        let id = new_id();
        let inputs = vec![
            segment_info(&a.id, a.members.intersection_len(&live)),
            segment_info(&b.id, b.members.intersection_len(&live)),
        ];
        tracked(c, name, "merge", &id, inputs, || {
            rebuild(
                c,
                &space,
                &[a.id.clone(), b.id.clone()],
                &members,
                graph_params,
                params,
                id.clone(),
            )
        })?;
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
    id: String,
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
        Some((id, builder, params))
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
        let Some(dense) = points
            .dense
            .get_mut(space.name)
            .filter(|d| std::ptr::eq(d.arena.as_ref(), space.arena))
        else {
            // The vector was dropped (and maybe added again) while its
            // graph was being built.
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

/// Why segment `s` must be rebuilt, in Qdrant's optimizer names: built
/// with other hnsw parameters (`config_mismatch`) or holding too many
/// deleted points (`vacuum`).
fn stale_reason(
    s: &Segment,
    params: (usize, usize),
    live: &RoaringBitmap,
    opt: &OptimizersConfig,
) -> Option<&'static str> {
    if s.built_with != params {
        Some("config_mismatch")
    } else if s.members.len() as usize >= opt.vacuum_min_vector_number
        && s.deleted_share(live) > opt.deleted_threshold
    {
        Some("vacuum")
    } else {
        None
    }
}

fn max_segments(opt: &OptimizersConfig) -> usize {
    match opt.default_segment_number {
        0 => AUTO_MAX_SEGMENTS,
        n => n,
    }
}

/// A segment as the optimizations route lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub id: uuid::Uuid,
    /// Live points in it.
    pub points: u64,
}

/// Graph segments are named by a UUID (in its simple form) when created.
fn segment_info(id: &str, points: u64) -> SegmentInfo {
    let id = uuid::Uuid::try_parse(id).unwrap_or_else(|_| derived_uuid(id));
    SegmentInfo { id, points }
}

/// The unindexed tail of a dense vector, which Qdrant would call its
/// appendable segment. It has no id of its own; this one is stable for
/// the life of the collection's directory.
fn tail_info(c: &Collection, vector: &str, points: u64) -> SegmentInfo {
    SegmentInfo {
        id: derived_uuid(&format!("{}\0tail\0{vector}", c.dir.display())),
        points,
    }
}

fn derived_uuid(key: &str) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[derive(Debug, Clone, PartialEq)]
pub enum OptimizationState {
    Running,
    Done,
    Failed(String),
}

/// One optimisation the optimizer ran or is running.
#[derive(Debug, Clone)]
pub struct Optimization {
    /// The segment it creates (or grows, when indexing appends to one).
    pub id: uuid::Uuid,
    /// `indexing`, `vacuum`, `config_mismatch` or `merge`.
    pub optimizer: &'static str,
    /// The dense vector whose graph it builds.
    pub vector: String,
    /// The segments it replaces (the tail, for indexing).
    pub segments: Vec<SegmentInfo>,
    pub started: chrono::DateTime<chrono::Utc>,
    pub finished: Option<chrono::DateTime<chrono::Utc>>,
    pub state: OptimizationState,
}

/// An optimisation the optimizer would start next, as far as its rules
/// say from the collection's present state.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingOptimization {
    pub optimizer: &'static str,
    pub segments: Vec<SegmentInfo>,
}

/// What `GET /collections/{c}/optimizations` reports.
#[derive(Debug, Clone)]
pub struct OptimizationsReport {
    pub running: Vec<Optimization>,
    pub queued: Vec<PendingOptimization>,
    /// Newest first.
    pub completed: Vec<Optimization>,
    /// Segments no rule wants to touch.
    pub idle: Vec<SegmentInfo>,
}

/// Completed optimisations kept per collection.
const COMPLETED_KEPT: usize = 64;

/// The optimizer's record of its work, in the collection.
#[derive(Debug, Default)]
pub struct Tracker {
    running: Option<Optimization>,
    completed: std::collections::VecDeque<Optimization>,
}

/// Runs `work` as optimisation `optimizer` of `vector`, recorded as running
/// meanwhile and as completed (or failed) after.
fn tracked<T>(
    c: &Collection,
    vector: &str,
    optimizer: &'static str,
    id: &str,
    segments: Vec<SegmentInfo>,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    c.tracker.lock().running = Some(Optimization {
        id: segment_info(id, 0).id,
        optimizer,
        vector: vector.to_string(),
        segments,
        started: chrono::Utc::now(),
        finished: None,
        state: OptimizationState::Running,
    });
    let result = work();
    let mut tracker = c.tracker.lock();
    if let Some(mut done) = tracker.running.take() {
        done.finished = Some(chrono::Utc::now());
        done.state = match &result {
            Ok(_) => OptimizationState::Done,
            // Like an HTTP 500, the detail goes to the log, not to clients.
            Err(EngineError::Storage(_)) => {
                OptimizationState::Failed("storage failure (see server log)".into())
            }
            Err(e) => OptimizationState::Failed(e.to_string()),
        };
        tracker.completed.push_front(done);
        tracker.completed.truncate(COMPLETED_KEPT);
    }
    result
}

/// The optimizer's running and completed work, and an estimate of what it
/// will do next, from the rules [`step`] applies.
pub fn report(c: &Collection) -> OptimizationsReport {
    let (running, completed) = {
        let t = c.tracker.lock();
        (
            t.running.iter().cloned().collect::<Vec<_>>(),
            t.completed.iter().cloned().collect(),
        )
    };
    let busy: Vec<uuid::Uuid> = running
        .iter()
        .flat_map(|r| r.segments.iter().map(|s| s.id))
        .collect();
    let config = c.config();
    let opt = &config.optimizer_config;
    let mut queued = Vec::new();
    let mut idle = Vec::new();
    let points = c.points.read();
    for (name, space) in &points.dense {
        let hnsw = config.graph_hnsw(name);
        let params = (hnsw.m, hnsw.ef_construct);
        let live = &space.present;
        let mut calm = Vec::new();
        for s in &space.segments {
            let info = segment_info(&s.id, s.members.intersection_len(live));
            if busy.contains(&info.id) {
                continue;
            }
            match stale_reason(s, params, live, opt) {
                Some(why) => queued.push(PendingOptimization {
                    optimizer: why,
                    segments: vec![info],
                }),
                None => calm.push(info),
            }
        }
        let excess = space.segments.len().saturating_sub(max_segments(opt));
        if excess > 0 {
            // Each merge takes the two smallest segments.
            calm.sort_by_key(|s| s.points);
            for _ in 0..excess {
                if calm.len() < 2 {
                    break;
                }
                queued.push(PendingOptimization {
                    optimizer: "merge",
                    segments: calm.drain(..2).collect(),
                });
            }
        }
        idle.extend(calm);
        let tail = tail_info(c, name, space.tail.len());
        if tail.points == 0 || busy.contains(&tail.id) {
            continue;
        }
        let due = config
            .indexing_threshold_points(name)
            .is_some_and(|threshold| tail.points as usize >= threshold);
        if due {
            queued.push(PendingOptimization {
                optimizer: "indexing",
                segments: vec![tail],
            });
        } else {
            idle.push(tail);
        }
    }
    OptimizationsReport {
        running,
        queued,
        completed,
        idle,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::engine::collection::PointInsert;
    use crate::engine::config::{CollectionConfig, ConfigUpdate, HnswConfigDiff, VectorParams};
    use crate::engine::types::PointId;
    use crate::engine::{EngineOptions, UpdateOp};

    #[test]
    fn the_report_follows_the_work_from_queued_to_completed() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = CollectionConfig::new(VectorParams::new(4, Distance::Cosine));
        // 1 KB: 64 points of 4 floats.
        config.optimizer_config.indexing_threshold = Some(1);
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        // No optimizer thread: the test runs its steps.
        let c = Arc::new(Collection::create(dir.path(), "c", config, options).unwrap());
        let points = (0..100u64)
            .map(|i| {
                let v = vec![1.0, i as f32, (i % 7) as f32, 0.5];
                PointInsert::dense(PointId::Num(i), v, Default::default())
            })
            .collect();
        c.update(vec![UpdateOp::Upsert(points)]).unwrap();

        let before = c.optimizations();
        assert!(before.running.is_empty() && before.completed.is_empty());
        assert_eq!(before.queued.len(), 1);
        assert_eq!(before.queued[0].optimizer, "indexing");
        assert_eq!(before.queued[0].segments[0].points, 100);
        assert!(before.idle.is_empty());

        while step_all(&c, &mut HashMap::new()).unwrap() {}
        let after = c.optimizations();
        assert!(after.running.is_empty() && after.queued.is_empty());
        assert_eq!(after.completed.len(), 1);
        let done = &after.completed[0];
        assert_eq!(
            (done.optimizer, &done.state),
            ("indexing", &OptimizationState::Done)
        );
        assert_eq!(done.segments, before.queued[0].segments);
        assert!(done.finished.is_some());
        // The segment it made is the one now idle.
        assert_eq!(
            after.idle,
            [SegmentInfo {
                id: done.id,
                points: 100
            }]
        );

        // New hnsw parameters make the segment stale.
        c.update_config(&ConfigUpdate {
            hnsw: Some(HnswConfigDiff {
                m: Some(8),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        let stale = c.optimizations();
        assert_eq!(stale.queued.len(), 1);
        assert_eq!(stale.queued[0].optimizer, "config_mismatch");
        assert_eq!(stale.queued[0].segments, after.idle);
        while step_all(&c, &mut HashMap::new()).unwrap() {}
        let rebuilt = c.optimizations();
        assert!(rebuilt.queued.is_empty());
        assert_eq!(rebuilt.completed[0].optimizer, "config_mismatch");
        assert_eq!(
            rebuilt.idle,
            [SegmentInfo {
                id: rebuilt.completed[0].id,
                points: 100
            }]
        );
    }
}
