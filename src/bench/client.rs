//! A small blocking client for the parts of Qdrant's REST API the bench
//! uses. Every request has a timeout, so a hung server fails the run
//! instead of hanging it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub struct Client {
    http: ureq::Agent,
    base: String,
    collection: String,
}

/// Latencies of one pass over the queries and the ids each returned.
pub struct QueryRun {
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    pub results: Vec<Vec<usize>>,
}

impl Client {
    pub fn new(url: &str, collection: &str, timeout: Duration) -> Result<Client> {
        let http = ureq::AgentBuilder::new()
            .timeout(timeout)
            .max_idle_connections_per_host(64)
            .build();
        Ok(Client {
            http,
            base: url.trim_end_matches('/').to_string(),
            collection: collection.to_string(),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let req = self.http.request(method, &url);
        let sent = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&serde_json::to_string(b)?),
            None => req.call(),
        };
        let (status, text) = match sent {
            Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
            Err(e) => bail!("{method} {url}: server unreachable: {e}"),
        };
        let value: Value = serde_json::from_str(&text).with_context(|| {
            format!("{method} {url}: answer is not JSON (is this a Qdrant-compatible server?)")
        })?;
        if !(200..300).contains(&status) {
            let msg = value["status"]["error"]
                .as_str()
                .unwrap_or(&text)
                .to_string();
            bail!("{method} {url}: HTTP {status}: {msg}");
        }
        Ok(value)
    }

    pub fn version(&self) -> Result<String> {
        let v = self.call("GET", "/", None)?;
        let version = v["version"]
            .as_str()
            .context("GET / has no version: not a Qdrant-compatible server")?;
        Ok(match v["helio_version"].as_str() {
            Some(h) => format!("helio {h}, Qdrant API {version}"),
            None => format!("Qdrant {version}"),
        })
    }

    fn path(&self, rest: &str) -> String {
        format!("/collections/{}{}", self.collection, rest)
    }

    pub fn points_count(&self) -> Result<Option<usize>> {
        match self.call("GET", &self.path(""), None) {
            Ok(v) => Ok(v["result"]["points_count"].as_u64().map(|n| n as usize)),
            Err(_) => Ok(None),
        }
    }

    pub fn recreate(&self, dim: usize, m: usize, ef_construct: usize) -> Result<()> {
        let _ = self.call("DELETE", &self.path(""), None);
        self.call(
            "PUT",
            &self.path(""),
            Some(&json!({
                "vectors": {"size": dim, "distance": "Cosine"},
                "hnsw_config": {"m": m, "ef_construct": ef_construct},
            })),
        )?;
        Ok(())
    }

    pub fn upsert(&self, ids: &[usize], vectors: &[Vec<f32>]) -> Result<()> {
        let body = json!({"batch": {"ids": ids, "vectors": vectors}});
        self.call("PUT", &self.path("/points?wait=true"), Some(&body))?;
        Ok(())
    }

    /// Polls until the collection reports green twice in a row (the
    /// optimizer may be between steps); returns the time waited and the
    /// indexed vector count. A collection below its indexing threshold is
    /// green with nothing indexed, as in Qdrant.
    pub fn wait_green(&self, limit: Duration) -> Result<(Duration, usize)> {
        let started = Instant::now();
        let mut streak = 0;
        loop {
            let info = self.call("GET", &self.path(""), None)?;
            let r = &info["result"];
            streak = if r["status"] == "green" {
                streak + 1
            } else {
                0
            };
            if streak == 2 {
                let indexed = r["indexed_vectors_count"].as_u64().unwrap_or(0) as usize;
                return Ok((started.elapsed(), indexed));
            }
            if started.elapsed() > limit {
                bail!("collection not green after {limit:?}: {r}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn query_all(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        ef: Option<usize>,
        exact: bool,
        workers: usize,
    ) -> Result<QueryRun> {
        let started = Instant::now();
        let per_worker = queries.len().div_ceil(workers);
        // Per worker: (query index, latency, ids returned) for each query.
        type Part = Result<Vec<(usize, Duration, Vec<usize>)>>;
        let parts: Vec<Part> = std::thread::scope(|s| {
            let handles: Vec<_> = queries
                .chunks(per_worker)
                .enumerate()
                .map(|(w, chunk)| {
                    s.spawn(move || {
                        let mut out = Vec::with_capacity(chunk.len());
                        for (i, q) in chunk.iter().enumerate() {
                            let mut params = json!({"exact": exact});
                            if let Some(ef) = ef {
                                params["hnsw_ef"] = json!(ef);
                            }
                            let body = json!({"query": q, "limit": k, "params": params});
                            let t = Instant::now();
                            let v = self.call("POST", &self.path("/points/query"), Some(&body))?;
                            let took = t.elapsed();
                            let ids = v["result"]["points"]
                                .as_array()
                                .context("query answer has no points")?
                                .iter()
                                .filter_map(|p| p["id"].as_u64().map(|x| x as usize))
                                .collect();
                            out.push((w * per_worker + i, took, ids));
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench worker panicked"))
                .collect()
        });
        let wall = started.elapsed();
        let mut results = vec![Vec::new(); queries.len()];
        let mut latencies = Vec::with_capacity(queries.len());
        for part in parts {
            for (i, took, ids) in part? {
                latencies.push(took);
                results[i] = ids;
            }
        }
        Ok(QueryRun {
            latencies,
            wall,
            results,
        })
    }
}
