"""Scale benchmark: synthetic knowledge bases of many clauses over every region of the gazetteer, built with the
real build (index/store.py write_build) and served by the real assistant: build time, start-up time, peak memory,
warm answer p50/p95, and how each grows with the number of clauses.

    .venv/bin/python -m benchmarks.scale [--sizes 10000,100000,300000] [--questions 200] [--work DIR]

The knowledge base: the five real documents, plus documents made from them — every clause of a real document
rewritten for another region (its name and short name, the places in it, the industry, the figures and years,
文号 and dates), so the clauses have the real shapes, lengths and vocabulary. Documents go to the gazetteer's
counties (70%), cities (25%) and the province (5%); a few are retired or expired.

Embeddings (declared in the output): the real embedder (the configured one) embeds each real clause once (the
templates) and a sample of synthetic passages, to measure its speed and extrapolate the build time it would take; the bulk is
embedded by a fast stand-in — the real vector of the passage's template clause plus a random projection of the
passage's hashed character bigrams (cosine to the real vector is reported). Questions are embedded by the real
embedder at answer time, so question understanding and search run exactly as in service.

Questions: the retrieval gold set's questions (tests/gold/retrieval.yaml), each asked about a region (a county or
city short name put in front) and once without one (the whole knowledge base).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

from benchmarks import pct

ROOT = Path(__file__).resolve().parent.parent
INDUSTRIES = ("铸造", "陶瓷", "琉璃", "老陈醋", "小杂粮", "煤机装备", "玻璃器皿", "不锈钢制品", "铁锅", "剪纸", "中药材",
              "核桃", "红枣", "苹果", "黄花菜", "连翘", "丝麻", "织锦", "镁合金", "耐火材料", "铜器", "紫砂", "砂器",
              "酿酒", "肉制品", "乳制品", "马铃薯", "谷子", "食用菌", "皮毛", "轴承", "紧固件", "风机", "光伏组件",
              "刺绣", "木雕", "石雕", "面食", "沙棘", "蔬菜")
DIM = 384
STANDIN_NOISE = 0.3


# ---- the synthetic knowledge base ----------------------------------------------------------------------------
def _templates():
    from kb.build import parse_all
    from kb.documents import load_documents
    docs = load_documents(ROOT / "kb" / "documents")
    return docs, parse_all(docs)


def _regions():
    from kb.regions import Gazetteer
    g = Gazetteer.load()
    counties = [r for r in g.regions.values() if r.level == "county"]
    cities = [r for r in g.regions.values() if r.level == "city"]
    province = [r for r in g.regions.values() if r.level == "province"]
    return g, counties, cities, province


def _names(g, region) -> list[str]:
    r = g.regions[region]
    return sorted({r.name, *r.aliases}, key=len, reverse=True)


def _rewriter(g, src_region: str, region, industry: str, rng: random.Random):
    """A function rewriting a template document's text for `region`."""
    own = _names(g, src_region)
    short = region.aliases[0] if region.aliases else region.name
    children = [r.name for r in g.regions.values() if r.parent == region.name] or [region.name]
    others = sorted({a for r in g.regions.values() if r.level == "county" and r.name != src_region
                     for a in (r.name,)}, key=len, reverse=True)
    factor = rng.choice((1, 1, 2, 3, 5))
    shift = rng.choice((0, 0, 1, 2))
    own_rx = re.compile("|".join(map(re.escape, own)))
    other_rx = re.compile("|".join(map(re.escape, others))) if others else None
    num_rx = re.compile(r"(?<![\d.])(\d+)(?![\d.])")
    picks: dict[str, str] = {}

    def num(m: re.Match) -> str:
        n = int(m.group(1))
        if 1990 <= n <= 2035:
            return str(n + shift)
        return str(n * factor) if n < 10 ** 6 else m.group(1)

    def rewrite(text: str) -> str:
        text = own_rx.sub(lambda m: region.name if m.group().endswith(("市", "县", "区", "省")) else short, text)
        if other_rx is not None:
            text = other_rx.sub(lambda m: picks.setdefault(m.group(), rng.choice(children)), text)
        text = num_rx.sub(num, text)
        return text.replace("特色专业镇", f"{industry}特色专业镇").replace("主导产业", f"{industry}主导产业", 1)
    return rewrite


def make_kb(n_clauses: int, seed: int = 7):
    """(documents, clauses, template index of each clause): the real documents, then rewritten copies until
    the knowledge base holds n_clauses clauses."""
    from kb.documents import SourceDocument
    rng = random.Random(seed)
    g, counties, cities, province = _regions()
    docs, clauses = _templates()
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(clauses):
        by_doc.setdefault(c.doc_id, []).append(i)
    out_docs = list(docs)
    out_clauses = list(clauses)
    template = list(range(len(clauses)))
    n = 0
    while len(out_clauses) < n_clauses:
        n += 1
        src = rng.choice(docs)
        pool = rng.choices((counties, cities, province), weights=(70, 25, 5))[0]
        region = rng.choice(pool)
        industry = rng.choice(INDUSTRIES)
        rewrite = _rewriter(g, src.meta.region, region, industry, rng)
        doc_id = f"syn-{n:06d}"
        year = rng.randint(2021, 2026)
        day = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        short = region.aliases[0] if region.aliases else region.name
        status = "retired" if n % 40 == 7 else "active"
        until = f"{year + rng.choice((2, 3, 5))}-12-31" if rng.random() < 0.3 else None
        meta = replace(src.meta, id=doc_id, title=rewrite(src.meta.title).replace("专业镇", f"{industry}专业镇", 1),
                       number=f"{short}政办〔{year}〕{rng.randint(1, 150)}号", issuer=rewrite(src.meta.issuer),
                       region=region.name, date=day, valid_from=day, valid_until=until, status=status,
                       supersedes=None, superseded_by=None, source_file=f"{doc_id}.txt", sha256=None, notes=None)
        out_docs.append(SourceDocument(meta, "", Path(f"{doc_id}.txt")))
        for i in by_doc[src.meta.id]:
            c = clauses[i]
            out_clauses.append(replace(c, id=f"{doc_id}/{c.id.split('/', 1)[1]}", doc_id=doc_id,
                                       heading_path=[rewrite(h) for h in c.heading_path], text=rewrite(c.text),
                                       raw_text="", offices=rewrite(c.offices)))
            template.append(i)
    return out_docs, out_clauses, template


# ---- embeddings ----------------------------------------------------------------------------------------------
_PROJ = {}


def _bigram_projection(texts: list[str], buckets: int = 4096, seed: int = 11):
    """Unit vectors: each text's character-bigram counts (hashed into buckets) times a fixed random matrix."""
    import numpy as np
    proj = _PROJ.get((buckets, seed))
    if proj is None:
        proj = _PROJ[(buckets, seed)] = np.random.default_rng(seed).standard_normal((buckets, DIM)).astype(np.float32)
    rows, cols = [], []
    for i, t in enumerate(texts):
        h = [zlib.crc32(t[j:j + 2].encode()) % buckets for j in range(len(t) - 1)]
        rows.extend([i] * len(h))
        cols.extend(h)
    counts = np.zeros((len(texts), buckets), np.float32)
    np.add.at(counts, (np.array(rows, np.int64), np.array(cols, np.int64)), 1.0)
    v = counts @ proj
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)


class StandIn:
    """Fast stand-in for the passage embedder of a synthetic knowledge base (declared in the output): the real
    vector of the passage's template clause plus a projection of its hashed character bigrams. Texts it was
    not told about get the projection alone. Named as the real embedder so the real assistant loads the index
    and embeds questions with the real model."""

    def __init__(self, real, templates, registry: dict[int, int]):
        self.backend, self.model, self.dim = real.backend, real.model, real.dim
        self.templates, self.registry = templates, registry
        self.unknown = 0

    def passages(self, texts: list[str]):
        import numpy as np
        noise = _bigram_projection(texts)
        out = np.empty((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            k = self.registry.get(zlib.crc32(t.encode()) ^ (len(t) << 32))
            if k is None:
                self.unknown += 1
                out[i] = noise[i]
            else:
                v = self.templates[k] + STANDIN_NOISE * noise[i]
                out[i] = v / np.linalg.norm(v)
        return out

    def query(self, text: str):
        raise RuntimeError("the stand-in embeds passages only")


def _text_key(t: str) -> int:
    return zlib.crc32(t.encode()) ^ (len(t) << 32)


# ---- one size: build (in its own process) ----------------------------------------------------------------------
def build_size(size: int, work: Path, sample: int) -> dict:
    import numpy as np

    from index.embedder import make_embedder
    from index.passages import passages
    from index.sentences import sentence_passage, split_sentences
    from index.store import doc_hash, write_build
    from index.tokenize import use_cache
    from kb.parse import INDEXED_KINDS
    from kb.store import write_kb
    t0 = time.perf_counter()
    docs, clauses, template = make_kb(size)
    gen_s = time.perf_counter() - t0
    cfg = _config(work)
    use_cache(cfg.cache_dir)
    real = make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir)
    metas = {d.meta.id: d.meta for d in docs}
    # templates: the real vector of each real clause (its first passage)
    t1 = time.perf_counter()
    n_real = len(_templates()[1])
    tpl_text = [passages(metas[c.doc_id], c, cfg.passage_chars)[0] for c in clauses[:n_real]]
    templates = _template_vectors(real, tpl_text, cfg.cache_dir)
    registry: dict[int, int] = {}
    texts_for_sample: list[str] = []
    for c, k in zip(clauses, template):
        if c.kind not in INDEXED_KINDS:
            continue
        ps = passages(metas[c.doc_id], c, cfg.passage_chars)
        for p in ps:
            registry[_text_key(p)] = k
        for s in split_sentences(c.text):
            registry[_text_key(sentence_passage(c, s))] = k
        if c.doc_id.startswith("syn-") and len(texts_for_sample) < 50 * sample:
            texts_for_sample.extend(ps)
    standin = StandIn(real, templates, registry)
    # the real embedder on a sample: its speed, and how close the stand-in comes to it
    rng = random.Random(3)
    pick = rng.sample(texts_for_sample, min(sample, len(texts_for_sample))) if texts_for_sample else []
    ts = time.perf_counter()
    real_vecs = real.passages(pick) if pick else np.zeros((0, DIM), np.float32)
    real_per_text = (time.perf_counter() - ts) / max(len(pick), 1)
    stand_vecs = standin.passages(pick) if pick else real_vecs
    fidelity = float(np.mean(np.sum(real_vecs * stand_vecs, axis=1))) if pick else None
    standin.unknown = 0
    prep_s = time.perf_counter() - t1
    # the real build, from clauses on (parsing documents is not what grows here)
    data = cfg.data_dir
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    t2 = time.perf_counter()
    hashes = {d.meta.id: doc_hash(d.meta, d.text) for d in docs}

    def kb_writer(path):
        write_kb(path, docs=docs, clauses=clauses)
    final, embedded = write_build(data, standin, metas, hashes, clauses, kb_writer, cfg.passage_chars,
                                  progress=size >= 50000, batch_size=512)
    build_s = time.perf_counter() - t2
    texts_embedded = sum(1 for _ in open(final / "passages.jsonl", encoding="utf-8")) + \
        len(json.loads((final / "sentence_keys.json").read_text(encoding="utf-8")))
    return {
        "clauses": len(clauses), "indexed": sum(1 for c in clauses if c.kind in INDEXED_KINDS),
        "documents": len(docs), "generate_s": round(gen_s, 1), "templates_and_sample_s": round(prep_s, 1),
        "build_s": round(build_s, 1), "embedded_texts": texts_embedded, "standin_unknown_texts": standin.unknown,
        "real_embedder_ms_per_text": round(real_per_text * 1000, 1),
        "real_embedding_estimate_s": round(real_per_text * texts_embedded),
        "standin_cosine_to_real": round(fidelity, 3) if fidelity is not None else None,
        "index_mb": round(sum(f.stat().st_size for f in final.iterdir() if f.is_file()) / 2**20),
        "build_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _template_vectors(real, texts: list[str], cache_dir: Path):
    """The real embedder's vectors of the template passages, kept in the cache (they change only with the
    documents or the model)."""
    import hashlib

    import numpy as np
    key = hashlib.sha256(("\x00".join([real.backend, real.model, *texts])).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "scale" / f"templates-{key}.npy"
    if path.exists():
        return np.load(path)
    vecs = real.passages(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def _config(work: Path):
    from bot.config import load_config
    return load_config(ROOT / "config.yaml", env={"PZ_DATA_DIR": str(work / "var")})


# ---- one size: start-up and answers (in a fresh process) ----------------------------------------------------------
def questions(n: int, seed: int = 5) -> list[tuple[str, str | None]]:
    """(question, region short name or None): gold questions about a county or city, and without a region."""
    import yaml
    gold = yaml.safe_load((ROOT / "tests" / "gold" / "retrieval.yaml").read_text(encoding="utf-8"))["cases"]
    qs = [c["q"] for c in gold]
    g, counties, cities, _ = _regions()
    places = [r.aliases[0] if r.aliases else r.name for r in counties + cities]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = qs[i % len(qs)]
        if i % 4 == 3:
            out.append((q, None))
        else:
            place = rng.choice(places)
            out.append((f"{place}{q}", place))
    rng.shuffle(out)
    return out


def serve_size(work: Path, n_questions: int, answers: bool, t_start: float) -> dict:
    t0 = time.perf_counter()
    from bot.core.service import Assistant
    from bot.core.types import Session
    from index.embedder import make_embedder
    cfg = _config(work)
    emb = make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir,
                        cfg.embed_spin)
    t1, c1 = time.perf_counter(), time.process_time()
    a = Assistant.load(cfg, build=False, embedder=emb)
    t2, c2 = time.perf_counter(), time.process_time()
    a.answer("泽州县的企业营收首次达到10亿元有什么奖励", Session(id="first"))
    t3 = time.perf_counter()
    out = {"imports_and_embedder_s": round(t1 - t0, 2), "load_s": round(t2 - t1, 3), "load_cpu_s": round(c2 - c1, 3),
           "first_answer_s": round(t3 - t2, 3), "process_to_first_answer_s": round(t3 - t_start, 2),
           "process_cpu_to_first_answer_s": round(time.process_time(), 2)}
    if answers:
        embed_ms, embed_cpu_ms = [0.0], [0.0]
        real_query = emb.query

        def timed_query(text):          # the query embedding's share, reported apart
            t, c = time.perf_counter(), time.process_time()
            try:
                return real_query(text)
            finally:
                embed_ms[0] += (time.perf_counter() - t) * 1000
                embed_cpu_ms[0] += (time.process_time() - c) * 1000
        emb.query = timed_query
        qs = questions(n_questions + 20)
        for q, _ in qs[:20]:                       # warm-up, on other questions than those timed
            a.answer(q, Session(id="warm"))
        scoped, whole, cpu, rest, rest_cpu = [], [], [], [], []
        for q, place in qs[20:]:
            s, c, e, ec = time.perf_counter(), time.process_time(), embed_ms[0], embed_cpu_ms[0]
            a.answer(q, Session(id="bench"))
            (scoped if place else whole).append((time.perf_counter() - s) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            rest.append((scoped if place else whole)[-1] - (embed_ms[0] - e))
            rest_cpu.append(cpu[-1] - (embed_cpu_ms[0] - ec))     # what waiting for the disk does not count
        every = scoped + whole
        out.update({
            "answer_cpu_ms_p50": round(statistics.median(cpu), 1), "answer_cpu_ms_p95": round(pct(cpu, 95), 1),
            "without_embedding_ms_p50": round(statistics.median(rest), 1),
            "without_embedding_ms_p95": round(pct(rest, 95), 1),
            "cpu_without_embedding_ms_p50": round(statistics.median(rest_cpu), 1),
            "cpu_without_embedding_ms_p95": round(pct(rest_cpu, 95), 1),
            "answers": len(every),
            "answer_ms_p50": round(statistics.median(every), 1), "answer_ms_p95": round(pct(every, 95), 1),
            "region_answer_ms_p50": round(statistics.median(scoped), 1),
            "region_answer_ms_p95": round(pct(scoped, 95), 1),
            "no_region_answer_ms_p50": round(statistics.median(whole), 1) if whole else None,
            "no_region_answer_ms_p95": round(pct(whole, 95), 1) if whole else None,
        })
    out["serve_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out.update(_memory())
    if answers:     # after the memory is measured: the exact searches read the whole flat index
        out.update(ann_agreement(a, [q for q, _ in qs[20:]]))
    return out


def ann_agreement(assistant, qs: list[str]) -> dict:
    """How close the approximate dense index (index/dense.py) comes to exact search on the timed questions,
    measured after the timing: per range it searches approximately, the best passage and the best ten of the
    passages it asks for (as the retriever asks); per question, the retriever's first hit and first five
    clauses, against a retriever over the same build searching exactly."""
    from dataclasses import replace

    from index.dense import DenseIndex
    from index.search import Retriever
    from kb.synonyms import expand
    r = assistant.retriever
    dense, lay = r.index.dense, r.index.layout
    if not dense.approximate:
        return {"ann": False}
    exact = Retriever(r.kb, replace(r.index, dense=DenseIndex(dense.index)), r.embedder, r.gaz, r.rrf_k,
                      r.candidates, r.sparse_weight, r.sentence_weight, r.heading_weight)
    today = assistant.today()
    n = max(8 * r.candidates, 512)
    top1, top10, ranges, hit1, hit5, asked = 0, 0.0, 0, 0, 0.0, 0
    for q in qs:
        found = r.gaz.find_in(q)
        region = found.name if found else None
        qvec = r.embedder.query(expand(q))
        for a, b in lay.ranges(r.gaz.ancestors(region) if region else None):
            pa, pb = lay.passage_range(a, b)
            if pb - pa <= r.WHOLE_SHARD:
                continue
            got, _ = dense.nearest(qvec, n, pa, pb)
            want, _ = dense.search(qvec, n, pa, pb)
            ranges += 1
            top1 += int(len(got) > 0 and got[0] == want[0])
            top10 += len(set(got[:10].tolist()) & set(want[:10].tolist())) / 10
        h = [x.clause_id for x in r.search(q, 5, region, today, qvec=qvec)]
        e = [x.clause_id for x in exact.search(q, 5, region, today, qvec=qvec)]
        if e:
            asked += 1
            hit1 += int(h[:1] == e[:1])
            hit5 += len(set(h) & set(e)) / len(e)
    return {"ann": True, "ann_nlist": int(dense.ann.nlist), "ann_ranges": ranges,
            "ann_dense_top1": round(top1 / max(ranges, 1), 3), "ann_dense_recall10": round(top10 / max(ranges, 1), 3),
            "ann_search_top1": round(hit1 / max(asked, 1), 3), "ann_search_recall5": round(hit5 / max(asked, 1), 3)}


def _memory() -> dict:
    """Resident memory now, split: private (the process's own) and file-backed (the index files' pages it
    has touched: shared between workers, and given back by the kernel when memory is short)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status.splitlines() if ":" in line)
          if k in ("RssAnon", "RssFile", "RssShmem")}
    return {"rss_private_mb": round(kb.get("RssAnon", 0) / 1024), "rss_file_mb": round(kb.get("RssFile", 0) / 1024)}


# ---- driver --------------------------------------------------------------------------------------------------
def _child(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "benchmarks.scale", *args], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, text=True)      # its progress and errors go to our stderr
    if p.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def growth(rows: list[dict], key: str) -> str:
    """How a measure grows: its ratio between the smallest and largest size against the clause ratio."""
    pts = [(r["clauses"], r[key]) for r in rows if r.get(key)]
    if len(pts) < 2:
        return ""
    import math
    (n0, v0), (n1, v1) = pts[0], pts[-1]
    if v0 <= 0 or v1 <= 0:
        return ""
    k = math.log(v1 / v0) / math.log(n1 / n0)
    return f"×{v1 / v0:.1f} for ×{n1 / n0:.0f} clauses (∝ n^{k:.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,300000", help="clause counts, comma-separated")
    ap.add_argument("--questions", type=int, default=200, help="timed answers per size")
    ap.add_argument("--startups", type=int, default=3, help="fresh processes timed for start-up per size")
    ap.add_argument("--sample", type=int, default=48, help="synthetic passages embedded by the real embedder")
    ap.add_argument("--work", default="/tmp/pz-scale", help="where the knowledge bases are built")
    ap.add_argument("--keep", action="store_true", help="keep the built knowledge bases")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "scale.json"))
    ap.add_argument("--step", choices=("build", "serve", "startup"), help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work)
    if args.step == "build":
        print(json.dumps(build_size(args.size, work / str(args.size), args.sample)))
        return
    if args.step in ("serve", "startup"):
        print(json.dumps(serve_size(work / str(args.size), args.questions, args.step == "serve", T_START)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    _ensure_intent_model()
    rows = []
    for size in sizes:
        print(f"· {size} clauses: building …", file=sys.stderr, flush=True)
        row = {"size": size, **_child(["--step", "build", "--size", str(size), "--work", str(work),
                                       "--sample", str(args.sample)])}
        print(f"  built in {row['build_s']} s; start-up and answers …", file=sys.stderr, flush=True)
        starts = []
        for i in range(args.startups):
            t = time.perf_counter()
            r = _child(["--step", "serve" if i == 0 else "startup", "--size", str(size), "--work", str(work),
                        "--questions", str(args.questions)])
            r["wall_s"] = round(time.perf_counter() - t, 2)
            if i == 0:
                row.update({k: v for k, v in r.items() if k not in ("load_s", "process_to_first_answer_s")})
            starts.append(r)
        row["load_s"] = round(statistics.median(s["load_s"] for s in starts), 3)
        row["load_s_max"] = max(s["load_s"] for s in starts)
        row["process_to_first_answer_s"] = round(statistics.median(s["process_to_first_answer_s"] for s in starts), 2)
        row["process_cpu_to_first_answer_s"] = round(statistics.median(s["process_cpu_to_first_answer_s"]
                                                                       for s in starts), 2)
        row["load_cpu_s"] = round(statistics.median(s["load_cpu_s"] for s in starts), 3)
        rows.append(row)
        print("  " + json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(work / str(size), ignore_errors=True)
    backend = _config(Path("/tmp")).embedder_backend
    report = {"machine": _machine(), "embeddings": f"passages: stand-in (template clause's real {backend} vector + "
              f"projected hashed bigrams); questions: real {backend}", "sizes": rows,
              "growth": {k: growth(rows, k) for k in ("build_s", "load_s", "load_cpu_s", "process_to_first_answer_s",
                                                       "process_cpu_to_first_answer_s", "answer_cpu_ms_p95",
                                                       "without_embedding_ms_p95", "cpu_without_embedding_ms_p95",
                                                       "serve_peak_rss_mb", "answer_ms_p95",
                                                       "region_answer_ms_p95", "no_region_answer_ms_p95")}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    _print(report)


def _ensure_intent_model():
    from bot.nlu.model import ensure_model
    from index.embedder import make_embedder
    cfg = _config(Path("/tmp"))
    ensure_model(cfg.cache_dir, make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size,
                                              cfg.cache_dir), progress=True)


def _machine() -> str:
    import platform
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load:.1f} at the end")


def _print(report: dict) -> None:
    cols = [("clauses", "clauses"), ("documents", "docs"), ("build_s", "build s"),
            ("real_embedding_estimate_s", "real-embed est. s"), ("load_s", "load s"),
            ("load_cpu_s", "load CPU s"), ("process_to_first_answer_s", "cold 1st answer s"),
            ("process_cpu_to_first_answer_s", "its CPU s"), ("serve_peak_rss_mb", "peak RSS MB"),
            ("rss_private_mb", "private MB"), ("rss_file_mb", "file-backed MB"),
            ("build_peak_rss_mb", "build RSS MB"), ("region_answer_ms_p50", "region p50"),
            ("region_answer_ms_p95", "region p95"), ("no_region_answer_ms_p50", "no region p50"),
            ("no_region_answer_ms_p95", "no region p95"), ("answer_ms_p50", "all p50"),
            ("answer_ms_p95", "all p95"), ("answer_cpu_ms_p50", "CPU p50"),
            ("answer_cpu_ms_p95", "CPU p95"), ("without_embedding_ms_p50", "w/o embedding p50"),
            ("without_embedding_ms_p95", "w/o embedding p95"), ("cpu_without_embedding_ms_p50", "its CPU p50"),
            ("cpu_without_embedding_ms_p95", "its CPU p95"), ("ann_dense_top1", "ANN dense top-1"),
            ("ann_dense_recall10", "ANN dense recall@10"), ("ann_search_top1", "ANN search top-1"),
            ("ann_search_recall5", "ANN search recall@5")]
    print("| " + " | ".join(h for _, h in cols) + " |")
    print("|" + "---:|" * len(cols))
    for r in report["sizes"]:
        print("| " + " | ".join(str(r.get(k, "")) for k, _ in cols) + " |")
    print(report["embeddings"])
    for k, v in report["growth"].items():
        if v:
            print(f"{k}: {v}")


T_START = time.perf_counter()

if __name__ == "__main__":
    main()
