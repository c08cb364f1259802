"""Staff managing the knowledge base: add (txt/GBK/docx), duplicates, rejections that leave it untouched,
retire, replace, answering during a rebuild, kill -9 during a rebuild, and the `kb` commands."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.config import load_config
from bot.errors import KBError

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("kb.build")
from kb import admin  # noqa: E402

TODAY = date(2026, 11, 22)
Q_REWARD = "晋城的专业镇企业营收首次达到5亿元，能拿多少奖励？"
OLD_NUMBER = "晋市政办〔2023〕39号"


def _config(base: Path):
    return load_config(env={"PZ_DATA_DIR": str(base / "data"), "PZ_DOCUMENTS_DIR": str(base / "documents"),
                            "PZ_RULES_DIR": str(base / "rules"), "PZ_LOG_SALT": "t"})


def _copy_kb(src, dst: Path):
    """documents, rules and the current build (so builds here only embed what changed)."""
    from index.store import current_dir
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src.documents_dir, dst / "documents", ignore=shutil.ignore_patterns(".kb-txn"))
    shutil.copytree(src.rules_dir, dst / "rules")
    cur = current_dir(src.data_dir)
    if cur:
        (dst / "data" / "builds").mkdir(parents=True)
        shutil.copytree(cur, dst / "data" / "builds" / cur.name)
        os.symlink(os.path.join("builds", cur.name), dst / "data" / "current")
    return _config(dst)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("kb-pristine")
    try:
        built = request.getfixturevalue("built_config")    # tests/conftest.py: reuse its build
        return _copy_kb(built, base)
    except pytest.FixtureLookupError:
        pass
    live = load_config(env={})
    shutil.copytree(live.documents_dir, base / "documents")
    shutil.copytree(live.rules_dir, base / "rules")
    cfg = _config(base)
    from kb.build import build
    build(cfg, progress=False)
    return cfg


@pytest.fixture
def kb(pristine, tmp_path):
    return _copy_kb(pristine, tmp_path / "kb")


def snapshot(cfg) -> dict:
    """Every byte of the documents folder, and which build is live."""
    files = {str(p.relative_to(cfg.documents_dir)): p.read_bytes()
             for p in sorted(cfg.documents_dir.rglob("*")) if p.is_file()}
    return {"files": files, "current": os.readlink(cfg.data_dir / "current")}


def assistant_for(cfg):
    from bot.core.service import Assistant
    try:
        return Assistant.load(cfg, today=lambda: TODAY)
    except NotImplementedError:
        pytest.skip("bot.core.service.Assistant is not implemented yet")


def ask(assistant, q: str, sid: str = "t"):
    from bot.core.types import Session
    return assistant.answer(q, Session(id=sid))


def new_policy_text(amount_wan: int = 10) -> str:
    """The 2023 Jincheng policy re-issued in 2026, with the 5亿 reward changed."""
    text = (ROOT / "kb" / "documents" / "jc-2023-39.txt").read_text(encoding="utf-8")
    text = (text.replace("晋市政办〔2023〕39号", "晋市政办〔2026〕7号").replace("2023年10月31日", "2026年3月1日")
            .replace("2023 年 10 月 31 日", "2026 年 3 月 1 日").replace("2025 年 12 月 31 日", "2028 年 12 月 31 日"))
    return text.replace("一次性奖励 10 万元、20 万元", f"一次性奖励 {amount_wan} 万元、20 万元")


# ---------------------------------------------------------------- add
def test_add_gbk_file_then_the_same_file_again(kb, tmp_path):
    f = tmp_path / "晋城2026.txt"
    f.write_bytes(new_policy_text().encode("gbk"))
    draft = admin.inspect_file(f, f.name)
    assert (draft.number, draft.region, draft.valid_from, draft.valid_until) == \
        ("晋市政办〔2026〕7号", "晋城市", "2026-03-01", "2028-12-31")
    assert any("晋市政办〔2026〕7号" in line for line in draft.describe())
    rep = admin.add_document(kb, f, f.name, progress=False)
    assert not rep.unchanged and rep.clauses and rep.clauses > 5
    meta = admin.show(kb, rep.doc_id).meta
    assert (meta.number, meta.status, meta.source_file) == ("晋市政办〔2026〕7号", "active", "晋城2026.txt")
    assert (kb.documents_dir / f"{rep.doc_id}.txt").read_text(encoding="utf-8") == draft.text
    assert (kb.documents_dir / "originals" / f"{rep.doc_id}.txt").read_bytes() == f.read_bytes()
    before = snapshot(kb)
    again = admin.add_document(kb, f, "renamed copy.txt", progress=False)
    assert again.unchanged and again.doc_id == rep.doc_id
    assert snapshot(kb) == before


def test_add_docx_with_overrides(kb, tmp_path):
    import docx
    d = docx.Document()
    body = new_policy_text().replace("晋城市", "阳城县").replace("晋市政办〔2026〕7号", "")
    for line in body.splitlines():
        d.add_paragraph(line.lstrip("# ").replace("**", ""))
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "营收首次达到5亿元", "奖励10万元"
    t.cell(1, 0).text, t.cell(1, 1).text = "营收首次达到10亿元", "奖励20万元"
    f = tmp_path / "ycx.docx"
    d.save(f)
    draft = admin.inspect_file(f, "阳城奖补.docx")
    assert draft.number is None and "required: give --number" in "\n".join(draft.describe())
    with pytest.raises(KBError, match="--number"):
        admin.add_document(kb, f, "阳城奖补.docx", progress=False)
    rep = admin.add_document(kb, f, "阳城奖补.docx", overrides={"number": "阳政办〔2026〕1号",
                                                               "valid_until": "2026-12-31"}, progress=False)
    meta = admin.show(kb, rep.doc_id).meta
    assert (meta.region, meta.number, meta.valid_from, meta.valid_until) == \
        ("阳城县", "阳政办〔2026〕1号", "2026-03-01", "2026-12-31")
    assert rep.doc_id == "doc-2026-1"
    assert "营收首次达到5亿元\t奖励10万元" in (kb.documents_dir / "doc-2026-1.txt").read_text(encoding="utf-8")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _scan(tmp_path):
    from tests.test_loaders import _scanned_pdf
    p = tmp_path / "scan.pdf"
    _scanned_pdf(p, tmp_path)
    return p


def _latin_pdf(tmp_path):
    from tests.test_loaders import _pdf_with_text
    p = tmp_path / "latin.pdf"
    _pdf_with_text(p, ["Policy text without any Chinese characters in it at all"])
    return p


@pytest.mark.parametrize("make,name,overrides,why", [
    (lambda t: _write(t / "e.txt", b""), "empty.txt", None, "empty"),
    (lambda t: _write(t / "b.txt", os.urandom(4096) + b"\x00"), "blob.txt", None, "binary"),
    (_scan, "scan.pdf", None, "scanned PDF"),
    (_latin_pdf, "latin.pdf", {"region": "晋城市", "title": "x", "number": "x", "issuer": "x"}, "no Chinese"),
    (lambda t: _write(t / "p.txt", new_policy_text().encode()), "p.txt", {"region": "火星市"}, "unknown region"),
])
def test_rejected_files_leave_the_knowledge_base_untouched(kb, tmp_path, make, name, overrides, why):
    f = make(tmp_path)
    before = snapshot(kb)
    with pytest.raises(KBError, match=why):
        admin.add_document(kb, f, name, overrides, progress=False)
    assert snapshot(kb) == before


def test_a_failed_build_restores_the_documents_exactly(kb, tmp_path, monkeypatch):
    import index.embedder

    def broken(*a, **kw):
        raise RuntimeError("embedder crashed")
    monkeypatch.setattr(index.embedder, "make_embedder", broken)
    f = tmp_path / "new.txt"
    f.write_text(new_policy_text(15), encoding="utf-8")
    before = snapshot(kb)
    with pytest.raises(KBError, match="nothing was changed"):
        admin.add_document(kb, f, f.name, progress=False)
    assert snapshot(kb) == before
    with pytest.raises(KBError, match="nothing was changed"):
        admin.replace(kb, "jc-2023-39", f, f.name, progress=False)
    assert snapshot(kb) == before


def test_an_interrupted_change_is_rolled_back(kb):
    before = snapshot(kb)
    txn = admin._Txn(kb.documents_dir).begin()
    txn.write("half.txt", "半个文件".encode())
    txn.write("jc-2023-39.yaml", b"id: broken\n")
    assert snapshot(kb) != before
    assert admin.recover(kb, rebuild=False)          # what the next kb command does first
    assert snapshot(kb) == before
    assert not admin.recover(kb, rebuild=False)


# ---------------------------------------------------------------- kill -9 during a rebuild
DRIVER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    import index.embedder as emb
    real = emb.make_embedder
    marker = Path(sys.argv[1])

    def make_embedder(*a, **kw):
        e = real(*a, **kw)
        passages = e.passages
        def stall(texts):
            passages(texts)
            marker.write_text("embedding")   # the new build is half-written: now is the time to kill
            threading.Event().wait()
        e.passages = stall
        return e
    emb.make_embedder = make_embedder
    from bot.cli import main
    main(["kb", "add", sys.argv[2], "--yes"])
""")


def test_kill_9_during_a_rebuild_keeps_the_old_index(kb, tmp_path):
    from index.store import LoadedIndex, current_dir
    f = tmp_path / "new.txt"
    f.write_text(new_policy_text(15), encoding="utf-8")
    marker, driver = tmp_path / "embedding.marker", tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    before = snapshot(kb)
    env = {**os.environ, "PZ_DATA_DIR": str(kb.data_dir), "PZ_DOCUMENTS_DIR": str(kb.documents_dir),
           "PZ_RULES_DIR": str(kb.rules_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(driver), str(marker), str(f)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():                   # an observable event, not a guess at timing
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the build never started embedding"
            time.sleep(0.05)
        assert (kb.documents_dir / ".kb-txn").exists()      # the change is in flight
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert os.readlink(kb.data_dir / "current") == before["current"]    # the old build is still live
    LoadedIndex.load(current_dir(kb.data_dir))                          # and loads
    admin.list_documents(kb)                 # the next command rolls the half-added document back
    assert snapshot(kb) == before
    a = assistant_for(kb)
    assert ask(a, Q_REWARD).total_yuan == 100000
    rep = admin.add_document(kb, f, f.name, progress=False)             # and the add can simply be redone
    assert not rep.unchanged


# ---------------------------------------------------------------- answers
def _numbers(answer) -> set[str]:
    return {c.number for c in answer.citations}


def test_retire_then_ask(kb):
    before = ask(assistant_for(kb), Q_REWARD)
    assert OLD_NUMBER in _numbers(before)
    admin.retire(kb, "jc-2023-39", progress=False)
    assert admin.show(kb, "jc-2023-39").state == "retired"
    after = ask(assistant_for(kb), Q_REWARD)
    assert OLD_NUMBER not in _numbers(after)
    assert after.total_yuan is None
    assert admin.retire(kb, "jc-2023-39", progress=False).action == "unchanged"


def _move_rules(cfg, old_id: str, new_id: str, amount: int):
    """What staff do with a new version: point the rule rows at it and fix the changed amount."""
    p = cfg.rules_dir / "revenue_tiers.yaml"
    text = p.read_text(encoding="utf-8").replace(f"doc: {old_id}, clause: {old_id}/", f"doc: {new_id}, clause: {new_id}/")
    text = text.replace("threshold_yuan: 500000000, amount_yuan: 100000", f"threshold_yuan: 500000000, amount_yuan: {amount}")
    p.write_text(text.replace("valid_until: 2025-12-31", "valid_until: 2028-12-31"), encoding="utf-8")


def test_replace_with_a_changed_amount_then_ask(kb, tmp_path):
    f = tmp_path / "jc-2026.txt"
    f.write_text(new_policy_text(15), encoding="utf-8")
    rep = admin.replace(kb, "jc-2023-39", f, f.name, {"valid_from": "2026-03-01"}, progress=False)
    assert admin.show(kb, "jc-2023-39").meta.superseded_by == rep.doc_id
    assert admin.show(kb, rep.doc_id).meta.supersedes == "jc-2023-39"
    assert admin.show(kb, "jc-2023-39").state.startswith("superseded")
    _move_rules(kb, "jc-2023-39", rep.doc_id, 150000)
    answer = ask(assistant_for(kb), Q_REWARD)
    assert answer.total_yuan == 150000
    assert "晋市政办〔2026〕7号" in _numbers(answer) and OLD_NUMBER not in _numbers(answer)


def test_answers_keep_coming_throughout_a_rebuild(kb, tmp_path):
    assistant = assistant_for(kb)
    stop, results, errors = threading.Event(), [], []

    def asker():
        i = 0
        while not stop.is_set() or i < 3:
            try:
                results.append(ask(assistant, Q_REWARD, sid=f"s{i}").status)
            except Exception as e:       # noqa: BLE001 - any failure is what this test looks for
                errors.append(e)
            i += 1

    t = threading.Thread(target=asker)
    t.start()
    try:
        f = tmp_path / "new.txt"
        f.write_text(new_policy_text(15), encoding="utf-8")
        admin.add_document(kb, f, f.name, progress=False)
        new, _ = assistant.reloaded()              # what a running serve/telegram process does
        assistant = new
    finally:
        stop.set()
        t.join(timeout=120)
    assert not errors and len(results) >= 3 and set(results) == {"answered"}


# ---------------------------------------------------------------- the commands
@pytest.fixture
def cli_env(kb, monkeypatch):
    for k, v in {"PZ_DATA_DIR": kb.data_dir, "PZ_DOCUMENTS_DIR": kb.documents_dir, "PZ_RULES_DIR": kb.rules_dir}.items():
        monkeypatch.setenv(k, str(v))
    from bot.cli import main
    return lambda *args, **kw: CliRunner().invoke(main, ["kb", *args], **kw)


def test_kb_commands(cli_env, kb, tmp_path):
    f = tmp_path / "jc-2026.txt"
    f.write_bytes(new_policy_text().encode("gb18030"))
    res = cli_env("add", str(f), input="n\n")             # shown for confirmation, declined
    assert res.exit_code != 0 and "晋市政办〔2026〕7号" in res.output
    assert not (kb.documents_dir / "jc-2026.txt").exists()
    res = cli_env("add", str(f), "--yes", "--valid-until", "2028-06-30")
    assert res.exit_code == 0, res.output
    assert "Added jc-2026" in res.output
    assert admin.show(kb, "jc-2026").meta.valid_until == "2028-06-30"
    res = cli_env("add", str(f), "--yes")
    assert res.exit_code == 0 and "Unchanged" in res.output
    res = cli_env("list")
    assert res.exit_code == 0 and "jc-2026" in res.output and "jc-2023-39" in res.output
    res = cli_env("show", "jc-2026")
    assert res.exit_code == 0 and "晋市政办〔2026〕7号" in res.output
    res = cli_env("retire", "jc-2026", "--yes")
    assert res.exit_code == 0 and "Retired jc-2026" in res.output


@pytest.mark.parametrize("args,message", [
    (["show", "no-such-doc"], "no document 'no-such-doc'"),
    (["retire", "no-such-doc", "--yes"], "no document"),
])
def test_kb_command_errors_are_plain(cli_env, args, message):
    res = cli_env(*args)
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_kb_add_rejects_with_a_plain_error(cli_env, kb, tmp_path):
    f = tmp_path / "empty.txt"
    f.write_bytes(b"")
    before = snapshot(kb)
    res = cli_env("add", str(f), "--yes")
    assert res.exit_code == 1 and "Error: empty.txt: the file is empty" in res.output
    f.write_text(new_policy_text(), encoding="utf-8")
    res = cli_env("add", str(f), "--yes", "--region", "火星市")
    assert res.exit_code == 1 and "unknown region" in res.output and "Traceback" not in res.output
    assert snapshot(kb) == before


def test_kb_verify_lists_changed_answers(cli_env, kb, tmp_path):
    assistant_for(kb)     # skips while the query handler is not there
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"q": "%s"}\n{"q": "忻州市专业镇的发展目标是什么？"}\n' % Q_REWARD, encoding="utf-8")
    res = cli_env("verify", "--questions", str(gold))
    assert res.exit_code == 0, res.output
    assert "No golden answer changes" in res.output
    cand = tmp_path / "candidate"
    shutil.copytree(kb.documents_dir, cand)
    meta = cand / "jc-2023-39.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("status: active", "status: retired"), encoding="utf-8")
    before = snapshot(kb)
    res = cli_env("verify", "--documents", str(cand), "--questions", str(gold))
    assert res.exit_code == 1
    assert "total_yuan" in res.output and "100000" in res.output
    assert snapshot(kb) == before        # verifying changes nothing live


# ---------------------------------------------------------------- issue 10: clauses, proposals, duplicates
ZZ_TEXT = ("泽州县人民政府办公室文件\n泽政办发〔2025〕12号\n泽州县支持铸造专业镇发展若干措施\n一、支持企业升级\n"
           "（一）对首次获评省级专精特新中小企业的铸造企业，一次性奖励 15 万元。\n"
           "本措施自 2025 年 7 月 1 日起施行，有效期至 2027 年 12 月 31 日。\n")


def test_gbk_county_policy_splits_and_its_award_is_accepted(cli_env, kb, tmp_path):
    import yaml
    from kb.build import parse_all
    from kb.documents import load_documents
    from kb.proposals import load_review
    from kb.rules import load_rules
    f = tmp_path / "zz-2025-12.txt"
    f.write_bytes(ZZ_TEXT.encode("gbk"))
    res = cli_env("add", str(f), "--region", "泽州县", "--yes")
    assert res.exit_code == 0, res.output
    assert "Added zz-2025-12" in res.output and "1 accepted" in res.output
    assert "支持企业升级" in res.output and "封面" in res.output      # the outline staff confirm
    clauses = {c.id: c for c in parse_all(load_documents(kb.documents_dir))}
    assert clauses["zz-2025-12/1-1"].kind == "policy" and "15万元" in clauses["zz-2025-12/1-1"].text
    assert admin.show(kb, "zz-2025-12").clauses >= 2
    rows = yaml.safe_load((kb.rules_dir / "awards-zz-2025-12.yaml").read_text(encoding="utf-8"))["rows"]
    assert [(r["id"], r["kind"], r["amount_yuan"]) for r in rows] == [("zz-2025-12-1-1-a", "fixed", 150000)]
    rs = load_rules(kb.rules_dir, set(clauses))
    award = rs.by_id("zz-2025-12-1-1-a")
    assert (award.region, award.source.clause, str(award.valid_until)) == ("泽州县", "zz-2025-12/1-1", "2027-12-31")
    assert [(p.id, p.status) for p in load_review(kb.rules_dir)] == [("zz-2025-12-1-1-a", "accepted")]


def test_proposals_not_decided_stay_pending(kb, tmp_path):
    from kb.proposals import load_review
    f = tmp_path / "zz-2025-12.txt"
    f.write_text(ZZ_TEXT, encoding="utf-8")
    rep = admin.add_document(kb, f, f.name, {"region": "泽州县"}, progress=False)
    assert [p.status for p in rep.proposals] == ["pending"]
    assert [p.status for p in load_review(kb.rules_dir)] == ["pending"]
    assert not (kb.rules_dir / "awards-zz-2025-12.yaml").exists()


def test_a_copy_of_a_shipped_document_is_a_duplicate(kb, tmp_path):
    f = tmp_path / "copy.txt"
    shutil.copy(ROOT / "kb" / "documents" / "jc-2023-39.txt", f)
    before = snapshot(kb)
    rep = admin.add_document(kb, f, f.name, progress=False)
    assert rep.unchanged and rep.doc_id == "jc-2023-39"
    assert snapshot(kb) == before


def test_the_same_number_again_is_refused(kb, tmp_path):
    f = tmp_path / "again.txt"
    f.write_text(new_policy_text(15).replace("晋市政办〔2026〕7号", OLD_NUMBER), encoding="utf-8")
    before = snapshot(kb)
    with pytest.raises(KBError, match="already in the knowledge base as jc-2023-39"):
        admin.add_document(kb, f, f.name, progress=False)
    assert snapshot(kb) == before


@pytest.mark.parametrize("overrides,why", [
    ({"region": "太原市"}, "does not match the issuer"),
    ({"valid_from": "2027-01-01", "valid_until": "2026-01-01"}, "before valid from"),
])
def test_contradictions_are_said_before_anything_is_written(kb, tmp_path, overrides, why):
    f = tmp_path / "gp.txt"
    f.write_text(ZZ_TEXT.replace("泽州县", "高平市").replace("泽政办发", "高政办发"), encoding="utf-8")
    draft = admin.inspect_file(f, f.name).with_overrides(overrides)
    assert any(why in p for p in admin.preview(kb, draft).problems)
    before = snapshot(kb)
    with pytest.raises(KBError, match=why):
        admin.add_document(kb, f, f.name, overrides, progress=False)
    assert snapshot(kb) == before


def test_a_document_that_does_not_split_is_refused_with_its_outline(cli_env, kb, tmp_path):
    f = tmp_path / "flat.txt"
    f.write_text("泽州县人民政府办公室文件\n泽政办发〔2025〕13号\n对首次获评的铸造企业一次性奖励15万元。\n", encoding="utf-8")
    before = snapshot(kb)
    res = cli_env("add", str(f), "--yes")
    assert res.exit_code == 1 and "cover" in res.output and "Traceback" not in res.output
    assert "封面" in res.output                     # the outline was shown
    assert snapshot(kb) == before


def test_kb_add_of_an_endless_file_is_a_plain_error(cli_env, kb, tmp_path):
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    res = cli_env("add", str(link), "--yes")
    assert res.exit_code == 1 and "not a regular file" in res.output and "Traceback" not in res.output


def test_build_rolls_back_a_half_made_change(kb):
    """What a plain `python -m bot build` (and every command that builds) does after a killed `kb add`."""
    from kb.build import build
    before = snapshot(kb)
    txn = admin._Txn(kb.documents_dir).begin()
    txn.write("half.yaml", b"id: half\ntitle: t\nnumber: n\nissuer: i\nregion: \xe6\xb3\xbd\xe5\xb7\x9e\xe5\x8e\xbf\n")
    txn.write("half.txt", "对企业奖励15万元。".encode())
    txn.write(kb.rules_dir.resolve() / "review" / "half.yaml", b"document: half\nproposals: []\n")
    rep = build(kb, progress=False)
    assert snapshot(kb) == before and rep.unchanged
    assert not (kb.rules_dir / "review" / "half.yaml").exists()


def test_a_knowledge_base_without_rule_tables_still_takes_documents(kb, tmp_path):
    """Staff uploads (Telegram too) into a folder with no rule tables yet: the proposals wait in review/."""
    for t in kb.rules_dir.glob("*.yaml"):
        t.unlink()
    f = tmp_path / "zz-2025-12.txt"
    f.write_text(ZZ_TEXT, encoding="utf-8")
    rep = admin.add_document(kb, f, f.name, {"region": "泽州县"}, progress=False)
    assert not rep.unchanged and (kb.rules_dir / "review" / "zz-2025-12.yaml").exists()
