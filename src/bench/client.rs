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
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--url {url:?} is not an http:// or https:// address"
        );
        let http = ureq::AgentBuilder::new()
            .timeout(timeout)
            .timeout_connect(timeout.min(Duration::from_secs(5)))
            .max_idle_connections_per_host(64)
            .build();
        Ok(Client {
            http,
            base: url.trim_end_matches('/').to_string(),
            collection: collection.to_string(),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        match body {
            Some(b) => self.call_raw(method, path, Some(&serde_json::to_string(b)?)),
            None => self.call_raw(method, path, None),
        }
    }

    /// A call with an already serialised body: query bodies are serialised
    /// once, before the clock starts, so the latencies are the server's
    /// and the network's, not the client's JSON encoder's.
    fn call_raw(&self, method: &str, path: &str, body: Option<&str>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let req = self.http.request(method, &url);
        let sent = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
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

    /// The collection's point count, `None` when it does not exist.
    pub fn points_count(&self) -> Result<Option<usize>> {
        let exists = self.call("GET", &self.path("/exists"), None)?;
        if exists["result"]["exists"] != Value::Bool(true) {
            return Ok(None);
        }
        let v = self.call("GET", &self.path(""), None)?;
        Ok(v["result"]["points_count"].as_u64().map(|n| n as usize))
    }

    /// Whether the collection has the bench's vector layout: named
    /// `dense` (and `sparse`) vectors, or one unnamed vector.
    pub fn layout_matches(&self, named: bool) -> Result<bool> {
        let v = self.call("GET", &self.path(""), None)?;
        let vectors = &v["result"]["config"]["params"]["vectors"];
        Ok(if named {
            vectors.get("dense").is_some()
        } else {
            vectors.get("size").is_some()
        })
    }

    /// Drops the collection if it exists and creates it from `config`.
    pub fn recreate(&self, config: &Value) -> Result<()> {
        let _ = self.call("DELETE", &self.path(""), None);
        self.call("PUT", &self.path(""), Some(config))?;
        Ok(())
    }

    pub fn create_index(&self, field: &str, schema: &str) -> Result<()> {
        let body = json!({"field_name": field, "field_schema": schema});
        self.call("PUT", &self.path("/index?wait=true"), Some(&body))?;
        Ok(())
    }

    /// Upserts `points` (Qdrant's `PointStruct` JSON) and waits until they
    /// are durable and visible.
    pub fn upsert(&self, points: &[Value]) -> Result<()> {
        let body = json!({ "points": points });
        self.call("PUT", &self.path("/points?wait=true"), Some(&body))?;
        Ok(())
    }

    /// Any call under the collection, for the durability workload.
    pub fn collection_call(&self, method: &str, rest: &str, body: &Value) -> Result<Value> {
        self.call(method, &self.path(rest), Some(body))
    }

    /// Any call outside the collection (`/v1/embeddings`, ...).
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
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

    /// Ids of the points one `/points/query` body returns, best first.
    pub fn query(&self, body: &str) -> Result<Vec<usize>> {
        let v = self.call_raw("POST", &self.path("/points/query"), Some(body))?;
        v["result"]["points"]
            .as_array()
            .context("query answer has no points")?
            .iter()
            .map(|p| {
                p["id"]
                    .as_u64()
                    .map(|x| x as usize)
                    .with_context(|| format!("point id {} is not an integer", p["id"]))
            })
            .collect()
    }

    /// Runs `bodies` on `workers` threads, each taking a contiguous share.
    pub fn query_all(&self, bodies: &[String], workers: usize) -> Result<QueryRun> {
        let started = Instant::now();
        let per_worker = bodies.len().div_ceil(workers).max(1);
        type Part = Result<Vec<(Duration, Vec<usize>)>>;
        let parts: Vec<Part> = std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .chunks(per_worker)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|body| {
                                let t = Instant::now();
                                let ids = self.query(body)?;
                                Ok((t.elapsed(), ids))
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench worker panicked"))
                .collect()
        });
        let wall = started.elapsed();
        let mut run = QueryRun {
            latencies: Vec::with_capacity(bodies.len()),
            wall,
            results: Vec::with_capacity(bodies.len()),
        };
        for part in parts {
            for (took, ids) in part? {
                run.latencies.push(took);
                run.results.push(ids);
            }
        }
        Ok(run)
    }
}

impl QueryRun {
    pub fn empty() -> QueryRun {
        QueryRun {
            latencies: Vec::new(),
            wall: Duration::ZERO,
            results: Vec::new(),
        }
    }

    /// Appends another block of the same pass.
    pub fn extend(&mut self, other: QueryRun) {
        self.latencies.extend(other.latencies);
        self.wall += other.wall;
        self.results.extend(other.results);
    }
}
