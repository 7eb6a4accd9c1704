//! `helio bench durability`: does every write the server acknowledged with
//! `wait=true` survive a SIGKILL?
//!
//! Each cycle starts the server with the user's command, checks that the
//! state it recovered matches every acknowledged write so far, then streams
//! upserts, deletes and payload updates from a few writers and kills the
//! server's whole process group at a random instant. A write in flight at
//! the kill may land or not; an acknowledged one must be there. Works with
//! any Qdrant-compatible server: only its REST API is used.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use super::client::Client;

#[derive(Debug, Clone, Args)]
pub struct DurabilityArgs {
    /// Shell command that starts the server in the foreground (run with
    /// `sh -c` in a new process group, which is what gets SIGKILLed).
    #[arg(long)]
    pub start: String,
    /// Where that server answers once started.
    #[arg(long, default_value = "http://127.0.0.1:6333")]
    pub url: String,
    /// Kill-and-restart cycles.
    #[arg(long, default_value_t = 5)]
    pub cycles: usize,
    /// Concurrent writers, each on its own range of point ids.
    #[arg(long, default_value_t = 2)]
    pub writers: usize,
    /// Point ids per writer.
    #[arg(long, default_value_t = 500)]
    pub ids: u64,
    /// Each cycle kills the server at a uniformly random instant between
    /// these many milliseconds after the writes start.
    #[arg(long, default_value_t = 200)]
    pub min_ms: u64,
    #[arg(long, default_value_t = 1500)]
    pub max_ms: u64,
    /// Seconds to wait for the server to answer after a start.
    #[arg(long, default_value_t = 120)]
    pub ready_timeout: u64,
    #[arg(long, default_value = "helio-durability")]
    pub collection: String,
    /// Seed of the write stream and kill instants (random by default).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Append the server's stdout and stderr here (default: discarded).
    #[arg(long)]
    pub server_log: Option<PathBuf>,
    /// Write the summary as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Vector size of the test collection (Dot, so vectors come back as sent).
const DIM: usize = 4;

/// What a point should look like: absent, or written at version `v` with
/// payload tag `tag`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Absent,
    Present { v: u64, tag: Option<u64> },
}

/// A write whose answer never came: after the restart its points may be in
/// the old or the new state.
struct Uncertain {
    after: Vec<(u64, State)>,
}

/// One writer's acknowledged view of its id range.
struct Writer {
    first_id: u64,
    ids: u64,
    expected: HashMap<u64, State>,
    uncertain: Option<Uncertain>,
    next_version: u64,
    acked: u64,
    rng: StdRng,
}

/// The summary of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    pub cycles: usize,
    pub acknowledged_ops: u64,
    pub verified_points: u64,
    pub losses: u64,
    pub restart_ms: Vec<f64>,
}

fn vector(id: u64, v: u64) -> Vec<f32> {
    vec![(v % 100_000) as f32, (id % 100_000) as f32, 1.0, 0.5]
}

pub fn run(args: &DurabilityArgs) -> Result<Outcome> {
    ensure!(args.cycles > 0, "--cycles must be positive");
    ensure!(
        args.writers > 0 && args.ids > 0,
        "--writers and --ids must be positive"
    );
    ensure!(
        args.min_ms <= args.max_ms,
        "--min-ms must not exceed --max-ms"
    );
    let client = Client::new(&args.url, &args.collection, Duration::from_secs(30))?;
    if client.version().is_ok() {
        bail!(
            "something already answers at {}: stop it first, or the test would measure it instead of the server --start launches",
            args.url
        );
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!("seed {seed} (pass --seed {seed} to replay the write stream and kill instants)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut writers: Vec<Writer> = (0..args.writers as u64)
        .map(|w| Writer {
            first_id: w * args.ids,
            ids: args.ids,
            expected: HashMap::new(),
            uncertain: None,
            next_version: 1,
            acked: 0,
            rng: StdRng::seed_from_u64(seed ^ (w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        })
        .collect();
    let mut out = Outcome::default();
    let mut server = Server::start(args, &client)?;
    out.restart_ms.push(server.ready_ms);
    let result = (|| -> Result<()> {
        client.recreate(&json!({"vectors": {"size": DIM, "distance": "Dot"}}))?;
        for cycle in 1..=args.cycles {
            let killed = AtomicBool::new(false);
            let delay = Duration::from_millis(rng.gen_range(args.min_ms..=args.max_ms));
            let errors = Mutex::new(Vec::new());
            std::thread::scope(|s| {
                for w in writers.iter_mut() {
                    let (client, killed, errors) = (&client, &killed, &errors);
                    s.spawn(move || {
                        if let Err(e) = w.write_until_killed(client, killed) {
                            errors.lock().unwrap().push(format!("{e:#}"));
                        }
                    });
                }
                std::thread::sleep(delay);
                killed.store(true, Ordering::SeqCst);
                server.kill();
            });
            if let Some(e) = errors.into_inner().unwrap().into_iter().next() {
                bail!("a write failed before the kill: {e}");
            }
            server = Server::start(args, &client)?;
            out.restart_ms.push(server.ready_ms);
            out.cycles = cycle;
            if client.points_count()?.is_none() {
                // Everything acknowledged is gone with the collection.
                let lost: u64 = writers.iter().map(Writer::present).sum();
                out.losses += lost.max(1);
                println!(
                    "cycle {cycle}: the collection {} is gone after the restart ({lost} acknowledged points lost)",
                    args.collection
                );
                break;
            }
            let mut lost = 0;
            for w in writers.iter_mut() {
                let (checked, l) = w.verify(&client)?;
                out.verified_points += checked;
                lost += l;
            }
            out.losses += lost;
            let acked: u64 = writers.iter().map(|w| w.acked).sum();
            println!(
                "cycle {cycle}: killed after {} ms, {acked} writes acknowledged so far, restart to ready {:.0} ms, {lost} lost",
                delay.as_millis(),
                server.ready_ms
            );
        }
        Ok(())
    })();
    server.kill();
    result?;
    out.acknowledged_ops = writers.iter().map(|w| w.acked).sum();
    let mut sorted = out.restart_ms.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "durability: {} cycles, {} acknowledged writes, {} point checks, {} lost; restart to ready median {:.0} ms, max {:.0} ms",
        out.cycles,
        out.acknowledged_ops,
        out.verified_points,
        out.losses,
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    if let Some(path) = &args.json {
        let v = json!({
            "url": args.url, "start": args.start, "seed": seed,
            "cycles": out.cycles, "acknowledged_writes": out.acknowledged_ops,
            "point_checks": out.verified_points, "losses": out.losses,
            "restart_to_ready_ms": out.restart_ms,
        });
        std::fs::write(path, serde_json::to_string_pretty(&v)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    ensure!(
        out.losses == 0,
        "{} acknowledged writes were lost",
        out.losses
    );
    Ok(out)
}

/// The server process, started by the user's command.
struct Server {
    child: Option<Child>,
    ready_ms: f64,
}

/// How long a killed server may take to be gone (its process group empty,
/// its port closed) before the next start is attempted anyway.
const GONE_TIMEOUT: Duration = Duration::from_secs(30);

impl Server {
    fn start(args: &DurabilityArgs, client: &Client) -> Result<Server> {
        // The previous server may still be exiting (see `Server::kill`):
        // a start now would find its port taken.
        if !wait_until_closed(&args.url, GONE_TIMEOUT) {
            eprintln!(
                "warning: something still listens at {} after {GONE_TIMEOUT:?}; starting anyway",
                args.url
            );
        }
        let log = |append: bool| -> Result<Stdio> {
            Ok(match &args.server_log {
                Some(p) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(append)
                    .write(true)
                    .open(p)
                    .with_context(|| format!("opening {}", p.display()))?
                    .into(),
                None => Stdio::null(),
            })
        };
        let started = Instant::now();
        let child = Command::new("sh")
            .arg("-c")
            .arg(&args.start)
            .stdin(Stdio::null())
            .stdout(log(true)?)
            .stderr(log(true)?)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {:?}", args.start))?;
        let mut server = Server {
            child: Some(child),
            ready_ms: 0.0,
        };
        let limit = Duration::from_secs(args.ready_timeout);
        loop {
            if client.version().is_ok() {
                server.ready_ms = started.elapsed().as_secs_f64() * 1000.0;
                return Ok(server);
            }
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "the server command exited ({status}) before answering at {}",
                    args.url
                );
            }
            if started.elapsed() > limit {
                server.kill();
                bail!("the server did not answer at {} within {limit:?}", args.url);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to the whole process group: the shell and the server. Then
    /// waits until every process of the group is gone, not only the shell
    /// this bench reaps: a server thread inside `fsync`/`msync` keeps the
    /// killed process, and its listening socket, alive a moment.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = child.id() as i32;
            // SAFETY: plain syscall; the group id is the child's pid.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
            let _ = child.wait();
            if !wait_until_group_gone(group, GONE_TIMEOUT) {
                eprintln!(
                    "warning: process group {group} still alive {GONE_TIMEOUT:?} after SIGKILL"
                );
            }
        }
    }
}

/// Polls until no live process is left in process group `group` (zombies
/// count as gone: their files, sockets included, are closed). Returns
/// whether that happened within `limit`.
fn wait_until_group_gone(group: i32, limit: Duration) -> bool {
    let started = Instant::now();
    while group_alive(group) {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn group_alive(group: i32) -> bool {
    // SAFETY: plain syscall; signal 0 only checks that the group exists.
    if unsafe { libc::kill(-group, 0) } != 0 {
        return false;
    }
    // On Linux, tell exiting processes from zombies an init that does not
    // reap (a container's) would leave in the group for ever.
    match std::fs::read_dir("/proc") {
        Ok(entries) => entries.flatten().any(|e| {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parens.
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, f)| f)
                .split_whitespace();
            let (state, _ppid, pgrp) = (fields.next(), fields.next(), fields.next());
            state.is_some_and(|s| s != "Z" && s != "X")
                && pgrp.and_then(|p| p.parse::<i32>().ok()) == Some(group)
        }),
        Err(_) => true,
    }
}

/// Polls until nothing accepts connections at `url`'s host and port.
/// Returns whether that happened within `limit`.
fn wait_until_closed(url: &str, limit: Duration) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else if url.starts_with("https://") {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    let Some(addr) = with_port.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return true;
    };
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Writer {
    /// Points this writer has acknowledged as present.
    fn present(&self) -> u64 {
        self.expected
            .values()
            .filter(|s| matches!(s, State::Present { .. }))
            .count() as u64
    }

    fn current(&self, id: u64) -> State {
        self.expected.get(&id).copied().unwrap_or(State::Absent)
    }

    /// Streams writes until one fails; a failure is expected only once the
    /// kill flag is up.
    fn write_until_killed(&mut self, client: &Client, killed: &AtomicBool) -> Result<()> {
        loop {
            let (method, path, body, after) = self.next_write();
            match client.collection_call(method, path, &body) {
                Ok(_) => {
                    self.acked += 1;
                    for (id, state) in after {
                        self.expected.insert(id, state);
                    }
                }
                Err(e) => {
                    self.uncertain = Some(Uncertain { after });
                    if killed.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A random write over this writer's ids and the states it leads to.
    fn next_write(&mut self) -> (&'static str, &'static str, Value, Vec<(u64, State)>) {
        let pick = |rng: &mut StdRng, first: u64, ids: u64, n: usize| -> Vec<u64> {
            let mut v: Vec<u64> = (0..n).map(|_| first + rng.gen_range(0..ids)).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let roll: f64 = self.rng.gen();
        let version = self.next_version;
        self.next_version += 1;
        if roll < 0.2 {
            let ids = pick(&mut self.rng, self.first_id, self.ids, 3);
            let after = ids.iter().map(|&id| (id, State::Absent)).collect();
            let body = json!({ "points": ids });
            return ("POST", "/points/delete?wait=true", body, after);
        }
        if roll < 0.4 {
            let present: Vec<u64> = pick(&mut self.rng, self.first_id, self.ids, 3)
                .into_iter()
                .filter(|&id| matches!(self.current(id), State::Present { .. }))
                .collect();
            if !present.is_empty() {
                let after = present
                    .iter()
                    .map(|&id| match self.current(id) {
                        State::Present { v, .. } => (
                            id,
                            State::Present {
                                v,
                                tag: Some(version),
                            },
                        ),
                        State::Absent => unreachable!("filtered above"),
                    })
                    .collect();
                let body = json!({"payload": {"tag": version}, "points": present});
                return ("POST", "/points/payload?wait=true", body, after);
            }
        }
        let ids = pick(&mut self.rng, self.first_id, self.ids, 5);
        let points: Vec<Value> = ids
            .iter()
            .map(|&id| json!({"id": id, "vector": vector(id, version), "payload": {"v": version}}))
            .collect();
        let after = ids
            .iter()
            .map(|&id| {
                (
                    id,
                    State::Present {
                        v: version,
                        tag: None,
                    },
                )
            })
            .collect();
        (
            "PUT",
            "/points?wait=true",
            json!({ "points": points }),
            after,
        )
    }

    /// Reads back every id this writer owns; returns (points checked,
    /// points whose acknowledged state is missing). Adopts what the
    /// server holds for writes that were in flight.
    fn verify(&mut self, client: &Client) -> Result<(u64, u64)> {
        let uncertain: HashMap<u64, State> = self
            .uncertain
            .take()
            .map(|u| u.after.into_iter().collect())
            .unwrap_or_default();
        let ids: Vec<u64> = (self.first_id..self.first_id + self.ids).collect();
        let mut lost = 0;
        for chunk in ids.chunks(256) {
            let body = json!({"ids": chunk, "with_payload": true, "with_vector": true});
            let got = client
                .collection_call("POST", "/points", &body)
                .context("reading the points back after the restart")?;
            let mut actual: HashMap<u64, State> =
                chunk.iter().map(|&id| (id, State::Absent)).collect();
            for p in got["result"].as_array().context("no result list")? {
                let id = p["id"].as_u64().context("point without integer id")?;
                let v = p["payload"]["v"]
                    .as_u64()
                    .context("point without version")?;
                let tag = p["payload"]["tag"].as_u64();
                let stored: Vec<f32> = serde_json::from_value(p["vector"].clone())
                    .context("point without its vector")?;
                if stored != vector(id, v) {
                    tracing::error!(id, v, "vector differs from the one written");
                    lost += 1;
                }
                actual.insert(id, State::Present { v, tag });
            }
            for &id in chunk {
                let have = actual[&id];
                let want = self.current(id);
                if have == want {
                    continue;
                }
                if uncertain.get(&id) == Some(&have) {
                    self.expected.insert(id, have);
                    continue;
                }
                eprintln!("lost: point {id} acknowledged as {want:?}, server has {have:?}");
                lost += 1;
            }
        }
        Ok((self.ids, lost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_lingering_member_of_the_group() {
        // The shell exits at once and is reaped; the `sleep` it started
        // stays in its process group a little longer, as a server thread
        // stuck in fsync keeps a killed server alive.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("sleep 2 & exit 0")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = child.id() as i32;
        child.wait().unwrap();
        assert!(group_alive(group), "the sleep outlives its shell");
        assert!(wait_until_group_gone(group, Duration::from_secs(10)));
        assert!(!group_alive(group));
    }

    #[test]
    fn waits_for_the_port_to_close() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let closing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let holder = {
            let closing = closing.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                closing.store(true, std::sync::atomic::Ordering::SeqCst);
                drop(listener);
            })
        };
        assert!(wait_until_closed(&url, Duration::from_secs(10)));
        // It returned only once the listener was going away.
        assert!(closing.load(std::sync::atomic::Ordering::SeqCst));
        holder.join().unwrap();
        // A port that stays open is reported as such.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        assert!(!wait_until_closed(&url, Duration::from_millis(100)));
    }
}
