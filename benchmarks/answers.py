"""Benchmarks for the knowledge base and the query handler: index build time, cold start to first result,
warm search and `answer()` latency p50/p95 over the gold set and the dev set, peak memory.

    .venv/bin/python -m benchmarks.answers [--out benchmarks/out/answers.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "answers.json"))
    args = ap.parse_args()
    from tests.conftest import make_config
    tmp = Path(tempfile.mkdtemp(prefix="pz-bench-"))
    cfg = make_config(tmp)
    t0 = time.perf_counter()
    from bot.core.service import Assistant
    from bot.core.types import Session
    from bot.evaluation import load_gold
    from kb.build import build
    rep = build(cfg, progress=False)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    a = Assistant.load(cfg, build=False)
    a.search("营收首次达到5亿元奖励", 5)
    cold_s = time.perf_counter() - t1
    gold = [c["q"] for c in load_gold()]
    dev = [json.loads(line)["q"] for line in DEV.read_text(encoding="utf-8").splitlines()] if DEV.exists() else gold
    for q in gold[:5]:
        a.search(q, 5)
    search_ms, answer_ms = [], []
    for _ in range(3):
        for q in gold:
            s = time.perf_counter()
            a.search(q, 5)
            search_ms.append((time.perf_counter() - s) * 1000)
        for q in dev:
            s = time.perf_counter()
            a.answer(q, Session(id="bench"))
            answer_ms.append((time.perf_counter() - s) * 1000)
    res = {
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
        "documents": rep.documents, "clauses": rep.clauses, "passages_embedded": rep.embedded,
        "index_build_s": round(build_s, 1), "cold_start_to_first_result_s": round(cold_s, 2),
        "search_ms_p50": round(statistics.median(search_ms), 1), "search_ms_p95": round(pct(search_ms, 95), 1),
        "answer_ms_p50": round(statistics.median(answer_ms), 1), "answer_ms_p95": round(pct(answer_ms, 95), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    for k, v in res.items():
        print(f"{k:32s} {v}")


if __name__ == "__main__":
    main()
