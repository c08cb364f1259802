"""Milvus (milvus-lite) against FAISS + BM25 as the search backend behind the same retriever: recall@1/3 and
search latency p50/p95 on the retrieval gold set (tests/gold/retrieval.yaml), and optionally search latency on
a synthetic knowledge base of many clauses (benchmarks/scale.py's generator).

    pip install -r requirements-milvus.txt
    .venv/bin/python -m benchmarks.milvus_eval [--passes 3] [--synthetic 100000] [--out benchmarks/out/milvus.json]

Latency is of `Retriever.search` with the question already embedded (a query embedding, the same for both, is
left out). Both backends rank the same passages and BM25 weights (Milvus: FLAT inner-product index for the vectors, a
sparse inverted index holding the build's BM25 weights), restricted to the documents a question may use; the
sentence ranking, fusion and reranking after them are the retriever's own, so differences are the engines'.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import pct

ROOT = Path(__file__).resolve().parent.parent


def timed_search(assistant, cases: list[tuple[str, str | None]], passes: int) -> list[float]:
    """Search latency with the question already embedded (the same for both backends): the engines and
    the retriever's own work around them."""
    from kb.synonyms import expand
    today = assistant.today()
    vecs = [assistant.retriever.embedder.query(expand(q)) for q, _ in cases]
    for (q, region), v in list(zip(cases, vecs))[:10]:
        assistant.retriever.search(q, 5, region, today, qvec=v)
    ms = []
    for _ in range(passes):
        for (q, region), v in zip(cases, vecs):
            t = time.perf_counter()
            assistant.retriever.search(q, 5, region, today, qvec=v)
            ms.append((time.perf_counter() - t) * 1000)
    return ms


def gold_cases(assistant) -> list[tuple[str, str | None]]:
    from bot.evaluation import load_gold
    out = []
    for case in load_gold():
        if case.get("region"):
            region = assistant.gaz.resolve(case["region"]).name
        else:
            found = assistant.gaz.find_in(case["q"])
            region = found.name if found else None
        out.append((case["q"], region))
    return out


def row(name: str, metrics: dict | None, ms: list[float], extra: dict) -> dict:
    out = {"backend": name, "search_ms_p50": round(statistics.median(ms), 1), "search_ms_p95": round(pct(ms, 95), 1)}
    if metrics:
        out.update({"recall@1": round(metrics["r1"], 3), "recall@3": round(metrics["r3"], 3),
                    "mrr": round(metrics["mrr"], 3), "questions": metrics["n"]})
    out.update(extra)
    return out


def compare(cfg, embedder, passes: int, work: Path, with_recall: bool, cases=None) -> list[dict]:
    from bot.core.service import Assistant
    from bot.evaluation import load_gold, retrieval_metrics
    from index.milvus import load_into_milvus, milvus_assistant
    a = Assistant.load(cfg, build=False, embedder=embedder)
    cases = cases or gold_cases(a)
    rows = []
    metrics = retrieval_metrics(a, load_gold())[0] if with_recall else None
    rows.append(row("FAISS + BM25 (bm25s weights, mmap)", metrics, timed_search(a, cases, passes),
                    {"clauses": a.retriever.index.layout.size, "passages": a.retriever.index.layout.passages}))
    uri = work / "milvus.db"
    t = time.perf_counter()
    load_into_milvus(a.retriever.index, str(uri))
    load_s = time.perf_counter() - t
    m = milvus_assistant(Assistant.load(cfg, build=False, embedder=embedder), uri)
    metrics = retrieval_metrics(m, load_gold())[0] if with_recall else None
    rows.append(row("Milvus (milvus-lite: FLAT IP + sparse BM25)", metrics, timed_search(m, cases, passes),
                    {"clauses": a.retriever.index.layout.size, "passages": a.retriever.index.layout.passages,
                     "load_into_milvus_s": round(load_s, 1)}))
    m.retriever.client.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=3, help="timed passes over the questions")
    ap.add_argument("--synthetic", type=int, default=0,
                    help="also time search on a synthetic knowledge base of this many clauses (0: no)")
    ap.add_argument("--work", default=None, help="where to build (default: a temp dir)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "milvus.json"))
    args = ap.parse_args()
    try:
        import pymilvus  # noqa: F401
    except ImportError:
        sys.exit("pymilvus is not installed: pip install -r requirements-milvus.txt")
    from bot.build import build_all
    from index.embedder import make_embedder
    from tests.conftest import make_config
    work = Path(args.work or tempfile.mkdtemp(prefix="pz-milvus-"))
    cfg = make_config(work / "gold")
    emb = make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir)
    build_all(cfg, progress=False, embedder=emb)
    report = {"gold": compare(cfg, emb, args.passes, work / "gold", with_recall=True)}
    if args.synthetic:
        from benchmarks.scale import _config, build_size, questions
        size_dir = work / f"syn-{args.synthetic}"
        report["synthetic_build"] = build_size(args.synthetic, size_dir, sample=16)
        scfg = _config(size_dir)
        cases = [(q, None if place is None else _region_of(place)) for q, place in questions(200)]
        report["synthetic"] = compare(scfg, emb, 1, size_dir, with_recall=False, cases=cases)
    report["load_average_at_end"] = round(os.getloadavg()[0], 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    for part in ("gold", "synthetic"):
        for r in report.get(part, []):
            print(part, json.dumps(r, ensure_ascii=False))


def _region_of(place: str) -> str:
    from kb.regions import Gazetteer
    return Gazetteer.load().resolve(place).name


if __name__ == "__main__":
    main()
