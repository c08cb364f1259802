"""SIGINT/SIGTERM set an asyncio.Event while a front end runs (where the loop allows signal handlers)."""
from __future__ import annotations

import asyncio
import contextlib
import signal


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event):
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or not supported here
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
