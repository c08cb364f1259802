"""Every real document in ../shared/realdocs (published by other provinces; no one here wrote them) splits
into its clauses along its own headings, and its amount sentences become rule proposals whose money figures
are the sentences' own. The expectations come from each document's own markers, not from its strings."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from kb.detect import detect
from kb.documents import DocumentMeta, SourceDocument
from kb.loaders import load
from kb.parse import INDEXED_KINDS, parse_document
from kb.propose import propose

ROOT = Path(__file__).resolve().parent.parent
REALDOCS = ROOT.parent / "shared" / "realdocs"
SCORER = ROOT.parent / "shared" / "eval" / "score_realdocs.py"
FILES = sorted(p.name for p in REALDOCS.glob("*.txt")) if REALDOCS.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason="../shared/realdocs is not beside the checkout")
CN = "一二三四五六七八九十百零〇"


def _split(name: str):
    path = REALDOCS / name
    text = load(path).text
    d = detect(text)
    meta = DocumentMeta(id="rd", title=d.title or name, number=d.number or "", issuer=d.issuer or "",
                        region=d.region or "", valid_from=d.valid_from, valid_until=d.valid_until)
    clauses = parse_document(SourceDocument(meta, text, path))
    return text, meta, clauses


@pytest.fixture(scope="module")
def split():
    return {name: _split(name) for name in FILES}


def _letters(s: str) -> str:
    """Chinese characters and digits only: the same sentence as printed and as cleaned compare equal."""
    return "".join(re.findall(r"[\u4e00-\u9fff\d]", s.translate(str.maketrans("０１２３４５６７８９", "0123456789"))))


def _scorer():
    spec = importlib.util.spec_from_file_location("score_realdocs", SCORER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", FILES)
def test_splits_into_its_clauses(split, name):
    from kb.admin import split_problem
    text, _, clauses = split[name]
    body = [c for c in clauses if c.kind in INDEXED_KINDS]
    assert len(body) >= 5
    assert split_problem(clauses) is None
    ids = [c.id for c in clauses]
    assert len(ids) == len(set(ids))
    assert all(c.heading_path for c in body)
    # page numbers a PDF keeps between pages are not text
    assert not any(re.search(r"^[—-]\s*\d+\s*[—-]$", ln) for c in clauses for ln in c.text.split("\n"))


@pytest.mark.parametrize("name", FILES)
def test_every_article_and_section_of_the_text_is_a_heading(split, name):
    """Each 第N条 line of the text is one clause's heading; each 一、 section title is in some heading path."""
    text, _, clauses = split[name]
    lines = [ln.strip().replace("\u3000", "") for ln in text.splitlines()]
    articles = [re.sub(r"\s+", "", m.group(1)) for ln in lines
                if (m := re.match(rf"^第\s*([{CN}\d][{CN}\d\s]*?)\s*条", ln))]
    heads = [c.heading_path[-1] for c in clauses if c.kind in INDEXED_KINDS]
    for n in articles:
        assert any(h.startswith(f"第{n}条") for h in heads), f"第{n}条"
    paths = " › ".join(" › ".join(c.heading_path) for c in clauses)
    for ln in lines:
        m = re.match(rf"^([{CN}]+)\s*、\s*(\S{{2,12}})", ln)
        if m and len(ln) <= 40 and "。" not in ln:
            assert f"{m.group(1)}、{m.group(2)[:6]}" in paths.replace(" ", ""), ln


@pytest.mark.skipif(not SCORER.exists(), reason="../shared/eval/score_realdocs.py is not beside the checkout")
def test_proposals_carry_the_figures_of_every_amount_sentence(split):
    """The measure of ../shared/eval/score_realdocs.py: ≥ 95% of the money figures of the amount sentences are
    in the document's proposals (`*_yuan` values), and no `_yuan` value is one the document does not contain."""
    sr = _scorer()
    sentences = json.loads((REALDOCS / "amount_sentences.json").read_text(encoding="utf-8"))
    hit = total = 0
    for name, sents in sentences.items():
        text, meta, clauses = split[name]
        proposals = [p.to_dict() for p in propose(meta, clauses)]
        got = sr.yuan_values(proposals)
        invented = {v for v in got if v not in sr.figures((REALDOCS / name).read_text(encoding="utf-8"))}
        assert not invented, (name, sorted(invented))
        for s in sents:
            for f in sr.figures(s):
                total += 1
                hit += f in got
        # every amount sentence yields a proposal
        said = {_letters(p["sentence"]) for p in proposals}
        for s in sents:
            key = _letters(s)
            assert any(key[:12] in x or x[:12] in key for x in said), (name, s[:40])
    assert total and hit / total >= 0.95


def test_known_shapes(split):
    """A few shapes the layout notes name: spaced article numbers, wrapped PDF lines, a bound-in plan."""
    heads = {c.heading_path[-1] for c in split["liuhe-2023-key-industries-opinions.txt"][2]}
    assert "第10条 鼓励企业标准创制和品牌建设" in heads and "第21条" in heads
    kunpeng = {c.id: c for c in split["jinan-2021-kunpeng-ascend-service-resources.txt"][2]}
    assert "上限为每年200万元" in kunpeng["rd/c2-a8-1"].text
    assert kunpeng["rd/c2-a8"].heading == "第二章 支持对象和条件 › 第八条"
    anhui = split["anhui-2021-82-industrial-internet.txt"][2]
    assert any(c.id.startswith("rd/part2-") for c in anhui)
    assert any(c.id.endswith("-box1") for c in anhui)
