"""The `awards` rule table (kb/rules.py), the review state of proposals (kb/proposals.py) and the `rules`
commands: propose, review, check."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.errors import RuleError
from kb.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent
CLAUSE = "jc-2023-39/1-2"
BASE = {"id": "a1", "region": "晋城市", "source": {"doc": "jc-2023-39", "clause": CLAUSE},
        "item": "测试", "sentence": "对测试企业一次性奖励15万元。"}
GBK_TEXT = ("泽州县人民政府办公室文件\n泽政办发〔2025〕12号\n泽州县支持铸造专业镇发展若干措施\n一、支持企业升级\n"
            "（一）对首次获评省级专精特新中小企业的铸造企业，一次性奖励 15 万元。\n"
            "本措施自 2025 年 7 月 1 日起施行，有效期至 2027 年 12 月 31 日。\n")


def _rules_dir(tmp_path: Path, rows: list[dict] | None = None, shipped: bool = False) -> Path:
    """A rules folder: the awards rows given, and (shipped) the five hand-written tables."""
    d = tmp_path / "rules"
    if shipped:
        shutil.copytree(ROOT / "kb" / "rules", d, ignore=shutil.ignore_patterns("awards-*.yaml", "review"))
    d.mkdir(exist_ok=True)
    if rows is not None:
        (d / "awards-t.yaml").write_text(yaml.safe_dump({"table": "awards", "version": 1, "rows": rows},
                                                        allow_unicode=True), encoding="utf-8")
    return d


@pytest.mark.parametrize("row", [
    {"kind": "fixed", "amount_yuan": 150000, "triggers": ["专精特新"], "valid_from": "2025-07-01",
     "valid_until": "2027-12-31", "conditions": ["首次获评"], "thresholds": [{"what": "投资", "threshold_yuan": 1}]},
    {"kind": "tiered", "tiers": [{"threshold_yuan": 5, "amount_yuan": 1}, {"threshold_yuan": 10, "amount_yuan": 2}]},
    {"kind": "tiered", "tiers": [{"threshold_yuan": 5, "rate": 0.7}, {"threshold_yuan": 10, "rate": 0.8}], "base": "贡献"},
    {"kind": "ratio", "rate": 0.1, "base": "设备购置额", "cap_yuan": 5000000},
    {"kind": "per_unit", "amount_yuan": 3000, "unit": "人·月"},
    {"kind": "range", "min_yuan": 500000, "max_yuan": 2000000},
    {"kind": "range", "max_yuan": 2000000},
    {"kind": "range", "rate_min": 0.05, "rate_max": 0.2, "base": "固定资产投资"},
    {"kind": "multi_year", "schedule": [{"year": 1, "amount_yuan": 50000}, {"year": 2, "amount_yuan": 30000}]},
    {"kind": "unquantified", "wording": "按规定给予奖励"},
])
def test_award_kinds_load(tmp_path, row):
    rs = load_rules(_rules_dir(tmp_path, [{**BASE, **row}]), {CLAUSE})
    assert len(rs.awards) == 1 and rs.awards[0].kind == row["kind"]
    assert rs.by_id("a1") is rs.awards[0]


def _shipped_ids() -> set[str]:
    from kb.build import parse_all
    from kb.documents import load_documents
    return {c.id for c in parse_all(load_documents(ROOT / "kb" / "documents"))}


def test_awards_load_beside_the_hand_written_tables(tmp_path):
    ids = _shipped_ids()
    rs = load_rules(_rules_dir(tmp_path, [{**BASE, "kind": "fixed", "amount_yuan": 1}], shipped=True), ids)
    assert len(rs.revenue_tiers) == 8 and len(rs.recognition_thresholds) == 6 and len(rs.awards) == 1
    assert rs.versions["awards"] == "1"


@pytest.mark.parametrize("row,match", [
    ({"kind": "ratio"}, "needs rate"),
    ({"kind": "fixed"}, "needs amount_yuan"),
    ({"kind": "per_unit", "amount_yuan": 1}, "needs unit"),
    ({"kind": "tiered", "tiers": [{"threshold_yuan": 10, "amount_yuan": 2}, {"threshold_yuan": 5, "amount_yuan": 1}]},
     "ascending"),
    ({"kind": "tiered", "tiers": [{"threshold_yuan": 10}]}, "amount_yuan or rate"),
    ({"kind": "range"}, "min_yuan/max_yuan"),
    ({"kind": "range", "min_yuan": 9, "max_yuan": 1}, "above"),
    ({"kind": "ratio", "rate": 10}, "rate"),
    ({"kind": "multi_year", "schedule": [{"year": 2, "amount_yuan": 1}, {"year": 1, "amount_yuan": 1}]}, "ascending"),
    ({"kind": "fixed", "amount_yuan": 1, "valid_from": "2027-01-01", "valid_until": "2026-01-01"}, "before"),
    ({"kind": "bonus", "amount_yuan": 1}, "kind"),
    ({"kind": "fixed", "amount_yuan": 1, "source": {"doc": "jc-2023-39", "clause": "jc-2023-39/9-9"}}, "no clause"),
    ({"kind": "fixed", "amount_yuan": 1, "region": "火星市"}, "unknown region"),
])
def test_award_rows_are_validated_per_kind(tmp_path, row, match):
    with pytest.raises(RuleError, match=match) as e:
        load_rules(_rules_dir(tmp_path, [{**BASE, **row}]), {CLAUSE})
    assert "awards-t.yaml" in str(e.value) and "(a1)" in str(e.value)


def test_duplicate_ids_across_award_files_fail(tmp_path):
    d = _rules_dir(tmp_path, [{**BASE, "kind": "fixed", "amount_yuan": 1}])
    shutil.copy(d / "awards-t.yaml", d / "awards-u.yaml")
    with pytest.raises(RuleError, match="duplicate id"):
        load_rules(d, {CLAUSE})


# ---------------------------------------------------------------- review state
def _doc(tmp_path):
    from kb.documents import DocumentMeta, SourceDocument
    meta = DocumentMeta(id="zz-2025-12", title="泽州县支持铸造专业镇发展若干措施", number="泽政办发〔2025〕12号",
                        issuer="泽州县人民政府办公室", region="泽州县", valid_from="2025-07-01",
                        valid_until="2027-12-31")
    return SourceDocument(meta, GBK_TEXT, tmp_path / "zz-2025-12.txt")


def test_review_accept_reject_and_the_awards_rows(tmp_path):
    from kb.proposals import awards_path, load_review, propose_document, save_review
    d = _rules_dir(tmp_path, shipped=True)
    clauses, proposals = propose_document(_doc(tmp_path))
    ids = {c.id for c in clauses} | _shipped_ids()
    assert [p.id for p in proposals] == ["zz-2025-12-1-1-a"]
    save_review(d, "zz-2025-12", proposals, ids)
    assert [p.status for p in load_review(d)] == ["pending"]
    assert not awards_path(d, "zz-2025-12").exists()
    proposals[0].status = "accepted"
    save_review(d, "zz-2025-12", proposals, ids)
    rs = load_rules(d, ids)
    row = rs.by_id("zz-2025-12-1-1-a")
    assert (row.kind, row.amount_yuan, row.region, row.source.clause) == ("fixed", 150000, "泽州县", "zz-2025-12/1-1")
    assert str(row.valid_from) == "2025-07-01" and str(row.valid_until) == "2027-12-31"
    assert "专精特新中小企业" in row.triggers
    proposals[0].status = "rejected"
    save_review(d, "zz-2025-12", proposals, ids)
    assert not load_rules(d, ids).awards
    assert [p.status for p in load_review(d)] == ["rejected"]       # rejected ones stay listed


def test_a_review_that_breaks_the_tables_changes_nothing(tmp_path):
    from kb.proposals import load_review, propose_document, review_path, save_review
    d = _rules_dir(tmp_path, shipped=True)
    clauses, proposals = propose_document(_doc(tmp_path))
    save_review(d, "zz-2025-12", proposals, {c.id for c in clauses} | _shipped_ids())
    before = review_path(d, "zz-2025-12").read_bytes()
    proposals[0].status = "accepted"
    with pytest.raises(RuleError, match="no clause"):
        save_review(d, "zz-2025-12", proposals, _shipped_ids())     # its clause is not in the KB
    assert review_path(d, "zz-2025-12").read_bytes() == before
    assert not (d / "awards-zz-2025-12.yaml").exists()
    assert [p.status for p in load_review(d)] == ["pending"]


# ---------------------------------------------------------------- the commands
@pytest.fixture
def cli(tmp_path, monkeypatch):
    docs = tmp_path / "documents"
    shutil.copytree(ROOT / "kb" / "documents", docs)
    rules = _rules_dir(tmp_path, shipped=True)
    for k, v in {"PZ_DATA_DIR": tmp_path / "var", "PZ_DOCUMENTS_DIR": docs, "PZ_RULES_DIR": rules}.items():
        monkeypatch.setenv(k, str(v))
    from bot.cli import main

    def run(*args, **kw):
        return CliRunner().invoke(main, ["rules", *args], **kw)
    run.docs, run.rules = docs, rules
    return run


def test_rules_propose_json_contract(cli, tmp_path):
    f = tmp_path / "zz-2025-12.txt"
    f.write_bytes(GBK_TEXT.encode("gbk"))
    res = cli("propose", str(f), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["document"]["number"] == "泽政办发〔2025〕12号" and out["document"]["region"] == "泽州县"
    assert out["clauses"] >= 2
    p = out["proposals"][0]
    assert {"clause", "sentence", "kind", "item"} <= set(p)
    assert (p["clause"], p["kind"], p["amount_yuan"]) == ("zz-2025-12/1-1", "fixed", 150000)
    res = cli("propose", str(f))
    assert res.exit_code == 0 and "15万元" in res.output
    assert cli("propose", "--help").exit_code == 0


def test_rules_review_and_check(cli, tmp_path):
    from kb.proposals import propose_document, save_review
    doc = _doc(tmp_path)
    (cli.docs / "zz-2025-12.txt").write_text(GBK_TEXT, encoding="utf-8")
    (cli.docs / "zz-2025-12.yaml").write_text(yaml.safe_dump(doc.meta.to_dict(), allow_unicode=True), encoding="utf-8")
    clauses, proposals = propose_document(doc)
    save_review(cli.rules, "zz-2025-12", proposals, None)
    res = cli("check")
    assert res.exit_code == 0, res.output
    assert "zz-2025-12/1-1 [pending]" in res.output          # an amount sentence that is not a rule row yet
    assert cli("check", "--strict").exit_code == 1
    res = cli("review")
    assert res.exit_code == 0 and "1-1-a" in res.output and "pending" in res.output
    res = cli("review", "zz-2025-12", "--accept", "1-1-a")
    assert res.exit_code == 0 and "1 accepted" in res.output, res.output
    assert "zz-2025-12/1-1" not in cli("check").output
    res = cli("review", "zz-2025-12", "--reject", "1-1-a")
    assert res.exit_code == 0 and "1 rejected" in res.output
    assert "zz-2025-12/1-1 [rejected]" in cli("check").output
    res = cli("review", "zz-2025-12", "--accept", "9-9-z")
    assert res.exit_code == 1 and "no proposal" in res.output and "Traceback" not in res.output


def test_targets_of_a_shipped_plan_are_marked_not_a_reward(cli):
    """A document added before proposals existed: propose, accept its not_a_reward proposals, and `rules check`
    no longer lists those sentences."""
    assert "xz-2022-82/2-1" in cli("check").output
    res = cli("review", "xz-2022-82", "--propose")
    assert res.exit_code == 0, res.output
    from kb.proposals import load_doc_review
    props = load_doc_review(cli.rules, "xz-2022-82")
    targets = [p for p in props if p.kind == "not_a_reward"]
    assert targets and all(p.figures_yuan for p in targets)
    res = cli("review", "xz-2022-82", *[a for p in targets for a in ("--accept", p.id)])
    assert res.exit_code == 0, res.output
    out = cli("check").output
    assert "xz-2022-82/2-1" not in out and "xz-2022-82/1-2" not in out
    assert not (cli.rules / "awards-xz-2022-82.yaml").exists()      # not a reward: no row
