"""jieba tokenisation for BM25, with a user dictionary of policy terms and place names."""
from __future__ import annotations

import logging
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


@lru_cache(maxsize=1)
def _tokenizer():
    import jieba
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    with _lock:
        tok.initialize()
        for line in TERMS_FILE.read_text(encoding="utf-8").splitlines():
            word = line.split("#")[0].strip()
            if word:
                tok.add_word(word, freq=50000)
        from kb.regions import Gazetteer
        g = Gazetteer.load()
        for r in g.regions.values():
            for a in (r.name, *r.aliases):
                tok.add_word(a, freq=50000)
    return tok


def tokenize(text: str) -> list[str]:
    out = []
    for w in _tokenizer().cut_for_search(text.lower()):
        w = w.strip()
        if not w or w in STOP or _PUNCT.match(w):
            continue
        out.append(w)
    return out
