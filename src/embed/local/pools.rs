//! The embedder's two thread pools: queries on one, batches on the other at idle priority.
//!
//! Each embedder owns two rayon [`rayon::ThreadPool`]s of `threads` workers each and runs tokenisation and the
//! whole forward pass inside [`rayon::ThreadPool::install`] of one of them. Everything parallel here uses
//! rayon's *current* pool: our loops, the tokenizer's `encode_batch`, and gemm in the portable path
//! (`Parallelism::Rayon(n)` splits a product into `n` tasks on the current pool). The caller's thread only
//! waits, so each pool keeps at most `threads` cores busy, whatever the number of concurrent callers; no
//! global state is touched.
//!
//! The two pools keep a query from queueing behind a batch. Calls of at most [`INTERACTIVE_TEXTS`] texts (a
//! query, a few `Document`s) run on the *interactive* pool; bigger ones (catalog ingestion, batch upserts)
//! on the *bulk* pool, whose threads run under Linux's `SCHED_IDLE` policy (see
//! [`lower_this_threads_priority`]). With one pool, a query arriving while the pipeline embedded batches
//! waited for a worker to finish its share of a batch: p95 of a single `/v1/embeddings` text went to
//! ~375 ms. Now a query takes the cores as soon as it arrives and the batch loses only the few milliseconds
//! the query takes. The price: a batch advances only on cores nothing else in the machine wants, so a busy
//! machine slows ingestion rather than queries.
//!
//! A batch is shared out by texts (each thread runs the whole forward pass over its share); only a single
//! query, or a call too small to share, splits each matrix product across the threads (see `LocalEmbedder::embed_in_pool`).
//! candle's own CPU ops would not respect that: its `Tensor::matmul` sizes gemm's split from
//! `RAYON_NUM_THREADS` or the core count, and since candle 0.10 its element-wise ops on tensors above 64K
//! elements run on a process-wide spinning "barrier pool" sized by `CANDLE_NUM_THREADS` (default: all cores),
//! outside any rayon pool. That is one more reason the hot path uses no candle ops.

use super::error::LocalError;

/// Calls with at most this many texts run on the interactive pool (see the module doc).
pub const INTERACTIVE_TEXTS: usize = 4;

/// The interactive and the bulk pool of one embedder.
pub(crate) struct Pools {
    /// Runs calls of at most [`INTERACTIVE_TEXTS`] texts.
    interactive: rayon::ThreadPool,
    /// Runs bigger calls, at a lower priority.
    bulk: rayon::ThreadPool,
}

impl Pools {
    /// Starts both pools, `threads` workers each.
    pub(crate) fn new(threads: usize) -> Result<Pools, LocalError> {
        let interactive = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-{i}"))
            .build()
            .map_err(|error| LocalError::ThreadPool { pool: "", error })?;
        let bulk = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embed-bulk-{i}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()
            .map_err(|error| LocalError::ThreadPool {
                pool: "bulk ",
                error,
            })?;
        Ok(Pools { interactive, bulk })
    }

    /// The pool a call of `n` texts runs on.
    pub(crate) fn for_texts(&self, n: usize) -> &rayon::ThreadPool {
        if n <= INTERACTIVE_TEXTS {
            &self.interactive
        } else {
            &self.bulk
        }
    }
}

/// Puts the calling thread under `SCHED_IDLE` (Linux applies it to one thread when given its id): it then
/// runs only on a core no other thread wants, and a waking query thread takes the core at once. Measured
/// with a client sending batches of 32 non-stop, one new text through `/v1/embeddings` read p50 5.1–6.7 ms
/// this way, against 8.3–10.3 ms at nice 19, 10.7–11.9 ms at nice 10 and 13.8 ms at the same priority
/// (README, Embeddings). Lowering one's own priority needs no privilege; should it fail anyway, nice 19 is
/// tried, and failing that the thread keeps its priority, which costs queries latency but changes no
/// result, so failures are only logged.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; the only memory passed is a local
        // sched_param that outlives the call.
        let (idle, nice) = unsafe {
            let tid = libc::gettid();
            let param = libc::sched_param { sched_priority: 0 };
            let idle = libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
            let nice = if idle == 0 {
                0
            } else {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
            };
            (idle, nice)
        };
        if idle != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                reniced = nice == 0,
                "cannot run the bulk embedding threads under SCHED_IDLE"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn small_calls_run_at_normal_priority_and_batches_below_it() {
        let pools = Pools::new(2).unwrap();
        // SAFETY: sched_getscheduler on the calling thread's own id.
        let policy = || unsafe { libc::sched_getscheduler(libc::gettid()) };
        let name = || {
            std::thread::current()
                .name()
                .unwrap_or_default()
                .to_string()
        };
        for n in [1, INTERACTIVE_TEXTS] {
            let (p, thread) = pools.for_texts(n).install(|| (policy(), name()));
            assert_eq!(p, libc::SCHED_OTHER, "{n} texts");
            assert!(
                thread.starts_with("embed-") && !thread.contains("bulk"),
                "{thread}"
            );
        }
        let (p, thread) = pools
            .for_texts(INTERACTIVE_TEXTS + 1)
            .install(|| (policy(), name()));
        assert_eq!(p, libc::SCHED_IDLE, "{thread}");
        assert!(thread.starts_with("embed-bulk-"), "{thread}");
    }
}
