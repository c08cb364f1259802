"""Everything derived from the knowledge base and the example bank, made at build time: the documents'
clauses, index and sentences (kb.build) and the question-type model (bot.nlu.model). This orchestrates
both layers, so it sits above them."""
from __future__ import annotations

from bot.config import Config


def build_all(config: Config, progress: bool = True, force: bool = False, embedder=None):
    from bot.nlu.model import ensure_model
    from kb.build import build
    if embedder is None:
        from index.embedder import make_embedder
        embedder = make_embedder(config.embedder_backend, config.embedder_model, config.embed_batch_size,
                                 config.cache_dir)
    report = build(config, progress=progress, force=force, embedder=embedder)
    ensure_model(config.cache_dir or config.data_dir / "cache", embedder, progress=progress)
    return report
