"""Benchmarks for the knowledge base and the query handler: index build time, start-up, a cold
`python -m bot ask` (whole process, several runs), warm search and `answer()` latency p50/p95 over the gold set
and the dev + held-out questions, peak memory.

    .venv/bin/python -m benchmarks.answers [--cold-runs 5] [--passes 2] [--out benchmarks/out/answers.json]

Wall times on a shared machine include waiting for a core: CPU time (user + sys) is reported beside them, and
the load average when the run ended.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import pct

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
DEV_SETS = [SHARED / "dev.jsonl", SHARED / "dev2.jsonl"]      # the measure: "over the dev sets"
QUESTION_SETS = DEV_SETS + [ROOT / "eval" / "holdout.jsonl", ROOT / "eval" / "holdout2.jsonl"]
COLD_QUESTION = "晋城涉农企业营收首次达到3亿元，奖励多少？"


def questions(sets=QUESTION_SETS) -> list[str]:
    out = []
    for f in sets:
        if f.exists():
            out += [json.loads(line)["q"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def cold_asks(env: dict, runs: int) -> dict:
    """`python -m bot ask QUESTION`, whole process, in fresh interpreters (the knowledge base already built)."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "bot", "ask", COLD_QUESTION], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if p.returncode != 0 or "20万" not in p.stdout:
            raise SystemExit(f"cold ask failed: {p.stdout[-500:]} {p.stderr[-1500:]}")
    return {"cold_ask_wall_s_min": round(min(walls), 2), "cold_ask_wall_s_median": round(statistics.median(walls), 2),
            "cold_ask_wall_s_max": round(max(walls), 2), "cold_ask_cpu_s_median": round(statistics.median(cpus), 2),
            "cold_ask_runs": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "answers.json"))
    ap.add_argument("--cold-runs", type=int, default=5, help="fresh `python -m bot ask` processes timed")
    ap.add_argument("--passes", type=int, default=2, help="timed passes over the questions (after one warm-up)")
    args = ap.parse_args()
    from tests.conftest import make_config
    tmp = Path(tempfile.mkdtemp(prefix="pz-bench-"))
    cfg = make_config(tmp)
    env = dict(os.environ, PZ_DATA_DIR=str(cfg.data_dir), PZ_DOCUMENTS_DIR=str(cfg.documents_dir),
               PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    from bot.build import build_all
    rep = build_all(cfg, progress=False)
    build_s = time.perf_counter() - t0
    cold = cold_asks(env, args.cold_runs)
    t1 = time.perf_counter()
    from bot.core.service import Assistant
    from bot.core.types import Session
    from bot.evaluation import load_gold
    imports_s = time.perf_counter() - t1
    from index.embedder import make_embedder
    emb = make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir,
                        cfg.embed_spin)
    t2 = time.perf_counter()
    a = Assistant.load(cfg, build=False, embedder=emb)
    load_s = time.perf_counter() - t2
    t3 = time.perf_counter()
    a.answer(COLD_QUESTION, Session(id="first"))
    first_s = time.perf_counter() - t3
    embed_ms, embed_calls = [0.0], [0]
    real_query = emb.query

    def timed_query(text):      # the query embedding's share of an answer (it dominates, and a busy machine
        t = time.perf_counter()  # slows it most), to report the rest apart
        embed_calls[0] += 1
        try:
            return real_query(text)
        finally:
            embed_ms[0] += (time.perf_counter() - t) * 1000
    emb.query = timed_query
    gold = [c["q"] for c in load_gold()]
    qs = questions() or gold
    dev = set(questions(DEV_SETS))
    for q in gold[:5] + qs:                    # warm-up: caches as in service
        a.search(q, 5)
        a.answer(q, Session(id="warm"))
    search_ms, answer_ms, answer_cpu_ms, rest_ms, answer_embeds, dev_ms = [], [], [], [], 0, []
    for _ in range(args.passes):
        for q in gold:
            s = time.perf_counter()
            a.search(q, 5)
            search_ms.append((time.perf_counter() - s) * 1000)
        for q in qs:
            s, c, e, n = time.perf_counter(), time.process_time(), embed_ms[0], embed_calls[0]
            a.answer(q, Session(id="bench"))
            answer_ms.append((time.perf_counter() - s) * 1000)
            if q in dev:
                dev_ms.append(answer_ms[-1])
            rest_ms.append(answer_ms[-1] - (embed_ms[0] - e))
            answer_embeds += embed_calls[0] - n
            answer_cpu_ms.append((time.process_time() - c) * 1000)
    res = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "documents": rep.documents, "clauses": rep.clauses, "passages_embedded": rep.embedded,
        "index_build_s": round(build_s, 1), **cold,
        "imports_s": round(imports_s, 2), "assistant_load_s": round(load_s, 3), "first_answer_s": round(first_s, 3),
        "search_questions": len(gold), "answer_questions": len(qs), "passes": args.passes,
        "search_ms_p50": round(statistics.median(search_ms), 1), "search_ms_p95": round(pct(search_ms, 95), 1),
        "answer_ms_p50": round(statistics.median(answer_ms), 1), "answer_ms_p95": round(pct(answer_ms, 95), 1),
        "answer_ms_max": round(max(answer_ms), 1),
        "dev_answers": len(dev_ms) // max(args.passes, 1),
        "dev_answer_ms_p50": round(statistics.median(dev_ms), 1) if dev_ms else None,
        "dev_answer_ms_p95": round(pct(dev_ms, 95), 1) if dev_ms else None,
        "answer_without_query_embedding_ms_p50": round(statistics.median(rest_ms), 1),
        "answer_without_query_embedding_ms_p95": round(pct(rest_ms, 95), 1),
        "query_embeddings_per_answer": round(answer_embeds / max(len(answer_ms), 1), 2),
        # CPU time of the process (both OpenMP threads) per answer: what the answer costs, waiting left out
        "answer_cpu_ms_p50": round(statistics.median(answer_cpu_ms), 1),
        "answer_cpu_ms_p95": round(pct(answer_cpu_ms, 95), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "load_average_at_end": round(os.getloadavg()[0], 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    for k, v in res.items():
        print(f"{k:32s} {v}")


if __name__ == "__main__":
    main()
