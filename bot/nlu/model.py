"""Train, cache, load and measure the question-type model. Trained at build time from kb/nlu (keyed by the
bank's contents, the embedder and the training settings), loaded at start-up."""
from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bot.errors import IndexError_
from bot.nlu import intents
from bot.nlu.intents import Example, IntentModel, fold, load_bank
from kb.regions import Gazetteer

log = logging.getLogger(__name__)


def query_text(text: str) -> str:
    """What the embedder sees of a question: the text with the synonym table's document terms appended
    (the same string retrieval embeds, so one vector serves both)."""
    from kb.synonyms import expand
    return expand(text)


def _key(bank_dir: Path, embedder) -> str:
    """The model's identity: the bank's files (their bytes: start-up need not parse them), the embedder and
    the training settings."""
    h = hashlib.sha256(f"{intents.FORMAT}|{intents.EMBED_WEIGHT}|{intents.C}|{intents.NGRAMS}|"
                       f"{embedder.backend}|{embedder.model}".encode())
    for path in sorted(Path(bank_dir).glob("*.yaml")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _folded(texts: list[str], gaz: Gazetteer) -> list[str]:
    return [fold(t, gaz.mentions(t)) for t in texts]


def embed_texts(embedder, texts: list[str], cache_file: Path, progress: bool = False) -> np.ndarray:
    """Query vectors of the texts, reusing those already computed (cache keyed by model and text)."""
    cache: dict[str, np.ndarray] = {}
    if cache_file.exists():
        try:
            z = np.load(cache_file, allow_pickle=False)
            cache = dict(zip(z["keys"].tolist(), z["vectors"]))
        except (OSError, ValueError, KeyError):
            log.warning("intent vector cache unreadable: re-embedding")
    keys = [hashlib.sha256(f"{embedder.backend}|{embedder.model}|{query_text(t)}".encode()).hexdigest()[:24]
            for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    if todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="embedding examples", unit="question", disable=not progress,
                   file=__import__("sys").stderr)
        for start in range(0, len(todo), 32):
            chunk = todo[start:start + 32]
            vectors = embedder.queries([query_text(texts[i]) for i in chunk]) if hasattr(embedder, "queries") \
                else np.stack([embedder.query(query_text(texts[i])) for i in chunk])
            for i, v in zip(chunk, vectors):
                cache[keys[i]] = v
            bar.update(len(chunk))
        bar.close()
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(cache)), vectors=np.stack(list(cache.values())).astype(np.float32))
        tmp.replace(cache_file)
    return np.stack([cache[k] for k in keys]).astype(np.float32)


def _train(examples: list[Example], embedder, cache_dir: Path, gaz: Gazetteer, progress: bool) -> IntentModel:
    texts = [e.text for e in examples]
    vectors = embed_texts(embedder, texts, cache_dir / "vectors.npz", progress)
    counts = Counter(e.type for e in examples)
    return intents.train(_folded(texts, gaz), [e.type for e in examples], vectors,
                         meta={"examples": len(examples), "types": dict(counts), "embedder": embedder.model})


def ensure_model(cache_dir: Path, embedder, progress: bool = False, bank_dir: Path | None = None) -> Path:
    """The trained model's file, training it first when the bank or the embedder changed."""
    bank_dir = bank_dir or intents.BANK_DIR
    nlu_dir = Path(cache_dir) / "nlu"
    path = nlu_dir / f"intents-{_key(bank_dir, embedder)}.npz"
    if path.exists():
        return path
    examples = load_bank(bank_dir)
    log.info("training the question-type model on %d examples", len(examples))
    model = _train(examples, embedder, nlu_dir, Gazetteer.load(), progress)
    model.save(path)
    for old in sorted(nlu_dir.glob("intents-*.npz"), key=lambda p: p.stat().st_mtime)[:-3]:
        old.unlink(missing_ok=True)     # a shared cache: keep the last few (tests, staff candidates)
    return path


def load_model(cache_dir: Path, embedder, bank_dir: Path | None = None) -> IntentModel:
    """The model trained on the bank as it is now, with this embedder (built by `python -m bot build`)."""
    path = Path(cache_dir) / "nlu" / f"intents-{_key(bank_dir or intents.BANK_DIR, embedder)}.npz"
    try:
        return IntentModel.load(path)
    except (OSError, ValueError, KeyError) as e:
        raise IndexError_(f"no question-type model for this example bank and embedder in {path.parent}: "
                          f"run `python -m bot build` ({e})") from e


def split(examples: list[Example], holdout: float = 0.2) -> tuple[list[Example], list[Example]]:
    """A fixed held-out part of every type (by a hash of the text, so it never changes with order)."""
    train, test = [], []
    for e in examples:
        h = int(hashlib.sha256(e.text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if h < holdout else train).append(e)
    return train, test


def evaluate(cache_dir: Path, embedder, bank_dir: Path | None = None, holdout: float = 0.2) -> dict:
    """Train on the bank minus its held-out part and measure on that part."""
    gaz = Gazetteer.load()
    examples = load_bank(bank_dir or intents.BANK_DIR)
    train, test = split(examples, holdout)
    model = _train(train, embedder, Path(cache_dir) / "nlu", gaz, progress=False)
    vectors = embed_texts(embedder, [e.text for e in test], Path(cache_dir) / "nlu" / "vectors.npz")
    per = defaultdict(lambda: [0, 0])
    confusions: Counter = Counter()
    wrong = []
    confidences = []
    for e, v, f in zip(test, vectors, _folded([e.text for e in test], gaz)):
        p = model.predict(f, v)
        per[e.type][1] += 1
        confidences.append((p.confidence, p.type == e.type))
        if p.type == e.type:
            per[e.type][0] += 1
        else:
            confusions[(e.type, p.type)] += 1
            wrong.append((e.text, e.type, p.type, p.confidence))
    ok = sum(v[0] for v in per.values())
    return {"train": len(train), "test": len(test), "accuracy": ok / max(len(test), 1),
            "per_type": dict(per), "confusions": confusions.most_common(), "wrong": wrong,
            "confidences": confidences}
