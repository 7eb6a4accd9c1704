//! Where the bench's data comes from: the synthetic recipe of
//! [`crate::engine::dataset`], vector files in the texmex / ann-benchmarks layouts
//! (`.fvecs`, `.bvecs`, with `.ivecs` ground truth) or NumPy `.npy`, or a
//! text file that the server embeds itself through `Document` inference.
//!
//! Without a separate query file, the last `--queries` vectors (or lines)
//! of the dataset are held out as queries and never uploaded, so a query is
//! not trivially its own nearest neighbour.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

use crate::engine::dataset;

/// What `--dataset` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Synthetic { n: usize, dim: usize },
    File(PathBuf),
}

/// Parses `synthetic:100000x384` or a path ending in `.fvecs`, `.bvecs` or
/// `.npy`.
pub fn parse_source(spec: &str) -> Result<Source> {
    if let Some(rest) = spec.strip_prefix("synthetic:") {
        let (n, d) = rest
            .split_once('x')
            .with_context(|| format!("dataset {spec:?}: expected synthetic:NxDIM"))?;
        let n: usize = n
            .parse()
            .with_context(|| format!("dataset size {n:?} is not a number"))?;
        let dim: usize = d
            .parse()
            .with_context(|| format!("dataset dimension {d:?} is not a number"))?;
        ensure!(
            n > 0 && dim > 0,
            "dataset {spec:?}: size and dimension must be positive"
        );
        return Ok(Source::Synthetic { n, dim });
    }
    let path = PathBuf::from(spec);
    match extension(&path).as_str() {
        "fvecs" | "bvecs" | "npy" => Ok(Source::File(path)),
        _ => bail!(
            "unknown dataset {spec:?}: expected synthetic:NxDIM or a .fvecs, .bvecs or .npy file"
        ),
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Vectors to upload and to query with, and the ground truth when a file
/// provided it (indices into `base`).
pub struct Vectors {
    pub base: Vec<Vec<f32>>,
    pub queries: Vec<Vec<f32>>,
    pub truth: Option<Vec<Vec<usize>>>,
}

/// Documents to upload and query texts, embedded by the server.
pub struct Texts {
    pub docs: Vec<String>,
    pub queries: Vec<String>,
}

/// Where the query set comes from and how much of the base to use.
pub struct Selection<'a> {
    pub queries: usize,
    pub query_file: Option<&'a Path>,
    pub ground_truth: Option<&'a Path>,
    pub max_points: Option<usize>,
}

pub fn load_vectors(source: &Source, sel: &Selection) -> Result<Vectors> {
    match source {
        Source::Synthetic { n, dim } => {
            ensure!(
                sel.query_file.is_none() && sel.ground_truth.is_none(),
                "--query-file and --ground-truth go with a dataset file, not synthetic:"
            );
            let n = sel.max_points.map_or(*n, |m| m.min(*n));
            Ok(Vectors {
                base: dataset::clustered(n, *dim, 2000, 0.06, 1),
                queries: dataset::clustered(sel.queries, *dim, 2000, 0.06, 2),
                truth: None,
            })
        }
        Source::File(path) => {
            let mut base = read_vectors(path)?;
            let mut queries = queries_for(&mut base, sel, path, read_vectors)?;
            let full = base.len();
            if let Some(m) = sel.max_points {
                base.truncate(m);
            }
            let dim = base[0].len();
            if let Some(q) = queries.iter().find(|q| q.len() != dim) {
                bail!(
                    "queries have dimension {} but the dataset has {dim}",
                    q.len()
                );
            }
            let truth = match sel.ground_truth {
                None => None,
                Some(_) if sel.query_file.is_none() => {
                    bail!("--ground-truth needs --query-file (it indexes that file's queries)")
                }
                Some(_) if base.len() < full => {
                    tracing::warn!("--max-points cuts the base: ignoring --ground-truth");
                    None
                }
                Some(gt) => {
                    let mut truth = read_ivecs(gt)?;
                    ensure!(
                        truth.len() >= queries.len(),
                        "{} has {} rows for {} queries",
                        gt.display(),
                        truth.len(),
                        queries.len()
                    );
                    truth.truncate(queries.len());
                    if truth.iter().flatten().any(|&i| i >= base.len()) {
                        bail!(
                            "{} names vectors beyond the {} in the dataset",
                            gt.display(),
                            base.len()
                        );
                    }
                    Some(truth)
                }
            };
            queries.shrink_to_fit();
            Ok(Vectors {
                base,
                queries,
                truth,
            })
        }
    }
}

/// The queries: the first `sel.queries` items of the query file, or the
/// last `sel.queries` items of `base`, taken out of it.
fn queries_for<T>(
    base: &mut Vec<T>,
    sel: &Selection,
    path: &Path,
    read: impl Fn(&Path) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    if let Some(q) = sel.query_file {
        let mut qs = read(q)?;
        qs.truncate(sel.queries);
        return Ok(qs);
    }
    ensure!(
        base.len() > sel.queries,
        "{} holds {} items: not enough to hold out {} queries (pass --query-file or fewer --queries)",
        path.display(),
        base.len(),
        sel.queries
    );
    Ok(base.split_off(base.len() - sel.queries))
}

/// One text per non-empty line; the last `queries` lines become the
/// queries unless `query_file` is given.
pub fn load_texts(path: &Path, sel: &Selection) -> Result<Texts> {
    let read = |p: &Path| -> Result<Vec<String>> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    };
    let mut docs = read(path)?;
    let queries = queries_for(&mut docs, sel, path, read)?;
    ensure!(!queries.is_empty(), "no query texts");
    if let Some(m) = sel.max_points {
        docs.truncate(m);
    }
    Ok(Texts { docs, queries })
}

/// Reads `.fvecs`, `.bvecs` or `.npy` into rows of f32.
pub fn read_vectors(path: &Path) -> Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = match extension(path).as_str() {
        "fvecs" => parse_vecs(&bytes, 4, |b| f32::from_le_bytes(b.try_into().unwrap())),
        "bvecs" => parse_vecs(&bytes, 1, |b| f32::from(b[0])),
        "npy" => parse_npy(&bytes),
        other => bail!("unknown vector file type .{other}: expected .fvecs, .bvecs or .npy"),
    }
    .with_context(|| format!("{}", path.display()))?;
    ensure!(!rows.is_empty(), "{} holds no vectors", path.display());
    if let Some(bad) = rows.iter().flatten().find(|x| !x.is_finite()) {
        bail!("{} holds a non-finite value ({bad})", path.display());
    }
    Ok(rows)
}

/// Reads an `.ivecs` ground-truth file: per query, neighbour indices best
/// first.
pub fn read_ivecs(path: &Path) -> Result<Vec<Vec<usize>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = parse_vecs(&bytes, 4, |b| i32::from_le_bytes(b.try_into().unwrap()))
        .with_context(|| format!("{}", path.display()))?;
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|i| usize::try_from(i).context("negative neighbour index"))
                .collect()
        })
        .collect::<Result<_>>()
        .with_context(|| format!("{}", path.display()))
}

/// The `*vecs` layout: each row is a little-endian i32 dimension followed
/// by that many elements of `width` bytes. Every row must have the first
/// row's dimension, and the file must end on a row boundary.
fn parse_vecs<T>(bytes: &[u8], width: usize, elem: impl Fn(&[u8]) -> T) -> Result<Vec<Vec<T>>> {
    let mut rows = Vec::new();
    let mut at = 0;
    let mut dim = None;
    while at < bytes.len() {
        ensure!(
            at + 4 <= bytes.len(),
            "truncated: {} stray bytes after row {}",
            bytes.len() - at,
            rows.len()
        );
        let d = i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        ensure!(
            d > 0 && d <= 65536,
            "row {} declares dimension {d}: not a vector file of this type",
            rows.len()
        );
        let d = d as usize;
        if let Some(first) = dim {
            ensure!(
                d == first,
                "row {} has dimension {d}, the first row {first}",
                rows.len()
            );
        }
        dim = Some(d);
        let end = at + 4 + d * width;
        ensure!(
            end <= bytes.len(),
            "truncated in row {} ({} of {} bytes present)",
            rows.len(),
            bytes.len() - at - 4,
            d * width
        );
        rows.push(bytes[at + 4..end].chunks_exact(width).map(&elem).collect());
        at = end;
    }
    Ok(rows)
}

/// A 2-D NumPy array of float32, float64 or uint8 (the `npyz` crate reads
/// the header and the elements).
fn parse_npy(bytes: &[u8]) -> Result<Vec<Vec<f32>>> {
    let file = npyz::NpyFile::new(bytes).context("not a NumPy .npy file")?;
    let shape = file.shape().to_vec();
    ensure!(
        shape.len() == 2 && shape[0] > 0 && shape[1] > 0,
        "expected a 2-D array of vectors, found shape {shape:?}"
    );
    ensure!(
        file.order() == npyz::Order::C,
        "Fortran-ordered arrays are not supported: save with np.ascontiguousarray"
    );
    let dim = shape[1] as usize;
    let dtype = match file.dtype() {
        npyz::DType::Plain(ty) => ty.to_string(),
        other => bail!("structured element type {} is not supported", other.descr()),
    };
    let flat: Vec<f32> = match dtype.as_str() {
        "<f4" => file.into_vec::<f32>()?,
        "<f8" => file
            .into_vec::<f64>()?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        "|u1" => file.into_vec::<u8>()?.into_iter().map(f32::from).collect(),
        other => bail!("element type {other} is not supported: use float32, float64 or uint8"),
    };
    ensure!(
        flat.len() == (shape[0] * shape[1]) as usize,
        "truncated: {} of {} elements",
        flat.len(),
        shape[0] * shape[1]
    );
    Ok(flat.chunks_exact(dim).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fvecs(rows: &[Vec<f32>]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            out.extend((r.len() as i32).to_le_bytes());
            for x in r {
                out.extend(x.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn sources() {
        assert_eq!(
            parse_source("synthetic:10x4").unwrap(),
            Source::Synthetic { n: 10, dim: 4 }
        );
        assert!(parse_source("synthetic:0x4").is_err());
        assert!(parse_source("synthetic:tenx4").is_err());
        assert!(parse_source("data.csv").is_err());
        assert!(matches!(
            parse_source("a/b.FVECS").unwrap(),
            Source::File(_)
        ));
    }

    #[test]
    fn fvecs_round_trip_and_damage() {
        let rows = vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]];
        let bytes = fvecs(&rows);
        let parse = |b: &[u8]| parse_vecs(b, 4, |x| f32::from_le_bytes(x.try_into().unwrap()));
        assert_eq!(parse(&bytes).unwrap(), rows);
        let err = parse(&bytes[..bytes.len() - 2]).unwrap_err().to_string();
        assert!(err.contains("truncated in row 1"), "{err}");
        let mut mixed = bytes.clone();
        mixed.extend(fvecs(&[vec![1.0, 2.0]]));
        let err = parse(&mixed).unwrap_err().to_string();
        assert!(err.contains("dimension 2"), "{err}");
        let err = parse(b"abcdefgh").unwrap_err().to_string();
        assert!(err.contains("declares dimension"), "{err}");
    }

    #[test]
    fn npy_float32_and_errors() {
        // np.save of np.arange(6, dtype=np.float32).reshape(2, 3)
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((h.len() as u16).to_le_bytes());
        bytes.extend(h.as_bytes());
        for x in 0..6 {
            bytes.extend((x as f32).to_le_bytes());
        }
        let rows = parse_npy(&bytes).unwrap();
        assert_eq!(rows, vec![vec![0.0, 1.0, 2.0], vec![3.0, 4.0, 5.0]]);
        assert!(parse_npy(&bytes[..bytes.len() - 4]).is_err());
        assert!(parse_npy(b"not numpy at all").is_err());
    }

    #[test]
    fn held_out_queries_and_ground_truth() {
        let dir = tempfile::tempdir().unwrap();
        let base: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 1.0]).collect();
        let path = dir.path().join("base.fvecs");
        std::fs::write(&path, fvecs(&base)).unwrap();
        let sel = Selection {
            queries: 3,
            query_file: None,
            ground_truth: None,
            max_points: None,
        };
        let v = load_vectors(&Source::File(path.clone()), &sel).unwrap();
        assert_eq!(v.base.len(), 7);
        assert_eq!(v.queries[0], vec![7.0, 1.0]);
        let sel = Selection { queries: 10, ..sel };
        assert!(load_vectors(&Source::File(path), &sel).is_err());
    }
}
