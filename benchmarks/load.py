"""Load on the web API through real servers on loopback: answers/s and latency p50/p95 for 1 and 2 workers
(`python -m bot serve --workers N`) at several concurrencies, with the shared state in SQLite files or in a
PostgreSQL server started here from Debian's binaries (tests/pg.py; fsync on, as in production).

    .venv/bin/python -m benchmarks.load [--workers 1 2] [--concurrency 8 32] [--duration 20]
                                        [--backend sqlite postgresql] [--out benchmarks/out/load.json]

Each virtual user holds conversations of one to three turns (a question, then the facts asked for), each
conversation in a new web session, and sends the next request as soon as the last is answered. A request
opens a new connection (many owners, not one browser), so the kernel spreads them over the workers.
The knowledge base is the configured one (config.yaml / PZ_DATA_DIR; `python -m bot build` first); every
server gets a fresh data dir beside it, so the question log starts empty. The load generator runs on the
same 2 cores as the servers: its own CPU time is reported beside the results, and so is the CPU time the
servers (and PostgreSQL) spent per answer, which does not depend on what else the machine is doing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from benchmarks import pct

ROOT = Path(__file__).resolve().parent.parent
KEY = "load-benchmark-key-" + "0" * 24

# Conversations in the owners' own words (written for this benchmark): a question, then what it asks for.
CONVERSATIONS = [
    ["我们是晋城的涉农企业，营收第一次过了3亿元，能奖多少钱？"],
    ["新评上中华老字号，有奖励吗？"],
    ["阳城有哪些市级专业镇？"],
    ["能拿多少奖励", "泽州的", "去年营收首次过了5亿"],
    ["高平的企业营收首次达到10亿，奖励是多少？"],
    ["申报专业镇要满足什么条件？"],
    ["专业镇奖励找哪个部门申请？"],
    ["企业营收首次突破1亿有奖吗", "陵川"],
    ["省级专业镇有什么资金支持？"],
    ["我们在沁水，营收第一次到了5亿，涉农，奖励多少"],
    ["你好"],
    ["研发投入有补贴吗？"],
]


# ------------------------------------------------------------------------------------------------ servers
def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and all their children."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    return total


def postmaster_pid(pg) -> int | None:
    try:
        return int((pg.root / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def fresh_data_dir(source: Path) -> Path:
    """A data dir that reads the source's build, models and caches, with its own (empty) databases."""
    d = Path(tempfile.mkdtemp(prefix="pz-load-"))
    for name in ("builds", "current", "nlu", "cache"):
        if (source / name).exists():
            (d / name).symlink_to((source / name).resolve())
    return d


class Server:
    def __init__(self, workers: int, data_dir: Path, database_url: str | None):
        env = dict(os.environ, PZ_DATA_DIR=str(data_dir), PZ_LOG_KEY=KEY, NO_PROXY="127.0.0.1,localhost",
                   no_proxy="127.0.0.1,localhost")
        env.pop("PZ_DATABASE_URL", None)
        if database_url:
            env["PZ_DATABASE_URL"] = database_url
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "0",
                                      "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     text=True, start_new_session=True)
        for line in self.proc.stdout:            # the server prints where it listens once it has loaded
            if line.startswith("Web chat: "):
                self.url = line.split()[2].rstrip("/")
                break
        else:
            raise RuntimeError(f"serve exited with {self.proc.wait()} before listening")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# ------------------------------------------------------------------------------------------------ storage
def storage_per_turn(target, turns: int = 500) -> dict:
    """What the stores cost one turn, without the assistant: read and save the session, log the
    question, take staff replies, keep the web history (as Runtime.ask_sync does)."""
    from bot.core.types import Answer
    from bot.inbox import Inbox
    from bot.qlog import QuestionLog
    from bot.sessions import SessionStore
    from bot.storage import connect
    db = connect(target)
    sessions, log, inbox = SessionStore(db, idle_seconds=3600), QuestionLog(db, KEY), Inbox(db)
    answer = Answer(status="answered", answer="可获奖励")

    def turn(i):
        key = f"bench{i % 50}"
        with sessions.lock(key):
            s = sessions.get(key)
            s.facts["region"] = "阳城县"
            s.turns += 1
            sessions.save(s)
        log.record("web", key, "营收首次过5亿奖励多少", answer, 10.0, session=key, conversation="c", region="阳城县")
        inbox.take_replies(key)
        sessions.add_turn(key, "营收首次过5亿奖励多少", {"answer": "可获奖励"})
    for i in range(50):
        turn(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(turns):
        turn(i)
    out = {"wall_ms": round((time.perf_counter() - wall) * 1000 / turns, 2),
           "client_cpu_ms": round((time.process_time() - cpu) * 1000 / turns, 2)}
    db.close()
    return out


# --------------------------------------------------------------------------------------------------- load
async def run_load(url: str, concurrency: int, duration: float) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    stop_at = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)

    async def user(n: int, session: aiohttp.ClientSession):
        nonlocal errors
        i = n
        while time.perf_counter() < stop_at:
            sid = None
            for question in CONVERSATIONS[i % len(CONVERSATIONS)]:
                body = {"question": question, **({"session_id": sid} if sid else {})}
                t0 = time.perf_counter()
                try:
                    async with session.post(url + "/api/ask", json=body) as resp:
                        data = await resp.json()
                        ok = resp.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok, data = False, {}
                if not ok:
                    errors += 1
                    break
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[data.get("status", "?")] = statuses.get(data.get("status", "?"), 0) + 1
                sid = data.get("session_id")
                if time.perf_counter() >= stop_at:
                    break
            i += concurrency

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(user(n, session) for n in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"concurrency": concurrency, "answers": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "answers_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(pct(latencies, 50), 1),
            "p95_ms": round(pct(latencies, 95), 1), "statuses": statuses}


async def warm_up(url: str, workers: int) -> None:
    """Every conversation once per worker, so no measured request pays a first-use cost."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(workers * 2):
            for conv in CONVERSATIONS:
                sid = None
                for q in conv:
                    async with session.post(url + "/api/ask", json={"question": q, "session_id": sid}) as r:
                        sid = (await r.json()).get("session_id")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per measurement")
    ap.add_argument("--backend", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "load.json")
    args = ap.parse_args(argv)

    from bot.config import load_config
    config = load_config()
    if not (config.data_dir / "current").exists():
        print(f"no knowledge base built in {config.data_dir}: run `python -m bot build` first", file=sys.stderr)
        return 1
    pg = None
    results, storage = [], {}
    try:
        for backend in args.backend:
            if backend == "postgresql" and pg is None:
                sys.path.insert(0, str(ROOT))
                from tests.pg import PostgresServer
                pg = PostgresServer.start(durable=True)
            scratch = Path(tempfile.mkdtemp(prefix="pz-store-"))
            per_turn = storage_per_turn(pg.create_database() if backend == "postgresql" else scratch / "s.sqlite")
            shutil.rmtree(scratch, ignore_errors=True)
            storage[backend] = per_turn
            print(f"{backend:10s} storage per turn: {per_turn['wall_ms']} ms wall, {per_turn['client_cpu_ms']} ms CPU "
                  "in the worker", flush=True)
            for workers in args.workers:
                data_dir = fresh_data_dir(config.data_dir)
                url = pg.create_database() if backend == "postgresql" else None
                t0 = time.perf_counter()
                server = Server(workers, data_dir, url)
                started = time.perf_counter() - t0
                try:
                    asyncio.run(warm_up(server.url, workers))
                    watched = [server.proc.pid] + ([postmaster_pid(pg)] if backend == "postgresql" else [])
                    for c in args.concurrency:
                        before = resource.getrusage(resource.RUSAGE_SELF)
                        cpu0 = cpu_seconds([p for p in watched if p])
                        r = asyncio.run(run_load(server.url, c, args.duration))
                        cpu1 = cpu_seconds([p for p in watched if p])
                        after = resource.getrusage(resource.RUSAGE_SELF)
                        r["server_cpu_ms_per_answer"] = round((cpu1 - cpu0) * 1000 / max(r["answers"], 1), 1)
                        r.update(backend=backend, workers=workers, start_s=round(started, 1),
                                 client_cpu_s=round(after.ru_utime + after.ru_stime
                                                    - before.ru_utime - before.ru_stime, 1),
                                 load_avg=round(os.getloadavg()[0], 2))
                        results.append(r)
                        print(f"{backend:10s} workers={workers} c={c:<3d} {r['answers_per_s']:6.1f} answers/s  "
                              f"p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  errors {r['errors']}  "
                              f"server CPU {r['server_cpu_ms_per_answer']} ms/answer  (client CPU "
                              f"{r['client_cpu_s']} s, load {r['load_avg']})", flush=True)
                finally:
                    server.stop()
                    shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        if pg is not None:
            pg.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                                    "duration_s": args.duration, "storage_per_turn": storage,
                                    "results": results}, ensure_ascii=False, indent=1),
                        encoding="utf-8")
    print("\n| backend | workers | concurrency | answers/s | p50 ms | p95 ms | server CPU ms/answer | errors | "
          "load avg |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['backend']} | {r['workers']} | {r['concurrency']} | {r['answers_per_s']} | {r['p50_ms']} | "
              f"{r['p95_ms']} | {r['server_cpu_ms_per_answer']} | {r['errors']} | {r['load_avg']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
