"""`python -m bot serve --workers N`: N processes answering on one listening socket.

The parent builds what is missing (in a child process, once: not N builds at the same time), applies the
storage migrations, reserves the address and forks N workers; each loads the
assistant once and listens on the same address with SO_REUSEPORT, so the kernel spreads new connections
evenly over the workers (where SO_REUSEPORT is missing they accept from one socket the parent listens on). Everything a conversation needs lives in the database, so a turn may reach any worker:
PostgreSQL with PZ_DATABASE_URL (also across machines, behind nginx: docs/nginx.md), or on one machine
the SQLite files in the data dir (WAL mode lets several processes use them; writes queue on a lock).

The parent prints where it listens once every worker has loaded, passes SIGINT/SIGTERM on, and starts a
new worker in place of one that dies; a worker that cannot start stops them all with its error. It never
loads the assistant itself and starts no threads before forking (forked threads would be dead copies).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection, wait

import click

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 600        # loading the assistant (models, index) takes a while on a cold cache
QUICK_DEATHS = 3                   # a worker dying this many times within a minute of starting: give up


BACKLOG = 1024
REUSEPORT = hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A socket bound to (host, port), with SO_REUSEPORT where there is one. Not listening (`listen=False`)
    it only holds the port: connections go to the workers' listening sockets."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if REUSEPORT:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(BACKLOG)
    return sock


def prepare_storage(config) -> None:
    """Open every store once: migrations applied and the pseudonym key made before the workers start
    (and a database that cannot be reached said at once, not N times)."""
    from bot.curated import CuratedStore
    from bot.inbox import Inbox
    from bot.profiles import ProfileStore
    from bot.qlog import QuestionLog
    from bot.sessions import SessionStore
    from bot.storage import connect, location
    from bot.storage.state import WeChatState
    db = connect(config.database_url) if config.database_url else None
    try:
        for cls, name in ((SessionStore, "sessions"), (CuratedStore, "curated_answers"), (Inbox, "inbox"),
                          (ProfileStore, "profiles"), (WeChatState, "worker_state")):
            cls(db or location(config, name)).close()
        QuestionLog(db or config.log_db, config.log_key or None, key_file=config.log_key_path).close()
    finally:
        if db is not None:
            db.close()


def _build(config, done: Connection) -> None:
    """In a child process: build what is missing or out of date, as `serve` does before it loads."""
    from bot.build import build_all
    from bot.errors import BotError
    from kb.admin import recover
    try:
        recover(config, rebuild=False)      # a staff change a killed process left half-done
        build_all(config, progress=True)
    except BotError as e:
        done.send(("error", f"{e.user_message} ({e})"))
        sys.exit(2)
    except Exception as e:
        log.exception("could not build the knowledge base")
        done.send(("error", f"{type(e).__name__}: {e}"))
        sys.exit(2)
    done.send(("ready", os.getpid()))


def build_first(config) -> None:
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_build, args=(config, send), name="pz-build")
    p.start()
    send.close()
    try:
        kind, detail = receive.recv()
    except EOFError:
        kind, detail = "error", "the build exited (see the log above)"
    p.join()
    if kind != "ready":
        raise click.ClickException(str(detail))


def _worker(number: int, shared: socket.socket, config, ready: Connection, threads: int = 0) -> None:
    """A worker process: load the assistant, say so, serve until told to stop (on its own SO_REUSEPORT
    socket, or on the parent's listening socket)."""
    import asyncio

    from bot.adapters.server import serve
    from bot.core.service import Assistant
    from bot.errors import BotError
    from bot.runtime import Runtime
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)          # the parent's handlers are not ours
    if threads:     # the workers share the cores: each embeds with its share, not with all of them
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        runtime = Runtime.start(config, Assistant.load(config, build=False))     # built by the parent
    except BotError as e:
        ready.send(("error", f"{e.user_message} ({e})"))
        sys.exit(2)
    except Exception as e:
        log.exception("worker %d could not start", number)
        ready.send(("error", f"{type(e).__name__}: {e}"))
        sys.exit(2)
    try:
        if REUSEPORT:
            host, port = shared.getsockname()[:2]
            shared.close()
            sock = bind(host, port)
        else:
            sock = shared
    except OSError as e:
        ready.send(("error", f"worker {number} cannot listen: {e}"))
        sys.exit(2)
    ready.send(("ready", os.getpid()))
    ready.close()
    try:
        with open(os.devnull, "w") as quiet:        # the parent says where it listens, once
            asyncio.run(serve(config, runtime, telegram=False, sock=sock, worker=number, out=quiet))
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()


class _Pool:
    def __init__(self, config, sock: socket.socket, n: int):
        self.config, self.sock, self.n = config, sock, n
        self.ctx = mp.get_context("fork")
        self.procs: dict[int, mp.Process] = {}
        self.started: dict[int, float] = {}
        self.deaths: list[float] = []
        self.stopping = False

    def spawn(self, number: int) -> Connection:
        receive, send = self.ctx.Pipe(duplex=False)
        threads = max(1, (os.cpu_count() or 1) // self.n) if self.n > 1 else 0
        p = self.ctx.Process(target=_worker, args=(number, self.sock, self.config, send, threads),
                             name=f"pz-worker-{number}")
        p.start()
        send.close()
        self.procs[number], self.started[number] = p, time.monotonic()
        return receive

    def wait_ready(self, pipes: dict[int, Connection]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while pipes and not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                raise click.ClickException(f"workers {sorted(pipes)} did not start within {START_TIMEOUT_SECONDS}s")
            for conn in wait(list(pipes.values()), timeout=min(left, 1.0)):
                number = next(k for k, v in pipes.items() if v is conn)
                try:
                    kind, detail = conn.recv()
                except EOFError:
                    kind, detail = "error", f"worker {number} exited while starting (see the log above)"
                del pipes[number]
                conn.close()
                if kind != "ready":
                    raise click.ClickException(str(detail))
                log.info("worker %d (pid %s) is up", number, detail)

    def stop(self, *_sig) -> None:
        self.stopping = True
        for p in self.procs.values():
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def supervise(self) -> None:
        """Until stopped: a worker that dies is replaced (its connections in progress are lost)."""
        while not self.stopping:
            sentinels = {p.sentinel: n for n, p in self.procs.items()}
            for s in wait(list(sentinels), timeout=1.0):
                number = sentinels[s]
                p = self.procs[number]
                p.join()
                if self.stopping:
                    break
                now = time.monotonic()
                self.deaths = [t for t in self.deaths if now - t < 60] + [now]
                log.error("worker %d (pid %s) exited with %s; starting another", number, p.pid, p.exitcode)
                if len(self.deaths) >= QUICK_DEATHS:
                    self.stop()
                    raise click.ClickException("workers keep dying (see the log above); stopped")
                self.wait_ready({number: self.spawn(number)})

    def join(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()


def run_workers(config, n: int, out=None) -> None:
    """Serve with `n` worker processes on config's address until SIGINT/SIGTERM."""
    from bot.adapters.server import _shown_url
    out = out or sys.stdout
    build_first(config)
    prepare_storage(config)
    if threading.active_count() > 1:      # a forked copy of a running thread would never run
        log.warning("%d threads running before the workers are forked", threading.active_count())
    try:
        sock = bind(config.web_host, config.web_port, listen=not REUSEPORT)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {config.web_host}:{config.web_port}: {e.strerror or e} "
                                   "(another server running? use --port)") from e
    pool = _Pool(config, sock, n)
    previous = {sig: signal.signal(sig, pool.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        pool.wait_ready({i: pool.spawn(i) for i in range(1, n + 1)})
        if not pool.stopping:
            port = sock.getsockname()[1]
            url = _shown_url(config.web_host, port)
            print(f"Web chat: {url} ({n} workers)", file=out, flush=True)
            if config.wechat_token:
                print(f"WeChat endpoint: {url}wechat", file=out, flush=True)
            pool.supervise()
    finally:
        pool.stop()
        pool.join()
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
