"""jieba tokenisation for BM25, with a user dictionary of policy terms and place names.

jieba's own start-up builds a 600,000-entry prefix dictionary (about a second, the largest part of a cold
`python -m bot ask`). The same dictionary — jieba's, plus the terms and place names added exactly as
`add_word` adds them — is written once into the cache directory as one blob per first character, and a
process reads only the blobs of the characters its texts contain. Segmentation is the same word for word:
the same entries, the same total."""
from __future__ import annotations

import hashlib
import logging
import marshal
import mmap
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

TERMS_FILE = Path(__file__).with_name("terms.txt")
STOP = set("的 了 是 在 和 与 及 或 等 对 为 把 被 给 我 我们 你 您 他 她 它 这 那 有 吗 呢 吧 啊 呀 么 什么 怎么 怎样 "
           "如何 哪些 哪个 多少 能 能否 可以 会 要 想 请问 一下 就 都 也 还 又 个 些 吧 嘛 么 得 地 着 过 "
           "年 月 日 其 之 以 于 从 向 所 该 各 按 按照 由 被 让 公司 企业".split())
_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
_lock = threading.Lock()
_cache_dir: Path | None = None
DICT_FORMAT = 1
TERM_FREQ = 50000
log = logging.getLogger(__name__)


def use_cache(directory: Path | None) -> None:
    """Where the split dictionary lives (the content-addressed cache dir of the config). Call before the
    first tokenize(); without it jieba loads its dictionary the slow way."""
    global _cache_dir
    if directory is not None and _cache_dir is None:
        _cache_dir = Path(directory)


def _user_words() -> list[str]:
    """The words added to jieba's dictionary, in the order they are added."""
    words = []
    for line in TERMS_FILE.read_text(encoding="utf-8").splitlines():
        word = line.split("#")[0].strip()
        if word:
            words.append(word)
    from kb.regions import Gazetteer
    g = Gazetteer.load()
    for r in g.regions.values():
        words.extend((r.name, *r.aliases))
    return words


def dictionary_key() -> str:
    """The split dictionary's identity: jieba's version and dictionary, the terms and the gazetteer."""
    import jieba
    from kb.regions import GAZETTEER_FILE
    h = hashlib.sha256(f"{DICT_FORMAT}|{TERM_FREQ}|{jieba.__version__}|".encode())
    dict_file = Path(jieba.__file__).with_name("dict.txt")
    h.update(str(dict_file.stat().st_size if dict_file.exists() else 0).encode())
    h.update(TERMS_FILE.read_bytes() + b"\0" + GAZETTEER_FILE.read_bytes())
    return h.hexdigest()[:16]


class SplitDictionary:
    """jieba's prefix dictionary (word → frequency, 0 for a prefix only) in a file written by `write_split`:
    one marshalled dict per first character, read when a text first holds that character."""

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        n = int.from_bytes(self._mm[:8], "little")
        self.total, self._index = marshal.loads(self._mm[8:8 + n])
        self._base = 8 + n

    def shard(self, ch: str) -> dict[str, int]:
        where = self._index.get(ch)
        return marshal.loads(self._mm[self._base + where[0]:self._base + where[1]]) if where else {}

    def chars(self):
        return self._index.keys()


def write_split(freq: dict[str, int], total: int, path: Path) -> None:
    shards: dict[str, dict[str, int]] = {}
    for w, f in freq.items():
        shards.setdefault(w[0], {})[w] = f
    blobs, index, pos = [], {}, 0
    for ch, s in shards.items():
        b = marshal.dumps(s)
        index[ch] = (pos, pos + len(b))
        blobs.append(b)
        pos += len(b)
    head = marshal.dumps((total, index))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def _full_tokenizer():
    """jieba loaded the ordinary way, with the user words added."""
    import jieba
    tok = jieba.Tokenizer()
    tok.initialize()
    for w in _user_words():
        tok.add_word(w, freq=TERM_FREQ)
    return tok


@lru_cache(maxsize=1)
def _tokenizer():
    import jieba
    logging.getLogger("jieba").setLevel(logging.WARNING)
    with _lock:
        if _cache_dir is None:
            return _full_tokenizer()
        path = _cache_dir / "jieba" / f"dict-{dictionary_key()}.bin"
        if not path.exists():
            tok = _full_tokenizer()
            try:
                write_split(tok.FREQ, tok.total, path)
            except OSError as e:   # a read-only cache: this process still tokenises, only slower to start
                log.warning("could not write the split jieba dictionary %s: %s", path, e)
            return tok
        return split_tokenizer(path)


def split_tokenizer(path: Path):
    """A jieba.Tokenizer whose dictionary (a plain dict, as jieba's own) fills from a file written by
    `write_split`, with the entries of each character the first time a text holds it. jieba looks up only
    substrings of the block it cuts, and every entry it may need starts with a character of that block."""
    import jieba

    class SplitTokenizer(jieba.Tokenizer):
        def _ensure(self, text: str) -> None:
            missing = set(text) - self.loaded
            if missing:
                with _lock:
                    for ch in missing - self.loaded:
                        for w, f in self.split.shard(ch).items():
                            self.FREQ.setdefault(w, f)
                        self.loaded.add(ch)

        def get_DAG(self, sentence):
            self._ensure(sentence)
            return super().get_DAG(sentence)

        def add_word(self, word, freq=None, tag=None):
            self._ensure(word)      # its prefixes are known before it is added, as in jieba's dictionary
            return super().add_word(word, freq, tag)

        def load_all(self):
            self.get_DAG("".join(self.split.chars()))

    tok = SplitTokenizer()
    tok.split = SplitDictionary(path)
    tok.loaded = set()
    tok.FREQ = {}
    tok.total = tok.split.total
    tok.initialized = True
    return tok


def prepare_bulk() -> None:
    """Before tokenising many texts (a build): every dictionary entry in one plain dict."""
    tok = _tokenizer()
    if hasattr(tok, "load_all"):
        tok.load_all()


@lru_cache(maxsize=32768)
def _tokens(text: str) -> tuple[str, ...]:
    out = []
    for w in _tokenizer().cut_for_search(text.lower()):
        w = w.strip()
        if not w or w in STOP or _PUNCT.match(w):
            continue
        out.append(w)
    return tuple(out)


def tokenize(text: str) -> list[str]:
    """Words of the text for matching (search-engine cut, lower case, stop words and punctuation left out).
    Remembered per text: headings and item names are compared with many questions."""
    return list(_tokens(text))


def _cut_chunk(texts: list[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]


def tokenize_many(texts: list[str], progress: bool = False, desc: str = "tokenising") -> list[list[str]]:
    """tokenize() of every text, in order; a large build uses every core (forked workers share the loaded
    dictionary)."""
    import multiprocessing as mp
    import sys
    from tqdm import tqdm
    prepare_bulk()
    chunk = 2000
    workers = min(os.cpu_count() or 1, 4)
    parts = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress, file=sys.stderr)
    out: list[list[str]] = []
    if len(texts) < 20000 or workers < 2 or "fork" not in mp.get_all_start_methods():
        for part in parts:
            out.extend(_cut_chunk(part))
            bar.update(len(part))
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            for part, done in zip(parts, pool.imap(_cut_chunk, parts)):
                out.extend(done)
                bar.update(len(part))
    bar.close()
    return out
