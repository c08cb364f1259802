"""A county policy added by staff answers at once: every kind of award row computed from the owner's facts,
asking for what a row needs; amount sentences not yet reviewed are quoted, never summed."""
import os
import shutil
from datetime import date

import pytest

from bot.core.types import Session

TODAY = date(2026, 11, 22)
COUNTY = ("泽州县人民政府办公室文件\n泽政办发〔2025〕12号\n泽州县支持铸造专业镇发展若干措施\n一、支持企业升级\n"
          "（一）对首次获评省级专精特新中小企业的铸造企业，一次性奖励 15 万元。\n"
          "（二）企业购置智能化生产设备的，按设备购置额的10%给予奖补，最高500万元。\n"
          "（三）新建标准化厂房的，第一年奖励5万元，第二年奖励3万元。\n"
          "（四）对年度研发投入增长的企业给予50—200万元奖励。\n"
          "二、支持人才引进\n（一）新招用高校毕业生的，每人每月补贴1000元，补贴期限不超过12个月。\n"
          "本措施自 2025 年 7 月 1 日起施行，有效期至 2027 年 12 月 31 日。\n")


def _copy(built, dst):
    from bot.config import load_config
    from index.store import current_dir
    shutil.copytree(built.documents_dir, dst / "documents")
    shutil.copytree(built.rules_dir, dst / "rules")
    cur = current_dir(built.data_dir)
    (dst / "data" / "builds").mkdir(parents=True)
    shutil.copytree(cur, dst / "data" / "builds" / cur.name)
    os.symlink(os.path.join("builds", cur.name), dst / "data" / "current")
    return load_config(env={"PZ_DATA_DIR": str(dst / "data"), "PZ_DOCUMENTS_DIR": str(dst / "documents"),
                            "PZ_RULES_DIR": str(dst / "rules"), "PZ_CACHE_DIR": str(built.cache_dir)})


def _with_county(built, tmp, embedder, accept: bool):
    from bot.core.service import Assistant
    from kb import admin
    cfg = _copy(built, tmp)
    f = tmp / "zz-2025-12.txt"
    f.write_bytes(COUNTY.encode("gbk"))
    admin.add_document(cfg, f, f.name, {"region": "泽州县"}, progress=False, accept_all=accept)
    return Assistant.load(cfg, today=lambda: TODAY, build=False, embedder=embedder)


@pytest.fixture(scope="module")
def county(built_config, embedder, tmp_path_factory):
    return _with_county(built_config, tmp_path_factory.mktemp("county"), embedder, accept=True)


def ask(a, *qs):
    s = Session(id="c")
    return [a.answer(q, s) for q in qs]


def test_fixed_award_of_the_county_beside_the_city_rule(county):
    a, = ask(county, "泽州县的铸造企业首次获评省级专精特新中小企业，奖励多少？")
    assert a.total_yuan == 150000 and "15万元" in a.answer
    assert any(c.number == "泽政办发〔2025〕12号" for c in a.citations)
    assert not a.answer.startswith("⚠️ 泽政办")          # the county policy is in force


def test_the_county_rule_is_not_for_another_county(county):
    a, = ask(county, "高平的铸造企业首次获评省级专精特新中小企业，能拿15万吗")
    assert 150000 not in [r.amount_yuan for r in a.rewards]


def test_ratio_asks_for_its_base_then_computes_with_the_cap(county):
    a, b = ask(county, "我们泽州的厂子买了智能化生产设备，能补多少", "设备一共花了6000万")
    assert a.status == "clarify" and "设备购置额" in a.answer
    assert b.total_yuan == 5000000 and "最高500万元" in b.answer
    c, = ask(county, "泽州企业购置智能化生产设备花了300万，奖补多少")
    assert c.total_yuan == 300000


def test_years_ranges_and_per_person(county):
    a, = ask(county, "泽州新建标准化厂房有奖励吗")
    assert a.total_yuan == 80000 and "第1年5万元" in a.answer
    b, = ask(county, "我们泽州公司研发投入今年增长了，给多少")
    assert b.total_yuan is None and "50万元至200万元" in b.answer
    c, = ask(county, "泽州的企业今年新招了4个高校毕业生，补贴怎么算")
    assert c.total_yuan is None and "每月4000元" in c.answer


def test_unreviewed_amount_sentences_are_quoted_not_summed(built_config, embedder, tmp_path):
    a = _with_county(built_config, tmp_path, embedder, accept=False)
    ans, = ask(a, "泽州新建标准化厂房有奖励吗")
    assert ans.total_yuan is None and not [r for r in ans.rewards if r.amount_yuan]
    assert "第一年奖励5万元" in ans.answer and "尚待工作人员审核" in ans.answer
