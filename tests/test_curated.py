"""Curated answers: the store (bot/curated.py), the threshold measured on paraphrases with the real
embedder, the runtime giving them through the core's hook, lapsing when a cited document is retired, the
`answers` commands and the `kb verify` listing."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from bot.core.types import Session
from bot.curated import THRESHOLD, CuratedStore, default_keys, lapse_reason

REPLY = "奖励资金一般在次年上半年由市工信局会同市财政局审核后拨付到企业账户，具体以当年通知为准。"


def _unit(*xs):
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------------------------------- the store

def test_store_matches_close_questions_with_the_same_figures(tmp_path):
    store = CuratedStore(tmp_path / "c.sqlite", threshold=0.95)
    cid = store.add("营收首次达到5亿奖励什么时候发", _unit(1, 0, 0), REPLY, ["jc-2023-39/1-2"], "王工",
                    source_question_id=7)
    hit = store.match("营收首次到5亿的奖励啥时候发", _unit(1, 0.05, 0))
    assert hit is not None and hit.id == cid and hit.text == REPLY and hit.clause_ids == ["jc-2023-39/1-2"]
    assert hit.similarity >= 0.95
    assert store.match("营收首次达到10亿奖励什么时候发", _unit(1, 0.01, 0)) is None      # other figures
    assert store.match("营收首次到5亿的奖励啥时候发", _unit(1, 0.5, 0)) is None        # not close enough
    assert store.match("随便问问", None) is None
    entry = store.get(cid)
    assert (entry.created_by, entry.source_question_id, entry.hits) == ("王工", 7, 1)
    assert store.retire(cid, "李工") and not store.retire(cid, "李工")
    assert store.match("营收首次到5亿的奖励啥时候发", _unit(1, 0.05, 0)) is None
    assert store.state(store.get(cid)) == "retired"
    store.close()


def test_another_wording_and_another_process_adding_one(tmp_path):
    path = tmp_path / "c.sqlite"
    serving = CuratedStore(path, threshold=0.95)
    assert serving.match("奖金多久能发下来", _unit(0, 1, 0)) is None              # nothing yet (cached)
    staff = CuratedStore(path, threshold=0.95)                                     # the staff command
    cid = staff.add("奖励什么时候兑现", _unit(1, 0, 0), REPLY, [], "王工")
    staff.add_wording(cid, "奖金多久能发下来", _unit(0, 1, 0))
    staff.close()
    hit = serving.match("奖金多久能发下来", _unit(0, 1, 0))     # the running server sees it at once
    assert hit is not None and hit.id == cid
    assert serving.get(cid).wordings == ["奖励什么时候兑现", "奖金多久能发下来"]
    serving.close()


def test_lapse_is_checked_at_every_match(tmp_path):
    reasons = {"now": None}
    store = CuratedStore(tmp_path / "c.sqlite", threshold=0.9, lapsed=lambda ids, hashes: reasons["now"])
    store.add("老字号奖励多少", _unit(1, 0), REPLY, ["d/1"], "王工")
    assert store.match("老字号奖励多少", _unit(1, 0)) is not None
    reasons["now"] = "引用的文件 d 已废止"
    assert store.match("老字号奖励多少", _unit(1, 0)) is None
    assert store.state(store.list()[0]) == "lapsed: 引用的文件 d 已废止"
    store.close()


def test_lapse_reason_against_a_knowledge_base():
    from dataclasses import replace

    from kb.documents import DocumentMeta
    from kb.parse import Clause
    from kb.store import KnowledgeBase
    clause = Clause("d/1", "d", 1, "clause", ["一、"], "对新入选中华老字号的，奖励20万元。", "", "")
    doc = DocumentMeta(id="d", title="某办法", number="某〔2023〕1号", issuer="晋城市人民政府", region="晋城市")
    kb = KnowledgeBase({"d": doc}, {"d/1": clause})
    assert lapse_reason(["d/1"], {"d/1": clause.hash}, kb) is None
    assert "已废止" in lapse_reason(["d/1"], {}, KnowledgeBase({"d": replace(doc, status="retired")}, {"d/1": clause}))
    assert "替代" in lapse_reason(["d/1"], {}, KnowledgeBase({"d": replace(doc, superseded_by="d2")}, {"d/1": clause}))
    assert "不在知识库" in lapse_reason(["d/9"], {}, kb)
    assert "修改" in lapse_reason(["d/1"], {"d/1": "0" * 16}, kb)


def test_default_keys_are_the_figures():
    assert default_keys("营收首次达到5亿奖励") == default_keys("营收第一次突破5亿能拿多少") == (5.0,)
    assert default_keys("营收首次达到10亿奖励") != default_keys("营收首次达到5亿奖励")


# ---------------------------------------------------------------------------------------------- measured

PARAPHRASES = {
    "laozihao": ["新入选中华老字号奖励多少", "评上中华老字号能给多少钱", "我们刚被认定为中华老字号，有奖励吗",
                 "中华老字号企业有什么奖励"],
    "contact": ["申报专业镇找哪个部门", "专业镇申报应该联系哪个单位", "申请专业镇要去哪个部门办", "专业镇的申报归哪个部门管"],
    "criteria": ["城区区级专业镇的认定条件是什么", "城区认定区级专业镇需要满足哪些条件", "城区区级专业镇认定标准",
                 "城区区级专业镇要什么条件才能认定"],
    "rev5": ["营收首次达到5亿元奖励多少", "营业收入第一次突破5亿能拿多少奖励", "企业营收首次过5亿有什么奖励"],
    "rev10": ["营收首次达到10亿元奖励多少", "营业收入第一次突破10亿能拿多少奖励"],
    "materials": ["申报奖励需要准备哪些材料", "申请奖励要交什么材料", "领奖励得提交哪些资料"],
    "when": ["奖励什么时候兑现", "奖金多久能发下来", "奖励资金什么时候到账"],
    "where": ["奖励在哪里申请", "去哪儿申请这个奖励", "在哪个网站申报奖励"],
    "tax": ["奖励要交税吗", "奖金需要缴个人所得税吗"],
    "yangcheng": ["阳城有哪些市级专业镇", "阳城县的市级专业镇有哪几个"],
    "gaoping": ["高平有哪些市级专业镇"],
}


@pytest.mark.slow
def test_threshold_measured_on_paraphrases(assistant):
    """Every pair of questions above: a pair from one group should match, a pair from two groups never.
    At THRESHOLD with the figure/place guard no different question matches, and most paraphrases do
    (measured 2026-11-22: 20 of 33 paraphrase pairs, 0 of 465 other pairs; at 0.95 one other pair
    matched: 申报奖励需要准备哪些材料 / 在哪个网站申报奖励, 0.957)."""
    gaz = assistant.gaz
    keys = lambda t: default_keys(t) + tuple(sorted({r.name for r in gaz.find_all(t)}))  # noqa: E731
    vec = {q: assistant.analyse(q).qvec for qs in PARAPHRASES.values() for q in qs}
    same = diff = same_hit = diff_hit = 0
    wrong = []
    for (g1, q1s), (g2, q2s) in itertools.combinations_with_replacement(PARAPHRASES.items(), 2):
        for x, y in itertools.product(q1s, q2s):
            if g1 == g2 and x >= y:
                continue
            hit = float(vec[x] @ vec[y]) >= THRESHOLD and keys(x) == keys(y)
            if g1 == g2:
                same, same_hit = same + 1, same_hit + hit
            else:
                diff, diff_hit = diff + 1, diff_hit + hit
                if hit:
                    wrong.append((x, y))
    assert wrong == [] and diff > 400
    assert same_hit / same >= 0.55, (same_hit, same)


# ---------------------------------------------------------------------------------------------- runtime

def _clause_of(assistant, question):
    ans = assistant.answer(question, Session(id="probe"))
    return ans.citations[0].clause_id


@pytest.mark.slow
def test_runtime_gives_the_curated_reply_marked_and_logged(runtime, assistant):
    clause = _clause_of(assistant, "新入选中华老字号奖励多少")
    q = "我们刚被认定为中华老字号，有奖励吗"
    cid = runtime.curated.add("新入选中华老字号奖励多少", assistant.analyse("新入选中华老字号奖励多少").qvec,
                              "新入选中华老字号奖励20万元，请在认定后向市商务局申报。", [clause], "王工",
                              clause_hashes={clause: assistant.kb.clauses[clause].hash})
    turn = runtime.ask_sync("web", "curated-user", q)
    assert turn.answer.qtype == "curated" and turn.answer.status == "answered"
    assert "请在认定后向市商务局申报" in turn.answer.answer and "工作人员审核过" in turn.answer.answer
    assert [c.clause_id for c in turn.answer.citations] == [clause]
    assert runtime.qlog.get(turn.question_id)["qtype"] == "curated"
    assert runtime.curated.get(cid).hits == 1
    other = runtime.ask_sync("web", "curated-user", "营收首次达到5亿元奖励多少")     # another question
    assert other.answer.qtype != "curated"
    runtime.curated.retire(cid, "王工")
    assert runtime.ask_sync("web", "curated-user-2", q).answer.qtype != "curated"


@pytest.mark.slow
def test_curated_reply_lapses_when_its_document_is_retired(built_config, assistant, embedder, tmp_path):
    from bot.core.service import Assistant
    from bot.curated import verify_listing
    from bot.runtime import Runtime
    from kb import admin
    clause = _clause_of(assistant, "新入选中华老字号奖励多少")
    doc = assistant.kb.clauses[clause].doc_id
    with admin.candidate(built_config, lambda c: admin.retire(c, doc, progress=False)) as cand:
        retired = Assistant.load(cand, today=assistant.today, build=False, embedder=embedder)
        results = {}
        for name, a in (("live", assistant), ("retired", retired)):
            rt = Runtime.start(a.config.with_(data_dir=tmp_path / name), assistant=a)
            try:
                rt.curated.add("新入选中华老字号奖励多少", a.analyse("新入选中华老字号奖励多少").qvec, REPLY, [clause],
                               "王工", clause_hashes={clause: a.kb.clauses[clause].hash})
                results[name] = rt.ask_sync("web", "u", "我们刚被认定为中华老字号，有奖励吗").answer.qtype
                results[name + "-state"] = rt.curated.state(rt.curated.list()[0])
            finally:
                rt.close()
        # `kb verify`: the live knowledge base's curated answers, as they stand live and after the change
        live_cfg = built_config.with_(data_dir=tmp_path / "verify")
        (tmp_path / "verify").mkdir()
        (tmp_path / "verify" / "current").symlink_to(built_config.current_build.resolve())
        store = CuratedStore(live_cfg.data_dir / "curated.sqlite")
        store.add("新入选中华老字号奖励多少", assistant.analyse("新入选中华老字号奖励多少").qvec, REPLY, [clause], "王工")
        store.close()
        listing = verify_listing(live_cfg, cand)
    assert results["live"] == "curated" and results["live-state"] == "active"
    assert results["retired"] != "curated" and results["retired-state"] == f"lapsed: 引用的文件 {doc} 已废止"
    assert [(e.question, live, after) for e, live, after in listing] == [
        ("新入选中华老字号奖励多少", "active", f"lapsed: 引用的文件 {doc} 已废止")]


# ---------------------------------------------------------------------------------------------- commands

@pytest.fixture
def staff_env(built_config, monkeypatch, tmp_path):
    """The commands run on a data dir that shares the built knowledge base, with its own log and stores."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "current").symlink_to(built_config.current_build.resolve())
    (data / "builds").symlink_to(built_config.data_dir / "builds")
    monkeypatch.setenv("PZ_DATA_DIR", str(data))
    monkeypatch.setenv("PZ_DOCUMENTS_DIR", str(built_config.documents_dir))
    monkeypatch.setenv("PZ_RULES_DIR", str(built_config.rules_dir))
    monkeypatch.setenv("PZ_CACHE_DIR", str(built_config.cache_dir))
    monkeypatch.setenv("PZ_LOG_KEY", "k" * 40)
    monkeypatch.setenv("PZ_STAFF_NAME", "王工")
    return data


@pytest.mark.slow
def test_answers_commands_curate_list_show_retire(staff_env, assistant):
    from bot.cli import main
    from bot.qlog import QuestionLog
    from bot.core.types import Answer
    clause = _clause_of(assistant, "新入选中华老字号奖励多少")
    log = QuestionLog(staff_env / "questions.sqlite", "k" * 40)
    qid = log.record("web", "u1", "奖励什么时候兑现", Answer("not_found", "没有找到。"), 10.0, session="s")
    log.feedback(qid, -1, "没回答")
    handoff = log.record("web", "u1", "［给工作人员的留言］", Answer("answered", "好"), 10.0, session="s")
    log.close()
    run = lambda *args, **kw: CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)  # noqa: E731

    res = run("answers", "curate", str(qid), "--reply", REPLY, "--yes")
    assert res.exit_code != 0 and "--cite" in res.output              # a citation is required
    res = run("answers", "curate", str(qid), "--cite", "no/such-clause", "--reply", REPLY, "--yes")
    assert res.exit_code != 0 and "not in the knowledge base" in res.output
    assert run("answers", "curate", str(handoff), "--reply", REPLY, "--no-cite", "--yes").exit_code != 0
    assert run("answers", "curate", "999", "--reply", REPLY, "--no-cite", "--yes").exit_code != 0

    # interactive: the reply and the clause ids are asked for, then a confirmation
    res = run("answers", "curate", str(qid), input=f"{REPLY}\n{clause}\ny\n")
    assert res.exit_code == 0, res.output
    assert "奖励什么时候兑现" in res.output and "没回答" in res.output and "saved" in res.output
    res = run("answers", "curate", str(qid), "--reply", "第二条", "--cite", clause, "--also", "奖金多久能发下来", "-y")
    assert res.exit_code == 0, res.output

    res = run("answers", "list", "--json")
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [(r["id"], r["reply"], r["clause_ids"], r["created_by"], r["state"]) for r in rows] == [
        (1, REPLY, [clause], "王工", "active"), (2, "第二条", [clause], "王工", "active")]
    assert rows[1]["wordings"] == ["奖励什么时候兑现", "奖金多久能发下来"]
    res = run("answers", "show", "2")
    assert "奖金多久能发下来" in res.output and clause in res.output and "active" in res.output
    assert run("answers", "retire", "2").exit_code == 0
    res = run("answers", "list")
    assert "第二条" not in res.output and "奖励资金一般" in res.output
    assert "retired" in run("answers", "list", "--all").output
    # `kb verify` lists the curated answers and their state after the change (here: none)
    golden = staff_env / "golden.jsonl"
    golden.write_text(json.dumps({"q": "新入选中华老字号奖励多少"}, ensure_ascii=False) + "\n", encoding="utf-8")
    res = run("kb", "verify", "--questions", str(golden))
    assert res.exit_code == 0, res.output
    assert "1 curated answer(s)" in res.output and "奖励什么时候兑现" in res.output and "active" in res.output
    for args in (["answers", "--help"], ["answers", "curate", "--help"], ["answers", "list", "--help"],
                 ["answers", "retire", "--help"], ["answers", "show", "--help"]):
        assert run(*args).exit_code == 0
