"""Telegram adapter throughput: answers per second through the fake Bot API server with N concurrent
chats, and the round trip per answer (update injected → reply recorded by the server), p50 / p95.

    .venv/bin/python -m benchmarks.telegram_bench              # real assistant if it loads, else the fake
    .venv/bin/python -m benchmarks.telegram_bench --fake       # the FakeAssistant (adapter cost only)
    .venv/bin/python -m benchmarks.telegram_bench --chats 20 --rounds 15

Each of the N simulated users sends a question, waits for the reply, and sends the next (closed loop),
so throughput is what one process sustains with that many people talking to it at once. Every question
opens a fresh conversation (questions: the answered cases of ../shared/eval/dev.jsonl). Everything runs
in one process: the real PTB Application, the fake server and the simulated users share the CPU.
The per-user rate limit is switched off (20 users asking nonstop would trip it by design); PTB's rate
limiter for outgoing calls is measured both off and on (on: Telegram's 30 messages/s cap applies).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_QUESTIONS = ["高平的企业营收首次过了5亿，奖励多少？", "泽州营收7亿，奖励多少", "火星有专业镇吗",
                  "我们在阳城，营收6亿，能拿多少奖励", "城区企业营收首次突破5亿元奖励多少"]


def real_questions() -> list[str]:
    path = ROOT.parent / "shared" / "eval" / "dev.jsonl"
    qs = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            case = json.loads(line) if line.strip() else {}
            if case.get("status") == "answered":
                qs.append(case["q"])
    return qs or FAKE_QUESTIONS


def load_assistant(force_fake: bool):
    """(assistant, label, questions)."""
    from tests.fakes.telegram_support import FakeAssistant
    if not force_fake:
        try:
            from bot.config import load_config
            from bot.core.service import Assistant
            t0 = time.perf_counter()
            assistant = Assistant.load(load_config())
            return assistant, f"real Assistant (loaded in {time.perf_counter() - t0:.1f}s)", real_questions()
        except Exception as e:  # any failure: measure the adapter alone, and say so
            print(f"real assistant did not load ({type(e).__name__}: {e}); using the FakeAssistant",
                  file=sys.stderr)
    return FakeAssistant(), "FakeAssistant (tests/fakes/telegram_support.py)", FAKE_QUESTIONS


async def run_one(assistant, questions: list[str], *, chats: int, rounds: int, mode: str,
                  rate_limiter: bool, data_dir: Path) -> dict:
    from tests.fakes.telegram_api import FakeBotAPI
    from tests.fakes.telegram_support import BotHarness, make_config, make_runtime

    config = make_config(data_dir, rate_limit_messages=0)
    runtime = make_runtime(config, assistant)
    rtts: list[float] = []
    async with FakeBotAPI(default_wait=120) as api:
        harness = await BotHarness(api, config, runtime, mode=mode, rate_limiter=rate_limiter).start()
        try:
            async def user(i: int, n: int, record: bool) -> None:
                for r in range(n):
                    # a new chat per question: every answer starts a fresh conversation (no facts
                    # carried over from earlier rounds that could make the core's work cheaper)
                    chat = 10_000_000 * (1 + record) + i * 1000 + r
                    q = questions[(i * 7 + r) % len(questions)]
                    t0 = time.perf_counter()
                    await api.send_text(chat, q)
                    await api.next_message(chat)
                    if record:
                        rtts.append((time.perf_counter() - t0) * 1000)

            await asyncio.gather(*(user(i, 1, False) for i in range(chats)))      # warm-up
            t0 = time.perf_counter()
            await asyncio.gather(*(user(i, rounds, True) for i in range(chats)))
            wall = time.perf_counter() - t0
        finally:
            await harness.stop()
            core = [r[0] for r in runtime.qlog.db.execute("SELECT latency_ms FROM questions").fetchall()]
            runtime.close()
    if harness.errors:
        raise RuntimeError(f"handlers raised: {harness.errors!r}")
    q = statistics.quantiles(rtts, n=100)
    return {"mode": mode, "limiter": "on" if rate_limiter else "off", "answers": len(rtts), "wall_s": wall,
            "rate": len(rtts) / wall, "p50": q[49], "p95": q[94], "core_p50": statistics.median(core)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chats", type=int, default=20)
    p.add_argument("--rounds", type=int, default=10, help="questions per chat (after one warm-up each)")
    p.add_argument("--fake", action="store_true", help="use the FakeAssistant even if the real one loads")
    args = p.parse_args(argv)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost,::1")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost,::1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import telegram
    assistant, label, questions = load_assistant(args.fake)
    configs = [("polling", False), ("polling", True), ("webhook", False)]
    results = []
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp:
        for n, (mode, limiter) in enumerate(configs):
            results.append(asyncio.run(run_one(assistant, questions, chats=args.chats, rounds=args.rounds,
                                               mode=mode, rate_limiter=limiter, data_dir=Path(tmp) / str(n))))

    print(f"Telegram adapter benchmark — {label}")
    print(f"{args.chats} concurrent chats × {args.rounds} questions each; {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, python-telegram-bot {telegram.__version__}")
    print()
    header = f"{'mode':<8} {'PTB limiter':<11} {'answers':>7} {'answers/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'core p50 ms':>11}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['mode']:<8} {r['limiter']:<11} {r['answers']:>7} {r['rate']:>9.1f} {r['p50']:>7.1f} "
              f"{r['p95']:>7.1f} {r['core_p50']:>11.1f}")
    print()
    print("round trip = update injected into the fake server → reply recorded by it; "
          "core = Runtime.ask latency from the question log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
