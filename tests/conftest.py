"""Shared fixtures: a knowledge base and index built once per test session from the real documents."""
from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 22)
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost,::1")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost,::1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# `postgres` (a real PostgreSQL server on a loopback port, session scope) and `pg_url` (a new database)
pytest_plugins = ("tests.pg",)


def make_config(tmp: Path, copy_docs: bool = True, copy_rules: bool = False, **env):
    """A Config whose data dir (and, if asked, documents/rules) live under tmp."""
    from bot.config import load_config
    values = {"PZ_DATA_DIR": str(tmp / "var")}
    if copy_docs:
        shutil.copytree(ROOT / "kb" / "documents", tmp / "documents", dirs_exist_ok=True)
        values["PZ_DOCUMENTS_DIR"] = str(tmp / "documents")
    if copy_rules:
        shutil.copytree(ROOT / "kb" / "rules", tmp / "rules", dirs_exist_ok=True)
        values["PZ_RULES_DIR"] = str(tmp / "rules")
    values.update(env)
    return load_config(ROOT / "config.yaml", env=values)


@pytest.fixture(scope="session")
def embedder():
    from index.embedder import make_embedder
    return make_embedder("onnx", "multilingual-e5-small")


@pytest.fixture(scope="session")
def built_config(tmp_path_factory, embedder):
    """The five real documents built into a temp data dir (documents and rules copied too), with the
    question-type model."""
    from bot.build import build_all
    tmp = tmp_path_factory.mktemp("kb")
    cfg = make_config(tmp, copy_docs=True, copy_rules=True)
    build_all(cfg, progress=False, embedder=embedder)
    return cfg


@pytest.fixture(scope="session")
def assistant(built_config, embedder):
    from bot.core.service import Assistant
    return Assistant.load(built_config, today=lambda: TODAY, build=False, embedder=embedder)


@pytest.fixture
def runtime(assistant, tmp_path):
    from bot.runtime import Runtime
    cfg = assistant.config.with_(data_dir=tmp_path / "rt")
    rt = Runtime.start(cfg, assistant=assistant)
    yield rt
    rt.close()
