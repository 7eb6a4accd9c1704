//! A real `helio serve` process on a free port, for integration tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub struct Server {
    pub child: Child,
    pub url: String,
    pub storage: PathBuf,
    pub client: reqwest::blocking::Client,
}

impl Server {
    /// Starts `helio serve --port 0` on `storage` and waits for its address.
    pub fn start(storage: &Path) -> Server {
        Self::start_with(storage, &[])
    }

    pub fn start_with(storage: &Path, extra: &[&str]) -> Server {
        Self::start_env(storage, extra, &[])
    }

    /// Like `start_with`, with extra environment variables. The pipeline's
    /// data directory is `data` beside `storage`, never the repository's.
    pub fn start_env(storage: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let data = storage.with_file_name("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_helio"))
            .args(["serve", "--port", "0", "--storage"])
            .arg(storage)
            .arg("--data-dir")
            .arg(&data)
            .args(extra)
            .env("HELIO_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn helio");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("helio exited before listening")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("helio listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Server {
            child,
            url,
            storage: storage.to_path_buf(),
            client,
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.url, path);
        let req = match method {
            "GET" => self.client.get(&url),
            "PUT" => self.client.put(&url),
            "POST" => self.client.post(&url),
            "PATCH" => self.client.patch(&url),
            "DELETE" => self.client.delete(&url),
            m => panic!("method {m}"),
        };
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// The value of the Prometheus sample `name` (exact name, no labels) in `/metrics`.
    #[allow(dead_code)]
    pub fn metric(&self, name: &str) -> f64 {
        let (_, metrics) = self.call("GET", "/metrics", None);
        let metrics = metrics.as_str().unwrap_or_default().to_string();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
    }

    /// A call that must succeed; returns `result`.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path} -> {value}");
        assert_eq!(value["status"], "ok", "{value}");
        value["result"].clone()
    }

    pub fn create(&self, name: &str, size: usize, distance: &str) {
        self.ok(
            "PUT",
            &format!("/collections/{name}"),
            Some(json!({"vectors": {"size": size, "distance": distance}})),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic pseudo-random generator (no extra dependency).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn unit(&mut self) -> f32 {
        (self.next() % 1_000_000) as f32 / 1_000_000.0
    }

    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit() * 2.0 - 1.0).collect()
    }
}
