"""One handler per question type. A new question type is a new handler here plus examples in kb/nlu."""
from __future__ import annotations

from functools import partial

from bot.core.handlers import checkup, documents, eligibility, facts, office, procedure, reference, reward, talk

HANDLERS = {
    "reward": reward.handle,
    "eligibility": eligibility.handle,
    "policy": partial(facts.handle, kind="policy"),
    "list": partial(facts.handle, kind="list"),
    "number": partial(facts.handle, kind="number"),
    "person": partial(facts.handle, kind="person"),
    "when": partial(facts.handle, kind="when"),
    "definition": partial(facts.handle, kind="definition"),
    "office": office.handle,
    "validity": documents.validity,
    "doc_meta": documents.doc_meta,
    "kb_contents": documents.kb_contents,
    "procedure": procedure.handle,
    "ref_source": reference.source,
    "ref_text": reference.text,
    "greeting": talk.greeting,
    "thanks": talk.thanks,
    "chitchat": talk.chitchat,
    "out_of_scope": talk.out_of_scope,
    "reset": talk.reset,
    "handoff": talk.handoff,
    "checkup": checkup.handle,
    "facts_noted": talk.facts_noted,
    "handoff_step": talk.handoff_step,
}
# answered from retrieved sentences: the ones where a misunderstood question shows as an odd quote
RETRIEVAL_TYPES = {"policy", "list", "number", "person", "when", "definition"}
