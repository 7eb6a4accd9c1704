//! Multivectors for late-interaction models (ColBERT and the like): a
//! point holds a list of rows of one size, one per token, and a query is a
//! list of rows too. They are compared by MaxSim: for each query row, its
//! best match among the point's rows, summed over the query rows.
//!
//! Multivector fields are scored exactly over the (filtered) points rather
//! than through a graph: they are mostly used to rescore the candidates of
//! a cheaper dense prefetch, which is what Qdrant users configure with
//! `hnsw_config: {m: 0}`. The vectors live in memory, rebuilt from SQLite at
//! start-up like the sparse index.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::engine::index::distance;
use crate::engine::types::{Distance, InvalidValue, MultiVector, Offset};

/// A multivector as kept in the point's SQLite row: its row size and its
/// floats as little-endian bytes in base64, about 5.3 characters a float
/// where JSON numbers take about 12 (a 32 × 128 ColBERT document is 22 KB
/// rather than 50), and nothing to parse as decimal at start-up.
#[derive(Debug, Serialize, Deserialize)]
pub struct Packed {
    dim: usize,
    f32le: String,
}

impl From<&MultiVector> for Packed {
    fn from(m: &MultiVector) -> Packed {
        use base64::Engine as _;
        let bytes: Vec<u8> = m.as_flat().iter().flat_map(|x| x.to_le_bytes()).collect();
        Packed {
            dim: m.dim(),
            f32le: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

impl TryFrom<Packed> for MultiVector {
    type Error = InvalidValue;

    fn try_from(p: Packed) -> Result<MultiVector, InvalidValue> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(p.f32le)
            .map_err(|e| format!("multivector bytes: {e}"))?;
        if p.dim == 0 || bytes.len() % (4 * p.dim) != 0 {
            return Err(InvalidValue::from(format!(
                "multivector of {} bytes does not hold rows of {}",
                bytes.len(),
                p.dim
            )));
        }
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(MultiVector::from_flat(p.dim, data))
    }
}

/// MaxSim with Qdrant's conventions for each distance: Cosine and Dot sum
/// each query row's best dot product; Manhattan sums each row's smallest
/// L1 distance; Euclid sums each row's smallest *squared* distance and
/// takes the square root of the sum (not a sum of distances: that is how
/// Qdrant's server scores it, and Helio matches the server).
pub fn max_sim(distance: Distance, query: &MultiVector, doc: &MultiVector) -> f32 {
    // Rows of another size cannot be compared (the kernels assume equal
    // lengths); upserts and queries are checked, so this is never hit.
    if query.dim() != doc.dim() {
        return if distance.higher_is_better() {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
    }
    // The lower-is-better kernel (−dot, squared L2, L1), looked up once:
    // a document is rows × rows kernel calls.
    let kernel = distance::kernels().ordering(distance);
    let sum: f32 = query
        .rows()
        .map(|q| {
            doc.rows()
                // SAFETY: the table only holds kernels this CPU supports,
                // and both rows have `dim` components.
                .map(|d| unsafe { kernel(q, d) })
                .fold(f32::INFINITY, f32::min)
        })
        .sum();
    match distance {
        Distance::Cosine | Distance::Dot => -sum,
        Distance::Euclid => sum.max(0.0).sqrt(),
        Distance::Manhattan => sum,
    }
}

/// The multivectors of one vector name, by offset.
#[derive(Debug)]
pub struct MultiSpace {
    pub distance: Distance,
    docs: HashMap<Offset, MultiVector>,
}

impl MultiSpace {
    pub fn new(distance: Distance) -> MultiSpace {
        MultiSpace {
            distance,
            docs: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn get(&self, offset: Offset) -> Option<&MultiVector> {
        self.docs.get(&offset)
    }

    pub fn contains(&self, offset: Offset) -> bool {
        self.docs.contains_key(&offset)
    }

    pub fn insert(&mut self, offset: Offset, vector: MultiVector) {
        self.docs.insert(offset, vector);
    }

    pub fn remove(&mut self, offset: Offset) {
        self.docs.remove(&offset);
    }

    /// The MaxSim score of the point at `offset`, `None` when it has no
    /// vector here.
    pub fn score(&self, offset: Offset, query: &MultiVector) -> Option<f32> {
        self.docs
            .get(&offset)
            .map(|d| max_sim(self.distance, query, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(rows: &[&[f32]]) -> MultiVector {
        MultiVector::new(rows.iter().map(|r| r.to_vec()).collect()).unwrap()
    }

    #[test]
    fn rows_are_validated_and_round_trip_as_json() {
        assert!(MultiVector::new(vec![]).is_ok_and(|m| m.is_empty()));
        let err = MultiVector::new(vec![vec![1.0, 2.0], vec![1.0]])
            .unwrap_err()
            .0;
        assert!(err.contains("dimension 1"), "{err}");
        assert!(MultiVector::new(vec![vec![1.0], vec![]]).is_err());
        let m = mv(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]);
        assert_eq!((m.dim(), m.len()), (2, 3));
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, "[[1.0,2.0],[3.0,4.0],[5.0,6.0]]");
        assert_eq!(serde_json::from_str::<MultiVector>(&text).unwrap(), m);
        let packed = serde_json::to_string(&Packed::from(&m)).unwrap();
        let back: Packed = serde_json::from_str(&packed).unwrap();
        assert_eq!(MultiVector::try_from(back).unwrap(), m);
        let torn = Packed {
            dim: 2,
            f32le: "AAAAAA==".into(),
        };
        assert!(MultiVector::try_from(torn).is_err());
    }

    #[test]
    fn max_sim_follows_qdrant_for_each_distance() {
        let q = mv(&[&[1.0, 2.0, 3.0], &[3.0, 3.0, 3.0], &[4.0, 5.0, 6.0]]);
        let d = mv(&[&[3.0, 3.0, 3.0], &[4.0, 2.0, 1.0]]);
        // Dot: best of (18, 11), (27, 21), (45, 32).
        assert_eq!(max_sim(Distance::Dot, &q, &d), 18.0 + 27.0 + 45.0);
        // Manhattan: smallest of (3, 5), (0, 4), (6, 8).
        assert_eq!(max_sim(Distance::Manhattan, &q, &d), 9.0);
        // Euclid: sqrt of the sum of the smallest squared distances
        // (5 + 0 + 14), the value Qdrant's server reports for this example.
        let e = max_sim(Distance::Euclid, &q, &d);
        assert!((e - 19f32.sqrt()).abs() < 1e-5, "{e}");
    }

    /// A snapshot holds the multivectors (they live in SQLite), and the
    /// restored collection scores them as the original did.
    #[test]
    fn multivectors_round_trip_through_a_snapshot() {
        use crate::engine::collection::{Collection, PointInsert, UpdateOp};
        use crate::engine::config::{
            CollectionConfig, MultiVectorComparator, MultiVectorConfig, VectorParams,
        };
        use crate::engine::query::search::QueryVector;
        use crate::engine::query::stages::{Query, QueryRequest, Stage};
        use crate::engine::types::{NamedVectors, PointId, VectorData, VectorSelector};
        use crate::engine::EngineOptions;

        let dir = tempfile::tempdir().unwrap();
        let options = EngineOptions {
            fsync: false,
            ..Default::default()
        };
        let mut params = VectorParams::new(2, Distance::Cosine);
        params.multivector_config = Some(MultiVectorConfig {
            comparator: MultiVectorComparator::MaxSim,
        });
        let c = Collection::create(
            &dir.path().join("a"),
            "a",
            CollectionConfig::new(params),
            options,
        )
        .unwrap();
        let point = |id: u64, rows: &[&[f32]]| PointInsert {
            id: PointId::Num(id),
            vectors: NamedVectors::from([(String::new(), VectorData::Multi(mv(rows)))]),
            payload: Default::default(),
        };
        c.update(vec![UpdateOp::Upsert(vec![
            point(1, &[&[3.0, 4.0], &[0.0, 1.0]]),
            point(2, &[&[1.0, 0.0]]),
        ])])
        .unwrap();
        let snapshot = dir.path().join("a.snapshot");
        c.snapshot(&snapshot).unwrap();
        let restored_dir = dir.path().join("b");
        crate::engine::collection::snapshot::unpack(&snapshot, &restored_dir).unwrap();
        let b = Collection::open(&restored_dir, "b", options).unwrap();
        let all = VectorSelector::All;
        let none = crate::engine::collection::payload::PayloadSelector::None;
        let ids = [PointId::Num(1), PointId::Num(2)];
        let req = crate::engine::query::points::Retrieve {
            ids: ids.to_vec(),
            with_payload: none.clone(),
            with_vector: all,
        };
        let (before, after) = (c.read(&req, None).unwrap(), b.read(&req, None).unwrap());
        assert_eq!(after.len(), 2);
        for (x, y) in before.iter().zip(&after) {
            assert_eq!(x.vector, y.vector);
        }
        let expected = mv(&[&[0.6, 0.8], &[0.0, 1.0]]);
        assert_eq!(
            after[0].vector.as_ref().unwrap()[""],
            VectorData::Multi(expected)
        );
        let query = QueryVector::Multi(mv(&[&[1.0, 0.0], &[0.0, 1.0]]));
        let req = QueryRequest {
            root: Stage::new(Some(Query::Nearest(query)), 2),
            offset: 0,
            with_payload: none.clone(),
            with_vector: VectorSelector::None,
        };
        let scores = |c: &Collection| -> Vec<(PointId, f32)> {
            let found = c.read(&req, None).unwrap();
            found.iter().map(|r| (r.id, r.score.unwrap())).collect()
        };
        assert_eq!(scores(&c), scores(&b));
        // Point 1: 0.6 + 1.0; point 2: 1.0 + 0.0.
        assert_eq!(scores(&b)[0].0, PointId::Num(1));
        assert!((scores(&b)[0].1 - 1.6).abs() < 1e-6);
    }
}
