"""The one configuration loader: config.yaml, then environment overrides, as a frozen dataclass."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    documents_dir: Path
    rules_dir: Path
    data_dir: Path
    # content-addressed caches (the question-type model and its example vectors): safe to share between
    # data dirs, so tests and staff candidates don't retrain
    cache_dir: Path | None = None
    embedder_backend: str = "onnx"
    embedder_model: str = "multilingual-e5-small"
    embed_batch_size: int = 32
    # the onnx embedder's threads wait for work by spinning briefly: a question embeds in about 6 ms instead of 9
    # on two idle cores, about 15 instead of 9.5 when other processes keep them busy (benchmarks/RESULTS.md)
    embed_spin: bool = True
    top_k: int = 5
    rrf_k: int = 60
    sparse_weight: float = 1.0
    sentence_weight: float = 1.0
    heading_weight: float = 0.1
    candidates: int = 50
    passage_chars: int = 260
    timezone: str = "Asia/Shanghai"
    min_dense_score: float = 0.80
    session_idle_minutes: int = 120
    staff_ids: frozenset[int] = field(default_factory=frozenset)
    rate_limit_messages: int = 8
    rate_limit_seconds: int = 30
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    log_retention_days: int = 365
    session_purge_minutes: int = 15         # how often serve/telegram/run delete expired sessions
    web_header_timeout: float = 20.0        # seconds a connection may take to send a complete request
    wechat_replay_window: int = 300         # WeChat timestamps older or newer than this (s) are refused
    public_url: str | None = None           # where people reach the web chat (PZ_PUBLIC_URL)
    profile_retention_days: int = 365       # saved enterprise profiles not updated for this long are deleted
    # secrets: only from the environment, never from config.yaml
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    wechat_token: str | None = None
    wechat_aes_key: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_api_base_url: str | None = None  # WECHAT_API_BASE_URL: elsewhere than api.weixin.qq.com (a proxy)
    log_salt: str = ""          # PZ_LOG_SALT, the old name of PZ_LOG_KEY (still accepted as the key)
    log_key: str = ""           # PZ_LOG_KEY (else PZ_LOG_SALT): the pseudonym key; else read from log_key_file
    log_key_file: Path | None = None    # PZ_LOG_KEY_FILE / question_log.key_file; default <data>/log.key
    # PZ_DATABASE_URL (postgresql://…): sessions, the question log and the other stores in one shared
    # database, so several workers behave as one; unset: SQLite files in the data dir (bot/storage)
    database_url: str | None = field(default=None, repr=False)     # may hold a password

    @property
    def current_build(self) -> Path:
        """A symlink to the build in service: its kb.sqlite and index files swap in together."""
        return self.data_dir / "current"

    @property
    def kb_db(self) -> Path:
        return self.current_build / "kb.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.current_build

    @property
    def log_key_path(self) -> Path:
        """The file holding the pseudonym key when none is set in the environment (created, 0600,
        on first use; never inside the question-log database)."""
        return self.log_key_file or self.data_dir / "log.key"

    @property
    def sessions_db(self) -> Path:
        return self.data_dir / "sessions.sqlite"

    @property
    def log_db(self) -> Path:
        return self.data_dir / "questions.sqlite"

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)


def _path(base: Path, value: str | os.PathLike) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p)


def _ids(text: str) -> frozenset[int]:
    try:
        return frozenset(int(x) for x in text.replace(";", ",").split(",") if x.strip())
    except ValueError as e:
        raise ConfigError(f"staff ids must be whole numbers separated by commas: {text!r}") from e


def load_config(path: str | os.PathLike | None = None, env: dict | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    path = Path(path or env.get("PZ_CONFIG") or ROOT / "config.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    base = path.resolve().parent
    p, emb = raw.get("paths", {}), raw.get("embedder", {})
    ret, ans = raw.get("retrieval", {}), raw.get("answer", {})
    tg, web = raw.get("telegram", {}), raw.get("web", {})
    staff = frozenset(int(x) for x in tg.get("staff_ids") or [])
    if env.get("TELEGRAM_STAFF_IDS"):
        staff = staff | _ids(env["TELEGRAM_STAFF_IDS"])
    data_dir = _path(base, env.get("PZ_DATA_DIR") or p.get("data", "var"))
    qlog, sess = raw.get("question_log", {}), raw.get("sessions", {})
    key_file = env.get("PZ_LOG_KEY_FILE") or qlog.get("key_file")
    try:
        return Config(
            documents_dir=_path(base, env.get("PZ_DOCUMENTS_DIR") or p.get("documents", "kb/documents")),
            rules_dir=_path(base, env.get("PZ_RULES_DIR") or p.get("rules", "kb/rules")),
            data_dir=data_dir,
            cache_dir=_path(base, env.get("PZ_CACHE_DIR") or p.get("cache", "var/cache")),
            embedder_backend=env.get("PZ_EMBEDDER") or emb.get("backend", "onnx"),
            embedder_model=env.get("PZ_EMBEDDER_MODEL") or emb.get("model", "multilingual-e5-small"),
            embed_batch_size=int(emb.get("batch_size", 32)),
            embed_spin=(env.get("PZ_EMBED_SPIN") or str(emb.get("spin", True))).strip().lower()
            not in ("0", "false", "no", "off"),
            top_k=int(ret.get("top_k", 5)),
            rrf_k=int(ret.get("rrf_k", 60)),
            sparse_weight=float(ret.get("sparse_weight", 1.0)),
            sentence_weight=float(ret.get("sentence_weight", 1.0)),
            heading_weight=float(ret.get("heading_weight", 0.1)),
            candidates=int(ret.get("candidates", 50)),
            passage_chars=int(ret.get("passage_chars", 260)),
            timezone=ans.get("timezone", "Asia/Shanghai"),
            min_dense_score=float(ans.get("min_dense_score", 0.80)),
            session_idle_minutes=int(sess.get("idle_minutes", 120)),
            session_purge_minutes=int(sess.get("purge_minutes", 15)),
            staff_ids=staff,
            rate_limit_messages=int(tg.get("rate_limit_messages", 8)),
            rate_limit_seconds=int(tg.get("rate_limit_seconds", 30)),
            web_host=env.get("PZ_WEB_HOST") or web.get("host", "127.0.0.1"),
            web_port=int(env.get("PZ_WEB_PORT") or web.get("port", 8080)),
            web_header_timeout=float(web.get("header_timeout", 20.0)),
            wechat_replay_window=int(raw.get("wechat", {}).get("replay_window_seconds", 300)),
            public_url=env.get("PZ_PUBLIC_URL") or web.get("public_url") or None,
            profile_retention_days=int((raw.get("profiles") or {}).get("retention_days", 365)),
            log_retention_days=int(qlog.get("retention_days", 365)),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_base_url=env.get("TELEGRAM_API_BASE_URL") or None,
            wechat_token=env.get("WECHAT_TOKEN") or None,
            wechat_aes_key=env.get("WECHAT_AES_KEY") or None,
            wechat_app_id=env.get("WECHAT_APP_ID") or None,
            wechat_app_secret=env.get("WECHAT_APP_SECRET") or None,
            wechat_api_base_url=env.get("WECHAT_API_BASE_URL") or None,
            log_salt=env.get("PZ_LOG_SALT") or "",
            log_key=env.get("PZ_LOG_KEY") or env.get("PZ_LOG_SALT") or "",
            log_key_file=_path(base, key_file) if key_file else None,
            database_url=env.get("PZ_DATABASE_URL") or None,
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from e
