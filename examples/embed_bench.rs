//! Throughput and latency of the local embedder.
//!
//! ```text
//! cargo run --release --example embed_bench -- MODEL_DIR TEXTS_FILE BATCH_SIZE THREADS [RUNS]
//! cargo run --release --example embed_bench -- models/all-MiniLM-L6-v2 ../shared/fixtures/product-texts-2000.txt 32 2
//! ```
//!
//! Embeds every line of TEXTS_FILE in batches of BATCH_SIZE, in file order (as a client sending batches would),
//! RUNS times (default 3), and prints texts/s for each run; then the latency of one short query (p50/p90 of 200),
//! back to back and 0.5 ms apart.
//! `HELIO_BENCH_KERNELS=avx2` or `portable` picks the matrix kernels (default: the ones the CPU gets, which
//! `HELIO_PORTABLE_KERNELS=1` makes the portable ones); the first line says which ran.
//! Also prints the CPU time used per wall-clock second (Linux only), which shows the THREADS bound holds, and
//! texts per CPU-second, a figure that other processes competing for the cores disturb less than texts/s.
use std::time::Instant;

use helio::embed::local::{Kernels, LocalEmbedder};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        anyhow::bail!("usage: embed_bench MODEL_DIR TEXTS_FILE BATCH_SIZE THREADS [RUNS]");
    }
    let batch: usize = args[2].parse()?;
    let threads: usize = args[3].parse()?;
    let runs: usize = args.get(4).map_or(Ok(3), |r| r.parse())?;
    let kernels = match std::env::var("HELIO_BENCH_KERNELS")
        .unwrap_or_default()
        .as_str()
    {
        "" => Kernels::detect(),
        "avx2" => Kernels::Avx2,
        "portable" => Kernels::Portable,
        other => anyhow::bail!("HELIO_BENCH_KERNELS={other:?}: use avx2 or portable"),
    };
    let embedder = LocalEmbedder::load_with(args[0].as_ref(), "bench", threads, kernels)?;
    let file = std::fs::read_to_string(&args[1])?;
    let texts: Vec<&str> = file.lines().filter(|l| !l.is_empty()).collect();
    println!(
        "{} texts, batch {batch}, threads {}, dim {}, {} kernels",
        texts.len(),
        embedder.threads(),
        embedder.dim(),
        embedder.kernels()
    );

    embedder.embed(&texts[..batch.min(texts.len())])?; // warm-up: scratch buffers, caches
    for run in 1..=runs {
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        for chunk in texts.chunks(batch) {
            embedder.embed(chunk)?;
        }
        let wall = t0.elapsed().as_secs_f64();
        let rate = texts.len() as f64 / wall;
        // On a shared machine other processes steal cores; texts per CPU-second is less sensitive to that.
        let cpu = match (cpu0, cpu_seconds()) {
            (Some(a), Some(b)) if b > a => format!(
                ", {:.2} cores busy, {:.1} texts per CPU-second",
                (b - a) / wall,
                texts.len() as f64 / (b - a)
            ),
            _ => String::new(),
        };
        println!("run {run}: {rate:.1} texts/s ({wall:.2} s{cpu})");
    }

    // Back to back, the pool's threads never go idle; a server sees a pause between requests (the answer
    // travels, the client reads it and sends the next), after which the threads must be woken again.
    let query = "painel solar 550w monocristalino";
    for pause_us in [0u64, 500] {
        let mut ms: Vec<f64> = (0..200)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_micros(pause_us));
                let t = Instant::now();
                embedder.embed(&[query]).expect("embed");
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "single query {query:?}, {pause_us} us apart: p50 {:.2} ms, p90 {:.2} ms",
            ms[ms.len() / 2],
            ms[ms.len() * 9 / 10]
        );
    }
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        println!("process threads: {}", tasks.count());
    }
    Ok(())
}

/// User + system CPU time of this process, from /proc/self/stat (None elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces); utime and stime are
    // fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
