"""Generated hostile input through every entry, about 2,000 inputs each, once (not part of the tests).

    .venv/bin/python -m benchmarks.hostile_inputs               # 2,000 per entry
    .venv/bin/python -m benchmarks.hostile_inputs -n 300 --entries api,wechat

Entries: the core's `Assistant.answer()`; `POST /api/ask`; `/wechat` in plain and in safe (AES) mode,
every push correctly signed; `ask --json -` (one process, every input a stdin line); Telegram (the real
PTB Application against the fake Bot API server, one message per input). The inputs come from the
strategies in tests/fakes/hostile.py (the property tests use the same ones, with fewer examples), plus
the cases issue 11 found by hand.

A *failure* is what the entry must never do: a 5xx, a traceback in a reply, a body that is neither the
contract nor a plain 4xx, a line of `ask --json -` without its JSON object, a Telegram message left
unanswered or a handler that raised. A *core error* is the core raising inside `answer()`: the entry
survived it (a plain reply, status "error"), but the input is listed for the core's owner.

The real assistant is built once into benchmarks/out/hostile-data (documents and rules copied there;
reused by later runs). Results: a table on stdout and benchmarks/out/hostile-<date>.json with the
failing inputs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
ENTRIES = ["answer", "api", "wechat", "wechat-safe", "cli", "telegram"]


def generate(strategy, n: int) -> list:
    """n examples of a hypothesis strategy (generation only: no shrinking, no example database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    found: list = []

    @settings(max_examples=n, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value):
        found.append(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    return found


def load_assistant(data: Path):
    from bot.config import load_config
    from bot.core.service import Assistant
    for name in ("documents", "rules"):
        if not (data / name).exists():
            shutil.copytree(ROOT / "kb" / name, data / name)
    config = load_config(ROOT / "config.yaml", env={
        "PZ_DATA_DIR": str(data / "var"), "PZ_DOCUMENTS_DIR": str(data / "documents"),
        "PZ_RULES_DIR": str(data / "rules"), "PZ_LOG_KEY": "hostile-inputs-benchmark"})
    t0 = time.perf_counter()
    assistant = Assistant.load(config, build=True)
    print(f"assistant ready in {time.perf_counter() - t0:.0f} s ({data})", file=sys.stderr)
    return assistant, config


class Tally:
    def __init__(self, entry: str):
        self.entry, self.tried, self.failures, self.core_errors = entry, 0, [], []
        self.t0 = time.perf_counter()

    def fail(self, value, why: str) -> None:
        self.failures.append({"input": repr(value)[:600], "why": why[:600]})

    def result(self) -> dict:
        return {"entry": self.entry, "inputs": self.tried, "failures": len(self.failures),
                "core_errors": len(self.core_errors), "seconds": round(time.perf_counter() - self.t0, 1),
                "failing_inputs": self.failures[:50], "core_error_inputs": self.core_errors[:50]}


def core_errors_in_log(runtime, since_id: int) -> list[str]:
    rows = runtime.qlog.db.execute("SELECT question FROM questions WHERE status = 'error' AND id > ?",
                                   [since_id]).fetchall()
    return [repr(r[0])[:600] for r in rows]


def last_id(runtime) -> int:
    return runtime.qlog.db.execute("SELECT coalesce(max(id), 0) FROM questions").fetchone()[0]


# ---------------------------------------------------------------- entries
def run_answer(assistant, n: int) -> dict:
    from bot.core.types import Session
    from tests.fakes import hostile
    t = Tally("Assistant.answer()")
    session = None
    for i, q in enumerate(hostile.KNOWN_QUESTIONS + generate(hostile.questions, n)):
        if i % 3 == 0:
            session = Session(id="hostile")          # conversations of three: follow-ups are exercised
        t.tried += 1
        try:
            hostile.check_answer(assistant.answer(q, session))
            json.dumps([session.facts, session.pending, session.state], ensure_ascii=True)
        except AssertionError as e:
            t.fail(q, f"AssertionError: {e}")
        except Exception as e:  # noqa: BLE001 — counted, not raised
            t.core_errors.append(f"{q!r}"[:600] + f"  →  {type(e).__name__}: {e}"[:300])
    return t.result()


def run_api(live, runtime, n: int) -> dict:
    from tests.fakes import hostile
    t = Tally("POST /api/ask")
    first = last_id(runtime)
    bodies = [(json.dumps({"question": q}).encode(), "application/json") for q in hostile.KNOWN_QUESTIONS]
    bodies += [(b"[" * 5000, "application/json")]
    bodies += generate(__import__("hypothesis").strategies.tuples(hostile.api_bodies, hostile.api_content_types), n)
    for body, ctype in bodies:
        t.tried += 1
        try:
            status, reply = live.ask(body, ctype)
            hostile.check_api_reply(status, reply, ctype)
        except Exception as e:  # noqa: BLE001
            t.fail((body[:300], ctype), f"{type(e).__name__}: {e}")
    t.core_errors = core_errors_in_log(runtime, first)
    return t.result()


def run_wechat(live, runtime, n: int, safe: bool) -> dict:
    from tests.fakes import hostile
    t = Tally("/wechat safe mode" if safe else "/wechat plain mode")
    first = last_id(runtime)
    known = [hostile._text_message(hostile._BASE, hostile._cdata(q.encode("utf-8", "replace").decode()), str(i + 1))
             for i, q in enumerate(hostile.KNOWN_QUESTIONS)]
    known.append(hostile._text_message(hostile._BASE, "<b>x</b>", "99"))
    for xml in known + generate(hostile.wechat_bodies, n):
        t.tried += 1
        try:
            status, reply = live.wechat(hostile.wechat_bytes(xml), safe=safe)
            hostile.check_wechat_reply(status, reply)
        except Exception as e:  # noqa: BLE001
            t.fail(xml[:300], f"{type(e).__name__}: {e}")
    t.core_errors = core_errors_in_log(runtime, first)
    return t.result()


def run_cli(config, n: int) -> dict:
    from tests.fakes import hostile
    t = Tally("ask --json -")
    lines = hostile.KNOWN_QUESTIONS + generate(hostile.questions, n)
    data = b"\n".join(q.encode("utf-8", "surrogatepass") for q in lines) + b"\n"
    data += b"\xff\xfe not UTF-8\n"
    expected = data.count(b"\n")
    t.tried = expected
    env = dict(os.environ, PZ_DATA_DIR=str(config.data_dir), PZ_DOCUMENTS_DIR=str(config.documents_dir),
               PZ_RULES_DIR=str(config.rules_dir), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", "-"], input=data, cwd=ROOT, env=env,
                          capture_output=True, timeout=3600)
    out = proc.stdout.decode("utf-8", "replace").split("\n")
    if out and out[-1] == "":
        out.pop()
    if proc.returncode != 0:
        t.fail("(the whole run)", f"exit code {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    if len(out) != expected:
        t.fail("(the whole run)", f"{expected} input lines, {len(out)} output lines")
    in_lines = data.split(b"\n")
    for i, line in enumerate(out):
        try:
            obj = json.loads(line)
            assert {"status", "answer"} <= set(obj) and obj["answer"], obj
        except Exception as e:  # noqa: BLE001
            t.fail(in_lines[i][:300] if i < len(in_lines) else "?", f"{type(e).__name__}: {e}; {line[:200]!r}")
            continue
        if obj.get("error"):
            t.core_errors.append(repr(in_lines[i][:300]) + "  →  " + obj["error"])
    return t.result()


async def _telegram(assistant, n: int, data_dir: Path, batch: int = 10) -> dict:
    from tests.fakes import hostile
    from tests.fakes.telegram_api import FakeBotAPI
    from tests.fakes.telegram_support import BotHarness, make_config, make_runtime
    t = Tally("Telegram (PTB + fake Bot API)")
    config = make_config(data_dir, rate_limit_messages=0)
    runtime = make_runtime(config, assistant)
    # what Telegram can deliver: valid UTF-8, not blank, at most 4096 characters
    texts = [q.encode("utf-8", "replace").decode() for q in hostile.KNOWN_QUESTIONS + generate(hostile.questions, n * 2)]
    texts = [q for q in texts if q.strip() and len(q) <= 4096][: n + len(hostile.KNOWN_QUESTIONS)]
    async with FakeBotAPI(default_wait=120) as api:
        harness = await BotHarness(api, config, runtime, rate_limiter=False).start()
        try:
            for start in range(0, len(texts), batch):
                chunk = list(enumerate(texts[start:start + batch], start))

                async def one(i: int, q: str) -> None:
                    chat = 50_000_000 + i
                    t.tried += 1
                    try:
                        await api.send_text(chat, q)
                        reply = await api.next_message(chat, timeout=120)
                        assert reply.text and "Traceback" not in reply.text
                    except Exception as e:  # noqa: BLE001
                        t.fail(q, f"{type(e).__name__}: {e}")
                await asyncio.gather(*(one(i, q) for i, q in chunk))
        finally:
            await harness.stop()
            t.core_errors = core_errors_in_log(runtime, 0)
            runtime.close()
    for e in harness.errors:
        t.fail("(a handler)", f"{type(e).__name__}: {e}")
    return t.result()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=2000, help="generated inputs per entry (plus the known cases)")
    p.add_argument("--entries", default=",".join(ENTRIES), help=f"comma-separated, of {','.join(ENTRIES)}")
    p.add_argument("--data", type=Path, default=OUT / "hostile-data", help="where the assistant is built")
    args = p.parse_args(argv)
    entries = [e.strip() for e in args.entries.split(",") if e.strip()]
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost,::1")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost,::1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)   # thousands of refused inputs: quiet
    sys.path.insert(0, str(ROOT))
    args.data.mkdir(parents=True, exist_ok=True)

    from bot.runtime import Runtime
    from tests.fakes.hostile import LiveServer
    assistant, config = load_assistant(args.data)
    results = []
    if "answer" in entries:
        results.append(run_answer(assistant, args.n))
        print(results[-1]["entry"], "done", file=sys.stderr)
    if {"api", "wechat", "wechat-safe"} & set(entries):
        run_config = config.with_(data_dir=args.data / f"runtime-{int(time.time())}")
        runtime = Runtime.start(run_config, assistant=assistant)
        with LiveServer(runtime, run_config) as live:
            if "api" in entries:
                results.append(run_api(live, runtime, args.n))
                print(results[-1]["entry"], "done", file=sys.stderr)
            if "wechat" in entries:
                results.append(run_wechat(live, runtime, args.n, safe=False))
                print(results[-1]["entry"], "done", file=sys.stderr)
            if "wechat-safe" in entries:
                results.append(run_wechat(live, runtime, args.n, safe=True))
                print(results[-1]["entry"], "done", file=sys.stderr)
        runtime.close()
    if "cli" in entries:
        results.append(run_cli(config, args.n))
        print(results[-1]["entry"], "done", file=sys.stderr)
    if "telegram" in entries:
        results.append(asyncio.run(_telegram(assistant, args.n, args.data / f"telegram-{int(time.time())}")))
        print(results[-1]["entry"], "done", file=sys.stderr)

    import hypothesis
    meta = {"date": date.today().isoformat(), "python": platform.python_version(), "cores": os.cpu_count(),
            "hypothesis": hypothesis.__version__, "per_entry": args.n}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"hostile-{meta['date']}.json"
    path.write_text(json.dumps({"meta": meta, "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"Hostile inputs — {meta['date']}, Python {meta['python']}, {meta['cores']} cores, "
          f"hypothesis {meta['hypothesis']}")
    print()
    print("| entry | inputs tried | failures | core errors (answered as a plain error) | time |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['entry']} | {r['inputs']:,} | {r['failures']} | {r['core_errors']} | {r['seconds']:.0f} s |")
    print()
    print(f"failing inputs and core errors: {path}")
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
