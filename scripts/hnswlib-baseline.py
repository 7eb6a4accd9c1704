"""hnswlib 0.8 on the synthetic recipe of src/dataset.rs (numpy copy), for the
README's in-process comparison: build time on 2 threads, then recall@10 and
single-thread p50 per ef. Needs `pip install hnswlib numpy`."""
import numpy as np, hnswlib, time
n, dim, centres, noise = 100000, 384, 2000, 0.06
rng = np.random.default_rng(1)
C = rng.standard_normal((centres, dim)).astype(np.float32); C /= np.linalg.norm(C, axis=1, keepdims=True)
def gen(m, seed):
    r = np.random.default_rng(seed)
    X = C[r.integers(0, centres, m)] + noise * r.standard_normal((m, dim)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)
X = gen(n, 11); Q = gen(1000, 12)
t = time.time()
p = hnswlib.Index(space='ip', dim=dim); p.init_index(max_elements=n, M=16, ef_construction=100, random_seed=1)
p.set_num_threads(2); p.add_items(X, np.arange(n))
print("build s", round(time.time() - t, 1), flush=True)
truth = np.argsort(-(Q @ X.T), axis=1)[:, :10]
p.set_num_threads(1)
for ef in (16, 32, 64, 128):
    p.set_ef(ef)
    lat = []
    for rep in range(3):
        for i in range(len(Q)):
            t0 = time.perf_counter(); L, _ = p.knn_query(Q[i:i+1], k=10); lat.append(time.perf_counter() - t0)
    L, _ = p.knn_query(Q, k=10)
    rec = np.mean([len(set(L[i]) & set(truth[i])) / 10 for i in range(len(Q))])
    print("ef", ef, "recall", round(rec, 4), "p50 us", round(np.median(lat) * 1e6, 1), flush=True)
